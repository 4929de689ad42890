/* bench-maps.c: `wordpatch-cli bench --maps`, how long each map method makes the app wait: from
 * opening an image to its first maps, and from a caption edit to the new maps, on a 640 x 480
 * picture seen as the map options say. */
#include <stdio.h>

#include "bench.h"

/* Ten words the CLIP vocabulary holds as one token each, as the training benchmark's caption; an
 * edit changes its last word, as typing does. */
static const char bench_caption[] = "a red circle and a big blue square on grass";
static const char edited_caption[] = "a red circle and a big blue square on sand";

/* A 640 x 480 test picture: smooth gradients with a few flat shapes, photo-sized. */
static WpImage *
test_picture (void)
{
  const int W = 640, H = 480;
  WpImage  *image = wp_image_new (W, H);

  for (int y = 0; y < H; y++) {
    for (int x = 0; x < W; x++) {
      guint8        *px = image->rgb + ((gsize) y * W + x) * 3;
      const gboolean disc = (x - 200) * (x - 200) + (y - 240) * (y - 240) < 80 * 80;
      const gboolean square = x > 380 && x < 540 && y > 160 && y < 320;

      px[0] = disc ? 220 : (guint8) (255 * x / W);
      px[1] = square ? 40 : (guint8) (255 * y / H);
      px[2] = square ? 220 : (guint8) ((x / 40 + y / 40) % 2 * 120);
    }
  }
  return image;
}

typedef struct {
  WpMapMethod method;
  double      open_s, edit_s;
  int         rows, cols;
} MethodTiming;

static double
seconds_since (gint64 start)
{
  return (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC;
}

/* The median times of iterations runs (after one warm-up) of one method: image to first maps
 * (the image's features for this method, then the caption's maps), and a caption edit to maps
 * (one word changed; prompt queries keep the other words' embeddings, as the app does). */
static gboolean
time_method (const WpModel      *model,
             const WpImage      *picture,
             const WpCliMapArgs *args,
             int                 iterations,
             MethodTiming       *timing,
             GError            **error)
{
  g_autofree double *open = g_new (double, iterations);
  g_autofree double *edit = g_new (double, iterations);
  WpMapOptions       options = args->maps;

  options.methods = WP_MAP_BIT (timing->method);
  for (int i = -1; i < iterations; i++) {
    g_autoptr (WpPromptCache) cache = wp_prompt_cache_new (model);
    gint64 start = g_get_monotonic_time ();
    g_autoptr (WpImageEmbedding) image =
      wp_embed_image_view (model, picture, &args->view, options.methods, error);
    g_autoptr (WpTextEmbedding) text = NULL;
    g_autoptr (WpWordMaps) first = NULL;
    g_autoptr (WpWordMaps) edited = NULL;

    if (image == NULL)
      return FALSE;
    options.prompt_cache = cache;
    text = wp_embed_text (model, bench_caption);
    first = wp_word_maps_new_full (model, image, text, &options, NULL);
    if (i >= 0)
      open[i] = seconds_since (start);
    timing->rows = image->rows;
    timing->cols = image->cols;

    start = g_get_monotonic_time ();
    g_clear_pointer (&text, wp_text_embedding_free);
    text = wp_embed_text (model, edited_caption);
    edited = wp_word_maps_new_full (model, image, text, &options, NULL);
    if (i >= 0)
      edit[i] = seconds_since (start);
  }
  timing->open_s = wp_bench_median (open, iterations);
  timing->edit_s = wp_bench_median (edit, iterations);
  return TRUE;
}

int
wp_cli_bench_maps (const WpModel      *model,
                   const char         *model_name,
                   const WpCliMapArgs *args,
                   int                 threads,
                   int                 iterations,
                   gboolean            json)
{
  g_autoptr (WpImage) picture = test_picture ();
  g_autoptr (GError) error = NULL;
  g_autofree MethodTiming *timings = g_new0 (MethodTiming, args->n_order);

  for (int i = 0; i < args->n_order; i++) {
    timings[i].method = args->order[i];
    if (!time_method (model, picture, args, iterations, &timings[i], &error))
      return wp_cli_fail (error);
  }
  if (json) {
    g_autoptr (JsonBuilder) builder = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;

    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "model");
    json_builder_add_string_value (builder, model_name);
    json_builder_set_member_name (builder, "threads");
    json_builder_add_int_value (builder, threads);
    json_builder_set_member_name (builder, "iterations");
    json_builder_add_int_value (builder, iterations);
    json_builder_set_member_name (builder, "query");
    json_builder_add_string_value (builder,
                                   args->maps.query == WP_QUERY_PROMPT ? "prompt" : "token");
    json_builder_set_member_name (builder, "rows");
    json_builder_add_int_value (builder, timings[0].rows);
    json_builder_set_member_name (builder, "cols");
    json_builder_add_int_value (builder, timings[0].cols);
    json_builder_set_member_name (builder, "methods");
    json_builder_begin_object (builder);
    for (int i = 0; i < args->n_order; i++) {
      json_builder_set_member_name (builder, wp_map_method_to_string (timings[i].method));
      json_builder_begin_object (builder);
      wp_cli_add_number (builder, "open_ms", timings[i].open_s * 1e3);
      wp_cli_add_number (builder, "edit_ms", timings[i].edit_s * 1e3);
      json_builder_end_object (builder);
    }
    json_builder_end_object (builder);
    json_builder_end_object (builder);
    root = json_builder_get_root (builder);
    wp_cli_print_json (root);
    return 0;
  }
  printf ("%s, a 640 x 480 picture seen %s as %d x %d patches, %s queries, caption \"%s\", "
          "%d thread%s, median of %d runs after 1 warm-up\n\n",
          model_name, args->view.crop == WP_CROP_NONE ? "whole" : "centre-cropped",
          timings[0].rows, timings[0].cols,
          args->maps.query == WP_QUERY_PROMPT ? "prompt" : "token", bench_caption, threads,
          threads == 1 ? "" : "s", iterations);
  printf ("  %-10s %22s %22s\n", "method", "image to first maps", "caption edit to maps");
  for (int i = 0; i < args->n_order; i++)
    printf ("  %-10s %19.1f ms %19.1f ms\n", wp_map_method_to_string (timings[i].method),
            timings[i].open_s * 1e3, timings[i].edit_s * 1e3);
  return 0;
}
