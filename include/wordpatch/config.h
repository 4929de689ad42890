/* config.h: the model configuration, read from and written to transformers' CLIPConfig JSON.
 *
 * config.json keys: "model_type" ("clip" when present), "projection_dim", "logit_scale_init_value",
 * "text_config" {vocab_size, hidden_size, intermediate_size, num_attention_heads,
 * num_hidden_layers, max_position_embeddings, hidden_act, layer_norm_eps, bos_token_id,
 * eos_token_id, pad_token_id} and "vision_config" {hidden_size, intermediate_size,
 * num_attention_heads, num_hidden_layers, image_size, patch_size, num_channels, hidden_act,
 * layer_norm_eps}; "text_config_dict" and "vision_config_dict" (older transformers folders)
 * override their namesakes key by key. hidden_act: quick_gelu, gelu, or GELU's tanh approximation
 * (gelu_new, gelu_pytorch_tanh, gelu_fast). Keys left out take transformers' defaults (those of
 * OpenAI's ViT-B/32), as transformers does. Text pooling follows transformers' CLIPTextTransformer:
 * eos_token_id 2 (folders written before transformers fixed the id) pools at the largest id, any
 * other at the first eos_token_id. Optional "wordpatch" object, which transformers ignores:
 * image_mean, image_std, the preprocessing preprocessor_config.json cannot say ("resize_mode",
 * "interpolation", "resize_size", "crop_offset", written only when not the defaults),
 * "text_pooling" ("argmax" or "last", written when the family and eos_token_id alone would not
 * say it), "objective",
 * the objective the model was trained with ("clip", "filip" or "sparc"; written by the trainer,
 * absent from OpenAI's and Hugging Face's folders), and "similarity", the retrieval similarity
 * that training trains ("global", "filip" or "sparc", evaluate.h; written by the trainer).
 *
 * SigLIP (transformers' SiglipConfig, "model_type" "siglip"): the same text_config and
 * vision_config keys with SiglipConfig's defaults (SigLIP-B/16 at 224 pixels, gelu_pytorch_tanh,
 * layer_norm_eps 1e-6, context 64, vocabulary 32000, mean and std 0.5, images squashed to the
 * square); text_config.projection_size (default: its hidden_size) is the embedding size, which
 * must equal vision_config.hidden_size (the image embedding is the pooling head's output, not
 * projected). No projection_dim and no logit_scale_init_value: a new SigLIP model starts at
 * t = 10 and b = -10, as the paper does.
 *
 * preprocessor_config.json (transformers' CLIPImageProcessor) keys: "image_mean", "image_std",
 * "size" ({"shortest_edge": R}, {"height": R, "width": R} or a number, the legacy shortest edge),
 * "crop_size" ({"height": S, "width": S} or a number; S must be the image size), "resample"
 * (3 bicubic or 2 bilinear), "do_resize", "do_center_crop", "do_normalize", "do_rescale",
 * "rescale_factor" (1/255) and "do_convert_rgb"; others are ignored. */
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
#define WP_MAX_RESIZE       4096
#define WP_MAX_PARAMETERS   G_MAXINT32
#define WP_CONFIG_MAX_BYTES (1 << 20)

/* Which architecture a configuration describes; each family has its own tensor layout
 * (model.h). */
typedef enum {
  WP_MODEL_FAMILY_CLIP,   /* ViT with a class token, causal text tower pooled at its end token */
  WP_MODEL_FAMILY_SIGLIP, /* transformers' SiglipModel: no class token, an attention-pooling head,
                           * a bidirectional text tower pooled at its last position, sigmoid loss */
} WpModelFamily;

typedef enum {
  WP_ACTIVATION_QUICK_GELU, /* x * sigmoid(1.702 x), OpenAI's CLIP */
  WP_ACTIVATION_GELU,       /* exact erf GELU */
  WP_ACTIVATION_GELU_TANH,  /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
} WpActivation;

/* Which text token is the caption's pooled embedding, among its valid tokens. */
typedef enum {
  WP_TEXT_POOL_EOS,    /* the first eos_token_id; the last token when there is none */
  WP_TEXT_POOL_ARGMAX, /* the first largest id (OpenAI's and open_clip's "argmax") */
  WP_TEXT_POOL_LAST,   /* the last context position, padding included (SigLIP) */
} WpTextPooling;

typedef enum {
  WP_RESIZE_SHORTEST, /* the shorter side to the resize size, aspect kept */
  WP_RESIZE_SQUASH,   /* both sides to the resize size */
} WpResizeMode;

typedef enum {
  WP_INTERPOLATION_BICUBIC, /* PIL's, antialiased */
  WP_INTERPOLATION_BILINEAR,
} WpInterpolation;

