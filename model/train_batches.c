/* The training pairs and their batches: the held-out split, each epoch's order (a permutation,
 * or a stream through a shuffle buffer), group-by-word, and the prefetch thread that loads them
 * one batch ahead, reading shards in the order the epoch streams them. */
#include <math.h>
#include <string.h>

#include "wordpatch/error.h"
#include "wordpatch/rng.h"

#include "dataset-private.h"
#include "trainer-private.h"

guint64
wp_train_derive_seed (guint64 seed,
                      guint64 purpose,
                      guint64 index)
{
  WpRng rng;

  wp_rng_init (&rng, seed ^ (purpose * 0x9e3779b97f4a7c15ull) ^ (index * 0xd1b54a32d192ed03ull));
  return wp_rng_next (&rng);
}

static void
shuffle (guint  *items,
         guint   n,
         guint64 seed)
{
  WpRng rng;

  wp_rng_init (&rng, seed);
  for (guint i = n; i > 1; i--) {
    const guint j = (guint) (wp_rng_next (&rng) % i);
    const guint tmp = items[i - 1];

    items[i - 1] = items[j];
    items[j] = tmp;
  }
}

static int
compare_uint (gconstpointer a,
              gconstpointer b)
{
  const guint x = *(const guint *) a, y = *(const guint *) b;

  return (x > y) - (x < y);
}

/* ---- the split ---- */

/* The caption's words, lower case, each once: runs of letters and digits (as dataset.c's
 * wp_caption_has_sides splits, with letters beyond ASCII). */
static GPtrArray *
caption_words (const char *caption)
{
  g_autofree char *lower = g_utf8_strdown (caption, -1);
  g_auto (GStrv) split = g_regex_split_simple ("[^\\p{L}\\p{Nd}]+", lower, 0, 0);
  GPtrArray *words = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; split[i] != NULL; i++) {
    if (split[i][0] != '\0' &&
        !g_ptr_array_find_with_equal_func (words, split[i], g_str_equal, NULL))
      g_ptr_array_add (words, g_strdup (split[i]));
  }
  return words;
}

/* The words a training pair can be grouped by: those of its caption that at most half of the
 * training captions hold, so that "a" or "the" never make a group. */
static void
index_grouping_words (WpTrainSplit    *split,
                      const WpDataset *dataset)
{
  const guint n = wp_dataset_get_n_pairs (dataset);
  g_autoptr (GHashTable) ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GArray) counts = g_array_new (FALSE, TRUE, sizeof (guint));
  g_autoptr (GPtrArray) pair_words = g_ptr_array_new_full (n, (GDestroyNotify) g_array_unref);
  g_autoptr (GArray) kept = g_array_new (FALSE, FALSE, sizeof (guint));

  for (guint i = 0; i < n; i++)
    g_ptr_array_add (pair_words, g_array_new (FALSE, FALSE, sizeof (guint)));
  for (guint t = 0; t < split->n_train; t++) {
    const guint pair = split->train_indices[t];
    g_autoptr (GPtrArray) words = caption_words (wp_dataset_get_pair (dataset, pair)->caption);

    for (guint w = 0; w < words->len; w++) {
      gpointer value;
      guint    id;

      if (g_hash_table_lookup_extended (ids, words->pdata[w], NULL, &value)) {
        id = GPOINTER_TO_UINT (value);
      } else {
        id = g_hash_table_size (ids);
        g_hash_table_insert (ids, g_strdup (words->pdata[w]), GUINT_TO_POINTER (id));
        g_array_set_size (counts, id + 1);
      }
      g_array_index (counts, guint, id)++;
      g_array_append_val (pair_words->pdata[pair], id);
    }
  }
  split->word_starts = g_new (guint, n + 1);
  for (guint i = 0; i < n; i++) {
    const GArray *words = pair_words->pdata[i];

    split->word_starts[i] = kept->len;
    for (guint w = 0; w < words->len; w++) {
      const guint id = g_array_index (words, guint, w);

      if (2 * (guint64) g_array_index (counts, guint, id) <= split->n_train)
        g_array_append_val (kept, id);
    }
  }
  split->word_starts[n] = kept->len;
  split->word_ids = (guint *) g_array_steal (kept, NULL);
}

/* Where each shard's training pairs start among train_indices (in dataset order, which is shard
 * by shard); the other datasets are one shard. */
