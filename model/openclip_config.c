/* openclip_config.c: open_clip_config.json (openclip.h): its keys checked against what our
 * towers can express, read into a WpClipConfig, and written from one. */
#include "wordpatch/openclip.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "config-private.h"
#include "json-private.h"
#include "json-write-private.h"
#include "wordpatch/error.h"
#include "wordpatch/loss.h"

/* ---- open_clip_config.json ---- */

/* open_clip's defaults (model.py: CLIPVisionCfg, CLIPTextCfg; nn.LayerNorm's eps). */
#define OC_LAYER_NORM_EPS    1e-5f
#define OC_INIT_LOGIT_SCALE  2.659260036932778 /* log(1 / 0.07) */
#define OC_VALUE_TEXT_LENGTH 60
#define OC_START_ID          49406 /* OpenAI's vocabulary, which open_clip's tokenizer uses */
#define OC_END_ID            49407

/* The JSON text of a value, shortened, for messages. */
static char *
value_text (JsonNode *node)
{
  g_autofree char *text = json_to_string (node, FALSE);

  if (strlen (text) > OC_VALUE_TEXT_LENGTH)
    return g_strdup_printf ("%.*s...", OC_VALUE_TEXT_LENGTH, text);
  return g_steal_pointer (&text);
}

static gboolean
unsupported (GError    **error,
             const char *section,
             const char *key,
             JsonNode   *node,
             const char *what)
{
  g_autofree char *text = value_text (node);

  g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED, "%s.%s is %s: not supported (%s)", section,
               key, text, what);
  return FALSE;
}

static gboolean
is_null (JsonNode *node)
{
  return node == NULL || JSON_NODE_HOLDS_NULL (node);
}

