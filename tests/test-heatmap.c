/* test-heatmap.c: `wordpatch-cli heatmap` end to end: its maps equal the similarities computed
 * from `embed`'s own output, its PNG carries the colour map's colours and the metadata that makes
 * the figure again, SVG and PDF are written, --compare's differences are the two models' own maps
 * subtracted, and bad input gets one clear line. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "cli-harness.h"
#include "wordpatch/wordpatch.h"

static char *tmp_dir;
static char *model_dir;
static char *other_model_dir; /* the same size, another seed */
static char *image_path;
static char *vocab_dir;

static gboolean
ensure_model (void)
{
  g_auto (Run) run = { 0 };

  if (!have_cli ())
    return FALSE;
  if (model_dir != NULL)
    return TRUE;
  tmp_dir = wp_test_make_tmp_dir ("heatmap");
  model_dir = g_build_filename (tmp_dir, "tiny", NULL);
  image_path = g_build_filename (tmp_dir, "disc.png", NULL);
  g_assert_true (write_test_image (image_path));
  run_cli (&run, "init", "--config", "tiny", "--out", model_dir, "--vocab", vocab_dir, NULL);
  g_assert_cmpint (run.status, ==, 0);
  return run.status == 0;
}

static gboolean
ensure_other_model (void)
{
  g_auto (Run) run = { 0 };

  if (!ensure_model ())
    return FALSE;
  if (other_model_dir != NULL)
    return TRUE;
  other_model_dir = g_build_filename (tmp_dir, "tiny-seed-2", NULL);
  run_cli (&run, "init", "--config", "tiny", "--seed", "2", "--out", other_model_dir, "--vocab",
           vocab_dir, NULL);
  g_assert_cmpint (run.status, ==, 0);
  return run.status == 0;
}

static const char caption[] = "a red disc on whiteness";

static double
dot (JsonArray *a,
     JsonArray *b)
{
  double sum = 0.0;

  g_assert_cmpuint (json_array_get_length (a), ==, json_array_get_length (b));
  for (guint i = 0; i < json_array_get_length (a); i++)
    sum += json_array_get_double_element (a, i) * json_array_get_double_element (b, i);
  return sum;
}

static void
test_json_matches_embed (void)
{
  g_autofree char *json_path = NULL;
  g_autoptr (JsonParser) embed_parser = json_parser_new ();
  g_autoptr (JsonParser) maps_parser = json_parser_new ();
  g_auto (Run) embed = { 0 };
  g_auto (Run) heatmap = { 0 };
  JsonObject *e, *m;
  JsonArray  *patches, *tokens, *token_filip, *words, *token_info;
  int         checked_words = 0;

  if (!ensure_model ())
    return;
  json_path = g_build_filename (tmp_dir, "maps.json", NULL);
  run_cli (&embed, "embed", "--model", model_dir, "--image", image_path, "--text", caption, NULL);
  g_assert_cmpint (embed.status, ==, 0);
  /* Token queries: a model without a recorded objective defaults to prompt queries. */
  run_cli (&heatmap, "heatmap", "--model", model_dir, "--image", image_path, "--text", caption,
           "--query", "token", "--json", json_path, NULL);
  g_assert_cmpint (heatmap.status, ==, 0);
  e = parse_object (embed_parser, embed.out);
  m = parse_object_file (maps_parser, json_path);
  g_assert_nonnull (e);
  g_assert_nonnull (m);
  if (e == NULL || m == NULL)
    return;
  patches = json_object_get_array_member (e, "patch_embeddings");
  tokens = json_object_get_array_member (e, "token_embeddings");
  token_filip = json_object_get_array_member (m, "token_filip");
  token_info = json_object_get_array_member (m, "tokens");
  g_assert_cmpuint (json_array_get_length (token_filip), ==, json_array_get_length (tokens));
  g_assert_cmpint (json_object_get_int_member (m, "grid") * json_object_get_int_member (m, "grid"),
                   ==, json_array_get_length (patches));
  for (guint t = 0; t < json_array_get_length (tokens); t++) {
    JsonArray *row = json_array_get_array_element (token_filip, t);

    for (guint p = 0; p < json_array_get_length (patches); p++) {
      const double cosine =
        dot (json_array_get_array_element (patches, p), json_array_get_array_element (tokens, t));

      g_assert_cmpfloat_with_epsilon (json_array_get_double_element (row, p), cosine, 1e-5);
    }
  }
  /* A word's map is the mean of its tokens' rows. */
  words = json_object_get_array_member (m, "words");
  for (guint w = 0; w < json_array_get_length (words); w++) {
    JsonObject *word = json_array_get_object_element (words, w);
    JsonArray  *filip = json_object_get_array_member (word, "filip");
    const int   first = (int) json_object_get_int_member (word, "first_token");
    const int   n = (int) json_object_get_int_member (word, "n_tokens");

    for (int t = first; t < first + n; t++)
      g_assert_cmpint (
        json_object_get_int_member (json_array_get_object_element (token_info, t), "word"), ==, w);
    for (guint p = 0; p < json_array_get_length (filip); p++) {
      double mean = 0.0;

      for (int t = first; t < first + n; t++)
        mean +=
          json_array_get_double_element (json_array_get_array_element (token_filip, t), p) / n;
      g_assert_cmpfloat_with_epsilon (json_array_get_double_element (filip, p), mean, 1e-5);
    }
    checked_words++;
  }
  g_assert_cmpint (checked_words, ==, 5);
}

