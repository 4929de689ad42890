/* test-checkpoints.c: the checkpoint kinds besides wordpatch's own transformers folders.
 *
 * open_clip_config.json (what it reads, what it refuses by key, what it writes), open_clip
 * folders (bit-identical round trips, OpenAI's bundled vocabulary standing in for a missing one,
 * each broken file named), sharded transformers folders (an index and its shards, each broken
 * index named), preprocessor_config.json and the preprocessing it asks for (resize size, squash,
 * bilinear, torchvision's rounded crop offset), and the text pooling rules. Models are tiny, their
 * vocabulary learnt from three captions, except where OpenAI's (tests/data/clip-bpe) is the
 * point. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "assert-config.h"
#include "test-util.h"
#include "wordpatch/wordpatch.h"

#define CLIP_VOCAB 49408

/* Widths 16 and 24, two heads each, MLPs 40 (ratio 2.5) and 48: open_clip can express it. */
static void
tiny_config (WpClipConfig *config)
{
  wp_clip_config_init_default (config);
  config->text = (WpTowerConfig){ 16, 40, 2, 1, WP_ACTIVATION_GELU, 1e-5f };
  config->vision = (WpTowerConfig){ 24, 48, 2, 2, WP_ACTIVATION_GELU_TANH, 1e-6f };
  config->vocab_size = CLIP_VOCAB;
  config->context_length = 16;
  config->image_size = 16;
  config->patch_size = 8;
  config->projection_dim = 8;
  config->image_mean[1] = 0.25f;
  config->image_std[2] = 0.5f;
}

/* A vocabulary learnt from a few captions: OpenAI's takes seconds to read under the sanitizers,
 * and every folder saved here is read again. */
static WpTokenizer *learnt;

static WpTokenizer *
small_tokenizer (void)
{
  static const char *const texts[] = { "a photo of a cat", "a cat on a mat", "two cats" };
  const char              *vocab, *merges;
  gsize                    vocab_len, merges_len;

  if (learnt == NULL)
    learnt = wp_tokenizer_learn (texts, G_N_ELEMENTS (texts), 560, NULL);
  g_assert_nonnull (learnt);
  vocab = wp_tokenizer_get_vocab_json (learnt, &vocab_len);
  merges = wp_tokenizer_get_merges_txt (learnt, &merges_len);
  return wp_tokenizer_new_from_data (vocab, vocab_len, merges, merges_len, NULL);
}

static WpModel *
new_model (guint64      seed,
           WpTokenizer *tokenizer)
{
  WpClipConfig config;
  g_autoptr (GError) error = NULL;
  WpModel *model;

  tiny_config (&config);
  config.vocab_size = wp_tokenizer_get_n_vocab (tokenizer);
  model = wp_model_new_random (&config, tokenizer, seed, &error);
  g_assert_no_error (error);
  return model;
}

static WpModel *
new_tiny_model (guint64 seed)
{
  return new_model (seed, small_tokenizer ());
}

static WpModel *
load_ok (const char *path)
{
  g_autoptr (GError) error = NULL;
  WpModel *model = wp_model_load (path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (model);
  return model;
}

static void
assert_params_equal (const WpModel *a,
                     const WpModel *b)
{
  g_assert_cmpuint (a->n_params, ==, b->n_params);
  for (guint i = 0; i < a->n_specs; i++) {
    const WpTensorSpec *spec = &a->specs[i];

    if (memcmp (a->params + spec->offset, b->params + spec->offset,
                spec->numel * sizeof (float)) != 0) {
      g_test_fail_printf ("tensor '%s' differs", spec->name);
      return;
    }
  }
}

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

static void
expect_load_error (const char *path,
                   int         code,
                   const char *fragment1,
                   const char *fragment2)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = wp_model_load (path, &error);

  g_assert_null (model);
  g_assert_error (error, WP_ERROR, code);
  assert_error_mentions (error, fragment1);
  if (fragment2 != NULL)
    assert_error_mentions (error, fragment2);
}

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
    "\"fill_color\": 0}, \"wordpatch\": {\"objective\": \"sparc\"}}";
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

