#include "figure.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "wordpatch/error.h"

/* Small multiples drawn at most (more words than this are left out of the grid, and a comparison
 * keeps the rows that fit in as many panels). */
#define WP_MAPS_MAX_PANELS 64

/* Colour maps as stops at t = 0, 0.1, ..., 1 (matplotlib's viridis and magma; coolwarm as
 * Moreland's diverging map, 5 stops spread over the same 11). */
static const guint32 viridis[11] = { 0x440154, 0x482475, 0x414487, 0x355f8d, 0x2a788e, 0x21918c,
                                     0x22a884, 0x44bf70, 0x7ad151, 0xbddf26, 0xfde725 };
static const guint32 magma[11] = { 0x000004, 0x140e36, 0x3b0f70, 0x641a80, 0x8c2981, 0xb73779,
                                   0xde4968, 0xf7705c, 0xfe9f6d, 0xfecf92, 0xfcfdbf };
static const guint32 coolwarm[11] = { 0x3b4cc0, 0x5977e3, 0x7b9ff9, 0x9ebeff, 0xc0d4f5, 0xdddddd,
                                      0xf2cbb7, 0xf7ac8e, 0xee8468, 0xd65244, 0xb40426 };
/* Distinct colours for words shown together (matplotlib's tab10). */
static const guint32 word_colours[10] = { 0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                          0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf };

static const char *const method_titles[WP_N_MAP_METHODS] = {
  "FILIP map",
  "SPARC grouping",
  "MaskCLIP map",
  "SCLIP map",
  "ClearCLIP map",
  "NACLIP map",
  "Grad-CAM map",
  "Chefer map",
  "LeGrad map",
};
static const char *const colormap_names[] = { "viridis", "magma", "coolwarm" };

void
wp_figure_style_init (WpFigureStyle *style)
{
  memset (style, 0, sizeof *style);
  style->method = WP_MAP_FILIP;
  style->colormap = WP_COLORMAP_VIRIDIS;
  style->opacity = 0.65;
}

/* The index of name in names, or -1. */
static int
name_index (const char *const *names,
            gsize              n,
            const char        *name)
{
  for (gsize i = 0; i < n; i++) {
    if (g_strcmp0 (name, names[i]) == 0)
      return (int) i;
  }
  return -1;
}

gboolean
wp_figure_method_from_string (const char    *name,
                              WpFigureStyle *style)
{
  g_autofree char *method = NULL;

  if (g_strcmp0 (name, "labels") == 0) {
    style->method = WP_MAP_FILIP;
    style->labels = TRUE;
    return TRUE;
  }
  if (g_str_has_suffix (name, " labels")) {
    method = g_strndup (name, strlen (name) - strlen (" labels"));
    style->labels = TRUE;
  } else {
    method = g_strdup (name);
    style->labels = FALSE;
  }
  return wp_map_method_from_string (method, &style->method);
}

char *
wp_figure_method_to_string (const WpFigureStyle *style)
{
  if (style->labels && style->method == WP_MAP_FILIP)
    return g_strdup ("labels");
  return g_strdup_printf ("%s%s", wp_map_method_to_string (style->method),
                          style->labels ? " labels" : "");
}

/* The title of what a figure of this style shows. */
static char *
method_title (const WpFigureStyle *style)
{
  const char *title = method_titles[style->method];

  if (!style->labels)
    return g_strdup (title);
  return g_strdup_printf ("%.*s label map", (int) (strlen (title) - strlen (" map")), title);
}

gboolean
wp_colormap_from_string (const char *name,
                         WpColormap *colormap)
{
  const int i = name_index (colormap_names, G_N_ELEMENTS (colormap_names), name);

  if (i >= 0)
    *colormap = (WpColormap) i;
  return i >= 0;
}

const char *
wp_colormap_to_string (WpColormap colormap)
{
  return colormap_names[colormap];
}

void
wp_rgb_from_hex (guint32 hex,
                 double *rgb)
{
  rgb[0] = ((hex >> 16) & 0xff) / 255.0;
  rgb[1] = ((hex >> 8) & 0xff) / 255.0;
  rgb[2] = (hex & 0xff) / 255.0;
}

void
wp_colormap_rgb (WpColormap colormap,
                 double     t,
                 double    *rgb)
{
  const guint32 *stops = colormap == WP_COLORMAP_MAGMA      ? magma
                         : colormap == WP_COLORMAP_COOLWARM ? coolwarm
                                                            : viridis;
  const double   x = (isfinite (t) ? CLAMP (t, 0.0, 1.0) : 0.0) * 10.0;
  const int      i = MIN ((int) x, 9);
  double         a[3], b[3];

  wp_rgb_from_hex (stops[i], a);
  wp_rgb_from_hex (stops[i + 1], b);
  for (int c = 0; c < 3; c++)
    rgb[c] = a[c] + (b[c] - a[c]) * (x - i);
}

/* What a figure shows are items: caption words, or in token mode their BPE tokens. */
static const float *
word_values (const WpFigure *figure,
             int             item)
{
  const WpWordMaps *maps = figure->maps;
  const WpWordMap  *map;

  if (figure->token_labels != NULL)
    return maps->token_values[figure->style.method] + (gsize) item * maps->n_patches;
  map = &maps->words[item];
  return map->values[figure->style.method];
}

static const char *
item_text (const WpFigure *figure,
           int             item)
{
  return figure->token_labels != NULL ? figure->token_labels[item] : figure->maps->words[item].text;
}

