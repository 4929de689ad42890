#include "wordpatch/augment.h"

#include <math.h>

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
wp_augment_image (const WpImage          *image,
                  const WpClipConfig     *config,
                  const WpAugmentOptions *options,
                  gboolean                may_flip,
                  guint64                 seed,
                  float                  *pixels)
{
  const int    S = config->image_size;
  const gsize  plane = (gsize) S * S;
  const double area = (double) image->width * image->height;
  const double log_ratio = log (MAX (options->crop_ratio_max, 1.0));
  g_autoptr (WpImage) crop = NULL;
  g_autoptr (WpImage) resized = NULL;
  WpRng    rng;
  double   scale, ratio, brightness, contrast, saturation, mean_gray = 0.0;
  int      w, h, x, y;
  gboolean flip;

  wp_rng_init (&rng, seed);
  scale = uniform_between (&rng, CLAMP (options->crop_scale_min, 0.05, 1.0), 1.0);
  ratio = exp (uniform_between (&rng, -log_ratio, log_ratio));
  w = CLAMP ((int) lround (sqrt (area * scale * ratio)), 1, image->width);
  h = CLAMP ((int) lround (sqrt (area * scale / ratio)), 1, image->height);
  x = (int) floor (wp_rng_uniform (&rng) * (image->width - w + 1));
  y = (int) floor (wp_rng_uniform (&rng) * (image->height - h + 1));
  brightness = jitter_factor (&rng, options->brightness);
  contrast = jitter_factor (&rng, options->contrast);
  saturation = jitter_factor (&rng, options->saturation);
  flip = options->flip && may_flip && wp_rng_uniform (&rng) < 0.5;

  crop = wp_image_crop (image, x, y, w, h);
  resized = wp_image_resize (crop, S, S);
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
  if (flip) {
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
