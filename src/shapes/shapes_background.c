/* shapes_background.c: what lies behind a scene's objects: muted or dark colours far from every
 * object's fill, plain, as a gradient, stripes, a checkerboard or noise. */
#include <math.h>

#include "shapes-private.h"

#define N_TRAIN_BGS       4
#define N_TEST_BGS        6
#define BG_CONTRAST       0.3 /* RGB distance between the background and every object's fill */
#define BG_SATURATION_MAX 0.3
#define BG_VALUE_MIN      0.06
#define BG_VALUE_MAX      0.5

typedef enum {
  BG_PLAIN,
  BG_LINEAR,
  BG_STRIPES,
  BG_NOISE,
  /* Test only. */
  BG_CHECKER,
  BG_RADIAL,
} Background;

static double
rgb_distance (const double *a,
              const double *b)
{
  return sqrt ((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) +
               (a[2] - b[2]) * (a[2] - b[2]));
}

static gboolean
contrasts_with_objects (const Plan   *plan,
                        const double *rgb)
{
  for (int k = 0; k < plan->n_objects; k++) {
    if (rgb_distance (plan->objects[k].fill_rgb, rgb) < BG_CONTRAST)
      return FALSE;
  }
  return TRUE;
}

/* Two muted or dark colours, each (and their mean, which gradients and noise pass through) far
 * from every object's fill. Near-black contrasts with every band, so it is the fallback. */
static void
sample_background_colours (WpRng      *rng,
                           const Plan *plan,
                           double     *c0,
                           double     *c1)
{
  gboolean found = FALSE;

  for (int attempt = 0; attempt < 200 && !found; attempt++) {
    double mid[3];

    wp_shapes_hsv_to_rgb (uniform (rng, 0.0, 360.0), uniform (rng, 0.0, BG_SATURATION_MAX),
                          uniform (rng, BG_VALUE_MIN, BG_VALUE_MAX), c0);
    wp_shapes_hsv_to_rgb (uniform (rng, 0.0, 360.0), uniform (rng, 0.0, BG_SATURATION_MAX),
                          uniform (rng, BG_VALUE_MIN, BG_VALUE_MAX), c1);
    for (int c = 0; c < 3; c++)
      mid[c] = 0.5 * (c0[c] + c1[c]);
    found = rgb_distance (c0, c1) >= 0.12 && contrasts_with_objects (plan, c0) &&
            contrasts_with_objects (plan, c1) && contrasts_with_objects (plan, mid);
  }
  if (!found) {
    for (int c = 0; c < 3; c++) {
      c0[c] = 0.04;
      c1[c] = 0.2;
    }
  }
}

static void
put_mix (float        *pixel,
         const double *c0,
         const double *c1,
         double        t)
{
  for (int c = 0; c < 3; c++)
    pixel[c] = (float) (c0[c] + (c1[c] - c0[c]) * t);
}

/* Stripes or a checkerboard: 0 or 1 at (x, y), in a frame rotated by angle. */
static int
pattern_at (Background kind,
            double     x,
            double     y,
            double     cos_a,
            double     sin_a,
            double     period,
            double     phase)
{
  const double u = (x * cos_a + y * sin_a) / period + phase;
  const double v = (-x * sin_a + y * cos_a) / period + phase;

  if (kind == BG_STRIPES)
    return u - floor (u) < 0.5;
  return ((gint64) floor (u) + (gint64) floor (v)) & 1;
}

static double
smoothstep (double t)
{
  return t * t * (3.0 - 2.0 * t);
}

