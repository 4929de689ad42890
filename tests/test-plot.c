/* test-plot.c: the training curve renderer: debiased smoothing, ranges that skip gaps, points drawn
 * where wp_plot_to_device says, log axes, and degenerate data and sizes. */
#include <float.h>
#include <math.h>

#include "plot.h"

#define W 500
#define H 250

static void
test_smooth_debiased (void)
{
  const double y[] = { 1, 2, 3 };
  double       out[3], in_place[3] = { 1, 2, 3 };

  wp_plot_smooth (y, 3, 0.5, FALSE, out);
  g_assert_cmpfloat_with_epsilon (out[0], 1.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (out[1], 5.0 / 3.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (out[2], 17.0 / 7.0, 1e-12);
  wp_plot_smooth (in_place, 3, 0.5, FALSE, in_place);
  g_assert_cmpfloat_with_epsilon (in_place[2], 17.0 / 7.0, 1e-12);
  wp_plot_smooth (y, 3, 0.0, FALSE, out);
  for (int i = 0; i < 3; i++)
    g_assert_cmpfloat (out[i], ==, y[i]);
}

static void
test_smooth_skips_gaps (void)
{
  const double y[] = { 1, NAN, 2, INFINITY, 3 };
  const double signs[] = { 1, -1, 0, 2 };
  double       out[5];

  wp_plot_smooth (y, 5, 0.5, FALSE, out);
  g_assert_cmpfloat_with_epsilon (out[0], 1.0, 1e-12);
  g_assert_true (isnan (out[1]));
  g_assert_cmpfloat_with_epsilon (out[2], 5.0 / 3.0, 1e-12);
  g_assert_true (isnan (out[3]));
  g_assert_cmpfloat_with_epsilon (out[4], 17.0 / 7.0, 1e-12);

  wp_plot_smooth (signs, 4, 0.5, TRUE, out);
  g_assert_cmpfloat_with_epsilon (out[0], 1.0, 1e-12);
  g_assert_true (isnan (out[1]));
  g_assert_true (isnan (out[2]));
  g_assert_cmpfloat_with_epsilon (out[3], 5.0 / 3.0, 1e-12);
  /* Without skipping, -1 enters the average: (0.25 * 1 + 0.5 * -1) / 0.75. */
  wp_plot_smooth (signs, 4, 0.5, FALSE, out);
  g_assert_cmpfloat_with_epsilon (out[1], -1.0 / 3.0, 1e-12);
}

static void
test_range_skips_gaps (void)
{
  const double x[] = { 0, 1, 2, 3, 4, 5, 6 };
  const double y[] = { NAN, 2, INFINITY, -INFINITY, 5, -1, 0 };
  const double x2[] = { 10, 11 };
  const double y2[] = { 7, NAN };
  const double nans[] = { NAN, NAN };
  WpPlotSeries series[2] = { { "train", 0x1f77b4, x, y, G_N_ELEMENTS (y) },
                             { "eval", 0xff7f0e, x2, y2, 2 } };
  WpPlot       plot = { NULL, "step", FALSE, 0.0, series, 1 };
  double       lo, hi;

  g_assert_true (wp_plot_get_y_range (&plot, &lo, &hi));
  g_assert_cmpfloat (lo, ==, -1.0);
  g_assert_cmpfloat (hi, ==, 5.0);
  plot.log_y = TRUE;
  g_assert_true (wp_plot_get_y_range (&plot, &lo, &hi));
  g_assert_cmpfloat (lo, ==, 2.0);
  g_assert_cmpfloat (hi, ==, 5.0);
  plot.n_series = 2;
  g_assert_true (wp_plot_get_y_range (&plot, &lo, &hi));
  g_assert_cmpfloat (lo, ==, 2.0);
  g_assert_cmpfloat (hi, ==, 7.0);

  series[0].y = nans;
  series[0].n = 2;
  plot.n_series = 1;
  g_assert_false (wp_plot_get_y_range (&plot, &lo, &hi));
  plot.n_series = 0;
  g_assert_false (wp_plot_get_y_range (&plot, &lo, &hi));
}

static void
pixel_rgb (cairo_surface_t *surface,
           int              x,
           int              y,
           double          *rgb)
{
  const guint8 *data = cairo_image_surface_get_data (surface);
  const int     stride = cairo_image_surface_get_stride (surface);
  guint32       pixel;

  x = CLAMP (x, 0, cairo_image_surface_get_width (surface) - 1);
  y = CLAMP (y, 0, cairo_image_surface_get_height (surface) - 1);
  pixel = ((const guint32 *) (data + (gsize) y * stride))[x];
  rgb[0] = ((pixel >> 16) & 0xff) / 255.0;
  rgb[1] = ((pixel >> 8) & 0xff) / 255.0;
  rgb[2] = (pixel & 0xff) / 255.0;
}

/* How far (largest channel difference) the pixel closest to rgb within one pixel of (dx, dy) is;
 * a line's centre falls between pixel centres, so the best covered one is a neighbour. */
static double
colour_distance (cairo_surface_t *surface,
                 double           dx,
                 double           dy,
                 const double    *rgb)
{
  double best = INFINITY;

  cairo_surface_flush (surface);
  for (int y = (int) floor (dy) - 1; y <= (int) floor (dy) + 1; y++) {
    for (int x = (int) floor (dx) - 1; x <= (int) floor (dx) + 1; x++) {
      double p[3], d = 0.0;

      pixel_rgb (surface, x, y, p);
      for (int c = 0; c < 3; c++)
        d = MAX (d, fabs (p[c] - rgb[c]));
      best = MIN (best, d);
    }
  }
  return best;
}

static cairo_surface_t *
draw (const WpPlot *plot,
      int           width,
      int           height)
{
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24, width, height);
  cairo_t         *cr = cairo_create (surface);

  /* Something to paint over: the plot must cover its whole area. */
  cairo_set_source_rgb (cr, 0, 0, 0);
  cairo_paint (cr);
  wp_plot_draw (cr, plot, width, height);
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
  cairo_surface_flush (surface);
  return surface;
}

static void
test_draw_point_colour (void)
{
  const double     x[] = { 0, 50, 100 };
  const double     y[] = { 1, 2, 3 };
  const double     red[3] = { 0xd6 / 255.0, 0x27 / 255.0, 0x28 / 255.0 }, white[3] = { 1, 1, 1 };
  WpPlotSeries     series = { "loss", 0xd62728, x, y, 3 };
  WpPlot           plot = { "training loss", "step", FALSE, 0.0, &series, 1 };
  cairo_surface_t *surface = draw (&plot, W, H);
  double           dx, dy;

  g_assert_true (wp_plot_to_device (&plot, W, H, 50, 2, &dx, &dy));
  g_assert_cmpfloat (dx, >, W * 0.3);
  g_assert_cmpfloat (dx, <, W * 0.7);
  g_assert_cmpfloat (colour_distance (surface, dx, dy, red), <, 0.1);
  /* Off the line the background shows: white, or grid grey. */
  g_assert_cmpfloat (colour_distance (surface, dx, dy + 20, red), >, 0.5);
  g_assert_cmpfloat (colour_distance (surface, dx, dy + 20, white), <, 0.15);
  /* Points further along the line are further right and higher up. */
  {
    double dx2, dy2;

    g_assert_true (wp_plot_to_device (&plot, W, H, 75, 2.5, &dx2, &dy2));
    g_assert_cmpfloat (dx2, >, dx + 50);
    g_assert_cmpfloat (dy2, <, dy - 20);
    g_assert_cmpfloat (colour_distance (surface, dx2, dy2, red), <, 0.1);
  }
  cairo_surface_destroy (surface);
}

/* The smoothed curve is drawn solid, the raw one faint (alpha 0.3 over white). */
static void
test_draw_smoothed_over_raw (void)
{
  const double     blue[3] = { 0x1f / 255.0, 0x77 / 255.0, 0xb4 / 255.0 };
  double           x[200], y[200], smoothed[200], faint[3];
  WpPlotSeries     series = { "loss", 0x1f77b4, x, y, 200 };
  WpPlot           plot = { NULL, NULL, FALSE, 0.9, &series, 1 };
  cairo_surface_t *surface;
  double           dx, dy;

  for (int i = 0; i < 200; i++) {
    x[i] = i;
    y[i] = i % 2 == 0 ? 1.0 : 3.0;
  }
  for (int c = 0; c < 3; c++)
    faint[c] = 0.3 * blue[c] + 0.7;
  wp_plot_smooth (y, 200, 0.9, FALSE, smoothed);
  surface = draw (&plot, W, H);
  g_assert_true (wp_plot_to_device (&plot, W, H, x[100], smoothed[100], &dx, &dy));
  g_assert_cmpfloat (colour_distance (surface, dx, dy, blue), <, 0.1);
  /* A raw peak far above the smoothed curve: faint, not solid. */
  g_assert_true (wp_plot_to_device (&plot, W, H, x[101], y[101], &dx, &dy));
  g_assert_cmpfloat (colour_distance (surface, dx, dy + 1, faint), <, 0.1);
  g_assert_cmpfloat (colour_distance (surface, dx, dy + 1, blue), >, 0.3);
  cairo_surface_destroy (surface);
}

/* Far more steps than pixel columns: a one-step spike still reaches its height. */
static void
test_draw_dense_keeps_spikes (void)
{
  const double       green[3] = { 0x2c / 255.0, 0xa0 / 255.0, 0x2c / 255.0 };
  g_autofree double *x = g_new (double, 20000), *y = g_new (double, 20000);
  WpPlotSeries       series = { NULL, 0x2ca02c, x, y, 20000 };
  WpPlot             plot = { NULL, NULL, FALSE, 0.0, &series, 1 };
  cairo_surface_t   *surface;
  double             dx, dy;

  for (int i = 0; i < 20000; i++) {
    x[i] = i;
    y[i] = 1.0 + 0.01 * (i % 3);
  }
  y[10001] = 5.0;
  surface = draw (&plot, W, H);
  g_assert_true (wp_plot_to_device (&plot, W, H, x[10001], y[10001], &dx, &dy));
  g_assert_cmpfloat (colour_distance (surface, dx, dy + 1, green), <, 0.1);
  g_assert_true (wp_plot_to_device (&plot, W, H, x[10001], 3.0, &dx, &dy));
  g_assert_cmpfloat (colour_distance (surface, dx, dy, green), <, 0.1);
  cairo_surface_destroy (surface);
}

static void
test_draw_log_decades (void)
{
  const double x[] = { 0, 1, 2, 3 };
  const double y[] = { 1, 10, 100, 1000 };
  WpPlotSeries series = { "loss", 0x2ca02c, x, y, 4 };
  WpPlot       plot = { NULL, "step", TRUE, 0.0, &series, 1 };
  double       dx, dy10, dy100, dy1000;

  g_assert_true (wp_plot_to_device (&plot, W, H, 1, 10, &dx, &dy10));
  g_assert_true (wp_plot_to_device (&plot, W, H, 1, 100, &dx, &dy100));
  g_assert_true (wp_plot_to_device (&plot, W, H, 1, 1000, &dx, &dy1000));
  g_assert_cmpfloat (dy10 - dy100, >, 20.0);
  g_assert_cmpfloat_with_epsilon (dy10 - dy100, dy100 - dy1000, 1e-9);
  g_assert_false (wp_plot_to_device (&plot, W, H, 1, 0, &dx, &dy10));
  g_assert_false (wp_plot_to_device (&plot, W, H, 1, -5, &dx, &dy10));

  /* On a linear axis the same points are not evenly spaced. */
  plot.log_y = FALSE;
  g_assert_true (wp_plot_to_device (&plot, W, H, 1, 10, &dx, &dy10));
  g_assert_true (wp_plot_to_device (&plot, W, H, 1, 100, &dx, &dy100));
  g_assert_true (wp_plot_to_device (&plot, W, H, 1, 1000, &dx, &dy1000));
  g_assert_cmpfloat (dy100 - dy1000, >, 5 * (dy10 - dy100));
}

/* A constant curve runs across the middle, with room above and below it. */
static void
test_draw_constant_padded (void)
{
  const double x[] = { 0, 1, 2 };
  const double y[] = { 2.5, 2.5, 2.5 };
  WpPlotSeries series = { "loss", 0x1f77b4, x, y, 3 };
  WpPlot       plot = { NULL, "step", FALSE, 0.0, &series, 1 };
  double       dx, dy, dy_above, dy_below;

  for (int log_y = 0; log_y <= 1; log_y++) {
    plot.log_y = log_y;
    g_assert_true (wp_plot_to_device (&plot, W, H, 1, 2.5, &dx, &dy));
    g_assert_true (wp_plot_to_device (&plot, W, H, 1, 2.5 * 1.02, &dx, &dy_above));
    g_assert_true (wp_plot_to_device (&plot, W, H, 1, 2.5 / 1.02, &dx, &dy_below));
    g_assert_cmpfloat (dy, >, H * 0.3);
    g_assert_cmpfloat (dy, <, H * 0.7);
    /* Out-of-range values would sit on the edge instead, far from the line. */
    g_assert_cmpfloat (dy - dy_above, >, 1);
    g_assert_cmpfloat (dy - dy_above, <, H * 0.3);
    g_assert_cmpfloat (dy_below - dy, >, 1);
    g_assert_cmpfloat (dy_below - dy, <, H * 0.3);
  }
}

static gboolean
inside (double dx,
        double dy,
        int    width,
        int    height)
{
  return isfinite (dx) && isfinite (dy) && dx >= 0 && dx <= width && dy >= 0 && dy <= height;
}

/* Whether something other than the white background was drawn within r of the centre. */
static gboolean
has_ink_near_centre (cairo_surface_t *surface,
                     int              r)
{
  const int width = cairo_image_surface_get_width (surface),
            height = cairo_image_surface_get_height (surface);

  for (int y = height / 2 - r; y <= height / 2 + r; y++) {
    for (int x = width / 2 - r * 4; x <= width / 2 + r * 4; x++) {
      double p[3];

      pixel_rgb (surface, x, y, p);
      if (p[0] < 0.7 && p[1] < 0.7 && p[2] < 0.7)
        return TRUE;
    }
  }
  return FALSE;
}

typedef struct {
  const char *name;
  double      x[3], y[3];
  guint       n;
  gboolean    log_y;
  double      smoothing;
  gboolean    drawable; /* the first point */
  double      probe_y;  /* a second point, compared with the first when drawable */
} Degenerate;

static void
test_draw_degenerate (void)
{
  static const Degenerate cases[] = {
    { "no points", { 0 }, { 0 }, 0, FALSE, 0.0, FALSE, NAN },
    { "one point", { 5 }, { 0.7 }, 1, FALSE, 0.0, TRUE, NAN },
    { "one point, log", { 5 }, { 0.7 }, 1, TRUE, 0.5, TRUE, NAN },
    { "constant", { 0, 1, 2 }, { 2.5, 2.5, 2.5 }, 3, FALSE, 0.0, TRUE, 2.5 },
    { "constant zero", { 0, 1, 2 }, { 0, 0, 0 }, 3, FALSE, 0.6, TRUE, 0 },
    { "constant, log", { 0, 1, 2 }, { 3, 3, 3 }, 3, TRUE, 0.0, TRUE, 3 },
    { "same step", { 4, 4, 4 }, { 1, 2, 3 }, 3, FALSE, 0.0, TRUE, 2 },
    { "NaN only", { 0, 1, 2 }, { NAN, NAN, NAN }, 3, FALSE, 0.5, FALSE, NAN },
    { "Inf only", { 0, 1, 2 }, { INFINITY, -INFINITY, NAN }, 3, FALSE, 0.0, FALSE, NAN },
    { "non-positive, log", { 0, 1, 2 }, { 0, -1, -2 }, 3, TRUE, 0.0, FALSE, NAN },
    { "NaN steps", { NAN, 1, INFINITY }, { 1, NAN, 2 }, 3, FALSE, 0.0, FALSE, NAN },
    { "huge", { 0, 1, 2 }, { DBL_MAX, -DBL_MAX, 1e308 }, 3, FALSE, 0.9, TRUE, -DBL_MAX },
    { "huge steps", { -DBL_MAX, 0, DBL_MAX }, { 1, 2, 3 }, 3, FALSE, 0.0, TRUE, 2 },
    { "huge, log", { 0, 1, 2 }, { DBL_MAX, 1e-300, 5e-324 }, 3, TRUE, 0.0, TRUE, 5e-324 },
    { "tiny", { 0, 1, 2 }, { 5e-324, 1e-320, 0 }, 3, FALSE, 0.5, TRUE, 0 },
    { "nearly constant", { 0, 1, 2 }, { 1, 1 + 1e-15, 1 }, 3, FALSE, 0.0, TRUE, 1 + 1e-15 },
  };
  static const int sizes[][2] = {
    { W, H },
    { 1, 1 },
    { 3, 2 },
    { 40, 20 },
    { 2000, 30 },
    { 30, 900 },
  };
  static const double black[3] = { 0, 0, 0 };

  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++) {
    const Degenerate *d = &cases[c];
    const double     *x = d->n > 0 ? d->x : NULL, *y = d->n > 0 ? d->y : NULL;
    WpPlotSeries      series[2] = {
           { d->name, 0x9467bd, x, y, d->n },
           { "empty", 0, NULL, NULL, 0 },
    };
    WpPlot plot = { d->name, "step", d->log_y, d->smoothing, series, 2 };

    g_test_message ("%s", d->name);
    for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++) {
      const int        width = sizes[s][0], height = sizes[s][1];
      cairo_surface_t *surface = draw (&plot, width, height);
      double           dx, dy, dx2, dy2;

      /* The black underneath is covered. */
      g_assert_cmpfloat (colour_distance (surface, 0, 0, black), >, 0.5);
      g_assert_cmpint (wp_plot_to_device (&plot, width, height, d->x[0], d->y[0], &dx, &dy), ==,
                       d->drawable);
      if (d->drawable)
        g_assert_true (inside (dx, dy, width, height));
      if (d->drawable && !isnan (d->probe_y)) {
        g_assert_true (wp_plot_to_device (&plot, width, height, d->x[1], d->probe_y, &dx2, &dy2));
        g_assert_true (inside (dx2, dy2, width, height));
        if (d->y[0] == d->probe_y)
          g_assert_cmpfloat (dy2, ==, dy);
      }
      if (!d->drawable && s == 0)
        g_assert_true (has_ink_near_centre (surface, 8));
      cairo_surface_destroy (surface);
    }
  }
}

