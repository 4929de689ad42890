/* test-figure.c: the figure renderer: hit-testing agrees with drawing (the patch reported under a
 * point is the one whose colour is drawn there), colour maps, value ranges, and the comparison of
 * two models (their shared range, the difference panel's colours, which column a point hits),
 * labels and colours of words shown together, read-outs, grids, and SVG and PDF files. */
#include <cairo-svg.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "figure.h"

/* A 2 x 2 patch map over a 100 x 100 image, one word whose values are 0, 1/3, 2/3, 1. */
typedef struct {
  WpImage   *image;
  WpWordMaps maps;
  WpWordMap  word;
  float      values[4];
  float      sparc[4];
} Scene;

static void
scene_init (Scene *scene)
{
  memset (scene, 0, sizeof *scene);
  scene->image = wp_image_new (100, 100);
  memset (scene->image->rgb, 128, 100 * 100 * 3);
  for (int p = 0; p < 4; p++) {
    scene->values[p] = (float) p / 3.0f;
    scene->sparc[p] = 0.25f;
  }
  scene->word.text = (char *) "red";
  scene->word.n_tokens = 1;
  scene->word.first_token = 1;
  scene->word.values[WP_MAP_FILIP] = scene->values;
  scene->word.values[WP_MAP_SPARC] = scene->sparc;
  scene->maps.n_patches = 4;
  scene->maps.rows = scene->maps.cols = 2;
  scene->maps.crop = (WpImageCrop){ 0, 0, 100, 100 };
  scene->maps.n_words = 1;
  scene->maps.words = &scene->word;
}

static void
test_hit_matches_drawing (void)
{
  const int        W = 400, H = 300;
  Scene            scene;
  WpFigure         figure = { 0 };
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24, W, H);
  cairo_t         *cr = cairo_create (surface);
  const guint8    *data;
  int              stride, hits = 0, misses = 0;

  scene_init (&scene);
  figure.image = scene.image;
  figure.maps = &scene.maps;
  figure.caption = "a red thing";
  wp_figure_style_init (&figure.style);
  figure.style.opacity = 1.0;
  wp_figure_draw (cr, &figure, W, H);
  cairo_destroy (cr);
  cairo_surface_flush (surface);
  data = cairo_image_surface_get_data (surface);
  stride = cairo_image_surface_get_stride (surface);
  for (int y = 1; y < H; y += 7) {
    for (int x = 1; x < W; x += 7) {
      int word, patch;

      if (wp_figure_hit (&figure, W, H, x + 0.5, y + 0.5, &word, &patch)) {
        const guint32 pixel = ((const guint32 *) (data + (gsize) y * stride))[x];
        double        rgb[3];

        g_assert_cmpint (word, ==, 0);
        wp_colormap_rgb (figure.style.colormap, scene.values[patch], rgb);
        /* Pixels on a patch edge blend two patches; the rest must be the patch's colour. */
        if (fabs (((pixel >> 16) & 0xff) / 255.0 - rgb[0]) < 0.02 &&
            fabs (((pixel >> 8) & 0xff) / 255.0 - rgb[1]) < 0.02 &&
            fabs ((pixel & 0xff) / 255.0 - rgb[2]) < 0.02)
          hits++;
        else
          misses++;
      }
    }
  }
  g_assert_cmpint (hits, >, 100);
  g_assert_cmpint (misses, <=, hits / 20);
  {
    int word, patch;

    g_assert_false (wp_figure_hit (&figure, W, H, 1, 1, &word, &patch));
  }
  cairo_surface_destroy (surface);
  wp_image_free (scene.image);
}

/* Token mode: items are rows of the token maps, labelled by the caller. */
static void
test_token_mode (void)
{
  static const char *const labels[] = { "<start>", "re", "d", "<end>" };
  float                    token_rows[4 * 4];
  Scene                    scene;
  WpFigure                 figure = { 0 };
  int                      tokens[] = { 2 };
  double                   lo, hi;
  int                      item, patch;

  scene_init (&scene);
  for (int t = 0; t < 4; t++) {
    for (int p = 0; p < 4; p++)
      token_rows[t * 4 + p] = (float) (t * 10 + p);
  }
  scene.maps.n_tokens = 4;
  scene.maps.token_values[WP_MAP_FILIP] = token_rows;
  figure.image = scene.image;
  figure.maps = &scene.maps;
  figure.token_labels = labels;
  figure.words = tokens;
  figure.n_words = 1;
  wp_figure_style_init (&figure.style);
  wp_figure_word_range (&figure, 2, &lo, &hi);
  g_assert_cmpfloat (lo, ==, 20.0);
  g_assert_cmpfloat (hi, ==, 23.0);
  g_assert_true (wp_figure_hit (&figure, 400, 300, 150, 150, &item, &patch));
  g_assert_cmpint (item, ==, 2);
  wp_image_free (scene.image);
}

