/* test-model.c: the tensor layout table and its views, new models, and saving and loading model
 * folders and bare files.
 *
 * Models here are tiny (model-fixtures.c) with OpenAI's vocabulary from tests/data/clip-bpe;
 * test-model-config.c reads config.json, test-model-load.c breaks saved folders. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "model-fixtures.h"

/* ---- the layout table ---- */

static const WpTensorSpec *
find_spec (const WpTensorSpec *specs,
           guint               n_specs,
           const char         *name)
{
  for (guint i = 0; i < n_specs; i++) {
    if (strcmp (specs[i].name, name) == 0)
      return &specs[i];
  }
  return NULL;
}

typedef struct {
  const char *name;
  int         ndim;
  gint64      shape[4];
} ExpectedSpec;

static void
test_specs_names_and_shapes (void)
{
  WpClipConfig  config;
  guint         n_specs;
  gsize         n_params, sum = 0, offset = 0;
  WpTensorSpec *specs;
  /* Ct 16, I 32 (text); Cv 32, I 64, p 8, 4 patches (vision); E 8; V 49408; K 16. */
  const ExpectedSpec expected[] = {
    { "text_model.embeddings.token_embedding.weight", 2, { CLIP_VOCAB, 16 } },
    { "text_model.embeddings.position_embedding.weight", 2, { 16, 16 } },
    { "text_model.encoder.layers.0.self_attn.q_proj.weight", 2, { 16, 16 } },
    { "text_model.encoder.layers.0.self_attn.k_proj.bias", 1, { 16 } },
    { "text_model.encoder.layers.0.self_attn.v_proj.weight", 2, { 16, 16 } },
    { "text_model.encoder.layers.0.self_attn.out_proj.weight", 2, { 16, 16 } },
    { "text_model.encoder.layers.0.layer_norm1.weight", 1, { 16 } },
    { "text_model.encoder.layers.0.layer_norm2.bias", 1, { 16 } },
    { "text_model.encoder.layers.0.mlp.fc1.weight", 2, { 32, 16 } },
    { "text_model.encoder.layers.0.mlp.fc1.bias", 1, { 32 } },
    { "text_model.encoder.layers.0.mlp.fc2.weight", 2, { 16, 32 } },
    { "text_model.final_layer_norm.weight", 1, { 16 } },
    { "text_model.final_layer_norm.bias", 1, { 16 } },
    { "vision_model.embeddings.class_embedding", 1, { 32 } },
    { "vision_model.embeddings.patch_embedding.weight", 4, { 32, 3, 8, 8 } },
    { "vision_model.embeddings.position_embedding.weight", 2, { 5, 32 } },
    { "vision_model.pre_layrnorm.weight", 1, { 32 } },
    { "vision_model.pre_layrnorm.bias", 1, { 32 } },
    { "vision_model.encoder.layers.1.self_attn.out_proj.bias", 1, { 32 } },
    { "vision_model.encoder.layers.1.mlp.fc1.weight", 2, { 64, 32 } },
    { "vision_model.encoder.layers.1.mlp.fc2.weight", 2, { 32, 64 } },
    { "vision_model.post_layernorm.weight", 1, { 32 } },
    { "vision_model.post_layernorm.bias", 1, { 32 } },
    { "visual_projection.weight", 2, { 8, 32 } },
    { "text_projection.weight", 2, { 8, 16 } },
    { "logit_scale", 0, { 0 } },
  };

  tiny_config (&config);
  specs = wp_tensor_specs_new (&config, &n_specs, &n_params);
  /* 2 embeddings + 16 per layer + final norm (2), 5 vision embedding tensors and pre-norm, 16 per
   * layer, post-norm (2), 2 projections, the logit scale. */
  g_assert_cmpuint (n_specs, ==, 2 + 16 * 1 + 2 + 5 + 16 * 2 + 2 + 3);
  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++) {
    const WpTensorSpec *spec = find_spec (specs, n_specs, expected[i].name);
    gsize               numel = 1;

    if (spec == NULL) {
      g_test_fail_printf ("no tensor '%s' in the layout", expected[i].name);
      continue;
    }
    g_assert_cmpint (spec->ndim, ==, expected[i].ndim);
    for (int d = 0; d < spec->ndim; d++) {
      g_assert_cmpint (spec->shape[d], ==, expected[i].shape[d]);
      numel *= (gsize) expected[i].shape[d];
    }
    g_assert_cmpuint (spec->numel, ==, numel);
  }
  /* No layer 1 in a one-layer text tower, no layer 2 in the vision tower. */
  g_assert_null (find_spec (specs, n_specs, "text_model.encoder.layers.1.mlp.fc1.weight"));
  g_assert_null (find_spec (specs, n_specs, "vision_model.encoder.layers.2.mlp.fc1.weight"));

  /* Contiguous, non-overlapping, covering n_params exactly; names unique. */
  for (guint i = 0; i < n_specs; i++) {
    gsize numel = 1;

    for (int d = 0; d < specs[i].ndim; d++)
      numel *= (gsize) specs[i].shape[d];
    g_assert_cmpuint (specs[i].numel, ==, numel);
    g_assert_cmpuint (specs[i].offset, ==, offset);
    offset += specs[i].numel;
    sum += specs[i].numel;
    g_assert_true (find_spec (specs, n_specs, specs[i].name) == &specs[i]);
  }
  g_assert_cmpuint (n_params, ==, sum);
  wp_tensor_specs_free (specs, n_specs);
}