/* Where the centre crop starts when the resized side exceeds the crop by an odd number of
 * pixels. */
typedef enum {
  WP_CROP_OFFSET_FLOOR, /* floor((size - S) / 2): transformers */
  WP_CROP_OFFSET_ROUND, /* round((size - S) / 2), halves to even: torchvision, so open_clip */
} WpCropOffset;

/* How an image becomes the model's S x S input: resized (resize_size pixels on the shorter side,
 * or on both for WP_RESIZE_SQUASH; 0 stands for S), then its centre S x S crop. */
typedef struct {
  int             resize_size;
  WpResizeMode    resize_mode;
  WpInterpolation interpolation;
  WpCropOffset    crop_offset;
} WpPreprocess;

typedef struct {
  int          width;     /* hidden_size */
  int          mlp_width; /* intermediate_size */
  int          n_heads;
  int          n_layers;
  WpActivation activation;
  float        layer_norm_eps;
} WpTowerConfig;

typedef struct {
  WpModelFamily family;
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
  float         logit_bias_init; /* SigLIP's learnt bias b of the logits t cos + b */
  WpTextPooling text_pooling;
  float         image_mean[3];
  float         image_std[3];
  WpPreprocess  preprocess;
  /* The objective the model was trained with: one of wp_objective_to_string()'s names (static
   * strings), or NULL when the model does not say. */
  const char *objective;
  /* The retrieval similarity the model's training trains: "global", "filip" or "sparc" (static
   * strings), or NULL when the model does not say. */
  const char *similarity;
} WpClipConfig;

/* OpenAI's ViT-B/32 (transformers' defaults). */
void wp_clip_config_init_default (WpClipConfig *config);
/* SigLIP-B/16 at 224 pixels (transformers' SiglipConfig defaults). */
void wp_siglip_config_init_default (WpClipConfig *config);

/* Sizes by name: "tiny" (64 px images, patch 8, width 192, 6 vision and 4 text layers, 3 heads,
 * MLP 768, context 32, projection 128), "small" (96 px, patch 12, width 256, 8 and 6 layers,
 * 4 heads, MLP 1024, context 32, projection 256), "vit-b32" (OpenAI's ViT-B/32) or "vit-b16"
 * (OpenAI's ViT-B/16: ViT-B/32 with 16-pixel patches). The vocabulary size is the tokenizer's. */
gboolean wp_clip_config_init_preset (WpClipConfig *config,
                                     const char   *name,
                                     int           vocab_size,
                                     GError      **error);
/* SigLIP sizes by name: "tiny" and "small" (the CLIP sizes above; the embedding is the vision
 * width) or "base" (SigLIP-B/16 at 224 pixels). The vocabulary size is the tokenizer's. */
gboolean wp_siglip_config_init_preset (WpClipConfig *config,
                                       const char   *name,
                                       int           vocab_size,
                                       GError      **error);

/* json: at most WP_CONFIG_MAX_BYTES, validated as wp_clip_config_validate() does. */
gboolean wp_clip_config_parse (WpClipConfig *config,
                               const char   *json,
                               gsize         len,
                               GError      **error);
/* Reads preprocessor_config.json (at most WP_CONFIG_MAX_BYTES) into config's image_mean,
 * image_std and preprocess, over what config.json said; then validates the whole config. Errors
 * name the key (the caller adds the file). */
gboolean wp_preprocess_parse (WpClipConfig *config,
                              const char   *json,
                              gsize         len,
                              GError      **error);
/* preprocessor_config.json for config, as transformers' CLIPImageProcessor reads it. */
char *wp_preprocess_to_json (const WpClipConfig *config) G_GNUC_WARN_UNUSED_RESULT;
/* Checks sizes are positive, within the bounds above and consistent (heads divide the width,
 * patches tile the image, at most WP_MAX_PATCHES of them, at most WP_MAX_PARAMETERS in all, the
 * resize size at least the image size). */
gboolean wp_clip_config_validate (const WpClipConfig *config,
                                  GError            **error);
char    *wp_clip_config_to_json (const WpClipConfig *config) G_GNUC_WARN_UNUSED_RESULT;

/* transformers' hidden_act name: "quick_gelu", "gelu" or "gelu_new". */
const char *wp_activation_to_string (WpActivation activation);
const char *wp_model_family_to_string (WpModelFamily family);

/* The shorter side an image is resized to before the centre crop. */
static inline int
wp_clip_config_resize_size (const WpClipConfig *config)
{
  return config->preprocess.resize_size > 0 ? config->preprocess.resize_size : config->image_size;
}

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