/* Absent, null, false, 0 or "": the option is off. */
static gboolean
is_off (JsonNode *node)
{
  if (is_null (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  switch (json_node_get_value_type (node)) {
  case G_TYPE_BOOLEAN:
    return !json_node_get_boolean (node);
  case G_TYPE_INT64:
    return json_node_get_int (node) == 0;
  case G_TYPE_DOUBLE:
    return json_node_get_double (node) == 0.0;
  case G_TYPE_STRING:
    return json_node_get_string (node)[0] == '\0';
  default:
    return FALSE;
  }
}

static const char *
node_string (JsonNode *node)
{
  return node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
             json_node_get_value_type (node) == G_TYPE_STRING
           ? json_node_get_string (node)
           : NULL;
}

/* What each key of a section means here. */
typedef enum {
  KEY_READ,    /* read by the section's own code */
  KEY_IGNORED, /* training only, or unused by open_clip's standard CLIP */
  KEY_OFF,     /* must be off (is_off()) */
  KEY_CHOICE,  /* absent, null, or one of the strings in choices */
} KeyKind;

typedef struct {
  const char *key;
  KeyKind     kind;
  const char *what; /* KEY_OFF, KEY_CHOICE: what a different value asks for */
  const char *choices[3];
} KeyRule;

/* Whether node, the value of rule's key (NULL when absent), is one the rule allows. */
static gboolean
check_rule (JsonNode      *node,
            const char    *section,
            const KeyRule *rule,
            GError       **error)
{
  const char *value;

  if (rule->kind == KEY_OFF && !is_off (node))
    return unsupported (error, section, rule->key, node, rule->what);
  if (rule->kind != KEY_CHOICE || is_null (node))
    return TRUE;
  value = node_string (node);
  for (int c = 0; value != NULL && c < 3 && rule->choices[c] != NULL; c++) {
    if (strcmp (value, rule->choices[c]) == 0)
      return TRUE;
  }
  return unsupported (error, section, rule->key, node, rule->what);
}

/* Applies rules to every member of obj; a key with no rule is refused too: open_clip itself
 * fails on keys its dataclasses do not have, so an unknown one comes from a newer open_clip. */
static gboolean
check_keys (JsonObject    *obj,
            const char    *section,
            const KeyRule *rules,
            gsize          n_rules,
            GError       **error)
{
  JsonObjectIter iter;
  const char    *key;
  JsonNode      *node;

  /* Rules first, in their order, so that the largest difference is the one reported. */
  for (gsize r = 0; r < n_rules; r++) {
    if (!check_rule (json_object_get_member (obj, rules[r].key), section, &rules[r], error))
      return FALSE;
  }
  json_object_iter_init (&iter, obj);
  while (json_object_iter_next (&iter, &key, &node)) {
    gboolean known = FALSE;

    for (gsize r = 0; !known && r < n_rules; r++)
      known = strcmp (key, rules[r].key) == 0;
    if (!known) {
      g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                   "%s.%s is not a key this reader knows (from a newer open_clip?)", section, key);
      return FALSE;
    }
  }
  return TRUE;
}

static const KeyRule model_rules[] = {
  { "multimodal_cfg", KEY_OFF, "CoCa models", { NULL } },
  { "audio_cfg", KEY_OFF, "audio models: CLAP", { NULL } },
  { "genlip_cfg", KEY_OFF, "generative models: GenLIP", { NULL } },
  { "genlap_cfg", KEY_OFF, "generative audio models: GenLAP", { NULL } },
  { "audio_naflex_cfg", KEY_OFF, "audio models", { NULL } },
  { "custom_text", KEY_OFF, "custom text towers: CustomTextCLIP", { NULL } },
  { "init_logit_bias", KEY_OFF, "a logit bias: sigmoid-loss models such as SigLIP", { NULL } },
  { "embed_dim", KEY_READ, NULL, { NULL } },
  { "vision_cfg", KEY_READ, NULL, { NULL } },
  { "text_cfg", KEY_READ, NULL, { NULL } },
  { "quick_gelu", KEY_READ, NULL, { NULL } },
  { "init_logit_scale", KEY_READ, NULL, { NULL } },
  { "nonscalar_logit_scale", KEY_IGNORED, NULL, { NULL } },
  { "cast_dtype", KEY_IGNORED, NULL, { NULL } },
  { "output_dict", KEY_IGNORED, NULL, { NULL } },
};

#define CUSTOM_BLOCKS "custom attention blocks"

static const KeyRule vision_rules[] = {
  { "timm_model_name", KEY_OFF, "timm image towers", { NULL } },
  { "image_seq_len", KEY_OFF, "NaFlex image towers", { NULL } },
  { "attentional_pool", KEY_OFF, "attention pooling", { NULL } },
  { "pool_type", KEY_CHOICE, "image poolings other than the class token", { "tok", NULL } },
  { "no_ln_pre", KEY_OFF, "towers without ln_pre", { NULL } },
  { "final_ln_after_pool", KEY_OFF, "ln_post after pooling", { NULL } },
  { "pos_embed_type",
    KEY_CHOICE,
    "position embeddings other than learnt ones",
    { "learnable", NULL } },
  { "ls_init_value", KEY_OFF, "layer scale", { NULL } },
  { "block_type", KEY_CHOICE, CUSTOM_BLOCKS, { "default", NULL } },
  { "qk_norm", KEY_OFF, CUSTOM_BLOCKS, { NULL } },
  { "scaled_cosine_attn", KEY_OFF, CUSTOM_BLOCKS, { NULL } },
  { "scale_heads", KEY_OFF, CUSTOM_BLOCKS, { NULL } },
  { "scale_attn_inner", KEY_OFF, CUSTOM_BLOCKS, { NULL } },
  { "scale_attn", KEY_OFF, CUSTOM_BLOCKS, { NULL } },
  { "scale_fc", KEY_OFF, CUSTOM_BLOCKS, { NULL } },
  { "layers", KEY_READ, NULL, { NULL } },
  { "width", KEY_READ, NULL, { NULL } },
  { "head_width", KEY_READ, NULL, { NULL } },
  { "mlp_ratio", KEY_READ, NULL, { NULL } },
  { "patch_size", KEY_READ, NULL, { NULL } },
  { "image_size", KEY_READ, NULL, { NULL } },
  { "in_chans", KEY_READ, NULL, { NULL } },
  { "norm_kwargs", KEY_READ, NULL, { NULL } },
  { "act_kwargs", KEY_READ, NULL, { NULL } },
  { "patch_dropout", KEY_IGNORED, NULL, { NULL } },
  { "output_tokens", KEY_IGNORED, NULL, { NULL } },
  { "attn_pooler_queries", KEY_IGNORED, NULL, { NULL } },
  { "attn_pooler_heads", KEY_IGNORED, NULL, { NULL } },
  { "timm_model_pretrained", KEY_IGNORED, NULL, { NULL } },
  { "timm_pool", KEY_IGNORED, NULL, { NULL } },
  { "timm_proj", KEY_IGNORED, NULL, { NULL } },
  { "timm_proj_bias", KEY_IGNORED, NULL, { NULL } },
  { "timm_drop", KEY_IGNORED, NULL, { NULL } },
  { "timm_drop_path", KEY_IGNORED, NULL, { NULL } },
  { "timm_model_kwargs", KEY_IGNORED, NULL, { NULL } },
};

static const KeyRule text_rules[] = {
  { "hf_model_name", KEY_OFF, "Hugging Face text towers", { NULL } },
  { "text_arch", KEY_CHOICE, "text towers other than CLIP's", { "clip", NULL } },
  { "variable_text", KEY_OFF, "variable-length text towers", { NULL } },
  { "hf_tokenizer_name", KEY_OFF, "tokenizers other than OpenAI's CLIP BPE", { NULL } },
  { "tokenizer_type", KEY_OFF, "tokenizers other than OpenAI's CLIP BPE", { NULL } },
  { "embed_cls", KEY_OFF, "text class tokens: CoCa", { NULL } },
  { "no_causal_mask", KEY_OFF, "bidirectional text towers", { NULL } },
  { "pool_type", KEY_CHOICE, "text poolings other than at the end token", { "argmax", "eos" } },
  { "final_ln_after_pool", KEY_OFF, "ln_final after pooling", { NULL } },
  { "proj_type", KEY_CHOICE, "text projections other than a matrix", { "linear", NULL } },
  { "proj_bias", KEY_OFF, "a text projection with a bias", { NULL } },
  { "ls_init_value", KEY_OFF, "layer scale", { NULL } },
  { "block_type", KEY_CHOICE, CUSTOM_BLOCKS, { "default", NULL } },
  { "qk_norm", KEY_OFF, CUSTOM_BLOCKS, { NULL } },
  { "scaled_cosine_attn", KEY_OFF, CUSTOM_BLOCKS, { NULL } },
  { "scale_heads", KEY_OFF, CUSTOM_BLOCKS, { NULL } },
  { "scale_attn_inner", KEY_OFF, CUSTOM_BLOCKS, { NULL } },
  { "scale_attn", KEY_OFF, CUSTOM_BLOCKS, { NULL } },
  { "scale_fc", KEY_OFF, CUSTOM_BLOCKS, { NULL } },
  { "context_length", KEY_READ, NULL, { NULL } },
  { "vocab_size", KEY_READ, NULL, { NULL } },
  { "width", KEY_READ, NULL, { NULL } },
  { "heads", KEY_READ, NULL, { NULL } },
  { "layers", KEY_READ, NULL, { NULL } },
  { "mlp_ratio", KEY_READ, NULL, { NULL } },
  { "eos_id", KEY_READ, NULL, { NULL } },
  { "bos_id", KEY_READ, NULL, { NULL } },
  { "norm_kwargs", KEY_READ, NULL, { NULL } },
  { "act_kwargs", KEY_READ, NULL, { NULL } },
  { "tokenizer_kwargs", KEY_READ, NULL, { NULL } },
  { "pad_id", KEY_IGNORED, NULL, { NULL } },
  { "output_tokens", KEY_IGNORED, NULL, { NULL } },
  { "tokenizer_mode", KEY_IGNORED, NULL, { NULL } },
  { "tiktoken_name", KEY_IGNORED, NULL, { NULL } },
  { "hf_model_pretrained", KEY_IGNORED, NULL, { NULL } },
  { "hf_proj_type", KEY_IGNORED, NULL, { NULL } },
  { "hf_pooler_type", KEY_IGNORED, NULL, { NULL } },
  { "hf_model_config", KEY_IGNORED, NULL, { NULL } },
  /* The modern text tower's options; its standard one ignores them. */
  { "attention_mode", KEY_IGNORED, NULL, { NULL } },
  { "pos_embed", KEY_IGNORED, NULL, { NULL } },
  { "rope_temperature", KEY_IGNORED, NULL, { NULL } },
  { "mlp_type", KEY_IGNORED, NULL, { NULL } },
  { "norm_type", KEY_IGNORED, NULL, { NULL } },
  { "norm_eps", KEY_IGNORED, NULL, { NULL } },
  { "attn_gated", KEY_IGNORED, NULL, { NULL } },
  { "pre_norm", KEY_IGNORED, NULL, { NULL } },
  { "norm_placement", KEY_IGNORED, NULL, { NULL } },
  { "zero_init_residual", KEY_IGNORED, NULL, { NULL } },
  { "reg_tokens", KEY_IGNORED, NULL, { NULL } },
  { "value_residual", KEY_IGNORED, NULL, { NULL } },
  { "attention_bias", KEY_IGNORED, NULL, { NULL } },
  { "mlp_bias", KEY_IGNORED, NULL, { NULL } },
  { "gate_bias", KEY_IGNORED, NULL, { NULL } },
};

/* A member that must be an integer (null: absent), or, with square set, a list of two equal
 * integers (open_clip's to_2tuple sizes). */
static gboolean
read_int (JsonObject *obj,
          const char *section,
          const char *key,
          gboolean    square,
          int        *value,
          GError    **error)
{
  JsonNode *node = json_object_get_member (obj, key);
  gint64    v[2];
  int       n = 1;

  if (is_null (node))
    return TRUE;
  if (square && JSON_NODE_HOLDS_ARRAY (node) &&
      json_array_get_length (json_node_get_array (node)) == 2) {
    n = 2;
    for (int i = 0; i < 2; i++) {
      JsonNode *element = json_array_get_element (json_node_get_array (node), i);

      if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_INT64)
        n = 0;
      else
        v[i] = json_node_get_int (element);
    }
    if (n == 2 && v[0] != v[1]) {
      g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                   "%s.%s is [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]: only square sizes "
                   "are supported",
                   section, key, v[0], v[1]);
      return FALSE;
    }
  } else if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64) {
    v[0] = json_node_get_int (node);
  } else {
    n = 0;
  }
  if (n == 0 || v[0] < G_MININT || v[0] > G_MAXINT)
    return wp_config_member_error (error, section, key, "an integer");
  *value = (int) v[0];
  return TRUE;
}

