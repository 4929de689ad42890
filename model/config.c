#include "wordpatch/config.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "json-private.h"
#include "wordpatch/error.h"
#include "wordpatch/loss.h"

void
wp_clip_config_init_default (WpClipConfig *config)
{
  static const float clip_mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
  static const float clip_std[3] = { 0.26862954f, 0.26130258f, 0.27577711f };

  memset (config, 0, sizeof *config);
  config->text = (WpTowerConfig){ 512, 2048, 8, 12, WP_ACTIVATION_QUICK_GELU, 1e-5f };
  config->vision = (WpTowerConfig){ 768, 3072, 12, 12, WP_ACTIVATION_QUICK_GELU, 1e-5f };
  config->vocab_size = 49408;
  config->context_length = 77;
  config->bos_token_id = 49406;
  config->eos_token_id = 49407;
  config->pad_token_id = 1;
  config->image_size = 224;
  config->patch_size = 32;
  config->projection_dim = 512;
  config->logit_scale_init = 2.6592f;
  memcpy (config->image_mean, clip_mean, sizeof clip_mean);
  memcpy (config->image_std, clip_std, sizeof clip_std);
}

gboolean
wp_clip_config_init_preset (WpClipConfig *config,
                            const char   *name,
                            int           vocab_size,
                            GError      **error)
{
  wp_clip_config_init_default (config);
  config->vocab_size = vocab_size;
  if (strcmp (name, "tiny") == 0) {
    config->vision = (WpTowerConfig){ 192, 768, 3, 6, WP_ACTIVATION_QUICK_GELU, 1e-5f };
    config->text = (WpTowerConfig){ 192, 768, 3, 4, WP_ACTIVATION_QUICK_GELU, 1e-5f };
    config->image_size = 64;
    config->patch_size = 8;
    config->context_length = 32;
    config->projection_dim = 128;
  } else if (strcmp (name, "small") == 0) {
    config->vision = (WpTowerConfig){ 256, 1024, 4, 8, WP_ACTIVATION_QUICK_GELU, 1e-5f };
    config->text = (WpTowerConfig){ 256, 1024, 4, 6, WP_ACTIVATION_QUICK_GELU, 1e-5f };
    config->image_size = 96;
    config->patch_size = 12;
    config->context_length = 32;
    config->projection_dim = 256;
  } else if (strcmp (name, "vit-b16") == 0) {
    config->patch_size = 16;
  } else if (strcmp (name, "vit-b32") != 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "unknown model size '%s' (tiny, small, vit-b16 or vit-b32)", name);
    return FALSE;
  }
  return wp_clip_config_validate (config, error);
}

const char *
wp_activation_to_string (WpActivation activation)
{
  return activation == WP_ACTIVATION_GELU ? "gelu" : "quick_gelu";
}

static gboolean
read_int (JsonObject *obj,
          const char *section,
          const char *key,
          int        *value,
          GError    **error)
{
  JsonNode *node = json_object_get_member (obj, key);
  gint64    v;

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64 ||
      (v = json_node_get_int (node)) < G_MININT || v > G_MAXINT) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s%s%s must be an integer", section,
                 *section ? "." : "", key);
    return FALSE;
  }
  *value = (int) v;
  return TRUE;
}

static gboolean
read_float (JsonObject *obj,
            const char *section,
            const char *key,
            float      *value,
            GError    **error)
{
  JsonNode *node = json_object_get_member (obj, key);
  GType     type;

  if (node == NULL)
    return TRUE;
  type = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;
  if (type != G_TYPE_INT64 && type != G_TYPE_DOUBLE) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s%s%s must be a number", section,
                 *section ? "." : "", key);
    return FALSE;
  }
  *value = (float) json_node_get_double (node);
  return TRUE;
}

static gboolean
read_float3 (JsonObject *obj,
             const char *section,
             const char *key,
             float       value[3],
             GError    **error)
{
  JsonNode  *node = json_object_get_member (obj, key);
  JsonArray *array;

  if (node == NULL)
    return TRUE;
  array = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  if (array == NULL || json_array_get_length (array) != 3) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s.%s must be an array of 3 numbers", section,
                 key);
    return FALSE;
  }
  for (guint i = 0; i < 3; i++) {
    JsonNode *element = json_array_get_element (array, i);
    GType     type =
      JSON_NODE_HOLDS_VALUE (element) ? json_node_get_value_type (element) : G_TYPE_INVALID;

    if (type != G_TYPE_INT64 && type != G_TYPE_DOUBLE) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s.%s must be an array of 3 numbers", section,
                   key);
      return FALSE;
    }
    value[i] = (float) json_node_get_double (element);
  }
  return TRUE;
}

