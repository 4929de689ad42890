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

  g_return_val_if_fail (
    width > 0 && height > 0 && width <= WP_IMAGE_MAX_SIDE && height <= WP_IMAGE_MAX_SIDE, NULL);

  image->width = width;
  image->height = height;
  image->orientation = 1;
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

  if (len < 24 || memcmp (data, signature, sizeof signature) != 0 ||
      memcmp (data + 12, "IHDR", 4) != 0)
    return FALSE;
  w = (guint32) data[16] << 24 | (guint32) data[17] << 16 | (guint32) data[18] << 8 | data[19];
  h = (guint32) data[20] << 24 | (guint32) data[21] << 16 | (guint32) data[22] << 8 | data[23];
  *width = (int) MIN (w, (guint32) G_MAXINT);
  *height = (int) MIN (h, (guint32) G_MAXINT);
  return TRUE;
}

/* stb_image 2.27 (Debian 12's libstb) trusts a JPEG's Huffman tables in two ways that the fuzz
 * target fuzz-image.c found: it builds a table from its 16 code counts without checking that they
 * add up to at most 256 symbols (writing past the table), and it decodes a scan with tables that
 * were never defined (reading far outside them; stb 2.28 checks both). So the segments are read
 * here first, as stb reads them: skipped by their length, the entropy-coded data after a scan
 * header skipped up to the next marker (progressive files define tables between scans), each
 * table's counts read even past the end of its segment, and each scan's components checked for
 * the tables its kind of scan decodes with. Not a JPEG is valid. */
static gboolean
jpeg_huffman_tables_valid (const guint8 *data,
                           gsize         len)
{
  guint defined = 0; /* bit th: DC table th; bit 4 + th: AC table th */
  gsize i = 0;

  /* stb, like the JPEG standard, takes any number of 0xFF fill bytes before a marker, the
   * start-of-image marker too. */
  while (i < len && data[i] == 0xFF)
    i++;
  if (i == 0 || i == len || data[i] != 0xD8)
    return TRUE;
  i++;
  while (i + 1 < len) {
    const guint8 marker = data[i + 1];
    gsize        end;

    /* Entropy-coded data, a fill byte, a stuffed 0xFF, or a marker without a length. */
    if (data[i] != 0xFF || marker == 0xFF) {
      i++;
      continue;
    }
    /* stb stops at the end-of-image marker; some files carry other data after it. */
    if (marker == 0xD9)
      return TRUE;
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {
      i += 2;
      continue;
    }
    if (i + 4 > len)
      break;
    end = i + 2 + ((gsize) data[i + 2] << 8 | data[i + 3]);
    for (gsize t = i + 4; marker == 0xC4 && t < end && t < len;) {
      const guint tc = data[t] >> 4, th = data[t] & 15;
      guint       n = 0;

      for (gsize k = t + 1; k <= t + 16 && k < len; k++)
        n += data[k];
      if (n > 256)
        return FALSE;
      if (tc <= 1 && th <= 3)
        defined |= 1u << (tc * 4 + th);
      t += 17 + n;
    }
    if (marker == 0xDA && i + 5 <= len) {
      const gsize n_components = data[i + 4], params = i + 5 + 2 * n_components;

      if (params + 3 <= len) {
        const guint8 first = data[params], last = data[params + 1], high = data[params + 2] >> 4;
        /* Baseline and progressive first DC scans decode DC codes; every scan past
         * coefficient 0 decodes AC codes; DC refinement decodes none. */
        const gboolean dc = first == 0 && high == 0, ac = last > 0;

        for (gsize c = 0; c < n_components; c++) {
          const guint td = data[i + 6 + 2 * c] >> 4, ta = data[i + 6 + 2 * c] & 15;

          if ((dc && (td > 3 || !(defined & (1u << td)))) ||
              (ac && (ta > 3 || !(defined & (1u << (4 + ta))))))
            return FALSE;
        }
      }
    }
    i = end;
  }
  return TRUE;
}