static void
index_shards (WpTrainSplit    *split,
              const WpDataset *dataset)
{
  split->n_shards = split->streamed ? dataset->shards->len : 1;
  split->shard_starts = g_new0 (guint, split->n_shards + 1);
  for (guint t = 0; t < split->n_train; t++) {
    const WpDatasetEntry *entry =
      &g_array_index (dataset->entries, WpDatasetEntry, split->train_indices[t]);

    split->shard_starts[(split->streamed ? entry->shard : 0) + 1]++;
  }
  for (guint s = 0; s < split->n_shards; s++)
    split->shard_starts[s + 1] += split->shard_starts[s];
}

gboolean
wp_train_split_init (WpTrainSplit          *split,
                     const WpDataset       *dataset,
                     const WpTrainSettings *settings,
                     GError               **error)
{
  const guint       n = wp_dataset_get_n_pairs (dataset);
  g_autofree guint *order = g_new (guint, n);
  guint             n_holdout = (guint) floor (settings->holdout * n + 0.5);

  memset (split, 0, sizeof *split);
  split->seed = settings->seed;
  split->batch = settings->batch;
  split->group_by_word = settings->group_by_word;
  if (settings->holdout > 0.0 && n >= 2)
    n_holdout = MAX (n_holdout, 1);
  for (guint i = 0; i < n; i++)
    order[i] = i;
  shuffle (order, n, wp_train_derive_seed (settings->seed, WP_STREAM_SPLIT, 0));
  split->n_holdout = n_holdout;
  split->n_train = n - n_holdout;
  if (split->n_train < (guint) settings->batch) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: %u training pairs (%u held out) are fewer than the batch of %d",
                 settings->data_dir, split->n_train, n_holdout, settings->batch);
    return FALSE;
  }
  split->holdout_indices = g_memdup2 (order, n_holdout * sizeof (guint));
  split->train_indices = g_memdup2 (order + n_holdout, split->n_train * sizeof (guint));
  if (n_holdout > 0)
    qsort (split->holdout_indices, n_holdout, sizeof (guint), compare_uint);
  qsort (split->train_indices, split->n_train, sizeof (guint), compare_uint);
  split->steps_per_epoch = split->n_train / (guint) settings->batch;
  split->streamed = wp_dataset_get_format (dataset) == WP_DATASET_WEBDATASET;
  split->shuffle_buffer = settings->shuffle_buffer;
  if (split->streamed && split->shuffle_buffer == 0)
    split->shuffle_buffer = WP_SHUFFLE_BUFFER_SHARDS;
  if (split->streamed && settings->group_by_word > 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "%s: group_by_word needs the pairs in any order, and WebDataset shards are read "
                 "in order",
                 settings->data_dir);
    return FALSE;
  }
  index_shards (split, dataset);
  if (settings->group_by_word > 0)
    index_grouping_words (split, dataset);
  return TRUE;
}

void
wp_train_split_clear (WpTrainSplit *split)
{
  g_clear_pointer (&split->train_indices, g_free);
  g_clear_pointer (&split->holdout_indices, g_free);
  g_clear_pointer (&split->word_starts, g_free);
  g_clear_pointer (&split->word_ids, g_free);
  g_clear_pointer (&split->shard_starts, g_free);
}

/* ---- each epoch's order ---- */

typedef struct {
  guint key; /* a grouping word's id; G_MAXUINT for a pair without one */
  guint position;
} Keyed;

static int
compare_keyed (gconstpointer a,
               gconstpointer b)
{
  const Keyed *x = a, *y = b;

  if (x->key != y->key)
    return (x->key > y->key) - (x->key < y->key);
  return (x->position > y->position) - (x->position < y->position);
}

/* Hard negatives from the captions alone: each pair draws one of its grouping words, pairs are
 * sorted by it (the shuffle breaks ties), cut into runs of group_by_word pairs, and the runs
 * shuffled. A batch is then a few runs whose pairs share a word ("red": told apart by their
 * shapes) and differ from the other runs'. Still a permutation, so an epoch is unchanged. */
static void
group_by_word (const WpTrainSplit *split,
               guint              *order,
               gint64              epoch)
{
  const guint       n = split->n_train, run = (guint) split->group_by_word;
  const guint       n_runs = (n + run - 1) / run;
  g_autofree Keyed *keyed = g_new (Keyed, n);
  g_autofree guint *runs = g_new (guint, n_runs);
  g_autofree guint *grouped = g_new (guint, n);
  guint             out = 0;
  WpRng             rng;

  wp_rng_init (&rng, wp_train_derive_seed (split->seed, WP_STREAM_GROUP, (guint64) epoch));
  for (guint i = 0; i < n; i++) {
    const guint first = split->word_starts[order[i]],
                n_words = split->word_starts[order[i] + 1] - first;

    keyed[i].key = n_words > 0 ? split->word_ids[first + wp_rng_next (&rng) % n_words] : G_MAXUINT;
    keyed[i].position = i;
  }
  qsort (keyed, n, sizeof *keyed, compare_keyed);
  for (guint r = 0; r < n_runs; r++)
    runs[r] = r;
  shuffle (runs, n_runs, wp_rng_next (&rng));
  for (guint r = 0; r < n_runs; r++) {
    for (guint i = runs[r] * run; i < MIN (n, (runs[r] + 1) * run); i++)
      grouped[out++] = order[keyed[i].position];
  }
  memcpy (order, grouped, n * sizeof (guint));
}

