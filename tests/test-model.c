/* test-model.c: config.json parsing, the tensor layout table, and model folders and files.
 *
 * Models here are tiny (widths 16 and 32, one text and two vision layers, 16-pixel images of
 * 8-pixel patches) with OpenAI's vocabulary from tests/data/clip-bpe. Broken model folders are
 * made by saving a good one and then damaging one file; each load must fail with its error code
 * and a message naming the file and, where there is one, the tensor. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "assert-config.h"
#include "test-util.h"
#include "wordpatch/config.h"
#include "wordpatch/error.h"
#include "wordpatch/model.h"
#include "wordpatch/safetensors.h"
#include "wordpatch/tokenizer.h"

#define CLIP_VOCAB 49408

static void
tiny_config (WpClipConfig *config)
{
  wp_clip_config_init_default (config);
  config->text = (WpTowerConfig){ 16, 32, 2, 1, WP_ACTIVATION_QUICK_GELU, 1e-5f };
  config->vision = (WpTowerConfig){ 32, 64, 2, 2, WP_ACTIVATION_GELU, 1e-6f };
  config->vocab_size = CLIP_VOCAB;
  config->context_length = 16;
  config->image_size = 16;
  config->patch_size = 8;
  config->projection_dim = 8;
  config->logit_scale_init = 2.5f;
  config->image_mean[1] = 0.25f;
  config->image_std[2] = 0.5f;
}

static WpModel *
new_tiny_model (guint64 seed)
{
  WpClipConfig config;
  g_autoptr (GError) error = NULL;
  WpModel *model;

  tiny_config (&config);
  model = wp_model_new_random (&config, wp_test_clip_tokenizer (), seed, &error);
  g_assert_no_error (error);
  g_assert_nonnull (model);
  return model;
}

static void
assert_models_equal (const WpModel *a,
                     const WpModel *b)
{
  wp_assert_clip_config_equal (&a->config, &b->config);
  g_assert_cmpuint (a->n_specs, ==, b->n_specs);
  g_assert_cmpuint (a->n_params, ==, b->n_params);
  g_assert_cmpint (a->step, ==, b->step);
  g_assert_cmpint (wp_tokenizer_get_n_vocab (a->tokenizer), ==,
                   wp_tokenizer_get_n_vocab (b->tokenizer));
  g_assert_cmpint (wp_tokenizer_get_n_merges (a->tokenizer), ==,
                   wp_tokenizer_get_n_merges (b->tokenizer));
  for (guint i = 0; i < a->n_specs; i++) {
    const WpTensorSpec *spec = &a->specs[i];

    if (memcmp (a->params + spec->offset, b->params + spec->offset,
                spec->numel * sizeof (float)) != 0) {
      g_test_fail_printf ("tensor '%s' differs after the round trip", spec->name);
      return;
    }
  }
}

/* ---- config.json ---- */

static void
test_config_minimal (void)
{
  const char  *json = "{\"text_config\": {}, \"vision_config\": {}}";
  WpClipConfig config, defaults;
  g_autoptr (GError) error = NULL;

  wp_clip_config_parse (&config, json, strlen (json), &error);
  g_assert_no_error (error);
  wp_clip_config_init_default (&defaults);
  wp_assert_clip_config_equal (&config, &defaults);

  /* transformers' CLIPConfig defaults: OpenAI's ViT-B/32. */
  g_assert_cmpint (config.text.width, ==, 512);
  g_assert_cmpint (config.text.mlp_width, ==, 2048);
  g_assert_cmpint (config.text.n_heads, ==, 8);
  g_assert_cmpint (config.text.n_layers, ==, 12);
  g_assert_cmpint (config.text.activation, ==, WP_ACTIVATION_QUICK_GELU);
  g_assert_cmpfloat_with_epsilon (config.text.layer_norm_eps, 1e-5, 1e-12);
  g_assert_cmpint (config.vision.width, ==, 768);
  g_assert_cmpint (config.vision.mlp_width, ==, 3072);
  g_assert_cmpint (config.vision.n_heads, ==, 12);
  g_assert_cmpint (config.vision.n_layers, ==, 12);
  g_assert_cmpint (config.vision.activation, ==, WP_ACTIVATION_QUICK_GELU);
  g_assert_cmpint (config.vocab_size, ==, 49408);
  g_assert_cmpint (config.context_length, ==, 77);
  g_assert_cmpint (config.bos_token_id, ==, 49406);
  g_assert_cmpint (config.eos_token_id, ==, 49407);
  g_assert_cmpint (config.pad_token_id, ==, 1);
  g_assert_cmpint (config.image_size, ==, 224);
  g_assert_cmpint (config.patch_size, ==, 32);
  g_assert_cmpint (config.projection_dim, ==, 512);
  g_assert_cmpfloat_with_epsilon (config.logit_scale_init, 2.6592, 1e-6);
  g_assert_cmpfloat_with_epsilon (config.image_mean[0], 0.48145466, 1e-7);
  g_assert_cmpfloat_with_epsilon (config.image_std[2], 0.27577711, 1e-7);
  g_assert_cmpint (wp_clip_config_grid (&config), ==, 7);
  g_assert_cmpint (wp_clip_config_n_patches (&config), ==, 49);
}