static void
test_draw_empty (void)
{
  WpPlot           plot = { NULL, NULL, FALSE, 0.0, NULL, 0 };
  cairo_surface_t *surface = draw (&plot, W, H);
  double           dx, dy;

  /* "no data yet" */
  g_assert_true (has_ink_near_centre (surface, 8));
  g_assert_false (wp_plot_to_device (&plot, W, H, 0, 0, &dx, &dy));
  cairo_surface_destroy (surface);
  surface = draw (&plot, 1, 1);
  cairo_surface_destroy (surface);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/plot/smooth/debiased", test_smooth_debiased);
  g_test_add_func ("/plot/smooth/skips-gaps", test_smooth_skips_gaps);
  g_test_add_func ("/plot/range/skips-gaps", test_range_skips_gaps);
  g_test_add_func ("/plot/draw/point-colour", test_draw_point_colour);
  g_test_add_func ("/plot/draw/smoothed-over-raw", test_draw_smoothed_over_raw);
  g_test_add_func ("/plot/draw/dense-keeps-spikes", test_draw_dense_keeps_spikes);
  g_test_add_func ("/plot/draw/log-decades", test_draw_log_decades);
  g_test_add_func ("/plot/draw/constant-padded", test_draw_constant_padded);
  g_test_add_func ("/plot/draw/empty", test_draw_empty);
  g_test_add_func ("/plot/draw/degenerate", test_draw_degenerate);
  return g_test_run ();
}