/* Linear weights and projections decay; biases, norms, embeddings and the logit scale do not. */
static void
test_specs_decay (void)
{
  WpClipConfig  config;
  guint         n_specs;
  gsize         n_params;
  WpTensorSpec *specs;
  int           n_decayed = 0;

  tiny_config (&config);
  specs = wp_tensor_specs_new (&config, &n_specs, &n_params);
  for (guint i = 0; i < n_specs; i++) {
    const char *name = specs[i].name;
    gboolean    linear = g_str_has_suffix (name, "_proj.weight") ||
                      g_str_has_suffix (name, ".fc1.weight") ||
                      g_str_has_suffix (name, ".fc2.weight") ||
                      g_str_has_suffix (name, "projection.weight");

    if (specs[i].decay != linear)
      g_test_fail_printf ("tensor '%s' has decay %d, expected %d", name, specs[i].decay, linear);
    n_decayed += linear;
  }
  /* 6 linear weights per layer, 3 layers, plus the two projections. */
  g_assert_cmpint (n_decayed, ==, 6 * 3 + 2);
  g_assert_false (find_spec (specs, n_specs, "logit_scale")->decay);
  g_assert_false (find_spec (specs, n_specs,
                             "text_model.embeddings.token_embedding.weight")
                    ->decay);
  g_assert_false (find_spec (specs, n_specs,
                             "vision_model.embeddings.patch_embedding.weight")
                    ->decay);
  g_assert_false (find_spec (specs, n_specs, "vision_model.pre_layrnorm.weight")->decay);
  g_assert_false (find_spec (specs, n_specs, "text_model.encoder.layers.0.mlp.fc1.bias")->decay);
  g_assert_true (find_spec (specs, n_specs, "visual_projection.weight")->decay);
  g_assert_true (find_spec (specs, n_specs,
                            "text_model.encoder.layers.0.self_attn.q_proj.weight")
                   ->decay);
  wp_tensor_specs_free (specs, n_specs);
}

typedef struct {
  const char *suffix;
  gsize       field;
} LayerField;

static const LayerField layer_fields[] = {
  { "layer_norm1.weight", G_STRUCT_OFFSET (WpLayerParams, ln1_w) },
  { "layer_norm1.bias", G_STRUCT_OFFSET (WpLayerParams, ln1_b) },
  { "self_attn.q_proj.weight", G_STRUCT_OFFSET (WpLayerParams, q_w) },
  { "self_attn.q_proj.bias", G_STRUCT_OFFSET (WpLayerParams, q_b) },
  { "self_attn.k_proj.weight", G_STRUCT_OFFSET (WpLayerParams, k_w) },
  { "self_attn.k_proj.bias", G_STRUCT_OFFSET (WpLayerParams, k_b) },
  { "self_attn.v_proj.weight", G_STRUCT_OFFSET (WpLayerParams, v_w) },
  { "self_attn.v_proj.bias", G_STRUCT_OFFSET (WpLayerParams, v_b) },
  { "self_attn.out_proj.weight", G_STRUCT_OFFSET (WpLayerParams, out_w) },
  { "self_attn.out_proj.bias", G_STRUCT_OFFSET (WpLayerParams, out_b) },
  { "layer_norm2.weight", G_STRUCT_OFFSET (WpLayerParams, ln2_w) },
  { "layer_norm2.bias", G_STRUCT_OFFSET (WpLayerParams, ln2_b) },
  { "mlp.fc1.weight", G_STRUCT_OFFSET (WpLayerParams, fc1_w) },
  { "mlp.fc1.bias", G_STRUCT_OFFSET (WpLayerParams, fc1_b) },
  { "mlp.fc2.weight", G_STRUCT_OFFSET (WpLayerParams, fc2_w) },
  { "mlp.fc2.bias", G_STRUCT_OFFSET (WpLayerParams, fc2_b) },
};