/* stb_image 2.27 reads the width, height and maximum of a PNM header into ints without a bound
 * (signed overflow, found by tests/fuzz/fuzz-image.c): a number of more than 9 digits is refused
 * first, the header read as stb reads it (whitespace and "#" comments before each number). */
static gboolean
pnm_header_valid (const guint8 *data,
                  gsize         len)
{
  gsize i = 2;

  if (len < 2 || data[0] != 'P' || (data[1] != '5' && data[1] != '6'))
    return TRUE;
  for (int n = 0; n < 3; n++) {
    gsize digits = 0;

    for (;;) {
      /* C's isspace(), with \v, which g_ascii_isspace() leaves out. */
      while (i < len && (data[i] == ' ' || (data[i] >= '\t' && data[i] <= '\r')))
        i++;
      if (i >= len || data[i] != '#')
        break;
      while (i < len && data[i] != '\n' && data[i] != '\r')
        i++;
    }
    for (; i < len && g_ascii_isdigit (data[i]); i++)
      digits++;
    if (digits > 9)
      return FALSE;
  }
  return TRUE;
}

/* A 16- or 32-bit number of a TIFF block, in its byte order. */
static guint32
tiff_number (const guint8 *p,
             int           bytes,
             gboolean      big_endian)
{
  guint32 value = 0;

  for (int k = 0; k < bytes; k++)
    value |= (guint32) p[big_endian ? k : bytes - 1 - k] << (8 * (bytes - 1 - k));
  return value;
}

/* The Orientation tag (0x0112, one SHORT) of a TIFF block's first IFD, where EXIF keeps it: 1 to
 * 8, or 1 where it is absent or malformed. */
static int
tiff_orientation (const guint8 *tiff,
                  gsize         len)
{
  gboolean big_endian;
  gsize    ifd, n;

  if (len < 8 || (memcmp (tiff, "II*\0", 4) != 0 && memcmp (tiff, "MM\0*", 4) != 0))
    return 1;
  big_endian = tiff[0] == 'M';
  ifd = tiff_number (tiff + 4, 4, big_endian);
  if (ifd > len - 2)
    return 1;
  n = tiff_number (tiff + ifd, 2, big_endian);
  for (gsize e = 0; e < n && ifd + 2 + 12 * (e + 1) <= len; e++) {
    const guint8 *entry = tiff + ifd + 2 + 12 * e;

    if (tiff_number (entry, 2, big_endian) == 0x0112) {
      const guint32 type = tiff_number (entry + 2, 2, big_endian);
      const guint32 count = tiff_number (entry + 4, 4, big_endian);
      const guint32 value = tiff_number (entry + 8, 2, big_endian);

      return type == 3 && count == 1 && value >= 1 && value <= 8 ? (int) value : 1;
    }
  }
  return 1;
}

/* The EXIF orientation of a JPEG, from its first APP1 "Exif" segment before the first scan: 1 to
 * 8, or 1 where there is none (any other file). */
static int
jpeg_exif_orientation (const guint8 *data,
                       gsize         len)
{
  gsize i = 2;

  if (len < 4 || data[0] != 0xFF || data[1] != 0xD8)
    return 1;
  while (i + 4 <= len && data[i] == 0xFF) {
    const guint8 marker = data[i + 1];
    const gsize  size = (gsize) data[i + 2] << 8 | data[i + 3]; /* with its own two bytes */

    if (marker == 0xFF) {
      i++;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9 || size < 2)
      return 1;
    if (marker == 0xE1 && size >= 8 && i + 2 + size <= len &&
        memcmp (data + i + 4, "Exif\0\0", 6) == 0)
      return tiff_orientation (data + i + 10, size - 8);
    i += 2 + size;
  }
  return 1;
}