static void
test_colormaps_and_ranges (void)
{
  Scene    scene;
  WpFigure figure = { 0 };
  double   rgb[3], lo, hi;

  wp_colormap_rgb (WP_COLORMAP_VIRIDIS, 0.0, rgb);
  g_assert_cmpfloat_with_epsilon (rgb[0], 0x44 / 255.0, 1e-9);
  wp_colormap_rgb (WP_COLORMAP_VIRIDIS, 1.0, rgb);
  g_assert_cmpfloat_with_epsilon (rgb[1], 0xe7 / 255.0, 1e-9);
  wp_colormap_rgb (WP_COLORMAP_COOLWARM, 0.5, rgb);
  g_assert_cmpfloat_with_epsilon (rgb[0], 0xdd / 255.0, 1e-9);
  wp_colormap_rgb (WP_COLORMAP_MAGMA, NAN, rgb);
  g_assert_cmpfloat_with_epsilon (rgb[2], 0x04 / 255.0, 1e-9);

  scene_init (&scene);
  figure.image = scene.image;
  figure.maps = &scene.maps;
  wp_figure_style_init (&figure.style);
  wp_figure_word_range (&figure, 0, &lo, &hi);
  g_assert_cmpfloat_with_epsilon (lo, 0.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (hi, 1.0, 1e-6);
  figure.style.method = WP_MAP_SPARC;
  wp_figure_word_range (&figure, 0, &lo, &hi);
  g_assert_cmpfloat (lo, ==, 0.0);
  g_assert_cmpfloat_with_epsilon (hi, 0.25, 1e-6);
  figure.style.fixed_scale = TRUE;
  figure.style.lo = -0.5;
  figure.style.hi = 0.5;
  wp_figure_word_range (&figure, 0, &lo, &hi);
  g_assert_cmpfloat (lo, ==, -0.5);
  g_assert_cmpfloat (hi, ==, 0.5);
  wp_image_free (scene.image);
}

/* Two models' maps of "red disc" on 2 x 2 grids (B's grid can be made 3 x 3): for "red", A is
 * high on patch 0 and B on patch 3. */
typedef struct {
  WpImage   *image;
  WpWordMaps a, b;
  WpWordMap  a_words[2], b_words[2];
  float      a_values[2][9], b_values[2][9];
  float      sparc[9];
  int        word_of_token[4];
  int        a_labels[9], b_labels[9];           /* best token */
  int        a_word_labels[9], b_word_labels[9]; /* its word */
} Pair;

static const float red_a[4] = { 1, 0, 0, 0 }, red_b[4] = { 0, 0, 0, 1 };
static const float disc_a[4] = { 0.2f, 0.4f, 0.6f, 0.8f }, disc_b[4] = { 0.1f, 0.3f, 0.5f, 0.5f };

static void
pair_maps_init (WpWordMaps *maps,
                WpWordMap  *words,
                float (*values)[9],
                float *sparc,
                int   *word_of_token,
                int   *labels,
                int   *word_labels,
                int    grid)
{
  static char *const texts[2] = { "red", "disc" };

  maps->n_patches = grid * grid;
  maps->rows = maps->cols = grid;
  maps->crop = (WpImageCrop){ 0, 0, 100, 100 };
  maps->n_tokens = 4;
  maps->word_of_token = word_of_token;
  maps->filip_labels = labels;
  maps->labels[WP_MAP_FILIP] = word_labels;
  for (int p = 0; p < grid * grid; p++)
    word_labels[p] = word_of_token[labels[p]];
  maps->n_words = 2;
  maps->words = words;
  for (int w = 0; w < 2; w++) {
    words[w].text = texts[w];
    words[w].first_token = w + 1;
    words[w].n_tokens = 1;
    words[w].values[WP_MAP_FILIP] = values[w];
    words[w].values[WP_MAP_SPARC] = sparc;
  }
}

static void
pair_init (Pair *pair,
           int   b_grid)
{
  memset (pair, 0, sizeof *pair);
  pair->image = wp_image_new (100, 100);
  memset (pair->image->rgb, 128, 100 * 100 * 3);
  for (int p = 0; p < 9; p++)
    pair->sparc[p] = 1.0f / 9;
  pair->word_of_token[0] = pair->word_of_token[3] = -1;
  pair->word_of_token[1] = 0;
  pair->word_of_token[2] = 1;
  for (int p = 0; p < 4; p++) {
    pair->a_values[0][p] = red_a[p];
    pair->b_values[0][p] = red_b[p];
    pair->a_values[1][p] = disc_a[p];
    pair->b_values[1][p] = disc_b[p];
    /* Label maps: A gives the top row to "red", B the left column. */
    pair->a_labels[p] = p < 2 ? 1 : 2;
  }
  for (int p = 0; p < b_grid * b_grid; p++)
    pair->b_labels[p] = p % b_grid == 0 ? 1 : 2;
  pair_maps_init (&pair->a, pair->a_words, pair->a_values, pair->sparc, pair->word_of_token,
                  pair->a_labels, pair->a_word_labels, 2);
  pair_maps_init (&pair->b, pair->b_words, pair->b_values, pair->sparc, pair->word_of_token,
                  pair->b_labels, pair->b_word_labels, b_grid);
}

static void
pair_figure (Pair     *pair,
             WpFigure *figure)
{
  memset (figure, 0, sizeof *figure);
  figure->image = pair->image;
  figure->maps = &pair->a;
  figure->other_maps = &pair->b;
  figure->caption = "red disc";
  figure->label = "step 0";
  figure->other_label = "step 200";
  wp_figure_style_init (&figure->style);
  figure->style.opacity = 1.0;
}

static cairo_surface_t *
draw_figure (const WpFigure *figure,
             int             width,
             int             height)
{
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24, width, height);
  cairo_t         *cr = cairo_create (surface);

  wp_figure_draw (cr, figure, width, height);
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
  cairo_surface_flush (surface);
  return surface;
}

