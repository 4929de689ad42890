#include "wordpatch/embed.h"

#include <string.h>

#include "wordpatch/kernels.h"
#include "wordpatch/text.h"
#include "wordpatch/vision.h"

WpImageEmbedding *
wp_embed_image_view (const WpModel       *model,
                     const WpImage       *image,
                     const WpViewOptions *view,
                     guint                methods,
                     GError             **error)
{
  WpImageEmbedding *out;
  g_autofree float *pixels = NULL;
  WpImageCrop       crop;
  int               rows, cols;

  pixels = wp_image_preprocess_view (image, &model->config, view, &rows, &cols, &crop, error);
  if (pixels == NULL)
    return NULL;
  out = g_new0 (WpImageEmbedding, 1);
  out->dense = wp_dense_image_new (model, pixels, rows, cols, methods);
  out->rows = rows;
  out->cols = cols;
  out->n_patches = rows * cols;
  out->dim = model->config.projection_dim;
  out->crop = crop;
  out->global = wp_dense_image_get_pooled (out->dense, TRUE);
  out->patches = wp_dense_image_get_features (out->dense, WP_MAP_FILIP, TRUE);
  out->patches_raw = wp_dense_image_get_features (out->dense, WP_MAP_FILIP, FALSE);
  return out;
}

WpImageEmbedding *
wp_embed_image (const WpModel *model,
                const WpImage *image)
{
  const WpViewOptions view = { WP_CROP_CENTER, 0 };

  /* CLIP's own view never fails: the model's image size passed validation. */
  return wp_embed_image_view (model, image, &view,
                              WP_MAP_BIT (WP_MAP_FILIP) | WP_MAP_BIT (WP_MAP_SPARC), NULL);
}

void
wp_image_embedding_free (WpImageEmbedding *embedding)
{
  if (embedding == NULL)
    return;
  wp_dense_image_free (embedding->dense);
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
  int              T, run;

  out->text = g_strdup (text);
  out->ids = g_new (int, K);
  out->word_of_token = g_new (int, K);
  T = wp_tokenizer_encode (model->tokenizer, text, out->ids, out->word_of_token, K);
  /* Causal attention: the caption's T tokens never see what would follow them, so the tower runs
   * over those alone, with buffers for T tokens rather than the whole context (SigLIP's needs the
   * whole context, padding included). */
  run = wp_text_run_length (config, T);
  state = wp_text_state_new_forward (config, 1, run);
  wp_text_forward (model, state, out->ids, &T, 1, run);
  projected = wp_text_state_get_output (state);

  out->n_tokens = T;
  out->dim = E;
  out->global = g_new (float, E);
  out->tokens = g_new (float, (gsize) T *E);
  out->tokens_raw = g_memdup2 (projected, (gsize) T * E * sizeof (float));
  wp_l2_normalize_rows (out->global, NULL,
                        projected + (gsize) wp_text_state_get_pooled (state)[0] * E, 1, E);
  out->global_raw = g_memdup2 (projected + (gsize) wp_text_state_get_pooled (state)[0] * E,
                               (gsize) E * sizeof (float));
  wp_l2_normalize_rows (out->tokens, NULL, out->tokens_raw, T, E);
  return out;
}

void
wp_embed_pooled_texts (const WpModel     *model,
                       const char *const *texts,
                       int                n,
                       float             *unit,
                       float             *raw)
{
  const WpClipConfig *config = &model->config;
  const int           K = config->context_length, E = config->projection_dim;
  g_autofree int     *ids = g_new (int, (gsize) MAX (n, 1) * K);
  g_autofree int     *lengths = g_new (int, MAX (n, 1));
  g_autoptr (WpTextState) state = NULL;
  const float *projected;
  int          T = 1;

  if (n == 0)
    return;
  for (int i = 0; i < n; i++) {
    lengths[i] = wp_tokenizer_encode (model->tokenizer, texts[i], ids + (gsize) i * K, NULL, K);
    T = MAX (T, lengths[i]);
  }
  T = wp_text_run_length (config, T);
  /* Rows of T ids: causal attention keeps each text's tokens blind to the padding after them. */
  for (int i = 0; i < n; i++) {
    memmove (ids + (gsize) i * T, ids + (gsize) i * K, (gsize) lengths[i] * sizeof (int));
    for (int t = lengths[i]; t < T; t++)
      ids[(gsize) i * T + t] = ids[(gsize) i * T + lengths[i] - 1];
  }
  state = wp_text_state_new_forward (config, n, T);
  wp_text_forward (model, state, ids, lengths, n, T);
  projected = wp_text_state_get_output (state);
  for (int i = 0; i < n; i++)
    memcpy (raw + (gsize) i * E,
            projected + ((gsize) i * T + wp_text_state_get_pooled (state)[i]) * E,
            (gsize) E * sizeof (float));
  wp_l2_normalize_rows (unit, NULL, raw, n, E);
}

void
wp_text_embedding_free (WpTextEmbedding *embedding)
{
  if (embedding == NULL)
    return;
  g_free (embedding->text);
  g_free (embedding->ids);
  g_free (embedding->word_of_token);
  g_free (embedding->global);
  g_free (embedding->tokens);
  g_free (embedding->tokens_raw);
  g_free (embedding->global_raw);
  g_free (embedding);
}