static gboolean
read_number (JsonObject *obj,
             const char *section,
             const char *key,
             double     *value,
             GError    **error)
{
  JsonNode *node = json_object_get_member (obj, key);
  GType     type;

  if (is_null (node))
    return TRUE;
  type = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;
  if (type != G_TYPE_INT64 && type != G_TYPE_DOUBLE)
    return wp_config_member_error (error, section, key, "a number");
  *value = json_node_get_double (node);
  return TRUE;
}

static gboolean
read_bool (JsonObject *obj,
           const char *section,
           const char *key,
           gboolean   *value,
           GError    **error)
{
  JsonNode *node = json_object_get_member (obj, key);

  if (is_null (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return wp_config_member_error (error, section, key, "true or false");
  *value = json_node_get_boolean (node);
  return TRUE;
}

/* An object member (null: absent). */
static gboolean
read_object (JsonObject  *obj,
             const char  *section,
             const char  *key,
             JsonObject **value,
             GError     **error)
{
  JsonNode *node = json_object_get_member (obj, key);

  *value = NULL;
  if (is_null (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return wp_config_member_error (error, section, key, "an object");
  *value = json_node_get_object (node);
  return TRUE;
}

/* A tower's norm_kwargs ({"eps"} only) and act_kwargs ({"approximate": "none" or "tanh"}, for
 * nn.GELU only). */
static gboolean
read_tower_kwargs (JsonObject    *obj,
                   const char    *section,
                   WpTowerConfig *tower,
                   GError       **error)
{
  g_autofree char     *norm_section = g_strdup_printf ("%s.norm_kwargs", section);
  g_autofree char     *act_section = g_strdup_printf ("%s.act_kwargs", section);
  static const KeyRule norm_rules[] = { { "eps", KEY_READ, NULL, { NULL } } };
  static const KeyRule act_rules[] = {
    { "approximate", KEY_CHOICE, "activations other than GELU's", { "none", "tanh", NULL } },
  };
  JsonObject *norm, *act;
  double      eps = tower->layer_norm_eps;

  if (!read_object (obj, section, "norm_kwargs", &norm, error) ||
      !read_object (obj, section, "act_kwargs", &act, error))
    return FALSE;
  if (norm != NULL) {
    if (!check_keys (norm, norm_section, norm_rules, G_N_ELEMENTS (norm_rules), error) ||
        !read_number (norm, norm_section, "eps", &eps, error))
      return FALSE;
    tower->layer_norm_eps = (float) eps;
  }
  if (act != NULL) {
    if (!check_keys (act, act_section, act_rules, G_N_ELEMENTS (act_rules), error))
      return FALSE;
    if (g_strcmp0 (node_string (json_object_get_member (act, "approximate")), "tanh") == 0) {
      if (tower->activation == WP_ACTIVATION_QUICK_GELU) {
        g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                     "%s.approximate 'tanh' with quick_gelu: QuickGELU has no approximation",
                     act_section);
        return FALSE;
      }
      tower->activation = WP_ACTIVATION_GELU_TANH;
    }
  }
  return TRUE;
}

/* width * mlp_ratio truncated, as open_clip's int(d_model * mlp_ratio). */
static gboolean
read_mlp (JsonObject    *obj,
          const char    *section,
          WpTowerConfig *tower,
          GError       **error)
{
  double ratio = 4.0;

  if (!read_number (obj, section, "mlp_ratio", &ratio, error))
    return FALSE;
  if (!(ratio > 0.0 && ratio * tower->width <= 4.0 * WP_MAX_WIDTH)) {
    g_set_error (error, WP_ERROR, WP_ERROR_SHAPE, "%s.mlp_ratio %g is out of range", section,
                 ratio);
    return FALSE;
  }
  tower->mlp_width = (int) (tower->width * ratio);
  return TRUE;
}

static gboolean
read_vision (JsonObject   *obj,
             WpClipConfig *config,
             GError      **error)
{
  const char    *section = "model_cfg.vision_cfg";
  WpTowerConfig *tower = &config->vision;
  JsonNode      *layers = json_object_get_member (obj, "layers");
  int            head_width = 64, channels = 3;

  if (layers != NULL && JSON_NODE_HOLDS_ARRAY (layers))
    return unsupported (error, section, "layers", layers, "ResNet image towers");
  if (!check_keys (obj, section, vision_rules, G_N_ELEMENTS (vision_rules), error))
    return FALSE;
  tower->width = 768;
  tower->n_layers = 12;
  config->patch_size = 16;
  config->image_size = 224;
  if (!read_int (obj, section, "layers", FALSE, &tower->n_layers, error) ||
      !read_int (obj, section, "width", FALSE, &tower->width, error) ||
      !read_int (obj, section, "head_width", FALSE, &head_width, error) ||
      !read_int (obj, section, "patch_size", TRUE, &config->patch_size, error) ||
      !read_int (obj, section, "image_size", TRUE, &config->image_size, error) ||
      !read_int (obj, section, "in_chans", FALSE, &channels, error))
    return FALSE;
  if (channels != 3) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "%s.in_chans is %d; only RGB (3) images are supported", section, channels);
    return FALSE;
  }
  if (head_width < 1 || tower->width < 1 || tower->width % head_width != 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_SHAPE, "%s.head_width %d does not divide width %d",
                 section, head_width, tower->width);
    return FALSE;
  }
  tower->n_heads = tower->width / head_width;
  return read_mlp (obj, section, tower, error) && read_tower_kwargs (obj, section, tower, error);
}

