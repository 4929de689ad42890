/* wp-train-run.h: one training run as WpTrainSession's main-thread side (wp-train-session.c)
 * and its worker (wp-train-run.c) share it. The worker posts into the mailbox under the lock and
 * keeps at most one idle pending, which drains the mailbox on the main thread. */
#pragma once

#include "wp-train-session.h"

G_BEGIN_DECLS

typedef struct {
  WpCurve curve;
  double  step, value;
} WpTrainPoint;

/* What the worker and the main thread share, reference-counted (each pending idle and task holds
 * a reference). */
typedef struct {
  /* Set before the worker starts, then read-only. */
  WpTrainSettings settings;
  gboolean        resume; /* continue the run in settings.out_dir */
  GMainContext   *main_context;
  GWeakRef        session;

  GMutex     lock; /* guards what follows, up to the worker's own fields */
  WpTrainer *trainer;
  gboolean   paused;
  int        snapshot_every;
  /* the mailbox */
  gboolean        pending;
  gboolean        started; /* the trainer is ready, at start_step of start_total */
  gint64          start_step, start_total;
  gboolean        has_progress;
  gboolean        paused_reported;
  gboolean        checkpoint_written;
  WpTrainProgress progress;
  GArray         *points;
  GPtrArray      *snapshots;

  /* The worker's own. */
  WpModel *template; /* the run's layout and tokenizer, for snapshot copies */
  guint    generation;
  gboolean requested;
  gint64   requested_step;
  gint64   posted_step; /* of the newest snapshot posted */
  GTimer  *since_request;
} WpTrainRun;

/* Releases a reference (a GDestroyNotify): each pending idle and task holds one. */
void wp_train_run_unref (gpointer run);

/* The task's thread function: creates or resumes the trainer from the task data (a WpTrainRun)
 * and runs it to its end, posting as it goes. */
void wp_train_run_worker (GTask        *task,
                          gpointer      source_object,
                          gpointer      task_data,
                          GCancellable *cancellable);

/* The idle that drains the mailbox on the main thread (wp-train-session.c); user_data is the run,
 * whose reference the idle holds. */
gboolean wp_train_session_apply_mailbox_cb (gpointer user_data);

G_END_DECLS
