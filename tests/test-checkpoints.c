/* test-checkpoints.c: open_clip checkpoints: open_clip_config.json (what it reads, what it refuses
 * by key, what it writes) and open_clip folders (bit-identical round trips, OpenAI's bundled
 * vocabulary standing in for a missing one, each broken file named). Models are tiny
 * (model-fixtures.c), their vocabulary learnt from three captions, except where OpenAI's
 * (tests/data/clip-bpe) is the point; test-checkpoints-transformers.c has the other kinds. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "assert-config.h"
#include "model-fixtures.h"

/* ---- open_clip_config.json ---- */

static gboolean
parse_openclip (WpClipConfig *config,
                const char   *json,
                GError      **error)
{
  return wp_openclip_config_parse (config, json, strlen (json), error);
}

/* open_clip's ViT-B-32.json as the hub folders have it: everything else takes open_clip's
 * defaults. */
static void
test_openclip_config_vit_b32 (void)
{
  const char *json =
    "{\"model_cfg\": {\"embed_dim\": 512, \"vision_cfg\": {\"image_size\": 224, \"layers\": 12, "
    "\"width\": 768, \"patch_size\": 32}, \"text_cfg\": {\"context_length\": 77, \"vocab_size\": "
    "49408, \"width\": 512, \"heads\": 8, \"layers\": 12}}, \"preprocess_cfg\": {\"mean\": "
    "[0.48145466, 0.4578275, 0.40821073], \"std\": [0.26862954, 0.26130258, 0.27577711], "
    "\"interpolation\": \"bicubic\", \"resize_mode\": \"shortest\"}}";
  WpClipConfig config;
  g_autoptr (GError) error = NULL;

  g_assert_true (parse_openclip (&config, json, &error));
  g_assert_no_error (error);
  g_assert_cmpint (config.family, ==, WP_MODEL_FAMILY_CLIP);
  g_assert_cmpint (config.projection_dim, ==, 512);
  g_assert_cmpint (config.vision.n_heads, ==, 12); /* 768 / head_width 64 */
  g_assert_cmpint (config.vision.mlp_width, ==, 3072);
  g_assert_cmpint (config.text.mlp_width, ==, 2048);
  g_assert_cmpint (config.vision.activation, ==, WP_ACTIVATION_GELU);
  g_assert_cmpint (config.text.activation, ==, WP_ACTIVATION_GELU);
  g_assert_cmpfloat (config.vision.layer_norm_eps, ==, 1e-5f);
  g_assert_cmpint (config.text_pooling, ==, WP_TEXT_POOL_ARGMAX);
  g_assert_cmpint (config.preprocess.crop_offset, ==, WP_CROP_OFFSET_ROUND);
  g_assert_cmpint (config.preprocess.resize_size, ==, 0);
  g_assert_cmpfloat_with_epsilon (config.logit_scale_init, 2.6592600, 1e-6);
  g_assert_cmpfloat_with_epsilon (config.image_std[2], 0.27577711, 1e-7);
}

/* ViT-bigG-14's sizes: a ratio 4.9231 that truncates to 8192, heads from head_width; and the
 * options a standard tower may have. */
