#include "wordpatch/image.h"

#include <math.h>
#include <stb_image.h>
#include <string.h>

#include "wordpatch/error.h"

WpImage *
wp_image_new (int width,
              int height)
{
  WpImage *image = g_new0 (WpImage, 1);

  g_return_val_if_fail (width > 0 && height > 0 && width <= WP_IMAGE_MAX_SIDE && height <= WP_IMAGE_MAX_SIDE, NULL);

  image->width = width;
  image->height = height;
  image->rgb = g_new0 (guint8, (gsize) width * height * 3);
  return image;
}

void
wp_image_free (WpImage *image)
{
  if (image == NULL)
    return;
  g_free (image->rgb);
  g_free (image);
}

static gboolean
png_header_size (const guint8 *data,
                 gsize         len,
                 int          *width,
                 int          *height)
{
  static const guint8 signature[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  guint32             w, h;

  if (len < 24 || memcmp (data, signature, sizeof signature) != 0 || memcmp (data + 12, "IHDR", 4) != 0)
    return FALSE;
  w = (guint32) data[16] << 24 | (guint32) data[17] << 16 | (guint32) data[18] << 8 | data[19];
  h = (guint32) data[20] << 24 | (guint32) data[21] << 16 | (guint32) data[22] << 8 | data[23];
  *width = (int) MIN (w, (guint32) G_MAXINT);
  *height = (int) MIN (h, (guint32) G_MAXINT);
  return TRUE;
}

WpImage *
wp_image_load_from_memory (const guint8 *data,
                           gsize         len,
                           const char   *name,
                           GError      **error)
{
  g_autoptr (WpImage) image = NULL;
  int            width, height, channels;
  unsigned char *pixels;

  if (len == 0 || len > G_MAXINT) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: %s", name, len == 0 ? "empty file, not an image" : "file too large");
    return NULL;
  }
  /* Check the size in the header before stb allocates for it. stb refuses PNGs above its own
   * limit inside stbi_info, so read a PNG's IHDR ourselves to say why. */
  if (!png_header_size (data, len, &width, &height) && !stbi_info_from_memory (data, (int) len, &width, &height, &channels)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: not a readable image (%s)", name, stbi_failure_reason ());
    return NULL;
  }
  if (width < 1 || height < 1 || width > WP_IMAGE_MAX_SIDE || height > WP_IMAGE_MAX_SIDE) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED, "%s: image of %d x %d pixels exceeds the %d-pixel limit per side", name,
                 width, height, WP_IMAGE_MAX_SIDE);
    return NULL;
  }
  pixels = stbi_load_from_memory (data, (int) len, &width, &height, &channels, 3);
  if (pixels == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: cannot decode image (%s)", name, stbi_failure_reason ());
    return NULL;
  }
  image = g_new0 (WpImage, 1);
  image->width = width;
  image->height = height;
  image->rgb = g_memdup2 (pixels, (gsize) width * height * 3);
  stbi_image_free (pixels);
  return g_steal_pointer (&image);
}

WpImage *
wp_image_load (const char *path,
               GError    **error)
{
  g_autoptr (GMappedFile) file = g_mapped_file_new (path, FALSE, error);

  if (file == NULL)
    return NULL;
  return wp_image_load_from_memory ((const guint8 *) g_mapped_file_get_contents (file), g_mapped_file_get_length (file), path,
                                    error);
}

/* PIL's bicubic kernel (a = -0.5). */
static double
bicubic (double x)
{
  const double a = -0.5;

  x = fabs (x);
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0)
    return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

/* Resamples n_in samples to n_out along one axis, as PIL's ImagingResample does: the kernel is
 * stretched by the scale when shrinking (antialiasing), weights normalised per output sample.
 * Only the n_window output samples from window on are computed; first[i] and
 * weights[i * max_taps ...] describe output sample window + i. */
static int
compute_weights (int      n_in,
                 int      n_out,
                 int      window,
                 int      n_window,
                 int    **first_out,
                 int    **count_out,
                 double **weights_out)
{
  const double scale = (double) n_in / n_out;
  const double filter_scale = scale > 1.0 ? scale : 1.0;
  const double support = 2.0 * filter_scale;
  const int    max_taps = (int) ceil (support) * 2 + 1;
  int         *first = g_new (int, n_window), *count = g_new (int, n_window);
  double      *weights = g_new0 (double, (gsize) n_window *max_taps);

  for (int i = 0; i < n_window; i++) {
    const double center = (window + i + 0.5) * scale;
    int          lo = (int) floor (center - support + 0.5), hi = (int) floor (center + support + 0.5);
    double       total = 0.0;

    lo = MAX (lo, 0);
    hi = MIN (hi, n_in);
    hi = MIN (hi, lo + max_taps);
    for (int j = lo; j < hi; j++) {
      double w = bicubic ((j - center + 0.5) / filter_scale);

      weights[(gsize) i * max_taps + (j - lo)] = w;
      total += w;
    }
    for (int j = lo; j < hi && total != 0.0; j++)
      weights[(gsize) i * max_taps + (j - lo)] /= total;
    first[i] = lo;
    count[i] = hi - lo;
  }
  *first_out = first;
  *count_out = count;
  *weights_out = weights;
  return max_taps;
}

