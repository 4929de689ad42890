/* eval_metrics.c: the evaluation's building blocks (evaluate.h): word classes and caption keys,
 * ranks and recall, the pointing game, a map's selected regions and their IoU with boxes, the
 * patch variance shares.
 * wp_evaluate() in evaluate.c puts them together over a dataset. */
#include "wordpatch/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate-private.h"
#include "wordpatch/maps.h"

static const char *const class_names[WP_WORD_CLASS_N] = { "colour", "shape", "size", "other" };

const char *
wp_word_class_to_string (WpWordClass word_class)
{
  g_return_val_if_fail (word_class < WP_WORD_CLASS_N, NULL);
  return class_names[word_class];
}

WpWordClass
wp_word_class (const char *word)
{
  static const char *const colours[] = { "red", "green", "blue", "yellow", "purple", "orange",
                                         "pink", "white", "black", "grey", "gray", "brown" };
  static const char *const shapes[] = { "circle", "square", "triangle", "star",
                                        "cross", "diamond", "circles", "squares",
                                        "triangles", "stars", "crosses", "diamonds" };
  static const char *const sizes[] = { "small", "big", "large", "tiny" };
  g_autofree char         *lower = NULL;

  g_return_val_if_fail (word != NULL, WP_WORD_CLASS_OTHER);
  lower = g_utf8_strdown (word, -1);
  for (gsize i = 0; i < G_N_ELEMENTS (colours); i++) {
    if (strcmp (lower, colours[i]) == 0)
      return WP_WORD_CLASS_COLOUR;
  }
  for (gsize i = 0; i < G_N_ELEMENTS (shapes); i++) {
    if (strcmp (lower, shapes[i]) == 0)
      return WP_WORD_CLASS_SHAPE;
  }
  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++) {
    if (strcmp (lower, sizes[i]) == 0)
      return WP_WORD_CLASS_SIZE;
  }
  return WP_WORD_CLASS_OTHER;
}

char *
wp_caption_key (const char *caption)
{
  g_autofree char *valid = g_utf8_make_valid (caption, -1);
  g_autofree char *lower = g_utf8_strdown (valid, -1);
  GString         *key = g_string_new (NULL);
  gboolean         space = FALSE;

  for (const char *p = lower; *p != '\0'; p = g_utf8_next_char (p)) {
    const gunichar c = g_utf8_get_char (p);

    if (g_unichar_isspace (c)) {
      space = key->len > 0;
      continue;
    }
    if (space)
      g_string_append_c (key, ' ');
    space = FALSE;
    g_string_append_unichar (key, c);
  }
  return g_string_free (key, FALSE);
}

/* ---- retrieval ---- */

int
wp_retrieval_rank (const float  *scores,
                   const guint8 *correct,
                   int           n)
{
  float    best = NAN;
  gboolean any = FALSE;
  int      rank = 0;

  for (int c = 0; c < n; c++) {
    if (!correct[c])
      continue;
    if (!any || isnan (best) || scores[c] > best)
      best = scores[c];
    any = TRUE;
  }
  if (!any)
    return -1;
  /* A wrong candidate beats the query unless it is strictly below the best correct score:
   * ties and NaNs count against the query. */
  for (int c = 0; c < n; c++) {
    if (!correct[c] && !(scores[c] < best))
      rank++;
  }
  return rank;
}

double
wp_recall_at_k (const float  *sim,
                const guint8 *correct,
                int           n_rows,
                int           n_cols,
                int           k)
{
  int hits = 0;

  g_return_val_if_fail (n_rows > 0, NAN);
  for (int r = 0; r < n_rows; r++) {
    const int rank =
      wp_retrieval_rank (sim + (gsize) r * n_cols, correct + (gsize) r * n_cols, n_cols);

    if (rank >= 0 && rank < k)
      hits++;
  }
  return (double) hits / n_rows;
}

/* ---- localisation geometry ---- */

static gboolean
rect_contains (double x,
               double y,
               double w,
               double h,
               double px,
               double py)
{
  return px >= x && px <= x + w && py >= y && py <= y + h;
}

gboolean
wp_patch_centre_in_boxes (const WpImageCrop *crop,
                          int                rows,
                          int                cols,
                          int                p,
                          const WpBox       *boxes,
                          guint              n_boxes)
{
  WpImageCrop rect;
  double      cx, cy;

  wp_patch_rect (crop, rows, cols, p, &rect);
  cx = rect.x + rect.width / 2.0;
  cy = rect.y + rect.height / 2.0;
  for (guint b = 0; b < n_boxes; b++) {
    if (rect_contains (boxes[b].x, boxes[b].y, boxes[b].w, boxes[b].h, cx, cy))
      return TRUE;
  }
  return FALSE;
}

gboolean
wp_pointing_hit (const float       *map,
                 int                rows,
                 int                cols,
                 const WpImageCrop *crop,
                 const WpBox       *boxes,
                 guint              n_boxes)
{
  return wp_patch_centre_in_boxes (crop, rows, cols, wp_map_peak (map, rows * cols), boxes,
                                   n_boxes);
}

int
wp_region_filip (guint8      *selected,
                 const float *map,
                 int          P)
{
  const int   peak = wp_map_peak (map, P);
  const float max = map[peak];
  int         n = 0;

  for (int p = 0; p < P; p++) {
    selected[p] = max > 0.0f ? map[p] >= 0.5f * max : p == peak;
    n += selected[p];
  }
  return n;
}

