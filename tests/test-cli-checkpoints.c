/* test-cli-checkpoints.c: `wordpatch-cli` on the checkpoint kinds besides its own folders: an
 * open_clip folder without vocabulary files, a transformers folder sharded over three files and a
 * 336-style one (patch 14, GELU's tanh approximation, a resize size above the crop in
 * preprocessor_config.json). info says what each is, embed prints the same keys for every kind,
 * every map method runs on each (heatmap --method all), convert goes to open_clip and back
 * bit-exact and refuses what open_clip cannot say, and an unsupported checkpoint gets one line
 * naming its file and the problem. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "cli-harness.h"
#include "wordpatch/wordpatch.h"

static char *tmp_dir;
static char *vocab_dir;
static char *transformers_dir; /* `init --config tiny` */
static char *openclip_dir;     /* converted to open_clip, its vocabulary files removed */
static char *sharded_dir;      /* transformers' weights over three shards */
static char *wide_dir;         /* 42 px, patch 14, gelu_new, resized to 48 before the crop */
static char *image_path;

static void
make_wide_model (void)
{
  g_autofree char *vocab = g_build_filename (vocab_dir, "vocab.json", NULL);
  g_autofree char *merges = g_build_filename (vocab_dir, "merges.txt", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = NULL;
  WpTokenizer *tokenizer = wp_tokenizer_new_from_files (vocab, merges, &error);
  WpClipConfig config;

  g_assert_no_error (error);
  wp_clip_config_init_default (&config);
  config.text = (WpTowerConfig){ 32, 64, 2, 2, WP_ACTIVATION_GELU_TANH, 1e-5f };
  config.vision = (WpTowerConfig){ 48, 96, 4, 2, WP_ACTIVATION_GELU_TANH, 1e-5f };
  config.context_length = 16;
  config.image_size = 42;
  config.patch_size = 14;
  config.projection_dim = 16;
  config.preprocess.resize_size = 48;
  model = wp_model_new_random (&config, tokenizer, 3, &error);
  g_assert_no_error (error);
  g_assert_true (wp_model_save (model, wide_dir, &error));
  g_assert_no_error (error);
}

static gboolean
ensure_models (void)
{
  g_auto (Run) init = { 0 };
  g_auto (Run) convert = { 0 };

  if (!have_cli ())
    return FALSE;
  if (transformers_dir != NULL)
    return TRUE;
  tmp_dir = wp_test_make_tmp_dir ("cli-checkpoints");
  transformers_dir = g_build_filename (tmp_dir, "tiny", NULL);
  openclip_dir = g_build_filename (tmp_dir, "openclip", NULL);
  sharded_dir = g_build_filename (tmp_dir, "sharded", NULL);
  wide_dir = g_build_filename (tmp_dir, "wide", NULL);
  image_path = g_build_filename (tmp_dir, "disc.png", NULL);
  g_assert_true (write_test_image (image_path));

  run_cli (&init, "init", "--config", "tiny", "--out", transformers_dir, "--vocab", vocab_dir,
           NULL);
  g_assert_cmpint (init.status, ==, 0);
  run_cli (&convert, "convert", "--model", transformers_dir, "--out", openclip_dir, "--format",
           "open_clip", NULL);
  g_assert_cmpint (convert.status, ==, 0);
  wp_test_remove_file (openclip_dir, "vocab.json");
  wp_test_remove_file (openclip_dir, "merges.txt");
  {
    g_auto (Run) copy = { 0 };

    run_cli (&copy, "convert", "--model", transformers_dir, "--out", sharded_dir, NULL);
    g_assert_cmpint (copy.status, ==, 0);
  }
  wp_test_shard_folder (sharded_dir, 3);
  make_wide_model ();
  return TRUE;
}

static JsonObject *
info_json (JsonParser *parser,
           const char *model)
{
  g_auto (Run) run = { 0 };

  run_cli (&run, "info", "--model", model, "--json", NULL);
  g_assert_cmpint (run.status, ==, 0);
  return parse_object (parser, run.out);
}

static void
test_info (void)
{
  g_autoptr (JsonParser) p1 = json_parser_new ();
  g_autoptr (JsonParser) p2 = json_parser_new ();
  g_auto (Run) text = { 0 };
  g_auto (Run) wide = { 0 };
  JsonObject *oc, *sharded;

  if (!ensure_models ())
    return;
  oc = info_json (p1, openclip_dir);
  g_assert_cmpstr (json_object_get_string_member (oc, "format"), ==, "open_clip");
  g_assert_cmpstr (json_object_get_string_member (oc, "family"), ==, "CLIP");
  g_assert_true (json_object_get_boolean_member (oc, "bundled_vocabulary"));
  assert_mentions (json_object_get_string_member (oc, "summary"), "open_clip folder");
  sharded = info_json (p2, sharded_dir);
  g_assert_cmpstr (json_object_get_string_member (sharded, "format"), ==, "transformers");
  g_assert_cmpint (json_object_get_int_member (sharded, "weight_files"), ==, 3);
  g_assert_cmpstr (json_object_get_string_member (sharded, "stored_dtype"), ==, "F32");

  run_cli (&text, "info", "--model", openclip_dir, NULL);
  g_assert_cmpint (text.status, ==, 0);
  assert_mentions (text.out, "family: CLIP; format: open_clip");
  assert_mentions (text.out, "OpenAI's, bundled");
  assert_mentions (text.out, "offset rounded");
  run_cli (&wide, "info", "--model", wide_dir, NULL);
  g_assert_cmpint (wide.status, ==, 0);
  assert_mentions (wide.out, "shorter side resized to 48 (bicubic), centre crop 42");
  assert_mentions (wide.out, "gelu_new");
  assert_mentions (wide.out, "3 x 3 = 9 patches");
}

/* transformers -> open_clip -> transformers and open_clip -> open_clip: the same bytes. */
static void
test_convert_round_trip (void)
{
  g_autofree char *oc = NULL;
  g_autofree char *oc_again = NULL;
  g_autofree char *back = NULL;
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;
  g_autofree char *c = NULL;
  g_autofree char *d = NULL;
  g_autofree char *text_a = NULL;
  g_autofree char *text_b = NULL;
  gsize            len_a, len_b;
  g_auto (Run) to_oc = { 0 };
  g_auto (Run) again = { 0 };
  g_auto (Run) to_back = { 0 };

  if (!ensure_models ())
    return;
  oc = g_build_filename (tmp_dir, "round-oc", NULL);
  oc_again = g_build_filename (tmp_dir, "round-oc-again", NULL);
  back = g_build_filename (tmp_dir, "round-back", NULL);
  run_cli (&to_oc, "convert", "--model", transformers_dir, "--out", oc, "--format", "open_clip",
           NULL);
  g_assert_cmpint (to_oc.status, ==, 0);
  assert_mentions (to_oc.out, "open_clip");
  run_cli (&again, "convert", "--model", oc, "--out", oc_again, NULL);
  g_assert_cmpint (again.status, ==, 0);
  run_cli (&to_back, "convert", "--model", oc, "--out", back, "--format", "transformers", NULL);
  g_assert_cmpint (to_back.status, ==, 0);

  a = g_build_filename (transformers_dir, "model.safetensors", NULL);
  b = g_build_filename (back, "model.safetensors", NULL);
  g_assert_true (g_file_get_contents (a, &text_a, &len_a, NULL));
  g_assert_true (g_file_get_contents (b, &text_b, &len_b, NULL));
  g_assert_cmpmem (text_a, len_a, text_b, len_b);
  g_clear_pointer (&text_a, g_free);
  g_clear_pointer (&text_b, g_free);
  c = g_build_filename (oc, "open_clip_model.safetensors", NULL);
  d = g_build_filename (oc_again, "open_clip_model.safetensors", NULL);
  g_assert_true (g_file_get_contents (c, &text_a, &len_a, NULL));
  g_assert_true (g_file_get_contents (d, &text_b, &len_b, NULL));
  g_assert_cmpmem (text_a, len_a, text_b, len_b);
}

static void
test_convert_refused (void)
{
  g_autofree char *out = NULL;
  g_auto (Run) resize = { 0 };
  g_auto (Run) file = { 0 };
  g_auto (Run) unknown = { 0 };

  if (!ensure_models ())
    return;
  out = g_build_filename (tmp_dir, "wide-oc", NULL);
  run_cli (&resize, "convert", "--model", wide_dir, "--out", out, "--format", "open_clip", NULL);
  assert_failure (&resize, out, "resizes them to 48", NULL);
  run_cli (&file, "convert", "--model", wide_dir, "--out", "x.safetensors", "--format",
           "open_clip", NULL);
  assert_usage_error (&file, "convert", "writes a folder");
  run_cli (&unknown, "convert", "--model", wide_dir, "--out", out, "--format", "timm", NULL);
  assert_usage_error (&unknown, "convert", "unknown --format 'timm'");
}

/* The same keys whatever the kind, every value finite. */
static void
test_embed_keys (void)
{
  static const char *const keys[] = { "model", "tokens", "grid",
                                      "crop", "cosine", "image_embedding",
                                      "text_embedding", "patch_embeddings", "token_embeddings" };
  const char              *models[4];

  if (!ensure_models ())
    return;
  models[0] = transformers_dir;
  models[1] = openclip_dir;
  models[2] = sharded_dir;
  models[3] = wide_dir;
  for (gsize m = 0; m < G_N_ELEMENTS (models); m++) {
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_auto (Run) run = { 0 };
    JsonObject *root;

    run_cli (&run, "embed", "--model", models[m], "--image", image_path, "--text", "a red disc",
             NULL);
    g_assert_cmpstr (run.err, ==, "");
    g_assert_cmpint (run.status, ==, 0);
    root = parse_object (parser, run.out);
    g_assert_nonnull (root);
    g_assert_cmpuint (json_object_get_size (root), ==, G_N_ELEMENTS (keys));
    for (gsize k = 0; k < G_N_ELEMENTS (keys); k++)
      g_assert_true (json_object_has_member (root, keys[k]));
    g_assert_true (isfinite (json_object_get_double_member (root, "cosine")));
  }
}

/* Every map method on every kind: rows x cols finite values per word and method. */
static void
test_heatmap_all_methods (void)
{
  static const char *const methods[] = { "filip", "sparc", "maskclip", "sclip", "clearclip",
                                         "naclip", "gradcam", "chefer", "legrad" };
  const char              *models[3];

  if (!ensure_models ())
    return;
  models[0] = openclip_dir;
  models[1] = sharded_dir;
  models[2] = wide_dir;
  for (gsize m = 0; m < G_N_ELEMENTS (models); m++) {
    g_autofree char *json_path = g_build_filename (tmp_dir, "maps.json", NULL);
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_auto (Run) run = { 0 };
    JsonObject *root;
    JsonArray  *words;
    gint64      P;

    run_cli (&run, "heatmap", "--model", models[m], "--image", image_path, "--text",
             "a red disc", "--method", "all", "--json", json_path, NULL);
    g_assert_cmpstr (run.err, ==, "");
    g_assert_cmpint (run.status, ==, 0);
    root = parse_object_file (parser, json_path);
    g_assert_nonnull (root);
    P = json_object_get_int_member (root, "rows") * json_object_get_int_member (root, "cols");
    g_assert_cmpint (P, >, 0);
    words = json_object_get_array_member (root, "words");
    g_assert_cmpuint (json_array_get_length (words), ==, 3);
    for (guint w = 0; w < json_array_get_length (words); w++) {
      JsonObject *word = json_array_get_object_element (words, w);

      for (gsize k = 0; k < G_N_ELEMENTS (methods); k++) {
        JsonArray *map = json_object_get_array_member (word, methods[k]);

        g_assert_nonnull (map);
        g_assert_cmpuint (json_array_get_length (map), ==, (guint) P);
        for (guint p = 0; p < (guint) P; p++) {
          if (!isfinite (json_array_get_double_element (map, p)))
            g_test_fail_printf ("%s: %s map of word %u is not finite at %u", models[m],
                                methods[k], w, p);
        }
      }
    }
  }
}

/* A timm tower and a logit bias, a missing shard: one line naming the file and the problem. */
static void
test_unsupported (void)
{
  g_autofree char *folder = NULL;
  g_autofree char *config = NULL;
  g_autofree char *weights = NULL;
  g_autofree char *broken = NULL;
  g_auto (Run) timm = { 0 };
  g_auto (Run) copy = { 0 };
  g_auto (Run) missing = { 0 };
  g_auto (Run) none = { 0 };
  g_autofree char *empty = NULL;
  g_autoptr (GError) error = NULL;

  if (!ensure_models ())
    return;
  folder = g_build_filename (tmp_dir, "timm", NULL);
  config = g_build_filename (folder, "open_clip_config.json", NULL);
  weights = g_build_filename (folder, "open_clip_model.safetensors", NULL);
  g_assert_cmpint (g_mkdir_with_parents (folder, 0755), ==, 0);
  g_assert_true (g_file_set_contents (
    config,
    "{\"model_cfg\": {\"embed_dim\": 768, \"vision_cfg\": {\"timm_model_name\": "
    "\"vit_base_patch16_siglip_224\", \"timm_pool\": \"map\"}, \"text_cfg\": {\"context_length\": "
    "64, \"vocab_size\": 32000, \"hf_tokenizer_name\": \"timm/ViT-B-16-SigLIP\", \"width\": 768, "
    "\"heads\": 12, \"layers\": 12, \"no_causal_mask\": true, \"pool_type\": \"last\"}, "
    "\"init_logit_bias\": -10}}",
    -1, &error));
  run_cli (&timm, "info", "--model", folder, NULL);
  assert_failure (&timm, config, "logit bias", NULL);

  broken = g_build_filename (tmp_dir, "broken-shards", NULL);
  run_cli (&copy, "convert", "--model", transformers_dir, "--out", broken, NULL);
  g_assert_cmpint (copy.status, ==, 0);
  wp_test_shard_folder (broken, 3);
  wp_test_remove_file (broken, "model-00002-of-00003.safetensors");
  run_cli (&missing, "info", "--model", broken, NULL);
  assert_failure (&missing, "model-00002-of-00003.safetensors", NULL, NULL);

  /* A folder with no model in it says what a model folder holds. */
  empty = g_build_filename (tmp_dir, "empty", NULL);
  g_assert_cmpint (g_mkdir_with_parents (empty, 0755), ==, 0);
  run_cli (&none, "info", "--model", empty, NULL);
  assert_failure (&none, "not a model folder", "config.json", "open_clip_config.json");
}

/* Fine-tuning an open_clip model writes open_clip checkpoints, and resuming from one continues
 * bit for bit. */
static void
test_fine_tune_open_clip (void)
{
  g_autofree char *demo = wp_data_find ("demo/scenes");
  g_autofree char *run_a = NULL, *run_b = NULL, *step_2 = NULL, *step_4_b = NULL;
  g_autofree char *config = NULL, *transformers_config = NULL, *latest = NULL;
  g_autofree char *weights_a = NULL, *weights_b = NULL;
  g_autofree char *bytes_a = NULL, *bytes_b = NULL;
  gsize            len_a, len_b;
  g_auto (Run) train = { 0 };
  g_auto (Run) resume = { 0 };

  if (!ensure_models ())
    return;
  run_a = g_build_filename (tmp_dir, "run-open-clip", NULL);
  run_b = g_build_filename (tmp_dir, "run-open-clip-resumed", NULL);
  run_cli (&train, "train", "--init", openclip_dir, "--data", demo, "--out", run_a, "--steps", "4",
           "--batch", "4", "--loss", "clip", "--threads", "1", "--save-every", "2", "--keep", "10",
           NULL);
  g_assert_cmpint (train.status, ==, 0);
  config = g_build_filename (run_a, "checkpoints", "step-000000004", "open_clip_config.json", NULL);
  transformers_config =
    g_build_filename (run_a, "checkpoints", "step-000000004", "config.json", NULL);
  g_assert_true (g_file_test (config, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (transformers_config, G_FILE_TEST_EXISTS));

  /* The same run, cut after step 2. */
  {
    const char *argv[] = { "cp", "-a", run_a, run_b, NULL };
    int         status = -1;

    g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
                                 NULL, &status, NULL));
    g_assert_cmpint (status, ==, 0);
  }
  step_4_b = g_build_filename (run_b, "checkpoints", "step-000000004", NULL);
  remove_tree (step_4_b);
  latest = g_build_filename (run_b, "latest", NULL);
  step_2 = g_build_filename ("checkpoints", "step-000000002", NULL);
  g_assert_cmpint (g_unlink (latest), ==, 0);
  g_assert_cmpint (symlink (step_2, latest), ==, 0);
  run_cli (&resume, "train", "--out", run_b, "--resume", "--threads", "1", NULL);
  g_assert_cmpint (resume.status, ==, 0);

  weights_a = g_build_filename (run_a, "checkpoints", "step-000000004",
                                "open_clip_model.safetensors", NULL);
  weights_b = g_build_filename (step_4_b, "open_clip_model.safetensors", NULL);
  g_assert_true (g_file_get_contents (weights_a, &bytes_a, &len_a, NULL));
  g_assert_true (g_file_get_contents (weights_b, &bytes_b, &len_b, NULL));
  g_assert_cmpmem (bytes_a, len_a, bytes_b, len_b);
}

int
main (int    argc,
      char **argv)
{
  int status;

  wp_test_init (&argc, &argv);
  vocab_dir = g_test_build_filename (G_TEST_DIST, "data", "clip-bpe", NULL);
  g_test_add_func ("/cli-checkpoints/info", test_info);
  g_test_add_func ("/cli-checkpoints/fine-tune/open-clip", test_fine_tune_open_clip);
  g_test_add_func ("/cli-checkpoints/convert/round-trip", test_convert_round_trip);
  g_test_add_func ("/cli-checkpoints/convert/refused", test_convert_refused);
  g_test_add_func ("/cli-checkpoints/embed/same-keys", test_embed_keys);
  g_test_add_func ("/cli-checkpoints/heatmap/all-methods", test_heatmap_all_methods);
  g_test_add_func ("/cli-checkpoints/unsupported", test_unsupported);
  status = g_test_run ();
  if (tmp_dir != NULL)
    remove_tree (tmp_dir);
  g_free (tmp_dir);
  g_free (vocab_dir);
  g_free (transformers_dir);
  g_free (openclip_dir);
  g_free (sharded_dir);
  g_free (wide_dir);
  g_free (image_path);
  return status;
}