/* Keys given override the defaults; the others keep them. */
static void
test_config_partial (void)
{
  const char  *json = "{\"projection_dim\": 64,"
                      " \"text_config\": {\"hidden_size\": 128, \"num_attention_heads\": 4,"
                      " \"hidden_act\": \"gelu\", \"max_position_embeddings\": 32},"
                      " \"vision_config\": {\"image_size\": 64, \"patch_size\": 16,"
                      " \"layer_norm_eps\": 1e-6},"
                      " \"wordpatch\": {\"image_mean\": [0.5, 0.5, 0.5],"
                      " \"image_std\": [0.25, 1, 2]}}";
  WpClipConfig config;
  g_autoptr (GError) error = NULL;

  wp_clip_config_parse (&config, json, strlen (json), &error);
  g_assert_no_error (error);
  g_assert_cmpint (config.projection_dim, ==, 64);
  g_assert_cmpint (config.text.width, ==, 128);
  g_assert_cmpint (config.text.n_heads, ==, 4);
  g_assert_cmpint (config.text.mlp_width, ==, 2048);
  g_assert_cmpint (config.text.activation, ==, WP_ACTIVATION_GELU);
  g_assert_cmpint (config.context_length, ==, 32);
  g_assert_cmpint (config.image_size, ==, 64);
  g_assert_cmpint (config.patch_size, ==, 16);
  g_assert_cmpint (config.vision.width, ==, 768);
  g_assert_cmpfloat (config.vision.layer_norm_eps, ==, 1e-6f);
  g_assert_cmpfloat (config.image_mean[2], ==, 0.5f);
  g_assert_cmpfloat (config.image_std[0], ==, 0.25f);
  g_assert_cmpfloat (config.image_std[2], ==, 2.0f);
}

typedef struct {
  const char *name;
  const char *json;
  int         code;
  const char *fragment;
} BadConfig;