static int
n_items (const WpFigure *figure)
{
  return figure->token_labels != NULL ? figure->maps->n_tokens : figure->maps->n_words;
}

/* One column of a comparison as a figure of its own, so that everything drawing a single map
 * draws any column: of two models, column 1 shows the other model's maps; of methods, column c
 * the c-th method's. Outside compare mode, the figure itself. */
static void
column_figure (const WpFigure *figure,
               int             column,
               WpFigure       *out)
{
  *out = *figure;
  if (figure->methods != NULL) {
    out->style.method = figure->methods[column];
    out->methods = NULL;
    out->n_methods = 0;
    out->token_labels = NULL;
    return;
  }
  if (figure->other_maps == NULL)
    return;
  if (column == 1)
    out->maps = figure->other_maps;
  out->other_maps = NULL;
  out->token_labels = NULL;
}

gboolean
wp_figure_compares_word (const WpFigure *figure,
                         int             word)
{
  const WpWordMaps *a = figure->maps, *b = figure->other_maps;

  return b != NULL && word >= 0 && word < a->n_words && word < b->n_words &&
         g_strcmp0 (a->words[word].text, b->words[word].text) == 0;
}

static gboolean
same_grid (const WpFigure *figure)
{
  const WpWordMaps *a = figure->maps, *b = figure->other_maps;

  return b != NULL && a->rows == b->rows && a->cols == b->cols;
}

float
wp_figure_difference (const WpFigure *figure,
                      int             word,
                      int             patch)
{
  WpFigure a, b;

  if (figure->style.labels || !same_grid (figure) ||
      !wp_figure_compares_word (figure, word) || patch < 0 || patch >= figure->maps->n_patches)
    return NAN;
  column_figure (figure, 0, &a);
  column_figure (figure, 1, &b);
  return word_values (&b, word)[patch] - word_values (&a, word)[patch];
}

/* The range of one map (outside compare mode, or one column of a comparison). */
static void
map_range (const WpFigure *figure,
           int             word,
           double         *lo,
           double         *hi)
{
  const float *values = word_values (figure, word);
  const int    P = figure->maps->n_patches;

  if (figure->style.fixed_scale) {
    *lo = figure->style.lo;
    *hi = figure->style.hi;
    return;
  }
  *lo = figure->style.method == WP_MAP_SPARC ? 0.0 : INFINITY;
  *hi = -INFINITY;
  for (int p = 0; p < P; p++) {
    if (!isfinite (values[p]))
      continue;
    *lo = MIN (*lo, values[p]);
    *hi = MAX (*hi, values[p]);
  }
  if (!isfinite (*lo) || !isfinite (*hi)) {
    *lo = 0.0;
    *hi = 1.0;
  }
}

void
wp_figure_word_range (const WpFigure *figure,
                      int             word,
                      double         *lo,
                      double         *hi)
{
  WpFigure column;
  double   other_lo, other_hi;

  column_figure (figure, 0, &column);
  map_range (&column, word, lo, hi);
  if (!wp_figure_compares_word (figure, word))
    return;
  column_figure (figure, 1, &column);
  map_range (&column, word, &other_lo, &other_hi);
  *lo = MIN (*lo, other_lo);
  *hi = MAX (*hi, other_hi);
}

/* The half-width of the range, centred on 0, that word's difference is coloured with. */
static double
difference_range (const WpFigure *figure,
                  int             word)
{
  double range = 0.0;

  if (figure->style.fixed_scale)
    return figure->style.hi - figure->style.lo;
  for (int p = 0; p < figure->maps->n_patches; p++) {
    const float d = wp_figure_difference (figure, word, p);

    if (isfinite (d))
      range = MAX (range, fabs (d));
  }
  return range;
}

static double
normalised (double v,
            double lo,
            double hi)
{
  return hi > lo ? CLAMP ((v - lo) / (hi - lo), 0.0, 1.0) : (v >= hi ? 1.0 : 0.0);
}

static guint32
premultiplied (const double *rgb,
               double        alpha)
{
  const guint32 a = (guint32) lround (CLAMP (alpha, 0.0, 1.0) * 255.0);

  return a << 24 | (guint32) lround (rgb[0] * a) << 16 | (guint32) lround (rgb[1] * a) << 8 |
         (guint32) lround (rgb[2] * a);
}

/* The item a label map gives patch p: the word of maps->labels (for FILIP with token queries the
 * word of the best token, none for the start and end tokens), in token mode FILIP's best token or
 * the token with the largest map. -1 for none. */
static int
patch_label (const WpFigure *figure,
             int             p)
{
  const WpWordMaps *maps = figure->maps;
  const WpMapMethod method = figure->style.method;
  const float      *rows = maps->token_values[method];
  int               best = -1;

  if (figure->token_labels == NULL)
    return maps->labels[method][p];
  if (method == WP_MAP_FILIP)
    return maps->filip_labels[p];
  for (int t = 0; t < maps->n_tokens; t++) {
    const float v = rows[(gsize) t * maps->n_patches + p];

    if (isfinite (v) && (best < 0 || v > rows[(gsize) best * maps->n_patches + p]))
      best = t;
  }
  return best;
}

/* The colour a patch gets for the words shown in one panel: one word uses the colour map, several
 * words their own colours, the word matching best winning the patch. */