static gboolean
has_colour (const WpImage *image,
            guint32        rgb)
{
  for (int i = 0; i < image->width * image->height; i++) {
    const guint8 *px = image->rgb + (gsize) i * 3;

    if (ABS (px[0] - (int) (rgb >> 16)) <= 2 && ABS (px[1] - (int) ((rgb >> 8) & 0xff)) <= 2 &&
        ABS (px[2] - (int) (rgb & 0xff)) <= 2)
      return TRUE;
  }
  return FALSE;
}

/* Whether the binary data holds text (g_strstr_len stops at the first NUL byte). */
static gboolean
contains (const char *data,
          gsize       len,
          const char *text)
{
  const gsize n = strlen (text);

  for (gsize i = 0; i + n <= len; i++) {
    if (memcmp (data + i, text, n) == 0)
      return TRUE;
  }
  return FALSE;
}

static void
test_png_svg_pdf (void)
{
  g_autofree char *png = NULL;
  g_autofree char *svg = NULL;
  g_autofree char *pdf = NULL;
  g_autofree char *bytes = NULL;
  g_autofree char *svg_text = NULL;
  g_autofree char *pdf_text = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (WpImage) figure = NULL;
  g_auto (Run) run_png = { 0 };
  g_auto (Run) run_svg = { 0 };
  g_auto (Run) run_pdf = { 0 };
  gsize len = 0;

  if (!ensure_model ())
    return;
  png = g_build_filename (tmp_dir, "fig.png", NULL);
  svg = g_build_filename (tmp_dir, "fig.svg", NULL);
  pdf = g_build_filename (tmp_dir, "fig.pdf", NULL);
  /* Opaque blocks: the panel shows the colour map's own colours, its two ends among them. */
  run_cli (&run_png, "heatmap", "--model", model_dir, "--image", image_path, "--text", caption,
           "--tokens", "red", "--opacity", "1", "--out", png, NULL);
  g_assert_cmpint (run_png.status, ==, 0);
  figure = wp_image_load (png, &error);
  g_assert_no_error (error);
  if (figure == NULL)
    return;
  g_assert_cmpint (figure->width, ==, 900);
  g_assert_cmpint (figure->height, ==, 600);
  g_assert_true (has_colour (figure, 0xfde725));
  g_assert_true (has_colour (figure, 0x440154));
  g_assert_true (g_file_get_contents (png, &bytes, &len, NULL));
  g_assert_true (contains (bytes, len, "wordpatch.command"));
  g_assert_true (contains (bytes, len, "wordpatch-cli heatmap"));
  g_assert_true (contains (bytes, len, "wordpatch.model_sha256"));
  g_assert_true (contains (bytes, len, caption));

  run_cli (&run_svg, "heatmap", "--model", model_dir, "--image", image_path, "--text", caption,
           "--grid", "--method", "sparc", "--out", svg, NULL);
  g_assert_cmpint (run_svg.status, ==, 0);
  g_assert_true (g_file_get_contents (svg, &svg_text, NULL, NULL));
  g_assert_nonnull (strstr (svg_text, "<svg"));
  run_cli (&run_pdf, "heatmap", "--model", model_dir, "--image", image_path, "--text", caption,
           "--method", "labels", "--out", pdf, NULL);
  g_assert_cmpint (run_pdf.status, ==, 0);
  g_assert_true (g_file_get_contents (pdf, &pdf_text, NULL, NULL));
  g_assert_true (g_str_has_prefix (pdf_text, "%PDF"));
}

