/* trainer.h: the training loop, one for the command line and the app.
 *
 * A run trains a model (fine-tuned from --init, or from scratch with a preset size and a BPE
 * vocabulary learnt from the training captions) on a dataset folder (dataset.h) with one
 * objective (loss.h) and AdamW (adamw.h), and keeps everything in its output folder:
 *
 *   OUT/settings.json          the run's settings and the dataset's fingerprint
 *   OUT/metrics.jsonl          one JSON object a step ({"step", "loss", ...}) or evaluation
 *                              ({"step", "eval": {...}}), appended as the run goes
 *   OUT/checkpoints/step-N/    a model folder (config.json, model.safetensors, vocab.json,
 *                              merges.txt) plus adam_m.safetensors, adam_v.safetensors and
 *                              state.json (step, seed, format)
 *   OUT/latest                 symbolic link to the newest checkpoint
 *
 * A checkpoint is written into a temporary folder and renamed into place, so every step-N folder
 * that exists is complete; a run killed at any moment leaves the previous ones intact. The step-0
 * checkpoint (the untrained model) is written when the run starts; older checkpoints beyond
 * `keep` are removed, except step 0.
 *
 * Determinism: the held-out split, each epoch's shuffle and each sample's augmentation are pure
 * functions of the seed, the epoch and the step, so a resumed run repeats an uninterrupted one
 * bit for bit (with the same number of threads). The trainer never sets the thread count
 * (parallel.h); it records the count in effect in settings.json.
 *
 * The models it saves record the objective they are trained with (config.h).
 *
 * Threads: wp_trainer_run() runs on one thread (the app's worker); wp_trainer_set_paused() and
 * wp_trainer_request_snapshot() / wp_trainer_copy_snapshot() may be called from any thread.
 * Images are decoded on a background thread one batch ahead. */
#pragma once

#include <gio/gio.h>

#include "wordpatch/adamw.h"
#include "wordpatch/dataset.h"
#include "wordpatch/evaluate.h"
#include "wordpatch/model.h"
#include "wordpatch/train_settings.h"

G_BEGIN_DECLS

typedef enum {
  WP_TRAIN_EVENT_STEP,       /* an update was done */
  WP_TRAIN_EVENT_EVAL,       /* a held-out evaluation finished */
  WP_TRAIN_EVENT_CHECKPOINT, /* a checkpoint was written */
  /* The loop paused; a snapshot of the weights it stopped at was taken. */
  WP_TRAIN_EVENT_PAUSED,
} WpTrainEvent;

typedef struct {
  WpTrainEvent event;
  gint64       step; /* updates done */
  gint64       total_steps;
  double       epoch; /* fractional epochs done */
  WpLossParts  loss;  /* of the last step */
  float        lr;
  double       grad_norm;
  float        logit_scale; /* exp of the parameter */
  double       pairs_per_second;
  double       elapsed_seconds; /* since this wp_trainer_run() started */
  double       eta_seconds;
  /* WP_TRAIN_EVENT_EVAL: held-out retrieval by eval_similarity (wp_retrieval_to_string()'s name
   * of the similarity the run trains) and, when the held-out pairs have boxes, the pointing game
   * (NAN without boxes) */
  guint       eval_pairs;
  const char *eval_similarity;
  double      i2t_r1, i2t_r5, t2i_r1, t2i_r5;
  guint       eval_boxed_words;
  double      pointing_filip, pointing_sparc;
  /* WP_TRAIN_EVENT_CHECKPOINT */
  const char *checkpoint_dir;
} WpTrainProgress;

/* Called on the training thread between steps; must not block for long. */
typedef void (*WpTrainProgressFunc) (const WpTrainProgress *progress,
                                     gpointer               user_data);

typedef struct _WpTrainer WpTrainer;

/* Starts a new run in settings->out_dir, which must not hold one already: validates the settings,
 * opens and checks the dataset, splits it, builds or loads the model, writes settings.json and
 * the step-0 checkpoint. */