static const BadConfig bad_configs[] = {
  { "not-json", "{\"text_config\": {", WP_ERROR_FORMAT, "JSON" },
  { "empty", "", WP_ERROR_FORMAT, "JSON" },
  { "not-object", "[]", WP_ERROR_FORMAT, "object" },
  { "no-text-config", "{\"vision_config\": {}}", WP_ERROR_MISSING, "text_config" },
  { "no-vision-config", "{\"text_config\": {}}", WP_ERROR_MISSING, "vision_config" },
  { "text-config-not-object", "{\"text_config\": 3, \"vision_config\": {}}", WP_ERROR_FORMAT,
    "text_config" },
  { "hidden-size-string", "{\"text_config\": {\"hidden_size\": \"512\"}, \"vision_config\": {}}",
    WP_ERROR_FORMAT, "text_config.hidden_size" },
  { "hidden-size-fraction", "{\"text_config\": {}, \"vision_config\": {\"hidden_size\": 76.8}}",
    WP_ERROR_FORMAT, "vision_config.hidden_size" },
  { "hidden-size-huge", "{\"text_config\": {\"hidden_size\": 4294967808}, \"vision_config\": {}}",
    WP_ERROR_FORMAT, "text_config.hidden_size" },
  { "hidden-size-zero", "{\"text_config\": {\"hidden_size\": 0}, \"vision_config\": {}}",
    WP_ERROR_SHAPE, "text_config.hidden_size" },
  { "heads-not-dividing",
    "{\"text_config\": {\"hidden_size\": 512, \"num_attention_heads\": 7}, \"vision_config\": {}}",
    WP_ERROR_SHAPE, "num_attention_heads" },
  { "image-not-multiple-of-patch",
    "{\"text_config\": {}, \"vision_config\": {\"image_size\": 100, \"patch_size\": 32}}",
    WP_ERROR_SHAPE, "patch_size" },
  { "too-many-layers", "{\"text_config\": {\"num_hidden_layers\": 65}, \"vision_config\": {}}",
    WP_ERROR_SHAPE, "num_hidden_layers" },
  /* Found by fuzzing: an exponent too large for a float made an infinite std look positive. */
  { "image-std-infinite",
    "{\"text_config\": {}, \"vision_config\": {}, \"wordpatch\": {\"image_std\": [0.2, 0.2, "
    "0.2E5167]}}",
    WP_ERROR_SHAPE, "image_std must be positive and finite" },
  { "relu", "{\"text_config\": {\"hidden_act\": \"relu\"}, \"vision_config\": {}}",
    WP_ERROR_UNSUPPORTED, "text_config.hidden_act 'relu' is not supported" },
  { "hidden-act-number", "{\"text_config\": {}, \"vision_config\": {\"hidden_act\": 1}}",
    WP_ERROR_UNSUPPORTED, "vision_config.hidden_act" },
  { "one-channel", "{\"text_config\": {}, \"vision_config\": {\"num_channels\": 1}}",
    WP_ERROR_UNSUPPORTED, "num_channels" },
  { "eps-string", "{\"text_config\": {\"layer_norm_eps\": \"1e-5\"}, \"vision_config\": {}}",
    WP_ERROR_FORMAT, "layer_norm_eps" },
  { "mean-two-values",
    "{\"text_config\": {}, \"vision_config\": {}, \"wordpatch\": {\"image_mean\": [0.5, 0.5]}}",
    WP_ERROR_FORMAT, "image_mean" },
  { "std-zero",
    "{\"text_config\": {}, \"vision_config\": {}, \"wordpatch\": {\"image_std\": [0.5, 0, 0.5]}}",
    WP_ERROR_SHAPE, "image_std" },
  { "too-many-patches",
    "{\"text_config\": {}, \"vision_config\": {\"image_size\": 2048, \"patch_size\": 16}}",
    WP_ERROR_SHAPE, "make 16384 patches; at most 4096 are supported" },
  { "too-many-parameters",
    "{\"text_config\": {\"vocab_size\": 1048576, \"hidden_size\": 8192, \"num_attention_heads\": "
    "8}, \"vision_config\": {}}",
    WP_ERROR_SHAPE, "parameters; at most 2147483647 are supported" },
  { "nested-too-deep",
    "{\"text_config\": {}, \"vision_config\": {}, \"x\": "
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
    WP_ERROR_FORMAT, "JSON nested more than 64 levels deep" },
  { "comment", "{\"text_config\": {}, /* ViT-B/32 */ \"vision_config\": {}}", WP_ERROR_FORMAT,
    "comments and single quotes are not JSON" },
  { "clipseg", "{\"model_type\": \"clipseg\", \"text_config\": {}, \"vision_config\": {}}",
    WP_ERROR_UNSUPPORTED, "model_type 'clipseg' is not supported" },
  { "siglip-projection",
    "{\"model_type\": \"siglip\", \"text_config\": {\"projection_size\": 512}, "
    "\"vision_config\": {}}",
    WP_ERROR_SHAPE, "text_config.projection_size 512 is not vision_config.hidden_size 768" },
  { "clip-last-pooling",
    "{\"text_config\": {}, \"vision_config\": {}, \"wordpatch\": {\"text_pooling\": \"last\"}}",
    WP_ERROR_UNSUPPORTED, "'last' is SigLIP's" },
  { "config-dict-not-object",
    "{\"text_config\": {}, \"text_config_dict\": [], \"vision_config\": {}}", WP_ERROR_FORMAT,
    "\"text_config_dict\" is not an object" },
  { "resize-below-image",
    "{\"text_config\": {}, \"vision_config\": {}, \"wordpatch\": {\"resize_size\": 200}}",
    WP_ERROR_SHAPE, "resize size 200 must be between the image size 224" },
  { "interpolation-nearest",
    "{\"text_config\": {}, \"vision_config\": {}, \"wordpatch\": {\"interpolation\": "
    "\"nearest\"}}",
    WP_ERROR_UNSUPPORTED,
    "wordpatch.interpolation 'nearest' is not supported (bicubic, bilinear)" },
};