static void
check_view (const float        *view,
            const float        *base,
            const WpTensorSpec *specs,
            guint               n_specs,
            const char         *name)
{
  const WpTensorSpec *spec = find_spec (specs, n_specs, name);

  if (spec == NULL)
    g_test_fail_printf ("no tensor '%s' in the layout", name);
  else if (view != base + spec->offset)
    g_test_fail_printf ("view of '%s' points at element %td, expected %" G_GSIZE_FORMAT, name,
                        view - base, spec->offset);
}

static void
check_layer_views (const WpLayerParams *layer,
                   const float         *base,
                   const WpTensorSpec  *specs,
                   guint                n_specs,
                   const char          *tower,
                   int                  l)
{
  for (gsize k = 0; k < G_N_ELEMENTS (layer_fields); k++) {
    g_autofree char *name = g_strdup_printf ("%s.encoder.layers.%d.%s", tower, l,
                                             layer_fields[k].suffix);

    check_view (G_STRUCT_MEMBER (float *, layer, layer_fields[k].field), base, specs, n_specs,
                name);
  }
}

static void
test_params_views (void)
{
  WpClipConfig      config;
  guint             n_specs;
  gsize             n_params;
  WpTensorSpec     *specs;
  WpParams          p;
  g_autofree float *base = NULL;

  tiny_config (&config);
  config.text.n_layers = 2;
  config.vision.n_layers = 3;
  specs = wp_tensor_specs_new (&config, &n_specs, &n_params);
  base = g_new0 (float, n_params);
  wp_params_init_views (&p, &config, specs, base);

  check_view (p.token_embedding, base, specs, n_specs,
              "text_model.embeddings.token_embedding.weight");
  check_view (p.text_position, base, specs, n_specs,
              "text_model.embeddings.position_embedding.weight");
  for (int l = 0; l < config.text.n_layers; l++)
    check_layer_views (&p.text_layers[l], base, specs, n_specs, "text_model", l);
  check_view (p.final_ln_w, base, specs, n_specs, "text_model.final_layer_norm.weight");
  check_view (p.final_ln_b, base, specs, n_specs, "text_model.final_layer_norm.bias");
  check_view (p.class_embedding, base, specs, n_specs, "vision_model.embeddings.class_embedding");
  check_view (p.patch_embedding, base, specs, n_specs,
              "vision_model.embeddings.patch_embedding.weight");
  check_view (p.vision_position, base, specs, n_specs,
              "vision_model.embeddings.position_embedding.weight");
  check_view (p.pre_ln_w, base, specs, n_specs, "vision_model.pre_layrnorm.weight");
  check_view (p.pre_ln_b, base, specs, n_specs, "vision_model.pre_layrnorm.bias");
  for (int l = 0; l < config.vision.n_layers; l++)
    check_layer_views (&p.vision_layers[l], base, specs, n_specs, "vision_model", l);
  check_view (p.post_ln_w, base, specs, n_specs, "vision_model.post_layernorm.weight");
  check_view (p.post_ln_b, base, specs, n_specs, "vision_model.post_layernorm.bias");
  check_view (p.visual_projection, base, specs, n_specs, "visual_projection.weight");
  check_view (p.text_projection, base, specs, n_specs, "text_projection.weight");
  check_view (p.logit_scale, base, specs, n_specs, "logit_scale");
  /* Layers beyond the configured count are left unset. */
  g_assert_null (p.text_layers[2].q_w);
  g_assert_null (p.vision_layers[3].fc1_w);
  wp_tensor_specs_free (specs, n_specs);
}

/* ---- new models ---- */