static void
test_openclip_config_options (void)
{
  const char *json =
    "{\"model_cfg\": {\"embed_dim\": 64, \"quick_gelu\": true, \"init_logit_scale\": 2.0, "
    "\"vision_cfg\": {\"image_size\": [28, 28], \"layers\": 1, \"width\": 1664, \"head_width\": "
    "104, \"mlp_ratio\": 4.9231, \"patch_size\": 14, \"patch_dropout\": 0.5, \"norm_kwargs\": "
    "{\"eps\": 1e-6}}, \"text_cfg\": {\"context_length\": 8, \"vocab_size\": 49408, \"width\": "
    "32, \"heads\": 4, \"layers\": 1, \"pool_type\": \"eos\", \"eos_id\": 49407, \"pad_id\": 0, "
    "\"tokenizer_kwargs\": {\"clean\": \"lower\"}}}, \"preprocess_cfg\": {\"mean\": 0.5, \"std\": "
    "0.25, \"interpolation\": \"bilinear\", \"resize_mode\": \"squash\", \"size\": 999, "
    "\"fill_color\": 0}, \"wordpatch\": {\"objective\": \"sparc\", \"similarity\": "
    "\"sparc\"}}";
  WpClipConfig config;
  g_autoptr (GError) error = NULL;

  g_assert_true (parse_openclip (&config, json, &error));
  g_assert_no_error (error);
  g_assert_cmpint (config.image_size, ==, 28);
  g_assert_cmpint (config.vision.n_heads, ==, 16);
  g_assert_cmpint (config.vision.mlp_width, ==, 8192);
  g_assert_cmpfloat (config.vision.layer_norm_eps, ==, 1e-6f);
  g_assert_cmpint (config.vision.activation, ==, WP_ACTIVATION_QUICK_GELU);
  g_assert_cmpint (config.text.activation, ==, WP_ACTIVATION_QUICK_GELU);
  g_assert_cmpint (config.text_pooling, ==, WP_TEXT_POOL_EOS);
  g_assert_cmpint (config.eos_token_id, ==, 49407);
  g_assert_cmpfloat (config.logit_scale_init, ==, 2.0f);
  g_assert_cmpfloat (config.image_mean[2], ==, 0.5f);
  g_assert_cmpfloat (config.image_std[0], ==, 0.25f);
  g_assert_cmpint (config.preprocess.interpolation, ==, WP_INTERPOLATION_BILINEAR);
  g_assert_cmpint (config.preprocess.resize_mode, ==, WP_RESIZE_SQUASH);
  g_assert_cmpstr (config.objective, ==, "sparc");
  g_assert_cmpstr (config.similarity, ==, "sparc");
}

/* An act_kwargs approximation makes nn.GELU tanh's, per tower. */
static void
test_openclip_config_tanh (void)
{
  const char  *json = "{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {\"image_size\": 16, "
                      "\"patch_size\": 8, \"width\": 16, \"head_width\": 8, \"layers\": 1, "
                      "\"act_kwargs\": {\"approximate\": \"tanh\"}}, \"text_cfg\": {\"width\": "
                      "16, \"heads\": 2, \"layers\": 1}}}";
  WpClipConfig config;
  g_autoptr (GError) error = NULL;

  g_assert_true (parse_openclip (&config, json, &error));
  g_assert_no_error (error);
  g_assert_cmpint (config.vision.activation, ==, WP_ACTIVATION_GELU_TANH);
  g_assert_cmpint (config.text.activation, ==, WP_ACTIVATION_GELU);
}

typedef struct {
  const char *name;
  const char *model_cfg; /* the text inside model_cfg, or the whole file when it starts with '!' */
  int         code;
  const char *fragment;
} BadOpenclip;

#define STD_TOWERS                                                                            \
  "\"embed_dim\": 8, \"vision_cfg\": {\"image_size\": 16, \"patch_size\": 8, \"width\": 16, " \
  "\"head_width\": 8, \"layers\": 1}, \"text_cfg\": {\"width\": 16, \"heads\": 2, \"layers\": 1}"

/* Vision and text sections that are all defaults, for entries about something else. */
#define DEFAULT_TOWERS "\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}"

