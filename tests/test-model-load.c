/* test-model-load.c: broken model folders and files. Each is made by saving a good tiny model
 * (model-fixtures.c) and then damaging one file; each load must fail with its error code and a
 * message naming the file and, where there is one, the tensor. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "model-fixtures.h"

typedef enum {
  EDIT_NONE,
  EDIT_DROP,        /* leave the tensor out */
  EDIT_TRANSPOSE,   /* swap its two dimensions */
  EDIT_NAN,         /* its first value NaN */
  EDIT_EXTRA,       /* add a tensor of that name */
  EDIT_SCALAR_AS_1, /* store the 0-d tensor as shape [1] */
} Edit;

/* Writes the model's weights to path with one edit, and the given step metadata (or none). */
static void
write_edited_weights (const WpModel *model,
                      const char    *path,
                      Edit           edit,
                      const char    *name,
                      const char    *step)
{
  g_autofree WpSafetensorsEntry *entries = g_new0 (WpSafetensorsEntry, model->n_specs + 1);
  g_autofree float              *copy = NULL;
  g_autoptr (GHashTable) metadata = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;
  static const float  extra[2] = { 1, 2 };
  static const gint64 extra_shape[1] = { 2 }, one[1] = { 1 };
  gint64              transposed[2];
  guint               n = 0;

  for (guint i = 0; i < model->n_specs; i++) {
    const WpTensorSpec *spec = &model->specs[i];
    WpSafetensorsEntry *entry = &entries[n];
    gboolean            match = name != NULL && strcmp (spec->name, name) == 0;

    if (match && edit == EDIT_DROP)
      continue;
    entry->name = spec->name;
    entry->ndim = spec->ndim;
    entry->shape = spec->shape;
    entry->data = model->params + spec->offset;
    if (match && edit == EDIT_TRANSPOSE) {
      g_assert_cmpint (spec->ndim, ==, 2);
      transposed[0] = spec->shape[1];
      transposed[1] = spec->shape[0];
      entry->shape = transposed;
    } else if (match && edit == EDIT_NAN) {
      copy = g_memdup2 (entry->data, spec->numel * sizeof (float));
      copy[0] = NAN;
      entry->data = copy;
    } else if (match && edit == EDIT_SCALAR_AS_1) {
      g_assert_cmpint (spec->ndim, ==, 0);
      entry->ndim = 1;
      entry->shape = one;
    }
    n++;
  }
  if (edit == EDIT_EXTRA)
    entries[n++] = (WpSafetensorsEntry){ name, 1, extra_shape, extra };
  if (step != NULL)
    g_hash_table_insert (metadata, "wordpatch.step", (gpointer) step);
  wp_safetensors_write (path, entries, n, metadata, &error);
  g_assert_no_error (error);
}

/* One tiny model shared by the load tests (its tokenizer is the slow part to make), each of which
 * saves it into a fresh temporary folder: dir/model. */
static WpModel *shared_model;

typedef struct {
  char          *dir;
  char          *model_dir;
  char          *weights;
  const WpModel *model;
} Saved;

static void
saved_init (Saved *s)
{
  g_autoptr (GError) error = NULL;

  if (shared_model == NULL)
    shared_model = new_tiny_model (11);
  s->dir = wp_test_make_tmp_dir ("model");
  s->model_dir = g_build_filename (s->dir, "model", NULL);
  s->weights = g_build_filename (s->model_dir, "model.safetensors", NULL);
  s->model = shared_model;
  wp_model_save (s->model, s->model_dir, &error);
  g_assert_no_error (error);
}

static void
saved_clear (Saved *s)
{
  remove_tree (s->dir);
  g_free (s->dir);
  g_free (s->model_dir);
  g_free (s->weights);
}

static void
test_load_missing_folder (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("model");
  g_autofree char *path = g_build_filename (dir, "absent", NULL);

  expect_load_error (path, G_FILE_ERROR, G_FILE_ERROR_NOENT, path, NULL);
  remove_tree (dir);
}

/* Deletes the saved folder's file of that name; the load fails, naming it. */
static void
expect_missing_file_refused (const char *name)
{
  Saved            s;
  g_autofree char *path = NULL;

  saved_init (&s);
  path = g_build_filename (s.model_dir, name, NULL);
  g_assert_cmpint (g_unlink (path), ==, 0);
  expect_load_error (s.model_dir, G_FILE_ERROR, G_FILE_ERROR_NOENT, path, NULL);
  saved_clear (&s);
}

static void
test_load_missing_config (void)
{
  expect_missing_file_refused ("config.json");
}

/* Writes text as the saved folder's config.json, then loads it, expecting code and a message
 * naming config.json and holding fragment (may be NULL). */
static void
expect_config_refused (const char *text,
                       int         code,
                       const char *fragment)
{
  Saved            s;
  g_autofree char *config = NULL;

  saved_init (&s);
  config = g_build_filename (s.model_dir, "config.json", NULL);
  wp_test_write_text (s.model_dir, "config.json", text);
  expect_load_error (s.model_dir, WP_ERROR, code, config, fragment);
  saved_clear (&s);
}