void
wp_image_make_upright (WpImage *image)
{
  g_return_if_fail (image != NULL);

  const int o = image->orientation, W = image->width, H = image->height;
  /* Orientations 5 to 8 swap the axes; then the source is read mirrored as EXIF says. */
  const gboolean swap = o >= 5, flip_x = o == 2 || o == 3 || o == 7 || o == 8;
  const gboolean flip_y = o == 3 || o == 4 || o == 6 || o == 7;
  const int      out_w = swap ? H : W, out_h = swap ? W : H;
  /* The source pixel of output pixel (u, v) is origin + u du + v dv. */
  const gssize step_x = flip_x ? -1 : 1, step_y = flip_y ? -(gssize) W : W;
  const gssize du = swap ? step_y : step_x, dv = swap ? step_x : step_y;
  const gssize origin = (flip_y ? (gssize) (H - 1) * W : 0) + (flip_x ? W - 1 : 0);
  guint8      *rgb;

  image->orientation = 1;
  if (o < 2 || o > 8)
    return;
  rgb = g_new (guint8, (gsize) W * H * 3);
  /* Tiles keep the reads of a turned image, which stride across source rows, in the cache: a
   * 12-megapixel photo turns about as fast as it is copied. */
  for (int v0 = 0; v0 < out_h; v0 += 64) {
    for (int u0 = 0; u0 < out_w; u0 += 64) {
      for (int v = v0; v < MIN (v0 + 64, out_h); v++) {
        gssize  from = origin + u0 * du + v * dv;
        guint8 *to = rgb + ((gsize) v * out_w + u0) * 3;

        for (int u = u0; u < MIN (u0 + 64, out_w); u++, from += du, to += 3)
          memcpy (to, image->rgb + from * 3, 3);
      }
    }
  }
  g_free (image->rgb);
  image->rgb = rgb;
  image->width = out_w;
  image->height = out_h;
}

/* The name of a common image format stb_image cannot read, from its signature, so that a phone's
 * HEIC photo or a WebDataset's WebP is refused by name; NULL for anything else. */