static gboolean
read_text (JsonObject   *obj,
           WpClipConfig *config,
           GError      **error)
{
  const char    *section = "model_cfg.text_cfg";
  WpTowerConfig *tower = &config->text;
  JsonObject    *tokenizer;

  if (!check_keys (obj, section, text_rules, G_N_ELEMENTS (text_rules), error))
    return FALSE;
  tower->width = 512;
  tower->n_heads = 8;
  tower->n_layers = 12;
  if (!read_int (obj, section, "context_length", FALSE, &config->context_length, error) ||
      !read_int (obj, section, "vocab_size", FALSE, &config->vocab_size, error) ||
      !read_int (obj, section, "width", FALSE, &tower->width, error) ||
      !read_int (obj, section, "heads", FALSE, &tower->n_heads, error) ||
      !read_int (obj, section, "layers", FALSE, &tower->n_layers, error) ||
      !read_int (obj, section, "bos_id", FALSE, &config->bos_token_id, error) ||
      !read_int (obj, section, "eos_id", FALSE, &config->eos_token_id, error) ||
      !read_mlp (obj, section, tower, error) || !read_tower_kwargs (obj, section, tower, error) ||
      !read_object (obj, section, "tokenizer_kwargs", &tokenizer, error))
    return FALSE;
  if (tokenizer != NULL) {
    static const KeyRule tokenizer_rules[] = {
      { "clean", KEY_CHOICE, "caption cleaning other than OpenAI's", { "lower", NULL } },
    };

    if (!check_keys (tokenizer, "model_cfg.text_cfg.tokenizer_kwargs", tokenizer_rules,
                     G_N_ELEMENTS (tokenizer_rules), error))
      return FALSE;
  }
  if (g_strcmp0 (node_string (json_object_get_member (obj, "pool_type")), "eos") == 0) {
    if (is_null (json_object_get_member (obj, "eos_id"))) {
      g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
                   "%s.pool_type 'eos' needs eos_id, the tokenizer's end token", section);
      return FALSE;
    }
    config->text_pooling = WP_TEXT_POOL_EOS;
  } else {
    config->text_pooling = WP_TEXT_POOL_ARGMAX;
  }
  return TRUE;
}