static void
test_load_malformed_config (void)
{
  expect_config_refused ("{\"text_config\": {\"hidden_size\": 16,", WP_ERROR_FORMAT, "JSON");
}

static void
test_load_empty_config (void)
{
  expect_config_refused ("", WP_ERROR_FORMAT, NULL);
}

static void
test_load_invalid_config (void)
{
  expect_config_refused ("{\"text_config\": {\"hidden_act\": \"relu\"}, \"vision_config\": {}}",
                         WP_ERROR_UNSUPPORTED, "relu");
}

/* A config.json may describe a model of gigabytes (here 0.7 billion parameters, a 1048576-token
 * vocabulary) next to a small model.safetensors: the file's shapes are checked first, so loading
 * fails without allocating for the parameters. */
static void
test_load_config_larger_than_weights (void)
{
  Saved s;

  saved_init (&s);
  wp_test_remove_file (s.model_dir, "preprocessor_config.json");
  wp_test_write_text (s.model_dir, "config.json",
                      "{\"text_config\": {\"vocab_size\": 1048576}, \"vision_config\": {}}");
  expect_load_error (s.model_dir, WP_ERROR, WP_ERROR_SHAPE, s.weights, "expected [1048576,512]");
  saved_clear (&s);
}

/* Larger than any config: refused on its size, before it is read. */
static void
test_load_config_too_large (void)
{
  g_autofree char *text = g_strnfill (WP_CONFIG_MAX_BYTES + 1, ' ');

  expect_config_refused (text, WP_ERROR_FORMAT, "1048577 bytes, more than the limit of 1048576");
}

static void
test_load_missing_weights (void)
{
  Saved s;

  saved_init (&s);
  g_assert_cmpint (g_unlink (s.weights), ==, 0);
  expect_load_error (s.model_dir, WP_ERROR, WP_ERROR_MISSING, s.model_dir, "model.safetensors");
  saved_clear (&s);
}

static void
test_load_missing_vocab (void)
{
  expect_missing_file_refused ("vocab.json");
}

/* Saves the model with one edit of tensor name; the load fails with code, naming the weights file
 * and the tensor. */
static void
expect_edit_refused (Edit        edit,
                     const char *name,
                     int         code)
{
  g_autofree char *quoted = g_strdup_printf ("'%s'", name);
  Saved            s;

  saved_init (&s);
  write_edited_weights (s.model, s.weights, edit, name, NULL);
  expect_load_error (s.model_dir, WP_ERROR, code, s.weights, quoted);
  saved_clear (&s);
}

static void
test_load_missing_tensor (void)
{
  expect_edit_refused (EDIT_DROP, "text_model.encoder.layers.0.mlp.fc2.bias", WP_ERROR_MISSING);
}

static void
test_load_wrong_shape (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = NULL;
  Saved s;

  saved_init (&s);
  write_edited_weights (s.model, s.weights, EDIT_TRANSPOSE, "visual_projection.weight", NULL);
  model = wp_model_load (s.model_dir, &error);
  g_assert_null (model);
  g_assert_error (error, WP_ERROR, WP_ERROR_SHAPE);
  assert_error_mentions (error, s.weights);
  assert_error_mentions (error, "visual_projection.weight");
  assert_error_mentions (error, "[32,8]");
  assert_error_mentions (error, "[8,32]");
  /* The shape found comes first, the expected one second. */
  if (error != NULL)
    g_assert_true (strstr (error->message, "[32,8]") < strstr (error->message, "[8,32]"));
  saved_clear (&s);
}

static void
test_load_truncated_weights (void)
{
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  gsize len;
  Saved s;

  saved_init (&s);
  g_file_get_contents (s.weights, &contents, &len, &error);
  g_assert_no_error (error);
  g_file_set_contents (s.weights, contents, (gssize) (len / 2), &error);
  g_assert_no_error (error);
  expect_load_error (s.model_dir, WP_ERROR, WP_ERROR_FORMAT, s.weights, "truncated");
  saved_clear (&s);
}

static void
test_load_extra_tensor (void)
{
  expect_edit_refused (EDIT_EXTRA, "text_model.encoder.layers.1.mlp.fc1.weight", WP_ERROR_SHAPE);
}

/* Saves the model with one edit of tensor name; the load gives the same model. */
static void
expect_edit_accepted (Edit        edit,
                      const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) loaded = NULL;
  Saved s;

  saved_init (&s);
  write_edited_weights (s.model, s.weights, edit, name, NULL);
  loaded = wp_model_load (s.model_dir, &error);
  g_assert_no_error (error);
  assert_models_equal (loaded, s.model);
  saved_clear (&s);
}

/* transformers keeps position_ids buffers in some files; they are not weights and not errors. */
static void
test_load_position_ids_ignored (void)
{
  expect_edit_accepted (EDIT_EXTRA, "text_model.embeddings.position_ids");
}

/* transformers stores the logit scale as a 0-d tensor; a [1] tensor is accepted too. */
static void
test_load_scalar_as_vector (void)
{
  expect_edit_accepted (EDIT_SCALAR_AS_1, "logit_scale");
}