static const BadOpenclip bad_openclip[] = {
  { "timm",
    "\"embed_dim\": 8, \"vision_cfg\": {\"timm_model_name\": \"vit_base_patch16_siglip_224\"}, "
    "\"text_cfg\": {}",
    WP_ERROR_UNSUPPORTED,
    "model_cfg.vision_cfg.timm_model_name is \"vit_base_patch16_siglip_224\": not supported "
    "(timm image towers)" },
  { "resnet", "\"embed_dim\": 8, \"vision_cfg\": {\"layers\": [3, 4, 6, 3]}, \"text_cfg\": {}",
    WP_ERROR_UNSUPPORTED, "ResNet image towers" },
  { "hf-text",
    "\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {\"hf_model_name\": "
    "\"xlm-roberta-base\"}",
    WP_ERROR_UNSUPPORTED, "model_cfg.text_cfg.hf_model_name" },
  { "hf-tokenizer",
    "\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {\"hf_tokenizer_name\": "
    "\"google/mt5-base\"}",
    WP_ERROR_UNSUPPORTED, "tokenizers other than OpenAI's CLIP BPE" },
  { "custom-text", STD_TOWERS ", \"custom_text\": true", WP_ERROR_UNSUPPORTED,
    "model_cfg.custom_text is true: not supported (custom text towers" },
  { "coca", STD_TOWERS ", \"multimodal_cfg\": {\"width\": 16}", WP_ERROR_UNSUPPORTED, "CoCa" },
  { "logit-bias", STD_TOWERS ", \"init_logit_bias\": -10", WP_ERROR_UNSUPPORTED, "logit bias" },
  { "layer-scale",
    "\"embed_dim\": 8, \"vision_cfg\": {\"ls_init_value\": 0.0001}, \"text_cfg\": {}",
    WP_ERROR_UNSUPPORTED, "layer scale" },
  { "avg-pool", "\"embed_dim\": 8, \"vision_cfg\": {\"pool_type\": \"avg\"}, \"text_cfg\": {}",
    WP_ERROR_UNSUPPORTED, "model_cfg.vision_cfg.pool_type is \"avg\"" },
  { "text-last",
    "\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {\"pool_type\": \"last\"}",
    WP_ERROR_UNSUPPORTED, "model_cfg.text_cfg.pool_type" },
  { "bidirectional",
    "\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {\"no_causal_mask\": true}",
    WP_ERROR_UNSUPPORTED, "bidirectional" },
  { "canonicalize",
    "\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {\"tokenizer_kwargs\": {\"clean\": "
    "\"canonicalize\"}}",
    WP_ERROR_UNSUPPORTED, "tokenizer_kwargs.clean" },
  { "eos-without-id",
    "\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {\"pool_type\": \"eos\"}",
    WP_ERROR_MISSING, "eos_id" },
  { "unknown-key", STD_TOWERS ", \"fancy_new_option\": 1", WP_ERROR_UNSUPPORTED,
    "model_cfg.fancy_new_option is not a key this reader knows" },
  { "head-width",
    "\"embed_dim\": 8, \"vision_cfg\": {\"width\": 100, \"head_width\": 64}, \"text_cfg\": {}",
    WP_ERROR_SHAPE, "head_width 64 does not divide width 100" },
  { "non-square",
    "\"embed_dim\": 8, \"vision_cfg\": {\"image_size\": [224, 256]}, \"text_cfg\": {}",
    WP_ERROR_UNSUPPORTED, "only square sizes" },
  { "no-embed-dim", "\"vision_cfg\": {}, \"text_cfg\": {}", WP_ERROR_MISSING, "embed_dim" },
  { "no-model-cfg", "!{\"preprocess_cfg\": {}}", WP_ERROR_MISSING, "model_cfg" },
  { "longest",
    "!{\"model_cfg\": {" DEFAULT_TOWERS "}, \"preprocess_cfg\": {\"resize_mode\": "
    "\"longest\"}}",
    WP_ERROR_UNSUPPORTED, "preprocess_cfg.resize_mode is \"longest\"" },
  { "not-json", "!{\"model_cfg\": ", WP_ERROR_FORMAT, "JSON" },
  { "vision-not-object", "\"embed_dim\": 8, \"vision_cfg\": 3, \"text_cfg\": {}", WP_ERROR_FORMAT,
    "model_cfg.vision_cfg must be an object" },
};

static void
test_openclip_config_bad (gconstpointer data)
{
  const BadOpenclip *c = data;
  g_autofree char   *json = c->model_cfg[0] == '!'
                              ? g_strdup (c->model_cfg + 1)
                              : g_strdup_printf ("{\"model_cfg\": {%s}}", c->model_cfg);
  WpClipConfig       config;
  g_autoptr (GError) error = NULL;

  g_assert_false (parse_openclip (&config, json, &error));
  g_assert_error (error, WP_ERROR, c->code);
  assert_error_mentions (error, c->fragment);
}

