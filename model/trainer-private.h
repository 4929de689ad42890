/* trainer-private.h: what the trainer's files share: settings.json (train_settings.c), the run
 * folder (run_folder.c), the split and the batches (train_batches.c), used by trainer.c. */
#pragma once

#include <json-glib/json-glib.h>

#include "wordpatch/loss.h"
#include "wordpatch/trainer.h"

G_BEGIN_DECLS

/* ---- settings.json (train_settings.c) ---- */

/* OUT/settings.json: the settings (out_dir excepted) with the run's own facts: the dataset's
 * fingerprint and the total steps. Replaces the file whole (temporary file and rename). */
gboolean wp_train_settings_write (const WpTrainSettings *settings,
                                  const char            *fingerprint,
                                  gint64                 total_steps,
                                  GError               **error);
/* Initialises settings and reads OUT/settings.json into them and, when not NULL, the
 * fingerprint and the total steps: wp_train_settings_load() with the run's own facts. */
gboolean wp_train_settings_read (WpTrainSettings *settings,
                                 const char      *out_dir,
                                 char           **fingerprint,
                                 gint64          *total_steps,
                                 GError         **error);
/* The root object of a run's JSON file, owned by parser; errors name the file. */
JsonObject *wp_train_read_json_object (JsonParser *parser,
                                       const char *path,
                                       GError    **error);
/* The architecture trained from scratch: the preset, with the image and patch sides asked for. */
gboolean wp_train_config_from_scratch (const WpTrainSettings *settings,
                                       int                    vocab_size,
                                       WpClipConfig          *config,
                                       GError               **error);

/* ---- the run folder (run_folder.c) ---- */

/* Creates path and its parents; a G_FILE_ERROR naming it otherwise. */
gboolean wp_run_make_folder (const char *path,
                             GError    **error);
/* Where a streamed split stands (train_batches.c, below). */
typedef struct _WpStreamPosition WpStreamPosition;

/* Writes OUT/checkpoints/step-N for the model at adamw's step (model->step is set to it), and the
 * position of a streamed split when position is not NULL, into a temporary folder and renames it
 * into place, points OUT/latest at it and removes the oldest
 * beyond keep (step 0 stays). *checkpoint_dir names the newest complete checkpoint before the
 * call (NULL: none) and the new one after it. */
gboolean wp_run_save_checkpoint (const char             *out_dir,
                                 WpModel                *model,
                                 const WpAdamW          *adamw,
                                 guint64                 seed,
                                 const WpStreamPosition *position,
                                 int                     keep,
                                 char                  **checkpoint_dir,
                                 GError                **error);
/* The newest complete checkpoint folder of the run; WP_ERROR_MISSING when there is none.
 * Removes what an interrupted save left. */
char *wp_run_find_checkpoint (const char *out_dir,
                              GError    **error) G_GNUC_WARN_UNUSED_RESULT;
/* The step a checkpoint folder's state.json gives. */
gboolean wp_run_read_checkpoint_step (const char *dir,
                                      gint64     *step,
                                      GError    **error);
/* The stream position a checkpoint's state.json records ("stream"); epoch -1 when it records
 * none. */
gboolean wp_run_read_stream_position (const char       *dir,
                                      WpStreamPosition *position,
                                      GError          **error);
/* A checkpoint's AdamW moments into adamw (of the model's layout). */
gboolean wp_run_read_moments (const char    *dir,
                              const WpModel *model,
                              WpAdamW       *adamw,
                              GError       **error);
/* One line of OUT/metrics.jsonl for a step, or for an evaluation at step. */
gboolean wp_run_log_step (const char            *out_dir,
                          const WpTrainProgress *progress,
                          GError               **error);
gboolean wp_run_log_eval (const char         *out_dir,
                          gint64              step,
                          const WpEvalResult *result,
                          GError            **error);
/* Keeps the lines of OUT/metrics.jsonl up to the checkpoint a run resumes from, so that the steps
 * it repeats appear once. */
gboolean wp_run_truncate_metrics (const char *out_dir,
                                  gint64      checkpoint_step,
                                  GError    **error);

/* ---- the split and the batches (train_batches.c) ---- */

/* What each random stream of a run is for, so that streams never coincide. */
enum {
  WP_STREAM_SPLIT = 1,
  WP_STREAM_SHUFFLE,
  WP_STREAM_AUGMENT,
  WP_STREAM_INIT,
  WP_STREAM_GROUP,
  WP_STREAM_SHARDS,
  WP_STREAM_BUFFER,
};

/* A seed for one purpose and index, independent of every other (purpose, index): every random
 * draw of a run comes from one, so a resumed run repeats an uninterrupted one. */
guint64 wp_train_derive_seed (guint64 seed,
                              guint64 purpose,
                              guint64 index);

