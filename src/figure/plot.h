/* plot.h: line charts of training curves (loss against step), drawn with cairo.
 *
 * The training view redraws the chart after every reported step, so a plot is a plain description
 * of borrowed arrays (no object, nothing retained between draws) and one function draws it onto
 * any cairo_t: the widget's snapshot, or an image surface in tests. Ranges, ticks and margins are
 * computed from the data on every draw; wp_plot_to_device uses the same computation, so a hover
 * marker or a test lands exactly where the drawing put the point.
 *
 * Curves: each series is drawn as a line through its drawable points (finite x and y, and y > 0 on
 * a log axis); anything else is a gap that breaks the line and is left out of the ranges, so a NaN
 * loss does not blank the chart. A point between two gaps is drawn as a dot. With smoothing, the
 * raw line is drawn faint and TensorBoard's debiased exponential moving average solid over it; the
 * average of values is never outside their range, so the axes fit the raw values. Steps that
 * fall into one pixel column are drawn as their first, lowest, highest and last point, so a long
 * run costs what its width costs and a one-step spike still shows.
 *
 * Axes: y is padded by 5% of its range, x fits the steps exactly; a range of one value is widened
 * around it. Ticks are 1, 2, 5 x 10^k (linear) or decades (log, with 2 and 5 between them when the
 * range spans fewer than 2 decades), as many as fit the size. Beyond 1e300 (or 1e+-300 on a log
 * axis) the tick arithmetic would overflow, so such values are drawn on the edge. An area too small
 * for text gets the curves alone. */
#pragma once

#include <cairo.h>
#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  const char   *label; /* legend text; NULL: not in the legend */
  guint32       rgb;   /* 0xRRGGBB */
  const double *x;     /* n points, x non-decreasing (training steps) */
  const double *y;     /* non-finite values are gaps: skipped, never drawn, never in the range */
  guint         n;     /* x and y may be NULL when n is 0 */
} WpPlotSeries;

typedef struct {
  const char *title;   /* may be NULL */
  const char *x_label; /* e.g. "step", may be NULL */
  gboolean    log_y;   /* log10 y axis; values <= 0 are skipped like non-finite ones */
  /* 0: raw lines only; in (0, 1): TensorBoard-style exponential moving average with this weight on
   * the past, debiased (divided by 1 - w^k), drawn solid over the raw line drawn faint. */
  double              smoothing;
  const WpPlotSeries *series;
  int                 n_series;
} WpPlot;

/* Draws the whole plot (white background, axes with tick labels, title, x label, a legend of the
 * labelled series, "no data yet" when no series has a drawable point) into the width x height
 * rectangle at the origin of cr, drawing nothing outside it. */
void wp_plot_draw (cairo_t      *cr,
                   const WpPlot *plot,
                   double        width,
                   double        height);

/* The debiased exponential moving average of y (n values) into out (which may be y), smoothing
 * in [0, 1) being the weight on the past; non-finite inputs (and those <= 0 when
 * skip_non_positive) are copied through as NAN and do not enter the average. */
void wp_plot_smooth (const double *y,
                     guint         n,
                     double        smoothing,
                     gboolean      skip_non_positive,
                     double       *out);

/* The y range of the drawable values of all series (in data units, before log); FALSE when there
 * are none. */
gboolean wp_plot_get_y_range (const WpPlot *plot,
                              double       *lo,
                              double       *hi);

/* Where the data point (x, y) lands in the plot drawn at width x height (points outside the axis
 * ranges land on their edge): FALSE when the point is not drawable or the plot has no data. Each
 * call lays the plot out again, a pass over all points. */
gboolean wp_plot_to_device (const WpPlot *plot,
                            double        width,
                            double        height,
                            double        x,
                            double        y,
                            double       *dx,
                            double       *dy);

G_END_DECLS