/* The crop of a heatmap's --json: x, y, width and height in the image's pixels. */
static void
read_crop (const char *json_path,
           double      crop[4])
{
  static const char *const keys[4] = { "x", "y", "width", "height" };
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root = parse_object_file (parser, json_path);
  JsonObject *object;

  g_assert_nonnull (root);
  object = json_object_get_object_member (root, "crop");
  g_assert_nonnull (object);
  for (guint i = 0; i < 4; i++)
    crop[i] = json_object_get_double_member_with_default (object, keys[i], -1.0);
}

/* A photo stored landscape whose EXIF orientation turns it portrait: the centre crop is taken
 * across its height, as the photo is seen; --stored-orientation crops across the stored width,
 * and the figure's command says so. */
static void
test_exif_orientation (void)
{
  g_autofree guint8 *pixels = wp_test_pattern_pixels (40, 24, 3);
  g_autofree char   *photo = NULL, *upright_json = NULL, *stored_json = NULL, *png = NULL;
  g_autofree char   *bytes = NULL;
  gsize              len = 0;
  double             upright[4], stored[4];
  g_auto (Run) upright_run = { 0 };
  g_auto (Run) stored_run = { 0 };

  if (!ensure_model ())
    return;
  photo = g_build_filename (tmp_dir, "photo.jpg", NULL);
  upright_json = g_build_filename (tmp_dir, "upright.json", NULL);
  stored_json = g_build_filename (tmp_dir, "stored.json", NULL);
  png = g_build_filename (tmp_dir, "stored.png", NULL);
  wp_test_write_exif_jpeg (photo, pixels, 40, 24, 6, FALSE);
  run_cli (&upright_run, "heatmap", "--model", model_dir, "--image", photo, "--text", caption,
           "--json", upright_json, NULL);
  g_assert_cmpint (upright_run.status, ==, 0);
  run_cli (&stored_run, "heatmap", "--model", model_dir, "--image", photo, "--text", caption,
           "--stored-orientation", "--json", stored_json, "--out", png, NULL);
  g_assert_cmpint (stored_run.status, ==, 0);
  read_crop (upright_json, upright);
  read_crop (stored_json, stored);
  g_assert_cmpfloat (upright[0], ==, 0.0);
  g_assert_cmpfloat (upright[1], >, 0.0);
  g_assert_cmpfloat_with_epsilon (upright[2], 24.0, 1e-9);
  g_assert_cmpfloat (stored[0], >, 0.0);
  g_assert_cmpfloat (stored[1], ==, 0.0);
  g_assert_cmpfloat_with_epsilon (stored[3], 24.0, 1e-9);
  g_assert_true (g_file_get_contents (png, &bytes, &len, NULL));
  g_assert_true (contains (bytes, len, "--stored-orientation"));
}