void
wp_epoch_order_init (WpEpochOrder       *order,
                     const WpTrainSplit *split)
{
  memset (order, 0, sizeof *order);
  order->epoch = -1;
  order->order = g_new (guint, split->n_train);
  if (split->shuffle_buffer > 0) {
    order->shards = g_new (guint, split->n_shards);
    order->input = g_new (guint, split->n_train);
    order->consumed = g_new (guint, split->n_train);
  }
}

void
wp_epoch_order_clear (WpEpochOrder *order)
{
  g_clear_pointer (&order->order, g_free);
  g_clear_pointer (&order->shards, g_free);
  g_clear_pointer (&order->input, g_free);
  g_clear_pointer (&order->consumed, g_free);
}

/* Takes a random pair out of the shuffle buffer (filled pairs) as the next of the order, when
 * read pairs have been read. */
static void
take (WpRng        *rng,
      guint        *buffer,
      guint        *filled,
      WpEpochOrder *order,
      guint        *out,
      guint         read)
{
  const guint k = *filled > 1 ? (guint) (wp_rng_next (rng) % *filled) : 0;

  order->order[*out] = buffer[k];
  order->consumed[(*out)++] = read;
  buffer[k] = buffer[--*filled];
}

/* A stream: the shards in a shuffled order (in their own order with a buffer of 1), each one's
 * pairs in dataset order, through a buffer of N pairs: each pair read goes into the buffer, and
 * once it holds N a random one of them comes out; at the end the rest come out in random order.
 * With N = 1 the order is the dataset's. */
static void
stream_order (const WpTrainSplit *split,
              gint64              epoch,
              WpEpochOrder       *order)
{
  const guint       n = split->n_train, N = (guint) split->shuffle_buffer;
  g_autofree guint *buffer = g_new (guint, MIN (N, n));
  guint             filled = 0, out = 0, q = 0;
  WpRng             rng;

  for (guint s = 0; s < split->n_shards; s++)
    order->shards[s] = s;
  if (N > 1)
    shuffle (order->shards, split->n_shards,
             wp_train_derive_seed (split->seed, WP_STREAM_SHARDS, (guint64) epoch));
  for (guint s = 0; s < split->n_shards; s++) {
    const guint shard = order->shards[s];

    for (guint t = split->shard_starts[shard]; t < split->shard_starts[shard + 1]; t++)
      order->input[q++] = split->train_indices[t];
  }
  wp_rng_init (&rng, wp_train_derive_seed (split->seed, WP_STREAM_BUFFER, (guint64) epoch));
  for (q = 0; q < n; q++) {
    buffer[filled++] = order->input[q];
    if (filled == N)
      take (&rng, buffer, &filled, order, &out, q + 1);
  }
  while (filled > 0)
    take (&rng, buffer, &filled, order, &out, n);
}

/* Computes the order of an epoch. */
static void
epoch_order (const WpTrainSplit *split,
             gint64              epoch,
             WpEpochOrder       *order)
{
  if (split->shuffle_buffer > 0) {
    stream_order (split, epoch, order);
  } else {
    memcpy (order->order, split->train_indices, split->n_train * sizeof (guint));
    shuffle (order->order, split->n_train,
             wp_train_derive_seed (split->seed, WP_STREAM_SHUFFLE, (guint64) epoch));
  }
  if (split->group_by_word > 0)
    group_by_word (split, order->order, epoch);
  order->epoch = epoch;
}

void
wp_train_split_batch (const WpTrainSplit *split,
                      gint64              step,
                      WpEpochOrder       *order,
                      guint              *indices,
                      guint64            *seeds)
{
  const int    B = split->batch;
  const gint64 epoch = step / split->steps_per_epoch;
  const gint64 slot = step % split->steps_per_epoch;

  if (order->epoch != epoch)
    epoch_order (split, epoch, order);
  for (int b = 0; b < B; b++) {
    indices[b] = order->order[slot * B + b];
    seeds[b] = wp_train_derive_seed (split->seed, WP_STREAM_AUGMENT, (guint64) (step * B + b));
  }
}

