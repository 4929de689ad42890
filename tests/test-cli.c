/* test-cli.c: wordpatch-cli end to end ($WORDPATCH_CLI, run with g_spawn_sync).
 *
 * One tiny random model is made with "init" in a temporary folder and shared by the tests; broken
 * copies of it are made per test. Every failure must print exactly one line on stderr, starting
 * "wordpatch-cli:" and naming the file or tensor, nothing on stdout, and exit with status 1; bad
 * usage exits with status 2.
 *
 * Assertions are non-fatal here and tests return once they have failed, so the teardown still
 * runs and deletes the temporary models (about 60 MB each) before GTest stops on the failure. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli-harness.h"
#include "wordpatch/wordpatch.h"

/* Made once by ensure_model(), deleted by teardown() after a failure and at the end. */
static char    *tmp_dir;
static char    *model_dir;
static char    *image_path;
static char    *vocab_dir;
static WpModel *model;

typedef struct {
  char *copy; /* a per-test folder under tmp_dir, or NULL */
} Fixture;

static void
remove_everything (void)
{
  g_clear_pointer (&model, wp_model_free);
  if (tmp_dir != NULL)
    remove_tree (tmp_dir);
  g_clear_pointer (&tmp_dir, g_free);
  g_clear_pointer (&model_dir, g_free);
  g_clear_pointer (&image_path, g_free);
}

/* Makes the shared model once. FALSE when the test cannot go on (skipped without $WORDPATCH_CLI,
 * failed if init fails). */
static gboolean
ensure_model (void)
{
  g_auto (Run) run = { 0 };
  g_autoptr (GError) error = NULL;

  if (model != NULL)
    return TRUE;
  if (!have_cli ())
    return FALSE;
  tmp_dir = wp_test_make_tmp_dir ("cli");
  if (tmp_dir == NULL)
    return FALSE;
  model_dir = g_build_filename (tmp_dir, "tiny", NULL);
  image_path = g_build_filename (tmp_dir, "disc.png", NULL);
  if (!write_test_image (image_path))
    return FALSE;

  run_cli (&run, "init", "--config", "tiny", "--out", model_dir, "--vocab", vocab_dir, NULL);
  if (run.status != 0) {
    g_test_fail_printf ("wordpatch-cli init failed with status %d: %s", run.status, run.err);
    return FALSE;
  }
  g_assert_cmpstr (run.err, ==, "");
  assert_mentions (run.out, model_dir);

  /* The same model through the library, for building broken copies and checking numbers. */
  model = wp_model_load (model_dir, &error);
  g_assert_no_error (error);
  return model != NULL && !g_test_failed ();
}

static void
setup (Fixture      *fixture,
       gconstpointer data)
{
  fixture->copy = NULL;
}

/* A failed test stops the program right after this: leave nothing behind. */
static void
teardown (Fixture      *fixture,
          gconstpointer data)
{
  if (fixture->copy != NULL)
    remove_tree (fixture->copy);
  g_clear_pointer (&fixture->copy, g_free);
  if (g_test_failed ())
    remove_everything ();
}

/* A copy of the shared model in the fixture's folder: config.json copied, the tokenizer files
 * linked, model.safetensors linked only with_weights. */
static gboolean
make_copy (Fixture    *fixture,
           const char *name,
           gboolean    with_weights)
{
  const char *files[] = { "config.json", "vocab.json", "merges.txt", "model.safetensors" };
  g_autoptr (GError) error = NULL;

  fixture->copy = g_build_filename (tmp_dir, name, NULL);
  g_assert_cmpint (g_mkdir (fixture->copy, 0755), ==, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree char *from = g_build_filename (model_dir, files[i], NULL);
    g_autofree char *to = g_build_filename (fixture->copy, files[i], NULL);

    if (i == 0) {
      g_autofree char *text = NULL;
      gsize            len = 0;

      g_file_get_contents (from, &text, &len, &error);
      g_assert_no_error (error);
      g_file_set_contents (to, text, (gssize) len, &error);
      g_assert_no_error (error);
    } else if (i < 3 || with_weights) {
      g_assert_cmpint (symlink (from, to), ==, 0);
    }
  }
  return !g_test_failed ();
}

typedef enum {
  EDIT_DROP,
  EDIT_TRANSPOSE,
} Edit;

/* Writes dir/model.safetensors: the shared model's weights with the named tensor dropped or its
 * two dimensions swapped. */