static void
test_bad_input (void)
{
  g_autofree char *junk = NULL;
  g_autofree char *out = NULL;
  g_autofree char *bad_ext = NULL;
  g_auto (Run) run_junk = { 0 };
  g_auto (Run) run_word = { 0 };
  g_auto (Run) run_scale = { 0 };
  g_auto (Run) run_ext = { 0 };
  g_auto (Run) run_missing = { 0 };

  if (!ensure_model ())
    return;
  junk = g_build_filename (tmp_dir, "junk.png", NULL);
  out = g_build_filename (tmp_dir, "never.png", NULL);
  bad_ext = g_build_filename (tmp_dir, "fig.gif", NULL);
  g_assert_true (g_file_set_contents (junk, "not an image", -1, NULL));
  run_cli (&run_junk, "heatmap", "--model", model_dir, "--image", junk, "--text", caption, "--out",
           out, NULL);
  assert_failure (&run_junk, junk, NULL, NULL);
  run_cli (&run_word, "heatmap", "--model", model_dir, "--image", image_path, "--text", caption,
           "--tokens", "dog", "--out", out, NULL);
  assert_failure (&run_word, "no word 'dog'", NULL, NULL);
  run_cli (&run_scale, "heatmap", "--model", model_dir, "--image", image_path, "--text", caption,
           "--scale", "fixed:1,0", "--out", out, NULL);
  g_assert_cmpint (run_scale.status, ==, 2);
  run_cli (&run_ext, "heatmap", "--model", model_dir, "--image", image_path, "--text", caption,
           "--out", bad_ext, NULL);
  g_assert_cmpint (run_ext.status, ==, 2);
  assert_mentions (run_ext.err, ".png, .svg or .pdf");
  run_cli (&run_missing, "heatmap", "--model", model_dir, "--text", caption, "--out", out, NULL);
  g_assert_cmpint (run_missing.status, ==, 2);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
}

static void
test_batch (void)
{
  g_autofree char *data = NULL;
  g_autofree char *captions = NULL;
  g_autofree char *image_copy = NULL;
  g_autofree char *out_dir = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (WpImage) figure = NULL;
  g_auto (Run) run = { 0 };
  g_auto (Run) run_format = { 0 };
  g_auto (Run) run_mixed = { 0 };

  if (!ensure_model ())
    return;
  data = g_build_filename (tmp_dir, "batch-data", NULL);
  g_assert_cmpint (g_mkdir_with_parents (data, 0755), ==, 0);
  image_copy = g_build_filename (data, "disc.png", NULL);
  g_assert_true (write_test_image (image_copy));
  captions = g_build_filename (data, "captions.tsv", NULL);
  g_assert_true (
    g_file_set_contents (captions, "disc.png\ta red disc\ndisc.png\ta white page\n", -1, NULL));
  out_dir = g_build_filename (tmp_dir, "batch-out", NULL);
  /* "red" is drawn where a caption has it and left out where it does not. */
  run_cli (&run, "heatmap", "--model", model_dir, "--data", data, "--out-dir", out_dir, "--tokens",
           "red", NULL);
  g_assert_cmpint (run.status, ==, 0);
  assert_mentions (run.out, "wrote 2 figures");
  assert_mentions (run.err, "2/2");
  first = g_build_filename (out_dir, "000000-disc.png", NULL);
  second = g_build_filename (out_dir, "000001-disc.png", NULL);
  figure = wp_image_load (first, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_test (second, G_FILE_TEST_EXISTS));

  /* --compare: the same code path, one comparison a pair. */
  if (ensure_other_model ()) {
    g_autofree char *compare_dir = g_build_filename (tmp_dir, "batch-compare", NULL);
    g_autofree char *compared = g_build_filename (compare_dir, "000001-disc.png", NULL);
    g_auto (Run) run_compare = { 0 };

    run_cli (&run_compare, "heatmap", "--model", model_dir, "--compare", other_model_dir, "--data",
             data, "--out-dir", compare_dir, NULL);
    g_assert_cmpint (run_compare.status, ==, 0);
    assert_mentions (run_compare.out, "wrote 2 figures");
    g_assert_true (g_file_test (compared, G_FILE_TEST_EXISTS));
  }

  run_cli (&run_format, "heatmap", "--model", model_dir, "--data", data, "--out-dir", out_dir,
           "--format", "gif", NULL);
  g_assert_cmpint (run_format.status, ==, 2);
  run_cli (&run_mixed, "heatmap", "--model", model_dir, "--data", data, "--out", first, NULL);
  g_assert_cmpint (run_mixed.status, ==, 2);
}