static guint32
patch_colour (const WpFigure *figure,
              const int      *words,
              int             n_words,
              const double   *ranges,
              int             p)
{
  const WpFigureStyle *style = &figure->style;
  double               rgb[3];

  if (style->labels) {
    const int word = patch_label (figure, p);

    for (int i = 0; i < n_words; i++) {
      if (words[i] == word) {
        wp_rgb_from_hex (word_colours[i % G_N_ELEMENTS (word_colours)], rgb);
        return premultiplied (rgb, style->opacity);
      }
    }
    /* The start or end token, or a word not shown. */
    rgb[0] = rgb[1] = rgb[2] = 0.5;
    return premultiplied (rgb, style->opacity * 0.5);
  }
  if (n_words == 1) {
    const float v = word_values (figure, words[0])[p];

    if (style->method == WP_MAP_SPARC && v <= 0.0f)
      return 0;
    wp_colormap_rgb (style->colormap, normalised (v, ranges[0], ranges[1]), rgb);
    return premultiplied (rgb, style->opacity);
  }
  {
    double best = 0.0;
    int    best_i = -1;

    for (int i = 0; i < n_words; i++) {
      const float v = word_values (figure, words[i])[p];
      double      t;

      if (style->method == WP_MAP_SPARC && v <= 0.0f)
        continue;
      t = normalised (v, ranges[2 * i], ranges[2 * i + 1]);
      if (best_i < 0 || t > best) {
        best = t;
        best_i = i;
      }
    }
    if (best_i < 0)
      return 0;
    wp_rgb_from_hex (word_colours[best_i % G_N_ELEMENTS (word_colours)], rgb);
    return premultiplied (rgb, style->opacity * best);
  }
}

/* A patch of a difference panel: B - A on the diverging map, white at 0, the ends at -+range. */
static guint32
difference_colour (const WpFigure *figure,
                   int             word,
                   double          range,
                   int             p)
{
  const float d = wp_figure_difference (figure, word, p);
  double      rgb[3];

  /* Zero SPARC weights are transparent in the A and B panels; where both are zero the word is
   * absent from the patch under either model, which a white "no change" would hide. */
  if (!isfinite (d) ||
      (figure->style.method == WP_MAP_SPARC &&
       figure->maps->words[word].values[WP_MAP_SPARC][p] <= 0.0f &&
       figure->other_maps->words[word].values[WP_MAP_SPARC][p] <= 0.0f))
    return 0;
  wp_colormap_rgb (WP_COLORMAP_COOLWARM, range > 0.0 ? 0.5 + 0.5 * d / range : 0.5, rgb);
  return premultiplied (rgb, figure->style.opacity);
}

static cairo_surface_t *
image_surface (const WpImage *image)
{
  cairo_surface_t *surface =
    cairo_image_surface_create (CAIRO_FORMAT_RGB24, image->width, image->height);
  const int stride = cairo_image_surface_get_stride (surface);
  guint8   *data;

  cairo_surface_flush (surface);
  data = cairo_image_surface_get_data (surface);
  for (int y = 0; y < image->height; y++) {
    guint32      *row = (guint32 *) (data + (gsize) y * stride);
    const guint8 *src = image->rgb + (gsize) y * image->width * 3;

    for (int x = 0; x < image->width; x++)
      row[x] = (guint32) src[3 * x] << 16 | (guint32) src[3 * x + 1] << 8 | src[3 * x + 2];
  }
  cairo_surface_mark_dirty (surface);
  return surface;
}

static void
draw_text (cairo_t    *cr,
           const char *text,
           double      x,
           double      y,
           double      size,
           double      max_width)
{
  cairo_text_extents_t extents;

  cairo_select_font_face (cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
  cairo_text_extents (cr, text, &extents);
  if (extents.width > max_width && extents.width > 0.0) {
    cairo_set_font_size (cr, MAX (4.0, size * max_width / extents.width));
  }
  cairo_move_to (cr, x, y);
  cairo_show_text (cr, text);
}

/* Where the image goes in a panel's box (x, y, width, height): fitted and centred. */
static void
panel_fit (const WpImage *image,
           const double  *box,
           double        *scale,
           double        *ox,
           double        *oy)
{
  *scale = MIN (box[2] / image->width, box[3] / image->height);
  *ox = box[0] + (box[2] - image->width * *scale) / 2;
  *oy = box[1] + (box[3] - image->height * *scale) / 2;
}

/* The image fitted into the box, with colours (one premultiplied colour a patch of maps,
 * row-major) over the region the model saw. */
static void
draw_panel (cairo_t          *cr,
            const WpFigure   *figure,
            const WpWordMaps *maps,
            const guint32    *colours,
            const double     *box)
{
  const WpImage     *image = figure->image;
  const WpImageCrop *crop = &maps->crop;
  const int          rows = maps->rows, cols = maps->cols;
  cairo_surface_t   *picture = image_surface (image);
  cairo_surface_t   *overlay = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, cols, rows);
  const int          stride = cairo_image_surface_get_stride (overlay);
  cairo_pattern_t   *pattern;
  cairo_matrix_t     matrix;
  guint8            *data;
  double             scale, ox, oy;

  panel_fit (image, box, &scale, &ox, &oy);
  cairo_save (cr);
  cairo_translate (cr, ox, oy);
  cairo_scale (cr, scale, scale);
  cairo_set_source_surface (cr, picture, 0, 0);
  cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_GOOD);
  cairo_paint (cr);

  cairo_surface_flush (overlay);
  data = cairo_image_surface_get_data (overlay);
  for (int p = 0; p < maps->n_patches; p++)
    ((guint32 *) (data + (gsize) (p / cols) * stride))[p % cols] = colours[p];
  cairo_surface_mark_dirty (overlay);

  cairo_rectangle (cr, crop->x, crop->y, crop->width, crop->height);
  cairo_clip (cr);
  pattern = cairo_pattern_create_for_surface (overlay);
  cairo_matrix_init_scale (&matrix, cols / crop->width, rows / crop->height);
  cairo_matrix_translate (&matrix, -crop->x, -crop->y);
  cairo_pattern_set_matrix (pattern, &matrix);
  cairo_pattern_set_filter (pattern,
                            figure->style.smooth ? CAIRO_FILTER_BILINEAR : CAIRO_FILTER_NEAREST);
  cairo_pattern_set_extend (pattern, CAIRO_EXTEND_PAD);
  cairo_set_source (cr, pattern);
  cairo_paint (cr);
  cairo_pattern_destroy (pattern);

  if (figure->style.patch_grid) {
    cairo_set_source_rgba (cr, 1, 1, 1, 0.35);
    cairo_set_line_width (cr, 1.0 / scale);
    for (int i = 0; i <= cols; i++) {
      cairo_move_to (cr, crop->x + crop->width * i / cols, crop->y);
      cairo_line_to (cr, crop->x + crop->width * i / cols, crop->y + crop->height);
    }
    for (int i = 0; i <= rows; i++) {
      cairo_move_to (cr, crop->x, crop->y + crop->height * i / rows);
      cairo_line_to (cr, crop->x + crop->width, crop->y + crop->height * i / rows);
    }
    cairo_stroke (cr);
  }
  cairo_restore (cr);
  cairo_surface_destroy (overlay);
  cairo_surface_destroy (picture);
}