static gboolean
write_edited_weights (const char *dir,
                      Edit        edit,
                      const char *name)
{
  g_autofree char               *path = g_build_filename (dir, "model.safetensors", NULL);
  g_autofree WpSafetensorsEntry *entries = g_new0 (WpSafetensorsEntry, model->n_specs);
  g_autoptr (GError) error = NULL;
  gint64 transposed[2];
  guint  n = 0, found = 0;

  for (guint i = 0; i < model->n_specs; i++) {
    const WpTensorSpec *spec = &model->specs[i];

    entries[n] = (WpSafetensorsEntry){ spec->name, spec->ndim, spec->shape,
                                       model->params + spec->offset };
    if (strcmp (spec->name, name) == 0) {
      found++;
      if (edit == EDIT_DROP)
        continue;
      transposed[0] = spec->shape[1];
      transposed[1] = spec->shape[0];
      entries[n].shape = transposed;
    }
    n++;
  }
  g_assert_cmpuint (found, ==, 1);
  wp_safetensors_write (path, entries, n, NULL, &error);
  g_assert_no_error (error);
  return !g_test_failed ();
}

/* The member key of obj, of the given node type, or NULL (and the test failed). */
static JsonNode *
get_member (JsonObject  *obj,
            const char  *key,
            JsonNodeType type)
{
  JsonNode *node = json_object_get_member (obj, key);

  if (node == NULL || json_node_get_node_type (node) != type) {
    g_test_fail_printf ("JSON has no member \"%s\" of the expected type", key);
    return NULL;
  }
  return node;
}

/* An integer member of obj, or -1000 when it is missing or not an integer. */
static gint64
int_member (JsonObject *obj,
            const char *key)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, key) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    return -1000;
  return json_node_get_int (node);
}

/* A JSON array of n numbers with Euclidean norm one. */
static gboolean
check_unit_vector (JsonNode   *node,
                   guint       n,
                   const char *what)
{
  JsonArray *array;
  double     sum = 0.0;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node)) {
    g_test_fail_printf ("%s is not an array", what);
    return FALSE;
  }
  array = json_node_get_array (node);
  if (json_array_get_length (array) != n) {
    g_test_fail_printf ("%s has %u elements, expected %u", what, json_array_get_length (array), n);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    JsonNode *element = json_array_get_element (array, i);
    double    v;

    if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_DOUBLE) {
      g_test_fail_printf ("%s[%u] is not a number", what, i);
      return FALSE;
    }
    v = json_node_get_double (element);
    sum += v * v;
  }
  if (!(fabs (sqrt (sum) - 1.0) <= 1e-4)) {
    g_test_fail_printf ("%s has norm %.9g", what, sqrt (sum));
    return FALSE;
  }
  return TRUE;
}

/* ---- success ---- */

static void
test_init_folder (Fixture      *fixture,
                  gconstpointer data)
{
  const char *files[] = { "config.json", "model.safetensors", "vocab.json", "merges.txt" };

  if (!ensure_model ())
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree char *path = g_build_filename (model_dir, files[i], NULL);

    g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  }
  g_assert_cmpint (model->config.image_size, ==, 64);
  g_assert_cmpint (model->config.patch_size, ==, 8);
  g_assert_cmpint (model->config.vision.width, ==, 192);
  g_assert_cmpint (model->config.vocab_size, ==, 49408);
}

