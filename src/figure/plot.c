#include "plot.h"

#include <math.h>
#include <string.h>

#include "figure.h"

/* Ticks on one axis at most; a range is divided more coarsely until its ticks fit. */
#define MAX_TICKS 24
/* The axis ranges are kept inside these (data units, log10 units) so that ranges, steps and
 * powers of ten stay finite. */
#define AXIS_LIMIT     1e300
#define LOG_AXIS_LIMIT 300.0

typedef struct {
  int    n;
  double at[MAX_TICKS]; /* in axis units (log10 with a log axis) */
  char   label[MAX_TICKS][32];
  double width; /* of the widest label, estimated from its length */
} Ticks;

/* Where everything of a plot goes; drawing and wp_plot_to_device share it. */
typedef struct {
  double   font;
  gboolean bare;           /* too small for text: the curves fill the area */
  gboolean empty;          /* no drawable point */
  double   x0, y0, x1, y1; /* the plot area: left, top, right, bottom */
  double   x_lo, x_hi;
  double   y_lo, y_hi; /* in axis units */
  Ticks    x_ticks, y_ticks;
} Layout;

static gboolean
drawable (const WpPlot *plot,
          double        x,
          double        y)
{
  return isfinite (x) && isfinite (y) && (!plot->log_y || y > 0.0);
}

static double
axis_y (const WpPlot *plot,
        double        y)
{
  return plot->log_y ? CLAMP (log10 (y), -LOG_AXIS_LIMIT, LOG_AXIS_LIMIT)
                     : CLAMP (y, -AXIS_LIMIT, AXIS_LIMIT);
}

/* The ranges of the drawable points of all series, in data units: FALSE when there are none. */
static gboolean
data_range (const WpPlot *plot,
            double       *x_lo,
            double       *x_hi,
            double       *y_lo,
            double       *y_hi)
{
  gboolean any = FALSE;

  *x_lo = *y_lo = INFINITY;
  *x_hi = *y_hi = -INFINITY;
  for (int s = 0; s < plot->n_series; s++) {
    const WpPlotSeries *series = &plot->series[s];

    for (guint i = 0; i < series->n; i++) {
      if (!drawable (plot, series->x[i], series->y[i]))
        continue;
      *x_lo = MIN (*x_lo, series->x[i]);
      *x_hi = MAX (*x_hi, series->x[i]);
      *y_lo = MIN (*y_lo, series->y[i]);
      *y_hi = MAX (*y_hi, series->y[i]);
      any = TRUE;
    }
  }
  return any;
}

/* Widens a range too narrow to divide into ticks (one value, or values equal to 9 digits) around
 * its middle, so that a constant curve runs across the middle of the plot. */
static void
widen (double  *lo,
       double  *hi,
       gboolean log_units)
{
  const double mid = *lo / 2 + *hi / 2, magnitude = MAX (fabs (*lo), fabs (*hi));
  double       half;

  if (*hi - *lo >= MAX (magnitude * 1e-9, log_units ? 1e-9 : 1e-290))
    return;
  if (log_units)
    half = 0.1;
  else if (magnitude < 1e-290)
    half = 1.0;
  else
    half = fabs (mid) * 0.05;
  *lo = mid - half;
  *hi = mid + half;
}

/* The smallest of 1, 2, 5 x 10^k not below raw. */
static double
nice_step (double raw)
{
  const double e = pow (10.0, floor (log10 (raw)));
  const double f = raw / e;

  return (f <= 1.0 + 1e-9 ? 1.0 : f <= 2.0 + 1e-9 ? 2.0
                                : f <= 5.0 + 1e-9 ? 5.0
                                                  : 10.0) *
         e;
}