int
wp_region_sparc (guint8      *selected,
                 const float *map,
                 int          P)
{
  int n = 0;

  for (int p = 0; p < P; p++) {
    selected[p] = map[p] > 0.0f;
    n += selected[p];
  }
  return n;
}

static int
compare_doubles (const void *a,
                 const void *b)
{
  const double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

/* Sorts edges (n) and drops duplicates; returns how many are left. */
static int
sort_unique (double *edges,
             int     n)
{
  int kept = 0;

  qsort (edges, n, sizeof *edges, compare_doubles);
  for (int i = 0; i < n; i++) {
    if (kept == 0 || edges[i] != edges[kept - 1])
      edges[kept++] = edges[i];
  }
  return kept;
}

/* Whether (x, y), strictly inside a cell, is in one of the selected patches. */
static gboolean
in_region (const guint8      *selected,
           int                rows,
           int                cols,
           const WpImageCrop *crop,
           double             x,
           double             y)
{
  const double col = floor ((x - crop->x) * cols / crop->width);
  const double row = floor ((y - crop->y) * rows / crop->height);

  if (!(col >= 0 && col < cols && row >= 0 && row < rows))
    return FALSE;
  return selected[(int) row * cols + (int) col] != 0;
}

double
wp_region_iou (const guint8      *selected,
               int                rows,
               int                cols,
               const WpImageCrop *crop,
               int                width,
               int                height,
               const WpBox       *boxes,
               guint              n_boxes)
{
  /* Cell edges: the patch grid's lines, the boxes' sides and the image's borders, clipped. */
  const int          n_edges = MAX (rows, cols) + 1 + 2 * (int) n_boxes + 2;
  g_autofree double *xs = g_new (double, n_edges);
  g_autofree double *ys = g_new (double, n_edges);
  int                nx = 0, ny = 0;
  double             inter = 0.0, uni = 0.0;

  for (int i = 0; i <= cols; i++)
    xs[nx++] = CLAMP (crop->x + i * crop->width / cols, 0.0, (double) width);
  for (int i = 0; i <= rows; i++)
    ys[ny++] = CLAMP (crop->y + i * crop->height / rows, 0.0, (double) height);
  for (guint b = 0; b < n_boxes; b++) {
    xs[nx++] = CLAMP (boxes[b].x, 0.0, (double) width);
    xs[nx++] = CLAMP (boxes[b].x + boxes[b].w, 0.0, (double) width);
    ys[ny++] = CLAMP (boxes[b].y, 0.0, (double) height);
    ys[ny++] = CLAMP (boxes[b].y + boxes[b].h, 0.0, (double) height);
  }
  xs[nx++] = 0.0;
  xs[nx++] = width;
  ys[ny++] = 0.0;
  ys[ny++] = height;
  nx = sort_unique (xs, nx);
  ny = sort_unique (ys, ny);

  for (int j = 0; j + 1 < ny; j++) {
    const double y = 0.5 * (ys[j] + ys[j + 1]), dy = ys[j + 1] - ys[j];

    for (int i = 0; i + 1 < nx; i++) {
      const double   x = 0.5 * (xs[i] + xs[i + 1]), area = (xs[i + 1] - xs[i]) * dy;
      const gboolean in_map = in_region (selected, rows, cols, crop, x, y);
      gboolean       in_box = FALSE;

      for (guint b = 0; b < n_boxes && !in_box; b++)
        in_box = x > boxes[b].x && x < boxes[b].x + boxes[b].w && y > boxes[b].y &&
                 y < boxes[b].y + boxes[b].h;
      if (in_map && in_box)
        inter += area;
      if (in_map || in_box)
        uni += area;
    }
  }
  return uni > 0.0 ? inter / uni : 0.0;
}

/* ---- the patch variance shares ---- */

void
wp_patch_variance_add (WpPatchVariance *pv,
                       const float     *patches,
                       int              P,
                       int              E)
{
  g_autofree double *mean = g_new0 (double, E);

  for (int p = 0; p < P; p++) {
    for (int e = 0; e < E; e++) {
      const double x = patches[(gsize) p * E + e];

      pv->position_sum[(gsize) p * E + e] += x;
      pv->sum_sq += x * x;
      mean[e] += x / P;
    }
  }
  for (int e = 0; e < E; e++)
    pv->image_sum_sq += P * mean[e] * mean[e];
  pv->images++;
}

/* Sums of squares about the grand mean g: total = sum |v|^2 - N |g|^2 over N = U P patches;
 * positions' = sum_p |S_p|^2 / U - N |g|^2; images' = sum_u P |m_u|^2 - N |g|^2. */
void
wp_patch_variance_shares (double                *position_share,
                          double                *image_share,
                          const WpPatchVariance *pv,
                          int                    P,
                          int                    E)
{
  const double U = pv->images, N = U * P;
  double       grand_sq = 0.0, position_sq = 0.0, total;

  *position_share = *image_share = NAN;
  if (pv->images < 2)
    return;
  for (int e = 0; e < E; e++) {
    double g = 0.0;

    for (int p = 0; p < P; p++)
      g += pv->position_sum[(gsize) p * E + e];
    g /= N;
    grand_sq += g * g;
  }
  for (gsize k = 0; k < (gsize) P * E; k++)
    position_sq += pv->position_sum[k] * pv->position_sum[k];
  total = pv->sum_sq - N * grand_sq;
  if (total <= 0.0)
    return;
  *position_share = (position_sq / U - N * grand_sq) / total;
  *image_share = (pv->image_sum_sq - N * grand_sq) / total;
}