/* A panel of the words (one: the colour map over ranges, a lo and hi pair a word; several: each
 * patch in the colour of the best). */
static void
draw_words_panel (cairo_t        *cr,
                  const WpFigure *figure,
                  const int      *words,
                  int             n_words,
                  const double   *ranges,
                  const double   *box)
{
  g_autofree guint32 *colours = g_new (guint32, figure->maps->n_patches);

  for (int p = 0; p < figure->maps->n_patches; p++)
    colours[p] = patch_colour (figure, words, n_words, ranges, p);
  draw_panel (cr, figure, figure->maps, colours, box);
}

/* A colour bar from lo (bottom) to hi (top), labelled "min" and "max" when it stands for several
 * ranges; threshold, when finite, is marked. */
static void
draw_colour_bar (cairo_t   *cr,
                 WpColormap colormap,
                 double     lo,
                 double     hi,
                 gboolean   per_map,
                 double     threshold,
                 double     x,
                 double     y,
                 double     width,
                 double     height,
                 double     font)
{
  const double     bar = MIN (width * 0.3, font * 1.4);
  cairo_pattern_t *gradient = cairo_pattern_create_linear (0, y + height, 0, y);
  char             label[64];

  for (int i = 0; i <= 20; i++) {
    double rgb[3];

    wp_colormap_rgb (colormap, i / 20.0, rgb);
    cairo_pattern_add_color_stop_rgb (gradient, i / 20.0, rgb[0], rgb[1], rgb[2]);
  }
  cairo_rectangle (cr, x, y, bar, height);
  cairo_set_source (cr, gradient);
  cairo_fill (cr);
  cairo_pattern_destroy (gradient);
  cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
  g_snprintf (label, sizeof label, per_map ? "max" : "%.3g", hi);
  draw_text (cr, label, x + bar + font * 0.3, y + font * 0.8, font * 0.8, width - bar - font * 0.3);
  g_snprintf (label, sizeof label, per_map ? "min" : "%.3g", lo);
  draw_text (cr, label, x + bar + font * 0.3, y + height, font * 0.8, width - bar - font * 0.3);
  if (isfinite (threshold) && !per_map && hi > lo) {
    const double ty = y + height * (1.0 - normalised (threshold, lo, hi));

    cairo_move_to (cr, x - font * 0.2, ty);
    cairo_line_to (cr, x + bar + font * 0.2, ty);
    cairo_set_line_width (cr, MAX (1.0, font * 0.08));
    cairo_stroke (cr);
    draw_text (cr, "1/P", x + bar + font * 0.3, ty + font * 0.3, font * 0.7,
               width - bar - font * 0.3);
  }
}

static void
draw_legend (cairo_t        *cr,
             const WpFigure *figure,
             const int      *words,
             int             n_words,
             double          x,
             double          y,
             double          width,
             double          font)
{
  for (int i = 0; i < n_words; i++) {
    double rgb[3];

    wp_rgb_from_hex (word_colours[i % G_N_ELEMENTS (word_colours)], rgb);
    cairo_set_source_rgb (cr, rgb[0], rgb[1], rgb[2]);
    cairo_rectangle (cr, x, y + i * font * 1.4, font, font);
    cairo_fill (cr);
    cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
    draw_text (cr, item_text (figure, words[i]), x + font * 1.4, y + i * font * 1.4 + font * 0.85,
               font * 0.9, width - font * 1.4);
  }
}