static void
test_load_nan (void)
{
  expect_edit_refused (EDIT_NAN, "vision_model.encoder.layers.1.mlp.fc1.weight",
                       WP_ERROR_NOT_FINITE);
}

static void
test_load_bad_step (void)
{
  Saved s;

  saved_init (&s);
  write_edited_weights (s.model, s.weights, EDIT_NONE, NULL, "twelve");
  expect_load_error (s.model_dir, WP_ERROR, WP_ERROR_FORMAT, s.weights, "twelve");
  saved_clear (&s);
}

/* config.json says 1000 tokens; the tokenizer files hold 49408. */
static void
test_load_vocab_larger_than_config (void)
{
  g_autofree char *json = NULL;
  WpClipConfig     config;
  Saved            s;

  saved_init (&s);
  config = s.model->config;
  config.vocab_size = 1000;
  json = wp_clip_config_to_json (&config);
  wp_test_write_text (s.model_dir, "config.json", json);
  expect_load_error (s.model_dir, WP_ERROR, WP_ERROR_SHAPE, s.model_dir, "49408");
  saved_clear (&s);
}

/* A bare file must carry the config and the tokenizer in its metadata. */
static void
test_load_bare_without_metadata (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("model");
  g_autofree char *path = g_build_filename (dir, "bare.safetensors", NULL);
  g_autoptr (WpModel) model = new_tiny_model (1);

  write_edited_weights (model, path, EDIT_NONE, NULL, NULL);
  expect_load_error (path, WP_ERROR, WP_ERROR_MISSING, path, "wordpatch.config");
  remove_tree (dir);
}

static void
test_load_bare_missing_tensor (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("model");
  g_autofree char *path = g_build_filename (dir, "x.safetensors", NULL);
  g_autoptr (WpModel) model = new_tiny_model (1);
  g_autoptr (WpSafetensors) st = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) metadata = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_autofree WpSafetensorsEntry *entries = g_new0 (WpSafetensorsEntry, model->n_specs);
  guint                          n = 0;

  /* Save a good bare file, then write it again with its metadata and without one tensor. */
  wp_model_save (model, path, &error);
  g_assert_no_error (error);
  st = wp_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_hash_table_insert (metadata, "wordpatch.config",
                       g_strdup (wp_safetensors_get_metadata (st, "wordpatch.config")));
  g_hash_table_insert (metadata, "wordpatch.vocab",
                       g_strdup (wp_safetensors_get_metadata (st, "wordpatch.vocab")));
  g_hash_table_insert (metadata, "wordpatch.merges",
                       g_strdup (wp_safetensors_get_metadata (st, "wordpatch.merges")));
  g_clear_pointer (&st, wp_safetensors_free);
  for (guint i = 0; i < model->n_specs; i++) {
    if (strcmp (model->specs[i].name, "text_projection.weight") == 0)
      continue;
    entries[n++] = (WpSafetensorsEntry){ model->specs[i].name, model->specs[i].ndim,
                                         model->specs[i].shape,
                                         model->params + model->specs[i].offset };
  }
  wp_safetensors_write (path, entries, n, metadata, &error);
  g_assert_no_error (error);
  expect_load_error (path, WP_ERROR, WP_ERROR_MISSING, path, "'text_projection.weight'");
  remove_tree (dir);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  wp_test_init (&argc, &argv);

  g_test_add_func ("/model/load/missing-folder", test_load_missing_folder);
  g_test_add_func ("/model/load/missing-config", test_load_missing_config);
  g_test_add_func ("/model/load/malformed-config", test_load_malformed_config);
  g_test_add_func ("/model/load/empty-config", test_load_empty_config);
  g_test_add_func ("/model/load/invalid-config", test_load_invalid_config);
  g_test_add_func ("/model/load/missing-weights", test_load_missing_weights);
  g_test_add_func ("/model/load/missing-vocab", test_load_missing_vocab);
  g_test_add_func ("/model/load/missing-tensor", test_load_missing_tensor);
  g_test_add_func ("/model/load/wrong-shape", test_load_wrong_shape);
  g_test_add_func ("/model/load/truncated-weights", test_load_truncated_weights);
  g_test_add_func ("/model/load/extra-tensor", test_load_extra_tensor);
  g_test_add_func ("/model/load/position-ids-ignored", test_load_position_ids_ignored);
  g_test_add_func ("/model/load/scalar-as-vector", test_load_scalar_as_vector);
  g_test_add_func ("/model/load/nan", test_load_nan);
  g_test_add_func ("/model/load/bad-step", test_load_bad_step);
  g_test_add_func ("/model/load/vocab-larger-than-config", test_load_vocab_larger_than_config);
  g_test_add_func ("/model/load/bare-without-metadata", test_load_bare_without_metadata);
  g_test_add_func ("/model/load/bare-missing-tensor", test_load_bare_missing_tensor);
  g_test_add_func ("/model/load/config-larger-than-weights", test_load_config_larger_than_weights);
  g_test_add_func ("/model/load/config-too-large", test_load_config_too_large);
  status = g_test_run ();
  g_clear_pointer (&shared_model, wp_model_free);
  return status;
}
