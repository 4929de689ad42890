#include "wordpatch/config.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "config-private.h"
#include "json-private.h"
#include "json-write-private.h"
#include "wordpatch/error.h"
#include "wordpatch/evaluate.h"
#include "wordpatch/loss.h"

const char *
wp_activation_to_string (WpActivation activation)
{
  switch (activation) {
  case WP_ACTIVATION_GELU:
    return "gelu";
  case WP_ACTIVATION_GELU_TANH:
    return "gelu_new";
  case WP_ACTIVATION_QUICK_GELU:
  default:
    return "quick_gelu";
  }
}

const char *
wp_model_family_to_string (WpModelFamily family)
{
  switch (family) {
  case WP_MODEL_FAMILY_SIGLIP:
    return "SigLIP";
  case WP_MODEL_FAMILY_CLIP:
  default:
    return "CLIP";
  }
}

/* transformers' names (activations.py ACT2FN) for each activation. */
static gboolean
activation_from_string (const char   *name,
                        WpActivation *activation)
{
  static const struct {
    const char  *name;
    WpActivation activation;
  } names[] = {
    { "quick_gelu", WP_ACTIVATION_QUICK_GELU },
    { "gelu", WP_ACTIVATION_GELU },
    { "gelu_new", WP_ACTIVATION_GELU_TANH },
    { "gelu_pytorch_tanh", WP_ACTIVATION_GELU_TANH },
    { "gelu_fast", WP_ACTIVATION_GELU_TANH },
  };

  for (gsize i = 0; name != NULL && i < G_N_ELEMENTS (names); i++) {
    if (strcmp (name, names[i].name) == 0) {
      *activation = names[i].activation;
      return TRUE;
    }
  }
  return FALSE;
}

gboolean
wp_config_member_error (GError    **error,
                        const char *section,
                        const char *key,
                        const char *what)
{
  g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s%s%s must be %s", section, *section ? "." : "",
               key, what);
  return FALSE;
}

gboolean
wp_config_read_int (JsonObject *obj,
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
      (v = json_node_get_int (node)) < G_MININT || v > G_MAXINT)
    return wp_config_member_error (error, section, key, "an integer");
  *value = (int) v;
  return TRUE;
}

gboolean
wp_config_read_float (JsonObject *obj,
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
  if (type != G_TYPE_INT64 && type != G_TYPE_DOUBLE)
    return wp_config_member_error (error, section, key, "a number");
  *value = (float) json_node_get_double (node);
  return TRUE;
}

gboolean
wp_config_read_float3 (JsonObject *obj,
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
  if (array == NULL || json_array_get_length (array) != 3)
    return wp_config_member_error (error, section, key, "an array of 3 numbers");
  for (guint i = 0; i < 3; i++) {
    JsonNode *element = json_array_get_element (array, i);
    GType     type =
      JSON_NODE_HOLDS_VALUE (element) ? json_node_get_value_type (element) : G_TYPE_INVALID;

    if (type != G_TYPE_INT64 && type != G_TYPE_DOUBLE)
      return wp_config_member_error (error, section, key, "an array of 3 numbers");
    value[i] = (float) json_node_get_double (element);
  }
  return TRUE;
}

static gboolean
read_tower (JsonObject    *obj,
            const char    *section,
            WpTowerConfig *tower,
            GError       **error)
{
  JsonNode *act;

  if (!wp_config_read_int (obj, section, "hidden_size", &tower->width, error) ||
      !wp_config_read_int (obj, section, "intermediate_size", &tower->mlp_width, error) ||
      !wp_config_read_int (obj, section, "num_attention_heads", &tower->n_heads, error) ||
      !wp_config_read_int (obj, section, "num_hidden_layers", &tower->n_layers, error) ||
      !wp_config_read_float (obj, section, "layer_norm_eps", &tower->layer_norm_eps, error))
    return FALSE;
  act = json_object_get_member (obj, "hidden_act");
  if (act != NULL) {
    const char *name =
      JSON_NODE_HOLDS_VALUE (act) && json_node_get_value_type (act) == G_TYPE_STRING
        ? json_node_get_string (act)
        : NULL;

    if (!activation_from_string (name, &tower->activation)) {
      g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                   "%s.hidden_act '%s' is not supported (quick_gelu, gelu, gelu_new, "
                   "gelu_pytorch_tanh or gelu_fast)",
                   section, name ? name : "(not a string)");
      return FALSE;
    }
  }
  return TRUE;
}