/* `heatmap --json` of the caption on the test image (with --compare other when not NULL), parsed
 * by parser; NULL (and the test failed) when it did not run. */
static JsonObject *
run_json (JsonParser *parser,
          const char *model,
          const char *other,
          const char *name)
{
  g_autofree char *path = g_build_filename (tmp_dir, name, NULL);
  g_autofree char *text = NULL;
  g_auto (Run) run = { 0 };

  if (other != NULL)
    run_cli (&run, "heatmap", "--model", model, "--compare", other, "--image", image_path, "--text",
             caption, "--query", "token", "--json", path, NULL);
  else
    run_cli (&run, "heatmap", "--model", model, "--image", image_path, "--text", caption,
             "--query", "token", "--json", path, NULL);
  g_assert_cmpint (run.status, ==, 0);
  if (run.status != 0 || !g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  return parse_object (parser, text);
}

/* A word's map ("filip" or "sparc") in a --json object, or in its "difference". */
static JsonArray *
word_map (JsonObject *maps,
          guint       word,
          const char *difference,
          const char *method)
{
  JsonObject *object =
    json_array_get_object_element (json_object_get_array_member (maps, "words"), word);

  if (difference != NULL)
    object = json_object_get_object_member (object, difference);
  return json_object_get_array_member (object, method);
}

/* The same model twice: every difference is exactly 0. */
static void
test_compare_same_model (void)
{
  static const char *const methods[] = { "filip", "sparc" };
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *maps, *compare;
  guint       n_words, checked = 0;

  if (!ensure_model ())
    return;
  maps = run_json (parser, model_dir, model_dir, "same.json");
  if (maps == NULL)
    return;
  compare = json_object_get_object_member (maps, "compare");
  g_assert_cmpstr (json_object_get_string_member (compare, "model"), ==, model_dir);
  n_words = json_array_get_length (json_object_get_array_member (compare, "words"));
  g_assert_cmpuint (n_words, ==, 5);
  for (guint w = 0; w < n_words; w++) {
    for (guint m = 0; m < G_N_ELEMENTS (methods); m++) {
      JsonArray *difference = word_map (compare, w, "difference", methods[m]);

      g_assert_cmpuint (json_array_get_length (difference), ==,
                        json_array_get_length (word_map (maps, w, NULL, methods[m])));
      for (guint p = 0; p < json_array_get_length (difference); p++) {
        g_assert_cmpfloat (json_array_get_double_element (difference, p), ==, 0.0);
        checked++;
      }
    }
  }
  g_assert_cmpuint (checked, >, 0);
}

/* Two models: A's maps are its own (as without --compare), compare's are B's own, and the
 * difference is B's minus A's; the PNG records the other model and the command with --compare. */
static void
test_compare_two_models (void)
{
  static const char *const methods[] = { "filip", "sparc" };
  g_autoptr (JsonParser) a_parser = json_parser_new ();
  g_autoptr (JsonParser) b_parser = json_parser_new ();
  g_autoptr (JsonParser) ab_parser = json_parser_new ();
  g_autofree char *png = NULL;
  g_autofree char *bytes = NULL;
  g_autofree char *quoted = NULL;
  g_autofree char *command = NULL;
  g_auto (Run) run_png = { 0 };
  JsonObject *a, *b, *ab, *compare;
  double      largest = 0.0;
  gsize       len = 0;

  if (!ensure_other_model ())
    return;
  a = run_json (a_parser, model_dir, NULL, "a.json");
  b = run_json (b_parser, other_model_dir, NULL, "b.json");
  ab = run_json (ab_parser, model_dir, other_model_dir, "ab.json");
  if (a == NULL || b == NULL || ab == NULL)
    return;
  compare = json_object_get_object_member (ab, "compare");
  g_assert_cmpstr (json_object_get_string_member (compare, "model"), ==, other_model_dir);
  for (guint w = 0; w < 5; w++) {
    for (guint m = 0; m < G_N_ELEMENTS (methods); m++) {
      JsonArray *a_map = word_map (a, w, NULL, methods[m]);
      JsonArray *b_map = word_map (b, w, NULL, methods[m]);
      JsonArray *difference = word_map (compare, w, "difference", methods[m]);

      g_assert_cmpuint (json_array_get_length (difference), ==, json_array_get_length (a_map));
      for (guint p = 0; p < json_array_get_length (a_map); p++) {
        const double a_value = json_array_get_double_element (a_map, p),
                     b_value = json_array_get_double_element (b_map, p);

        g_assert_cmpfloat (json_array_get_double_element (word_map (ab, w, NULL, methods[m]), p),
                           ==, a_value);
        g_assert_cmpfloat (
          json_array_get_double_element (word_map (compare, w, NULL, methods[m]), p), ==, b_value);
        g_assert_cmpfloat_with_epsilon (json_array_get_double_element (difference, p),
                                        b_value - a_value, 1e-6);
        largest = MAX (largest, fabs (b_value - a_value));
      }
    }
  }
  /* Different seeds: a test of subtraction, not of zeros. */
  g_assert_cmpfloat (largest, >, 1e-3);

  png = g_build_filename (tmp_dir, "compare.png", NULL);
  run_cli (&run_png, "heatmap", "--model", model_dir, "--compare", other_model_dir, "--image",
           image_path, "--text", caption, "--out", png, NULL);
  g_assert_cmpint (run_png.status, ==, 0);
  g_assert_true (g_file_get_contents (png, &bytes, &len, NULL));
  quoted = g_shell_quote (other_model_dir);
  command = g_strdup_printf ("--compare %s", quoted);
  g_assert_true (contains (bytes, len, command));
  g_assert_true (contains (bytes, len, "wordpatch.compare_model_sha256"));
  g_assert_true (contains (bytes, len, "wordpatch.compare_model"));
}

static void
test_compare_bad_folder (void)
{
  g_autofree char *missing = NULL;
  g_autofree char *empty = NULL;
  g_autofree char *out = NULL;
  g_auto (Run) run_missing = { 0 };
  g_auto (Run) run_empty = { 0 };

  if (!ensure_model ())
    return;
  missing = g_build_filename (tmp_dir, "no-such-model", NULL);
  empty = g_build_filename (tmp_dir, "not-a-model", NULL);
  out = g_build_filename (tmp_dir, "never-compared.png", NULL);
  g_assert_cmpint (g_mkdir_with_parents (empty, 0755), ==, 0);
  run_cli (&run_missing, "heatmap", "--model", model_dir, "--compare", missing, "--image",
           image_path, "--text", caption, "--out", out, NULL);
  assert_failure (&run_missing, missing, NULL, NULL);
  run_cli (&run_empty, "heatmap", "--model", model_dir, "--compare", empty, "--image", image_path,
           "--text", caption, "--out", out, NULL);
  assert_failure (&run_empty, empty, NULL, NULL);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
}

/* Without --query, maps use prompt queries for a model that records no objective (as OpenAI's and
 * open_clip's checkpoints) and token queries for the bundled FILIP model. */
static void
test_default_query (void)
{
  static const struct {
    gboolean    bundled;
    const char *query;
  } cases[] = { { FALSE, "prompt" }, { TRUE, "token" } };

  if (!ensure_model ())
    return;
  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++) {
    g_autofree char *json_path = g_build_filename (tmp_dir, "default-query.json", NULL);
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_auto (Run) run = { 0 };
    JsonObject *root;

    if (cases[c].bundled)
      run_cli (&run, "heatmap", "--image", image_path, "--text", caption, "--json", json_path,
               NULL);
    else
      run_cli (&run, "heatmap", "--model", model_dir, "--image", image_path, "--text", caption,
               "--json", json_path, NULL);
    g_assert_cmpint (run.status, ==, 0);
    if ((root = parse_object_file (parser, json_path)) != NULL)
      g_assert_cmpstr (json_object_get_string_member (root, "query"), ==, cases[c].query);
  }
}