static gboolean
read_objective (JsonObject   *obj,
                WpClipConfig *config,
                GError      **error)
{
  JsonNode   *node = json_object_get_member (obj, "objective");
  const char *name;
  WpObjective objective;

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "wordpatch.objective must be a string");
    return FALSE;
  }
  name = json_node_get_string (node);
  if (!wp_objective_from_string (name, &objective)) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "wordpatch.objective '%s' is not known (clip, filip or sparc)", name);
    return FALSE;
  }
  config->objective = wp_objective_to_string (objective);
  return TRUE;
}

static gboolean
read_tower (JsonObject    *obj,
            const char    *section,
            WpTowerConfig *tower,
            GError       **error)
{
  JsonNode *act;

  if (!read_int (obj, section, "hidden_size", &tower->width, error) ||
      !read_int (obj, section, "intermediate_size", &tower->mlp_width, error) ||
      !read_int (obj, section, "num_attention_heads", &tower->n_heads, error) ||
      !read_int (obj, section, "num_hidden_layers", &tower->n_layers, error) ||
      !read_float (obj, section, "layer_norm_eps", &tower->layer_norm_eps, error))
    return FALSE;
  act = json_object_get_member (obj, "hidden_act");
  if (act != NULL) {
    const char *name =
      JSON_NODE_HOLDS_VALUE (act) && json_node_get_value_type (act) == G_TYPE_STRING
        ? json_node_get_string (act)
        : NULL;

    if (g_strcmp0 (name, "quick_gelu") == 0) {
      tower->activation = WP_ACTIVATION_QUICK_GELU;
    } else if (g_strcmp0 (name, "gelu") == 0) {
      tower->activation = WP_ACTIVATION_GELU;
    } else {
      g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                   "%s.hidden_act '%s' is not supported (quick_gelu or gelu)", section,
                   name ? name : "(not a string)");
      return FALSE;
    }
  }
  return TRUE;
}

static JsonObject *
get_section (JsonObject *root,
             const char *key,
             GError    **error)
{
  JsonNode *node = json_object_get_member (root, key);

  if (node == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
                 "no \"%s\" object (is this a CLIPModel config?)", key);
    return NULL;
  }
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "\"%s\" is not an object", key);
    return NULL;
  }
  return json_node_get_object (node);
}

gboolean
wp_clip_config_parse (WpClipConfig *config,
                      const char   *json,
                      gsize         len,
                      GError      **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root, *text, *vision;
  JsonNode   *extra;
  int         num_channels = 3;

  wp_clip_config_init_default (config);
  if (len > WP_CONFIG_MAX_BYTES) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%" G_GSIZE_FORMAT " bytes, more than the limit of %d for a config", len,
                 WP_CONFIG_MAX_BYTES);
    return FALSE;
  }
  /* Every byte could be a value; the size limit above bounds the tree. */
  if (!wp_json_parser_load (parser, json, len, G_MAXSIZE, error))
    return FALSE;
  /* json-glib accepts blank input and gives no root. */
  if (json_parser_get_root (parser) == NULL ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "not a JSON object");
    return FALSE;
  }
  root = json_node_get_object (json_parser_get_root (parser));
  if ((text = get_section (root, "text_config", error)) == NULL ||
      (vision = get_section (root, "vision_config", error)) == NULL)
    return FALSE;
  if (!read_int (root, "", "projection_dim", &config->projection_dim, error) ||
      !read_float (root, "", "logit_scale_init_value", &config->logit_scale_init, error) ||
      !read_tower (text, "text_config", &config->text, error) ||
      !read_int (text, "text_config", "vocab_size", &config->vocab_size, error) ||
      !read_int (text, "text_config", "max_position_embeddings", &config->context_length, error) ||
      !read_int (text, "text_config", "bos_token_id", &config->bos_token_id, error) ||
      !read_int (text, "text_config", "eos_token_id", &config->eos_token_id, error) ||
      !read_int (text, "text_config", "pad_token_id", &config->pad_token_id, error) ||
      !read_tower (vision, "vision_config", &config->vision, error) ||
      !read_int (vision, "vision_config", "image_size", &config->image_size, error) ||
      !read_int (vision, "vision_config", "patch_size", &config->patch_size, error) ||
      !read_int (vision, "vision_config", "num_channels", &num_channels, error))
    return FALSE;
  if (num_channels != 3) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "vision_config.num_channels is %d; only RGB (3) images are supported",
                 num_channels);
    return FALSE;
  }
  extra = json_object_get_member (root, "wordpatch");
  if (extra != NULL) {
    if (!JSON_NODE_HOLDS_OBJECT (extra)) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "\"wordpatch\" is not an object");
      return FALSE;
    }
    if (!read_float3 (json_node_get_object (extra), "wordpatch", "image_mean", config->image_mean,
                      error) ||
        !read_float3 (json_node_get_object (extra), "wordpatch", "image_std", config->image_std,
                      error) ||
        !read_objective (json_node_get_object (extra), config, error))
      return FALSE;
  }
  return wp_clip_config_validate (config, error);
}