/* mean or std: three numbers, or one for all channels (open_clip's image_transform). */
static gboolean
read_channels (JsonObject *obj,
               const char *key,
               float       value[3],
               GError    **error)
{
  JsonNode  *node = json_object_get_member (obj, key);
  JsonArray *array;
  double     one;

  if (is_null (node))
    return TRUE;
  if (JSON_NODE_HOLDS_VALUE (node)) {
    if (!read_number (obj, "preprocess_cfg", key, &one, error))
      return FALSE;
    value[0] = value[1] = value[2] = (float) one;
    return TRUE;
  }
  array = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  for (guint i = 0; array != NULL && json_array_get_length (array) == 3 && i < 3; i++) {
    JsonNode *element = json_array_get_element (array, i);
    GType     type =
      JSON_NODE_HOLDS_VALUE (element) ? json_node_get_value_type (element) : G_TYPE_INVALID;

    if (type != G_TYPE_INT64 && type != G_TYPE_DOUBLE)
      break;
    value[i] = (float) json_node_get_double (element);
    if (i == 2)
      return TRUE;
  }
  g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
               "preprocess_cfg.%s must be a number or an array of 3 numbers", key);
  return FALSE;
}

static gboolean
read_preprocess (JsonObject   *obj,
                 WpClipConfig *config,
                 GError      **error)
{
  static const KeyRule rules[] = {
    { "mode", KEY_CHOICE, "colour modes other than RGB", { "RGB", NULL } },
    { "resize_mode",
      KEY_CHOICE,
      "resize modes that pad",
      { "shortest", "squash", NULL } },
    { "interpolation",
      KEY_CHOICE,
      "interpolations other than bicubic and bilinear",
      { "bicubic", "bilinear", "random" } },
  };
  const char *mode, *interpolation;

  if (!read_channels (obj, "mean", config->image_mean, error) ||
      !read_channels (obj, "std", config->image_std, error))
    return FALSE;
  /* open_clip keeps only the keys it knows (merge_preprocess_dict): no check of the others. */
  for (gsize r = 0; r < G_N_ELEMENTS (rules); r++) {
    if (!check_rule (json_object_get_member (obj, rules[r].key), "preprocess_cfg", &rules[r],
                     error))
      return FALSE;
  }
  mode = node_string (json_object_get_member (obj, "resize_mode"));
  interpolation = node_string (json_object_get_member (obj, "interpolation"));
  config->preprocess.resize_mode =
    g_strcmp0 (mode, "squash") == 0 ? WP_RESIZE_SQUASH : WP_RESIZE_SHORTEST;
  config->preprocess.interpolation = g_strcmp0 (interpolation, "bilinear") == 0
                                       ? WP_INTERPOLATION_BILINEAR
                                       : WP_INTERPOLATION_BICUBIC;
  return TRUE;
}

