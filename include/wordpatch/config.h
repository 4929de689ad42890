/* config.h: the model configuration, read from and written to transformers' CLIPConfig JSON.
 *
 * config.json keys: "projection_dim", "logit_scale_init_value", "text_config" {vocab_size,
 * hidden_size, intermediate_size, num_attention_heads, num_hidden_layers, max_position_embeddings,
 * hidden_act, layer_norm_eps, bos_token_id, eos_token_id, pad_token_id} and "vision_config"
 * {hidden_size, intermediate_size, num_attention_heads, num_hidden_layers, image_size, patch_size,
 * num_channels, hidden_act, layer_norm_eps}. Keys left out take transformers' defaults (those of
 * OpenAI's ViT-B/32), as transformers does. Optional "wordpatch" object, which transformers
 * ignores: image_mean, image_std, and "objective", the objective the model was trained with
 * ("clip", "filip" or "sparc"; written by the trainer, absent from OpenAI's and Hugging Face's
 * folders). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Bounds that keep every buffer size well inside memory and int BLAS dimensions. The parameter
 * count bounds the whole model (8 GiB as F32; OpenAI's largest CLIP has 0.43 billion) and keeps
 * every tensor's element offsets inside an int; the patch count bounds attention's P x P scores. */
#define WP_MAX_LAYERS       64
#define WP_MAX_WIDTH        8192
#define WP_MAX_CONTEXT      1024
#define WP_MAX_VOCAB        (1 << 20)
#define WP_MAX_IMAGE        2048
#define WP_MAX_PATCHES      4096
#define WP_MAX_PARAMETERS   G_MAXINT32
#define WP_CONFIG_MAX_BYTES (1 << 20)

typedef enum {
  WP_ACTIVATION_QUICK_GELU, /* x * sigmoid(1.702 x), OpenAI's CLIP */
  WP_ACTIVATION_GELU,       /* exact erf GELU */
} WpActivation;

typedef struct {
  int          width;     /* hidden_size */
  int          mlp_width; /* intermediate_size */
  int          n_heads;
  int          n_layers;
  WpActivation activation;
  float        layer_norm_eps;
} WpTowerConfig;

typedef struct {
  WpTowerConfig text;
  WpTowerConfig vision;
  int           vocab_size;
  int           context_length; /* max_position_embeddings */
  int           bos_token_id;
  int           eos_token_id;
  int           pad_token_id;
  int           image_size;
  int           patch_size;
  int           projection_dim;
  float         logit_scale_init;
  float         image_mean[3];
  float         image_std[3];
  /* The objective the model was trained with: one of wp_objective_to_string()'s names (static
   * strings), or NULL when the model does not say. */
  const char *objective;
} WpClipConfig;

/* OpenAI's ViT-B/32 (transformers' defaults). */
void wp_clip_config_init_default (WpClipConfig *config);

/* Sizes by name: "tiny" (64 px images, patch 8, width 192, 6 vision and 4 text layers, 3 heads,
 * MLP 768, context 32, projection 128), "small" (96 px, patch 12, width 256, 8 and 6 layers,
 * 4 heads, MLP 1024, context 32, projection 256), "vit-b32" (OpenAI's ViT-B/32) or "vit-b16"
 * (OpenAI's ViT-B/16: ViT-B/32 with 16-pixel patches). The vocabulary size is the tokenizer's. */
gboolean wp_clip_config_init_preset (WpClipConfig *config,
                                     const char   *name,
                                     int           vocab_size,
                                     GError      **error);

/* json: at most WP_CONFIG_MAX_BYTES, validated as wp_clip_config_validate() does. */
gboolean wp_clip_config_parse (WpClipConfig *config,
                               const char   *json,
                               gsize         len,
                               GError      **error);
/* Checks sizes are positive, within the bounds above and consistent (heads divide the width,
 * patches tile the image, at most WP_MAX_PATCHES of them, at most WP_MAX_PARAMETERS in all). */
gboolean wp_clip_config_validate (const WpClipConfig *config,
                                  GError            **error);
char    *wp_clip_config_to_json (const WpClipConfig *config) G_GNUC_WARN_UNUSED_RESULT;

const char *wp_activation_to_string (WpActivation activation);

static inline int
wp_clip_config_grid (const WpClipConfig *config)
{
  return config->image_size / config->patch_size;
}

static inline int
wp_clip_config_n_patches (const WpClipConfig *config)
{
  return wp_clip_config_grid (config) * wp_clip_config_grid (config);
}

G_END_DECLS