/* *section: root's object member key, or NULL when absent (an error when required). */
static gboolean
get_section (JsonObject  *root,
             const char  *key,
             gboolean     required,
             JsonObject **section,
             GError     **error)
{
  JsonNode *node = json_object_get_member (root, key);

  *section = NULL;
  if (node == NULL) {
    if (!required)
      return TRUE;
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
                 "no \"%s\" object (is this a CLIPModel config?)", key);
    return FALSE;
  }
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "\"%s\" is not an object", key);
    return FALSE;
  }
  *section = json_node_get_object (node);
  return TRUE;
}

static gboolean
read_text_section (JsonObject   *text,
                   const char   *section,
                   WpClipConfig *config,
                   GError      **error)
{
  return read_tower (text, section, &config->text, error) &&
         wp_config_read_int (text, section, "vocab_size", &config->vocab_size, error) &&
         wp_config_read_int (text, section, "max_position_embeddings", &config->context_length,
                             error) &&
         wp_config_read_int (text, section, "bos_token_id", &config->bos_token_id, error) &&
         wp_config_read_int (text, section, "eos_token_id", &config->eos_token_id, error) &&
         wp_config_read_int (text, section, "pad_token_id", &config->pad_token_id, error);
}

static gboolean
read_vision_section (JsonObject   *vision,
                     const char   *section,
                     WpClipConfig *config,
                     GError      **error)
{
  int num_channels = 3;

  if (!read_tower (vision, section, &config->vision, error) ||
      !wp_config_read_int (vision, section, "image_size", &config->image_size, error) ||
      !wp_config_read_int (vision, section, "patch_size", &config->patch_size, error) ||
      !wp_config_read_int (vision, section, "num_channels", &num_channels, error))
    return FALSE;
  if (num_channels != 3) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "%s.num_channels is %d; only RGB (3) images are supported", section,
                 num_channels);
    return FALSE;
  }
  return TRUE;
}

/* A string member named key, one of names (NULL-terminated, which the error lists): its index
 * in *value; left alone when absent. */
static gboolean
read_choice (JsonObject        *obj,
             const char        *section,
             const char        *key,
             const char *const *names,
             int               *value,
             GError           **error)
{
  JsonNode        *node = json_object_get_member (obj, key);
  const char      *name;
  g_autofree char *list = NULL;

  if (node == NULL)
    return TRUE;
  name = JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
           ? json_node_get_string (node)
           : NULL;
  for (int i = 0; name != NULL && names[i] != NULL; i++) {
    if (strcmp (name, names[i]) == 0) {
      *value = i;
      return TRUE;
    }
  }
  list = g_strjoinv (", ", (char **) (gpointer) names);
  g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED, "%s.%s '%s' is not supported (%s)", section,
               key, name ? name : "(not a string)", list);
  return FALSE;
}

static const char *const resize_mode_names[] = { "shortest", "squash", NULL };
static const char *const interpolation_names[] = { "bicubic", "bilinear", NULL };
static const char *const crop_offset_names[] = { "floor", "round", NULL };
static const char *const text_pooling_names[] = { "eos", "argmax", "last", NULL };

gboolean
wp_config_read_training (JsonObject   *obj,
                         WpClipConfig *config,
                         GError      **error)
{
  JsonNode   *node = json_object_get_member (obj, "objective");
  const char *name;
  WpObjective objective;
  int         similarity = -1;

  if (node != NULL) {
    if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "wordpatch.objective must be a string");
      return FALSE;
    }
    name = json_node_get_string (node);
    if (!wp_objective_from_string (name, &objective)) {
      g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                   "wordpatch.objective '%s' is not known (clip, filip, sparc or sigmoid)", name);
      return FALSE;
    }
    config->objective = wp_objective_to_string (objective);
  }
  if (!read_choice (obj, "wordpatch", "similarity", wp_retrieval_names, &similarity, error))
    return FALSE;
  if (similarity >= 0)
    config->similarity = wp_retrieval_names[similarity];
  return TRUE;
}

void
wp_config_add_training (JsonBuilder        *builder,
                        const WpClipConfig *config)
{
  if (config->objective != NULL)
    wp_json_add_string (builder, "objective", config->objective);
  if (config->similarity != NULL)
    wp_json_add_string (builder, "similarity", config->similarity);
}