/* A tick label with as many decimals as the step needs. */
static void
format_tick (char  *buf,
             gsize  size,
             double v,
             double step)
{
  const int    k = (int) floor (log10 (step) + 1e-9);
  const double magnitude = MAX (fabs (v), step);

  /* k * step gives 1e-17 or -0 where 0 is meant. */
  if (fabs (v) < step * 1e-6)
    v = 0.0;
  if (magnitude < 1e6 && k >= -5)
    g_snprintf (buf, size, "%.*f", MAX (0, -k), v);
  else
    g_snprintf (buf, size, "%.*g", CLAMP ((int) ceil (log10 (magnitude / step)) + 1, 1, 17), v);
}

static void
add_tick (Ticks      *t,
          double      at,
          const char *label,
          double      size)
{
  if (t->n == MAX_TICKS)
    return;
  t->at[t->n] = at;
  g_strlcpy (t->label[t->n], label, sizeof t->label[0]);
  t->width = MAX (t->width, strlen (label) * 0.6 * size);
  t->n++;
}

/* Ticks at multiples of a 1, 2, 5 step between lo and hi (data units), about target of them;
 * with log_positions they are placed at their log10 (a log axis spanning too little for
 * decades). */
static void
linear_ticks (Ticks   *t,
              double   lo,
              double   hi,
              int      target,
              gboolean log_positions,
              double   size)
{
  double step = nice_step ((hi - lo) / MAX (target, 1));
  double first, last;

  for (;;) {
    first = ceil (lo / step - 1e-9);
    last = floor (hi / step + 1e-9);
    if (last - first < MAX_TICKS)
      break;
    step = nice_step (step * 1.01);
  }
  memset (t, 0, sizeof *t);
  for (int i = 0; i <= (int) (last - first); i++) {
    const double v = (first + i) * step;
    char         label[32];

    if (log_positions && v <= 0.0)
      continue;
    format_tick (label, sizeof label, v, step);
    add_tick (t, log_positions ? log10 (v) : v, label, size);
  }
}

/* Ticks at the decades between lo and hi (log10 units) that are multiples of every, and with
 * n_mults 3 at 2 and 5 times them. */
static void
decade_ticks (Ticks *t,
              double lo,
              double hi,
              int    n_mults,
              int    every,
              double size)
{
  static const double mults[] = { 1.0, 2.0, 5.0 };

  memset (t, 0, sizeof *t);
  for (int k = (int) floor (lo); k <= (int) ceil (hi); k++) {
    if (k % every != 0)
      continue;
    for (int m = 0; m < n_mults; m++) {
      const double at = k + log10 (mults[m]);
      char         label[32];

      if (at < lo - 1e-9 || at > hi + 1e-9)
        continue;
      g_snprintf (label, sizeof label, "%g", mults[m] * pow (10.0, k));
      add_tick (t, at, label, size);
    }
  }
}

/* Ticks between lo and hi (log10 units): decades (every few when there are too many), with 2 and
 * 5 between them over fewer than 2 decades, and plain steps when that gives fewer than 2. */
static void
log_ticks (Ticks *t,
           double lo,
           double hi,
           int    target,
           double size)
{
  const int n_decades = (int) ceil (hi) - (int) floor (lo) + 1;

  if (hi - lo < 2.0)
    decade_ticks (t, lo, hi, 3, 1, size);
  if (hi - lo >= 2.0 || t->n > target)
    decade_ticks (t, lo, hi, 1, MAX (1, (n_decades + target - 1) / target), size);
  /* Padding takes the range past 1e+-300, where the powers of ten would overflow. */
  if (t->n < 2)
    linear_ticks (t, pow (10.0, MAX (lo, -LOG_AXIS_LIMIT)), pow (10.0, MIN (hi, LOG_AXIS_LIMIT)),
                  MIN (target, 3), TRUE, size);
}

static double
line_width (const Layout *l)
{
  return MAX (1.0, l->font / 6.0);
}

