/* figure.h: the heatmap figure, drawn once for the screen and for files.
 *
 * One function draws a figure onto any cairo_t (the app's widget snapshot, an image surface for
 * PNG, SVG and PDF surfaces), so an exported figure is exactly what is shown. A figure is the
 * original image with per-word maps (maps.h) laid over the region the model saw (outlined when
 * it is not the whole image: CLIP's centre crop; cropped-away parts carry no values), titles, and
 * a colour bar with the numbers of its range, or a legend.
 *
 * Methods (dense.h): the FILIP map (cosine of patch and word embeddings) and the other methods'
 * maps on the colour map, the SPARC grouping (sparse alignment weights; zero weights are
 * transparent, the 1/P threshold is marked on the colour bar), and for any method its label map
 * (each patch in the colour of the word whose map is largest there). Several words in one view get
 * distinct colours from a qualitative palette that leaves out the colours the caption names (so
 * "red" is never drawn in blue beside a "blue"), each patch showing the word it matches best
 * relative to that word's range; the grid layout draws one view per word instead, as many columns
 * as make the maps largest, each labelled above its map and with its range below. Scale: per map
 * (min..max, SPARC: 0..max) or one fixed range shared by every map, so that "this word matches
 * nothing" stays visible. A word that occurs twice is labelled apart: "red", then "red#1" (the
 * occurrence counted from 0, as heatmap's --tokens names it).
 *
 * Comparison (other_maps set): the same image and caption under a second model, to see what
 * training changed. Each word gets a row: this model's map (column 0, "A"), the other's (column
 * 1, "B") and their difference B - A (column 2) on the diverging colour map.
 *
 * Methods side by side (methods set): the same layout with one column per method and one row
 * per word, each panel on its own range, written under it. */
#pragma once

#include <cairo.h>
#include <glib.h>

#include "wordpatch/image.h"
#include "wordpatch/maps.h"
#include "wordpatch/model.h"

G_BEGIN_DECLS

typedef enum {
  WP_COLORMAP_VIRIDIS,
  WP_COLORMAP_MAGMA,
  WP_COLORMAP_COOLWARM, /* diverging: blue, white, red */
} WpColormap;

typedef struct {
  WpMapMethod method;
  gboolean    labels; /* the method's label map */
  WpColormap  colormap;
  double      opacity;    /* of the overlay, 0..1; default 0.65 */
  gboolean    smooth;     /* bilinear between patch centres instead of blocks */
  gboolean    patch_grid; /* draw the patch boundaries */
  gboolean    grid;       /* one small view per word */
  gboolean    fixed_scale;
  double      lo, hi; /* the fixed scale */
} WpFigureStyle;

typedef struct {
  const WpImage    *image;
  const WpWordMaps *maps;
  const int        *words; /* indices into maps->words (or tokens, see below); NULL: all of them */
  int               n_words;
  /* Token mode: when not NULL, the figure shows BPE tokens (rows of maps->token_values) instead
   * of words, these (maps->n_tokens) being their labels, and words holds token indices. */
  const char *const *token_labels;
  const char        *caption;
  WpFigureStyle      style;
  /* Comparison: the same caption's maps under a second model (same image, same caption). Each
   * word shown gets a row of three panels: this model, the other, and the difference other minus
   * this on the diverging colour map (coolwarm), centred on 0; the style's colour map and the
   * method apply to the first two. Words are matched by index (both maps split the caption into
   * words the same way); a word whose text differs between the two, or that one of them lacks,
   * is left out (wp_figure_compares_word()). Token mode (token_labels) and the style's grid flag
   * are ignored. The A and B panels of a word share one range (min..max of both maps, 0..max for
   * SPARC, or the fixed scale), so that "this word matches nothing in B" shows; the difference
   * spans +-max |B - A| of the word (+-(hi - lo) with a fixed scale), with its own colour bar.
   * With the FILIP label map: one row, the two label maps, no difference. When the two maps have
   * different patch grids there is no difference panel, only a note where it would be. */
  const WpWordMaps *other_maps;
  const char       *label;       /* this model's column title (its folder, "step 200"); NULL: "A" */
  const char       *other_label; /* NULL: "B" */
  /* Methods side by side: n_methods >= 2 methods of maps, one column each (the style's method is
   * ignored); not with other_maps or token mode. */
  const WpMapMethod *methods;
  int                n_methods;
} WpFigure;