/* A top-level member is named without a section before it. */
static void
test_openclip_config_top_level_not_object (void)
{
  WpClipConfig config;
  g_autoptr (GError) error = NULL;

  g_assert_false (parse_openclip (&config, "{\"model_cfg\": [1]}", &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_FORMAT);
  g_assert_cmpstr (error->message, ==, "model_cfg must be an object");
}

/* What the writer says is read back as it was (open_clip's crop offset included). */
static void
test_openclip_config_round_trip (void)
{
  WpClipConfig     config, parsed;
  g_autofree char *json = NULL;
  g_autoptr (GError) error = NULL;

  openclip_tiny_config (&config);
  config.preprocess.crop_offset = WP_CROP_OFFSET_ROUND;
  config.preprocess.resize_mode = WP_RESIZE_SQUASH;
  config.preprocess.interpolation = WP_INTERPOLATION_BILINEAR;
  config.vision = (WpTowerConfig){ 1664, 8192, 16, 1, WP_ACTIVATION_GELU_TANH, 1e-6f };
  config.objective = "filip";
  config.similarity = "global";
  json = wp_openclip_config_to_json (&config, &error);
  g_assert_no_error (error);
  g_assert_true (parse_openclip (&parsed, json, &error));
  g_assert_no_error (error);
  wp_assert_clip_config_equal (&parsed, &config);
  g_assert_cmpstr (parsed.objective, ==, "filip");
  g_assert_cmpstr (parsed.similarity, ==, "global");

  config.text_pooling = WP_TEXT_POOL_ARGMAX;
  g_clear_pointer (&json, g_free);
  json = wp_openclip_config_to_json (&config, &error);
  g_assert_true (parse_openclip (&parsed, json, &error));
  wp_assert_clip_config_equal (&parsed, &config);
}

/* What open_clip cannot say is refused when writing, naming it. */
static void
test_openclip_config_write_refused (void)
{
  WpClipConfig config;
  g_autoptr (GError) error = NULL;
  char *json;

  openclip_tiny_config (&config);
  config.vision.activation = WP_ACTIVATION_QUICK_GELU;
  json = wp_openclip_config_to_json (&config, &error);
  g_assert_null (json);
  g_assert_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED);
  assert_error_mentions (error, "quick_gelu is for both towers");
  g_clear_error (&error);

  openclip_tiny_config (&config);
  config.preprocess.resize_size = 20;
  json = wp_openclip_config_to_json (&config, &error);
  g_assert_null (json);
  assert_error_mentions (error, "resizes them to 20");
}

/* ---- open_clip folders ---- */

static void
assert_files_equal (const char *a,
                    const char *b)
{
  g_autofree char *text_a = NULL;
  g_autofree char *text_b = NULL;
  gsize            len_a, len_b;

  g_assert_true (g_file_get_contents (a, &text_a, &len_a, NULL));
  g_assert_true (g_file_get_contents (b, &text_b, &len_b, NULL));
  if (len_a != len_b || memcmp (text_a, text_b, len_a) != 0)
    g_test_fail_printf ("%s and %s differ", a, b);
}

typedef struct {
  char    *dir;
  char    *folder; /* an open_clip folder of model */
  WpModel *model;
} OpenclipFixture;

/* tokenizer: the model's, NULL for the small one. */
static void
openclip_fixture_init_with (OpenclipFixture *f,
                            WpTokenizer     *tokenizer)
{
  g_autoptr (GError) error = NULL;

  f->dir = wp_test_make_tmp_dir ("checkpoints");
  f->folder = g_build_filename (f->dir, "openclip", NULL);
  f->model = new_openclip_model (5, tokenizer != NULL ? tokenizer : learnt_tokenizer ());
  g_assert_true (
    wp_model_save_format (f->model, f->folder, WP_MODEL_FORMAT_OPEN_CLIP, WP_DTYPE_F32, &error));
  g_assert_no_error (error);
}

static void
openclip_fixture_init (OpenclipFixture *f)
{
  openclip_fixture_init_with (f, NULL);
}

static void
openclip_fixture_clear (OpenclipFixture *f)
{
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->folder);
  wp_model_free (f->model);
}

/* F32 in, F32 out: the same tensors whichever layout is written, and the open_clip file again
 * byte for byte. */