static gboolean
check_range (int         value,
             int         max,
             const char *name,
             GError    **error)
{
  if (value < 1 || value > max) {
    g_set_error (error, WP_ERROR, WP_ERROR_SHAPE, "%s is %d; it must be between 1 and %d", name,
                 value, max);
    return FALSE;
  }
  return TRUE;
}

static gboolean
validate_tower (const WpTowerConfig *tower,
                const char          *section,
                GError             **error)
{
  g_autofree char *width = g_strdup_printf ("%s.hidden_size", section);
  g_autofree char *mlp = g_strdup_printf ("%s.intermediate_size", section);
  g_autofree char *heads = g_strdup_printf ("%s.num_attention_heads", section);
  g_autofree char *layers = g_strdup_printf ("%s.num_hidden_layers", section);

  if (!check_range (tower->width, WP_MAX_WIDTH, width, error) ||
      !check_range (tower->mlp_width, 4 * WP_MAX_WIDTH, mlp, error) ||
      !check_range (tower->n_heads, tower->width, heads, error) ||
      !check_range (tower->n_layers, WP_MAX_LAYERS, layers, error))
    return FALSE;
  if (tower->width % tower->n_heads != 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_SHAPE,
                 "%s.hidden_size %d is not divisible by num_attention_heads %d", section,
                 tower->width, tower->n_heads);
    return FALSE;
  }
  if (!(tower->layer_norm_eps > 0.0f && tower->layer_norm_eps < 1.0f)) {
    g_set_error (error, WP_ERROR, WP_ERROR_SHAPE, "%s.layer_norm_eps must be in (0, 1)", section);
    return FALSE;
  }
  return TRUE;
}

/* One encoder layer: q, k, v and out projections with biases, two layer norms, the MLP. */
static guint64
count_layer_parameters (const WpTowerConfig *tower)
{
  const guint64 C = (guint64) tower->width, I = (guint64) tower->mlp_width;

  return 4 * (C * C + C) + 2 * C + (I * C + I) + (C * I + C) + 2 * C;
}

/* The element count of wp_tensor_specs_new()'s layout, for sizes already within their bounds
 * (no product overflows 64 bits). */
static guint64
count_parameters (const WpClipConfig *config)
{
  const guint64 Ct = (guint64) config->text.width, Cv = (guint64) config->vision.width;
  const guint64 E = (guint64) config->projection_dim, p = (guint64) config->patch_size;
  const guint64 P = (guint64) wp_clip_config_n_patches (config);
  const guint64 text = ((guint64) config->vocab_size + (guint64) config->context_length) * Ct +
                       (guint64) config->text.n_layers * count_layer_parameters (&config->text) +
                       2 * Ct;
  const guint64 vision =
    Cv + Cv * 3 * p * p + (P + 1) * Cv + 2 * Cv +
    (guint64) config->vision.n_layers * count_layer_parameters (&config->vision) + 2 * Cv;

  return text + vision + E * (Cv + Ct) + 1;
}