/* What the writer says is read back as it was (open_clip's crop offset included). */
static void
test_openclip_config_round_trip (void)
{
  WpClipConfig     config, parsed;
  g_autofree char *json = NULL;
  g_autoptr (GError) error = NULL;

  tiny_config (&config);
  config.preprocess.crop_offset = WP_CROP_OFFSET_ROUND;
  config.preprocess.resize_mode = WP_RESIZE_SQUASH;
  config.preprocess.interpolation = WP_INTERPOLATION_BILINEAR;
  config.vision = (WpTowerConfig){ 1664, 8192, 16, 1, WP_ACTIVATION_GELU_TANH, 1e-6f };
  config.objective = "filip";
  json = wp_openclip_config_to_json (&config, &error);
  g_assert_no_error (error);
  g_assert_true (parse_openclip (&parsed, json, &error));
  g_assert_no_error (error);
  wp_assert_clip_config_equal (&parsed, &config);
  g_assert_cmpstr (parsed.objective, ==, "filip");

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

  tiny_config (&config);
  config.vision.activation = WP_ACTIVATION_QUICK_GELU;
  json = wp_openclip_config_to_json (&config, &error);
  g_assert_null (json);
  g_assert_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED);
  assert_error_mentions (error, "quick_gelu is for both towers");
  g_clear_error (&error);

  tiny_config (&config);
  config.preprocess.resize_size = 20;
  json = wp_openclip_config_to_json (&config, &error);
  g_assert_null (json);
  assert_error_mentions (error, "resizes them to 20");
}

/* ---- open_clip folders ---- */

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
  f->model = new_model (5, tokenizer != NULL ? tokenizer : small_tokenizer ());
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
 * with the tensor reshape flattened; each may be NULL. */
static void
rewrite_openclip (const char *folder,
                  const char *drop,
                  const char *add,
                  gint64      add_len,
                  const char *reshape)
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
    WpSafetensorsEntry         e = { t->name, t->ndim, t->shape, NULL, WP_DTYPE_F32 };
    float                     *data = g_new (float, MAX (t->numel, 1));

    if (g_strcmp0 (t->name, drop) == 0) {
      g_free (data);
      continue;
    }
    g_assert_true (wp_safetensors_read_f32 (st, t, data, FALSE, NULL));
    g_ptr_array_add (buffers, data);
    e.data = data;
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
  rewrite_openclip (f.folder, NULL, "attn_mask", 16 * 16, NULL);
  loaded = load_ok (f.folder);
  assert_params_equal (loaded, f.model);
  openclip_fixture_clear (&f);
}