static void
test_config_bad (gconstpointer data)
{
  const BadConfig *c = data;
  WpClipConfig     config;
  g_autoptr (GError) error = NULL;

  g_assert_false (wp_clip_config_parse (&config, c->json, strlen (c->json), &error));
  g_assert_error (error, WP_ERROR, c->code);
  assert_error_mentions (error, c->fragment);
}

/* 1e300 is a valid JSON number but not a float: the logit scale would be infinite, and a model
 * made from this config could be saved but never loaded again (its weights hold an infinity). */
static void
test_config_logit_scale_overflow (void)
{
  const char  *json = "{\"logit_scale_init_value\": 1e300,"
                      " \"text_config\": {}, \"vision_config\": {}}";
  WpClipConfig config;
  g_autoptr (GError) error = NULL;

  if (wp_clip_config_parse (&config, json, strlen (json), &error)) {
    g_test_fail_printf ("logit_scale_init_value 1e300 accepted; as a float it is %g",
                        config.logit_scale_init);
    return;
  }
  g_assert_true (error->domain == WP_ERROR);
  assert_error_mentions (error, "logit_scale_init_value");
}

static void
test_config_round_trip (void)
{
  WpClipConfig     config, parsed;
  g_autofree char *json = NULL;
  g_autoptr (GError) error = NULL;

  tiny_config (&config);
  config.bos_token_id = 3;
  config.eos_token_id = 4;
  config.pad_token_id = 0;
  json = wp_clip_config_to_json (&config);
  wp_clip_config_parse (&parsed, json, strlen (json), &error);
  g_assert_no_error (error);
  wp_assert_clip_config_equal (&parsed, &config);

  /* The defaults too, and the JSON is what transformers reads. */
  wp_clip_config_init_default (&config);
  g_clear_pointer (&json, g_free);
  json = wp_clip_config_to_json (&config);
  g_assert_nonnull (strstr (json, "\"CLIPModel\""));
  g_assert_nonnull (strstr (json, "\"text_config\""));
  g_assert_nonnull (strstr (json, "\"quick_gelu\""));
  wp_clip_config_parse (&parsed, json, strlen (json), &error);
  g_assert_no_error (error);
  wp_assert_clip_config_equal (&parsed, &config);
}

/* transformers' names for GELU's tanh approximation; the writer says gelu_new. */
static void
test_config_gelu_tanh (void)
{
  static const char *const names[] = { "gelu_new", "gelu_pytorch_tanh", "gelu_fast" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++) {
    g_autofree char *json = g_strdup_printf (
      "{\"text_config\": {\"hidden_act\": \"%s\"}, \"vision_config\": {}}", names[i]);
    g_autofree char *written = NULL;
    WpClipConfig     config;
    g_autoptr (GError) error = NULL;

    wp_clip_config_parse (&config, json, strlen (json), &error);
    g_assert_no_error (error);
    g_assert_cmpint (config.text.activation, ==, WP_ACTIVATION_GELU_TANH);
    g_assert_cmpint (config.vision.activation, ==, WP_ACTIVATION_QUICK_GELU);
    written = wp_clip_config_to_json (&config);
    g_assert_nonnull (strstr (written, "\"gelu_new\""));
  }
}