static void
pixel_rgb (cairo_surface_t *surface,
           int              x,
           int              y,
           double          *rgb)
{
  const guint8 *data = cairo_image_surface_get_data (surface);
  const guint32 pixel =
    ((const guint32 *) (data + (gsize) y * cairo_image_surface_get_stride (surface)))[x];

  rgb[0] = ((pixel >> 16) & 0xff) / 255.0;
  rgb[1] = ((pixel >> 8) & 0xff) / 255.0;
  rgb[2] = (pixel & 0xff) / 255.0;
}

static gboolean
same_colour (const double *a,
             const double *b)
{
  return fabs (a[0] - b[0]) < 0.02 && fabs (a[1] - b[1]) < 0.02 && fabs (a[2] - b[2]) < 0.02;
}

/* Every point hit in every column is drawn in the colour of the word, patch and column reported:
 * A and B on the shared range of the word (computed here from the values), B - A on coolwarm over
 * +-max |B - A|; and "red"'s difference is red where B gained (patch 3), blue where A was high. */
static void
test_compare_hit_matches_drawing (void)
{
  const int        W = 600, H = 400;
  const double     lo[2] = { 0.0, 0.1 }, hi[2] = { 1.0, 0.8 }, half[2] = { 1.0, 0.3 };
  Pair             pair;
  WpFigure         figure;
  cairo_surface_t *surface;
  int              hits[3] = { 0 }, misses[3] = { 0 }, words_seen[2] = { 0 };
  int              reddish = 0, bluish = 0;
  double           range_lo, range_hi;

  pair_init (&pair, 2);
  pair_figure (&pair, &figure);
  g_assert_true (wp_figure_compares_word (&figure, 0));
  g_assert_true (wp_figure_compares_word (&figure, 1));
  g_assert_false (wp_figure_compares_word (&figure, 2));
  g_assert_cmpfloat_with_epsilon (wp_figure_difference (&figure, 0, 3), 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (wp_figure_difference (&figure, 0, 0), -1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (wp_figure_difference (&figure, 1, 3), -0.3, 1e-6);
  wp_figure_word_range (&figure, 1, &range_lo, &range_hi);
  g_assert_cmpfloat_with_epsilon (range_lo, 0.1, 1e-6);
  g_assert_cmpfloat_with_epsilon (range_hi, 0.8, 1e-6);

  surface = draw_figure (&figure, W, H);
  for (int y = 1; y < H; y += 3) {
    for (int x = 1; x < W; x += 3) {
      int    word, patch, column, old_word, old_patch;
      double rgb[3], expected[3];
      float  a, b;

      if (!wp_figure_hit_panel (&figure, W, H, x + 0.5, y + 0.5, &word, &patch, &column)) {
        g_assert_false (wp_figure_hit (&figure, W, H, x + 0.5, y + 0.5, &old_word, &old_patch));
        continue;
      }
      g_assert_true (wp_figure_hit (&figure, W, H, x + 0.5, y + 0.5, &old_word, &old_patch));
      g_assert_cmpint (old_word, ==, word);
      g_assert_cmpint (old_patch, ==, patch);
      g_assert_cmpint (column, >=, 0);
      g_assert_cmpint (column, <=, 2);
      g_assert_cmpint (word, >=, 0);
      g_assert_cmpint (word, <=, 1);
      g_assert_cmpint (patch, >=, 0);
      g_assert_cmpint (patch, <, 4);
      a = pair.a_values[word][patch];
      b = pair.b_values[word][patch];
      if (column == 2)
        wp_colormap_rgb (WP_COLORMAP_COOLWARM, 0.5 + 0.5 * (b - a) / half[word], expected);
      else
        wp_colormap_rgb (WP_COLORMAP_VIRIDIS,
                         ((column == 0 ? a : b) - lo[word]) / (hi[word] - lo[word]), expected);
      pixel_rgb (surface, x, y, rgb);
      /* Pixels on a patch edge blend two patches; the rest must be the patch's colour. */
      if (!same_colour (rgb, expected)) {
        misses[column]++;
        continue;
      }
      hits[column]++;
      words_seen[word]++;
      if (column == 2 && word == 0 && patch == 3) {
        g_assert_cmpfloat (rgb[0], >, rgb[2] + 0.4);
        reddish++;
      }
      if (column == 2 && word == 0 && patch == 0) {
        g_assert_cmpfloat (rgb[2], >, rgb[0] + 0.4);
        bluish++;
      }
    }
  }
  for (int c = 0; c < 3; c++) {
    g_assert_cmpint (hits[c], >, 100);
    g_assert_cmpint (misses[c], <=, hits[c] / 20);
  }
  g_assert_cmpint (words_seen[0], >, 100);
  g_assert_cmpint (words_seen[1], >, 100);
  g_assert_cmpint (reddish, >, 10);
  g_assert_cmpint (bluish, >, 10);
  cairo_surface_destroy (surface);
  wp_image_free (pair.image);
}

/* A point of the figure's difference panel (column 2), or FALSE. */
static gboolean
find_difference_point (const WpFigure *figure,
                       int             width,
                       int             height,
                       double         *px,
                       double         *py)
{
  for (int y = 0; y < height; y += 2) {
    for (int x = 0; x < width; x += 2) {
      int word, patch, column;

      if (wp_figure_hit_panel (figure, width, height, x, y, &word, &patch, &column) &&
          column == 2) {
        *px = x;
        *py = y;
        return TRUE;
      }
    }
  }
  return FALSE;
}

/* B on a 3 x 3 grid: A and B are drawn, there is no difference panel (where it would be, nothing
 * is hit) and B's panel reports patches of its own grid. */
static void
test_compare_different_grids (void)
{
  const int        W = 600, H = 400;
  Pair             same, different;
  WpFigure         figure;
  cairo_surface_t *surface;
  double           x = -1.0, y = -1.0;
  int              word, patch, column, b_max_patch = -1, columns_seen[3] = { 0 };

  pair_init (&same, 2);
  pair_figure (&same, &figure);
  g_assert_true (find_difference_point (&figure, W, H, &x, &y));
  wp_image_free (same.image);

  pair_init (&different, 3);
  pair_figure (&different, &figure);
  g_assert_true (isnan (wp_figure_difference (&figure, 0, 0)));
  g_assert_false (wp_figure_hit_panel (&figure, W, H, x, y, &word, &patch, &column));
  surface = draw_figure (&figure, W, H);
  cairo_surface_destroy (surface);
  for (int py = 0; py < H; py += 3) {
    for (int px = 0; px < W; px += 3) {
      if (!wp_figure_hit_panel (&figure, W, H, px, py, &word, &patch, &column))
        continue;
      columns_seen[column]++;
      if (column == 1)
        b_max_patch = MAX (b_max_patch, patch);
      else
        g_assert_cmpint (patch, <, 4);
    }
  }
  g_assert_cmpint (columns_seen[0], >, 0);
  g_assert_cmpint (columns_seen[1], >, 0);
  g_assert_cmpint (columns_seen[2], ==, 0);
  g_assert_cmpint (b_max_patch, ==, 8);
  wp_image_free (different.image);
}

/* A word whose text differs between the two maps gets no row; none left: nothing to hit. */
static void
test_compare_skips_other_words (void)
{
  const int        W = 600, H = 400;
  static char      disk[] = "disk";
  const int        only_disc[] = { 1 };
  Pair             pair;
  WpFigure         figure;
  cairo_surface_t *surface;
  int              word, patch, column, hits = 0;

  pair_init (&pair, 2);
  pair.b_words[1].text = disk;
  pair_figure (&pair, &figure);
  g_assert_false (wp_figure_compares_word (&figure, 1));
  g_assert_true (isnan (wp_figure_difference (&figure, 1, 0)));
  for (int y = 0; y < H; y += 3) {
    for (int x = 0; x < W; x += 3) {
      if (wp_figure_hit_panel (&figure, W, H, x, y, &word, &patch, &column)) {
        g_assert_cmpint (word, ==, 0);
        hits++;
      }
    }
  }
  g_assert_cmpint (hits, >, 100);

  figure.words = only_disc;
  figure.n_words = 1;
  surface = draw_figure (&figure, W, H);
  cairo_surface_destroy (surface);
  for (int y = 0; y < H; y += 5) {
    for (int x = 0; x < W; x += 5)
      g_assert_false (wp_figure_hit_panel (&figure, W, H, x, y, &word, &patch, &column));
  }
  wp_image_free (pair.image);
}

/* The label map compares the two label maps: two columns, each patch in the colour of the word
 * its own model's label map gives it, no difference; token mode is ignored. */
static void
test_compare_labels (void)
{
  static const char *const labels[] = { "<start>", "red", "disc", "<end>" };
  /* tab10's first two colours, "red" and "disc" in the order shown */
  static const guint32 word_colours[2] = { 0x1f77b4, 0xff7f0e };
  const int            W = 600, H = 400;
  Pair                 pair;
  WpFigure             figure;
  cairo_surface_t     *surface;
  int                  word, patch, column, hits[3] = { 0 }, misses[3] = { 0 };

  pair_init (&pair, 2);
  pair_figure (&pair, &figure);
  figure.style.labels = TRUE;
  figure.token_labels = labels;
  g_assert_true (isnan (wp_figure_difference (&figure, 0, 0)));
  surface = draw_figure (&figure, W, H);
  for (int y = 1; y < H; y += 3) {
    for (int x = 1; x < W; x += 3) {
      const int *token_labels;
      guint32    hex;
      double     rgb[3], expected[3];

      if (!wp_figure_hit_panel (&figure, W, H, x + 0.5, y + 0.5, &word, &patch, &column))
        continue;
      g_assert_cmpint (word, ==, -1);
      g_assert_cmpint (column, <=, 1);
      token_labels = column == 0 ? pair.a_labels : pair.b_labels;
      hex = word_colours[pair.word_of_token[token_labels[patch]]];
      expected[0] = (hex >> 16) / 255.0;
      expected[1] = ((hex >> 8) & 0xff) / 255.0;
      expected[2] = (hex & 0xff) / 255.0;
      pixel_rgb (surface, x, y, rgb);
      if (same_colour (rgb, expected))
        hits[column]++;
      else
        misses[column]++;
    }
  }
  for (int c = 0; c < 2; c++) {
    g_assert_cmpint (hits[c], >, 100);
    g_assert_cmpint (misses[c], <=, hits[c] / 20);
  }
  cairo_surface_destroy (surface);
  wp_image_free (pair.image);
}

static void
test_compare_png_text (void)
{
  static const char *const labels[] = { "<start>", "red", "disc", "<end>" };
  WpModel                  model = { 0 };
  Pair                     pair;
  WpFigure                 figure;
  g_autoptr (GHashTable) text = NULL;
  g_autoptr (GHashTable) unnamed = NULL;

  pair_init (&pair, 2);
  pair_figure (&pair, &figure);
  figure.token_labels = labels;
  text = wp_figure_new_png_text (&figure, &model, NULL, "img.png", NULL);
  g_assert_cmpstr (g_hash_table_lookup (text, "wordpatch.compare"), ==, "step 200");
  g_assert_cmpstr (g_hash_table_lookup (text, "wordpatch.words"), ==, "red,disc");
  figure.other_label = NULL;
  unnamed = wp_figure_new_png_text (&figure, &model, NULL, "img.png", NULL);
  g_assert_cmpstr (g_hash_table_lookup (unnamed, "wordpatch.compare"), ==, "B");
  wp_image_free (pair.image);
}

/* Repeated words are labelled apart as --tokens names them; the palette leaves out the colours
 * the caption names. */
static void
test_labels_and_palette (void)
{
  static const char *const expected[4] = { "red", "disc", "red#1", "blue" };
  char                    *texts[4] = { "red", "disc", "red", "blue" };
  WpWordMap                words[4] = { 0 };
  WpWordMaps               maps = { 0 };
  WpFigure                 figure = { 0 };
  guint32                  colours[WP_FIGURE_MAX_COLOURS];
  int                      n;

  for (int w = 0; w < 4; w++)
    words[w].text = texts[w];
  maps.n_words = 4;
  maps.words = words;
  figure.maps = &maps;
  for (int w = 0; w < 4; w++) {
    g_autofree char *label = wp_figure_dup_item_label (&figure, w);

    g_assert_cmpstr (label, ==, expected[w]);
  }
  n = wp_figure_get_palette (&figure, colours);
  /* tab10 without its red and its two blues (blue and cyan). */
  g_assert_cmpint (n, ==, WP_FIGURE_MAX_COLOURS - 3);
  for (int i = 0; i < n; i++) {
    g_assert_cmpuint (colours[i], !=, 0xd62728);
    g_assert_cmpuint (colours[i], !=, 0x1f77b4);
    g_assert_cmpuint (colours[i], !=, 0x17becf);
  }
  g_assert_cmpuint (colours[0], ==, 0xff7f0e);
  /* Colour words inside a phrase count too, in any case. */
  words[1].text = (char *) "a GREEN disc";
  g_assert_cmpint (wp_figure_get_palette (&figure, colours), ==, WP_FIGURE_MAX_COLOURS - 5);
}

/* Every spot a point locates is the spot of its patch, whose rectangle holds the point; the
 * panels are counted; a single map's read-out gives the word's value there. */
static void
test_spots (void)
{
  const int W = 400, H = 300;
  Scene     scene;
  WpFigure  figure = { 0 };
  int       located = 0;

  scene_init (&scene);
  figure.image = scene.image;
  figure.maps = &scene.maps;
  figure.caption = "a red thing";
  wp_figure_style_init (&figure.style);
  g_assert_cmpint (wp_figure_get_n_panels (&figure, W, H), ==, 1);
  for (int y = 0; y < H; y += 5) {
    for (int x = 0; x < W; x += 5) {
      WpFigureSpot spot, again;
      double       rect[4];

      if (!wp_figure_locate (&figure, W, H, x + 0.5, y + 0.5, &spot))
        continue;
      located++;
      g_assert_true (wp_figure_get_spot (&figure, W, H, spot.panel, spot.patch, &again, rect));
      g_assert_cmpint (again.patch, ==, spot.patch);
      g_assert_cmpint (again.word, ==, 0);
      g_assert_cmpfloat (x + 0.5, >=, rect[0]);
      g_assert_cmpfloat (x + 0.5, <, rect[0] + rect[2]);
      g_assert_cmpfloat (y + 0.5, >=, rect[1]);
      g_assert_cmpfloat (y + 0.5, <, rect[1] + rect[3]);
      if (spot.patch == 3) {
        g_autofree char *text = wp_figure_describe_spot (&figure, &spot);

        g_assert_cmpstr (text, ==, "patch row 1, column 1:  red 1");
      }
    }
  }
  g_assert_cmpint (located, >, 100);
  {
    WpFigureSpot spot;

    g_assert_false (wp_figure_get_spot (&figure, W, H, 1, 0, &spot, NULL));
    g_assert_false (wp_figure_get_spot (&figure, W, H, 0, 4, &spot, NULL));
  }
  wp_image_free (scene.image);
}

/* Two words in one panel: the read-out names the word a patch is drawn as and gives each word's
 * value relative to its own range, what the colour's strength encodes. */
static void
test_readout_relative (void)
{
  static const float other[4] = { 10, 10, 30, 20 };
  Scene              scene;
  WpWordMap          words[2];
  WpFigure           figure = { 0 };
  WpFigureSpot       spot = { 0, 0, -1, 3, 2, 2 };
  g_autofree char   *text = NULL;

  scene_init (&scene);
  words[0] = scene.word;
  words[1] = scene.word;
  words[1].text = (char *) "disc";
  words[1].values[WP_MAP_FILIP] = (float *) other;
  scene.maps.n_words = 2;
  scene.maps.words = words;
  figure.image = scene.image;
  figure.maps = &scene.maps;
  wp_figure_style_init (&figure.style);
  /* Patch 3: "red" 1 is its maximum (1.00), "disc" 20 is half its range (0.50). */
  text = wp_figure_describe_spot (&figure, &spot);
  g_assert_cmpstr (text, ==,
                   "patch row 1, column 1, drawn as red:  red 1 (1.00 of its range)  disc 20 "
                   "(0.50 of its range)");
  wp_image_free (scene.image);
}

static cairo_status_t
append_cb (void                *closure,
           const unsigned char *data,
           unsigned int         length)
{
  g_byte_array_append (closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

/* In an SVG the patches are blocks of several pixels each: a viewer's smoothing blurs their edges
 * by a pixel, not a patch; the screen's drawing paints the patches' own grid. */
static void
test_svg_blocks (void)
{
  Scene    scene;
  WpFigure figure = { 0 };
  g_autoptr (GByteArray) svg = g_byte_array_new ();
  cairo_surface_t *surface = cairo_svg_surface_create_for_stream (append_cb, svg, 400, 300);
  cairo_t         *cr = cairo_create (surface);
  g_autofree char *text = NULL;
  const char      *image;
  int              width = 0;

  scene_init (&scene);
  figure.image = scene.image;
  figure.maps = &scene.maps;
  wp_figure_style_init (&figure.style);
  wp_figure_draw (cr, &figure, 400, 300);
  cairo_destroy (cr);
  cairo_surface_finish (surface);
  cairo_surface_destroy (surface);
  text = g_strndup ((const char *) svg->data, svg->len);
  /* The 100 x 100 image first, then the overlay of 2 x 2 patches. */
  image = strstr (text, "<image ");
  g_assert_nonnull (image);
  image = strstr (image + 1, "<image ");
  g_assert_nonnull (image);
  g_assert_true (sscanf (image, "<image id=\"%*[^\"]\" width=\"%d\"", &width) == 1);
  g_assert_cmpint (width, >=, 2 * 100);
  wp_image_free (scene.image);
}

/* Whether text occurs in data (which may hold NUL bytes). */
static gboolean
contains (const char *data,
          gsize       len,
          const char *text)
{
  for (gsize i = 0; i + strlen (text) <= len; i++) {
    if (memcmp (data + i, text, strlen (text)) == 0)
      return TRUE;
  }
  return FALSE;
}

/* SVG and PDF carry the provenance, and are written with the permissions the umask leaves. */
static void
test_export_provenance (void)
{
  g_autofree char *dir = g_dir_make_tmp ("wp-test-figure-XXXXXX", NULL);
  g_autofree char *svg = g_build_filename (dir, "f.svg", NULL);
  g_autofree char *pdf = g_build_filename (dir, "f.pdf", NULL);
  g_autofree char *svg_text = NULL;
  g_autofree char *pdf_text = NULL;
  gsize            pdf_len = 0;
  g_autoptr (GHashTable) provenance = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;
  const mode_t old_umask = umask (027);
  Scene        scene;
  WpFigure     figure = { 0 };
  GStatBuf     st;

  scene_init (&scene);
  figure.image = scene.image;
  figure.maps = &scene.maps;
  figure.caption = "a red <thing>";
  wp_figure_style_init (&figure.style);
  g_hash_table_insert (provenance, "wordpatch.caption", "a red <thing>");
  g_hash_table_insert (provenance, "wordpatch.command", "wordpatch-cli heatmap --out f.pdf");
  g_assert_true (wp_figure_export (&figure, svg, 400, 300, provenance, &error));
  g_assert_no_error (error);
  g_assert_true (wp_figure_export (&figure, pdf, 400, 300, provenance, &error));
  g_assert_no_error (error);
  umask (old_umask);
  g_assert_true (g_file_get_contents (svg, &svg_text, NULL, NULL));
  g_assert_nonnull (strstr (svg_text, "<metadata>"));
  g_assert_nonnull (
    strstr (svg_text, "<wordpatch:entry key=\"wordpatch.caption\">a red &lt;thing&gt;<"));
  g_assert_true (g_file_get_contents (pdf, &pdf_text, &pdf_len, NULL));
  g_assert_true (contains (pdf_text, pdf_len, "wordpatch.caption=a red <thing>"));
  g_assert_true (contains (pdf_text, pdf_len, "/Subject (wordpatch-cli heatmap --out f.pdf)"));
  g_assert_cmpint (g_stat (svg, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0640);
  g_assert_cmpint (g_stat (pdf, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0640);
  g_assert_true (wp_figure_format_supported ("x.PDF"));
  g_assert_false (wp_figure_format_supported ("x.jpg"));
  g_assert_false (wp_figure_export (&figure, svg, 400, 300, NULL, &error) &&
                  wp_figure_export (&figure, "x.jpg", 400, 300, NULL, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "x.jpg"));
  g_unlink (svg);
  g_unlink (pdf);
  g_rmdir (dir);
  wp_image_free (scene.image);
}

/* A grid's maps are as large as a grid of the window's shape allows: eight square maps in a wide
 * area take two rows of four, not three rows of three. */
static void
test_grid_shape (void)
{
  static char *const texts[8] = { "a", "b", "c", "d", "e", "f", "g", "h" };
  Scene              scene;
  WpWordMap          words[8];
  WpFigure           figure = { 0 };
  WpFigureSpot       first, fifth;
  double             rect0[4], rect4[4];

  scene_init (&scene);
  for (int w = 0; w < 8; w++) {
    words[w] = scene.word;
    words[w].text = texts[w];
  }
  scene.maps.n_words = 8;
  scene.maps.words = words;
  figure.image = scene.image;
  figure.maps = &scene.maps;
  wp_figure_style_init (&figure.style);
  figure.style.grid = TRUE;
  g_assert_cmpint (wp_figure_get_n_panels (&figure, 1200, 500), ==, 8);
  g_assert_true (wp_figure_get_spot (&figure, 1200, 500, 0, 0, &first, rect0));
  g_assert_true (wp_figure_get_spot (&figure, 1200, 500, 4, 0, &fifth, rect4));
  g_assert_cmpint (fifth.word, ==, 4);
  /* The fifth map starts the second row. */
  g_assert_cmpfloat (fabs (rect4[0] - rect0[0]), <, 1.0);
  g_assert_cmpfloat (rect4[1], >, rect0[1] + rect0[3]);
  /* A patch of a 2 x 2 map is a quarter of it: maps over 150 pixels wide here. */
  g_assert_cmpfloat (rect0[2] * 2, >, 150.0);
  wp_image_free (scene.image);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/figure/hit-matches-drawing", test_hit_matches_drawing);
  g_test_add_func ("/figure/colormaps-and-ranges", test_colormaps_and_ranges);
  g_test_add_func ("/figure/token-mode", test_token_mode);
  g_test_add_func ("/figure/compare/hit-matches-drawing", test_compare_hit_matches_drawing);
  g_test_add_func ("/figure/compare/different-grids", test_compare_different_grids);
  g_test_add_func ("/figure/compare/skips-other-words", test_compare_skips_other_words);
  g_test_add_func ("/figure/compare/labels", test_compare_labels);
  g_test_add_func ("/figure/compare/png-text", test_compare_png_text);
  g_test_add_func ("/figure/labels-and-palette", test_labels_and_palette);
  g_test_add_func ("/figure/spots", test_spots);
  g_test_add_func ("/figure/readout-relative", test_readout_relative);
  g_test_add_func ("/figure/svg-blocks", test_svg_blocks);
  g_test_add_func ("/figure/export-provenance", test_export_provenance);
  g_test_add_func ("/figure/grid-shape", test_grid_shape);
  return g_test_run ();
}