gboolean
wp_openclip_config_parse (WpClipConfig *config,
                          const char   *json,
                          gsize         len,
                          GError      **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root, *model, *vision, *text, *preprocess, *extra;
  JsonNode   *node;
  gboolean    quick_gelu = FALSE;
  double      logit_scale = OC_INIT_LOGIT_SCALE;

  wp_clip_config_init_default (config);
  if (len > WP_CONFIG_MAX_BYTES) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%" G_GSIZE_FORMAT " bytes, more than the limit of %d for a config", len,
                 WP_CONFIG_MAX_BYTES);
    return FALSE;
  }
  if (!wp_json_parser_load (parser, json, len, G_MAXSIZE, error))
    return FALSE;
  node = json_parser_get_root (parser);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "not a JSON object");
    return FALSE;
  }
  root = json_node_get_object (node);
  if (!read_object (root, "", "model_cfg", &model, error) ||
      !read_object (root, "", "preprocess_cfg", &preprocess, error) ||
      !read_object (root, "", "wordpatch", &extra, error))
    return FALSE;
  if (model == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING, "no \"model_cfg\" object");
    return FALSE;
  }
  if (!check_keys (model, "model_cfg", model_rules, G_N_ELEMENTS (model_rules), error) ||
      !read_object (model, "model_cfg", "vision_cfg", &vision, error) ||
      !read_object (model, "model_cfg", "text_cfg", &text, error) ||
      !read_int (model, "model_cfg", "embed_dim", FALSE, &config->projection_dim, error) ||
      !read_bool (model, "model_cfg", "quick_gelu", &quick_gelu, error) ||
      !read_number (model, "model_cfg", "init_logit_scale", &logit_scale, error))
    return FALSE;
  if (vision == NULL || text == NULL || is_null (json_object_get_member (model, "embed_dim"))) {
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
                 "model_cfg needs embed_dim, vision_cfg and text_cfg");
    return FALSE;
  }
  config->logit_scale_init = (float) logit_scale;
  config->text.activation = config->vision.activation =
    quick_gelu ? WP_ACTIVATION_QUICK_GELU : WP_ACTIVATION_GELU;
  config->text.layer_norm_eps = config->vision.layer_norm_eps = OC_LAYER_NORM_EPS;
  /* The text tower first: a Hugging Face tower there is the most likely reason to refuse. */
  if (!read_text (text, config, error) || !read_vision (vision, config, error))
    return FALSE;
  config->preprocess.crop_offset = WP_CROP_OFFSET_ROUND;
  if ((preprocess != NULL && !read_preprocess (preprocess, config, error)))
    return FALSE;
  if (extra != NULL) {
    static const KeyRule extra_rules[] = { { "objective", KEY_READ, NULL, { NULL } },
                                           { "similarity", KEY_READ, NULL, { NULL } } };

    if (!check_keys (extra, "wordpatch", extra_rules, G_N_ELEMENTS (extra_rules), error) ||
        !wp_config_read_training (extra, config, error))
      return FALSE;
  }
  return wp_clip_config_validate (config, error);
}