/* Older transformers folders carry text_config_dict beside text_config; its keys win. */
static void
test_config_dicts (void)
{
  const char  *json = "{\"text_config\": {\"hidden_size\": 64, \"num_attention_heads\": 4},"
                      " \"text_config_dict\": {\"hidden_size\": 128},"
                      " \"vision_config\": {\"image_size\": 224},"
                      " \"vision_config_dict\": {\"image_size\": 336, \"patch_size\": 14}}";
  WpClipConfig config;
  g_autoptr (GError) error = NULL;

  wp_clip_config_parse (&config, json, strlen (json), &error);
  g_assert_no_error (error);
  g_assert_cmpint (config.text.width, ==, 128);
  g_assert_cmpint (config.text.n_heads, ==, 4);
  g_assert_cmpint (config.image_size, ==, 336);
  g_assert_cmpint (wp_clip_config_grid (&config), ==, 24);
}

/* transformers' rule: eos_token_id 2 pools at the largest id, any other at the first
 * eos_token_id; "text_pooling" in the wordpatch object keeps a rule the id alone would not say. */
static void
test_config_text_pooling (void)
{
  const char      *legacy = "{\"text_config\": {\"bos_token_id\": 0, \"eos_token_id\": 2},"
                            " \"vision_config\": {}}";
  WpClipConfig     config, parsed;
  g_autofree char *json = NULL;
  g_autoptr (GError) error = NULL;

  wp_clip_config_parse (&config, legacy, strlen (legacy), &error);
  g_assert_no_error (error);
  g_assert_cmpint (config.text_pooling, ==, WP_TEXT_POOL_ARGMAX);
  json = wp_clip_config_to_json (&config);
  g_assert_null (strstr (json, "text_pooling"));

  wp_clip_config_init_default (&config);
  g_assert_cmpint (config.text_pooling, ==, WP_TEXT_POOL_EOS);
  config.text_pooling = WP_TEXT_POOL_ARGMAX;
  g_clear_pointer (&json, g_free);
  json = wp_clip_config_to_json (&config);
  g_assert_nonnull (strstr (json, "\"text_pooling\" : \"argmax\""));
  wp_clip_config_parse (&parsed, json, strlen (json), &error);
  g_assert_no_error (error);
  wp_assert_clip_config_equal (&parsed, &config);
}

/* The preprocessing preprocessor_config.json cannot say is kept in the wordpatch object, and only
 * when it is not the default (a default config.json reads as before). */
static void
test_config_preprocessing (void)
{
  WpClipConfig     config, parsed;
  g_autofree char *json = NULL;
  g_autoptr (GError) error = NULL;

  wp_clip_config_init_default (&config);
  json = wp_clip_config_to_json (&config);
  g_assert_null (strstr (json, "resize"));
  g_assert_null (strstr (json, "interpolation"));
  g_assert_null (strstr (json, "crop_offset"));

  config.preprocess =
    (WpPreprocess){ 256, WP_RESIZE_SQUASH, WP_INTERPOLATION_BILINEAR, WP_CROP_OFFSET_ROUND };
  g_clear_pointer (&json, g_free);
  json = wp_clip_config_to_json (&config);
  wp_clip_config_parse (&parsed, json, strlen (json), &error);
  g_assert_no_error (error);
  wp_assert_clip_config_equal (&parsed, &config);
}