static gboolean
read_wordpatch_section (JsonObject   *obj,
                        WpClipConfig *config,
                        GError      **error)
{
  int mode = (int) config->preprocess.resize_mode;
  int interpolation = (int) config->preprocess.interpolation;
  int offset = (int) config->preprocess.crop_offset;
  int pooling = (int) config->text_pooling;

  if (!wp_config_read_float3 (obj, "wordpatch", "image_mean", config->image_mean, error) ||
      !wp_config_read_float3 (obj, "wordpatch", "image_std", config->image_std, error) ||
      !wp_config_read_int (obj, "wordpatch", "resize_size", &config->preprocess.resize_size,
                           error) ||
      !read_choice (obj, "wordpatch", "resize_mode", resize_mode_names, &mode, error) ||
      !read_choice (obj, "wordpatch", "interpolation", interpolation_names, &interpolation,
                    error) ||
      !read_choice (obj, "wordpatch", "crop_offset", crop_offset_names, &offset, error) ||
      !read_choice (obj, "wordpatch", "text_pooling", text_pooling_names, &pooling, error) ||
      !wp_config_read_training (obj, config, error))
    return FALSE;
  config->preprocess.resize_mode = (WpResizeMode) mode;
  config->preprocess.interpolation = (WpInterpolation) interpolation;
  config->preprocess.crop_offset = (WpCropOffset) offset;
  config->text_pooling = (WpTextPooling) pooling;
  return TRUE;
}

JsonObject *
wp_config_load_object (JsonParser *parser,
                       const char *json,
                       gsize       len,
                       GError    **error)
{
  if (len > WP_CONFIG_MAX_BYTES) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%" G_GSIZE_FORMAT " bytes, more than the limit of %d for a config", len,
                 WP_CONFIG_MAX_BYTES);
    return NULL;
  }
  /* Every byte could be a value; the size limit above bounds the tree. */
  if (!wp_json_parser_load (parser, json, len, G_MAXSIZE, error))
    return NULL;
  /* json-glib accepts blank input and gives no root. */
  if (json_parser_get_root (parser) == NULL ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "not a JSON object");
    return NULL;
  }
  return json_node_get_object (json_parser_get_root (parser));
}

/* The optional "wordpatch" section over what transformers' keys said, then the checks. */
static gboolean
finish_parse (WpClipConfig *config,
              JsonObject   *root,
              GError      **error)
{
  JsonNode *extra = json_object_get_member (root, "wordpatch");

  if (extra != NULL) {
    if (!JSON_NODE_HOLDS_OBJECT (extra)) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "\"wordpatch\" is not an object");
      return FALSE;
    }
    if (!read_wordpatch_section (json_node_get_object (extra), config, error))
      return FALSE;
  }
  if (config->preprocess.resize_size == config->image_size)
    config->preprocess.resize_size = 0;
  return wp_clip_config_validate (config, error);
}

/* SiglipConfig: its own defaults; the text head's width is text_config.projection_size. */
static gboolean
parse_siglip (WpClipConfig *config,
              JsonObject   *root,
              GError      **error)
{
  JsonObject *text, *vision;
  int         projection = -1;

  wp_siglip_config_init_default (config);
  if (!get_section (root, "text_config", TRUE, &text, error) ||
      !get_section (root, "vision_config", TRUE, &vision, error) ||
      !read_text_section (text, "text_config", config, error) ||
      !wp_config_read_int (text, "text_config", "projection_size", &projection, error) ||
      !read_vision_section (vision, "vision_config", config, error))
    return FALSE;
  config->projection_dim = projection >= 0 ? projection : config->text.width;
  config->text_pooling = WP_TEXT_POOL_LAST;
  return finish_parse (config, root, error);
}