/* Every method with prompt queries on the whole 80 x 60 image: the JSON names the methods and
 * the grid (60 pixels become 64, 80 become 88: 8 x 11 patches), each query has one array a
 * method of rows x cols values and a label map a method; gradient maps are not negative, and
 * surgery leaves the queries' forward maps summing to zero at every patch. */
static void
test_methods_json (void)
{
  static const char *const methods[] = { "filip", "sparc", "maskclip", "sclip", "clearclip",
                                         "naclip", "gradcam", "chefer", "legrad" };
  static const char *const queries[] = { "a", "red", "disc", "on", "whiteness" };

  if (!ensure_model ())
    return;
  for (int surgery = 0; surgery < 2; surgery++) {
    g_autofree char *json_path = g_build_filename (tmp_dir, "methods.json", NULL);
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_auto (Run) run = { 0 };
    JsonObject *root;
    JsonArray  *words;
    int         P;

    run_cli (&run, "heatmap", "--model", model_dir, "--image", image_path, "--text", caption,
             "--method", "all", "--query", "prompt", "--crop", "none", "--json", json_path,
             surgery ? "--surgery" : NULL, NULL);
    g_assert_cmpint (run.status, ==, 0);
    root = parse_object_file (parser, json_path);
    g_assert_nonnull (root);
    g_assert_cmpint (json_object_get_int_member (root, "rows"), ==, 8);
    g_assert_cmpint (json_object_get_int_member (root, "cols"), ==, 11);
    g_assert_false (json_object_has_member (root, "grid"));
    g_assert_cmpstr (json_object_get_string_member (root, "query"), ==, "prompt");
    g_assert_cmpstr (json_object_get_string_member (root, "method"), ==,
                     "filip,sparc,maskclip,sclip,clearclip,naclip,gradcam,chefer,legrad");
    g_assert_true (json_object_get_boolean_member (root, "surgery") == surgery);
    P = 8 * 11;
    words = json_object_get_array_member (root, "words");
    g_assert_cmpuint (json_array_get_length (words), ==, G_N_ELEMENTS (queries));
    for (gsize w = 0; w < G_N_ELEMENTS (queries); w++) {
      JsonObject *word = json_array_get_object_element (words, (guint) w);

      g_assert_cmpstr (json_object_get_string_member (word, "text"), ==, queries[w]);
      g_assert_false (json_object_has_member (word, "first_token"));
      for (gsize m = 0; m < G_N_ELEMENTS (methods); m++) {
        JsonArray *map = json_object_get_array_member (word, methods[m]);

        g_assert_nonnull (map);
        g_assert_cmpuint (json_array_get_length (map), ==, P);
        for (int p = 0; p < P && m >= 6; p++)
          g_assert_cmpfloat (json_array_get_double_element (map, p), >=, 0.0);
      }
    }
    for (gsize m = 0; m < G_N_ELEMENTS (methods); m++) {
      JsonArray *labels =
        json_object_get_array_member (json_object_get_object_member (root, "labels"), methods[m]);

      g_assert_cmpuint (json_array_get_length (labels), ==, P);
    }
    for (int p = 0; surgery && p < P; p++) {
      double sum = 0.0;

      for (gsize w = 0; w < G_N_ELEMENTS (queries); w++)
        sum += json_array_get_double_element (
          json_object_get_array_member (json_array_get_object_element (words, (guint) w),
                                        "maskclip"),
          p);
      g_assert_cmpfloat (fabs (sum), <, 1e-5);
    }
  }
}

