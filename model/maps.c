#include "wordpatch/maps.h"

#include <math.h>
#include <string.h>

#include "wordpatch/kernels.h"
#include "wordpatch/objectives.h"

/* Shapes: P patches, T valid tokens, W words (queries), Q query vectors, E projection dim. */

/* Query vectors a gradient method's backward passes take together: enough rows for efficient
 * products, few enough for cancellation to be checked often. */
#define GRADIENT_BATCH 8

void
wp_map_options_init (WpMapOptions *options)
{
  memset (options, 0, sizeof *options);
  options->methods = WP_MAP_BIT (WP_MAP_FILIP) | WP_MAP_BIT (WP_MAP_SPARC);
  options->query = WP_QUERY_TOKEN;
}

WpQueryKind
wp_map_default_query (const WpModel *model)
{
  const char *objective = model->config.objective;

  return g_strcmp0 (objective, "filip") == 0 || g_strcmp0 (objective, "sparc") == 0
           ? WP_QUERY_TOKEN
           : WP_QUERY_PROMPT;
}

/* From a caption's T token ids and the tokenizer's word of each (wp_tokenizer_encode()): fills
 * word_of_token (T) with indices into words and appends the words (text and token range). */
static void
group_words (GArray        *words,
             int           *word_of_token,
             const WpModel *model,
             const int     *ids,
             const int     *tokenizer_words,
             int            T)
{
  for (int t = 0; t < T; t++) {
    const int index = tokenizer_words[t];
    WpWordMap word = { 0 };
    int       end = t + 1;

    if (index < 0) {
      word_of_token[t] = -1;
      continue;
    }
    while (end < T && tokenizer_words[end] == index)
      end++;
    for (int u = t; u < end; u++)
      word_of_token[u] = (int) words->len;
    word.text = wp_tokenizer_dup_tokens_text (model->tokenizer, ids + t, end - t);
    word.first_token = t;
    word.n_tokens = end - t;
    g_array_append_val (words, word);
    t = end - 1;
  }
}

GPtrArray *
wp_prompt_queries (const WpModel *model,
                   const char    *caption)
{
  GPtrArray *queries = g_ptr_array_new_with_free_func (g_free);

  if (strchr (caption, ',') != NULL) {
    g_auto (GStrv) phrases = g_strsplit (caption, ",", -1);

    for (int i = 0; phrases[i] != NULL; i++) {
      const char *phrase = g_strstrip (phrases[i]);

      if (*phrase != '\0')
        g_ptr_array_add (queries, g_strdup (phrase));
    }
  } else {
    const int K = model->config.context_length;
    g_autoptr (GArray) words = g_array_new (FALSE, TRUE, sizeof (WpWordMap));
    g_autofree int *ids = g_new (int, K), *tokenizer_words = g_new (int, K);
    g_autofree int *word_of_token = g_new (int, K);
    const int       T = wp_tokenizer_encode (model->tokenizer, caption, ids, tokenizer_words, K);

    group_words (words, word_of_token, model, ids, tokenizer_words, T);
    for (guint w = 0; w < words->len; w++)
      g_ptr_array_add (queries, g_array_index (words, WpWordMap, w).text);
  }
  return queries;
}

/* The template with every "{}" replaced by query (query appended when it has none). */
static char *
fill_template (const char *template_text,
               const char *query)
{
  g_auto (GStrv) parts = NULL;

  if (strstr (template_text, "{}") == NULL)
    return g_strconcat (template_text, query, NULL);
  parts = g_strsplit (template_text, "{}", -1);
  return g_strjoinv (query, parts);
}

struct _WpPromptCache {
  const WpModel *model;
  GMutex         lock;
  GHashTable    *embeddings; /* prompt -> (2E) unit then raw */
};

WpPromptCache *
wp_prompt_cache_new (const WpModel *model)
{
  WpPromptCache *cache = g_new0 (WpPromptCache, 1);

  cache->model = model;
  g_mutex_init (&cache->lock);
  cache->embeddings = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return cache;
}

void
wp_prompt_cache_free (WpPromptCache *cache)
{
  if (cache == NULL)
    return;
  g_hash_table_unref (cache->embeddings);
  g_mutex_clear (&cache->lock);
  g_free (cache);
}

/* unit and raw (n, E): the pooled embeddings of n prompts, each encoded alone; those the cache
 * (may be NULL) lacks go through the text tower in one batch, and into the cache. */
