/* test-model-config.c: config.json: what it reads, its defaults, what it refuses by key, what it
 * writes, and the presets. */
#include <string.h>

#include "assert-config.h"
#include "model-fixtures.h"

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

int
main (int   argc,
      char *argv[])
{
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
  wp_test_add_named_cases ("/model/config/bad", bad_configs, test_config_bad);
  return g_test_run ();
}