/* Where everything of a figure goes; drawing and hit-testing share it. */
typedef struct {
  int       *all; /* owned: the words shown when they are not figure->words as given */
  const int *words;
  int        n_words;
  double     font, margin, side, top;
  int        n_panels;
  double     panel[WP_MAPS_MAX_PANELS][4]; /* x, y, width, height of each image panel */
  double     label[WP_MAPS_MAX_PANELS]
              [2]; /* where a grid panel's word goes (compare mode: its row's) */
  gboolean legend, grid;
  /* Compare mode (of models or of methods): panel i is column i % n_columns of row
   * i / n_columns, the row of words[row] (one row of every word for label maps). The difference
   * column of a model comparison is laid out even when it is not drawn, so that the note saying
   * why takes its place. */
  gboolean compare, difference;
  int      n_columns;
  double   row_font;   /* of the rows' words */
  double   name_width; /* room for a row's word */
  double   heading;    /* baseline of the column titles */
} Layout;

static void
layout_compare (Layout         *l,
                const WpFigure *figure,
                double          width,
                double          height)
{
  const gboolean labels = figure->style.labels, methods = figure->methods != NULL;
  const int      n = figure->words != NULL ? figure->n_words : figure->maps->n_words;
  const double   y0 = l->top + l->margin + l->font * 1.3;
  /* Each row's word on its left: rows are short, the width is shared by three panels. */
  const double names = labels ? 0.0 : MIN (width * 0.12, l->font * 5);
  double       cell_w, cell_h;
  int          n_rows;

  l->all = g_new (int, MAX (n, 1));
  for (int i = 0; i < n; i++) {
    const int word = figure->words != NULL ? figure->words[i] : i;

    if (methods || wp_figure_compares_word (figure, word))
      l->all[l->n_words++] = word;
  }
  l->words = l->all;
  l->compare = TRUE;
  l->legend = labels;
  l->difference = !labels && !methods && same_grid (figure);
  l->n_columns = methods ? figure->n_methods : labels ? 2
                                                      : 3;
  if (!labels)
    l->n_words = MIN (l->n_words, WP_MAPS_MAX_PANELS / l->n_columns);
  n_rows = labels ? 1 : l->n_words;
  l->heading = l->top + l->margin + l->font * 0.8;
  cell_w = (width - names - l->side - 3 * l->margin) / l->n_columns;
  cell_h = (height - y0 - l->margin) / MAX (n_rows, 1);
  l->row_font = MIN (l->font * 0.8, cell_h / 2);
  l->n_panels = n_rows * l->n_columns;
  for (int i = 0; i < l->n_panels; i++) {
    const double cx = l->margin + names + (i % l->n_columns) * cell_w,
                 cy = y0 + (i / l->n_columns) * cell_h;

    l->label[i][0] = l->margin;
    l->label[i][1] = cy + cell_h / 2 + l->row_font * 0.35;
    l->panel[i][0] = cx + l->font * 0.2;
    l->panel[i][1] = cy + l->font * 0.1;
    l->panel[i][2] = cell_w - l->font * 0.4;
    l->panel[i][3] = cell_h - l->font * 0.2;
  }
  l->name_width = names - l->font * 0.2;
}

static void
layout_init (Layout         *l,
             const WpFigure *figure,
             double          width,
             double          height)
{
  const WpFigureStyle *style = &figure->style;

  memset (l, 0, sizeof *l);
  l->font = MAX (9.0, MIN (width, height) * 0.035);
  l->margin = l->font * 0.8;
  l->side = MIN (width * 0.2, l->font * 8);
  l->top = l->font * 2.0;
  if (figure->other_maps != NULL || figure->methods != NULL) {
    layout_compare (l, figure, width, height);
    return;
  }
  l->words = figure->words;
  l->n_words = figure->n_words;
  if (l->words == NULL) {
    l->all = g_new (int, MAX (n_items (figure), 1));
    for (int i = 0; i < n_items (figure); i++)
      l->all[i] = i;
    l->words = l->all;
    l->n_words = n_items (figure);
  }
  l->legend = style->labels || (!style->grid && l->n_words > 1);
  l->grid = style->grid && !style->labels && l->n_words > 0;
  if (l->grid) {
    const int    n = MIN (l->n_words, WP_MAPS_MAX_PANELS);
    const int    cols = (int) ceil (sqrt (n)), rows = (n + cols - 1) / cols;
    const double cell_w = (width - l->side - 3 * l->margin) / cols,
                 cell_h = (height - l->top - 2 * l->margin) / rows;

    l->n_words = n;
    l->n_panels = n;
    for (int i = 0; i < n; i++) {
      const double cx = l->margin + (i % cols) * cell_w,
                   cy = l->top + l->margin + (i / cols) * cell_h;

      l->label[i][0] = cx + l->font * 0.2;
      l->label[i][1] = cy + l->font * 0.8;
      l->panel[i][0] = cx + l->font * 0.2;
      l->panel[i][1] = cy + l->font * 1.1;
      l->panel[i][2] = cell_w - l->font * 0.4;
      l->panel[i][3] = cell_h - l->font * 1.3;
    }
  } else {
    l->n_panels = 1;
    l->panel[0][0] = l->margin;
    l->panel[0][1] = l->top + l->margin;
    l->panel[0][2] = width - l->side - 3 * l->margin;
    l->panel[0][3] = height - l->top - 2 * l->margin;
  }
}

static void
layout_clear (Layout *l)
{
  g_clear_pointer (&l->all, g_free);
}