static void
embed_prompts (const WpModel     *model,
               WpPromptCache     *cache,
               const char *const *prompts,
               int                n,
               float             *unit,
               float             *raw)
{
  const int E = model->config.projection_dim;
  g_autoptr (GPtrArray) missing = g_ptr_array_new ();
  g_autoptr (GArray) where = g_array_new (FALSE, FALSE, sizeof (int));
  g_autofree float *new_unit = NULL, *new_raw = NULL;

  g_return_if_fail (cache == NULL || cache->model == model);
  if (cache != NULL)
    g_mutex_lock (&cache->lock);
  for (int i = 0; i < n; i++) {
    const float *hit = cache != NULL ? g_hash_table_lookup (cache->embeddings, prompts[i]) : NULL;

    if (hit == NULL) {
      g_ptr_array_add (missing, (gpointer) prompts[i]);
      g_array_append_val (where, i);
      continue;
    }
    memcpy (unit + (gsize) i * E, hit, (gsize) E * sizeof (float));
    memcpy (raw + (gsize) i * E, hit + E, (gsize) E * sizeof (float));
  }
  if (cache != NULL)
    g_mutex_unlock (&cache->lock);
  if (missing->len == 0)
    return;
  new_unit = g_new (float, (gsize) missing->len *E);
  new_raw = g_new (float, (gsize) missing->len *E);
  wp_embed_pooled_texts (model, (const char *const *) missing->pdata, (int) missing->len, new_unit,
                         new_raw);
  if (cache != NULL) {
    g_mutex_lock (&cache->lock);
    if (g_hash_table_size (cache->embeddings) + missing->len > WP_PROMPT_CACHE_MAX)
      g_hash_table_remove_all (cache->embeddings);
  }
  for (guint m = 0; m < missing->len; m++) {
    const int i = g_array_index (where, int, m);

    memcpy (unit + (gsize) i * E, new_unit + (gsize) m * E, (gsize) E * sizeof (float));
    memcpy (raw + (gsize) i * E, new_raw + (gsize) m * E, (gsize) E * sizeof (float));
    if (cache != NULL) {
      float *entry = g_new (float, 2 * (gsize) E);

      memcpy (entry, new_unit + (gsize) m * E, (gsize) E * sizeof (float));
      memcpy (entry + E, new_raw + (gsize) m * E, (gsize) E * sizeof (float));
      g_hash_table_replace (cache->embeddings, g_strdup (missing->pdata[m]), entry);
    }
  }
  if (cache != NULL)
    g_mutex_unlock (&cache->lock);
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

/* Query vectors: Q rows of unit and raw embeddings, and which of them a map is needed for. */
typedef struct {
  int       Q;
  float    *unit, *raw; /* (Q, E) */
  gboolean *wanted;     /* (Q) */
} QueryVectors;

static void
query_vectors_clear (QueryVectors *v)
{
  g_free (v->unit);
  g_free (v->raw);
  g_free (v->wanted);
}

/* values (Q, P): every wanted vector's map by method (unwanted rows of gradient methods are NaN).
 * FALSE if cancelled. */
static gboolean
vector_maps (const WpModel          *model,
             const WpImageEmbedding *image,
             const QueryVectors     *v,
             WpMapMethod             method,
             const WpMapOptions     *options,
             GCancellable           *cancellable,
             float                  *values)
{
  const int         P = image->n_patches, E = image->dim;
  g_autofree float *batch = NULL, *batch_maps = NULL;

  if (method == WP_MAP_SPARC) {
    wp_sparc_weights (values, v->raw, image->patches_raw, v->Q, P, E);
    return TRUE;
  }
  if (!(WP_MAP_GRADIENT_METHODS & WP_MAP_BIT (method))) {
    wp_matmul_forward (values, v->unit, wp_dense_image_get_features (image->dense, method, TRUE),
                       NULL, v->Q, E, P);
    return TRUE;
  }
  /* The wanted vectors in batches that share each backward pass's products. */
  batch = g_new (float, (gsize) GRADIENT_BATCH *E);
  batch_maps = g_new (float, (gsize) GRADIENT_BATCH *P);
  for (int q = 0; q < v->Q;) {
    int n = 0, end = q;

    if (g_cancellable_is_cancelled (cancellable))
      return FALSE;
    for (; end < v->Q && n < GRADIENT_BATCH; end++) {
      if (v->wanted[end])
        memcpy (batch + (gsize) n++ * E, v->unit + (gsize) end * E, (gsize) E * sizeof (float));
    }
    if (n > 0)
      wp_dense_image_gradient_maps (image->dense, model, method, batch, n, options->legrad_layers,
                                    batch_maps);
    for (n = 0; q < end; q++) {
      float *row = values + (gsize) q * P;

      if (v->wanted[q]) {
        memcpy (row, batch_maps + (gsize) n++ * P, (gsize) P * sizeof (float));
        continue;
      }
      for (int p = 0; p < P; p++)
        row[p] = NAN;
    }
  }
  return TRUE;
}

/* Surgery on one forward method: every word's map (and its token rows) minus the words' mean map
 * at each patch, or with a single word minus the empty query's map. */
static void
apply_surgery (WpWordMaps             *maps,
               const WpModel          *model,
               const WpImageEmbedding *image,
               const WpMapOptions     *options,
               WpMapMethod             method)
{
  const int         P = maps->n_patches, W = maps->n_words, E = image->dim;
  g_autofree float *offset = g_new0 (float, P);

  if (W == 0)
    return;
  if (W >= 2) {
    for (int p = 0; p < P; p++) {
      double sum = 0.0;

      for (int w = 0; w < W; w++)
        sum += maps->words[w].values[method][p];
      offset[p] = (float) (sum / W);
    }
  } else {
    g_autofree float *unit = g_new (float, E), *raw = g_new (float, E);
    g_autofree char  *empty = NULL;

    if (options->query == WP_QUERY_PROMPT)
      empty = fill_template (options->template_text ? options->template_text : WP_DEFAULT_TEMPLATE,
                             "");
    embed_prompts (model, options->prompt_cache, (const char *const[]){ empty ? empty : "" }, 1,
                   unit, raw);
    wp_matmul_forward (offset, unit, wp_dense_image_get_features (image->dense, method, TRUE),
                       NULL, 1, E, P);
  }
  for (int w = 0; w < W; w++) {
    for (int p = 0; p < P; p++)
      maps->words[w].values[method][p] -= offset[p];
  }
  for (int t = 0; maps->token_values[method] != NULL && t < maps->n_tokens; t++) {
    for (int p = 0; p < P; p++)
      maps->token_values[method][(gsize) t * P + p] -= offset[p];
  }
}

/* labels (P): the word with the largest map at each patch (first on ties); -1 where none is above
 * 0 for sparc. */
static void
label_patches (const WpWordMaps *maps,
               WpMapMethod       method,
               int              *labels)
{
  for (int p = 0; p < maps->n_patches; p++) {
    int   best = -1;
    float best_value = method == WP_MAP_SPARC ? 0.0f : -INFINITY;

    for (int w = 0; w < maps->n_words; w++) {
      const float value = maps->words[w].values[method][p];

      if (value > best_value) {
        best = w;
        best_value = value;
      }
    }
    labels[p] = best;
  }
}

WpWordMaps *
wp_word_maps_new_full (const WpModel          *model,
                       const WpImageEmbedding *image,
                       const WpTextEmbedding  *text,
                       const WpMapOptions     *options,
                       GCancellable           *cancellable)
{
  const int   P = image->n_patches, T = text->n_tokens, E = image->dim;
  const char *template_text = options->template_text ? options->template_text
                                                     : WP_DEFAULT_TEMPLATE;
  g_autoptr (GArray) words = g_array_new (FALSE, TRUE, sizeof (WpWordMap));
  g_autoptr (WpWordMaps) maps = NULL;
  QueryVectors v = { 0 };

  g_return_val_if_fail (model != NULL && image != NULL && text != NULL && options != NULL, NULL);
  g_return_val_if_fail (text->dim == E && T >= 1 && P >= 1, NULL);
  g_return_val_if_fail ((options->methods & ~wp_dense_image_get_methods (image->dense)) == 0,
                        NULL);

  maps = g_new0 (WpWordMaps, 1);
  maps->n_patches = P;
  maps->rows = image->rows;
  maps->cols = image->cols;
  maps->crop = image->crop;
  maps->methods = options->methods | WP_MAP_BIT (WP_MAP_FILIP);
  maps->query = options->query;
  maps->n_tokens = T;
  maps->token_filip = g_new (float, (gsize) T *P);
  maps->word_of_token = g_new (int, T);
  maps->filip_labels = g_new (int, P);

  /* token_filip (T, P) = tokens (T, E) . patches (P, E)^T, both unit. */
  wp_matmul_forward (maps->token_filip, text->tokens, image->patches, NULL, T, E, P);
  for (int p = 0; p < P; p++) {
    int best = 0;

    for (int t = 1; t < T; t++) {
      if (maps->token_filip[(gsize) t * P + p] > maps->token_filip[(gsize) best * P + p])
        best = t;
    }
    maps->filip_labels[p] = best;
  }
  group_words (words, maps->word_of_token, model, text->ids, text->word_of_token, T);

  if (options->query == WP_QUERY_TOKEN) {
    v.Q = T;
    v.unit = g_memdup2 (text->tokens, (gsize) T * E * sizeof (float));
    v.raw = g_memdup2 (text->tokens_raw, (gsize) T * E * sizeof (float));
    v.wanted = g_new (gboolean, T);
    for (int t = 0; t < T; t++)
      v.wanted[t] = maps->word_of_token[t] >= 0;
  } else {
    g_autoptr (GPtrArray) queries = wp_prompt_queries (model, text->text);

    for (guint w = 0; w < words->len; w++)
      g_free (g_array_index (words, WpWordMap, w).text);
    g_array_set_size (words, 0);
    g_autoptr (GPtrArray) prompts = g_ptr_array_new_with_free_func (g_free);

    v.Q = (int) queries->len;
    v.unit = g_new (float, (gsize) MAX (v.Q, 1) * E);
    v.raw = g_new (float, (gsize) MAX (v.Q, 1) * E);
    v.wanted = g_new (gboolean, MAX (v.Q, 1));
    for (int q = 0; q < v.Q; q++) {
      WpWordMap word = { g_strdup (queries->pdata[q]), -1, 0, { NULL } };

      g_ptr_array_add (prompts, fill_template (template_text, queries->pdata[q]));
      v.wanted[q] = TRUE;
      g_array_append_val (words, word);
    }
    embed_prompts (model, options->prompt_cache, (const char *const *) prompts->pdata, v.Q, v.unit,
                   v.raw);
  }
  maps->n_words = (int) words->len;
  maps->words = (WpWordMap *) (void *) g_array_free (g_steal_pointer (&words), FALSE);

  for (int m = 0; m < WP_N_MAP_METHODS; m++) {
    g_autofree float *values = NULL;

    if (!(maps->methods & WP_MAP_BIT (m)))
      continue;
    values = g_new (float, (gsize) MAX (v.Q, 1) * P);
    if (v.Q > 0 && !vector_maps (model, image, &v, (WpMapMethod) m, options, cancellable, values)) {
      query_vectors_clear (&v);
      return NULL;
    }
    for (int w = 0; w < maps->n_words; w++) {
      WpWordMap *word = &maps->words[w];

      word->values[m] = g_new (float, P);
      if (options->query == WP_QUERY_TOKEN)
        mean_rows (word->values[m], values, word->first_token, word->n_tokens, P);
      else
        memcpy (word->values[m], values + (gsize) w * P, (gsize) P * sizeof (float));
    }
    if (options->query == WP_QUERY_TOKEN)
      maps->token_values[m] = g_steal_pointer (&values);
    if (options->surgery && (WP_MAP_SURGERY_METHODS & WP_MAP_BIT (m)))
      apply_surgery (maps, model, image, options, (WpMapMethod) m);
    maps->labels[m] = g_new (int, P);
    if (m == WP_MAP_FILIP && options->query == WP_QUERY_TOKEN) {
      for (int p = 0; p < P; p++)
        maps->labels[m][p] = maps->word_of_token[maps->filip_labels[p]];
    } else {
      label_patches (maps, (WpMapMethod) m, maps->labels[m]);
    }
  }
  query_vectors_clear (&v);
  return g_steal_pointer (&maps);
}

WpWordMaps *
wp_word_maps_new (const WpModel          *model,
                  const WpImageEmbedding *image,
                  const WpTextEmbedding  *text)
{
  WpMapOptions options;

  wp_map_options_init (&options);
  return wp_word_maps_new_full (model, image, text, &options, NULL);
}

void
wp_word_maps_free (WpWordMaps *maps)
{
  if (maps == NULL)
    return;
  for (int w = 0; w < maps->n_words; w++) {
    g_free (maps->words[w].text);
    for (int m = 0; m < WP_N_MAP_METHODS; m++)
      g_free (maps->words[w].values[m]);
  }
  for (int m = 0; m < WP_N_MAP_METHODS; m++) {
    g_free (maps->token_values[m]);
    g_free (maps->labels[m]);
  }
  g_free (maps->words);
  g_free (maps->token_filip);
  g_free (maps->word_of_token);
  g_free (maps->filip_labels);
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
               int                rows,
               int                cols,
               int                p,
               WpImageCrop       *rect)
{
  const int row = p / cols, col = p % cols;

  rect->x = crop->x + col * crop->width / cols;
  rect->y = crop->y + row * crop->height / rows;
  rect->width = crop->x + (col + 1) * crop->width / cols - rect->x;
  rect->height = crop->y + (row + 1) * crop->height / rows - rect->y;
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