static void
test_new_random (void)
{
  g_autoptr (WpModel) model = new_tiny_model (7);
  g_autoptr (WpModel) same = new_tiny_model (7);
  g_autoptr (WpModel) other = new_tiny_model (8);
  const gsize V = CLIP_VOCAB, Ct = 16;
  double      sum = 0.0, sum_sq = 0.0;

  g_assert_null (model->path);
  g_assert_cmpint (model->step, ==, 0);
  g_assert_cmpfloat (*model->p.logit_scale, ==, 2.5f);
  for (int c = 0; c < 32; c++) {
    g_assert_cmpfloat (model->p.pre_ln_w[c], ==, 1.0f);
    g_assert_cmpfloat (model->p.pre_ln_b[c], ==, 0.0f);
    g_assert_cmpfloat (model->p.vision_layers[1].ln2_w[c], ==, 1.0f);
    g_assert_cmpfloat (model->p.vision_layers[1].out_b[c], ==, 0.0f);
  }
  for (int c = 0; c < 16; c++) {
    g_assert_cmpfloat (model->p.final_ln_w[c], ==, 1.0f);
    g_assert_cmpfloat (model->p.text_layers[0].q_b[c], ==, 0.0f);
  }
  /* Weights: normal with std 0.02. */
  for (gsize i = 0; i < V * Ct; i++) {
    sum += model->p.token_embedding[i];
    sum_sq += (double) model->p.token_embedding[i] * model->p.token_embedding[i];
  }
  g_assert_cmpfloat_with_epsilon (sum / (V * Ct), 0.0, 1e-3);
  g_assert_cmpfloat_with_epsilon (sqrt (sum_sq / (V * Ct)), 0.02, 1e-3);
  /* The seed decides everything. */
  g_assert_cmpmem (model->params, model->n_params * sizeof (float), same->params,
                   same->n_params * sizeof (float));
  g_assert_true (memcmp (model->params, other->params, model->n_params * sizeof (float)) != 0);
}

static void
test_new_random_vocab_too_small (void)
{
  WpClipConfig config;
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = NULL;

  tiny_config (&config);
  config.vocab_size = 1000;
  /* The tokenizer is taken over, also when the model cannot be made. */
  model = wp_model_new_random (&config, wp_test_clip_tokenizer (), 1, &error);
  g_assert_null (model);
  g_assert_error (error, WP_ERROR, WP_ERROR_SHAPE);
  assert_error_mentions (error, "49408");
  assert_error_mentions (error, "1000");
}

static void
test_new_random_invalid_config (void)
{
  WpClipConfig config;
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = NULL;

  tiny_config (&config);
  config.vision.n_heads = 3;
  model = wp_model_new_random (&config, wp_test_clip_tokenizer (), 1, &error);
  g_assert_null (model);
  g_assert_error (error, WP_ERROR, WP_ERROR_SHAPE);
  assert_error_mentions (error, "vision_config.hidden_size");
}

/* ---- saving and loading ---- */

static void
test_save_load_folder (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("model");
  g_autofree char *model_dir = g_build_filename (dir, "nested", "model", NULL);
  g_autoptr (WpModel) model = new_tiny_model (3);
  g_autoptr (WpModel) loaded = NULL;
  g_autoptr (GError) error = NULL;
  const char *files[] = { "config.json", "model.safetensors", "vocab.json", "merges.txt" };

  /* Something in every tensor, the logit scale included. */
  *model->p.logit_scale = 4.0f;
  model->p.text_layers[0].fc2_b[3] = -0.5f;
  wp_model_save (model, model_dir, &error);
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree char *path = g_build_filename (model_dir, files[i], NULL);

    g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  }
  loaded = wp_model_load (model_dir, &error);
  g_assert_no_error (error);
  assert_models_equal (loaded, model);
  g_assert_cmpstr (loaded->path, ==, model_dir);
  g_assert_cmpint (loaded->step, ==, 0);
  g_assert_cmpfloat (*loaded->p.logit_scale, ==, 4.0f);
  /* The tokenizer files are saved byte for byte. */
  {
    g_autofree char *vocab_path = g_build_filename (model_dir, "vocab.json", NULL);
    g_autofree char *vocab = NULL;
    gsize            len, original_len;
    const char      *original = wp_tokenizer_get_vocab_json (model->tokenizer, &original_len);

    g_file_get_contents (vocab_path, &vocab, &len, &error);
    g_assert_no_error (error);
    g_assert_cmpmem (vocab, len, original, original_len);
  }
  /* Saving again over the same folder works and changes what is loaded. */
  model->step = 12;
  model->p.visual_projection[0] = 1.0f;
  wp_model_save (model, model_dir, &error);
  g_assert_no_error (error);
  g_clear_pointer (&loaded, wp_model_free);
  loaded = wp_model_load (model_dir, &error);
  g_assert_no_error (error);
  assert_models_equal (loaded, model);
  remove_tree (dir);
}

static void
test_save_load_bare_file (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("model");
  g_autofree char *path = g_build_filename (dir, "x.safetensors", NULL);
  g_autoptr (WpModel) model = new_tiny_model (4);
  g_autoptr (WpModel) loaded = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) handle = NULL;
  int n_files = 0;

  wp_model_save (model, path, &error);
  g_assert_no_error (error);
  handle = g_dir_open (dir, 0, &error);
  g_assert_no_error (error);
  while (g_dir_read_name (handle) != NULL)
    n_files++;
  g_assert_cmpint (n_files, ==, 1);
  loaded = wp_model_load (path, &error);
  g_assert_no_error (error);
  assert_models_equal (loaded, model);
  g_assert_cmpstr (loaded->path, ==, path);
  g_clear_pointer (&handle, g_dir_close);
  remove_tree (dir);
}