/* The word panel i shows, -1 when it shows several. */
static int
panel_word (const Layout *l,
            int           i)
{
  if (l->compare && !l->legend)
    return l->words[i / l->n_columns];
  if (l->grid)
    return l->words[i];
  return l->n_words == 1 ? l->words[0] : -1;
}

/* The column titles of a comparison: A, B and B - A, or the methods' names. */
static char *
column_title (const WpFigure *figure,
              int             column)
{
  if (figure->methods != NULL)
    return g_strdup (method_titles[figure->methods[column]]);
  if (column == 0)
    return figure->label != NULL ? g_strdup_printf ("A: %s", figure->label) : g_strdup ("A");
  if (column == 1)
    return figure->other_label != NULL ? g_strdup_printf ("B: %s", figure->other_label)
                                       : g_strdup ("B");
  return g_strdup ("B − A");
}

/* The rows of a comparison: A, B and B - A panels with their titles, and per row the colour bar
 * A and B share and the difference's own (label maps: one row of them and the legend); or one
 * panel a method, each on its own range, and a per-map colour bar. */
static void
draw_compare (cairo_t        *cr,
              const WpFigure *figure,
              const Layout   *l,
              double          width)
{
  const WpFigureStyle *style = &figure->style;
  const gboolean       methods = figure->methods != NULL;
  const double         bar_x = width - l->side - l->margin, bar_w = l->side / 2;
  const int            n_maps = methods ? l->n_columns : 2;
  g_autofree guint32  *colours = g_new (guint32, figure->maps->n_patches);
  g_autofree WpFigure *columns = g_new (WpFigure, n_maps);

  for (int c = 0; c < n_maps; c++)
    column_figure (figure, c, &columns[c]);
  cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
  if (l->n_panels == 0) {
    draw_text (cr, "no word to compare", l->margin, l->heading, l->font * 0.9,
               width - 2 * l->margin);
    return;
  }
  for (int c = 0; c < l->n_columns; c++) {
    g_autofree char *title = column_title (figure, c);
    double           scale, ox, oy;

    if (c == 2 && !methods && !l->difference)
      continue;
    /* Over the image, which its box centres. */
    panel_fit (figure->image, l->panel[c], &scale, &ox, &oy);
    draw_text (cr, title, ox, l->heading, l->font * 0.9, l->panel[c][2] - (ox - l->panel[c][0]));
  }
  if (l->legend) {
    for (int c = 0; c < n_maps; c++)
      draw_words_panel (cr, &columns[c], l->words, l->n_words, NULL, l->panel[c]);
    draw_legend (cr, &columns[0], l->words, l->n_words, bar_x, l->top + l->margin + l->font * 1.3,
                 l->side, l->font);
    return;
  }
  if (!methods) {
    draw_text (cr, "A, B", bar_x, l->heading, l->font * 0.8, bar_w);
    if (l->difference) {
      draw_text (cr, "B − A", bar_x + bar_w, l->heading, l->font * 0.8, bar_w);
    } else {
      double scale, ox, oy;

      panel_fit (figure->image, l->panel[2], &scale, &ox, &oy);
      draw_text (cr, "different patch grids: no difference map", ox, oy + l->font, l->font * 0.8,
                 l->panel[2][2] - (ox - l->panel[2][0]));
    }
  }
  for (int row = 0; row < l->n_words; row++) {
    const int     i = row * l->n_columns, word = l->words[row];
    const double *box = l->panel[i];
    const double  half = l->difference ? difference_range (figure, word) : 0.0;
    double        range[2], scale, ox, oy, font;

    cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
    draw_text (cr, columns[0].maps->words[word].text, l->label[i][0], l->label[i][1], l->row_font,
               l->name_width);
    if (!methods)
      wp_figure_word_range (figure, word, &range[0], &range[1]);
    for (int c = 0; c < n_maps; c++) {
      if (methods)
        map_range (&columns[c], word, &range[0], &range[1]);
      draw_words_panel (cr, &columns[c], &word, 1, range, l->panel[i + c]);
    }
    if (l->difference) {
      for (int p = 0; p < figure->maps->n_patches; p++)
        colours[p] = difference_colour (figure, word, half, p);
      draw_panel (cr, figure, figure->maps, colours, l->panel[i + 2]);
    }
    /* Beside the row, as tall as its images. */
    panel_fit (figure->image, box, &scale, &ox, &oy);
    font = MIN (l->font, figure->image->height * scale / 2.5);
    if (methods) {
      draw_colour_bar (cr, style->colormap, style->lo, style->hi, !style->fixed_scale, NAN, bar_x,
                       oy, bar_w, figure->image->height * scale, font);
      continue;
    }
    draw_colour_bar (
      cr, style->colormap, range[0], range[1], FALSE,
      style->method == WP_MAP_SPARC && same_grid (figure) ? 1.0 / figure->maps->n_patches : NAN,
      bar_x, oy, bar_w, figure->image->height * scale, font);
    if (l->difference)
      draw_colour_bar (cr, WP_COLORMAP_COOLWARM, -half, half, FALSE, NAN, bar_x + bar_w, oy, bar_w,
                       figure->image->height * scale, font);
  }
}