static void
layout_init (Layout       *l,
             const WpPlot *plot,
             double        width,
             double        height)
{
  double size, top, bottom, left, right;
  int    target;

  memset (l, 0, sizeof *l);
  /* About 11.5 px at 500 x 250, growing much slower than the area. */
  l->font = CLAMP (11.5 * pow (sqrt (width * height) / 350.0, 0.3), 6.0, 24.0);
  size = l->font * 0.9;
  l->empty = !data_range (plot, &l->x_lo, &l->x_hi, &l->y_lo, &l->y_hi);
  if (l->empty) {
    l->x_lo = l->y_lo = 0.0;
    l->x_hi = l->y_hi = 1.0;
  } else {
    double pad;

    l->x_lo = CLAMP (l->x_lo, -AXIS_LIMIT, AXIS_LIMIT);
    l->x_hi = CLAMP (l->x_hi, -AXIS_LIMIT, AXIS_LIMIT);
    l->y_lo = axis_y (plot, l->y_lo);
    l->y_hi = axis_y (plot, l->y_hi);
    widen (&l->x_lo, &l->x_hi, FALSE);
    widen (&l->y_lo, &l->y_hi, plot->log_y);
    pad = (l->y_hi - l->y_lo) * 0.05;
    l->y_lo -= pad;
    l->y_hi += pad;
  }

  top = plot->title != NULL ? l->font * 2.2 : l->font * 0.8;
  bottom = size * 1.6 + (plot->x_label != NULL ? l->font * 1.4 : 0.0) + l->font * 0.3;
  right = l->font;
  l->y0 = top;
  l->y1 = height - bottom;
  target = CLAMP ((int) ((l->y1 - l->y0) / (l->font * 2.5)), 2, MAX_TICKS);
  if (!l->empty && plot->log_y)
    log_ticks (&l->y_ticks, l->y_lo, l->y_hi, target, size);
  else if (!l->empty)
    linear_ticks (&l->y_ticks, l->y_lo, l->y_hi, target, FALSE, size);
  left = l->y_ticks.width + l->font;
  l->x0 = left;
  l->x1 = width - right;
  if (!l->empty) {
    /* Fewer x ticks until their labels fit side by side. */
    for (target = CLAMP ((int) ((l->x1 - l->x0) / (l->font * 5)), 2, MAX_TICKS); target >= 1;
         target--) {
      linear_ticks (&l->x_ticks, l->x_lo, l->x_hi, target, FALSE, size);
      if (l->x_ticks.n * (l->x_ticks.width + l->font) <= l->x1 - l->x0)
        break;
    }
  }

  l->bare = l->x1 - l->x0 < l->font * 3 || l->y1 - l->y0 < l->font * 2;
  if (l->bare) {
    l->x0 = l->y0 = 0.0;
    l->x1 = width;
    l->y1 = height;
    l->x_ticks.n = l->y_ticks.n = 0;
  }
}

static double
map_x (const Layout *l,
       double        x)
{
  return l->x0 + (CLAMP (x, l->x_lo, l->x_hi) - l->x_lo) / (l->x_hi - l->x_lo) * (l->x1 - l->x0);
}

/* u in axis units. */
static double
map_y (const Layout *l,
       double        u)
{
  return l->y1 - (CLAMP (u, l->y_lo, l->y_hi) - l->y_lo) / (l->y_hi - l->y_lo) * (l->y1 - l->y0);
}

/* A 1-pixel line on v is sharp at the middle of a pixel. */
static double
crisp (double v)
{
  return floor (v) + 0.5;
}

/* Text anchored at x (align 0: its left end, 0.5: its middle, 1: its right end) on baseline y,
 * shrunk to max_width and moved inside the clip, so that labels at the edges stay whole. */