static void
test_openclip_round_trip (void)
{
  OpenclipFixture  f;
  g_autofree char *again = NULL;
  g_autofree char *as_transformers = NULL;
  g_autofree char *file_a = NULL;
  g_autofree char *file_b = NULL;
  g_autoptr (WpModel) loaded = NULL;
  g_autoptr (WpModel) back = NULL;
  g_autoptr (GError) error = NULL;

  openclip_fixture_init (&f);
  loaded = load_ok (f.folder);
  g_assert_cmpint (loaded->format, ==, WP_MODEL_FORMAT_OPEN_CLIP);
  g_assert_cmpint (loaded->stored_dtype, ==, WP_DTYPE_F32);
  g_assert_cmpuint (loaded->n_weight_files, ==, 1);
  g_assert_false (loaded->bundled_vocabulary);
  assert_params_equal (loaded, f.model);
  g_assert_cmpint (loaded->config.vision.activation, ==, WP_ACTIVATION_GELU_TANH);
  g_assert_cmpfloat (loaded->config.vision.layer_norm_eps, ==, 1e-6f);
  g_assert_cmpint (loaded->config.text_pooling, ==, WP_TEXT_POOL_EOS);

  again = g_build_filename (f.dir, "again", NULL);
  g_assert_true (
    wp_model_save_format (loaded, again, WP_MODEL_FORMAT_OPEN_CLIP, WP_DTYPE_F32, &error));
  file_a = g_build_filename (f.folder, "open_clip_model.safetensors", NULL);
  file_b = g_build_filename (again, "open_clip_model.safetensors", NULL);
  assert_files_equal (file_a, file_b);

  as_transformers = g_build_filename (f.dir, "transformers", NULL);
  g_assert_true (wp_model_save_format (loaded, as_transformers, WP_MODEL_FORMAT_TRANSFORMERS,
                                       WP_DTYPE_F32, &error));
  back = load_ok (as_transformers);
  g_assert_cmpint (back->format, ==, WP_MODEL_FORMAT_TRANSFORMERS);
  assert_params_equal (back, f.model);
  /* open_clip's preprocessing travels with it. */
  g_assert_cmpint (back->config.preprocess.crop_offset, ==, WP_CROP_OFFSET_ROUND);
  openclip_fixture_clear (&f);
}

/* BF16 on disk: every weight the BF16 value of the original. */
static void
test_openclip_bf16 (void)
{
  OpenclipFixture  f;
  g_autofree char *folder = NULL;
  g_autoptr (WpModel) loaded = NULL;
  g_autoptr (GError) error = NULL;

  openclip_fixture_init (&f);
  folder = g_build_filename (f.dir, "bf16", NULL);
  g_assert_true (
    wp_model_save_format (f.model, folder, WP_MODEL_FORMAT_OPEN_CLIP, WP_DTYPE_BF16, &error));
  loaded = load_ok (folder);
  g_assert_cmpint (loaded->stored_dtype, ==, WP_DTYPE_BF16);
  for (gsize i = 0; i < f.model->n_params; i++) {
    const float want = wp_bf16_to_f32 (wp_f32_to_bf16 (f.model->params[i]));

    if (loaded->params[i] != want) {
      g_test_fail_printf ("parameter %" G_GSIZE_FORMAT ": %g, expected %g", i, loaded->params[i],
                          want);
      break;
    }
  }
  openclip_fixture_clear (&f);
}

/* Without vocabulary files open_clip uses OpenAI's; so does wordpatch, and says so. One of the
 * two alone is an error naming the other. */
static void
test_openclip_bundled_vocabulary (void)
{
  OpenclipFixture f;
  g_autoptr (WpModel) loaded = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *merges = NULL;
  g_autoptr (GError) error = NULL;

  openclip_fixture_init_with (&f, wp_test_clip_tokenizer ());
  wp_test_remove_file (f.folder, "merges.txt");
  merges = g_build_filename (f.folder, "merges.txt", NULL);
  loaded = wp_model_load (f.folder, &error);
  g_assert_null (loaded);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  assert_error_mentions (error, merges);
  wp_test_remove_file (f.folder, "vocab.json");
  loaded = load_ok (f.folder);
  g_assert_true (loaded->bundled_vocabulary);
  g_assert_cmpint (wp_tokenizer_get_n_vocab (loaded->tokenizer), ==, CLIP_VOCAB);
  summary = wp_model_dup_summary (loaded);
  g_assert_nonnull (strstr (summary, "open_clip folder"));
  g_assert_nonnull (strstr (summary, "OpenAI's vocabulary"));
  openclip_fixture_clear (&f);
}

/* Rewrites the folder's weights without the tensor drop, with a tensor add of add_len zeros, and
 * with the tensor reshape flattened (each may be NULL), every name after prefix. */