static void
test_config_presets (void)
{
  WpClipConfig config, defaults;
  g_autoptr (GError) error = NULL;

  wp_clip_config_init_preset (&config, "tiny", 1000, &error);
  g_assert_no_error (error);
  g_assert_cmpint (config.vocab_size, ==, 1000);
  g_assert_cmpint (config.image_size, ==, 64);
  g_assert_cmpint (config.patch_size, ==, 8);
  g_assert_cmpint (config.vision.width, ==, 192);
  g_assert_cmpint (config.text.width, ==, 192);
  g_assert_cmpint (config.vision.n_layers, ==, 6);
  g_assert_cmpint (config.text.n_layers, ==, 4);
  g_assert_cmpint (config.vision.n_heads, ==, 3);
  g_assert_cmpint (config.text.n_heads, ==, 3);
  g_assert_cmpint (config.vision.mlp_width, ==, 768);
  g_assert_cmpint (config.text.mlp_width, ==, 768);
  g_assert_cmpint (config.context_length, ==, 32);
  g_assert_cmpint (config.projection_dim, ==, 128);
  g_assert_true (wp_clip_config_validate (&config, NULL));

  wp_clip_config_init_preset (&config, "small", CLIP_VOCAB, &error);
  g_assert_no_error (error);
  g_assert_cmpint (config.vocab_size, ==, CLIP_VOCAB);
  g_assert_cmpint (config.image_size, ==, 96);
  g_assert_cmpint (config.patch_size, ==, 12);
  g_assert_cmpint (config.vision.width, ==, 256);
  g_assert_cmpint (config.text.width, ==, 256);
  g_assert_cmpint (config.vision.n_layers, ==, 8);
  g_assert_cmpint (config.text.n_layers, ==, 6);
  g_assert_cmpint (config.vision.n_heads, ==, 4);
  g_assert_cmpint (config.text.n_heads, ==, 4);
  g_assert_cmpint (config.vision.mlp_width, ==, 1024);
  g_assert_cmpint (config.context_length, ==, 32);
  g_assert_cmpint (config.projection_dim, ==, 256);

  wp_clip_config_init_preset (&config, "vit-b32", CLIP_VOCAB, &error);
  g_assert_no_error (error);
  wp_clip_config_init_default (&defaults);
  wp_assert_clip_config_equal (&config, &defaults);

  g_assert_false (wp_clip_config_init_preset (&config, "huge", CLIP_VOCAB, &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_INVALID);
  assert_error_mentions (error, "'huge'");
  g_clear_error (&error);

  /* A vocabulary size out of bounds is refused like any other size. */
  g_assert_false (wp_clip_config_init_preset (&config, "tiny", 0, &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_SHAPE);
  assert_error_mentions (error, "vocab_size");
}

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

/* Loads path, expecting the error and a message with each fragment. */
static void
expect_load_error (const char *path,
                   GQuark      domain,
                   int         code,
                   const char *fragment1,
                   const char *fragment2)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = wp_model_load (path, &error);

  g_assert_null (model);
  g_assert_error (error, domain, code);
  assert_error_mentions (error, fragment1);
  if (fragment2 != NULL)
    assert_error_mentions (error, fragment2);
}

static void
test_load_missing_folder (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("model");
  g_autofree char *path = g_build_filename (dir, "absent", NULL);

  expect_load_error (path, G_FILE_ERROR, G_FILE_ERROR_NOENT, path, NULL);
  remove_tree (dir);
}

static void
test_load_missing_config (void)
{
  Saved            s;
  g_autofree char *config = NULL;

  saved_init (&s);
  config = g_build_filename (s.model_dir, "config.json", NULL);
  g_assert_cmpint (g_unlink (config), ==, 0);
  expect_load_error (s.model_dir, G_FILE_ERROR, G_FILE_ERROR_NOENT, config, NULL);
  saved_clear (&s);
}

static void
test_load_malformed_config (void)
{
  Saved            s;
  g_autofree char *config = NULL;

  saved_init (&s);
  config = g_build_filename (s.model_dir, "config.json", NULL);
  wp_test_write_text (s.model_dir, "config.json", "{\"text_config\": {\"hidden_size\": 16,");
  expect_load_error (s.model_dir, WP_ERROR, WP_ERROR_FORMAT, config, "JSON");
  saved_clear (&s);
}

static void
test_load_empty_config (void)
{
  Saved            s;
  g_autofree char *config = NULL;

  saved_init (&s);
  config = g_build_filename (s.model_dir, "config.json", NULL);
  wp_test_write_text (s.model_dir, "config.json", "");
  expect_load_error (s.model_dir, WP_ERROR, WP_ERROR_FORMAT, config, NULL);
  saved_clear (&s);
}

static void
test_load_invalid_config (void)
{
  Saved            s;
  g_autofree char *config = NULL;

  saved_init (&s);
  config = g_build_filename (s.model_dir, "config.json", NULL);
  wp_test_write_text (s.model_dir, "config.json",
                      "{\"text_config\": {\"hidden_act\": \"relu\"}, \"vision_config\": {}}");
  expect_load_error (s.model_dir, WP_ERROR, WP_ERROR_UNSUPPORTED, config, "relu");
  saved_clear (&s);
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
  Saved            s;
  g_autofree char *config = NULL;
  g_autofree char *text = g_strnfill (WP_CONFIG_MAX_BYTES + 1, ' ');

  saved_init (&s);
  config = g_build_filename (s.model_dir, "config.json", NULL);
  wp_test_write_text (s.model_dir, "config.json", text);
  expect_load_error (s.model_dir, WP_ERROR, WP_ERROR_FORMAT, config,
                     "1048577 bytes, more than the limit of 1048576");
  saved_clear (&s);
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
  Saved            s;
  g_autofree char *vocab = NULL;

  saved_init (&s);
  vocab = g_build_filename (s.model_dir, "vocab.json", NULL);
  g_assert_cmpint (g_unlink (vocab), ==, 0);
  expect_load_error (s.model_dir, G_FILE_ERROR, G_FILE_ERROR_NOENT, vocab, NULL);
  saved_clear (&s);
}

static void
test_load_missing_tensor (void)
{
  Saved s;

  saved_init (&s);
  write_edited_weights (s.model, s.weights, EDIT_DROP, "text_model.encoder.layers.0.mlp.fc2.bias",
                        NULL);
  expect_load_error (s.model_dir, WP_ERROR, WP_ERROR_MISSING, s.weights,
                     "'text_model.encoder.layers.0.mlp.fc2.bias'");
  saved_clear (&s);
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
  Saved s;

  saved_init (&s);
  write_edited_weights (s.model, s.weights, EDIT_EXTRA,
                        "text_model.encoder.layers.1.mlp.fc1.weight", NULL);
  expect_load_error (s.model_dir, WP_ERROR, WP_ERROR_SHAPE, s.weights,
                     "'text_model.encoder.layers.1.mlp.fc1.weight'");
  saved_clear (&s);
}

/* transformers keeps position_ids buffers in some files; they are not weights and not errors. */
static void
test_load_position_ids_ignored (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) loaded = NULL;
  Saved s;

  saved_init (&s);
  write_edited_weights (s.model, s.weights, EDIT_EXTRA, "text_model.embeddings.position_ids", NULL);
  loaded = wp_model_load (s.model_dir, &error);
  g_assert_no_error (error);
  assert_models_equal (loaded, s.model);
  saved_clear (&s);
}