static void
draw_text (cairo_t    *cr,
           const char *text,
           double      x,
           double      y,
           double      align,
           double      size,
           double      max_width)
{
  cairo_text_extents_t extents;
  double               clip_x1, clip_y1, clip_x2, clip_y2, left;

  cairo_select_font_face (cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
  cairo_text_extents (cr, text, &extents);
  if (extents.x_advance > max_width && extents.x_advance > 0.0) {
    cairo_set_font_size (cr, MAX (4.0, size * max_width / extents.x_advance));
    cairo_text_extents (cr, text, &extents);
  }
  cairo_clip_extents (cr, &clip_x1, &clip_y1, &clip_x2, &clip_y2);
  left = x - align * extents.x_advance;
  left = MAX (clip_x1, MIN (left, clip_x2 - extents.x_advance));
  cairo_move_to (cr, left, y);
  cairo_show_text (cr, text);
}

static void
draw_axes (cairo_t      *cr,
           const WpPlot *plot,
           const Layout *l,
           double        width,
           double        height)
{
  const double size = l->font * 0.9;

  cairo_set_line_width (cr, 1.0);
  cairo_set_source_rgb (cr, 0.9, 0.9, 0.9);
  for (int i = 0; i < l->y_ticks.n; i++) {
    const double y = crisp (map_y (l, l->y_ticks.at[i]));

    cairo_move_to (cr, l->x0, y);
    cairo_line_to (cr, l->x1, y);
  }
  for (int i = 0; i < l->x_ticks.n; i++) {
    const double x = crisp (map_x (l, l->x_ticks.at[i]));

    cairo_move_to (cr, x, l->y0);
    cairo_line_to (cr, x, l->y1);
  }
  cairo_stroke (cr);
  cairo_set_source_rgb (cr, 0.55, 0.55, 0.55);
  cairo_rectangle (cr, crisp (l->x0), crisp (l->y0), crisp (l->x1) - crisp (l->x0),
                   crisp (l->y1) - crisp (l->y0));
  cairo_stroke (cr);

  cairo_set_source_rgb (cr, 0.25, 0.25, 0.25);
  for (int i = 0; i < l->y_ticks.n; i++)
    draw_text (cr, l->y_ticks.label[i], l->x0 - l->font * 0.4,
               map_y (l, l->y_ticks.at[i]) + size * 0.35, 1.0, size, l->x0 - l->font * 0.5);
  for (int i = 0; i < l->x_ticks.n; i++)
    draw_text (cr, l->x_ticks.label[i], map_x (l, l->x_ticks.at[i]), l->y1 + size * 1.3, 0.5, size,
               l->x1 - l->x0);
  if (plot->x_label != NULL)
    draw_text (cr, plot->x_label, (l->x0 + l->x1) / 2, height - l->font * 0.45, 0.5, l->font,
               l->x1 - l->x0);
  cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
  if (plot->title != NULL)
    draw_text (cr, plot->title, width / 2, l->font * 1.5, 0.5, l->font * 1.1, width - 2 * l->font);
}

static gboolean
isolated (const WpPlot *plot,
          const double *x,
          const double *y,
          guint         n,
          guint         i)
{
  return (i == 0 || !drawable (plot, x[i - 1], y[i - 1])) &&
         (i + 1 == n || !drawable (plot, x[i + 1], y[i + 1]));
}

/* Consecutive points in one pixel column: drawing only the first, lowest, highest and last of them
 * (M4 aggregation) sets nearly the same pixels, at a cost bounded by the width instead of the
 * number of steps; cairo takes seconds to stroke 100000 noisy steps. */
typedef struct {
  int      n;
  double   column;
  gboolean starts_run; /* the first point follows a gap */
  double   p[4][2];    /* device x, y of the first, lowest, highest and last point */
  guint    i[4];       /* their indices */
} Column;

static void
column_add (Column  *c,
            guint    i,
            double   dx,
            double   dy,
            gboolean starts_run)
{
  if (c->n == 0) {
    c->column = floor (dx);
    c->starts_run = starts_run;
    for (int k = 0; k < 4; k++) {
      c->p[k][0] = dx;
      c->p[k][1] = dy;
      c->i[k] = i;
    }
  }
  for (int k = 1; k < 4; k++) {
    if ((k == 1 && dy < c->p[1][1]) || (k == 2 && dy > c->p[2][1]) || k == 3) {
      c->p[k][0] = dx;
      c->p[k][1] = dy;
      c->i[k] = i;
    }
  }
  c->n++;
}

static void
column_flush (cairo_t *cr,
              Column  *c)
{
  const int first_extreme = c->i[1] <= c->i[2] ? 1 : 2;
  const int order[4] = { 0, first_extreme, 3 - first_extreme, 3 };

  if (c->n == 0)
    return;
  if (c->starts_run)
    cairo_move_to (cr, c->p[0][0], c->p[0][1]);
  else
    cairo_line_to (cr, c->p[0][0], c->p[0][1]);
  for (int k = 1; k < 4 && c->n > 1; k++)
    cairo_line_to (cr, c->p[order[k]][0], c->p[order[k]][1]);
  c->n = 0;
}

/* The line through the drawable points of x, y, broken at gaps, and a dot for each point alone
 * between gaps (a line through one point does not show), in the current source. */
static void
trace (cairo_t      *cr,
       const WpPlot *plot,
       const Layout *l,
       const double *x,
       const double *y,
       guint         n)
{
  Column   column = { 0 };
  gboolean joined = FALSE;

  for (guint i = 0; i < n; i++) {
    double dx, dy;

    if (!drawable (plot, x[i], y[i])) {
      column_flush (cr, &column);
      joined = FALSE;
      continue;
    }
    dx = map_x (l, x[i]);
    dy = map_y (l, axis_y (plot, y[i]));
    if (column.n > 0 && floor (dx) != column.column)
      column_flush (cr, &column);
    column_add (&column, i, dx, dy, !joined);
    joined = TRUE;
  }
  column_flush (cr, &column);
  cairo_set_line_width (cr, line_width (l));
  cairo_stroke (cr);
  for (guint i = 0; i < n; i++) {
    if (drawable (plot, x[i], y[i]) && isolated (plot, x, y, n, i)) {
      cairo_new_sub_path (cr);
      cairo_arc (cr, map_x (l, x[i]), map_y (l, axis_y (plot, y[i])), line_width (l) * 1.5, 0,
                 2 * G_PI);
    }
  }
  cairo_fill (cr);
}

static void
draw_series (cairo_t            *cr,
             const WpPlot       *plot,
             const Layout       *l,
             const WpPlotSeries *series)
{
  const gboolean smooth = plot->smoothing > 0.0 && plot->smoothing < 1.0;
  double         rgb[3];

  wp_rgb_from_hex (series->rgb, rgb);
  cairo_set_source_rgba (cr, rgb[0], rgb[1], rgb[2], smooth ? 0.3 : 1.0);
  trace (cr, plot, l, series->x, series->y, series->n);
  if (smooth) {
    g_autofree double *smoothed = g_new (double, series->n);

    wp_plot_smooth (series->y, series->n, plot->smoothing, plot->log_y, smoothed);
    cairo_set_source_rgb (cr, rgb[0], rgb[1], rgb[2]);
    trace (cr, plot, l, series->x, smoothed, series->n);
  }
}

/* A box in the top right corner of the plot area, where falling curves leave room; rows that do
 * not fit are left out. */
static void
draw_legend (cairo_t      *cr,
             const WpPlot *plot,
             const Layout *l)
{
  const double size = l->font * 0.9, row = size * 1.4, swatch = size * 1.6, pad = size * 0.5;
  const int    max_rows = (int) ((l->y1 - l->y0 - 2 * pad) / row);
  double       text_width = 0.0, box_width, x, y;
  int          n_rows = 0;

  cairo_select_font_face (cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
  for (int s = 0; s < plot->n_series && n_rows < max_rows; s++) {
    cairo_text_extents_t extents;

    if (plot->series[s].label == NULL)
      continue;
    cairo_text_extents (cr, plot->series[s].label, &extents);
    text_width = MAX (text_width, extents.x_advance);
    n_rows++;
  }
  if (n_rows == 0)
    return;
  box_width = MIN (swatch + text_width + 3 * pad, (l->x1 - l->x0) * 0.6);
  x = l->x1 - box_width - pad;
  y = l->y0 + pad;
  cairo_rectangle (cr, x, y, box_width, n_rows * row + pad);
  cairo_set_source_rgba (cr, 1, 1, 1, 0.85);
  cairo_fill_preserve (cr);
  cairo_set_source_rgb (cr, 0.8, 0.8, 0.8);
  cairo_set_line_width (cr, 1.0);
  cairo_stroke (cr);
  for (int s = 0, r = 0; s < plot->n_series && r < n_rows; s++) {
    const double middle = y + pad + (r + 0.5) * row;
    double       rgb[3];

    if (plot->series[s].label == NULL)
      continue;
    wp_rgb_from_hex (plot->series[s].rgb, rgb);
    cairo_set_source_rgb (cr, rgb[0], rgb[1], rgb[2]);
    cairo_set_line_width (cr, line_width (l) * 1.5);
    cairo_move_to (cr, x + pad, middle);
    cairo_line_to (cr, x + pad + swatch, middle);
    cairo_stroke (cr);
    cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
    draw_text (cr, plot->series[s].label, x + swatch + 2 * pad, middle + size * 0.35, 0.0, size,
               box_width - swatch - 3 * pad);
    r++;
  }
}

void
wp_plot_draw (cairo_t      *cr,
              const WpPlot *plot,
              double        width,
              double        height)
{
  Layout l;

  g_return_if_fail (cr != NULL);
  g_return_if_fail (plot != NULL);

  if (!(width >= 1.0 && height >= 1.0))
    return;
  layout_init (&l, plot, width, height);
  cairo_save (cr);
  cairo_rectangle (cr, 0, 0, width, height);
  cairo_clip (cr);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  if (!l.bare)
    draw_axes (cr, plot, &l, width, height);
  if (l.empty && !l.bare) {
    cairo_set_source_rgb (cr, 0.5, 0.5, 0.5);
    draw_text (cr, "no data yet", (l.x0 + l.x1) / 2, (l.y0 + l.y1) / 2 + l.font * 0.35, 0.5, l.font,
               l.x1 - l.x0);
  } else if (!l.empty) {
    cairo_save (cr);
    cairo_rectangle (cr, l.x0, l.y0, l.x1 - l.x0, l.y1 - l.y0);
    cairo_clip (cr);
    cairo_set_line_cap (cr, CAIRO_LINE_CAP_ROUND);
    cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
    for (int s = 0; s < plot->n_series; s++)
      draw_series (cr, plot, &l, &plot->series[s]);
    cairo_restore (cr);
    if (!l.bare)
      draw_legend (cr, plot, &l);
  }
  cairo_restore (cr);
}

void
wp_plot_smooth (const double *y,
                guint         n,
                double        smoothing,
                gboolean      skip_non_positive,
                double       *out)
{
  double last = 0.0,
         zero_weight = 1.0; /* smoothing^k: what the average still owes its zero start */

  g_return_if_fail (smoothing >= 0.0 && smoothing < 1.0);

  for (guint i = 0; i < n; i++) {
    if (!isfinite (y[i]) || (skip_non_positive && y[i] <= 0.0)) {
      out[i] = NAN;
      continue;
    }
    last = last * smoothing + (1.0 - smoothing) * y[i];
    zero_weight *= smoothing;
    out[i] = last / (1.0 - zero_weight);
  }
}

gboolean
wp_plot_get_y_range (const WpPlot *plot,
                     double       *lo,
                     double       *hi)
{
  double x_lo, x_hi;

  g_return_val_if_fail (plot != NULL, FALSE);

  return data_range (plot, &x_lo, &x_hi, lo, hi);
}

gboolean
wp_plot_to_device (const WpPlot *plot,
                   double        width,
                   double        height,
                   double        x,
                   double        y,
                   double       *dx,
                   double       *dy)
{
  Layout l;

  g_return_val_if_fail (plot != NULL, FALSE);

  if (!(width >= 1.0 && height >= 1.0) || !drawable (plot, x, y))
    return FALSE;
  layout_init (&l, plot, width, height);
  if (l.empty)
    return FALSE;
  *dx = map_x (&l, x);
  *dy = map_y (&l, axis_y (plot, y));
  return TRUE;
}
