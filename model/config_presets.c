/* config_presets.c: the default CLIP and SigLIP configurations and the named sizes (tiny to
 * ViT-B/16) that init and the tests start from. */
#include "wordpatch/config.h"

#include <string.h>

#include "wordpatch/error.h"

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

void
wp_siglip_config_init_default (WpClipConfig *config)
{
  static const float half[3] = { 0.5f, 0.5f, 0.5f };

  /* CLIP's token ids and image size, the rest SigLIP's own. */
  wp_clip_config_init_default (config);
  config->family = WP_MODEL_FAMILY_SIGLIP;
  config->text = (WpTowerConfig){ 768, 3072, 12, 12, WP_ACTIVATION_GELU_TANH, 1e-6f };
  config->vision = (WpTowerConfig){ 768, 3072, 12, 12, WP_ACTIVATION_GELU_TANH, 1e-6f };
  config->vocab_size = 32000;
  config->context_length = 64;
  config->patch_size = 16;
  config->projection_dim = 768;
  /* Zhai et al. 2023: t' = log 10, b = -10, so that the many negative pairs start near 0. */
  config->logit_scale_init = 2.302585093f;
  config->logit_bias_init = -10.0f;
  config->text_pooling = WP_TEXT_POOL_LAST;
  config->preprocess.resize_mode = WP_RESIZE_SQUASH;
  memcpy (config->image_mean, half, sizeof half);
  memcpy (config->image_std, half, sizeof half);
}

gboolean
wp_siglip_config_init_preset (WpClipConfig *config,
                              const char   *name,
                              int           vocab_size,
                              GError      **error)
{
  WpClipConfig sizes;

  if (strcmp (name, "base") == 0) {
    wp_siglip_config_init_default (config);
  } else if (strcmp (name, "tiny") == 0 || strcmp (name, "small") == 0) {
    if (!wp_clip_config_init_preset (&sizes, name, vocab_size, error))
      return FALSE;
    wp_siglip_config_init_default (config);
    config->text = sizes.text;
    config->vision = sizes.vision;
    config->text.activation = config->vision.activation = WP_ACTIVATION_GELU_TANH;
    config->text.layer_norm_eps = config->vision.layer_norm_eps = 1e-6f;
    config->image_size = sizes.image_size;
    config->patch_size = sizes.patch_size;
    config->context_length = sizes.context_length;
    config->projection_dim = sizes.vision.width;
  } else {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "unknown SigLIP size '%s' (tiny, small or base)", name);
    return FALSE;
  }
  config->vocab_size = vocab_size;
  return wp_clip_config_validate (config, error);
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