void
wp_figure_draw (cairo_t        *cr,
                const WpFigure *figure,
                double          width,
                double          height)
{
  const WpFigureStyle *style = &figure->style;
  g_autofree char     *title = NULL, *what = NULL;
  GString             *names = g_string_new (NULL);
  Layout               l;

  layout_init (&l, figure, width, height);
  cairo_save (cr);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_rectangle (cr, 0, 0, width, height);
  cairo_fill (cr);

  /* A comparison names its words on their rows. */
  for (int i = 0; i < l.n_words && !style->grid && !l.compare; i++)
    g_string_append_printf (names, "%s%s", i > 0 ? ", " : "", item_text (figure, l.words[i]));
  what = figure->methods != NULL ? g_strdup (style->labels ? "label maps" : "maps")
                                 : method_title (style);
  title = g_strdup_printf ("\"%s\" - %s%s%s", figure->caption != NULL ? figure->caption : "",
                           what, names->len > 0 ? ": " : "", names->str);
  g_string_free (names, TRUE);
  cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
  draw_text (cr, title, l.margin, l.margin + l.font, l.font, width - 2 * l.margin);

  if (l.compare) {
    draw_compare (cr, figure, &l, width);
    cairo_restore (cr);
    layout_clear (&l);
    return;
  }
  for (int i = 0; i < l.n_panels; i++) {
    const int         *words = l.grid ? l.words + i : l.words;
    const int          n_words = l.grid ? 1 : l.n_words;
    g_autofree double *ranges = g_new (double, 2 * MAX (n_words, 1));

    if (l.grid) {
      cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
      draw_text (cr, item_text (figure, l.words[i]), l.label[i][0], l.label[i][1], l.font * 0.8,
                 l.panel[i][2]);
    }
    /* Each word's range once, not once a patch. */
    for (int w = 0; w < n_words; w++)
      wp_figure_word_range (figure, words[w], &ranges[2 * w], &ranges[2 * w + 1]);
    draw_words_panel (cr, figure, words, n_words, ranges, l.panel[i]);
  }

  if (l.legend) {
    draw_legend (cr, figure, l.words, l.n_words, width - l.side - l.margin, l.top + l.margin,
                 l.side, l.font);
  } else if (l.n_words > 0) {
    const gboolean per_map = !style->fixed_scale && style->grid && l.n_words > 1;
    double         lo = 0.0, hi = 1.0;

    if (!per_map)
      wp_figure_word_range (figure, l.words[0], &lo, &hi);
    /* Weights below 1/P were dropped before renormalising: the mark shows where that would sit. */
    draw_colour_bar (cr, style->colormap, lo, hi, per_map,
                     style->method == WP_MAP_SPARC ? 1.0 / figure->maps->n_patches : NAN,
                     width - l.side - l.margin, l.top + l.margin + l.font, l.side,
                     MIN (height - l.top - 2 * l.margin - 2 * l.font, l.font * 12), l.font);
  }
  cairo_restore (cr);
  layout_clear (&l);
}

gboolean
wp_figure_hit_panel (const WpFigure *figure,
                     double          width,
                     double          height,
                     double          x,
                     double          y,
                     int            *word,
                     int            *patch,
                     int            *column)
{
  gboolean hit = FALSE;
  Layout   l;

  layout_init (&l, figure, width, height);
  for (int i = 0; i < l.n_panels && !hit; i++) {
    const int          c = l.compare ? i % l.n_columns : 0;
    const WpWordMaps  *maps = c == 1 && figure->methods == NULL ? figure->other_maps : figure->maps;
    const WpImageCrop *crop = &maps->crop;
    const int          rows = maps->rows, cols = maps->cols;
    double             scale, ox, oy, ix, iy;
    int                col, row;

    if (c == 2 && figure->methods == NULL && !l.difference)
      continue;
    panel_fit (figure->image, l.panel[i], &scale, &ox, &oy);
    ix = (x - ox) / scale;
    iy = (y - oy) / scale;
    col = (int) floor ((ix - crop->x) / crop->width * cols);
    row = (int) floor ((iy - crop->y) / crop->height * rows);
    if (col < 0 || row < 0 || col >= cols || row >= rows)
      continue;
    *patch = row * cols + col;
    *word = panel_word (&l, i);
    *column = c;
    hit = TRUE;
  }
  layout_clear (&l);
  return hit;
}

gboolean
wp_figure_hit (const WpFigure *figure,
               double          width,
               double          height,
               double          x,
               double          y,
               int            *word,
               int            *patch)
{
  int column;

  return wp_figure_hit_panel (figure, width, height, x, y, word, patch, &column);
}

