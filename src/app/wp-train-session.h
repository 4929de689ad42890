/* wp-train-session.h: the app's training run. The engine's trainer (trainer.h, the same loop as
 * `wordpatch-cli train`) runs on a worker thread; its progress reaches the main thread through a
 * mailbox drained by one idle at a time (CONVENTIONS.md §4.6), where it becomes curves, the list
 * of checkpoints and weight snapshots for the live heatmaps.
 *
 * What the session shows (curves, checkpoints, snapshots, progress) belongs to one run, the
 * newest that started: a new or continued run replaces it only once its trainer is ready
 * ("run-started"), so a run that fails to start leaves the previous one's in place. */
#pragma once

#include <gio/gio.h>

#include "wordpatch/wordpatch.h"
#include "wp-model-ref.h"

G_BEGIN_DECLS

typedef enum {
  WP_TRAIN_STATE_IDLE,      /* no run yet */
  WP_TRAIN_STATE_PREPARING, /* checking the dataset, writing or reading the checkpoint */
  WP_TRAIN_STATE_RUNNING,
  WP_TRAIN_STATE_PAUSING, /* asked to pause, the current step finishing */
  WP_TRAIN_STATE_PAUSED,
  WP_TRAIN_STATE_STOPPING, /* asked to stop, writing the last checkpoint */
  WP_TRAIN_STATE_FINISHED, /* every step done */
  WP_TRAIN_STATE_STOPPED,  /* stopped by the user, its last checkpoint written */
  WP_TRAIN_STATE_FAILED,   /* failed after it started (a start that fails leaves the state) */
} WpTrainState;

typedef enum {
  WP_CURVE_LOSS,
  WP_CURVE_LOSS_CLIP, /* two-term objectives' terms, unweighted: L_CLIP and SPARC's L_f, */
  WP_CURVE_LOSS_FINE, /* or L_CLIP and L_FILIP for FILIP with a global term */
  WP_CURVE_LOSS_BOX,  /* the box term, unweighted, when the run has it */
  WP_CURVE_LOGIT_SCALE,
  WP_CURVE_I2T_R1, /* held-out evaluations */
  WP_CURVE_T2I_R1,
  WP_CURVE_POINTING_FILIP, /* only when the held-out pairs have boxes */
  WP_CURVE_POINTING_SPARC,
  WP_N_CURVES,
} WpCurve;

#define WP_TYPE_TRAIN_SESSION (wp_train_session_get_type ())
G_DECLARE_FINAL_TYPE (WpTrainSession, wp_train_session, WP, TRAIN_SESSION, GObject)

/* Signals: "changed" (state, progress, curves or the error), "run-started" (a run's trainer is
 * ready: what the session shows is now that run's), "checkpoints-changed" (the list of
 * checkpoints on disk), "snapshot-added" (guint index). */
WpTrainSession *wp_train_session_new (void);

/* Starts a new run in settings->out_dir (settings are copied). FALSE while a run is going. */
gboolean wp_train_session_start (WpTrainSession        *self,
                                 const WpTrainSettings *settings,
                                 GError               **error);
/* Continues the run in settings->out_dir from its newest checkpoint (wp_trainer_resume()):
 * settings are the run's own (wp_train_settings_load()), changed where a resumed run may change
 * them. The curves start with the run's metrics.jsonl up to that checkpoint and the snapshots
 * with its step-0 checkpoint. FALSE while a run is going. */
gboolean wp_train_session_resume (WpTrainSession        *self,
                                  const WpTrainSettings *settings,
                                  GError               **error);
void     wp_train_session_set_paused (WpTrainSession *self,
                                      gboolean        paused);
/* Stops at the next step boundary; the run writes its checkpoint there. */
void     wp_train_session_stop (WpTrainSession *self);
gboolean wp_train_session_is_active (WpTrainSession *self);

WpTrainState wp_train_session_get_state (WpTrainSession *self);
const char  *wp_train_state_to_string (WpTrainState state);
/* Why the last run failed, or failed to start (at_start, when not NULL, says which); NULL once
 * another starts or after wp_train_session_clear_error(). */
const char            *wp_train_session_get_error (WpTrainSession *self,
                                                   gboolean       *at_start);
void                   wp_train_session_clear_error (WpTrainSession *self);
const char            *wp_train_session_get_out_dir (WpTrainSession *self);
const WpTrainProgress *wp_train_session_get_progress (WpTrainSession *self);
void                   wp_train_session_get_curve (WpTrainSession *self,
                                                   WpCurve         curve,
                                                   const double  **steps,
                                                   const double  **values,
                                                   guint          *n);
/* The run's checkpoint folders as they are on disk, oldest first: read when the run starts and
 * after each checkpoint it writes (the engine then removes older ones beyond `keep`, never step
 * 0), or when wp_train_session_update_checkpoints() is called. */
const GPtrArray *wp_train_session_get_checkpoints (WpTrainSession *self);
/* The step of checkpoint index. */
gint64 wp_train_session_get_checkpoint_step (WpTrainSession *self,
                                             guint           index);
void   wp_train_session_update_checkpoints (WpTrainSession *self);
/* The steps (gint64) of the complete checkpoints of the run in out_dir, ascending (none: empty). */
GArray *wp_train_run_list_checkpoints (const char *out_dir) G_GNUC_WARN_UNUSED_RESULT;

/* Snapshots of the weights taken between steps every few steps (and at each pause), oldest
 * first; thinned out, keeping the first and the newest, when they would use more memory than
 * the budget. The model's step says where it was taken; the first is the run's start (step 0). */
guint       wp_train_session_get_n_snapshots (WpTrainSession *self);
WpModelRef *wp_train_session_get_snapshot (WpTrainSession *self,
                                           guint           index);
/* Steps between snapshots (default 5); at most a few are taken a second whatever this is. */
void wp_train_session_set_snapshot_every (WpTrainSession *self,
                                          int             steps);

/* Evaluates, on the run's held-out pairs, the model before fine-tuning (the step-0 checkpoint)
 * and the newest weights (the newest snapshot, or the newest checkpoint). */
void     wp_train_session_evaluate_async (WpTrainSession     *self,
                                          GCancellable       *cancellable,
                                          GAsyncReadyCallback callback,
                                          gpointer            user_data);
gboolean wp_train_session_evaluate_finish (WpTrainSession *self,
                                           GAsyncResult   *result,
                                           WpEvalResult   *before,
                                           WpEvalResult   *after,
                                           gint64         *after_step,
                                           GError        **error);

G_END_DECLS