void wp_figure_style_init (WpFigureStyle *style);

/* "filip", "legrad", ..., with " labels" for a label map; "labels" alone is FILIP's label map. */
gboolean    wp_figure_method_from_string (const char    *name,
                                          WpFigureStyle *style);
char       *wp_figure_method_to_string (const WpFigureStyle *style) G_GNUC_WARN_UNUSED_RESULT;
gboolean    wp_colormap_from_string (const char *name,
                                     WpColormap *colormap);
const char *wp_colormap_to_string (WpColormap colormap);

/* A method as figures name it ("FILIP", "Grad-CAM", ...). */
const char *wp_figure_method_name (WpMapMethod method);
/* The title of a method's map ("FILIP map", "SPARC grouping", "LeGrad map"), or of its label map
 * ("FILIP label map"). */
char *wp_figure_map_title (WpMapMethod method,
                           gboolean    labels) G_GNUC_WARN_UNUSED_RESULT;

/* 0xRRGGBB as red, green, blue in [0, 1]. */
void wp_rgb_from_hex (guint32 hex,
                      double *rgb);

/* The colour of t in [0, 1] (clamped). */
void wp_colormap_rgb (WpColormap colormap,
                      double     t,
                      double    *rgb);

/* The value range a word's map is coloured with under the figure's style; in compare mode, the
 * range its two maps share. */
void wp_figure_word_range (const WpFigure *figure,
                           int             word,
                           double         *lo,
                           double         *hi);

/* Draws the whole figure into the width x height rectangle at the origin of cr. */
void wp_figure_draw (cairo_t        *cr,
                     const WpFigure *figure,
                     double          width,
                     double          height);

/* Compare mode: whether word (an index into both maps' words) has a row: both maps have it, with
 * the same text. */
gboolean wp_figure_compares_word (const WpFigure *figure,
                                  int             word);

/* Compare mode: word's value at patch under the other model minus under this one, in the
 * figure's method (FILIP cosine or SPARC weight); what the difference panel shows. NaN when
 * there is no difference panel for it (not compared, different patch grids, label map). */
float wp_figure_difference (const WpFigure *figure,
                            int             word,
                            int             patch);

/* The patch under (x, y) of the figure drawn at width x height: its index, and the word of the
 * panel there (a token in token mode; -1 when the panel shows several). FALSE outside every map. */
gboolean wp_figure_hit (const WpFigure *figure,
                        double          width,
                        double          height,
                        double          x,
                        double          y,
                        int            *word,
                        int            *patch);

/* wp_figure_hit(), and the column of the panel hit: 0 outside compare mode; in compare mode 0
 * for this model, 1 for the other, 2 for the difference. The patch indexes the grid of the
 * column's maps (other_maps' in column 1; column 2 exists only when the two grids are equal).
 * With methods side by side, the column is the index into methods. */
gboolean wp_figure_hit_panel (const WpFigure *figure,
                              double          width,
                              double          height,
                              double          x,
                              double          y,
                              int            *word,
                              int            *patch,
                              int            *column);

/* A place in a drawn figure: a patch of one of its panels. */
typedef struct {
  int panel;  /* 0 .. wp_figure_get_n_panels() - 1, in reading order */
  int column; /* as wp_figure_hit_panel() says */
  int word;   /* the panel's item (a token in token mode), -1 when it shows several */
  int patch;  /* in the grid of the panel's maps, rows x cols */
  int rows, cols;
} WpFigureSpot;

/* The panels of the figure drawn at width x height (a model comparison's difference column
 * counts when it is not drawn, but never holds a spot). */
int wp_figure_get_n_panels (const WpFigure *figure,
                            double          width,
                            double          height);