GHashTable *
wp_figure_new_png_text (const WpFigure *figure,
                        const WpModel  *model,
                        const char     *model_sha256,
                        const char     *image_path,
                        const char     *command)
{
  GHashTable *text = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  GString    *words = g_string_new (NULL);
  WpFigure    shown;
  int         n;

  /* A comparison shows words even when token labels are set. */
  column_figure (figure, 0, &shown);
  n = shown.words != NULL ? shown.n_words : n_items (&shown);
  for (int i = 0; i < n; i++)
    g_string_append_printf (words, "%s%s", i > 0 ? "," : "",
                            item_text (&shown, shown.words != NULL ? shown.words[i] : i));
  g_hash_table_insert (text, "Software", g_strdup ("wordpatch " WP_VERSION));
  g_hash_table_insert (text, "wordpatch.model",
                       g_strdup (model->path != NULL ? model->path : "(bundled)"));
  if (model_sha256 != NULL)
    g_hash_table_insert (text, "wordpatch.model_sha256", g_strdup (model_sha256));
  g_hash_table_insert (text, "wordpatch.step", g_strdup_printf ("%" G_GINT64_FORMAT, model->step));
  g_hash_table_insert (text, "wordpatch.image", g_strdup (image_path));
  g_hash_table_insert (text, "wordpatch.caption",
                       g_strdup (figure->caption != NULL ? figure->caption : ""));
  g_hash_table_insert (text, shown.token_labels != NULL ? "wordpatch.tokens" : "wordpatch.words",
                       g_string_free (words, FALSE));
  if (figure->methods != NULL) {
    GString *methods = g_string_new (NULL);

    for (int m = 0; m < figure->n_methods; m++)
      g_string_append_printf (methods, "%s%s", m > 0 ? "," : "",
                              wp_map_method_to_string (figure->methods[m]));
    if (figure->style.labels)
      g_string_append (methods, " labels");
    g_hash_table_insert (text, "wordpatch.method", g_string_free (methods, FALSE));
  } else {
    g_hash_table_insert (text, "wordpatch.method", wp_figure_method_to_string (&figure->style));
  }
  g_hash_table_insert (text, "wordpatch.scale",
                       figure->style.fixed_scale
                         ? g_strdup_printf ("fixed:%g,%g", figure->style.lo, figure->style.hi)
                         : g_strdup ("auto"));
  g_hash_table_insert (text, "wordpatch.colormap",
                       g_strdup (wp_colormap_to_string (figure->style.colormap)));
  if (figure->other_maps != NULL)
    g_hash_table_insert (text, "wordpatch.compare",
                         g_strdup (figure->other_label != NULL ? figure->other_label : "B"));
  if (command != NULL)
    g_hash_table_insert (text, "wordpatch.command", g_strdup (command));
  return text;
}

static gboolean
cairo_failed (cairo_status_t status,
              const char    *path,
              GError       **error)
{
  if (status == CAIRO_STATUS_SUCCESS)
    return FALSE;
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO, "%s: cannot draw the figure: %s", path,
               cairo_status_to_string (status));
  return TRUE;
}

static gboolean
export_png (const WpFigure *figure,
            const char     *path,
            int             width,
            int             height,
            GHashTable     *png_text,
            GError        **error)
{
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24, width, height);
  cairo_t         *cr = cairo_create (surface);
  g_autoptr (WpImage) image = NULL;
  const guint8  *data;
  int            stride;
  cairo_status_t status;

  wp_figure_draw (cr, figure, width, height);
  status = cairo_status (cr);
  cairo_destroy (cr);
  if (cairo_failed (status, path, error)) {
    cairo_surface_destroy (surface);
    return FALSE;
  }
  cairo_surface_flush (surface);
  data = cairo_image_surface_get_data (surface);
  stride = cairo_image_surface_get_stride (surface);
  image = wp_image_new (width, height);
  for (int y = 0; y < height; y++) {
    const guint32 *row = (const guint32 *) (data + (gsize) y * stride);

    for (int x = 0; x < width; x++) {
      guint8 *px = image->rgb + ((gsize) y * width + x) * 3;

      px[0] = (guint8) (row[x] >> 16);
      px[1] = (guint8) (row[x] >> 8);
      px[2] = (guint8) row[x];
    }
  }
  cairo_surface_destroy (surface);
  return wp_image_save_png (image, path, png_text, error);
}

/* SVG and PDF surfaces write to a name: a temporary one next to path, renamed when complete. */
static gboolean
export_vector (const WpFigure *figure,
               const char     *path,
               gboolean        svg,
               int             width,
               int             height,
               GError        **error)
{
  g_autofree char *tmp = g_strdup_printf ("%s.XXXXXX", path);
  cairo_surface_t *surface;
  cairo_t         *cr;
  cairo_status_t   status;
  int              fd = g_mkstemp (tmp);

  if (fd < 0) {
    int saved_errno = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                 "%s: cannot create: %s", path, g_strerror (saved_errno));
    return FALSE;
  }
  close (fd);
  surface = svg ? cairo_svg_surface_create (tmp, width, height)
                : cairo_pdf_surface_create (tmp, width, height);
  cr = cairo_create (surface);
  wp_figure_draw (cr, figure, width, height);
  cairo_show_page (cr);
  status = cairo_status (cr);
  cairo_destroy (cr);
  cairo_surface_finish (surface);
  if (status == CAIRO_STATUS_SUCCESS)
    status = cairo_surface_status (surface);
  cairo_surface_destroy (surface);
  if (cairo_failed (status, path, error) || g_rename (tmp, path) != 0) {
    if (error != NULL && *error == NULL)
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: cannot write: %s",
                   path, g_strerror (errno));
    g_unlink (tmp);
    return FALSE;
  }
  return TRUE;
}

gboolean
wp_figure_export (const WpFigure *figure,
                  const char     *path,
                  int             width,
                  int             height,
                  GHashTable     *png_text,
                  GError        **error)
{
  g_autofree char *lower = g_ascii_strdown (path, -1);

  if (width < 64 || height < 64 || width > 16384 || height > 16384) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "%s: a figure must be 64 to 16384 pixels on a side", path);
    return FALSE;
  }
  if (g_str_has_suffix (lower, ".png"))
    return export_png (figure, path, width, height, png_text, error);
  if (g_str_has_suffix (lower, ".svg") || g_str_has_suffix (lower, ".pdf"))
    return export_vector (figure, path, g_str_has_suffix (lower, ".svg"), width, height, error);
  g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
               "%s: the figure's name must end in .png, .svg or .pdf", path);
  return FALSE;
}