gboolean
wp_clip_config_parse (WpClipConfig *config,
                      const char   *json,
                      gsize         len,
                      GError      **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root, *text, *vision, *text_dict, *vision_dict;
  JsonNode   *type;
  const char *type_name;

  wp_clip_config_init_default (config);
  if ((root = wp_config_load_object (parser, json, len, error)) == NULL)
    return FALSE;
  /* Other transformers models (CLIPSeg, a tower alone) keep other tensors under other names: say
   * so rather than list a missing tensor. */
  type = json_object_get_member (root, "model_type");
  type_name = type != NULL && JSON_NODE_HOLDS_VALUE (type) &&
                  json_node_get_value_type (type) == G_TYPE_STRING
                ? json_node_get_string (type)
                : NULL;
  if (g_strcmp0 (type_name, "siglip") == 0)
    return parse_siglip (config, root, error);
  if (type != NULL && g_strcmp0 (type_name, "clip") != 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "model_type '%s' is not supported (CLIPModel folders say \"clip\", "
                 "SiglipModel folders \"siglip\")",
                 type_name != NULL ? type_name : "(not a string)");
    return FALSE;
  }
  if (!get_section (root, "text_config", TRUE, &text, error) ||
      !get_section (root, "vision_config", TRUE, &vision, error) ||
      !get_section (root, "text_config_dict", FALSE, &text_dict, error) ||
      !get_section (root, "vision_config_dict", FALSE, &vision_dict, error))
    return FALSE;
  if (!wp_config_read_int (root, "", "projection_dim", &config->projection_dim, error) ||
      !wp_config_read_float (root, "", "logit_scale_init_value", &config->logit_scale_init,
                             error) ||
      !read_text_section (text, "text_config", config, error) ||
      (text_dict != NULL && !read_text_section (text_dict, "text_config_dict", config, error)) ||
      !read_vision_section (vision, "vision_config", config, error) ||
      (vision_dict != NULL &&
       !read_vision_section (vision_dict, "vision_config_dict", config, error)))
    return FALSE;
  /* transformers' CLIPTextTransformer: folders from before its eos_token_id fix say 2 and pool
   * at the largest id, the others at the first eos_token_id. */
  config->text_pooling = config->eos_token_id == 2 ? WP_TEXT_POOL_ARGMAX : WP_TEXT_POOL_EOS;
  return finish_parse (config, root, error);
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

  if (config->family == WP_MODEL_FAMILY_SIGLIP) {
    const guint64 I = (guint64) config->vision.mlp_width;
    /* No class token, pre-LN or projections; a patch bias, the text head, the pooling head (probe,
     * in_proj, out_proj, layer norm, MLP) and the logit bias. */
    const guint64 head = Cv + 3 * (Cv * Cv + Cv) + (Cv * Cv + Cv) + 2 * Cv + (I * Cv + I) +
                         (Cv * I + Cv);

    const guint64 siglip_vision = Cv * 3 * p * p + Cv + P * Cv +
                                  (guint64) config->vision.n_layers *
                                    count_layer_parameters (&config->vision) +
                                  2 * Cv;

    return text + (E * Ct + E) + siglip_vision + head + 2;
  }
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
  if (config->family == WP_MODEL_FAMILY_SIGLIP && config->projection_dim != config->vision.width) {
    g_set_error (error, WP_ERROR, WP_ERROR_SHAPE,
                 "text_config.projection_size %d is not vision_config.hidden_size %d (SigLIP "
                 "compares the text head's output with the vision tower's pooled output)",
                 config->projection_dim, config->vision.width);
    return FALSE;
  }
  if ((config->family == WP_MODEL_FAMILY_SIGLIP) != (config->text_pooling == WP_TEXT_POOL_LAST)) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "wordpatch.text_pooling 'last' is SigLIP's, and SigLIP's only");
    return FALSE;
  }
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
  if (!isfinite (config->logit_scale_init) || !isfinite (config->logit_bias_init)) {
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
  if (config->preprocess.resize_size != 0 &&
      (config->preprocess.resize_size < config->image_size ||
       config->preprocess.resize_size > WP_MAX_RESIZE)) {
    g_set_error (error, WP_ERROR, WP_ERROR_SHAPE,
                 "the resize size %d must be between the image size %d and %d (an image smaller "
                 "than the crop would need padding)",
                 config->preprocess.resize_size, config->image_size, WP_MAX_RESIZE);
    return FALSE;
  }
  return TRUE;
}

static void
add_tower (JsonBuilder         *builder,
           const WpTowerConfig *tower,
           int                  projection_dim)
{
  wp_json_add_int (builder, "hidden_size", tower->width);
  wp_json_add_int (builder, "intermediate_size", tower->mlp_width);
  wp_json_add_int (builder, "num_attention_heads", tower->n_heads);
  wp_json_add_int (builder, "num_hidden_layers", tower->n_layers);
  wp_json_add_string (builder, "hidden_act", wp_activation_to_string (tower->activation));
  wp_json_add_double (builder, "layer_norm_eps", tower->layer_norm_eps);
  wp_json_add_int (builder, "projection_dim", projection_dim);
}

/* The "wordpatch" section: only what differs from the defaults, so that the config.json of a
 * model that never had these reads as before. */
static void
add_wordpatch_section (JsonBuilder        *builder,
                       const WpClipConfig *config,
                       WpTextPooling       default_pooling)
{
  json_builder_set_member_name (builder, "wordpatch");
  json_builder_begin_object (builder);
  wp_json_add_float3 (builder, "image_mean", config->image_mean);
  wp_json_add_float3 (builder, "image_std", config->image_std);
  if (config->preprocess.resize_size != 0)
    wp_json_add_int (builder, "resize_size", config->preprocess.resize_size);
  if (config->preprocess.resize_mode != WP_RESIZE_SHORTEST)
    wp_json_add_string (builder, "resize_mode", resize_mode_names[config->preprocess.resize_mode]);
  if (config->preprocess.interpolation != WP_INTERPOLATION_BICUBIC)
    wp_json_add_string (builder, "interpolation",
                        interpolation_names[config->preprocess.interpolation]);
  if (config->preprocess.crop_offset != WP_CROP_OFFSET_FLOOR)
    wp_json_add_string (builder, "crop_offset", crop_offset_names[config->preprocess.crop_offset]);
  if (config->text_pooling != default_pooling)
    wp_json_add_string (builder, "text_pooling", text_pooling_names[config->text_pooling]);
  wp_config_add_training (builder, config);
  json_builder_end_object (builder);
}