void
wp_train_split_stream_position (const WpTrainSplit *split,
                                const WpDataset    *dataset,
                                gint64              step,
                                WpStreamPosition   *position)
{
  WpEpochOrder order;
  guint        read;

  g_return_if_fail (split->streamed);
  memset (position, 0, sizeof *position);
  wp_epoch_order_init (&order, split);
  epoch_order (split, step / split->steps_per_epoch, &order);
  position->epoch = step / split->steps_per_epoch;
  /* Read before the step's first pair is taken: what the previous pair needed. */
  read = step % split->steps_per_epoch == 0
           ? 0
           : order.consumed[(step % split->steps_per_epoch) * split->batch - 1];
  position->shard = split->n_shards;
  if (read < split->n_train) {
    const WpDatasetEntry *entry =
      &g_array_index (dataset->entries, WpDatasetEntry, order.input[read]);

    for (guint s = 0; s < split->n_shards; s++) {
      if (order.shards[s] == entry->shard)
        position->shard = s;
    }
    position->file = g_path_get_basename (dataset->shards->pdata[entry->shard]);
    position->sample = entry->pair.line;
  }
  wp_epoch_order_clear (&order);
}

void
wp_stream_position_clear (WpStreamPosition *position)
{
  g_clear_pointer (&position->file, g_free);
}

/* ---- batches, one ahead on a background thread ---- */

/* Streamed splits: the epoch's pairs are read from the shards in the order it reads them, and
 * those read before their turn wait in pending; at most the shuffle buffer's worth do. */
struct _WpPrefetchStream {
  WpShardReader *reader;
  GHashTable    *pending;  /* pair index -> GBytes of its image */
  gint64         epoch;    /* that reading follows; -1: none */
  guint          next;     /* the next pair to read, a position in the epoch's input */
  guint          first;    /* the first position of the epoch's order this run trains on */
  guint         *position; /* (n_pairs) each training pair's position in the epoch's order */
};

static WpPrefetchStream *
stream_new (const WpDataset *dataset)
{
  WpPrefetchStream *stream = g_new0 (WpPrefetchStream, 1);

  stream->reader = wp_shard_reader_new (dataset);
  stream->pending =
    g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, (GDestroyNotify) g_bytes_unref);
  stream->epoch = -1;
  stream->position = g_new (guint, wp_dataset_get_n_pairs (dataset));
  return stream;
}

static void
stream_free (WpPrefetchStream *stream)
{
  wp_shard_reader_free (stream->reader);
  g_hash_table_unref (stream->pending);
  g_free (stream->position);
  g_free (stream);
}

/* Starts reading the epoch of order; pairs before position first were trained on before (by
 * the run this one resumes) and are not read. */
static void
stream_start_epoch (WpPrefetchStream   *stream,
                    const WpTrainSplit *split,
                    const WpEpochOrder *order,
                    guint               first)
{
  g_hash_table_remove_all (stream->pending);
  for (guint i = 0; i < split->n_train; i++)
    stream->position[order->order[i]] = i;
  stream->epoch = order->epoch;
  stream->next = 0;
  stream->first = first;
}

typedef struct {
  WpPrefetchStream   *stream;
  const WpEpochOrder *order;
  guint               n_train;
} StreamLoad;

/* The image of pair index: read on through the epoch's input until it comes, keeping the pairs
 * read on the way. */
static WpImage *
stream_image_cb (const WpDataset *dataset,
                 guint            index,
                 gpointer         user_data,
                 GError         **error)
{
  StreamLoad       *load = user_data;
  WpPrefetchStream *stream = load->stream;
  g_autoptr (GBytes) bytes = NULL;
  gpointer stolen;

  if (g_hash_table_steal_extended (stream->pending, GUINT_TO_POINTER (index), NULL, &stolen))
    bytes = stolen;
  while (bytes == NULL && stream->next < load->n_train) {
    const guint read = load->order->input[stream->next++];
    GBytes     *data;

    if (stream->position[read] < stream->first)
      continue;
    data = wp_shard_reader_read (stream->reader, read, error);
    if (data == NULL)
      return NULL;
    if (read == index)
      bytes = data;
    else
      g_hash_table_insert (stream->pending, GUINT_TO_POINTER (read), data);
  }
  g_assert (bytes != NULL);
  return wp_image_load_from_memory (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                    wp_dataset_get_pair (dataset, index)->image_path, error);
}