/* An mlp_ratio from which open_clip's int(width * ratio) gives back mlp_width. */
static gboolean
mlp_ratio_for (const WpTowerConfig *tower,
               const char          *name,
               double              *ratio,
               GError             **error)
{
  double r = (double) tower->mlp_width / tower->width;

  /* The quotient may round below the exact ratio, and then the product truncates one short. */
  for (int step = 0; step < 4; step++, r = nextafter (r, G_MAXDOUBLE)) {
    if ((int) (tower->width * r) == tower->mlp_width) {
      *ratio = r;
      return TRUE;
    }
  }
  g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
               "open_clip cannot express the %s tower's MLP width %d as width %d times a ratio",
               name,
               tower->mlp_width, tower->width);
  return FALSE;
}

static gboolean
add_tower (JsonBuilder         *builder,
           const WpTowerConfig *tower,
           const char          *name,
           GError             **error)
{
  double ratio;

  if (!mlp_ratio_for (tower, name, &ratio, error))
    return FALSE;
  wp_json_add_int (builder, "width", tower->width);
  wp_json_add_int (builder, "layers", tower->n_layers);
  wp_json_add_double (builder, "mlp_ratio", ratio);
  if (tower->layer_norm_eps != OC_LAYER_NORM_EPS) {
    json_builder_set_member_name (builder, "norm_kwargs");
    json_builder_begin_object (builder);
    wp_json_add_double (builder, "eps", tower->layer_norm_eps);
    json_builder_end_object (builder);
  }
  if (tower->activation == WP_ACTIVATION_GELU_TANH) {
    json_builder_set_member_name (builder, "act_kwargs");
    json_builder_begin_object (builder);
    wp_json_add_string (builder, "approximate", "tanh");
    json_builder_end_object (builder);
  }
  return TRUE;
}

