#include "wordpatch/embed.h"

#include <string.h>

#include "wordpatch/kernels.h"
#include "wordpatch/text.h"
#include "wordpatch/vision.h"

WpImageEmbedding *
wp_embed_image (const WpModel *model,
                const WpImage *image)
{
  const WpClipConfig *config = &model->config;
  const int           S = config->image_size, P = wp_clip_config_n_patches (config),
            E = config->projection_dim;
  g_autoptr (WpVisionState) state = wp_vision_state_new (config, 1);
  g_autofree float *pixels = g_new (float, (gsize) 3 * S * S);
  WpImageEmbedding *out = g_new0 (WpImageEmbedding, 1);
  const float      *projected;

  wp_image_preprocess (image, config, pixels, &out->crop);
  wp_vision_forward (model, state, pixels, 1);
  projected = wp_vision_state_get_output (state);

  out->n_patches = P;
  out->grid = wp_clip_config_grid (config);
  out->dim = E;
  out->global = g_new (float, E);
  out->patches = g_new (float, (gsize) P *E);
  out->patches_raw = g_memdup2 (projected + E, (gsize) P * E * sizeof (float));
  wp_l2_normalize_rows (out->global, NULL, projected, 1, E);
  wp_l2_normalize_rows (out->patches, NULL, out->patches_raw, P, E);
  return out;
}

void
wp_image_embedding_free (WpImageEmbedding *embedding)
{
  if (embedding == NULL)
    return;
  g_free (embedding->global);
  g_free (embedding->patches);
  g_free (embedding->patches_raw);
  g_free (embedding);
}

WpTextEmbedding *
wp_embed_text (const WpModel *model,
               const char    *text)
{
  const WpClipConfig *config = &model->config;
  const int           K = config->context_length, E = config->projection_dim;
  g_autoptr (WpTextState) state = NULL;
  WpTextEmbedding *out = g_new0 (WpTextEmbedding, 1);
  const float     *projected;
  int              T;

  out->ids = g_new (int, K);
  out->word_of_token = g_new (int, K);
  T = wp_tokenizer_encode (model->tokenizer, text, out->ids, out->word_of_token, K);
  /* Causal attention: the caption's T tokens never see what would follow them, so the tower runs
   * over those alone, with buffers for T tokens rather than the whole context. */
  state = wp_text_state_new_sized (config, 1, T);
  wp_text_forward (model, state, out->ids, &T, 1, T);
  projected = wp_text_state_get_output (state);

  out->n_tokens = T;
  out->dim = E;
  out->global = g_new (float, E);
  out->tokens = g_new (float, (gsize) T *E);
  out->tokens_raw = g_memdup2 (projected, (gsize) T * E * sizeof (float));
  wp_l2_normalize_rows (out->global, NULL, projected + (gsize) (T - 1) * E, 1, E);
  wp_l2_normalize_rows (out->tokens, NULL, out->tokens_raw, T, E);
  return out;
}

void
wp_text_embedding_free (WpTextEmbedding *embedding)
{
  if (embedding == NULL)
    return;
  g_free (embedding->ids);
  g_free (embedding->word_of_token);
  g_free (embedding->global);
  g_free (embedding->tokens);
  g_free (embedding->tokens_raw);
  g_free (embedding);
}