static WpImage *
file_image_cb (const WpDataset *dataset,
               guint            index,
               gpointer         user_data,
               GError         **error)
{
  return wp_dataset_load_image (dataset, index, error);
}

static gpointer
prefetch_worker (gpointer user_data)
{
  WpPrefetch                *prefetch = user_data;
  const WpTrainSplit        *split = prefetch->split;
  const int                  B = split->batch;
  g_autofree guint          *indices = g_new (guint, B);
  g_autofree guint64        *seeds = g_new (guint64, B);
  g_autofree WpAugmentation *augmentations = g_new (WpAugmentation, B);
  WpEpochOrder               order;
  StreamLoad                 load = { prefetch->stream, &order, split->n_train };

  wp_epoch_order_init (&order, split);
  for (gint64 step = prefetch->first_step; step < prefetch->total_steps; step++) {
    WpTrainBatch *batch = g_async_queue_pop (prefetch->free_slots);

    if (batch == &prefetch->stop_marker)
      break;
    wp_train_split_batch (split, step, &order, indices, seeds);
    if (load.stream != NULL && load.stream->epoch != order.epoch)
      stream_start_epoch (load.stream, split, &order,
                          (guint) (step % split->steps_per_epoch) * (guint) B);
    batch->step = step;
    g_clear_error (&batch->error);
    batch->boxes.n_words = 0;
    if (wp_dataset_load_batch_with (prefetch->dataset, prefetch->model, indices, B,
                                    load.stream != NULL ? stream_image_cb : file_image_cb, &load,
                                    prefetch->augment, seeds, batch->pixels, batch->ids,
                                    batch->lengths, &batch->T, augmentations, &batch->error) &&
        prefetch->box_words) {
      for (int b = 0; b < B; b++)
        wp_box_words_add_pair (&batch->boxes, prefetch->model,
                               wp_dataset_get_pair (prefetch->dataset, indices[b]), b,
                               &augmentations[b]);
    }
    g_async_queue_push (prefetch->ready_slots, batch);
  }
  wp_epoch_order_clear (&order);
  return NULL;
}

void
wp_prefetch_start (WpPrefetch             *prefetch,
                   const WpTrainSplit     *split,
                   const WpDataset        *dataset,
                   const WpModel          *model,
                   const WpAugmentOptions *augment,
                   gboolean                box_words,
                   gint64                  first_step,
                   gint64                  total_steps)
{
  const WpClipConfig *config = &model->config;
  const int           B = split->batch;

  memset (prefetch, 0, sizeof *prefetch);
  prefetch->split = split;
  prefetch->dataset = dataset;
  prefetch->stream = split->streamed ? stream_new (dataset) : NULL;
  prefetch->model = model;
  prefetch->augment = augment;
  prefetch->box_words = box_words;
  prefetch->first_step = first_step;
  prefetch->total_steps = total_steps;
  prefetch->free_slots = g_async_queue_new ();
  prefetch->ready_slots = g_async_queue_new ();
  for (int i = 0; i < 2; i++) {
    prefetch->slots[i].pixels =
      g_new (float, (gsize) B * 3 * config->image_size * config->image_size);
    prefetch->slots[i].ids = g_new (int, (gsize) B * config->context_length);
    prefetch->slots[i].lengths = g_new (int, B);
    if (box_words)
      wp_box_words_init (&prefetch->slots[i].boxes, wp_box_words_capacity (config, B),
                         wp_clip_config_n_patches (config));
    g_async_queue_push (prefetch->free_slots, &prefetch->slots[i]);
  }
  prefetch->thread = g_thread_new ("wp-prefetch", prefetch_worker, prefetch);
}

WpTrainBatch *
wp_prefetch_next (WpPrefetch *prefetch)
{
  return g_async_queue_pop (prefetch->ready_slots);
}

void
wp_prefetch_release (WpPrefetch   *prefetch,
                     WpTrainBatch *batch)
{
  g_async_queue_push (prefetch->free_slots, batch);
}

void
wp_prefetch_stop (WpPrefetch *prefetch)
{
  g_async_queue_push (prefetch->free_slots, &prefetch->stop_marker);
  g_thread_join (prefetch->thread);
  for (int i = 0; i < 2; i++) {
    g_free (prefetch->slots[i].pixels);
    g_free (prefetch->slots[i].ids);
    g_free (prefetch->slots[i].lengths);
    wp_box_words_clear (&prefetch->slots[i].boxes);
    g_clear_error (&prefetch->slots[i].error);
  }
  g_async_queue_unref (prefetch->free_slots);
  g_async_queue_unref (prefetch->ready_slots);
  g_clear_pointer (&prefetch->stream, stream_free);
}
