/* figure.h: the heatmap figure, drawn once for the screen and for files.
 *
 * One function draws a figure onto any cairo_t (the app's widget snapshot, an image surface for
 * PNG, SVG and PDF surfaces), so an exported figure is exactly what is shown. A figure is the
 * original image with per-word maps (maps.h) laid over the region the model saw (CLIP's centre
 * crop; cropped-away parts carry no values), titles, and a colour bar or a legend.
 *
 * Methods: FILIP map (cosine of patch and word embeddings), SPARC grouping (sparse alignment
 * weights; zero weights are transparent, the 1/P threshold is marked on the colour bar), FILIP
 * label map (each patch in the colour of its most similar word). Several words in one view get
 * distinct colours, each patch showing the word it matches best; the grid layout draws one small
 * view per word instead. Scale: per map (FILIP: min..max, SPARC: 0..max) or one fixed range shared
 * by every map, so that "this word matches nothing" stays visible. */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "wordpatch/image.h"
#include "wordpatch/maps.h"
#include "wordpatch/model.h"

G_BEGIN_DECLS

typedef enum {
  WP_FIGURE_FILIP,
  WP_FIGURE_SPARC,
  WP_FIGURE_LABELS,
} WpFigureMethod;

typedef enum {
  WP_COLORMAP_VIRIDIS,
  WP_COLORMAP_MAGMA,
  WP_COLORMAP_COOLWARM, /* diverging: blue, white, red */
} WpColormap;

typedef struct {
  WpFigureMethod method;
  WpColormap     colormap;
  double         opacity;    /* of the overlay, 0..1; default 0.65 */
  gboolean       smooth;     /* bilinear between patch centres instead of blocks */
  gboolean       patch_grid; /* draw the patch boundaries */
  gboolean       grid;       /* one small view per word */
  gboolean       fixed_scale;
  double         lo, hi; /* the fixed scale */
} WpFigureStyle;

typedef struct {
  const WpImage    *image;
  const WpWordMaps *maps;
  const int        *words; /* indices into maps->words (or tokens, see below); NULL: all of them */
  int               n_words;
  /* Token mode: when not NULL, the figure shows BPE tokens (rows of maps->token_filip /
   * token_sparc) instead of words, these (maps->n_tokens) being their labels, and words holds
   * token indices. */
  const char *const *token_labels;
  const char        *caption;
  WpFigureStyle      style;
} WpFigure;

void wp_figure_style_init (WpFigureStyle *style);

gboolean    wp_figure_method_from_string (const char     *name,
                                          WpFigureMethod *method);
const char *wp_figure_method_to_string (WpFigureMethod method);
gboolean    wp_colormap_from_string (const char *name,
                                     WpColormap *colormap);
const char *wp_colormap_to_string (WpColormap colormap);

/* The colour of t in [0, 1] (clamped). */
void wp_colormap_rgb (WpColormap colormap,
                      double     t,
                      double    *rgb);

/* The value range a word's map is coloured with under the figure's style. */
void wp_figure_word_range (const WpFigure *figure,
                           int             word,
                           double         *lo,
                           double         *hi);

/* Draws the whole figure into the width x height rectangle at the origin of cr. */
void wp_figure_draw (cairo_t        *cr,
                     const WpFigure *figure,
                     double          width,
                     double          height);

/* The patch under (x, y) of the figure drawn at width x height: its index, and the word of the
 * panel there (a token in token mode; -1 when the panel shows several). FALSE outside every map. */
gboolean wp_figure_hit (const WpFigure *figure,
                        double          width,
                        double          height,
                        double          x,
                        double          y,
                        int            *word,
                        int            *patch);

/* The PNG text chunks that record how a figure was made: model path, model_sha256 (the weights'
 * SHA-256, when not NULL), step, image, caption, words (or tokens), method, scale, colour map, and
 * the command that draws it again (when not NULL). */
GHashTable *wp_figure_new_png_text (const WpFigure *figure,
                                    const WpModel  *model,
                                    const char     *model_sha256,
                                    const char     *image_path,
                                    const char     *command) G_GNUC_WARN_UNUSED_RESULT;

/* Writes the figure to path as PNG, SVG or PDF (by its extension) at width x height pixels
 * (points for SVG and PDF). png_text (keyword -> value, may be NULL) becomes PNG text chunks. The
 * file appears whole or not at all (temporary file renamed). */
gboolean wp_figure_export (const WpFigure *figure,
                           const char     *path,
                           int             width,
                           int             height,
                           GHashTable     *png_text,
                           GError        **error);

G_END_DECLS