static void
rewrite_openclip (const char *folder,
                  const char *drop,
                  const char *add,
                  gint64      add_len,
                  const char *reshape,
                  const char *prefix)
{
  g_autofree char *path = g_build_filename (folder, "open_clip_model.safetensors", NULL);
  g_autoptr (WpSafetensors) st = NULL;
  g_autoptr (GArray) entries = g_array_new (FALSE, TRUE, sizeof (WpSafetensorsEntry));
  g_autoptr (GPtrArray) buffers = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  static gint64 flat[1];

  st = wp_safetensors_open (path, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < wp_safetensors_get_n_tensors (st); i++) {
    const WpSafetensorsTensor *t = wp_safetensors_get_tensor (st, i);
    WpSafetensorsEntry         e = { NULL, t->ndim, t->shape, NULL, WP_DTYPE_F32 };
    float                     *data;

    if (g_strcmp0 (t->name, drop) == 0)
      continue;
    data = g_new (float, MAX (t->numel, 1));
    g_assert_true (wp_safetensors_read_f32 (st, t, data, FALSE, NULL));
    g_ptr_array_add (buffers, data);
    e.data = data;
    e.name = g_strconcat (prefix, t->name, NULL);
    g_ptr_array_add (buffers, (gpointer) e.name);
    if (g_strcmp0 (t->name, reshape) == 0) {
      flat[0] = (gint64) t->numel;
      e.ndim = 1;
      e.shape = flat;
    }
    g_array_append_val (entries, e);
  }
  if (add != NULL) {
    static gint64      shape[1];
    WpSafetensorsEntry e = { add, 1, shape, NULL, WP_DTYPE_F32 };
    float             *data = g_new0 (float, add_len);

    shape[0] = add_len;
    e.data = data;
    g_ptr_array_add (buffers, data);
    g_array_append_val (entries, e);
  }
  /* The reader maps the old file: write beside it, then rename over it. */
  {
    g_autofree char *tmp = g_strconcat (path, ".new.safetensors", NULL);

    g_assert_true (wp_safetensors_write (tmp, (WpSafetensorsEntry *) (gpointer) entries->data,
                                         entries->len, NULL, &error));
    g_assert_no_error (error);
    g_clear_pointer (&st, wp_safetensors_free);
    g_assert_cmpint (g_rename (tmp, path), ==, 0);
  }
}

static void
test_openclip_attn_mask_ignored (void)
{
  OpenclipFixture f;
  g_autoptr (WpModel) loaded = NULL;

  openclip_fixture_init (&f);
  rewrite_openclip (f.folder, NULL, "attn_mask", 16 * 16, NULL, "");
  loaded = load_ok (f.folder);
  assert_params_equal (loaded, f.model);
  openclip_fixture_clear (&f);
}

/* A state dict saved from open_clip's DistributedDataParallel: every name after "module.". */
static void
test_openclip_ddp_prefix (void)
{
  OpenclipFixture f;
  g_autoptr (WpModel) loaded = NULL;

  openclip_fixture_init (&f);
  rewrite_openclip (f.folder, NULL, NULL, 0, NULL, "module.");
  loaded = load_ok (f.folder);
  assert_params_equal (loaded, f.model);
  openclip_fixture_clear (&f);
}