/* A state dict saved from open_clip's DistributedDataParallel: every name after "module.". */
static void
test_openclip_ddp_prefix (void)
{
  OpenclipFixture  f;
  g_autofree char *path = NULL;
  g_autofree char *tmp = NULL;
  g_autoptr (WpSafetensors) st = NULL;
  g_autoptr (GArray) entries = g_array_new (FALSE, TRUE, sizeof (WpSafetensorsEntry));
  g_autoptr (GPtrArray) keep = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (WpModel) loaded = NULL;
  g_autoptr (GError) error = NULL;

  openclip_fixture_init (&f);
  path = g_build_filename (f.folder, "open_clip_model.safetensors", NULL);
  tmp = g_build_filename (f.folder, "renamed.safetensors", NULL);
  st = wp_safetensors_open (path, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < wp_safetensors_get_n_tensors (st); i++) {
    const WpSafetensorsTensor *t = wp_safetensors_get_tensor (st, i);
    char                      *name = g_strconcat ("module.", t->name, NULL);
    float                     *data = g_new (float, MAX (t->numel, 1));
    WpSafetensorsEntry         e = { name, t->ndim, t->shape, data, WP_DTYPE_F32 };

    g_assert_true (wp_safetensors_read_f32 (st, t, data, TRUE, NULL));
    g_ptr_array_add (keep, name);
    g_ptr_array_add (keep, data);
    g_array_append_val (entries, e);
  }
  g_assert_true (wp_safetensors_write (tmp, (WpSafetensorsEntry *) (gpointer) entries->data,
                                       entries->len, NULL, &error));
  g_clear_pointer (&st, wp_safetensors_free);
  g_assert_cmpint (g_rename (tmp, path), ==, 0);
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

  rewrite_openclip (f.folder, NULL, "logit_bias", 1, NULL);
  expect_load_error (f.folder, WP_ERROR_UNSUPPORTED, weights,
                     "'logit_bias' (a sigmoid-loss model)");
  rewrite_openclip (f.folder, "logit_bias", "visual.extra", 3, NULL);
  expect_load_error (f.folder, WP_ERROR_SHAPE, weights, "unexpected tensor 'visual.extra'");
  rewrite_openclip (f.folder, "visual.extra", NULL, 0, "visual.proj");
  expect_load_error (f.folder, WP_ERROR_SHAPE, "tensor 'visual.proj' has shape [192]",
                     "expected [24,8]");
  g_assert_true (
    wp_model_save_format (f.model, f.folder, WP_MODEL_FORMAT_OPEN_CLIP, WP_DTYPE_F32, &error));
  rewrite_openclip (f.folder, "transformer.resblocks.0.attn.in_proj_weight", NULL, 0, NULL);
  expect_load_error (f.folder, WP_ERROR_MISSING, weights,
                     "tensor 'transformer.resblocks.0.attn.in_proj_weight' is missing");

  wp_test_write_text (f.folder, "open_clip_config.json",
                      "{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {\"timm_model_name\": "
                      "\"vit_base_patch16_224\"}, \"text_cfg\": {}}}");
  expect_load_error (f.folder, WP_ERROR_UNSUPPORTED, config, "timm image towers");

  g_assert_true (
    wp_model_save_format (f.model, f.folder, WP_MODEL_FORMAT_OPEN_CLIP, WP_DTYPE_F32, &error));
  wp_test_remove_file (f.folder, "open_clip_model.safetensors");
  wp_test_write_text (f.folder, "open_clip_pytorch_model.bin", "pickle");
  expect_load_error (f.folder, WP_ERROR_MISSING, "no open_clip_model.safetensors",
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

/* ---- sharded transformers folders ---- */

/* Splits folder's model.safetensors into n shards (tensor i to shard i mod n) and an index. */
static void
shard_folder (const char *folder,
              int         n)
{
  g_autofree char *path = g_build_filename (folder, "model.safetensors", NULL);
  g_autoptr (WpSafetensors) st = NULL;
  g_autoptr (GPtrArray) buffers = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) index =
    g_string_new ("{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
  g_autoptr (GError) error = NULL;

  st = wp_safetensors_open (path, &error);
  g_assert_no_error (error);
  for (int s = 0; s < n; s++) {
    g_autoptr (GArray) entries = g_array_new (FALSE, TRUE, sizeof (WpSafetensorsEntry));
    g_autofree char *name = g_strdup_printf ("model-%05d-of-%05d.safetensors", s + 1, n);
    g_autofree char *shard = g_build_filename (folder, name, NULL);
    g_autoptr (GHashTable) metadata = g_hash_table_new (g_str_hash, g_str_equal);

    g_hash_table_insert (metadata, "format", "pt");
    for (guint i = (guint) s; i < wp_safetensors_get_n_tensors (st); i += (guint) n) {
      const WpSafetensorsTensor *t = wp_safetensors_get_tensor (st, i);
      WpSafetensorsEntry         e = { t->name, t->ndim, t->shape, NULL, WP_DTYPE_F32 };
      float                     *data = g_new (float, MAX (t->numel, 1));

      g_assert_true (wp_safetensors_read_f32 (st, t, data, TRUE, NULL));
      g_ptr_array_add (buffers, data);
      e.data = data;
      g_array_append_val (entries, e);
      const char *separator = index->str[index->len - 1] == '{' ? "" : ", ";

      g_string_append_printf (index, "%s\"%s\": \"%s\"", separator, t->name, name);
    }
    g_assert_true (wp_safetensors_write (shard, (WpSafetensorsEntry *) (gpointer) entries->data,
                                         entries->len, metadata, &error));
    g_assert_no_error (error);
  }
  g_string_append (index, "}}");
  g_clear_pointer (&st, wp_safetensors_free);
  wp_test_remove_file (folder, "model.safetensors");
  wp_test_write_text (folder, "model.safetensors.index.json", index->str);
}

static void
test_sharded_load (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("checkpoints");
  g_autofree char *folder = g_build_filename (dir, "sharded", NULL);
  g_autoptr (WpModel) model = new_tiny_model (6);
  g_autoptr (WpModel) loaded = NULL;
  g_autofree char *summary = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (wp_model_save (model, folder, &error));
  shard_folder (folder, 3);
  loaded = load_ok (folder);
  g_assert_cmpuint (loaded->n_weight_files, ==, 3);
  g_assert_cmpint (loaded->format, ==, WP_MODEL_FORMAT_TRANSFORMERS);
  assert_params_equal (loaded, model);
  summary = wp_model_dup_summary (loaded);
  g_assert_nonnull (strstr (summary, "3 shards"));
  remove_tree (dir);
}

typedef struct {
  const char *name;
  const char *from; /* replaced in the index by to */
  const char *to;
  int         code;
  const char *fragment;
} BadIndex;

static const BadIndex bad_indexes[] = {
  { "outside-folder", "\"model-00001-of-00002.safetensors\"",
    "\"../model-00001-of-00002.safetensors\"",
    WP_ERROR_FORMAT, "must name a .safetensors file in the same folder" },
  { "wrong-shard", "\"logit_scale\": \"model-00002-of-00002.safetensors\"",
    "\"logit_scale\": \"model-00001-of-00002.safetensors\"", WP_ERROR_MISSING,
    "tensor 'logit_scale' is not in model-00001-of-00002.safetensors" },
  { "missing-shard", "\"logit_scale\": \"model-00002-of-00002.safetensors\"",
    "\"logit_scale\": \"model-00003-of-00002.safetensors\"", -1,
    "model-00003-of-00002.safetensors" },
  { "no-weight-map", "\"weight_map\"", "\"weights\"", WP_ERROR_FORMAT, "no \"weight_map\" object" },
  { "not-json", "}}", "}", WP_ERROR_FORMAT, "JSON" },
};

static void
test_sharded_bad_index (gconstpointer data)
{
  const BadIndex  *c = data;
  g_autofree char *dir = wp_test_make_tmp_dir ("checkpoints");
  g_autofree char *folder = g_build_filename (dir, "sharded", NULL);
  g_autofree char *index_path = NULL;
  g_autofree char *text = NULL;
  g_autoptr (WpModel) model = new_tiny_model (7);
  g_autoptr (WpModel) loaded = NULL;
  g_autoptr (GError) error = NULL;
  char           **parts;
  g_autofree char *edited = NULL;

  g_assert_true (wp_model_save (model, folder, &error));
  shard_folder (folder, 2);
  index_path = g_build_filename (folder, "model.safetensors.index.json", NULL);
  g_assert_true (g_file_get_contents (index_path, &text, NULL, NULL));
  parts = g_strsplit (text, c->from, 2);
  g_assert_cmpuint (g_strv_length (parts), ==, 2);
  edited = g_strjoinv (c->to, parts);
  g_strfreev (parts);
  wp_test_write_text (folder, "model.safetensors.index.json", edited);

  loaded = wp_model_load (folder, &error);
  g_assert_null (loaded);
  if (c->code >= 0)
    g_assert_error (error, WP_ERROR, c->code);
  else
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  assert_error_mentions (error, c->fragment);
  remove_tree (dir);
}

/* A tensor in two shards is an error naming both. */
static void
test_sharded_duplicate (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("checkpoints");
  g_autofree char *folder = g_build_filename (dir, "sharded", NULL);
  g_autofree char *first = NULL;
  g_autoptr (WpModel) model = new_tiny_model (8);
  g_autoptr (GError) error = NULL;
  static const gint64 shape[1] = { 1 };
  const float         one = 1.0f;
  WpSafetensorsEntry  entry = { "logit_scale", 0, shape, &one, WP_DTYPE_F32 };

  g_assert_true (wp_model_save (model, folder, &error));
  shard_folder (folder, 2);
  /* logit_scale is in shard 2 (its index is odd); shard 1 gets one too. */
  first = g_build_filename (folder, "model-00001-of-00002.safetensors", NULL);
  g_assert_true (wp_safetensors_write (first, &entry, 1, NULL, &error));
  expect_load_error (folder, WP_ERROR_FORMAT, "tensor 'logit_scale' is also in", NULL);
  remove_tree (dir);
}

/* ---- preprocessor_config.json ---- */

static gboolean
parse_preprocessor (WpClipConfig *config,
                    const char   *json,
                    GError      **error)
{
  wp_clip_config_init_default (config);
  config->image_size = 336;
  config->patch_size = 14;
  return wp_preprocess_parse (config, json, strlen (json), error);
}

static void
test_preprocessor_forms (void)
{
  WpClipConfig config;
  g_autoptr (GError) error = NULL;

  /* Older folders: numbers. */
  g_assert_true (parse_preprocessor (
    &config, "{\"size\": 336, \"crop_size\": 336, \"image_mean\": [0.5, 0.5, 0.5]}", &error));
  g_assert_no_error (error);
  g_assert_cmpint (config.preprocess.resize_size, ==, 0);
  g_assert_cmpint (config.preprocess.resize_mode, ==, WP_RESIZE_SHORTEST);
  g_assert_cmpfloat (config.image_mean[0], ==, 0.5f);

  g_assert_true (parse_preprocessor (&config,
                                     "{\"size\": {\"shortest_edge\": 384}, \"crop_size\": "
                                     "{\"height\": 336, \"width\": 336}, \"resample\": 2}",
                                     &error));
  g_assert_cmpint (config.preprocess.resize_size, ==, 384);
  g_assert_cmpint (wp_clip_config_resize_size (&config), ==, 384);
  g_assert_cmpint (config.preprocess.interpolation, ==, WP_INTERPOLATION_BILINEAR);

  /* SigLIP-style: squash to the size, no crop. */
  g_assert_true (parse_preprocessor (
    &config, "{\"size\": {\"height\": 336, \"width\": 336}, \"do_center_crop\": false}", &error));
  g_assert_cmpint (config.preprocess.resize_mode, ==, WP_RESIZE_SQUASH);
  g_assert_cmpint (config.preprocess.resize_size, ==, 0);
}

static void
test_preprocessor_round_trip (void)
{
  WpClipConfig     config, parsed;
  g_autofree char *json = NULL;
  g_autoptr (GError) error = NULL;

  wp_clip_config_init_default (&config);
  config.image_size = 336;
  config.patch_size = 14;
  config.preprocess.resize_size = 384;
  config.preprocess.resize_mode = WP_RESIZE_SQUASH;
  config.preprocess.interpolation = WP_INTERPOLATION_BILINEAR;
  config.image_mean[0] = 0.5f;
  json = wp_preprocess_to_json (&config);
  g_assert_true (parse_preprocessor (&parsed, json, &error));
  g_assert_no_error (error);
  wp_assert_clip_config_equal (&parsed, &config);
}

typedef struct {
  const char *name;
  const char *json;
  int         code;
  const char *fragment;
} BadPreprocessor;

static const BadPreprocessor bad_preprocessors[] = {
  { "crop-not-image", "{\"crop_size\": 224}", WP_ERROR_SHAPE,
    "crop_size 224 is not the model's image size 336" },
  { "resize-below-crop", "{\"size\": {\"shortest_edge\": 300}}", WP_ERROR_SHAPE,
    "resize size 300 must be between the image size 336" },
  { "nearest", "{\"resample\": 0}", WP_ERROR_UNSUPPORTED, "resample 0 is not supported" },
  { "no-normalize", "{\"do_normalize\": false}", WP_ERROR_UNSUPPORTED, "do_normalize" },
  { "rescale", "{\"rescale_factor\": 1.0}", WP_ERROR_UNSUPPORTED, "rescale_factor 1/255" },
  { "no-crop-shortest", "{\"do_center_crop\": false}", WP_ERROR_UNSUPPORTED, "do_center_crop" },
  { "rectangle", "{\"size\": {\"height\": 336, \"width\": 400}}", WP_ERROR_UNSUPPORTED,
    "size: only" },
  { "mean-string", "{\"image_mean\": \"imagenet\"}", WP_ERROR_FORMAT, "image_mean" },
};

static void
test_preprocessor_bad (gconstpointer data)
{
  const BadPreprocessor *c = data;
  WpClipConfig           config;
  g_autoptr (GError) error = NULL;

  g_assert_false (parse_preprocessor (&config, c->json, &error));
  g_assert_error (error, WP_ERROR, c->code);
  assert_error_mentions (error, c->fragment);
}

/* A folder's preprocessor_config.json is read and written back; a broken one is named. */
static void
test_preprocessor_folder (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("checkpoints");
  g_autofree char *folder = g_build_filename (dir, "model", NULL);
  g_autofree char *path = g_build_filename (folder, "preprocessor_config.json", NULL);
  g_autoptr (WpModel) model = new_tiny_model (9);
  g_autoptr (WpModel) loaded = NULL;
  g_autoptr (GError) error = NULL;

  model->config.preprocess.resize_size = 18;
  g_assert_true (wp_model_save (model, folder, &error));
  loaded = load_ok (folder);
  g_assert_cmpint (loaded->config.preprocess.resize_size, ==, 18);
  wp_test_write_text (folder, "preprocessor_config.json", "{\"resample\": 1}");
  expect_load_error (folder, WP_ERROR_UNSUPPORTED, path, "resample 1");
  remove_tree (dir);
}

/* ---- preprocessing ---- */

/* A width x height image whose every pixel differs. */
static WpImage *
ramp_image (int width,
            int height)
{
  WpImage *image = wp_image_new (width, height);

  for (int y = 0; y < height; y++) {
    for (int x = 0; x < width; x++) {
      for (int c = 0; c < 3; c++)
        image->rgb[((gsize) y * width + x) * 3 + c] = (guint8) ((x * 7 + y * 13 + c * 50) % 256);
    }
  }
  return image;
}

/* pixels (3, S, S) must be the S x S window at (left, top) of image, normalised by config. */
static void
assert_window (const float        *pixels,
               const WpImage      *image,
               const WpClipConfig *config,
               int                 S,
               int                 left,
               int                 top)
{
  for (int c = 0; c < 3; c++) {
    for (int y = 0; y < S; y++) {
      for (int x = 0; x < S; x++) {
        const guint8 v = image->rgb[((gsize) (top + y) * image->width + left + x) * 3 + c];
        const float  want = (v / 255.0f - config->image_mean[c]) / config->image_std[c];
        const float  got = pixels[((gsize) c * S + y) * S + x];

        if (fabsf (got - want) > 1e-6f) {
          g_test_fail_printf ("pixel (%d, %d, %d): %g, expected %g (window at %d, %d)", c, y, x,
                              got, want, left, top);
          return;
        }
      }
    }
  }
}

/* An excess of 3 rows: transformers crops at 1, torchvision (open_clip) at round(1.5) = 2; 7
 * columns: 3 and round(3.5) = 4. The image's shorter side is the size: no resampling. */
static void
test_preprocess_crop_offset (void)
{
  WpClipConfig config;
  g_autoptr (WpImage) tall = ramp_image (16, 19);
  g_autoptr (WpImage) wide = ramp_image (23, 16);
  float       pixels[3 * 16 * 16];
  WpImageCrop crop;

  tiny_config (&config);
  wp_image_preprocess (tall, &config, pixels, &crop);
  assert_window (pixels, tall, &config, 16, 0, 1);
  g_assert_cmpfloat (crop.y, ==, 1.0);
  wp_image_preprocess (wide, &config, pixels, &crop);
  assert_window (pixels, wide, &config, 16, 3, 0);

  config.preprocess.crop_offset = WP_CROP_OFFSET_ROUND;
  wp_image_preprocess (tall, &config, pixels, &crop);
  assert_window (pixels, tall, &config, 16, 0, 2);
  g_assert_cmpfloat (crop.y, ==, 2.0);
  wp_image_preprocess (wide, &config, pixels, &crop);
  assert_window (pixels, wide, &config, 16, 4, 0);
}

/* Resize size 20 before a crop of 16: an image with a shorter side of 20 is only cropped (at
 * (20 - 16) / 2 and floor((31 - 16) / 2)), and a view at the model's size is the same. */
static void
test_preprocess_resize_size (void)
{
  WpClipConfig config;
  g_autoptr (WpImage) image = ramp_image (20, 31);
  g_autofree float *view = NULL;
  float             pixels[3 * 16 * 16];
  WpImageCrop       crop, view_crop;
  WpViewOptions     options = { WP_CROP_CENTER, 0 };
  int               rows, cols;
  g_autoptr (GError) error = NULL;

  tiny_config (&config);
  config.preprocess.resize_size = 20;
  g_assert_true (wp_clip_config_validate (&config, NULL));
  wp_image_preprocess (image, &config, pixels, &crop);
  assert_window (pixels, image, &config, 16, 2, 7);
  g_assert_cmpfloat (crop.x, ==, 2.0);
  g_assert_cmpfloat (crop.width, ==, 16.0);

  view = wp_image_preprocess_view (image, &config, &options, &rows, &cols, &view_crop, &error);
  g_assert_no_error (error);
  g_assert_cmpint (rows, ==, 2);
  g_assert_cmpmem (view, sizeof pixels, pixels, sizeof pixels);
  g_assert_cmpfloat (view_crop.y, ==, crop.y);
}

/* Squash: the whole image to S x S, aspect lost, nothing cropped away. */
static void
test_preprocess_squash (void)
{
  WpClipConfig config;
  g_autoptr (WpImage) image = ramp_image (40, 20);
  g_autoptr (WpImage) squashed = NULL;
  float       pixels[3 * 16 * 16];
  WpImageCrop crop;

  tiny_config (&config);
  config.preprocess.resize_mode = WP_RESIZE_SQUASH;
  wp_image_preprocess (image, &config, pixels, &crop);
  squashed = wp_image_resize (image, 16, 16);
  assert_window (pixels, squashed, &config, 16, 0, 0);
  g_assert_cmpfloat (crop.x, ==, 0.0);
  g_assert_cmpfloat (crop.width, ==, 40.0);
  g_assert_cmpfloat (crop.height, ==, 20.0);
}

/* PIL's bilinear filter halving a row 0, 100, 200, 250: its triangle stretched to support 2
 * weighs samples 0, 1, 2 by 0.75, 0.75, 0.25 for the first output, so (75 + 50) / 1.75 = 71.4,
 * and 1, 2, 3 by 0.25, 0.75, 0.75 for the second, (25 + 150 + 187.5) / 1.75 = 207.1. Bicubic
 * gives other values. */
static void
test_preprocess_bilinear (void)
{
  static const guint8 row[4] = { 0, 100, 200, 250 };
  WpClipConfig        config;
  g_autoptr (WpImage) image = wp_image_new (4, 2);
  float       pixels[3 * 2 * 2];
  WpImageCrop crop;

  for (int y = 0; y < 2; y++) {
    for (int x = 0; x < 4; x++)
      memset (image->rgb + ((gsize) y * 4 + x) * 3, row[x], 3);
  }
  wp_clip_config_init_default (&config);
  config.image_size = 2;
  config.patch_size = 1;
  config.image_mean[0] = 0.0f;
  config.image_std[0] = 1.0f;
  config.preprocess.resize_mode = WP_RESIZE_SQUASH;
  config.preprocess.interpolation = WP_INTERPOLATION_BILINEAR;
  wp_image_preprocess (image, &config, pixels, &crop);
  g_assert_cmpfloat_with_epsilon (pixels[0] * 255.0f, 71.0f, 1e-3);
  g_assert_cmpfloat_with_epsilon (pixels[1] * 255.0f, 207.0f, 1e-3);
  config.preprocess.interpolation = WP_INTERPOLATION_BICUBIC;
  wp_image_preprocess (image, &config, pixels, &crop);
  g_assert_cmpfloat (fabsf (pixels[0] * 255.0f - 71.0f), >, 0.5f);
}

/* ---- text pooling ---- */

static void
test_pooling_rules (void)
{
  WpClipConfig config;
  const int    ids[] = { 49406, 320, 49407, 539, 49407 };
  const int    small[] = { 606, 12, 607, 30, 607 };

  wp_clip_config_init_default (&config);
  g_assert_cmpint (config.text_pooling, ==, WP_TEXT_POOL_EOS);
  g_assert_cmpint (wp_text_pooled_position (&config, ids, 5), ==, 2);
  /* A vocabulary whose end token is not the config's: the last token. */
  g_assert_cmpint (wp_text_pooled_position (&config, small, 5), ==, 4);
  config.text_pooling = WP_TEXT_POOL_ARGMAX;
  g_assert_cmpint (wp_text_pooled_position (&config, ids, 5), ==, 2);
  g_assert_cmpint (wp_text_pooled_position (&config, small, 5), ==, 2);
  g_assert_cmpint (wp_text_pooled_position (&config, ids, 2), ==, 0);
}

/* A caption that spells the end token is pooled there, as transformers and open_clip do. */
static void
test_pooling_embed (void)
{
  g_autoptr (WpModel) model = new_tiny_model (10);
  g_autoptr (WpTextEmbedding) text = wp_embed_text (model, "a <|endoftext|> cat");
  const int eos = wp_tokenizer_get_eos_id (model->tokenizer);
  float     pooled[8];
  int       first = 0;

  while (text->ids[first] != eos)
    first++;
  g_assert_cmpint (first, <, text->n_tokens - 2);
  g_assert_cmpint (text->ids[text->n_tokens - 1], ==, eos);
  wp_embed_pooled_texts (model, (const char *const[]){ "a <|endoftext|> cat" }, 1, pooled,
                         (float[8]){ 0 });
  g_assert_cmpmem (text->global, 8 * sizeof (float), text->tokens + first * 8, 8 * sizeof (float));
  g_assert_cmpmem (pooled, sizeof pooled, text->global, sizeof pooled);
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
  for (gsize i = 0; i < G_N_ELEMENTS (bad_openclip); i++) {
    g_autofree char *path = g_strdup_printf ("/checkpoints/openclip-config/refused/%s",
                                             bad_openclip[i].name);

    g_test_add_data_func (path, &bad_openclip[i], test_openclip_config_bad);
  }
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
  g_test_add_func ("/checkpoints/sharded/load", test_sharded_load);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_indexes); i++) {
    g_autofree char *path = g_strdup_printf ("/checkpoints/sharded/bad-index/%s",
                                             bad_indexes[i].name);

    g_test_add_data_func (path, &bad_indexes[i], test_sharded_bad_index);
  }
  g_test_add_func ("/checkpoints/sharded/duplicate-tensor", test_sharded_duplicate);
  g_test_add_func ("/checkpoints/preprocessor/forms", test_preprocessor_forms);
  g_test_add_func ("/checkpoints/preprocessor/round-trip", test_preprocessor_round_trip);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_preprocessors); i++) {
    g_autofree char *path = g_strdup_printf ("/checkpoints/preprocessor/bad/%s",
                                             bad_preprocessors[i].name);

    g_test_add_data_func (path, &bad_preprocessors[i], test_preprocessor_bad);
  }
  g_test_add_func ("/checkpoints/preprocessor/folder", test_preprocessor_folder);
  g_test_add_func ("/checkpoints/preprocess/crop-offset", test_preprocess_crop_offset);
  g_test_add_func ("/checkpoints/preprocess/resize-size", test_preprocess_resize_size);
  g_test_add_func ("/checkpoints/preprocess/squash", test_preprocess_squash);
  g_test_add_func ("/checkpoints/preprocess/bilinear", test_preprocess_bilinear);
  g_test_add_func ("/checkpoints/pooling/rules", test_pooling_rules);
  g_test_add_func ("/checkpoints/pooling/embed", test_pooling_embed);
  status = g_test_run ();
  g_clear_pointer (&learnt, wp_tokenizer_free);
  return status;
}