static const char *
unsupported_format_name (const guint8 *data,
                         gsize         len)
{
  static const guint8 jxl_container[] = { 0, 0, 0, 12, 'J', 'X', 'L', ' ', '\r', '\n', 0x87, '\n' };
  static const guint8 jp2_container[] = { 0, 0, 0, 12, 'j', 'P', ' ', ' ', '\r', '\n', 0x87, '\n' };
  static const struct {
    const char *brand;
    const char *format;
  } heif_brands[] = {
    { "heic", "HEIC" },
    { "heix", "HEIC" },
    { "heim", "HEIC" },
    { "heis", "HEIC" },
    { "hevc", "HEIC" },
    { "hevx", "HEIC" },
    { "mif1", "HEIF" },
    { "msf1", "HEIF" },
    { "avif", "AVIF" },
    { "avis", "AVIF" },
  };

  if (len >= 12 && memcmp (data, "RIFF", 4) == 0 && memcmp (data + 8, "WEBP", 4) == 0)
    return "WebP";
  if (len >= 12 && memcmp (data + 4, "ftyp", 4) == 0) {
    for (gsize i = 0; i < G_N_ELEMENTS (heif_brands); i++) {
      if (memcmp (data + 8, heif_brands[i].brand, 4) == 0)
        return heif_brands[i].format;
    }
  }
  if (len >= 4 && (memcmp (data, "II*\0", 4) == 0 || memcmp (data, "MM\0*", 4) == 0))
    return "TIFF";
  if ((len >= 2 && data[0] == 0xFF && data[1] == 0x0A) ||
      (len >= sizeof jxl_container && memcmp (data, jxl_container, sizeof jxl_container) == 0))
    return "JPEG XL";
  if (len >= sizeof jp2_container && memcmp (data, jp2_container, sizeof jp2_container) == 0)
    return "JPEG 2000";
  return NULL;
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
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: %s", name,
                 len == 0 ? "empty file, not an image" : "file too large");
    return NULL;
  }
  /* Before stbi_info, which reads the tables in front of the frame header. */
  if (!jpeg_huffman_tables_valid (data, len)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%s: not a readable image (a JPEG scan with an undefined Huffman table, or one of "
                 "more than 256 codes)",
                 name);
    return NULL;
  }
  if (!pnm_header_valid (data, len)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%s: not a readable image (a PNM header number of more than 9 digits)", name);
    return NULL;
  }
  /* Check the size in the header before stb allocates for it. stb refuses PNGs above its own
   * limit inside stbi_info, so read a PNG's IHDR ourselves to say why. */
  if (!png_header_size (data, len, &width, &height) &&
      !stbi_info_from_memory (data, (int) len, &width, &height, &channels)) {
    const char *format = unsupported_format_name (data, len);

    if (format != NULL)
      g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                   "%s: %s images are not supported (PNG, JPEG, BMP, GIF, TGA and PNM are)", name,
                   format);
    else
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: not a readable image (%s)", name,
                   stbi_failure_reason ());
    return NULL;
  }
  if (width < 1 || height < 1 || width > WP_IMAGE_MAX_SIDE || height > WP_IMAGE_MAX_SIDE) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "%s: image of %d x %d pixels exceeds the %d-pixel limit per side", name, width,
                 height, WP_IMAGE_MAX_SIDE);
    return NULL;
  }
  if ((gint64) width * height > WP_IMAGE_MAX_PIXELS) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "%s: image of %d x %d pixels exceeds the limit of %d million pixels", name, width,
                 height, WP_IMAGE_MAX_PIXELS / 1000000);
    return NULL;
  }
  /* stb_image 2.27 converts a 16-bit PNM to RGB in a buffer sized for 8 bits and reads past it
   * (found by tests/fuzz/fuzz-image.c; fixed in 2.28): refused, from the maximum in its header. */
  if (data[0] == 'P' && len >= 2 && (data[1] == '5' || data[1] == '6') &&
      stbi_is_16_bit_from_memory (data, (int) len)) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED, "%s: 16-bit PNM images are not supported",
                 name);
    return NULL;
  }
  pixels = stbi_load_from_memory (data, (int) len, &width, &height, &channels, 3);
  if (pixels == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: cannot decode image (%s)", name,
                 stbi_failure_reason ());
    return NULL;
  }
  image = g_new0 (WpImage, 1);
  image->width = width;
  image->height = height;
  image->orientation = jpeg_exif_orientation (data, len);
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
  return wp_image_load_from_memory ((const guint8 *) g_mapped_file_get_contents (file),
                                    g_mapped_file_get_length (file), path, error);
}

WpImage *
wp_image_load_upright (const char *path,
                       GError    **error)
{
  WpImage *image = wp_image_load (path, error);

  if (image != NULL)
    wp_image_make_upright (image);
  return image;
}

/* PIL's bicubic kernel (a = -0.5), support 2. */
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