/* Methods side by side: one figure in every format, its PNG records the methods. */
static void
test_methods_figure (void)
{
  static const char *const formats[] = { "png", "svg", "pdf" };

  if (!ensure_model ())
    return;
  for (gsize f = 0; f < G_N_ELEMENTS (formats); f++) {
    g_autofree char *name = g_strdup_printf ("methods.%s", formats[f]);
    g_autofree char *out = g_build_filename (tmp_dir, name, NULL);
    g_autofree char *contents = NULL;
    gsize            length;
    g_auto (Run) run = { 0 };

    run_cli (&run, "heatmap", "--model", model_dir, "--image", image_path, "--text", caption,
             "--method", "maskclip,legrad,filip", "--crop", "none", "--resolution", "128", "--out",
             out, NULL);
    g_assert_cmpint (run.status, ==, 0);
    g_assert_true (g_file_get_contents (out, &contents, &length, NULL));
    g_assert_cmpuint (length, >, 1000);
    if (f == 0) {
      g_assert_true (contains (contents, length, "maskclip,legrad,filip"));
      g_assert_true (contains (contents, length, "--resolution"));
    }
  }
}

/* Each map option's bad value is a usage error (status 2) naming the option; a view of more
 * patches than the engine takes is an error naming the image. */
static void
test_methods_bad_options (void)
{
  static const char *const cases[][3] = {
    { "--method", "filip,dino", "dino" },
    { "--method", "legrad,legrad", "twice" },
    { "--query", "word", "--query" },
    { "--template", "a photo", "--template" },
    { "--crop", "square", "--crop" },
    { "--resolution", "-5", "--resolution" },
    { "--legrad-layers", "-1", "--legrad-layers" },
  };
  g_autofree char *out = NULL;
  g_auto (Run) run_compare = { 0 };
  g_auto (Run) run_huge = { 0 };

  if (!ensure_other_model ())
    return;
  out = g_build_filename (tmp_dir, "never.png", NULL);
  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++) {
    g_auto (Run) run = { 0 };

    run_cli (&run, "heatmap", "--model", model_dir, "--image", image_path, "--text", caption,
             cases[c][0], cases[c][1], "--out", out, NULL);
    g_assert_cmpint (run.status, ==, 2);
    assert_mentions (run.err, cases[c][2]);
  }
  run_cli (&run_compare, "heatmap", "--model", model_dir, "--compare", other_model_dir, "--image",
           image_path, "--text", caption, "--method", "filip,legrad", "--out", out, NULL);
  g_assert_cmpint (run_compare.status, ==, 2);
  assert_mentions (run_compare.err, "--compare");
  run_cli (&run_huge, "heatmap", "--model", model_dir, "--image", image_path, "--text", caption,
           "--crop", "none", "--resolution", "4000", "--out", out, NULL);
  assert_failure (&run_huge, image_path, "at most 4096 patches", NULL);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  vocab_dir = g_test_build_filename (G_TEST_DIST, "data", "clip-bpe", NULL);
  g_test_add_func ("/heatmap/json-matches-embed", test_json_matches_embed);
  g_test_add_func ("/heatmap/png-svg-pdf", test_png_svg_pdf);
  g_test_add_func ("/heatmap/exif-orientation", test_exif_orientation);
  g_test_add_func ("/heatmap/bad-input", test_bad_input);
  g_test_add_func ("/heatmap/batch", test_batch);
  g_test_add_func ("/heatmap/compare/same-model", test_compare_same_model);
  g_test_add_func ("/heatmap/compare/two-models", test_compare_two_models);
  g_test_add_func ("/heatmap/compare/bad-folder", test_compare_bad_folder);
  g_test_add_func ("/heatmap/methods/json", test_methods_json);
  g_test_add_func ("/heatmap/methods/default-query", test_default_query);
  g_test_add_func ("/heatmap/methods/figure", test_methods_figure);
  g_test_add_func ("/heatmap/methods/bad-options", test_methods_bad_options);
  status = g_test_run ();
  if (tmp_dir != NULL)
    remove_tree (tmp_dir);
  g_free (tmp_dir);
  g_free (model_dir);
  g_free (other_model_dir);
  g_free (image_path);
  g_free (vocab_dir);
  return status;
}