WpTrainer *wp_trainer_new (const WpTrainSettings *settings,
                           GError               **error) G_GNUC_WARN_UNUSED_RESULT;
/* Continues the run in out_dir from its newest checkpoint, with the settings it started with,
 * or with settings (from wp_train_settings_load(), changed) when not NULL: a setting a resumed
 * run may change (train_settings.h) is applied and recorded in settings.json, any other that
 * differs fails with WP_ERROR_INVALID naming it. The data may move but not change. */
WpTrainer *wp_trainer_resume (const char            *out_dir,
                              const WpTrainSettings *settings,
                              GError               **error) G_GNUC_WARN_UNUSED_RESULT;
void       wp_trainer_free (WpTrainer *trainer);

/* Trains to the run's total steps. Cancelling stops at the next step boundary, writes a
 * checkpoint and returns FALSE with G_IO_ERROR_CANCELLED. A non-finite loss or gradient stops
 * without touching the weights or the checkpoints (WP_ERROR_NOT_FINITE, naming the step and the
 * last checkpoint). */
gboolean wp_trainer_run (WpTrainer          *trainer,
                         WpTrainProgressFunc progress,
                         gpointer            user_data,
                         GCancellable       *cancellable,
                         GError            **error);

/* While paused, the loop waits between steps (cancelling still stops it); it takes a snapshot
 * and reports WP_TRAIN_EVENT_PAUSED as it starts waiting. */
void wp_trainer_set_paused (WpTrainer *trainer,
                            gboolean   paused);

/* Asks for a copy of the weights at the next step boundary. */
void wp_trainer_request_snapshot (WpTrainer *trainer);
/* Copies the newest snapshot into a model of the run's layout (from wp_trainer_get_model() and
 * wp_model_copy()) and returns its generation, counting from 1; 0 when there is none yet. */
guint wp_trainer_copy_snapshot (WpTrainer *trainer,
                                WpModel   *model);

/* Evaluates model (the run's model at any step: a snapshot or a checkpoint) on the run's
 * held-out pairs (at most eval_max of them), as the evaluations during training do: retrieval
 * by the similarity the run's objective trains, the one its checkpoints record in config.json.
 * Reads only the dataset and the split, so it may run on another thread while training goes on.
 * Fails when the run holds nothing out. */
gboolean wp_trainer_evaluate (const WpTrainer *trainer,
                              const WpModel   *model,
                              GCancellable    *cancellable,
                              WpEvalResult    *result,
                              GError         **error);

/* The live model: its config and tokenizer may be read from any thread, its weights only from
 * the training thread (use snapshots). */
const WpModel         *wp_trainer_get_model (const WpTrainer *trainer);
const WpDataset       *wp_trainer_get_dataset (const WpTrainer *trainer);
const WpTrainSettings *wp_trainer_get_settings (const WpTrainer *trainer);
gint64                 wp_trainer_get_step (const WpTrainer *trainer);
gint64                 wp_trainer_get_total_steps (const WpTrainer *trainer);
guint                  wp_trainer_get_n_train (const WpTrainer *trainer);
guint                  wp_trainer_get_n_holdout (const WpTrainer *trainer);
/* The dataset indices of the pairs that step (from 0) trains on, settings.batch of them. */
void wp_trainer_get_batch (const WpTrainer *trainer,
                           gint64           step,
                           guint           *indices);
/* OUT/checkpoints/step-N: where a run's checkpoint of that step is. */
char *wp_train_checkpoint_path (const char *out_dir,
                                gint64      step) G_GNUC_WARN_UNUSED_RESULT;
/* The newest complete checkpoint folder of the run, or NULL. */
const char *wp_trainer_get_checkpoint_dir (const WpTrainer *trainer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpTrainer, wp_trainer_free)

G_END_DECLS