void
wp_shapes_render_background (float        *canvas,
                             WpRng        *rng,
                             const Plan   *plan,
                             int           S,
                             WpShapesSplit split)
{
  const Background kind =
    (Background) pick (rng, split == WP_SHAPES_SPLIT_TRAIN ? N_TRAIN_BGS : N_TEST_BGS);
  const double angle = uniform (rng, 0.0, G_PI);
  const double cos_a = cos (angle), sin_a = sin (angle);
  double       c0[3], c1[3];

  sample_background_colours (rng, plan, c0, c1);
  switch (kind) {
  case BG_PLAIN:
    for (gsize p = 0; p < (gsize) S * S; p++)
      put_mix (canvas + 3 * p, c0, c1, 0.0);
    break;
  case BG_LINEAR: {
    /* From c0 at one side of the image to c1 at the other, along the angle. */
    const double lo = MIN (0.0, S * cos_a) + MIN (0.0, S * sin_a),
                 hi = MAX (0.0, S * cos_a) + MAX (0.0, S * sin_a);

    for (int y = 0; y < S; y++) {
      for (int x = 0; x < S; x++)
        put_mix (canvas + 3 * ((gsize) y * S + x), c0, c1,
                 ((x + 0.5) * cos_a + (y + 0.5) * sin_a - lo) / (hi - lo));
    }
    break;
  }
  case BG_RADIAL: {
    const double cx = uniform (rng, 0.0, S), cy = uniform (rng, 0.0, S);
    const double radius =
      sqrt (MAX (cx, S - cx) * MAX (cx, S - cx) + MAX (cy, S - cy) * MAX (cy, S - cy));

    for (int y = 0; y < S; y++) {
      for (int x = 0; x < S; x++)
        put_mix (canvas + 3 * ((gsize) y * S + x), c0, c1,
                 hypot (x + 0.5 - cx, y + 0.5 - cy) / radius);
    }
    break;
  }
  case BG_STRIPES:
  case BG_CHECKER: {
    const double period =
      MAX (3.0, S * (kind == BG_STRIPES ? uniform (rng, 0.08, 0.25) : uniform (rng, 0.08, 0.2)));
    const double phase = wp_rng_uniform (rng);
    /* Half the pixel's extent along u and v, in periods: a pixel whose extent stays within one
     * stripe (half a period) or one square takes its centre's value without supersampling. */
    const double reach = 0.5 * (fabs (cos_a) + fabs (sin_a)) / period;
    const double cells = kind == BG_STRIPES ? 2.0 : 1.0;

    for (int y = 0; y < S; y++) {
      for (int x = 0; x < S; x++) {
        const double u = ((x + 0.5) * cos_a + (y + 0.5) * sin_a) / period + phase;
        const double v = (-(x + 0.5) * sin_a + (y + 0.5) * cos_a) / period + phase;
        int          n = 0;

        if (floor (cells * (u - reach)) == floor (cells * (u + reach)) &&
            (kind == BG_STRIPES || floor (v - reach) == floor (v + reach))) {
          put_mix (canvas + 3 * ((gsize) y * S + x), c0, c1,
                   pattern_at (kind, x + 0.5, y + 0.5, cos_a, sin_a, period, phase));
          continue;
        }
        for (int sy = 0; sy < SUPERSAMPLE; sy++) {
          for (int sx = 0; sx < SUPERSAMPLE; sx++)
            n += pattern_at (kind, x + (sx + 0.5) / SUPERSAMPLE, y + (sy + 0.5) / SUPERSAMPLE,
                             cos_a, sin_a, period, phase);
        }
        put_mix (canvas + 3 * ((gsize) y * S + x), c0, c1,
                 (double) n / (SUPERSAMPLE * SUPERSAMPLE));
      }
    }
    break;
  }
  case BG_NOISE: {
    /* Value noise: random values on a coarse grid, interpolated smoothly, plus a fine grain. */
    const double       cell = MAX (2.0, S * uniform (rng, 0.06, 0.16));
    const int          n = (int) ceil (S / cell) + 2;
    g_autofree double *grid = g_new (double, (gsize) n *n);

    for (int i = 0; i < n * n; i++)
      grid[i] = wp_rng_uniform (rng);
    for (int y = 0; y < S; y++) {
      for (int x = 0; x < S; x++) {
        const double u = (x + 0.5) / cell, v = (y + 0.5) / cell;
        const int    i = (int) u, j = (int) v;
        const double fu = smoothstep (u - i), fv = smoothstep (v - j);
        const double top = grid[j * n + i] + (grid[j * n + i + 1] - grid[j * n + i]) * fu;
        const double bottom =
          grid[(j + 1) * n + i] + (grid[(j + 1) * n + i + 1] - grid[(j + 1) * n + i]) * fu;
        const double t = 0.85 * (top + (bottom - top) * fv) + 0.15 * wp_rng_uniform (rng);

        put_mix (canvas + 3 * ((gsize) y * S + x), c0, c1, t);
      }
    }
    break;
  }
  default:
    g_assert_not_reached ();
  }
}