/* transformers stores the logit scale as a 0-d tensor; a [1] tensor is accepted too. */
static void
test_load_scalar_as_vector (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) loaded = NULL;
  Saved s;

  saved_init (&s);
  write_edited_weights (s.model, s.weights, EDIT_SCALAR_AS_1, "logit_scale", NULL);
  loaded = wp_model_load (s.model_dir, &error);
  g_assert_no_error (error);
  assert_models_equal (loaded, s.model);
  saved_clear (&s);
}

static void
test_load_nan (void)
{
  Saved s;

  saved_init (&s);
  write_edited_weights (s.model, s.weights, EDIT_NAN,
                        "vision_model.encoder.layers.1.mlp.fc1.weight", NULL);
  expect_load_error (s.model_dir, WP_ERROR, WP_ERROR_NOT_FINITE, s.weights,
                     "'vision_model.encoder.layers.1.mlp.fc1.weight'");
  saved_clear (&s);
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

  g_test_add_func ("/model/config/minimal-takes-defaults", test_config_minimal);
  g_test_add_func ("/model/config/partial", test_config_partial);
  g_test_add_func ("/model/config/round-trip", test_config_round_trip);
  g_test_add_func ("/model/config/presets", test_config_presets);
  g_test_add_func ("/model/config/gelu-tanh", test_config_gelu_tanh);
  g_test_add_func ("/model/config/config-dicts", test_config_dicts);
  g_test_add_func ("/model/config/text-pooling", test_config_text_pooling);
  g_test_add_func ("/model/config/preprocessing", test_config_preprocessing);
  g_test_add_func ("/model/config/logit-scale-overflow", test_config_logit_scale_overflow);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_configs); i++) {
    g_autofree char *path = g_strdup_printf ("/model/config/bad/%s", bad_configs[i].name);

    g_test_add_data_func (path, &bad_configs[i], test_config_bad);
  }
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