/* Each broken file: one error naming the file and the tensor. */
static void
test_openclip_errors (void)
{
  OpenclipFixture  f;
  g_autofree char *weights = NULL;
  g_autofree char *config = NULL;
  g_autoptr (GError) error = NULL;

  openclip_fixture_init (&f);
  weights = g_build_filename (f.folder, "open_clip_model.safetensors", NULL);
  config = g_build_filename (f.folder, "open_clip_config.json", NULL);

  rewrite_openclip (f.folder, NULL, "logit_bias", 1, NULL, "");
  expect_load_error (f.folder, WP_ERROR, WP_ERROR_UNSUPPORTED, weights,
                     "'logit_bias' (a sigmoid-loss model)");
  rewrite_openclip (f.folder, "logit_bias", "visual.extra", 3, NULL, "");
  expect_load_error (f.folder, WP_ERROR, WP_ERROR_SHAPE, weights,
                     "unexpected tensor 'visual.extra'");
  rewrite_openclip (f.folder, "visual.extra", NULL, 0, "visual.proj", "");
  expect_load_error (f.folder, WP_ERROR, WP_ERROR_SHAPE, "tensor 'visual.proj' has shape [192]",
                     "expected [24,8]");
  g_assert_true (
    wp_model_save_format (f.model, f.folder, WP_MODEL_FORMAT_OPEN_CLIP, WP_DTYPE_F32, &error));
  rewrite_openclip (f.folder, "transformer.resblocks.0.attn.in_proj_weight", NULL, 0, NULL, "");
  expect_load_error (f.folder, WP_ERROR, WP_ERROR_MISSING, weights,
                     "tensor 'transformer.resblocks.0.attn.in_proj_weight' is missing");

  wp_test_write_text (f.folder, "open_clip_config.json",
                      "{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {\"timm_model_name\": "
                      "\"vit_base_patch16_224\"}, \"text_cfg\": {}}}");
  expect_load_error (f.folder, WP_ERROR, WP_ERROR_UNSUPPORTED, config, "timm image towers");

  g_assert_true (
    wp_model_save_format (f.model, f.folder, WP_MODEL_FORMAT_OPEN_CLIP, WP_DTYPE_F32, &error));
  wp_test_remove_file (f.folder, "open_clip_model.safetensors");
  wp_test_write_text (f.folder, "open_clip_pytorch_model.bin", "pickle");
  expect_load_error (f.folder, WP_ERROR, WP_ERROR_MISSING, "no open_clip_model.safetensors",
                     "open_clip_pytorch_model.bin is a pickle");
  openclip_fixture_clear (&f);
}

/* Hub folders often hold both layouts: transformers' is read when complete, open_clip's
 * otherwise. */
static void
test_openclip_both_layouts (void)
{
  OpenclipFixture  f;
  g_autofree char *weights = NULL;
  g_autoptr (WpModel) first = NULL;
  g_autoptr (WpModel) second = NULL;
  g_autoptr (GError) error = NULL;

  openclip_fixture_init (&f);
  g_assert_true (wp_model_save_format (f.model, f.folder, WP_MODEL_FORMAT_TRANSFORMERS,
                                       WP_DTYPE_F32, &error));
  first = load_ok (f.folder);
  g_assert_cmpint (first->format, ==, WP_MODEL_FORMAT_TRANSFORMERS);
  wp_test_remove_file (f.folder, "model.safetensors");
  second = load_ok (f.folder);
  g_assert_cmpint (second->format, ==, WP_MODEL_FORMAT_OPEN_CLIP);
  assert_params_equal (first, second);
  openclip_fixture_clear (&f);
}

int
main (int    argc,
      char **argv)
{
  int status;

  wp_test_init (&argc, &argv);

  g_test_add_func ("/checkpoints/openclip-config/vit-b32", test_openclip_config_vit_b32);
  g_test_add_func ("/checkpoints/openclip-config/options", test_openclip_config_options);
  g_test_add_func ("/checkpoints/openclip-config/tanh", test_openclip_config_tanh);
  wp_test_add_named_cases ("/checkpoints/openclip-config/refused", bad_openclip,
                           test_openclip_config_bad);
  g_test_add_func ("/checkpoints/openclip-config/top-level-not-object",
                   test_openclip_config_top_level_not_object);
  g_test_add_func ("/checkpoints/openclip-config/round-trip", test_openclip_config_round_trip);
  g_test_add_func ("/checkpoints/openclip-config/write-refused",
                   test_openclip_config_write_refused);
  g_test_add_func ("/checkpoints/openclip/round-trip", test_openclip_round_trip);
  g_test_add_func ("/checkpoints/openclip/bf16", test_openclip_bf16);
  g_test_add_func ("/checkpoints/openclip/bundled-vocabulary", test_openclip_bundled_vocabulary);
  g_test_add_func ("/checkpoints/openclip/attn-mask-ignored", test_openclip_attn_mask_ignored);
  g_test_add_func ("/checkpoints/openclip/ddp-prefix", test_openclip_ddp_prefix);
  g_test_add_func ("/checkpoints/openclip/errors", test_openclip_errors);
  g_test_add_func ("/checkpoints/openclip/both-layouts", test_openclip_both_layouts);
  status = g_test_run ();
  learnt_tokenizer_clear ();
  return status;
}
