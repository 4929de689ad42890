/* openclip.h: open_clip's checkpoint folders (open_clip_config.json + open_clip_model.safetensors).
 *
 * open_clip_config.json: {"model_cfg": {...}, "preprocess_cfg": {...}}, as open_clip's
 * create_model(local-dir:...) and the Hugging Face hub folders have it.
 * - model_cfg: embed_dim (the projection), quick_gelu (QuickGELU in both towers, else exact GELU;
 *   a tower's act_kwargs {"approximate": "tanh"} gives GELU's tanh approximation),
 *   init_logit_scale, vision_cfg {image_size, patch_size, width, layers, head_width, mlp_ratio,
 *   norm_kwargs {"eps"}}, text_cfg {context_length, vocab_size, width, heads, layers, mlp_ratio,
 *   pool_type "argmax" or "eos" (with eos_id), norm_kwargs {"eps"}}; a tower's MLP is
 *   int(width * mlp_ratio) wide and the vision tower has width / head_width heads, as in open_clip.
 *   Only open_clip's standard CLIP (a ViT and its causal text transformer) is read: timm and
 *   ResNet image towers, Hugging Face text towers (hf_model_name, hf_tokenizer_name), custom text
 *   towers (custom_text, text_arch), CoCa (multimodal_cfg), audio models, layer scale, attention
 *   pooling, average pooling, custom attention blocks, a logit bias and other options that change
 *   the architecture are refused, naming the key. Keys open_clip only uses for training (patch
 *   dropout, output_tokens, pad_id) are ignored; keys not known here are refused.
 * - preprocess_cfg: mean, std (three numbers or one), interpolation ("bicubic", "bilinear";
 *   "random" is bicubic at inference), resize_mode ("shortest" or "squash"; "longest", which pads,
 *   is refused); size is the model's image size whatever it says, as in open_clip. open_clip's
 *   centre crop rounds its offset (torchvision's CenterCrop).
 * - "wordpatch" (ignored by open_clip): {"objective"} as in config.json.
 *
 * open_clip_model.safetensors holds open_clip's state dict: visual.conv1.weight,
 * visual.class_embedding, visual.positional_embedding, visual.ln_pre, visual.transformer.resblocks.
 * N.{ln_1, attn.in_proj_weight, attn.in_proj_bias, attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj},
 * visual.ln_post, visual.proj (width x embed_dim, the transpose of transformers'
 * visual_projection), token_embedding.weight, positional_embedding, transformer.resblocks.N (as the
 * vision's), ln_final, text_projection (width x embed_dim) and logit_scale. attn.in_proj_* are q,
 * k and v stacked; they are split on reading and stacked again on writing, so an F32 checkpoint
 * saved back is bit-identical. An attn_mask buffer, which older open_clip saved, is ignored; names
 * may all start with "module." (a state dict saved from open_clip's DistributedDataParallel
 * training, its epoch_N.pt's "state_dict" written with safetensors).
 * open_clip_pytorch_model.bin (a pickle) is not read.
 *
 * Writing refuses what open_clip cannot express: towers with different activations where one is
 * QuickGELU, a resize size other than the image size, and head widths or MLP ratios that do not
 * give the model's sizes back. */
#pragma once

#include <glib.h>

#include "wordpatch/config.h"

G_BEGIN_DECLS

/* json: open_clip_config.json, at most WP_CONFIG_MAX_BYTES; validated as
 * wp_clip_config_validate() does. Errors name the key ("model_cfg.vision_cfg.timm_model_name ..."),
 * the caller adds the file. */
gboolean wp_openclip_config_parse (WpClipConfig *config,
                                   const char   *json,
                                   gsize         len,
                                   GError      **error);
/* open_clip_config.json for config; NULL with an error when open_clip cannot express it. */
char *wp_openclip_config_to_json (const WpClipConfig *config,
                                  GError            **error) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