gboolean
wp_clip_config_validate (const WpClipConfig *config,
                         GError            **error)
{
  if (!validate_tower (&config->text, "text_config", error) ||
      !validate_tower (&config->vision, "vision_config", error) ||
      !check_range (config->vocab_size, WP_MAX_VOCAB, "text_config.vocab_size", error) ||
      !check_range (config->context_length, WP_MAX_CONTEXT, "text_config.max_position_embeddings",
                    error) ||
      !check_range (config->image_size, WP_MAX_IMAGE, "vision_config.image_size", error) ||
      !check_range (config->patch_size, config->image_size, "vision_config.patch_size", error) ||
      !check_range (config->projection_dim, WP_MAX_WIDTH, "projection_dim", error))
    return FALSE;
  if (config->context_length < 2) {
    g_set_error (error, WP_ERROR, WP_ERROR_SHAPE,
                 "text_config.max_position_embeddings must hold the start and end tokens");
    return FALSE;
  }
  if (config->image_size % config->patch_size != 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_SHAPE,
                 "vision_config.image_size %d is not a multiple of patch_size %d",
                 config->image_size, config->patch_size);
    return FALSE;
  }
  if (wp_clip_config_n_patches (config) > WP_MAX_PATCHES) {
    g_set_error (
      error, WP_ERROR, WP_ERROR_SHAPE,
      "vision_config.image_size %d and patch_size %d make %d patches; at most %d are supported",
      config->image_size, config->patch_size, wp_clip_config_n_patches (config), WP_MAX_PATCHES);
    return FALSE;
  }
  if (count_parameters (config) > WP_MAX_PARAMETERS) {
    g_set_error (error, WP_ERROR, WP_ERROR_SHAPE,
                 "the config describes %" G_GUINT64_FORMAT " parameters; at most %d are supported",
                 count_parameters (config), WP_MAX_PARAMETERS);
    return FALSE;
  }
  if (!isfinite (config->logit_scale_init)) {
    g_set_error (error, WP_ERROR, WP_ERROR_NOT_FINITE,
                 "logit_scale_init_value is not a finite float");
    return FALSE;
  }
  for (int c = 0; c < 3; c++) {
    if (!(config->image_std[c] > 0.0f) || !isfinite (config->image_std[c]) ||
        !isfinite (config->image_mean[c])) {
      g_set_error (error, WP_ERROR, WP_ERROR_SHAPE,
                   "wordpatch.image_std must be positive and finite, and image_mean finite");
      return FALSE;
    }
  }
  return TRUE;
}

static void
add_int (JsonBuilder *builder,
         const char  *key,
         gint64       value)
{
  json_builder_set_member_name (builder, key);
  json_builder_add_int_value (builder, value);
}

static void
add_double (JsonBuilder *builder,
            const char  *key,
            double       value)
{
  json_builder_set_member_name (builder, key);
  json_builder_add_double_value (builder, value);
}

static void
add_string (JsonBuilder *builder,
            const char  *key,
            const char  *value)
{
  json_builder_set_member_name (builder, key);
  json_builder_add_string_value (builder, value);
}

static void
add_tower (JsonBuilder         *builder,
           const WpTowerConfig *tower,
           int                  projection_dim)
{
  add_int (builder, "hidden_size", tower->width);
  add_int (builder, "intermediate_size", tower->mlp_width);
  add_int (builder, "num_attention_heads", tower->n_heads);
  add_int (builder, "num_hidden_layers", tower->n_layers);
  add_string (builder, "hidden_act", wp_activation_to_string (tower->activation));
  add_double (builder, "layer_norm_eps", tower->layer_norm_eps);
  add_int (builder, "projection_dim", projection_dim);
}

static void
add_float3 (JsonBuilder *builder,
            const char  *key,
            const float  value[3])
{
  json_builder_set_member_name (builder, key);
  json_builder_begin_array (builder);
  for (int i = 0; i < 3; i++)
    json_builder_add_double_value (builder, value[i]);
  json_builder_end_array (builder);
}

char *
wp_clip_config_to_json (const WpClipConfig *config)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "architectures");
  json_builder_begin_array (builder);
  json_builder_add_string_value (builder, "CLIPModel");
  json_builder_end_array (builder);
  add_string (builder, "model_type", "clip");
  add_int (builder, "projection_dim", config->projection_dim);
  add_double (builder, "logit_scale_init_value", config->logit_scale_init);
  json_builder_set_member_name (builder, "text_config");
  json_builder_begin_object (builder);
  add_tower (builder, &config->text, config->projection_dim);
  add_int (builder, "vocab_size", config->vocab_size);
  add_int (builder, "max_position_embeddings", config->context_length);
  add_int (builder, "bos_token_id", config->bos_token_id);
  add_int (builder, "eos_token_id", config->eos_token_id);
  add_int (builder, "pad_token_id", config->pad_token_id);
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "vision_config");
  json_builder_begin_object (builder);
  add_tower (builder, &config->vision, config->projection_dim);
  add_int (builder, "image_size", config->image_size);
  add_int (builder, "patch_size", config->patch_size);
  add_int (builder, "num_channels", 3);
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "wordpatch");
  json_builder_begin_object (builder);
  add_float3 (builder, "image_mean", config->image_mean);
  add_float3 (builder, "image_std", config->image_std);
  if (config->objective != NULL)
    add_string (builder, "objective", config->objective);
  json_builder_end_object (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  return json_generator_to_data (generator, NULL);
}
