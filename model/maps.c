#include "wordpatch/maps.h"

#include <math.h>
#include <string.h>

#include "wordpatch/kernels.h"
#include "wordpatch/objectives.h"

/* Shapes: P patches, T valid tokens, W words, E projection dim. */

/* Fills word_of_token and words (text and token range) from the tokenizer's word indices. */
static void
group_words (WpWordMaps            *maps,
             const WpModel         *model,
             const WpTextEmbedding *text)
{
  const int T = text->n_tokens;
  GArray   *words = g_array_new (FALSE, TRUE, sizeof (WpWordMap));

  for (int t = 0; t < T; t++) {
    const int index = text->word_of_token[t];
    WpWordMap word = { 0 };
    int       end = t + 1;

    if (index < 0) {
      maps->word_of_token[t] = -1;
      continue;
    }
    while (end < T && text->word_of_token[end] == index)
      end++;
    for (int u = t; u < end; u++)
      maps->word_of_token[u] = (int) words->len;
    word.text = wp_tokenizer_dup_tokens_text (model->tokenizer, text->ids + t, end - t);
    word.first_token = t;
    word.n_tokens = end - t;
    g_array_append_val (words, word);
    t = end - 1;
  }
  maps->n_words = (int) words->len;
  maps->words = (WpWordMap *) (void *) g_array_free (words, FALSE);
}

/* out (P) = the mean of rows first .. first + n - 1 of rows (T, P). */
static void
mean_rows (float       *out,
           const float *rows,
           int          first,
           int          n,
           int          P)
{
  for (int p = 0; p < P; p++) {
    double sum = 0.0;

    for (int t = first; t < first + n; t++)
      sum += rows[(gsize) t * P + p];
    out[p] = (float) (sum / n);
  }
}

WpWordMaps *
wp_word_maps_new (const WpModel          *model,
                  const WpImageEmbedding *image,
                  const WpTextEmbedding  *text)
{
  const int   P = image->n_patches, T = text->n_tokens, E = image->dim;
  WpWordMaps *maps;

  g_return_val_if_fail (model != NULL && image != NULL && text != NULL, NULL);
  g_return_val_if_fail (text->dim == E && T >= 1 && P >= 1, NULL);

  maps = g_new0 (WpWordMaps, 1);
  maps->n_patches = P;
  maps->grid = image->grid;
  maps->crop = image->crop;
  maps->n_tokens = T;
  maps->token_filip = g_new (float, (gsize) T *P);
  maps->token_sparc = g_new (float, (gsize) T *P);
  maps->word_of_token = g_new (int, T);
  maps->filip_labels = g_new (int, P);
  maps->sparc_labels = g_new (int, P);

  /* token_filip (T, P) = tokens (T, E) . patches (P, E)^T, both unit. */
  wp_matmul_forward (maps->token_filip, text->tokens, image->patches, NULL, T, E, P);
  wp_sparc_weights (maps->token_sparc, text->tokens_raw, image->patches_raw, T, P, E);

  for (int p = 0; p < P; p++) {
    int best = 0;

    for (int t = 1; t < T; t++) {
      if (maps->token_filip[(gsize) t * P + p] > maps->token_filip[(gsize) best * P + p])
        best = t;
    }
    maps->filip_labels[p] = best;
  }

  group_words (maps, model, text);
  for (int w = 0; w < maps->n_words; w++) {
    WpWordMap *word = &maps->words[w];

    word->filip = g_new (float, P);
    word->sparc = g_new (float, P);
    mean_rows (word->filip, maps->token_filip, word->first_token, word->n_tokens, P);
    mean_rows (word->sparc, maps->token_sparc, word->first_token, word->n_tokens, P);
  }

  for (int p = 0; p < P; p++) {
    int   best = -1;
    float best_weight = 0.0f;

    for (int w = 0; w < maps->n_words; w++) {
      if (maps->words[w].sparc[p] > best_weight) {
        best = w;
        best_weight = maps->words[w].sparc[p];
      }
    }
    maps->sparc_labels[p] = best;
  }
  return maps;
}

void
wp_word_maps_free (WpWordMaps *maps)
{
  if (maps == NULL)
    return;
  for (int w = 0; w < maps->n_words; w++) {
    g_free (maps->words[w].text);
    g_free (maps->words[w].filip);
    g_free (maps->words[w].sparc);
  }
  g_free (maps->words);
  g_free (maps->token_filip);
  g_free (maps->token_sparc);
  g_free (maps->word_of_token);
  g_free (maps->filip_labels);
  g_free (maps->sparc_labels);
  g_free (maps);
}

int
wp_word_maps_get_n_words (const WpWordMaps *maps)
{
  return maps->n_words;
}

const WpWordMap *
wp_word_maps_get_word (const WpWordMaps *maps,
                       int               word)
{
  g_return_val_if_fail (word >= 0 && word < maps->n_words, NULL);
  return &maps->words[word];
}

int
wp_word_maps_get_word_of_token (const WpWordMaps *maps,
                                int               token)
{
  if (token < 0 || token >= maps->n_tokens)
    return -1;
  return maps->word_of_token[token];
}

int
wp_word_maps_find_word (const WpWordMaps *maps,
                        const char       *word,
                        int               occurrence)
{
  g_autofree char *lower = NULL;

  g_return_val_if_fail (word != NULL, -1);
  lower = g_utf8_strdown (word, -1);
  for (int w = 0; w < maps->n_words; w++) {
    if (strcmp (maps->words[w].text, lower) == 0 && occurrence-- == 0)
      return w;
  }
  return -1;
}

void
wp_patch_rect (const WpImageCrop *crop,
               int                grid,
               int                p,
               WpImageCrop       *rect)
{
  const int row = p / grid, col = p % grid;

  rect->x = crop->x + col * crop->width / grid;
  rect->y = crop->y + row * crop->height / grid;
  rect->width = crop->x + (col + 1) * crop->width / grid - rect->x;
  rect->height = crop->y + (row + 1) * crop->height / grid - rect->y;
}

int
wp_map_peak (const float *map,
             int          P)
{
  int best = -1;

  for (int p = 0; p < P; p++) {
    if (isnan (map[p]))
      continue;
    if (best < 0 || map[p] > map[best])
      best = p;
  }
  return MAX (best, 0);
}

void
wp_word_maps_get_filip_scores (const WpWordMaps *maps,
                               double           *image_to_text,
                               double           *text_to_image)
{
  const int P = maps->n_patches, T = maps->n_tokens;

  *image_to_text = 0.0;
  *text_to_image = 0.0;
  for (int p = 0; p < P; p++) {
    float best = -INFINITY;

    for (int t = 0; t < T; t++)
      best = MAX (best, maps->token_filip[(gsize) t * P + p]);
    *image_to_text += best / P;
  }
  for (int t = 0; t < T; t++) {
    float best = -INFINITY;

    for (int p = 0; p < P; p++)
      best = MAX (best, maps->token_filip[(gsize) t * P + p]);
    *text_to_image += best / T;
  }
}