/* The spot under (x, y) of the figure drawn at width x height; FALSE outside every map. */
gboolean wp_figure_locate (const WpFigure *figure,
                           double          width,
                           double          height,
                           double          x,
                           double          y,
                           WpFigureSpot   *spot);

/* The spot of patch in panel and, when rect is not NULL, the rectangle the patch is drawn in
 * (x, y, width, height); FALSE when the panel or the patch does not exist or draws no map. */
gboolean wp_figure_get_spot (const WpFigure *figure,
                             double          width,
                             double          height,
                             int             panel,
                             int             patch,
                             WpFigureSpot   *spot,
                             double         *rect);

/* The read-out of a spot, one line: the patch's row and column and the value of each item the
 * panel shows there. Where several words share a panel their colour says which is highest
 * relative to its own range: the line gives that relative value (0 at the word's minimum, 1 at its
 * maximum) beside the map's value, and names the word the patch is drawn as; a label map names
 * the patch's label; a comparison of models gives A, B and B - A; methods side by side give every
 * method's value for the word. */
char *wp_figure_describe_spot (const WpFigure     *figure,
                               const WpFigureSpot *spot) G_GNUC_WARN_UNUSED_RESULT;

/* How an item (a word, or a token in token mode) is labelled: its text, and "#N" for the N-th
 * repeat of the same text (from 0, as heatmap's --tokens counts: "red", "red#1"). */
char *wp_figure_dup_item_label (const WpFigure *figure,
                                int             item) G_GNUC_WARN_UNUSED_RESULT;

/* The most colours words shown together get before they repeat. */
#define WP_FIGURE_MAX_COLOURS 10

/* The colours (0xRRGGBB) given to the 1st, 2nd, ... word shown together, in order: a
 * qualitative palette without the colours the caption's words name (all of it when the caption
 * names every one). Returns how many. */
int wp_figure_get_palette (const WpFigure *figure,
                           guint32        *colours);

/* The text that records how a figure was made (keyword -> value; PNG text chunks, SVG metadata,
 * PDF document information): model path, model_sha256 (the weights' SHA-256, when not NULL),
 * step, image, caption, words (or tokens, as --tokens names them), method (every method side by
 * side), scale, colour map, and the command that draws it again (when not NULL). In compare
 * mode also "wordpatch.compare", the other model's label; the caller adds
 * "wordpatch.compare_model" (its path) and "wordpatch.compare_model_sha256" (its weights'
 * SHA-256), which this function cannot know. */
GHashTable *wp_figure_new_png_text (const WpFigure *figure,
                                    const WpModel  *model,
                                    const char     *model_sha256,
                                    const char     *image_path,
                                    const char     *command) G_GNUC_WARN_UNUSED_RESULT;

/* Appends " option", or " option value" with value quoted for a POSIX shell, to command: how the
 * command that draws a figure again (wp_figure_new_png_text()) spells each option. */
void wp_figure_append_option (GString    *command,
                              const char *option,
                              const char *value);

/* The size figures are exported at unless asked otherwise, by the command line and the app. */
#define WP_FIGURE_DEFAULT_WIDTH  900
#define WP_FIGURE_DEFAULT_HEIGHT 600

/* Whether path names a format wp_figure_export() writes (.png, .svg or .pdf, in any case). */
gboolean wp_figure_format_supported (const char *path);

/* Writes the figure to path as PNG, SVG or PDF (by its extension) at width x height pixels
 * (points for SVG and PDF). provenance (keyword -> value, may be NULL, as from
 * wp_figure_new_png_text()) becomes PNG text chunks, an SVG <metadata> element (one
 * <wordpatch:entry key="..."> each) or the PDF's document information (title, the command as
 * subject, every entry as "keyword=value" keywords). Patches are drawn as blocks in every format
 * (unless the style is smooth), not smoothed by an SVG or PDF viewer. The file appears whole or
 * not at all (temporary file renamed), with the permissions the user's umask gives. */
gboolean wp_figure_export (const WpFigure *figure,
                           const char     *path,
                           int             width,
                           int             height,
                           GHashTable     *provenance,
                           GError        **error);

G_END_DECLS
