/* dataset_batch.c: pairs of a dataset as a batch (augmented pixels, padded token ids) and how
 * well a model's vocabulary covers the captions. */
#include <string.h>

#include "dataset-private.h"
#include "tokenizer-private.h"
#include "wordpatch/augment.h"
#include "wordpatch/image.h"
#include "wordpatch/text.h"

gboolean
wp_caption_has_sides (const char *caption)
{
  g_autofree char *lower = g_utf8_strdown (caption, -1);
  g_auto (GStrv) words = g_regex_split_simple ("[^a-z]+", lower, 0, 0);

  for (guint i = 0; words[i] != NULL; i++) {
    if (strcmp (words[i], "left") == 0 || strcmp (words[i], "right") == 0)
      return TRUE;
  }
  return FALSE;
}

char *
wp_pair_group_boxes (const WpPair *pair,
                     guint         b,
                     gboolean     *done,
                     WpBox        *group,
                     guint        *n_group)
{
  char *lower = g_utf8_strdown (pair->boxes[b].word, -1);

  *n_group = 0;
  for (guint c = b; c < pair->n_boxes; c++) {
    g_autofree char *other = NULL;

    if (done[c] || pair->boxes[c].occurrence != pair->boxes[b].occurrence)
      continue;
    other = g_utf8_strdown (pair->boxes[c].word, -1);
    if (strcmp (other, lower) != 0)
      continue;
    done[c] = TRUE;
    group[(*n_group)++] = pair->boxes[c];
  }
  return lower;
}

static WpImage *
load_image_cb (const WpDataset *dataset,
               guint            index,
               gpointer         user_data,
               GError         **error)
{
  return wp_dataset_load_image (dataset, index, error);
}

gboolean
wp_dataset_load_batch (const WpDataset        *dataset,
                       const WpModel          *model,
                       const guint            *indices,
                       int                     B,
                       const WpAugmentOptions *augment,
                       const guint64          *seeds,
                       float                  *pixels,
                       int                    *ids,
                       int                    *lengths,
                       int                    *T,
                       WpAugmentation         *augmentations,
                       GError                **error)
{
  return wp_dataset_load_batch_with (dataset, model, indices, B, load_image_cb, NULL, augment,
                                     seeds, pixels, ids, lengths, T, augmentations, error);
}

gboolean
wp_dataset_load_batch_with (const WpDataset        *dataset,
                            const WpModel          *model,
                            const guint            *indices,
                            int                     B,
                            WpDatasetImageFunc      load_image,
                            gpointer                user_data,
                            const WpAugmentOptions *augment,
                            const guint64          *seeds,
                            float                  *pixels,
                            int                    *ids,
                            int                    *lengths,
                            int                    *T,
                            WpAugmentation         *augmentations,
                            GError                **error)
{
  const WpClipConfig *config = &model->config;
  const int           K = config->context_length, S = config->image_size;
  const int           pad = wp_tokenizer_get_pad_id (model->tokenizer);
  g_autofree int     *encoded = g_new (int, (gsize) B *K);
  int                 longest = 1;

  for (int b = 0; b < B; b++) {
    const WpPair *pair = wp_dataset_get_pair (dataset, indices[b]);
    g_autoptr (WpImage) image = load_image (dataset, indices[b], user_data, error);
    float         *out = pixels + (gsize) b * 3 * S * S;
    WpAugmentation augmentation = { .brightness = 1.0, .contrast = 1.0, .saturation = 1.0 };

    if (image == NULL)
      return FALSE;
    if (augment != NULL) {
      wp_augment_draw (image->width, image->height, augment,
                       !wp_caption_has_sides (pair->caption), seeds[b], &augmentation);
      wp_augment_apply (image, config, &augmentation, out);
    } else {
      wp_image_preprocess (image, config, out, &augmentation.crop);
    }
    if (augmentations != NULL)
      augmentations[b] = augmentation;
    lengths[b] =
      wp_tokenizer_encode (model->tokenizer, pair->caption, encoded + (gsize) b * K, NULL, K);
    longest = MAX (longest, lengths[b]);
  }
  longest = wp_text_run_length (config, longest);
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < longest; t++)
      ids[(gsize) b * longest + t] = t < lengths[b] ? encoded[(gsize) b * K + t] : pad;
  }
  *T = longest;
  return TRUE;
}

typedef struct {
  guint    count;
  gboolean whole;
} WordCount;

static int
compare_split_words (gconstpointer a,
                     gconstpointer b,
                     gpointer      user_data)
{
  GHashTable      *counts = user_data;
  const WordCount *ca = g_hash_table_lookup (counts, *(const char *const *) a);
  const WordCount *cb = g_hash_table_lookup (counts, *(const char *const *) b);

  if (ca->count != cb->count)
    return ca->count > cb->count ? -1 : 1;
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

void
wp_dataset_get_vocabulary_coverage (const WpDataset      *dataset,
                                    const WpModel        *model,
                                    WpVocabularyCoverage *coverage)
{
  const int K = model->config.context_length;
  /* One slot more than the context tells a caption that fits from one that was cut. */
  g_autofree int *ids = g_new (int, K + 1);
  g_autofree int *word_of_token = g_new (int, K + 1);
  g_autoptr (GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GPtrArray) split = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer       key, value;

  memset (coverage, 0, sizeof *coverage);
  coverage->split = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < dataset->entries->len; i++) {
    const WpPair *pair = wp_dataset_get_pair (dataset, i);
    const int     n =
      wp_tokenizer_encode (model->tokenizer, pair->caption, ids, word_of_token, K + 1);
    const gboolean truncated = n > K;
    const int      limit = truncated ? K - 1 : n - 1;

    coverage->captions++;
    coverage->truncated += truncated;
    /* From the first piece: after the start token when the tokenizer has one. */
    for (int t = wp_tokenizer_get_bos_id (model->tokenizer) >= 0 ? 1 : 0; t < limit;) {
      const int  word = word_of_token[t];
      int        end = t;
      char      *text;
      WordCount *count;

      while (end < n - 1 && word_of_token[end] == word)
        end++;
      /* The word cut by the context is not what the caption says. */
      if (end > limit)
        break;
      text = wp_tokenizer_dup_tokens_text (model->tokenizer, ids + t, end - t);
      count = g_hash_table_lookup (counts, text);
      if (count == NULL) {
        count = g_new0 (WordCount, 1);
        count->whole = end - t == 1;
        g_hash_table_insert (counts, text, count);
      } else {
        g_free (text);
      }
      count->count++;
      coverage->words++;
      coverage->whole += end - t == 1;
      t = end;
    }
  }
  g_hash_table_iter_init (&iter, counts);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    const WordCount *count = value;

    coverage->distinct++;
    coverage->whole_distinct += count->whole;
    if (!count->whole)
      g_ptr_array_add (split, key);
  }
  g_ptr_array_sort_with_data (split, compare_split_words, counts);
  for (guint i = 0; i < MIN (split->len, 5); i++)
    g_ptr_array_add (coverage->split, g_strdup (split->pdata[i]));
}

void
wp_vocabulary_coverage_clear (WpVocabularyCoverage *coverage)
{
  g_clear_pointer (&coverage->split, g_ptr_array_unref);
  memset (coverage, 0, sizeof *coverage);
}