char *
wp_openclip_config_to_json (const WpClipConfig *config,
                            GError            **error)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  const gboolean text_quick = config->text.activation == WP_ACTIVATION_QUICK_GELU;
  const gboolean vision_quick = config->vision.activation == WP_ACTIVATION_QUICK_GELU;

  if (config->family == WP_MODEL_FAMILY_SIGLIP) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "SigLIP cannot be written as an open_clip folder (open_clip's SigLIP models "
                 "use timm towers): save it as a transformers folder");
    return NULL;
  }
  if (text_quick != vision_quick) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "open_clip's quick_gelu is for both towers; this model's vision tower uses %s and "
                 "its text tower %s",
                 wp_activation_to_string (config->vision.activation),
                 wp_activation_to_string (config->text.activation));
    return NULL;
  }
  if (config->preprocess.resize_size != 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "open_clip resizes images to the image size %d; this model resizes them to %d "
                 "before its crop",
                 config->image_size, config->preprocess.resize_size);
    return NULL;
  }

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "model_cfg");
  json_builder_begin_object (builder);
  wp_json_add_int (builder, "embed_dim", config->projection_dim);
  json_builder_set_member_name (builder, "quick_gelu");
  json_builder_add_boolean_value (builder, text_quick);
  wp_json_add_double (builder, "init_logit_scale", config->logit_scale_init);
  json_builder_set_member_name (builder, "vision_cfg");
  json_builder_begin_object (builder);
  wp_json_add_int (builder, "image_size", config->image_size);
  wp_json_add_int (builder, "patch_size", config->patch_size);
  wp_json_add_int (builder, "head_width", config->vision.width / config->vision.n_heads);
  if (!add_tower (builder, &config->vision, "vision", error))
    return NULL;
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "text_cfg");
  json_builder_begin_object (builder);
  wp_json_add_int (builder, "context_length", config->context_length);
  wp_json_add_int (builder, "vocab_size", config->vocab_size);
  wp_json_add_int (builder, "heads", config->text.n_heads);
  if (!add_tower (builder, &config->text, "text", error))
    return NULL;
  /* open_clip uses eos_id for "eos" pooling only, and bos_id not at all; both are written when
   * they are not OpenAI's, so that the config reads back whole. */
  if (config->text_pooling == WP_TEXT_POOL_EOS)
    wp_json_add_string (builder, "pool_type", "eos");
  if (config->text_pooling == WP_TEXT_POOL_EOS || config->eos_token_id != OC_END_ID)
    wp_json_add_int (builder, "eos_id", config->eos_token_id);
  if (config->bos_token_id != OC_START_ID)
    wp_json_add_int (builder, "bos_id", config->bos_token_id);
  json_builder_end_object (builder);
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "preprocess_cfg");
  json_builder_begin_object (builder);
  wp_json_add_float3 (builder, "mean", config->image_mean);
  wp_json_add_float3 (builder, "std", config->image_std);
  wp_json_add_string (builder, "interpolation",
                      config->preprocess.interpolation == WP_INTERPOLATION_BILINEAR ? "bilinear"
                                                                                    : "bicubic");
  wp_json_add_string (builder, "resize_mode",
                      config->preprocess.resize_mode == WP_RESIZE_SQUASH ? "squash" : "shortest");
  wp_json_add_int (builder, "size", config->image_size);
  json_builder_end_object (builder);
  if (config->objective != NULL || config->similarity != NULL) {
    json_builder_set_member_name (builder, "wordpatch");
    json_builder_begin_object (builder);
    wp_config_add_training (builder, config);
    json_builder_end_object (builder);
  }
  json_builder_end_object (builder);
  return wp_json_builder_to_text (builder);
}