static void
test_info_text (Fixture      *fixture,
                gconstpointer data)
{
  g_auto (Run) run = { 0 };

  if (!ensure_model ())
    return;
  run_cli (&run, "info", "--model", model_dir, NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_cmpstr (run.err, ==, "");
  assert_mentions (run.out, model_dir);
  assert_mentions (run.out, "parameters: ");
  assert_mentions (run.out, "tokenizer: 49408 tokens");
}

static void
test_info_json (Fixture      *fixture,
                gconstpointer data)
{
  g_auto (Run) run = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject   *root;
  JsonNode     *node;
  WpClipConfig  tiny;
  WpTensorSpec *specs;
  guint         n_specs;
  gsize         n_params;

  if (!ensure_model ())
    return;
  run_cli (&run, "info", "--model", model_dir, "--json", NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_cmpstr (run.err, ==, "");
  if ((root = parse_object (parser, run.out)) == NULL)
    return;

  /* The parameter count of the tiny preset, from the layout table. */
  wp_clip_config_init_preset (&tiny, "tiny", 49408, &error);
  g_assert_no_error (error);
  specs = wp_tensor_specs_new (&tiny, &n_specs, &n_params);
  wp_tensor_specs_free (specs, n_specs);
  if ((node = get_member (root, "parameters", JSON_NODE_VALUE)) != NULL)
    g_assert_cmpint (json_node_get_int (node), ==, (gint64) n_params);
  if ((node = get_member (root, "step", JSON_NODE_VALUE)) != NULL)
    g_assert_cmpint (json_node_get_int (node), ==, 0);
  if ((node = get_member (root, "tokenizer_vocab", JSON_NODE_VALUE)) != NULL)
    g_assert_cmpint (json_node_get_int (node), ==, 49408);
  if ((node = get_member (root, "config", JSON_NODE_OBJECT)) != NULL) {
    JsonObject *config = json_node_get_object (node);
    JsonNode   *vision = get_member (config, "vision_config", JSON_NODE_OBJECT);
    JsonNode   *text = get_member (config, "text_config", JSON_NODE_OBJECT);

    if (vision != NULL)
      g_assert_cmpint (int_member (json_node_get_object (vision), "image_size"), ==, 64);
    if (text != NULL)
      g_assert_cmpint (int_member (json_node_get_object (text), "hidden_size"), ==, 192);
  }
}

/* init can write one self-contained file, which info reads like a folder. */
static void
test_init_bare_file (Fixture      *fixture,
                     gconstpointer data)
{
  g_autofree char *path = NULL;
  g_auto (Run) init = { 0 };
  g_auto (Run) info = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root;

  if (!ensure_model ())
    return;
  path = g_build_filename (tmp_dir, "bare.safetensors", NULL);
  run_cli (&init, "init", "--out", path, "--vocab", vocab_dir, "--seed", "3", NULL);
  g_assert_cmpint (init.status, ==, 0);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  if (g_test_failed ())
    return;
  run_cli (&info, "info", "--json", "--model", path, NULL);
  g_unlink (path);
  g_assert_cmpint (info.status, ==, 0);
  if ((root = parse_object (parser, info.out)) == NULL)
    return;
  g_assert_cmpint (int_member (root, "parameters"), ==, (gint64) model->n_params);
}

/* convert writes a model in F16 that info reads with the same parameter count, half the size on
 * disk; a bad --dtype or a missing --out is a usage error. */
static void
test_convert (Fixture      *fixture,
              gconstpointer data)
{
  g_autofree char *out = NULL;
  g_autofree char *weights = NULL;
  g_auto (Run) convert = { 0 };
  g_auto (Run) info = { 0 };
  g_auto (Run) bad_dtype = { 0 };
  g_auto (Run) no_out = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root;
  GStatBuf    stat_half;

  if (!ensure_model ())
    return;
  out = g_build_filename (tmp_dir, "half", NULL);
  run_cli (&convert, "convert", "--model", model_dir, "--out", out, "--dtype", "f16", NULL);
  g_assert_cmpint (convert.status, ==, 0);
  assert_mentions (convert.out, "F16");
  weights = g_build_filename (out, "model.safetensors", NULL);
  g_assert_cmpint (g_stat (weights, &stat_half), ==, 0);
  g_assert_cmpint (stat_half.st_size, <, (goffset) (model->n_params * 2 + 100000));
  run_cli (&info, "info", "--json", "--model", out, NULL);
  g_assert_cmpint (info.status, ==, 0);
  if ((root = parse_object (parser, info.out)) != NULL)
    g_assert_cmpint (int_member (root, "parameters"), ==, (gint64) model->n_params);
  run_cli (&bad_dtype, "convert", "--model", model_dir, "--out", out, "--dtype", "f8", NULL);
  g_assert_cmpint (bad_dtype.status, ==, 2);
  assert_mentions (bad_dtype.err, "--dtype");
  run_cli (&no_out, "convert", "--model", model_dir, NULL);
  g_assert_cmpint (no_out.status, ==, 2);
  remove_tree (out);
}

static void
test_embed (Fixture      *fixture,
            gconstpointer data)
{
  static const struct {
    const char  *key;
    JsonNodeType type;
  } members[] = {
    { "tokens", JSON_NODE_ARRAY },
    { "grid", JSON_NODE_ARRAY },
    { "crop", JSON_NODE_ARRAY },
    { "cosine", JSON_NODE_VALUE },
    { "image_embedding", JSON_NODE_ARRAY },
    { "text_embedding", JSON_NODE_ARRAY },
    { "patch_embeddings", JSON_NODE_ARRAY },
    { "token_embeddings", JSON_NODE_ARRAY },
  };
  const char *texts[] = { "<|startoftext|>", "a", "red", "circle", "<|endoftext|>" };
  const int   E = 128;
  g_auto (Run) run = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root;
  JsonArray  *tokens, *grid, *crop, *patches, *token_embeddings, *image_embedding, *text_embedding;
  double      cosine = 0.0;

  if (!ensure_model ())
    return;
  run_cli (&run, "embed", "--model", model_dir, "--image", image_path, "--text", "a red circle",
           NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_cmpstr (run.err, ==, "");
  if ((root = parse_object (parser, run.out)) == NULL)
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (members); i++)
    get_member (root, members[i].key, members[i].type);
  if (g_test_failed ())
    return;

  tokens = json_object_get_array_member (root, "tokens");
  g_assert_cmpuint (json_array_get_length (tokens), ==, 5);
  if (g_test_failed ())
    return;
  for (guint t = 0; t < 5; t++) {
    JsonObject *token = json_array_get_object_element (tokens, t);

    g_assert_cmpstr (json_object_get_string_member_with_default (token, "text", ""), ==, texts[t]);
    g_assert_cmpint (int_member (token, "word"), ==, t == 0 || t == 4 ? -1 : (gint64) t - 1);
  }
  g_assert_cmpint (int_member (json_array_get_object_element (tokens, 0), "id"), ==, 49406);
  g_assert_cmpint (int_member (json_array_get_object_element (tokens, 4), "id"), ==, 49407);

  grid = json_object_get_array_member (root, "grid");
  g_assert_cmpuint (json_array_get_length (grid), ==, 2);
  if (json_array_get_length (grid) == 2) {
    g_assert_cmpint (json_array_get_int_element (grid, 0), ==, 8);
    g_assert_cmpint (json_array_get_int_element (grid, 1), ==, 8);
  }

  /* 80 x 60 at S = 64: height 60 -> 64, width int(64 * 80 / 60) = 85, crop left
   * (85 - 64) / 2 = 10 in the resized image. */
  crop = json_object_get_array_member (root, "crop");
  g_assert_cmpuint (json_array_get_length (crop), ==, 4);
  if (json_array_get_length (crop) == 4) {
    g_assert_cmpfloat_with_epsilon (json_array_get_double_element (crop, 0), 10.0 * 80 / 85, 1e-6);
    g_assert_cmpfloat_with_epsilon (json_array_get_double_element (crop, 1), 0.0, 1e-6);
    g_assert_cmpfloat_with_epsilon (json_array_get_double_element (crop, 2), 64.0 * 80 / 85, 1e-6);
    g_assert_cmpfloat_with_epsilon (json_array_get_double_element (crop, 3), 60.0, 1e-6);
  }

  if (!check_unit_vector (json_object_get_member (root, "image_embedding"), E, "image_embedding") ||
      !check_unit_vector (json_object_get_member (root, "text_embedding"), E, "text_embedding"))
    return;
  image_embedding = json_object_get_array_member (root, "image_embedding");
  text_embedding = json_object_get_array_member (root, "text_embedding");
  for (int e = 0; e < E; e++) {
    const double a = json_array_get_double_element (image_embedding, e);
    const double b = json_array_get_double_element (text_embedding, e);

    cosine += a * b;
  }
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (root, "cosine"), cosine, 1e-5);

  patches = json_object_get_array_member (root, "patch_embeddings");
  g_assert_cmpuint (json_array_get_length (patches), ==, 64);
  for (guint p = 0; p < json_array_get_length (patches); p++) {
    g_autofree char *what = g_strdup_printf ("patch_embeddings[%u]", p);

    if (!check_unit_vector (json_array_get_element (patches, p), E, what))
      return;
  }
  token_embeddings = json_object_get_array_member (root, "token_embeddings");
  g_assert_cmpuint (json_array_get_length (token_embeddings), ==, 5);
  for (guint t = 0; t < json_array_get_length (token_embeddings); t++) {
    g_autofree char *what = g_strdup_printf ("token_embeddings[%u]", t);

    if (!check_unit_vector (json_array_get_element (token_embeddings, t), E, what))
      return;
  }
  /* The pooled text embedding is the end token's. */
  if (json_array_get_length (token_embeddings) == 5) {
    JsonArray *end = json_array_get_array_element (token_embeddings, 4);

    for (int e = 0; e < E; e++)
      g_assert_cmpfloat_with_epsilon (json_array_get_double_element (text_embedding, e),
                                      json_array_get_double_element (end, e), 1e-6);
  }
}

/* ---- failures ---- */

static void
test_missing_tensor (Fixture      *fixture,
                     gconstpointer data)
{
  g_autofree char *weights = NULL;
  g_auto (Run) run = { 0 };

  if (!ensure_model () || !make_copy (fixture, "missing-tensor", FALSE) ||
      !write_edited_weights (fixture->copy, EDIT_DROP, "text_projection.weight"))
    return;
  weights = g_build_filename (fixture->copy, "model.safetensors", NULL);
  run_cli (&run, "embed", "--model", fixture->copy, "--image", image_path, "--text", "a cat", NULL);
  assert_failure (&run, weights, "'text_projection.weight'", "missing");
}

static void
test_wrong_shape (Fixture      *fixture,
                  gconstpointer data)
{
  g_autofree char *weights = NULL;
  g_auto (Run) run = { 0 };

  if (!ensure_model () || !make_copy (fixture, "wrong-shape", FALSE) ||
      !write_edited_weights (fixture->copy, EDIT_TRANSPOSE, "visual_projection.weight"))
    return;
  weights = g_build_filename (fixture->copy, "model.safetensors", NULL);
  run_cli (&run, "embed", "--model", fixture->copy, "--image", image_path, "--text", "a cat", NULL);
  assert_failure (&run, weights, "visual_projection.weight", "[192,128]");
  assert_mentions (run.err, "[128,192]");
}

static void
test_truncated_weights (Fixture      *fixture,
                        gconstpointer data)
{
  g_autofree char *weights = NULL;
  g_autofree char *good = NULL;
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (Run) run = { 0 };
  gsize len = 0;

  if (!ensure_model () || !make_copy (fixture, "truncated", FALSE))
    return;
  weights = g_build_filename (fixture->copy, "model.safetensors", NULL);
  good = g_build_filename (model_dir, "model.safetensors", NULL);
  g_file_get_contents (good, &contents, &len, &error);
  g_assert_no_error (error);
  g_file_set_contents (weights, contents, (gssize) (len / 2), &error);
  g_assert_no_error (error);
  if (g_test_failed ())
    return;
  run_cli (&run, "info", "--model", fixture->copy, NULL);
  assert_failure (&run, weights, "truncated", NULL);
}

static void
check_config_failure (Fixture    *fixture,
                      const char *name,
                      const char *text,
                      const char *fragment)
{
  g_autofree char *config = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (Run) run = { 0 };

  if (!ensure_model () || !make_copy (fixture, name, TRUE))
    return;
  config = g_build_filename (fixture->copy, "config.json", NULL);
  g_file_set_contents (config, text, -1, &error);
  g_assert_no_error (error);
  run_cli (&run, "embed", "--model", fixture->copy, "--image", image_path, "--text", "a cat", NULL);
  assert_failure (&run, config, fragment, NULL);
}

static void
test_malformed_config (Fixture      *fixture,
                       gconstpointer data)
{
  check_config_failure (fixture, "malformed-config", "{\"text_config\": {\"hidden_size\": 192,",
                        "JSON");
}

static void
test_empty_config (Fixture      *fixture,
                   gconstpointer data)
{
  check_config_failure (fixture, "empty-config", "", NULL);
}

static void
test_corrupt_image (Fixture      *fixture,
                    gconstpointer data)
{
  g_autofree char *path = NULL;
  g_autoptr (GRand) rand = g_rand_new_with_seed (3);
  g_autoptr (GError) error = NULL;
  g_auto (Run) run = { 0 };
  char bytes[512];

  if (!ensure_model ())
    return;
  path = g_build_filename (tmp_dir, "noise.png", NULL);
  for (gsize i = 0; i < sizeof bytes; i++)
    bytes[i] = (char) g_rand_int_range (rand, 0, 256);
  g_file_set_contents (path, bytes, sizeof bytes, &error);
  g_assert_no_error (error);
  run_cli (&run, "embed", "--model", model_dir, "--image", path, "--text", "a cat", NULL);
  g_unlink (path);
  assert_failure (&run, path, NULL, NULL);
}

static void
test_missing_image (Fixture      *fixture,
                    gconstpointer data)
{
  g_autofree char *path = NULL;
  g_auto (Run) run = { 0 };

  if (!ensure_model ())
    return;
  path = g_build_filename (tmp_dir, "absent.png", NULL);
  run_cli (&run, "embed", "--model", model_dir, "--image", path, "--text", "a cat", NULL);
  assert_failure (&run, path, NULL, NULL);
}

static void
test_missing_model (Fixture      *fixture,
                    gconstpointer data)
{
  g_autofree char *path = NULL;
  g_auto (Run) run = { 0 };

  if (!ensure_model ())
    return;
  path = g_build_filename (tmp_dir, "no-such-model", NULL);
  run_cli (&run, "embed", "--model", path, "--image", image_path, "--text", "a cat", NULL);
  assert_failure (&run, path, NULL, NULL);
}

static void
test_init_unknown_size (Fixture      *fixture,
                        gconstpointer data)
{
  g_autofree char *out = NULL;
  g_auto (Run) run = { 0 };

  if (!ensure_model ())
    return;
  out = g_build_filename (tmp_dir, "huge", NULL);
  run_cli (&run, "init", "--config", "huge", "--out", out, "--vocab", vocab_dir, NULL);
  g_assert_cmpint (run.status, ==, 2);
  assert_mentions (run.err, "--config");
  assert_mentions (run.err, "'huge'");
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
}

/* A phone's photo: a JPEG whose EXIF orientation says to turn it 90 degrees clockwise. embed
 * reads it as the PNG of its pixels turned by hand here, and with --stored-orientation as the PNG
 * of its pixels as stored. */
static void
test_embed_exif_orientation (Fixture      *fixture,
                             gconstpointer data)
{
  const int          W = 40, H = 24;
  g_autofree guint8 *pixels = wp_test_pattern_pixels (W, H, 3);
  g_autoptr (GError) error = NULL;
  g_autoptr (WpImage) stored = NULL;
  g_autoptr (WpImage) turned = wp_image_new (H, W);
  g_autofree char *photo = NULL, *stored_png = NULL, *turned_png = NULL;
  g_auto (Run) upright_run = { 0 };
  g_auto (Run) turned_run = { 0 };
  g_auto (Run) as_stored_run = { 0 };
  g_auto (Run) stored_run = { 0 };

  if (!ensure_model ())
    return;
  photo = g_build_filename (tmp_dir, "photo.jpg", NULL);
  stored_png = g_build_filename (tmp_dir, "stored.png", NULL);
  turned_png = g_build_filename (tmp_dir, "turned.png", NULL);
  wp_test_write_exif_jpeg (photo, pixels, W, H, 6, FALSE);

  stored = wp_image_load (photo, &error);
  g_assert_no_error (error);
  /* Turned clockwise: the stored image's left column becomes the top row. */
  for (int y = 0; y < W; y++) {
    for (int x = 0; x < H; x++) {
      const guint8 *from = stored->rgb + ((gsize) (H - 1 - x) * W + y) * 3;

      memcpy (turned->rgb + ((gsize) y * H + x) * 3, from, 3);
    }
  }
  g_assert_true (wp_image_save_png (stored, stored_png, NULL, &error));
  g_assert_true (wp_image_save_png (turned, turned_png, NULL, &error));

  run_cli (&upright_run, "embed", "--model", model_dir, "--image", photo, "--text", "a cat", NULL);
  run_cli (&turned_run, "embed", "--model", model_dir, "--image", turned_png, "--text", "a cat",
           NULL);
  run_cli (&as_stored_run, "embed", "--model", model_dir, "--image", photo, "--text", "a cat",
           "--stored-orientation", NULL);
  run_cli (&stored_run, "embed", "--model", model_dir, "--image", stored_png, "--text", "a cat",
           NULL);
  g_assert_cmpint (upright_run.status, ==, 0);
  g_assert_cmpint (as_stored_run.status, ==, 0);
  g_assert_cmpstr (upright_run.out, ==, turned_run.out);
  g_assert_cmpstr (as_stored_run.out, ==, stored_run.out);
  g_assert_cmpstr (upright_run.out, !=, as_stored_run.out);
}

/* ---- usage ---- */

/* Every command: an unknown option, and a wrong or missing value, exit with status 2 and one line
 * "wordpatch-cli COMMAND: ..." naming the problem. */
static void
test_usage (Fixture      *fixture,
            gconstpointer data)
{
  static const char *const commands[] = { "info", "embed", "init", "loss", "shapes",
                                          "heatmap", "train", "eval", "bench" };
  static const struct {
    const char *args[12];
    const char *fragment;
  } cases[] = {
    { { "info", "--model", "M", "stray" }, "stray" },
    { { "embed", "--model", "M", "--text", "a cat" }, "--image" },
    { { "init", "--config", "huge", "--out", "O" }, "'huge'" },
    { { "init", "--config", "tiny" }, "--out" },
    { { "loss", "--model", "M" }, "--data" },
    { { "loss", "--model", "M", "--data", "D", "--lambda-fine", "-1" }, "--lambda-fine" },
    { { "shapes", "--out", "O", "--count", "0", "--seed", "1" }, "--count" },
    { { "heatmap", "--image", "I", "--text", "a", "--out", "x.png", "--method", "x" }, "'x'" },
    { { "heatmap", "--image", "I", "--text", "a", "--out", "x.bmp" }, ".png, .svg or .pdf" },
    { { "heatmap", "--data", "D", "--out-dir", "O", "--stored-orientation" },
      "--stored-orientation goes with --image" },
    { { "loss", "--model", "M", "--data", "D", "--sparc-negatives", "tokens" },
      "caption, batch, images, unshared-images or pairs" },
    { { "train", "--config", "tiny", "--data", "D", "--out", "O", "--batch", "1" }, "--batch" },
    { { "train", "--config", "tiny", "--data", "D", "--out", "O", "--sparc-patch-side", "0.1",
        "--sparc-negatives", "caption" },
      "--sparc-negatives pairs" },
    { { "loss", "--model", "M", "--data", "D", "--sparc-patch-side", "0.1", "--sparc-negatives",
        "batch" },
      "--sparc-negatives pairs" },
    { { "bench", "--sparc-patch-side", "0.1", "--sparc-negatives", "images" },
      "--sparc-negatives pairs" },
    { { "train", "--config", "tiny", "--data", "D", "--out", "O", "--loss", "x" },
      "clip, filip, sparc or sigmoid" },
    { { "eval", "--model", "M" }, "--data" },
    { { "bench", "--iterations", "0" }, "--iterations" },
    { { "bench", "--config", "huge" }, "'huge'" },
  };
  g_autofree char *never = NULL;

  if (!ensure_model ())
    return;
  never = g_build_filename (tmp_dir, "never", NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++) {
    g_auto (Run) run = { 0 };

    run_cli (&run, commands[i], "--bogus", NULL);
    assert_usage_error (&run, commands[i], "--bogus");
  }
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    const char *args[G_N_ELEMENTS (cases[i].args) + 1] = { NULL };
    g_auto (Run) run = { 0 };

    /* M, D, I: the shared model, a folder, the test image; O: a path that is never made (nor are
     * x.png and x.bmp: every case stops before writing). */
    for (gsize a = 0; cases[i].args[a] != NULL; a++) {
      const char *arg = cases[i].args[a];

      args[a] = strcmp (arg, "M") == 0   ? model_dir
                : strcmp (arg, "D") == 0 ? tmp_dir
                : strcmp (arg, "I") == 0 ? image_path
                : strcmp (arg, "O") == 0 ? never
                                         : arg;
    }
    run_cli_argv (&run, args, NULL, NULL);
    assert_usage_error (&run, args[0], cases[i].fragment);
  }
  g_assert_false (g_file_test (never, G_FILE_TEST_EXISTS));
}

