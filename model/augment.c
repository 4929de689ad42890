#include "wordpatch/augment.h"

#include <math.h>

#include "wordpatch/maps.h"
#include "wordpatch/rng.h"

void
wp_augment_options_init (WpAugmentOptions *options)
{
  options->crop_scale_min = 0.6;
  options->crop_ratio_max = 4.0 / 3.0;
  options->brightness = 0.2;
  options->contrast = 0.2;
  options->saturation = 0.2;
  options->flip = TRUE;
}

static double
uniform_between (WpRng *rng,
                 double lo,
                 double hi)
{
  return lo + (hi - lo) * wp_rng_uniform (rng);
}

static double
jitter_factor (WpRng *rng,
               double amplitude)
{
  return uniform_between (rng, 1.0 - amplitude, 1.0 + amplitude);
}

void
wp_augment_draw (int                     width,
                 int                     height,
                 const WpAugmentOptions *options,
                 gboolean                may_flip,
                 guint64                 seed,
                 WpAugmentation         *augmentation)
{
  const double area = (double) width * height;
  const double log_ratio = log (MAX (options->crop_ratio_max, 1.0));
  WpRng        rng;
  double       scale, ratio;
  int          w, h;

  /* The order of the draws is the stream's: changing it changes every augmented run. */
  wp_rng_init (&rng, seed);
  scale = uniform_between (&rng, CLAMP (options->crop_scale_min, 0.05, 1.0), 1.0);
  ratio = exp (uniform_between (&rng, -log_ratio, log_ratio));
  w = CLAMP ((int) lround (sqrt (area * scale * ratio)), 1, width);
  h = CLAMP ((int) lround (sqrt (area * scale / ratio)), 1, height);
  augmentation->crop.x = floor (wp_rng_uniform (&rng) * (width - w + 1));
  augmentation->crop.y = floor (wp_rng_uniform (&rng) * (height - h + 1));
  augmentation->crop.width = w;
  augmentation->crop.height = h;
  augmentation->brightness = jitter_factor (&rng, options->brightness);
  augmentation->contrast = jitter_factor (&rng, options->contrast);
  augmentation->saturation = jitter_factor (&rng, options->saturation);
  augmentation->flipped = options->flip && may_flip && wp_rng_uniform (&rng) < 0.5;
}

void
wp_augment_apply (const WpImage        *image,
                  const WpClipConfig   *config,
                  const WpAugmentation *augmentation,
                  float                *pixels)
{
  const int    S = config->image_size;
  const gsize  plane = (gsize) S * S;
  const double brightness = augmentation->brightness, contrast = augmentation->contrast,
               saturation = augmentation->saturation;
  g_autoptr (WpImage) crop =
    wp_image_crop (image, (int) augmentation->crop.x, (int) augmentation->crop.y,
                   (int) augmentation->crop.width, (int) augmentation->crop.height);
  g_autoptr (WpImage) resized = wp_image_resize (crop, S, S);
  double mean_gray = 0.0;

  wp_image_to_unit_pixels (resized, pixels);
  for (gsize i = 0; i < plane; i++) {
    for (int c = 0; c < 3; c++)
      pixels[c * plane + i] *= (float) brightness;
    mean_gray += 0.299 * pixels[i] + 0.587 * pixels[plane + i] + 0.114 * pixels[2 * plane + i];
  }
  mean_gray /= (double) plane;
  for (gsize i = 0; i < plane; i++) {
    const double gray =
      0.299 * pixels[i] + 0.587 * pixels[plane + i] + 0.114 * pixels[2 * plane + i];

    for (int c = 0; c < 3; c++) {
      double v = gray + (pixels[c * plane + i] - gray) * saturation;

      v = mean_gray + (v - mean_gray) * contrast;
      pixels[c * plane + i] = (float) CLAMP (v, 0.0, 1.0);
    }
  }
  if (augmentation->flipped) {
    for (int c = 0; c < 3; c++) {
      for (int row = 0; row < S; row++) {
        float *line = pixels + c * plane + (gsize) row * S;

        for (int col = 0; col < S / 2; col++) {
          const float tmp = line[col];

          line[col] = line[S - 1 - col];
          line[S - 1 - col] = tmp;
        }
      }
    }
  }
  wp_image_normalise_pixels (config, pixels);
}

void
wp_augment_image (const WpImage          *image,
                  const WpClipConfig     *config,
                  const WpAugmentOptions *options,
                  gboolean                may_flip,
                  guint64                 seed,
                  float                  *pixels)
{
  WpAugmentation augmentation;

  wp_augment_draw (image->width, image->height, options, may_flip, seed, &augmentation);
  wp_augment_apply (image, config, &augmentation, pixels);
}

void
wp_augment_patch_rect (const WpAugmentation *augmentation,
                       int                   rows,
                       int                   cols,
                       int                   p,
                       WpImageCrop          *rect)
{
  const int row = p / cols, col = p % cols;

  /* A flip mirrors whole patches: the input's column col shows the crop's cols - 1 - col. */
  wp_patch_rect (&augmentation->crop, rows, cols,
                 augmentation->flipped ? row * cols + (cols - 1 - col) : p, rect);
}
