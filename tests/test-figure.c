/* test-figure.c: the figure renderer: hit-testing agrees with drawing (the patch reported under a
 * point is the one whose colour is drawn there), colour maps, value ranges. */
#include <math.h>
#include <string.h>

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
  scene->word.filip = scene->values;
  scene->word.sparc = scene->sparc;
  scene->maps.n_patches = 4;
  scene->maps.grid = 2;
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
        if (fabs (((pixel >> 16) & 0xff) / 255.0 - rgb[0]) < 0.02 && fabs (((pixel >> 8) & 0xff) / 255.0 - rgb[1]) < 0.02 &&
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
  scene.maps.token_filip = token_rows;
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
  figure.style.method = WP_FIGURE_SPARC;
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

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/figure/hit-matches-drawing", test_hit_matches_drawing);
  g_test_add_func ("/figure/colormaps-and-ranges", test_colormaps_and_ranges);
  g_test_add_func ("/figure/token-mode", test_token_mode);
  return g_test_run ();
}