/* A model saved in F16 or BF16 loads as its weights rounded to that precision, half the size; a
 * weight beyond F16's range is refused with the tensor's name and nothing is written. */
static void
test_save_half (void)
{
  static const WpDtype dtypes[] = { WP_DTYPE_F16, WP_DTYPE_BF16 };
  g_autofree char     *dir = wp_test_make_tmp_dir ("model");
  g_autofree char     *huge = g_build_filename (dir, "huge", NULL);
  g_autoptr (WpModel) model = new_tiny_model (6);
  g_autoptr (GError) error = NULL;

  for (gsize d = 0; d < G_N_ELEMENTS (dtypes); d++) {
    g_autofree char *path = g_build_filename (dir, d == 0 ? "f16" : "bf16", NULL);
    g_autofree char *weights = g_build_filename (path, "model.safetensors", NULL);
    g_autoptr (WpModel) loaded = NULL;
    GStatBuf info;

    g_assert_true (wp_model_save_as (model, path, dtypes[d], &error));
    g_assert_no_error (error);
    g_assert_cmpint (g_stat (weights, &info), ==, 0);
    g_assert_cmpint (info.st_size, <, (goffset) (model->n_params * 2 + 100000));
    loaded = wp_model_load (path, &error);
    g_assert_no_error (error);
    for (gsize i = 0; i < model->n_params; i++) {
      const float want = dtypes[d] == WP_DTYPE_F16
                           ? wp_f16_to_f32 (wp_f32_to_f16 (model->params[i]))
                           : wp_bf16_to_f32 (wp_f32_to_bf16 (model->params[i]));

      g_assert_cmpfloat (loaded->params[i], ==, want);
    }
  }
  model->p.text_projection[3] = 1e6f;
  g_assert_false (wp_model_save_as (model, huge, WP_DTYPE_F16, &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "text_projection.weight"));
  g_assert_false (g_file_test (huge, G_FILE_TEST_EXISTS));
  remove_tree (dir);
}

static void
test_save_load_step (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("model");
  g_autofree char *folder = g_build_filename (dir, "m", NULL);
  g_autofree char *file = g_build_filename (dir, "m.safetensors", NULL);
  g_autofree char *weights = g_build_filename (folder, "model.safetensors", NULL);
  g_autoptr (WpModel) model = new_tiny_model (5);
  g_autoptr (WpModel) loaded = NULL;
  g_autoptr (WpSafetensors) st = NULL;
  g_autoptr (GError) error = NULL;

  model->step = 123456789012;
  wp_model_save (model, folder, &error);
  g_assert_no_error (error);
  wp_model_save (model, file, &error);
  g_assert_no_error (error);

  st = wp_safetensors_open (weights, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (wp_safetensors_get_metadata (st, "wordpatch.step"), ==, "123456789012");
  g_assert_cmpstr (wp_safetensors_get_metadata (st, "format"), ==, "pt");
  g_clear_pointer (&st, wp_safetensors_free);

  loaded = wp_model_load (folder, &error);
  g_assert_no_error (error);
  g_assert_cmpint (loaded->step, ==, 123456789012);
  g_clear_pointer (&loaded, wp_model_free);
  loaded = wp_model_load (file, &error);
  g_assert_no_error (error);
  g_assert_cmpint (loaded->step, ==, 123456789012);
  remove_tree (dir);
}

int
main (int   argc,
      char *argv[])
{
  wp_test_init (&argc, &argv);

  g_test_add_func ("/model/specs/names-and-shapes", test_specs_names_and_shapes);
  g_test_add_func ("/model/specs/decay", test_specs_decay);
  g_test_add_func ("/model/specs/views", test_params_views);
  g_test_add_func ("/model/new/random", test_new_random);
  g_test_add_func ("/model/new/vocab-too-small", test_new_random_vocab_too_small);
  g_test_add_func ("/model/new/invalid-config", test_new_random_invalid_config);
  g_test_add_func ("/model/save/folder-round-trip", test_save_load_folder);
  g_test_add_func ("/model/save/bare-file-round-trip", test_save_load_bare_file);
  g_test_add_func ("/model/save/step", test_save_load_step);
  g_test_add_func ("/model/save/half", test_save_half);
  return g_test_run ();
}