static void
test_unknown_command (Fixture      *fixture,
                      gconstpointer data)
{
  g_auto (Run) run = { 0 };
  g_auto (Run) none = { 0 };
  g_auto (Run) help = { 0 };

  if (!ensure_model ())
    return;
  run_cli (&run, "frobnicate", NULL);
  g_assert_cmpint (run.status, ==, 2);
  assert_mentions (run.err, "wordpatch-cli: unknown command 'frobnicate'");
  run_cli (&none, NULL);
  g_assert_cmpint (none.status, ==, 2);
  assert_mentions (none.err, "Usage");
  run_cli (&help, "--help", NULL);
  g_assert_cmpint (help.status, ==, 0);
  assert_mentions (help.out, "embed");
}

/* A dataset folder under tmp_dir holding the test image twice and the given captions file. */
static char *
make_dataset (const char *name,
              const char *file,
              const char *contents)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *image = NULL;
  g_autofree char *target = NULL;
  char            *dir = g_build_filename (tmp_dir, name, NULL);

  g_mkdir_with_parents (dir, 0755);
  image = g_build_filename (dir, "disc.png", NULL);
  g_assert_true (write_test_image (image));
  target = g_build_filename (dir, file, NULL);
  g_file_set_contents (target, contents, -1, &error);
  g_assert_no_error (error);
  return dir;
}