/* PIL's bilinear kernel (a triangle), support 1. */
static double
bilinear (double x)
{
  x = fabs (x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

/* Resamples n_in samples to n_out along one axis, as PIL's ImagingResample does: the kernel is
 * stretched by the scale when shrinking (antialiasing), weights normalised per output sample.
 * Only the n_window output samples from window on are computed; first[i] and
 * weights[i * max_taps ...] describe output sample window + i. */
static int
compute_weights (int             n_in,
                 int             n_out,
                 int             window,
                 int             n_window,
                 WpInterpolation interpolation,
                 int           **first_out,
                 int           **count_out,
                 double        **weights_out)
{
  const gboolean linear = interpolation == WP_INTERPOLATION_BILINEAR;
  const double   scale = (double) n_in / n_out;
  const double   filter_scale = scale > 1.0 ? scale : 1.0;
  const double   support = (linear ? 1.0 : 2.0) * filter_scale;
  const int      max_taps = (int) ceil (support) * 2 + 1;
  int           *first = g_new (int, n_window), *count = g_new (int, n_window);
  double        *weights = g_new0 (double, (gsize) n_window *max_taps);

  for (int i = 0; i < n_window; i++) {
    const double center = (window + i + 0.5) * scale;
    int          lo = (int) floor (center - support + 0.5);
    int          hi = (int) floor (center + support + 0.5);
    double       total = 0.0;

    lo = MAX (lo, 0);
    hi = MIN (hi, n_in);
    hi = MIN (hi, lo + max_taps);
    for (int j = lo; j < hi; j++) {
      const double x = (j - center + 0.5) / filter_scale;
      const double w = linear ? bilinear (x) : bicubic (x);

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
resample_axis (const guint8   *src,
               guint8         *dst,
               int             n_in,
               int             n_out,
               int             window,
               int             n_window,
               int             n_lines,
               gsize           src_stride,
               gsize           src_line,
               gsize           dst_stride,
               gsize           dst_line,
               WpInterpolation interpolation)
{
  g_autofree int    *first = NULL;
  g_autofree int    *count = NULL;
  g_autofree double *weights = NULL;
  const int          taps =
    compute_weights (n_in, n_out, window, n_window, interpolation, &first, &count, &weights);

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
resize_window (const WpImage  *image,
               int             width,
               int             height,
               int             left,
               int             top,
               int             crop_width,
               int             crop_height,
               WpInterpolation interpolation)
{
  g_autoptr (WpImage) horizontal = NULL;
  WpImage *out;

  /* Not resampled at its own size, as PIL copies it; only cropped. */
  if (width == image->width && height == image->height)
    return wp_image_crop (image, left, top, crop_width, crop_height);
  horizontal = wp_image_new (crop_width, image->height);
  out = wp_image_new (crop_width, crop_height);
  /* Rows first, then columns, rounding to 8 bits in between as PIL does for RGB images. */
  resample_axis (image->rgb, horizontal->rgb, image->width, width, left, crop_width, image->height,
                 3, (gsize) image->width * 3, 3, (gsize) crop_width * 3, interpolation);
  resample_axis (horizontal->rgb, out->rgb, image->height, height, top, crop_height, crop_width,
                 (gsize) crop_width * 3, 3, (gsize) crop_width * 3, 3, interpolation);
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
    memcpy (out->rgb + (gsize) row * width * 3,
            image->rgb + ((gsize) (y + row) * image->width + x) * 3, (gsize) width * 3);
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

/* pixels (3, plane) */
static void
normalise_plane (const WpClipConfig *config,
                 float              *pixels,
                 gsize               plane)
{
  for (int c = 0; c < 3; c++) {
    const float mean = config->image_mean[c], inv_std = 1.0f / config->image_std[c];

    for (gsize i = 0; i < plane; i++)
      pixels[c * plane + i] = (pixels[c * plane + i] - mean) * inv_std;
  }
}

void
wp_image_normalise_pixels (const WpClipConfig *config,
                           float              *pixels)
{
  normalise_plane (config, pixels, (gsize) config->image_size * config->image_size);
}

WpImage *
wp_image_resize (const WpImage *image,
                 int            width,
                 int            height)
{
  return resize_window (image, width, height, 0, 0, width, height, WP_INTERPOLATION_BICUBIC);
}

/* Where a centre crop of S starts in a side of size pixels. */
static int
crop_offset (gint64       size,
             int          S,
             WpCropOffset rule)
{
  const gint64 excess = size - S;
  gint64       offset = excess / 2;

  /* torchvision's int(round(excess / 2.0)): a half rounds to the even neighbour. */
  if (rule == WP_CROP_OFFSET_ROUND && excess % 2 == 1 && offset % 2 == 1)
    offset++;
  return (int) offset;
}

/* The centre S x S square of the image resized as the config's preprocessing says, scaled to a
 * crop of S (the config's resize size at S = image size); pixels (3, S, S) normalised. */
static void
preprocess_square (const WpImage      *image,
                   const WpClipConfig *config,
                   int                 S,
                   float              *pixels,
                   WpImageCrop        *crop)
{
  const WpPreprocess *pre = &config->preprocess;
  g_autoptr (WpImage) cropped = NULL;
  const double scale = (double) wp_clip_config_resize_size (config) / config->image_size;
  const gint64 R = MAX (S, (gint64) llround (S * scale));
  gint64       width = R, height = R;
  int          left, top;

  /* transformers and torchvision: the shorter side becomes R, the longer int(R * long / short). */
  if (pre->resize_mode == WP_RESIZE_SHORTEST) {
    if (image->width <= image->height)
      height = MAX (R, R * image->height / image->width);
    else
      width = MAX (R, R * image->width / image->height);
  }
  left = crop_offset (width, S, pre->crop_offset);
  top = crop_offset (height, S, pre->crop_offset);
  cropped = resize_window (image, (int) width, (int) height, left, top, S, S, pre->interpolation);
  wp_image_to_unit_pixels (cropped, pixels);
  normalise_plane (config, pixels, (gsize) S * S);
  if (crop != NULL) {
    const double sx = (double) image->width / width, sy = (double) image->height / height;

    crop->x = left * sx;
    crop->y = top * sy;
    crop->width = S * sx;
    crop->height = S * sy;
  }
}

void
wp_image_preprocess (const WpImage      *image,
                     const WpClipConfig *config,
                     float              *pixels,
                     WpImageCrop        *crop)
{
  preprocess_square (image, config, config->image_size, pixels, crop);
}

/* The multiple of p nearest x, at least p. */
static gint64
round_to_patches (double x,
                  int    p)
{
  return (gint64) MAX (1.0, floor (x / p + 0.5)) * p;
}

float *
wp_image_preprocess_view (const WpImage       *image,
                          const WpClipConfig  *config,
                          const WpViewOptions *view,
                          int                 *rows,
                          int                 *cols,
                          WpImageCrop         *crop,
                          GError             **error)
{
  const int    p = config->patch_size;
  const int    resolution = view->resolution > 0 ? view->resolution : config->image_size;
  const int    shorter = MIN (image->width, image->height);
  const gint64 side = round_to_patches (resolution, p);
  gint64       width = side, height = side;
  float       *pixels;

  if (view->resolution < 0 || view->resolution > WP_IMAGE_MAX_VIEW) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "resolution %d is out of range (1 to %d pixels, or 0 for the model's %d)",
                 view->resolution, WP_IMAGE_MAX_VIEW, config->image_size);
    return NULL;
  }
  if (view->crop == WP_CROP_NONE) {
    width = round_to_patches ((double) image->width * side / shorter, p);
    height = round_to_patches ((double) image->height * side / shorter, p);
  }
  if ((width / p) * (height / p) > WP_MAX_PATCHES) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "a %dx%d image seen at %d pixels makes %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
                 " patches of %d pixels; at most %d patches are supported: lower the resolution",
                 image->width, image->height, resolution, height / p, width / p, p,
                 WP_MAX_PATCHES);
    return NULL;
  }
  *rows = (int) (height / p);
  *cols = (int) (width / p);
  pixels = g_new (float, (gsize) 3 * width * height);
  if (view->crop == WP_CROP_CENTER) {
    preprocess_square (image, config, (int) side, pixels, crop);
    return pixels;
  }
  if (image->width == width && image->height == height) {
    wp_image_to_unit_pixels (image, pixels);
  } else {
    g_autoptr (WpImage) resized = resize_window (image, (int) width, (int) height, 0, 0,
                                                 (int) width, (int) height,
                                                 config->preprocess.interpolation);

    wp_image_to_unit_pixels (resized, pixels);
  }
  normalise_plane (config, pixels, (gsize) width * height);
  if (crop != NULL)
    *crop = (WpImageCrop){ 0.0, 0.0, image->width, image->height };
  return pixels;
}