typedef struct {
  guint  *train_indices; /* dataset order */
  guint   n_train;
  guint  *holdout_indices; /* dataset order */
  guint   n_holdout;
  gint64  steps_per_epoch;
  guint64 seed;
  int     batch;
  int     group_by_word;
  /* group_by_word: each pair's grouping words (ids), pair i's at word_ids[word_starts[i]..[i+1]) */
  guint *word_starts;
  guint *word_ids;
  /* 0: each epoch a permutation of the whole; 1: dataset order; N: the pairs stream through a
   * shuffle buffer of N, shard by shard (the shards in a shuffled order) */
  int shuffle_buffer;
  /* WebDataset: images are read from the shards in the order the epoch streams them */
  gboolean streamed;
  guint    n_shards;     /* streams: the shards; 1 for the other datasets */
  guint   *shard_starts; /* (n_shards + 1) each shard's first position in train_indices */
} WpTrainSplit;

/* The held-out pairs, a seeded random subset, and the training pairs; WP_ERROR_DATASET when the
 * training pairs do not fill a batch, WP_ERROR_INVALID when shards are to be grouped by word. */
gboolean wp_train_split_init (WpTrainSplit          *split,
                              const WpDataset       *dataset,
                              const WpTrainSettings *settings,
                              GError               **error);
void     wp_train_split_clear (WpTrainSplit *split);
/* One epoch's order of the training pairs. */
typedef struct {
  gint64 epoch; /* -1: none yet */
  guint *order; /* (n_train) the pairs as the epoch trains on them */
  /* Streams (shuffle_buffer > 0): the shards as the epoch reads them (n_shards), the pairs as it
   * reads them (n_train), and how many it has read when it takes order[i] (n_train). */
  guint *shards;
  guint *input;
  guint *consumed;
} WpEpochOrder;

void wp_epoch_order_init (WpEpochOrder       *order,
                          const WpTrainSplit *split);
void wp_epoch_order_clear (WpEpochOrder *order);
/* The dataset indices of step's batch and each pair's augmentation seed; order is computed
 * again when the step's epoch is not its epoch. */
void wp_train_split_batch (const WpTrainSplit *split,
                           gint64              step,
                           WpEpochOrder       *order,
                           guint              *indices,
                           guint64            *seeds);

/* Where a stream stands before step: the epoch, the next shard it reads (its position in the
 * epoch's shard order; n_shards once all are read) and the next sample of it (from 1; 0 then). */
struct _WpStreamPosition {
  gint64 epoch;
  guint  shard;
  char  *file; /* the shard's name; NULL once all are read */
  guint  sample;
};

void wp_train_split_stream_position (const WpTrainSplit *split,
                                     const WpDataset    *dataset,
                                     gint64              step,
                                     WpStreamPosition   *position);
void wp_stream_position_clear (WpStreamPosition *position);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WpStreamPosition, wp_stream_position_clear)

typedef struct {
  gint64     step;
  float     *pixels;
  int       *ids;
  int       *lengths;
  int        T;
  WpBoxWords boxes; /* empty unless the prefetch gathers boxed words */
  GError    *error; /* the batch could not be loaded */
} WpTrainBatch;

/* Loads the batches of steps first_step .. total_steps - 1 on a thread of its own, one ahead. */
typedef struct _WpPrefetchStream WpPrefetchStream;

typedef struct {
  const WpTrainSplit     *split;
  const WpDataset        *dataset;
  WpPrefetchStream       *stream; /* streamed splits: the shard reader and the pairs read ahead */
  const WpModel          *model;  /* its config and tokenizer only */
  const WpAugmentOptions *augment;
  gboolean                box_words; /* gather each batch's boxed words (the box term) */
  gint64                  first_step, total_steps;
  GAsyncQueue            *free_slots;
  GAsyncQueue            *ready_slots;
  GThread                *thread;
  WpTrainBatch            slots[2];
  WpTrainBatch            stop_marker;
} WpPrefetch;

/* augment: NULL for none. Everything passed must outlive wp_prefetch_stop(). */
void wp_prefetch_start (WpPrefetch             *prefetch,
                        const WpTrainSplit     *split,
                        const WpDataset        *dataset,
                        const WpModel          *model,
                        const WpAugmentOptions *augment,
                        gboolean                box_words,
                        gint64                  first_step,
                        gint64                  total_steps);
/* The next step's batch; give it back with wp_prefetch_release() once used. */
WpTrainBatch *wp_prefetch_next (WpPrefetch *prefetch);
void          wp_prefetch_release (WpPrefetch   *prefetch,
                                   WpTrainBatch *batch);
void          wp_prefetch_stop (WpPrefetch *prefetch);

G_END_DECLS