static void
test_loss_json (Fixture      *fixture,
                gconstpointer data)
{
  static const char *const objectives[] = { "clip", "filip", "sparc" };
  g_autofree char         *dir = NULL;
  g_autofree char         *grads = NULL;

  if (!ensure_model ())
    return;
  dir =
    make_dataset ("loss-ok", "captions.tsv", "disc.png\ta red disc\ndisc.png\tsomething white\n");
  grads = g_build_filename (tmp_dir, "grads.safetensors", NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (objectives); i++) {
    g_auto (Run) run = { 0 };
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_autoptr (WpSafetensors) st = NULL;
    g_autoptr (GError) error = NULL;
    JsonObject *obj;

    run_cli (&run, "loss", "--model", model_dir, "--data", dir, "--loss", objectives[i], "--batch",
             "2", "--grads", grads, "--json", NULL);
    g_assert_cmpint (run.status, ==, 0);
    json_parser_load_from_data (parser, run.out, -1, &error);
    g_assert_no_error (error);
    obj = json_node_get_object (json_parser_get_root (parser));
    g_assert_cmpint (json_object_get_int_member (obj, "pairs"), ==, 2);
    g_assert_true (isfinite (json_object_get_double_member (obj, "loss")));
    g_assert_cmpfloat (json_object_get_double_member (obj, "loss"), >, 0.0);
    st = wp_safetensors_open (grads, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (wp_safetensors_get_n_tensors (st), ==, model->n_specs);
    g_assert_nonnull (wp_safetensors_lookup (st, "visual_projection.weight"));
  }
}

static void
test_loss_bad_data (Fixture      *fixture,
                    gconstpointer data)
{
  g_autofree char *empty = NULL;
  g_autofree char *malformed = NULL;
  g_autofree char *missing_image = NULL;
  g_autofree char *absent = NULL;
  g_autofree char *junk = NULL;
  g_autofree char *two = NULL;
  g_auto (Run) run_empty = { 0 };
  g_auto (Run) run_malformed = { 0 };
  g_auto (Run) run_missing = { 0 };
  g_auto (Run) run_too_many = { 0 };
  g_auto (Run) run_objective = { 0 };

  if (!ensure_model ())
    return;
  empty = make_dataset ("loss-empty", "captions.jsonl", "\n\n");
  run_cli (&run_empty, "loss", "--model", model_dir, "--data", empty, "--batch", "1", NULL);
  assert_failure (&run_empty, empty, "empty", NULL);

  malformed = make_dataset ("loss-malformed", "captions.jsonl",
                            "{\"image\": \"disc.png\", \"caption\": \"ok\"}\n{\"image\": "
                            "3}\n{\"image\": \"gone.png\", \"caption\": \"x\"}\n"
                            "{\"image\": \"junk.png\", \"caption\": \"x\"}\n{\"image\": "
                            "\"disc.png\", \"caption\": \"x\", \"boxes\": [{\"word\": \"x\"}]}\n");
  junk = g_build_filename (malformed, "junk.png", NULL);
  g_assert_true (g_file_set_contents (junk, "\x89PNG not really", -1, NULL));
  run_cli (&run_malformed, "loss", "--model", model_dir, "--data", malformed, "--batch", "1", NULL);
  g_assert_cmpint (run_malformed.status, ==, 0);
  assert_mentions (run_malformed.err, "captions.jsonl line 2");
  assert_mentions (run_malformed.err, "gone.png does not exist");
  assert_mentions (run_malformed.err, "junk.png");
  assert_mentions (run_malformed.err, "line 5: every box needs numbers");
  assert_mentions (
    run_malformed.err,
    "4 pairs skipped: 2 bad lines, 1 missing image, 1 undecodable image; using the other 1");

  missing_image = make_dataset ("loss-missing-image", "captions.tsv", "nowhere.png\ta cat\n");
  absent = g_build_filename (missing_image, "nowhere.png", NULL);
  run_cli (&run_missing, "loss", "--model", model_dir, "--data", missing_image, "--batch", "1",
           NULL);
  assert_failure (&run_missing, "no usable pair", absent, NULL);

  two =
    make_dataset ("loss-two", "captions.tsv", "disc.png\ta red disc\ndisc.png\tsomething white\n");
  run_cli (&run_too_many, "loss", "--model", model_dir, "--data", two, "--batch", "5", NULL);
  assert_failure (&run_too_many, "2 pairs", NULL, NULL);

  run_cli (&run_objective, "loss", "--model", model_dir, "--data", missing_image, "--loss", "mse",
           NULL);
  g_assert_cmpint (run_objective.status, ==, 2);
  assert_mentions (run_objective.err, "mse");
}

#define add_test(path, func) g_test_add (path, Fixture, NULL, setup, func, teardown)

int
main (int   argc,
      char *argv[])
{
  int status;

  wp_test_init (&argc, &argv);
  vocab_dir = g_test_build_filename (G_TEST_DIST, "data", "clip-bpe", NULL);

  add_test ("/cli/init/folder", test_init_folder);
  add_test ("/cli/init/bare-file", test_init_bare_file);
  add_test ("/cli/convert/f16", test_convert);
  add_test ("/cli/init/unknown-size", test_init_unknown_size);
  add_test ("/cli/info/text", test_info_text);
  add_test ("/cli/info/json", test_info_json);
  add_test ("/cli/embed/json", test_embed);
  add_test ("/cli/embed/exif-orientation", test_embed_exif_orientation);
  add_test ("/cli/loss/json-and-gradients", test_loss_json);
  add_test ("/cli/loss/bad-data", test_loss_bad_data);
  add_test ("/cli/fail/missing-tensor", test_missing_tensor);
  add_test ("/cli/fail/wrong-shape", test_wrong_shape);
  add_test ("/cli/fail/truncated-weights", test_truncated_weights);
  add_test ("/cli/fail/malformed-config", test_malformed_config);
  add_test ("/cli/fail/empty-config", test_empty_config);
  add_test ("/cli/fail/corrupt-image", test_corrupt_image);
  add_test ("/cli/fail/missing-image", test_missing_image);
  add_test ("/cli/fail/missing-model", test_missing_model);
  add_test ("/cli/usage/every-command", test_usage);
  add_test ("/cli/usage/unknown-command", test_unknown_command);

  status = g_test_run ();
  remove_everything ();
  g_free (vocab_dir);
  return status;
}
