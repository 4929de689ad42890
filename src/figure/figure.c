#include "figure.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <math.h>
#include <string.h>

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
/* Distinct colours for words shown together (matplotlib's tab10), each with the colour words it
 * could be taken for: a caption that names a colour does not get it for another word. */
static const struct {
  guint32     rgb;
  const char *names; /* space-separated, with a space at each end */
} palette[WP_FIGURE_MAX_COLOURS] = {
  { 0x1f77b4, " blue navy azure " },
  { 0xff7f0e, " orange amber " },
  { 0x2ca02c, " green lime " },
  { 0xd62728, " red crimson scarlet maroon " },
  { 0x9467bd, " purple violet lilac lavender " },
  { 0x8c564b, " brown tan beige " },
  { 0xe377c2, " pink magenta rose " },
  { 0x7f7f7f, " grey gray silver " },
  { 0xbcbd22, " yellow olive gold green " },
  { 0x17becf, " cyan teal turquoise aqua blue " },
};

/* Each method as figures name it; its map is "<name> map" (SPARC's: "SPARC grouping"). */
static const char *const method_names[WP_N_MAP_METHODS] = {
  "FILIP",
  "SPARC",
  "MaskCLIP",
  "SCLIP",
  "ClearCLIP",
  "NACLIP",
  "Grad-CAM",
  "Chefer",
  "LeGrad",
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

const char *
wp_figure_method_name (WpMapMethod method)
{
  g_return_val_if_fail (method < WP_N_MAP_METHODS, NULL);
  return method_names[method];
}

char *
wp_figure_map_title (WpMapMethod method,
                     gboolean    labels)
{
  if (labels)
    return g_strdup_printf ("%s label map", method_names[method]);
  if (method == WP_MAP_SPARC)
    return g_strdup ("SPARC grouping");
  return g_strdup_printf ("%s map", method_names[method]);
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

char *
wp_figure_dup_item_label (const WpFigure *figure,
                          int             item)
{
  const char *text = item_text (figure, item);
  int         repeat = 0;

  for (int i = 0; i < item; i++)
    repeat += g_strcmp0 (item_text (figure, i), text) == 0;
  return repeat > 0 ? g_strdup_printf ("%s#%d", text, repeat) : g_strdup (text);
}

/* Whether text (a word, or a phrase of prompt queries) has a word among names. */
static gboolean
names_colour (const char *text,
              const char *names)
{
  const char *p = text;

  while (*p != '\0') {
    const char *start;

    while (*p != '\0' && !g_ascii_isalpha (*p))
      p++;
    start = p;
    while (g_ascii_isalpha (*p))
      p++;
    if (p > start) {
      g_autofree char *word = g_ascii_strdown (start, p - start);
      g_autofree char *key = g_strdup_printf (" %s ", word);

      if (strstr (names, key) != NULL)
        return TRUE;
    }
  }
  return FALSE;
}

int
wp_figure_get_palette (const WpFigure *figure,
                       guint32        *colours)
{
  const WpWordMaps *maps = figure->maps;
  int               n = 0;

  for (int c = 0; c < WP_FIGURE_MAX_COLOURS; c++) {
    gboolean named = FALSE;

    for (int w = 0; maps != NULL && !named && w < maps->n_words; w++)
      named = names_colour (maps->words[w].text, palette[c].names);
    if (!named)
      colours[n++] = palette[c].rgb;
  }
  if (n == 0) {
    for (int c = 0; c < WP_FIGURE_MAX_COLOURS; c++)
      colours[n++] = palette[c].rgb;
  }
  return n;
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

/* The words shown in one panel, with what colouring them takes: their ranges (a lo and hi pair
 * each) and the palette. */
typedef struct {
  const int     *words;
  int            n_words;
  const double  *ranges;
  const guint32 *colours;
  int            n_colours;
} PanelWords;

/* Which of the panel's words a patch is drawn as where several share it: the one highest relative
 * to its own range (*relative), -1 for none (zero SPARC weights only). */
static int
best_word (const WpFigure   *figure,
           const PanelWords *shown,
           int               p,
           double           *relative)
{
  int best_i = -1;

  *relative = 0.0;
  for (int i = 0; i < shown->n_words; i++) {
    const float v = word_values (figure, shown->words[i])[p];
    double      t;

    if (figure->style.method == WP_MAP_SPARC && v <= 0.0f)
      continue;
    t = normalised (v, shown->ranges[2 * i], shown->ranges[2 * i + 1]);
    if (best_i < 0 || t > *relative) {
      *relative = t;
      best_i = i;
    }
  }
  return best_i;
}

/* The colour a patch gets for the words shown in one panel: one word uses the colour map, several
 * words their own colours, the word matching best winning the patch. */
static guint32
patch_colour (const WpFigure   *figure,
              const PanelWords *shown,
              int               p)
{
  const WpFigureStyle *style = &figure->style;
  double               rgb[3], relative;
  int                  best;

  if (style->labels) {
    const int word = patch_label (figure, p);

    for (int i = 0; i < shown->n_words; i++) {
      if (shown->words[i] == word) {
        wp_rgb_from_hex (shown->colours[i % shown->n_colours], rgb);
        return premultiplied (rgb, style->opacity);
      }
    }
    /* The start or end token, or a word not shown. */
    rgb[0] = rgb[1] = rgb[2] = 0.5;
    return premultiplied (rgb, style->opacity * 0.5);
  }
  if (shown->n_words == 1) {
    const float v = word_values (figure, shown->words[0])[p];

    if (style->method == WP_MAP_SPARC && v <= 0.0f)
      return 0;
    wp_colormap_rgb (style->colormap, normalised (v, shown->ranges[0], shown->ranges[1]), rgb);
    return premultiplied (rgb, style->opacity);
  }
  best = best_word (figure, shown, p, &relative);
  if (best < 0)
    return 0;
  wp_rgb_from_hex (shown->colours[best % shown->n_colours], rgb);
  return premultiplied (rgb, style->opacity * relative);
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

/* Text that fits max_width at size: shrunk down to three quarters of size, then cut short with
 * an ellipsis, so that neighbouring titles never run into each other. Sets the font size used. */
static char *
fit_text (cairo_t    *cr,
          const char *text,
          double      size,
          double      max_width)
{
  const double         smallest = size * 0.75;
  cairo_text_extents_t extents;
  GString             *cut;
  const char          *end;

  cairo_select_font_face (cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
  cairo_text_extents (cr, text, &extents);
  if (extents.x_advance <= max_width)
    return g_strdup (text);
  cairo_set_font_size (cr, MAX (smallest, size * max_width / extents.x_advance));
  cairo_text_extents (cr, text, &extents);
  if (extents.x_advance <= max_width)
    return g_strdup (text);
  /* The longest start of the text (whole characters) that fits with the ellipsis. */
  cut = g_string_new (NULL);
  end = text;
  while (*end != '\0') {
    const char      *next = g_utf8_find_next_char (end, NULL);
    g_autofree char *candidate =
      g_strdup_printf ("%.*s…", (int) ((next != NULL ? next : end + strlen (end)) - text), text);

    cairo_text_extents (cr, candidate, &extents);
    if (extents.x_advance > max_width)
      break;
    g_string_assign (cut, candidate);
    if (next == NULL)
      break;
    end = next;
  }
  if (cut->len == 0)
    g_string_assign (cut, "…");
  return g_string_free (cut, FALSE);
}

/* Text with its baseline at y, starting at x (align 0), centred on it (0.5) or ending there (1),
 * fitted into max_width as fit_text() says. */
static void
draw_text_aligned (cairo_t    *cr,
                   const char *text,
                   double      x,
                   double      y,
                   double      size,
                   double      max_width,
                   double      align)
{
  g_autofree char     *fitted = fit_text (cr, text, size, MAX (max_width, 1.0));
  cairo_text_extents_t extents;

  cairo_text_extents (cr, fitted, &extents);
  cairo_move_to (cr, x - align * extents.x_advance, y);
  cairo_show_text (cr, fitted);
}

static void
draw_text (cairo_t    *cr,
           const char *text,
           double      x,
           double      y,
           double      size,
           double      max_width)
{
  draw_text_aligned (cr, text, x, y, size, max_width, 0.0);
}

/* A range as figures write it: "-0.069 … 0.425". */
static char *
format_range (double lo,
              double hi)
{
  return g_strdup_printf ("%.3g … %.3g", lo, hi);
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

/* SVG and PDF viewers smooth an embedded image as they scale it, whatever cairo's filter says. */
static gboolean
draws_vectors (cairo_t *cr)
{
  switch (cairo_surface_get_type (cairo_get_target (cr))) {
  case CAIRO_SURFACE_TYPE_PDF:
  case CAIRO_SURFACE_TYPE_PS:
  case CAIRO_SURFACE_TYPE_SVG:
    return TRUE;
  default:
    return FALSE;
  }
}

/* The patch colours (premultiplied, row-major) as an image, each patch block x block pixels. */
static cairo_surface_t *
overlay_surface (const guint32 *colours,
                 int            rows,
                 int            cols,
                 int            block)
{
  cairo_surface_t *overlay =
    cairo_image_surface_create (CAIRO_FORMAT_ARGB32, cols * block, rows * block);
  const int stride = cairo_image_surface_get_stride (overlay);
  guint8   *data;

  cairo_surface_flush (overlay);
  data = cairo_image_surface_get_data (overlay);
  for (int y = 0; y < rows * block; y++) {
    guint32 *row = (guint32 *) (data + (gsize) y * stride);

    for (int x = 0; x < cols * block; x++)
      row[x] = colours[(y / block) * cols + x / block];
  }
  cairo_surface_mark_dirty (overlay);
  return overlay;
}

/* The region the model saw, when it is not the whole image: the rest dimmed, the region
 * outlined (in image pixels, line widths for the given scale). */
static void
draw_crop_outline (cairo_t           *cr,
                   const WpImage     *image,
                   const WpImageCrop *crop,
                   double             scale)
{
  static const double dash[1] = { 4.0 };
  double              line = 1.5 / scale, scaled_dash[1] = { dash[0] / scale };

  if (crop->x < 0.5 && crop->y < 0.5 && crop->width > image->width - 0.5 &&
      crop->height > image->height - 0.5)
    return;
  cairo_save (cr);
  cairo_set_fill_rule (cr, CAIRO_FILL_RULE_EVEN_ODD);
  cairo_rectangle (cr, 0, 0, image->width, image->height);
  cairo_rectangle (cr, crop->x, crop->y, crop->width, crop->height);
  cairo_set_source_rgba (cr, 0, 0, 0, 0.35);
  cairo_fill (cr);
  cairo_rectangle (cr, crop->x, crop->y, crop->width, crop->height);
  cairo_set_line_width (cr, line);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_stroke_preserve (cr);
  cairo_set_dash (cr, scaled_dash, 1, 0);
  cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
  cairo_stroke (cr);
  cairo_restore (cr);
}

/* The image fitted into the box, with colours (one premultiplied colour a patch of maps,
 * row-major) over the region the model saw, outlined when it is not the whole image. */
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
  cairo_surface_t   *overlay;
  cairo_pattern_t   *pattern;
  cairo_matrix_t     matrix;
  double             scale, ox, oy;
  int                block = 1;

  panel_fit (image, box, &scale, &ox, &oy);
  /* Blocks the viewer's smoothing cannot blur: each patch several pixels wide, about two per
   * point it covers. */
  if (!figure->style.smooth && draws_vectors (cr))
    block = CLAMP ((int) ceil (2.0 * crop->width * scale / cols), 1, 4096 / MAX (rows, cols));
  overlay = overlay_surface (colours, rows, cols, block);
  cairo_save (cr);
  cairo_translate (cr, ox, oy);
  cairo_scale (cr, scale, scale);
  cairo_set_source_surface (cr, picture, 0, 0);
  cairo_pattern_set_filter (cairo_get_source (cr), CAIRO_FILTER_GOOD);
  cairo_paint (cr);
  draw_crop_outline (cr, image, crop, scale);

  cairo_save (cr);
  cairo_rectangle (cr, crop->x, crop->y, crop->width, crop->height);
  cairo_clip (cr);
  pattern = cairo_pattern_create_for_surface (overlay);
  cairo_matrix_init_scale (&matrix, cols * block / crop->width, rows * block / crop->height);
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
  cairo_restore (cr);
  cairo_surface_destroy (overlay);
  cairo_surface_destroy (picture);
}

/* A panel of the words (one: the colour map over its range; several: each patch in the colour of
 * the best). */
static void
draw_words_panel (cairo_t          *cr,
                  const WpFigure   *figure,
                  const PanelWords *shown,
                  const double     *box)
{
  g_autofree guint32 *colours = g_new (guint32, figure->maps->n_patches);

  for (int p = 0; p < figure->maps->n_patches; p++)
    colours[p] = patch_colour (figure, shown, p);
  draw_panel (cr, figure, figure->maps, colours, box);
}

/* A colour bar from lo (bottom) to hi (top) with their numbers, or "max" and "min" when it stands
 * for several ranges (each written under its map); threshold, when finite, is marked. */
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
  if (!per_map && hi > lo && lo < 0.0 && hi > 0.0) {
    const double zy = y + height * (1.0 - normalised (0.0, lo, hi));

    /* Where 0 lies, unless it would cover the ends' numbers. */
    if (zy > y + font * 1.6 && zy < y + height - font * 1.2)
      draw_text (cr, "0", x + bar + font * 0.3, zy + font * 0.3, font * 0.7,
                 width - bar - font * 0.3);
  }
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

/* Each word's colour and label; with ranges (a lo and hi pair a word), the range its colour's
 * strength spans under the label. Within height: many words get smaller entries. */
static void
draw_legend (cairo_t          *cr,
             const WpFigure   *figure,
             const PanelWords *shown,
             double            x,
             double            y,
             double            width,
             double            height,
             double            size)
{
  const double lines = shown->ranges != NULL ? 2.3 : 1.4;
  const double font = MIN (size, height / (MAX (shown->n_words, 1) * lines));
  const double step = font * lines;

  for (int i = 0; i < shown->n_words; i++) {
    g_autofree char *label = wp_figure_dup_item_label (figure, shown->words[i]);
    double           rgb[3];

    wp_rgb_from_hex (shown->colours[i % shown->n_colours], rgb);
    cairo_set_source_rgb (cr, rgb[0], rgb[1], rgb[2]);
    cairo_rectangle (cr, x, y + i * step, font, font);
    cairo_fill (cr);
    cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
    draw_text (cr, label, x + font * 1.4, y + i * step + font * 0.85, font * 0.9,
               width - font * 1.4);
    if (shown->ranges != NULL) {
      g_autofree char *range = format_range (shown->ranges[2 * i], shown->ranges[2 * i + 1]);

      cairo_set_source_rgb (cr, 0.35, 0.35, 0.35);
      draw_text (cr, range, x + font * 1.4, y + i * step + font * 1.85, font * 0.7,
                 width - font * 1.4);
    }
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
  double     label[WP_MAPS_MAX_PANELS][2]; /* compare mode: where its row's word goes */
  gboolean   legend, grid;
  /* Each panel's range is written under its image (grid of several maps on their own ranges,
   * methods side by side). */
  gboolean ranges;
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
  double       cell_w, cell_h, below;
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
  l->ranges = methods && !labels && !figure->style.fixed_scale;
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
  below = l->ranges ? MIN (l->font * 0.8, cell_h * 0.2) : 0.0;
  l->n_panels = n_rows * l->n_columns;
  for (int i = 0; i < l->n_panels; i++) {
    const double cx = l->margin + names + (i % l->n_columns) * cell_w,
                 cy = y0 + (i / l->n_columns) * cell_h;

    l->label[i][0] = l->margin;
    l->label[i][1] = cy + (cell_h - below) / 2 + l->row_font * 0.35;
    l->panel[i][0] = cx + l->font * 0.2;
    l->panel[i][1] = cy + l->font * 0.1;
    l->panel[i][2] = cell_w - l->font * 0.4;
    l->panel[i][3] = cell_h - l->font * 0.2 - below;
  }
  l->name_width = names - l->font * 0.2;
}

/* The grid of n maps of the image in a width x height area: the number of columns that makes
 * them largest, each cell keeping above and below its image for its label and range. */
static int
grid_columns (const WpImage *image,
              int            n,
              double         width,
              double         height,
              double         above,
              double         below,
              double         pad)
{
  double best_scale = -1.0;
  int    best = 1;

  for (int cols = 1; cols <= n; cols++) {
    const int    rows = (n + cols - 1) / cols;
    const double w = width / cols - pad, h = height / rows - above - below - pad;
    const double scale = MIN (w / image->width, h / image->height);

    /* The fewest columns of the largest maps: a wider grid only when it wins. */
    if (scale > best_scale * 1.0001) {
      best_scale = scale;
      best = cols;
    }
  }
  return best;
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
    const double area_w = width - l->side - 3 * l->margin, area_h = height - l->top - l->margin;
    const double above = l->font * 1.1, pad = l->font * 0.4;
    double       below, cell_w, cell_h;
    int          cols;

    /* One map fills the area; several each say their range under them. */
    l->ranges = n > 1 && !style->fixed_scale;
    below = l->ranges ? l->font * 0.9 : 0.0;
    cols = grid_columns (figure->image, n, area_w, area_h, above, below, pad);
    cell_w = area_w / cols;
    cell_h = area_h / ((n + cols - 1) / cols);
    l->n_words = n;
    l->n_panels = n;
    for (int i = 0; i < n; i++) {
      const double cx = l->margin + (i % cols) * cell_w, cy = l->top + (i / cols) * cell_h;

      l->panel[i][0] = cx + pad / 2;
      l->panel[i][1] = cy + above;
      l->panel[i][2] = cell_w - pad;
      l->panel[i][3] = cell_h - above - below - pad;
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

/* The column titles of a comparison: A, B and B - A, or the methods' names (the figure's title
 * says what they are maps of). */
static char *
column_title (const WpFigure *figure,
              int             column)
{
  if (figure->methods != NULL)
    return g_strdup (method_names[figure->methods[column]]);
  if (column == 0)
    return figure->label != NULL ? g_strdup_printf ("A: %s", figure->label) : g_strdup ("A");
  if (column == 1)
    return figure->other_label != NULL ? g_strdup_printf ("B: %s", figure->other_label)
                                       : g_strdup ("B");
  return g_strdup ("B − A");
}

/* Above the image of a panel (its box), from the image's left edge to the box's right one. */
static void
draw_panel_label (cairo_t        *cr,
                  const WpFigure *figure,
                  const char     *text,
                  const double   *box,
                  double          size)
{
  double scale, ox, oy;

  panel_fit (figure->image, box, &scale, &ox, &oy);
  cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
  draw_text (cr, text, ox, oy - size * 0.35, size, box[0] + box[2] - ox);
}

/* Under the image of a panel, ending at its right edge (align 1) or centred (0.5): the range
 * its colours span. */
static void
draw_panel_range (cairo_t        *cr,
                  const WpFigure *figure,
                  const double   *range,
                  const double   *box,
                  double          size,
                  double          align)
{
  g_autofree char *text = format_range (range[0], range[1]);
  double           scale, ox, oy;

  panel_fit (figure->image, box, &scale, &ox, &oy);
  cairo_set_source_rgb (cr, 0.35, 0.35, 0.35);
  draw_text_aligned (cr, text, ox + figure->image->width * scale * (align < 1.0 ? 0.5 : 1.0),
                     oy + figure->image->height * scale + size * 1.05, size,
                     align < 1.0 ? box[2] : ox + figure->image->width * scale - box[0], align);
}

/* The rows of a comparison: A, B and B - A panels with their titles, and per row the colour bar
 * A and B share and the difference's own (label maps: one row of them and the legend); or one
 * panel a method, each on its own range written under it, and a per-map colour bar. */
static void
draw_compare (cairo_t        *cr,
              const WpFigure *figure,
              const Layout   *l,
              double          width,
              double          height)
{
  const WpFigureStyle *style = &figure->style;
  const gboolean       methods = figure->methods != NULL;
  const double         bar_x = width - l->side - l->margin, bar_w = l->side / 2;
  const int            n_maps = methods ? l->n_columns : 2;
  g_autofree guint32  *colours = g_new (guint32, figure->maps->n_patches);
  g_autofree WpFigure *columns = g_new (WpFigure, n_maps);
  guint32              palette_colours[WP_FIGURE_MAX_COLOURS];
  const int            n_colours = wp_figure_get_palette (figure, palette_colours);

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
    /* Centred over the image, which its box centres; never wider than the box, so titles never
     * meet. */
    panel_fit (figure->image, l->panel[c], &scale, &ox, &oy);
    cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
    draw_text_aligned (cr, title, ox + figure->image->width * scale / 2, l->heading,
                       l->font * 0.9, l->panel[c][2], 0.5);
  }
  if (l->legend) {
    const PanelWords shown = { l->words, l->n_words, NULL, palette_colours, n_colours };

    for (int c = 0; c < n_maps; c++)
      draw_words_panel (cr, &columns[c], &shown, l->panel[c]);
    draw_legend (cr, &columns[0], &shown, bar_x, l->top + l->margin + l->font * 1.3, l->side,
                 height - l->top - 2 * l->margin - l->font * 1.3, l->font);
    return;
  }
  if (!methods) {
    cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
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
    const int        i = row * l->n_columns, word = l->words[row];
    const double    *box = l->panel[i];
    const double     half = l->difference ? difference_range (figure, word) : 0.0;
    g_autofree char *name = wp_figure_dup_item_label (&columns[0], word);
    double           range[2], scale, ox, oy, font;

    cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
    draw_text (cr, name, l->label[i][0], l->label[i][1], l->row_font, l->name_width);
    if (!methods)
      wp_figure_word_range (figure, word, &range[0], &range[1]);
    for (int c = 0; c < n_maps; c++) {
      const PanelWords shown = { &word, 1, range, palette_colours, n_colours };

      if (methods)
        map_range (&columns[c], word, &range[0], &range[1]);
      draw_words_panel (cr, &columns[c], &shown, l->panel[i + c]);
      if (l->ranges)
        draw_panel_range (cr, figure, range, l->panel[i + c], MIN (l->font * 0.7, l->row_font),
                          0.5);
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
  guint32              palette_colours[WP_FIGURE_MAX_COLOURS];
  const int            n_colours = wp_figure_get_palette (figure, palette_colours);
  Layout               l;

  layout_init (&l, figure, width, height);
  cairo_save (cr);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_rectangle (cr, 0, 0, width, height);
  cairo_fill (cr);

  /* A comparison names its words on their rows, a grid above its maps. */
  for (int i = 0; i < l.n_words && !l.grid && !l.compare; i++) {
    g_autofree char *label = wp_figure_dup_item_label (figure, l.words[i]);

    g_string_append_printf (names, "%s%s", i > 0 ? ", " : "", label);
  }
  what = figure->methods != NULL ? g_strdup (style->labels ? "label maps" : "maps")
                                 : wp_figure_map_title (style->method, style->labels);
  title = g_strdup_printf ("\"%s\" - %s%s%s", figure->caption != NULL ? figure->caption : "",
                           what, names->len > 0 ? ": " : "", names->str);
  g_string_free (names, TRUE);
  cairo_set_source_rgb (cr, 0.1, 0.1, 0.1);
  draw_text (cr, title, l.margin, l.margin + l.font, l.font, width - 2 * l.margin);

  if (l.compare) {
    draw_compare (cr, figure, &l, width, height);
    cairo_restore (cr);
    layout_clear (&l);
    return;
  }
  {
    g_autofree double *ranges = g_new (double, 2 * MAX (l.n_words, 1));

    /* Each word's range once, not once a patch. */
    for (int w = 0; w < l.n_words; w++)
      wp_figure_word_range (figure, l.words[w], &ranges[2 * w], &ranges[2 * w + 1]);
    for (int i = 0; i < l.n_panels; i++) {
      const PanelWords shown = { l.grid ? l.words + i : l.words, l.grid ? 1 : l.n_words,
                                 l.grid ? ranges + 2 * i : ranges, palette_colours, n_colours };

      if (l.grid) {
        g_autofree char *label = wp_figure_dup_item_label (figure, l.words[i]);

        draw_panel_label (cr, figure, label, l.panel[i], l.font * 0.8);
        if (l.ranges)
          draw_panel_range (cr, figure, ranges + 2 * i, l.panel[i], l.font * 0.7, 1.0);
      }
      draw_words_panel (cr, figure, &shown, l.panel[i]);
    }
    if (l.legend) {
      const PanelWords shown = { l.words, l.n_words, style->labels ? NULL : ranges,
                                 palette_colours, n_colours };

      draw_legend (cr, figure, &shown, width - l.side - l.margin, l.top + l.margin, l.side,
                   height - l.top - 2 * l.margin, l.font);
    } else if (l.n_words > 0) {
      /* Weights below 1/P were dropped before renormalising: the mark shows where that would
       * sit. */
      draw_colour_bar (cr, style->colormap, ranges[0], ranges[1], l.ranges,
                       style->method == WP_MAP_SPARC ? 1.0 / figure->maps->n_patches : NAN,
                       width - l.side - l.margin, l.top + l.margin + l.font, l.side,
                       MIN (height - l.top - 2 * l.margin - 2 * l.font, l.font * 12), l.font);
    }
  }
  cairo_restore (cr);
  layout_clear (&l);
}

/* The maps panel i of a laid-out figure shows, or NULL where nothing is drawn. */
static const WpWordMaps *
panel_maps (const WpFigure *figure,
            const Layout   *l,
            int             i,
            int            *column)
{
  const int c = l->compare ? i % l->n_columns : 0;

  *column = c;
  if (i < 0 || i >= l->n_panels || (c == 2 && figure->methods == NULL && !l->difference))
    return NULL;
  return c == 1 && figure->methods == NULL ? figure->other_maps : figure->maps;
}

int
wp_figure_get_n_panels (const WpFigure *figure,
                        double          width,
                        double          height)
{
  Layout l;
  int    n;

  layout_init (&l, figure, width, height);
  n = l.n_panels;
  layout_clear (&l);
  return n;
}

gboolean
wp_figure_locate (const WpFigure *figure,
                  double          width,
                  double          height,
                  double          x,
                  double          y,
                  WpFigureSpot   *spot)
{
  gboolean hit = FALSE;
  Layout   l;

  layout_init (&l, figure, width, height);
  for (int i = 0; i < l.n_panels && !hit; i++) {
    int                c;
    const WpWordMaps  *maps = panel_maps (figure, &l, i, &c);
    const WpImageCrop *crop;
    double             scale, ox, oy, ix, iy;
    int                col, row;

    if (maps == NULL)
      continue;
    crop = &maps->crop;
    panel_fit (figure->image, l.panel[i], &scale, &ox, &oy);
    ix = (x - ox) / scale;
    iy = (y - oy) / scale;
    col = (int) floor ((ix - crop->x) / crop->width * maps->cols);
    row = (int) floor ((iy - crop->y) / crop->height * maps->rows);
    if (col < 0 || row < 0 || col >= maps->cols || row >= maps->rows)
      continue;
    spot->panel = i;
    spot->column = c;
    spot->word = panel_word (&l, i);
    spot->patch = row * maps->cols + col;
    spot->rows = maps->rows;
    spot->cols = maps->cols;
    hit = TRUE;
  }
  layout_clear (&l);
  return hit;
}

gboolean
wp_figure_get_spot (const WpFigure *figure,
                    double          width,
                    double          height,
                    int             panel,
                    int             patch,
                    WpFigureSpot   *spot,
                    double         *rect)
{
  Layout            l;
  int               c;
  const WpWordMaps *maps;
  gboolean          found = FALSE;

  layout_init (&l, figure, width, height);
  maps = panel_maps (figure, &l, panel, &c);
  if (maps != NULL && patch >= 0 && patch < maps->n_patches) {
    const WpImageCrop *crop = &maps->crop;
    const int          row = patch / maps->cols, col = patch % maps->cols;
    double             scale, ox, oy;

    spot->panel = panel;
    spot->column = c;
    spot->word = panel_word (&l, panel);
    spot->patch = patch;
    spot->rows = maps->rows;
    spot->cols = maps->cols;
    if (rect != NULL) {
      panel_fit (figure->image, l.panel[panel], &scale, &ox, &oy);
      rect[0] = ox + (crop->x + col * crop->width / maps->cols) * scale;
      rect[1] = oy + (crop->y + row * crop->height / maps->rows) * scale;
      rect[2] = crop->width / maps->cols * scale;
      rect[3] = crop->height / maps->rows * scale;
    }
    found = TRUE;
  }
  layout_clear (&l);
  return found;
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
  WpFigureSpot spot;

  if (!wp_figure_locate (figure, width, height, x, y, &spot))
    return FALSE;
  *word = spot.word;
  *patch = spot.patch;
  *column = spot.column;
  return TRUE;
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

/* The words a spot's panel shows: its own, or every word shown (indices into maps' words, or
 * tokens in token mode). */
static int *
spot_words (const WpFigure     *figure,
            const WpFigureSpot *spot,
            int                *n)
{
  int *words;

  if (spot->word >= 0) {
    *n = 1;
    words = g_new (int, 1);
    words[0] = spot->word;
    return words;
  }
  if (figure->words != NULL) {
    *n = figure->n_words;
    return g_memdup2 (figure->words, sizeof (int) * (gsize) MAX (*n, 1));
  }
  *n = n_items (figure);
  words = g_new (int, MAX (*n, 1));
  for (int i = 0; i < *n; i++)
    words[i] = i;
  return words;
}

/* Compare mode: the row's word, and both models' values with their difference when the two share
 * a patch grid, else the value of the column hovered; label maps: each model's label. */
static void
describe_compare (const WpFigure     *figure,
                  const WpFigureSpot *spot,
                  GString            *text)
{
  WpFigure a, b;

  column_figure (figure, 0, &a);
  column_figure (figure, 1, &b);
  g_string_append_printf (text, "patch row %d, column %d:", spot->patch / spot->cols,
                          spot->patch % spot->cols);
  if (figure->style.labels) {
    const WpFigure  *shown = spot->column == 1 ? &b : &a;
    const int        label = shown->maps->labels[shown->style.method][spot->patch];
    g_autofree char *name = label >= 0 ? wp_figure_dup_item_label (shown, label) : NULL;

    g_string_append_printf (text, "  %s label %s", spot->column == 1 ? "B" : "A",
                            name != NULL ? name : "none");
    return;
  }
  {
    g_autofree char *name = wp_figure_dup_item_label (&a, spot->word);

    g_string_prepend (text, ", ");
    g_string_prepend (text, name);
  }
  if (same_grid (figure))
    g_string_append_printf (text, "  A %.3g  B %.3g  B − A %.3g",
                            word_values (&a, spot->word)[spot->patch],
                            word_values (&b, spot->word)[spot->patch],
                            wp_figure_difference (figure, spot->word, spot->patch));
  else
    g_string_append_printf (text, "  %s %.3g", spot->column == 1 ? "B" : "A",
                            word_values (spot->column == 1 ? &b : &a, spot->word)[spot->patch]);
}

/* Methods side by side: every method's value of the row's word at the patch, the one hovered
 * first. */
static void
describe_methods (const WpFigure     *figure,
                  const WpFigureSpot *spot,
                  GString            *text)
{
  g_autofree char *name = NULL;
  WpFigure         column;

  column_figure (figure, MAX (spot->column, 0), &column);
  name = wp_figure_dup_item_label (&column, spot->word);
  g_string_append_printf (text, "%s, patch row %d, column %d:", name, spot->patch / spot->cols,
                          spot->patch % spot->cols);
  if (figure->style.labels) {
    const int        label = column.maps->labels[column.style.method][spot->patch];
    g_autofree char *label_name = label >= 0 ? wp_figure_dup_item_label (&column, label) : NULL;

    g_string_append_printf (text, "  %s label %s", method_names[column.style.method],
                            label_name != NULL ? label_name : "none");
    return;
  }
  for (int k = -1; k < figure->n_methods; k++) {
    const int c = k < 0 ? spot->column : k;

    if (k >= 0 && k == spot->column)
      continue;
    column_figure (figure, c, &column);
    g_string_append_printf (text, "  %s %.3g", method_names[column.style.method],
                            word_values (&column, spot->word)[spot->patch]);
  }
}

char *
wp_figure_describe_spot (const WpFigure     *figure,
                         const WpFigureSpot *spot)
{
  GString           *text = g_string_new (NULL);
  g_autofree int    *words = NULL;
  g_autofree double *ranges = NULL;
  int                n;

  if (figure->other_maps != NULL) {
    describe_compare (figure, spot, text);
    return g_string_free (text, FALSE);
  }
  if (figure->methods != NULL) {
    describe_methods (figure, spot, text);
    return g_string_free (text, FALSE);
  }
  g_string_append_printf (text, "patch row %d, column %d", spot->patch / spot->cols,
                          spot->patch % spot->cols);
  words = spot_words (figure, spot, &n);
  ranges = g_new (double, 2 * MAX (n, 1));
  for (int i = 0; i < n; i++)
    wp_figure_word_range (figure, words[i], &ranges[2 * i], &ranges[2 * i + 1]);
  if (figure->style.labels) {
    const int        label = patch_label (figure, spot->patch);
    g_autofree char *name = label >= 0 ? wp_figure_dup_item_label (figure, label) : NULL;

    g_string_append_printf (text, ", label %s:", name != NULL ? name : "none");
  } else if (n > 1) {
    const PanelWords shown = { words, n, ranges, NULL, 0 };
    double           relative;
    const int        best = best_word (figure, &shown, spot->patch, &relative);
    g_autofree char *name = best >= 0 ? wp_figure_dup_item_label (figure, words[best]) : NULL;

    g_string_append_printf (text, ", drawn as %s:", name != NULL ? name : "none");
  } else {
    g_string_append (text, ":");
  }
  for (int i = 0; i < n; i++) {
    const float      v = word_values (figure, words[i])[spot->patch];
    g_autofree char *name = wp_figure_dup_item_label (figure, words[i]);

    g_string_append_printf (text, "  %s%s %.3g", figure->token_labels != NULL ? "·" : "", name,
                            v);
    /* What the colour's strength encodes where several words share a panel. */
    if (n > 1 && !figure->style.labels)
      g_string_append_printf (text, " (%.2f of its range)",
                              normalised (v, ranges[2 * i], ranges[2 * i + 1]));
  }
  return g_string_free (text, FALSE);
}

void
wp_figure_append_option (GString    *command,
                         const char *option,
                         const char *value)
{
  g_autofree char *quoted = value != NULL ? g_shell_quote (value) : NULL;

  g_string_append_printf (command, " %s%s%s", option, quoted != NULL ? " " : "",
                          quoted != NULL ? quoted : "");
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
  for (int i = 0; i < n; i++) {
    g_autofree char *label =
      wp_figure_dup_item_label (&shown, shown.words != NULL ? shown.words[i] : i);

    g_string_append_printf (words, "%s%s", i > 0 ? "," : "", label);
  }
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
            GHashTable     *provenance,
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
  return wp_image_save_png (image, path, provenance, error);
}

static cairo_status_t
append_cb (void                *closure,
           const unsigned char *data,
           unsigned int         length)
{
  g_byte_array_append (closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

static int
compare_keys (gconstpointer a,
              gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The provenance's keys in order, so that the same figure writes the same file. */
static GPtrArray *
sorted_keys (GHashTable *provenance)
{
  GPtrArray     *keys = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer       key;

  if (provenance != NULL) {
    g_hash_table_iter_init (&iter, provenance);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      g_ptr_array_add (keys, key);
  }
  g_ptr_array_sort (keys, compare_keys);
  return keys;
}

/* An SVG <metadata> element after the <svg> element's start tag: one entry a keyword. */
static void
svg_add_metadata (GByteArray *svg,
                  GHashTable *provenance)
{
  g_autoptr (GPtrArray) keys = sorted_keys (provenance);
  const char *start = g_strstr_len ((const char *) svg->data, svg->len, "<svg");
  const char *end =
    start != NULL ? memchr (start, '>', svg->len - (gsize) (start - (const char *) svg->data))
                  : NULL;
  GString *metadata;

  if (end == NULL || keys->len == 0)
    return;
  metadata = g_string_new ("\n<metadata>\n<wordpatch:provenance "
                           "xmlns:wordpatch=\"urn:wordpatch:provenance\">\n");
  for (guint i = 0; i < keys->len; i++) {
    g_autofree char *key = g_markup_escape_text (keys->pdata[i], -1);
    g_autofree char *value =
      g_markup_escape_text (g_hash_table_lookup (provenance, keys->pdata[i]), -1);

    g_string_append_printf (metadata, "<wordpatch:entry key=\"%s\">%s</wordpatch:entry>\n", key,
                            value);
  }
  g_string_append (metadata, "</wordpatch:provenance>\n</metadata>");
  {
    const guint at = (guint) (end + 1 - (const char *) svg->data);
    g_autoptr (GByteArray) rest = g_byte_array_new ();

    g_byte_array_append (rest, svg->data + at, svg->len - at);
    g_byte_array_set_size (svg, at);
    g_byte_array_append (svg, (const guint8 *) metadata->str, (guint) metadata->len);
    g_byte_array_append (svg, rest->data, rest->len);
  }
  g_string_free (metadata, TRUE);
}

/* The PDF's document information: a title, the program, the command as subject, and every entry
 * as "keyword=value" keywords. */
static void
pdf_add_metadata (cairo_surface_t *surface,
                  const WpFigure  *figure,
                  GHashTable      *provenance)
{
  g_autoptr (GPtrArray) keys = sorted_keys (provenance);
  g_autofree char *title = NULL;
  GString         *keywords = g_string_new (NULL);
  const char      *software = provenance != NULL ? g_hash_table_lookup (provenance, "Software")
                                                 : NULL;
  const char      *command =
    provenance != NULL ? g_hash_table_lookup (provenance, "wordpatch.command") : NULL;
  const char *what =
    figure->methods != NULL ? "maps" : wp_map_method_to_string (figure->style.method);

  title = g_strdup_printf ("\"%s\" - %s", figure->caption != NULL ? figure->caption : "", what);
  cairo_pdf_surface_set_metadata (surface, CAIRO_PDF_METADATA_TITLE, title);
  cairo_pdf_surface_set_metadata (surface, CAIRO_PDF_METADATA_CREATOR,
                                  software != NULL ? software : "wordpatch " WP_VERSION);
  if (command != NULL)
    cairo_pdf_surface_set_metadata (surface, CAIRO_PDF_METADATA_SUBJECT, command);
  for (guint i = 0; i < keys->len; i++)
    g_string_append_printf (keywords, "%s%s=%s", i > 0 ? "; " : "", (const char *) keys->pdata[i],
                            (const char *) g_hash_table_lookup (provenance, keys->pdata[i]));
  if (keywords->len > 0)
    cairo_pdf_surface_set_metadata (surface, CAIRO_PDF_METADATA_KEYWORDS, keywords->str);
  g_string_free (keywords, TRUE);
}

/* SVG and PDF are drawn into memory, given their metadata, then written as one file. */
static gboolean
export_vector (const WpFigure *figure,
               const char     *path,
               gboolean        svg,
               int             width,
               int             height,
               GHashTable     *provenance,
               GError        **error)
{
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  g_autoptr (GError) local_error = NULL;
  cairo_surface_t *surface;
  cairo_t         *cr;
  cairo_status_t   status;

  surface = svg ? cairo_svg_surface_create_for_stream (append_cb, bytes, width, height)
                : cairo_pdf_surface_create_for_stream (append_cb, bytes, width, height);
  if (!svg)
    pdf_add_metadata (surface, figure, provenance);
  cr = cairo_create (surface);
  wp_figure_draw (cr, figure, width, height);
  cairo_show_page (cr);
  status = cairo_status (cr);
  cairo_destroy (cr);
  cairo_surface_finish (surface);
  if (status == CAIRO_STATUS_SUCCESS)
    status = cairo_surface_status (surface);
  cairo_surface_destroy (surface);
  if (cairo_failed (status, path, error))
    return FALSE;
  if (svg)
    svg_add_metadata (bytes, provenance);
  /* As for any file the user saves: what the umask leaves of read and write for all. */
  if (!g_file_set_contents_full (path, (const char *) bytes->data, bytes->len,
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0666, &local_error)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO, "%s: cannot write: %s", path,
                 local_error->message);
    return FALSE;
  }
  return TRUE;
}

gboolean
wp_figure_format_supported (const char *path)
{
  g_autofree char *lower = g_ascii_strdown (path, -1);

  return g_str_has_suffix (lower, ".png") || g_str_has_suffix (lower, ".svg") ||
         g_str_has_suffix (lower, ".pdf");
}

gboolean
wp_figure_export (const WpFigure *figure,
                  const char     *path,
                  int             width,
                  int             height,
                  GHashTable     *provenance,
                  GError        **error)
{
  g_autofree char *lower = g_ascii_strdown (path, -1);

  if (width < 64 || height < 64 || width > 16384 || height > 16384) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "%s: a figure must be 64 to 16384 pixels on a side", path);
    return FALSE;
  }
  if (g_str_has_suffix (lower, ".png"))
    return export_png (figure, path, width, height, provenance, error);
  if (g_str_has_suffix (lower, ".svg") || g_str_has_suffix (lower, ".pdf"))
    return export_vector (figure, path, g_str_has_suffix (lower, ".svg"), width, height,
                          provenance, error);
  g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
               "%s: the figure's name must end in .png, .svg or .pdf", path);
  return FALSE;
}