static void
add_siglip_tower (JsonBuilder         *builder,
                  const WpTowerConfig *tower)
{
  wp_json_add_int (builder, "hidden_size", tower->width);
  wp_json_add_int (builder, "intermediate_size", tower->mlp_width);
  wp_json_add_int (builder, "num_attention_heads", tower->n_heads);
  wp_json_add_int (builder, "num_hidden_layers", tower->n_layers);
  wp_json_add_string (builder, "hidden_act",
                      tower->activation == WP_ACTIVATION_GELU_TANH
                        ? "gelu_pytorch_tanh"
                        : wp_activation_to_string (tower->activation));
  wp_json_add_double (builder, "layer_norm_eps", tower->layer_norm_eps);
}

/* SiglipConfig as transformers writes it. */
static char *
siglip_config_to_json (const WpClipConfig *config)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "architectures");
  json_builder_begin_array (builder);
  json_builder_add_string_value (builder, "SiglipModel");
  json_builder_end_array (builder);
  wp_json_add_string (builder, "model_type", "siglip");
  json_builder_set_member_name (builder, "text_config");
  json_builder_begin_object (builder);
  add_siglip_tower (builder, &config->text);
  wp_json_add_int (builder, "vocab_size", config->vocab_size);
  wp_json_add_int (builder, "max_position_embeddings", config->context_length);
  wp_json_add_int (builder, "projection_size", config->projection_dim);
  wp_json_add_int (builder, "bos_token_id", config->bos_token_id);
  wp_json_add_int (builder, "eos_token_id", config->eos_token_id);
  wp_json_add_int (builder, "pad_token_id", config->pad_token_id);
  wp_json_add_string (builder, "model_type", "siglip_text_model");
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "vision_config");
  json_builder_begin_object (builder);
  add_siglip_tower (builder, &config->vision);
  wp_json_add_int (builder, "image_size", config->image_size);
  wp_json_add_int (builder, "patch_size", config->patch_size);
  wp_json_add_int (builder, "num_channels", 3);
  wp_json_add_string (builder, "model_type", "siglip_vision_model");
  json_builder_end_object (builder);
  add_wordpatch_section (builder, config, WP_TEXT_POOL_LAST);
  json_builder_end_object (builder);
  return wp_json_builder_to_text (builder);
}

char *
wp_clip_config_to_json (const WpClipConfig *config)
{
  g_autoptr (JsonBuilder) builder = NULL;

  if (config->family == WP_MODEL_FAMILY_SIGLIP)
    return siglip_config_to_json (config);
  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "architectures");
  json_builder_begin_array (builder);
  json_builder_add_string_value (builder, "CLIPModel");
  json_builder_end_array (builder);
  wp_json_add_string (builder, "model_type", "clip");
  wp_json_add_int (builder, "projection_dim", config->projection_dim);
  wp_json_add_double (builder, "logit_scale_init_value", config->logit_scale_init);
  json_builder_set_member_name (builder, "text_config");
  json_builder_begin_object (builder);
  add_tower (builder, &config->text, config->projection_dim);
  wp_json_add_int (builder, "vocab_size", config->vocab_size);
  wp_json_add_int (builder, "max_position_embeddings", config->context_length);
  wp_json_add_int (builder, "bos_token_id", config->bos_token_id);
  wp_json_add_int (builder, "eos_token_id", config->eos_token_id);
  wp_json_add_int (builder, "pad_token_id", config->pad_token_id);
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "vision_config");
  json_builder_begin_object (builder);
  add_tower (builder, &config->vision, config->projection_dim);
  wp_json_add_int (builder, "image_size", config->image_size);
  wp_json_add_int (builder, "patch_size", config->patch_size);
  wp_json_add_int (builder, "num_channels", 3);
  json_builder_end_object (builder);
  add_wordpatch_section (builder, config,
                         config->eos_token_id == 2 ? WP_TEXT_POOL_ARGMAX : WP_TEXT_POOL_EOS);
  json_builder_end_object (builder);
  return wp_json_builder_to_text (builder);
}