static guint8
clamp_byte (double v)
{
  return (guint8) CLAMP (lround (v), 0, 255);
}

/* One separable pass; stride is the distance between neighbouring samples along the axis. */
static void
resample_axis (const guint8 *src,
               guint8       *dst,
               int           n_in,
               int           n_out,
               int           window,
               int           n_window,
               int           n_lines,
               gsize         src_stride,
               gsize         src_line,
               gsize         dst_stride,
               gsize         dst_line)
{
  g_autofree int    *first = NULL;
  g_autofree int    *count = NULL;
  g_autofree double *weights = NULL;
  const int          taps = compute_weights (n_in, n_out, window, n_window, &first, &count, &weights);

  for (int line = 0; line < n_lines; line++) {
    for (int i = 0; i < n_window; i++) {
      const double *w = weights + (gsize) i * taps;

      for (int c = 0; c < 3; c++) {
        double sum = 0.0;

        for (int k = 0; k < count[i]; k++)
          sum += w[k] * src[line * src_line + (gsize) (first[i] + k) * src_stride + c];
        dst[line * dst_line + (gsize) i * dst_stride + c] = clamp_byte (sum);
      }
    }
  }
}

/* The crop_width x crop_height window at (left, top) of the image resized to width x height,
 * computed without the rest of the resized image: a banner resized to a 224-pixel short side
 * would otherwise be hundreds of thousands of pixels long. */
static WpImage *
resize_window (const WpImage *image,
               int            width,
               int            height,
               int            left,
               int            top,
               int            crop_width,
               int            crop_height)
{
  g_autoptr (WpImage) horizontal = wp_image_new (crop_width, image->height);
  WpImage *out = wp_image_new (crop_width, crop_height);

  /* Rows first, then columns, rounding to 8 bits in between as PIL does for RGB images. */
  resample_axis (image->rgb, horizontal->rgb, image->width, width, left, crop_width, image->height, 3,
                 (gsize) image->width * 3, 3, (gsize) crop_width * 3);
  resample_axis (horizontal->rgb, out->rgb, image->height, height, top, crop_height, crop_width, (gsize) crop_width * 3, 3,
                 (gsize) crop_width * 3, 3);
  return out;
}

WpImage *
wp_image_crop (const WpImage *image,
               int            x,
               int            y,
               int            width,
               int            height)
{
  WpImage *out;

  g_return_val_if_fail (x >= 0 && y >= 0 && width > 0 && height > 0, NULL);
  g_return_val_if_fail (x + width <= image->width && y + height <= image->height, NULL);
  out = wp_image_new (width, height);
  for (int row = 0; row < height; row++)
    memcpy (out->rgb + (gsize) row * width * 3, image->rgb + ((gsize) (y + row) * image->width + x) * 3, (gsize) width * 3);
  return out;
}

void
wp_image_to_unit_pixels (const WpImage *image,
                         float         *pixels)
{
  const gsize plane = (gsize) image->width * image->height;

  for (gsize i = 0; i < plane; i++) {
    for (int c = 0; c < 3; c++)
      pixels[c * plane + i] = image->rgb[i * 3 + c] / 255.0f;
  }
}

void
wp_image_normalise_pixels (const WpClipConfig *config,
                           float              *pixels)
{
  const gsize plane = (gsize) config->image_size * config->image_size;

  for (int c = 0; c < 3; c++) {
    const float mean = config->image_mean[c], inv_std = 1.0f / config->image_std[c];

    for (gsize i = 0; i < plane; i++)
      pixels[c * plane + i] = (pixels[c * plane + i] - mean) * inv_std;
  }
}

WpImage *
wp_image_resize (const WpImage *image,
                 int            width,
                 int            height)
{
  return resize_window (image, width, height, 0, 0, width, height);
}

void
wp_image_preprocess (const WpImage      *image,
                     const WpClipConfig *config,
                     float              *pixels,
                     WpImageCrop        *crop)
{
  const int S = config->image_size;
  g_autoptr (WpImage) cropped = NULL;
  const WpImage *src = image;
  gint64         width = S, height = S;
  int            left = 0, top = 0;

  if (image->width != S || image->height != S) {
    /* transformers: the shorter side becomes S, the longer int(S * long / short). */
    if (image->width <= image->height)
      height = MAX (S, (gint64) S * image->height / image->width);
    else
      width = MAX (S, (gint64) S * image->width / image->height);
    left = (int) ((width - S) / 2);
    top = (int) ((height - S) / 2);
    cropped = resize_window (image, (int) width, (int) height, left, top, S, S);
    src = cropped;
  }
  wp_image_to_unit_pixels (src, pixels);
  wp_image_normalise_pixels (config, pixels);
  if (crop != NULL) {
    const double sx = (double) image->width / width, sy = (double) image->height / height;

    crop->x = left * sx;
    crop->y = top * sy;
    crop->width = S * sx;
    crop->height = S * sy;
  }
}
