#define G_LOG_DOMAIN "wp-train-session"

#include "wp-train-session.h"

#include <string.h>

#include "wp-train-run.h"
#include "wp-worker.h"

/* Bytes of snapshot weights kept for scrubbing back through a run. */
#define SNAPSHOT_BUDGET (1024.0 * 1024.0 * 1024.0)

struct _WpTrainSession {
  GObject parent_instance;

  WpTrainRun     *run;      /* the run shown */
  WpTrainRun     *starting; /* a run whose trainer is not ready yet */
  GCancellable   *cancellable;
  WpTrainState    state;
  WpTrainState    state_before; /* the shown run's, while another starts */
  char           *error;
  gboolean        error_at_start; /* the error stopped a run from starting */
  WpTrainProgress progress;
  GArray         *curves[WP_N_CURVES][2]; /* steps, values */
  GPtrArray      *checkpoints;            /* paths */
  GArray         *checkpoint_steps;
  GPtrArray      *snapshots;
  int             snapshot_every;
};

G_DEFINE_FINAL_TYPE (WpTrainSession, wp_train_session, G_TYPE_OBJECT)

enum {
  SIGNAL_CHANGED,
  SIGNAL_RUN_STARTED,
  SIGNAL_CHECKPOINTS_CHANGED,
  SIGNAL_SNAPSHOT_ADDED,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

static WpTrainRun *
run_data_new (WpTrainSession        *session,
              const WpTrainSettings *settings,
              gboolean               resume)
{
  WpTrainRun *data = g_atomic_rc_box_new0 (WpTrainRun);

  wp_train_settings_copy (&data->settings, settings);
  data->resume = resume;
  data->main_context = g_main_context_ref_thread_default ();
  g_weak_ref_init (&data->session, session);
  g_mutex_init (&data->lock);
  data->snapshot_every = session->snapshot_every;
  data->points = g_array_new (FALSE, FALSE, sizeof (WpTrainPoint));
  data->snapshots = g_ptr_array_new_with_free_func (wp_model_ref_release);
  data->since_request = g_timer_new ();
  return data;
}

/* ---- the main thread's side ---- */

static void
set_state (WpTrainSession *self,
           WpTrainState    state)
{
  self->state = state;
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

/* Keeps the first and the newest snapshot and drops every other one between while over budget. */
static void
thin_snapshots (WpTrainSession *self)
{
  const WpModelRef *first = self->snapshots->len > 0 ? self->snapshots->pdata[0] : NULL;
  guint             keep;

  if (first == NULL)
    return;
  keep = (guint) MAX (2.0, SNAPSHOT_BUDGET / (first->model->n_params * sizeof (float)));
  while (self->snapshots->len > keep) {
    for (guint i = 1; i + 1 < self->snapshots->len; i++)
      g_ptr_array_remove_index (self->snapshots, i);
  }
}

static int
compare_steps (gconstpointer a,
               gconstpointer b)
{
  const gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return (x > y) - (x < y);
}

GArray *
wp_train_run_list_checkpoints (const char *out_dir)
{
  g_autofree char *root = g_build_filename (out_dir, "checkpoints", NULL);
  g_autoptr (GDir) dir = g_dir_open (root, 0, NULL);
  GArray     *steps = g_array_new (FALSE, FALSE, sizeof (gint64));
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = NULL;
    g_autofree char *state = NULL;
    guint64          step;

    /* A folder the engine names so (wp_train_checkpoint_path()), complete once state.json is
     * written: what the trainer itself would resume from. */
    if (!g_str_has_prefix (name, "step-") ||
        !g_ascii_string_to_unsigned (name + 5, 10, 0, G_MAXINT64, &step, NULL))
      continue;
    path = wp_train_checkpoint_path (out_dir, (gint64) step);
    state = g_build_filename (path, "state.json", NULL);
    if (g_str_has_suffix (path, name) && g_file_test (state, G_FILE_TEST_IS_REGULAR))
      g_array_append_val (steps, step);
  }
  g_array_sort (steps, compare_steps);
  return steps;
}

void
wp_train_session_update_checkpoints (WpTrainSession *self)
{
  g_autoptr (GArray) steps = self->run != NULL
                               ? wp_train_run_list_checkpoints (self->run->settings.out_dir)
                               : g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  gboolean same;

  for (guint i = 0; i < steps->len; i++)
    g_ptr_array_add (paths, wp_train_checkpoint_path (self->run->settings.out_dir,
                                                      g_array_index (steps, gint64, i)));
  same = paths->len == self->checkpoints->len;
  for (guint i = 0; same && i < paths->len; i++)
    same = strcmp (paths->pdata[i], self->checkpoints->pdata[i]) == 0;
  if (same)
    return;
  g_ptr_array_unref (self->checkpoints);
  self->checkpoints = g_steal_pointer (&paths);
  g_array_unref (self->checkpoint_steps);
  self->checkpoint_steps = g_steal_pointer (&steps);
  g_signal_emit (self, signals[SIGNAL_CHECKPOINTS_CHANGED], 0);
}

gint64
wp_train_session_get_checkpoint_step (WpTrainSession *self,
                                      guint           index)
{
  g_return_val_if_fail (index < self->checkpoint_steps->len, -1);
  return g_array_index (self->checkpoint_steps, gint64, index);
}

/* The run's trainer is ready: what is shown becomes the run's. */
static void
show_run (WpTrainSession *self,
          gint64          step,
          gint64          total_steps)
{
  g_clear_pointer (&self->run, wp_train_run_unref);
  self->run = g_steal_pointer (&self->starting);
  for (int c = 0; c < WP_N_CURVES; c++) {
    g_array_set_size (self->curves[c][0], 0);
    g_array_set_size (self->curves[c][1], 0);
  }
  g_ptr_array_set_size (self->snapshots, 0);
  memset (&self->progress, 0, sizeof self->progress);
  self->progress.step = step;
  self->progress.total_steps = total_steps;
  if (self->state == WP_TRAIN_STATE_PREPARING)
    self->state = WP_TRAIN_STATE_RUNNING;
  g_signal_emit (self, signals[SIGNAL_RUN_STARTED], 0);
  wp_train_session_update_checkpoints (self);
}

static void
drain_mailbox (WpTrainSession *self,
               WpTrainRun     *data)
{
  g_autoptr (GArray) points = NULL;
  g_autoptr (GPtrArray) snapshots = NULL;
  gboolean        started, has_progress, paused_reported, checkpoint_written;
  gint64          start_step, start_total;
  WpTrainProgress progress;

  g_mutex_lock (&data->lock);
  points = g_steal_pointer (&data->points);
  snapshots = g_steal_pointer (&data->snapshots);
  data->points = g_array_new (FALSE, FALSE, sizeof (WpTrainPoint));
  data->snapshots = g_ptr_array_new_with_free_func (wp_model_ref_release);
  started = data->started;
  start_step = data->start_step;
  start_total = data->start_total;
  has_progress = data->has_progress;
  paused_reported = data->paused_reported;
  checkpoint_written = data->checkpoint_written;
  data->started = FALSE;
  data->has_progress = FALSE;
  data->paused_reported = FALSE;
  data->checkpoint_written = FALSE;
  data->pending = FALSE;
  progress = data->progress;
  g_mutex_unlock (&data->lock);

  if (started && data == self->starting)
    show_run (self, start_step, start_total);
  if (data != self->run)
    return;
  if (has_progress)
    self->progress = progress;
  for (guint i = 0; i < points->len; i++) {
    const WpTrainPoint *point = &g_array_index (points, WpTrainPoint, i);

    g_array_append_val (self->curves[point->curve][0], point->step);
    g_array_append_val (self->curves[point->curve][1], point->value);
  }
  if (checkpoint_written)
    wp_train_session_update_checkpoints (self);
  for (guint i = 0; i < snapshots->len; i++) {
    g_ptr_array_add (self->snapshots, wp_model_ref_acquire (snapshots->pdata[i]));
    thin_snapshots (self);
    g_signal_emit (self, signals[SIGNAL_SNAPSHOT_ADDED], 0, self->snapshots->len - 1);
  }
  if (paused_reported && self->state == WP_TRAIN_STATE_PAUSING)
    self->state = WP_TRAIN_STATE_PAUSED;
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

gboolean
wp_train_session_apply_mailbox_cb (gpointer user_data)
{
  WpTrainRun *data = user_data;
  g_autoptr (WpTrainSession) self = g_weak_ref_get (&data->session);

  if (self != NULL && (self->run == data || self->starting == data))
    drain_mailbox (self, data);
  return G_SOURCE_REMOVE;
}

static void
run_done_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  WpTrainSession *self = WP_TRAIN_SESSION (source);
  g_autoptr (GError) error = NULL;
  WpTrainRun *data = g_task_get_task_data (G_TASK (result));
  gboolean    ok;

  if (self->run == data || self->starting == data)
    drain_mailbox (self, data);
  ok = g_task_propagate_boolean (G_TASK (result), &error);
  g_clear_object (&self->cancellable);
  if (!ok && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_free (self->error);
    self->error = g_strdup (error->message);
    self->error_at_start = self->starting == data;
  }
  if (self->starting == data) {
    /* It never started (or was stopped before it did): the run shown stays as it was. */
    g_clear_pointer (&self->starting, wp_train_run_unref);
    set_state (self, self->state_before);
  } else if (ok) {
    set_state (self, WP_TRAIN_STATE_FINISHED);
  } else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    set_state (self, WP_TRAIN_STATE_STOPPED);
  } else {
    set_state (self, WP_TRAIN_STATE_FAILED);
  }
}

gboolean
wp_train_session_is_active (WpTrainSession *self)
{
  return self->state == WP_TRAIN_STATE_PREPARING || self->state == WP_TRAIN_STATE_RUNNING ||
         self->state == WP_TRAIN_STATE_PAUSING || self->state == WP_TRAIN_STATE_PAUSED ||
         self->state == WP_TRAIN_STATE_STOPPING;
}

static gboolean
start_run (WpTrainSession        *self,
           const WpTrainSettings *settings,
           gboolean               resume,
           GError               **error)
{
  g_autoptr (GTask) task = NULL;

  if (wp_train_session_is_active (self)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY, "a training run is going: stop it first");
    return FALSE;
  }
  g_clear_pointer (&self->error, g_free);
  self->state_before = self->state;
  self->starting = run_data_new (self, settings, resume);
  self->cancellable = g_cancellable_new ();
  task = g_task_new (self, self->cancellable, run_done_cb, NULL);
  g_task_set_task_data (task, g_atomic_rc_box_acquire (self->starting), wp_train_run_unref);
  g_task_set_name (task, resume ? "[wp] continue training" : "[wp] train");
  wp_worker_run (task, wp_train_run_worker);
  set_state (self, WP_TRAIN_STATE_PREPARING);
  return TRUE;
}

gboolean
wp_train_session_start (WpTrainSession        *self,
                        const WpTrainSettings *settings,
                        GError               **error)
{
  return start_run (self, settings, FALSE, error);
}

gboolean
wp_train_session_resume (WpTrainSession        *self,
                         const WpTrainSettings *settings,
                         GError               **error)
{
  return start_run (self, settings, TRUE, error);
}

/* The run going: starting, or started. */
static WpTrainRun *
active_run (WpTrainSession *self)
{
  if (!wp_train_session_is_active (self))
    return NULL;
  return self->starting != NULL ? self->starting : self->run;
}

void
wp_train_session_set_paused (WpTrainSession *self,
                             gboolean        paused)
{
  WpTrainRun *run = active_run (self);

  if (run == NULL || self->state == WP_TRAIN_STATE_STOPPING)
    return;
  g_mutex_lock (&run->lock);
  run->paused = paused;
  if (run->trainer != NULL)
    wp_trainer_set_paused (run->trainer, paused);
  g_mutex_unlock (&run->lock);
  if (paused && self->state != WP_TRAIN_STATE_PAUSED)
    set_state (self, WP_TRAIN_STATE_PAUSING);
  else if (!paused)
    set_state (self, self->starting != NULL ? WP_TRAIN_STATE_PREPARING : WP_TRAIN_STATE_RUNNING);
}

void
wp_train_session_stop (WpTrainSession *self)
{
  if (self->cancellable == NULL || !wp_train_session_is_active (self))
    return;
  g_cancellable_cancel (self->cancellable);
  set_state (self, WP_TRAIN_STATE_STOPPING);
}

WpTrainState
wp_train_session_get_state (WpTrainSession *self)
{
  return self->state;
}

const char *
wp_train_state_to_string (WpTrainState state)
{
  static const char *const names[] = { "idle", "preparing", "running", "pausing", "paused",
                                       "stopping", "finished", "stopped", "failed" };

  return names[state];
}

const char *
wp_train_session_get_error (WpTrainSession *self,
                            gboolean       *at_start)
{
  if (at_start != NULL)
    *at_start = self->error_at_start;
  return self->error;
}

void
wp_train_session_clear_error (WpTrainSession *self)
{
  if (self->error == NULL)
    return;
  g_clear_pointer (&self->error, g_free);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

const char *
wp_train_session_get_out_dir (WpTrainSession *self)
{
  return self->run != NULL ? self->run->settings.out_dir : NULL;
}

const WpTrainProgress *
wp_train_session_get_progress (WpTrainSession *self)
{
  return &self->progress;
}

void
wp_train_session_get_curve (WpTrainSession *self,
                            WpCurve         curve,
                            const double  **steps,
                            const double  **values,
                            guint          *n)
{
  *steps = (const double *) (void *) self->curves[curve][0]->data;
  *values = (const double *) (void *) self->curves[curve][1]->data;
  *n = self->curves[curve][0]->len;
}

const GPtrArray *
wp_train_session_get_checkpoints (WpTrainSession *self)
{
  return self->checkpoints;
}

guint
wp_train_session_get_n_snapshots (WpTrainSession *self)
{
  return self->snapshots->len;
}

WpModelRef *
wp_train_session_get_snapshot (WpTrainSession *self,
                               guint           index)
{
  g_return_val_if_fail (index < self->snapshots->len, NULL);
  return self->snapshots->pdata[index];
}

void
wp_train_session_set_snapshot_every (WpTrainSession *self,
                                     int             steps)
{
  WpTrainRun *runs[] = { self->run, self->starting };

  self->snapshot_every = MAX (1, steps);
  for (gsize i = 0; i < G_N_ELEMENTS (runs); i++) {
    if (runs[i] == NULL)
      continue;
    g_mutex_lock (&runs[i]->lock);
    runs[i]->snapshot_every = self->snapshot_every;
    g_mutex_unlock (&runs[i]->lock);
  }
}

/* ---- evaluation before and after ---- */

typedef struct {
  WpTrainRun  *run;
  WpModelRef  *after;      /* the newest snapshot, or NULL: */
  char        *after_path; /* the newest checkpoint */
  char        *before_path;
  WpEvalResult before_result, after_result;
  gint64       after_step;
} EvalWork;

static void
eval_work_free (gpointer pointer)
{
  EvalWork *work = pointer;

  g_clear_pointer (&work->run, wp_train_run_unref);
  g_clear_pointer (&work->after, wp_model_ref_release);
  g_free (work->after_path);
  g_free (work->before_path);
  wp_eval_result_clear (&work->before_result);
  wp_eval_result_clear (&work->after_result);
  g_free (work);
}

static void
evaluate_worker (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  EvalWork *work = task_data;
  GError   *error = NULL;
  g_autoptr (WpModel) before = wp_model_load (work->before_path, &error);
  g_autoptr (WpModel) loaded = NULL;
  const WpModel *after;

  if (before == NULL) {
    g_task_return_error (task, error);
    return;
  }
  if (work->after != NULL) {
    after = work->after->model;
  } else {
    loaded = wp_model_load (work->after_path, &error);
    if (loaded == NULL) {
      g_task_return_error (task, error);
      return;
    }
    after = loaded;
  }
  work->after_step = after->step;
  if (!wp_trainer_evaluate (work->run->trainer, before, cancellable, &work->before_result,
                            &error) ||
      !wp_trainer_evaluate (work->run->trainer, after, cancellable, &work->after_result, &error)) {
    g_task_return_error (task, error);
    return;
  }
  g_task_return_boolean (task, TRUE);
}

void
wp_train_session_evaluate_async (WpTrainSession     *self,
                                 GCancellable       *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer            user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  EvalWork *work;
  gboolean  ready;

  g_task_set_name (task, "[wp] evaluate run");
  if (self->run != NULL) {
    g_mutex_lock (&self->run->lock);
    ready = self->run->trainer != NULL;
    g_mutex_unlock (&self->run->lock);
  } else {
    ready = FALSE;
  }
  if (!ready || (self->snapshots->len == 0 && self->checkpoints->len == 0)) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                             "start a training run first: evaluation uses its held-out pairs");
    return;
  }
  work = g_new0 (EvalWork, 1);
  work->run = g_atomic_rc_box_acquire (self->run);
  if (self->snapshots->len > 0)
    work->after = wp_model_ref_acquire (self->snapshots->pdata[self->snapshots->len - 1]);
  else
    work->after_path = g_strdup (self->checkpoints->pdata[self->checkpoints->len - 1]);
  work->before_path = wp_train_checkpoint_path (self->run->settings.out_dir, 0);
  g_task_set_task_data (task, work, eval_work_free);
  wp_worker_run (task, evaluate_worker);
}

gboolean
wp_train_session_evaluate_finish (WpTrainSession *self,
                                  GAsyncResult   *result,
                                  WpEvalResult   *before,
                                  WpEvalResult   *after,
                                  gint64         *after_step,
                                  GError        **error)
{
  EvalWork *work = g_task_get_task_data (G_TASK (result));

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;
  *before = work->before_result;
  *after = work->after_result;
  *after_step = work->after_step;
  memset (&work->before_result, 0, sizeof work->before_result);
  memset (&work->after_result, 0, sizeof work->after_result);
  return TRUE;
}

/* ---- the object ---- */

static void
wp_train_session_dispose (GObject *object)
{
  WpTrainSession *self = WP_TRAIN_SESSION (object);

  /* The worker holds the session's task, so a run still going keeps the session alive: by
   * here it has ended. */
  g_clear_pointer (&self->run, wp_train_run_unref);
  g_clear_pointer (&self->starting, wp_train_run_unref);
  G_OBJECT_CLASS (wp_train_session_parent_class)->dispose (object);
}

static void
wp_train_session_finalize (GObject *object)
{
  WpTrainSession *self = WP_TRAIN_SESSION (object);

  g_clear_object (&self->cancellable);
  g_free (self->error);
  for (int c = 0; c < WP_N_CURVES; c++) {
    g_array_unref (self->curves[c][0]);
    g_array_unref (self->curves[c][1]);
  }
  g_ptr_array_unref (self->checkpoints);
  g_array_unref (self->checkpoint_steps);
  g_ptr_array_unref (self->snapshots);
  G_OBJECT_CLASS (wp_train_session_parent_class)->finalize (object);
}

static void
wp_train_session_class_init (WpTrainSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = wp_train_session_dispose;
  object_class->finalize = wp_train_session_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_RUN_STARTED] =
    g_signal_new ("run-started", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
  signals[SIGNAL_CHECKPOINTS_CHANGED] =
    g_signal_new ("checkpoints-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_SNAPSHOT_ADDED] =
    g_signal_new ("snapshot-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
}

static void
wp_train_session_init (WpTrainSession *self)
{
  for (int c = 0; c < WP_N_CURVES; c++) {
    self->curves[c][0] = g_array_new (FALSE, FALSE, sizeof (double));
    self->curves[c][1] = g_array_new (FALSE, FALSE, sizeof (double));
  }
  self->checkpoints = g_ptr_array_new_with_free_func (g_free);
  self->checkpoint_steps = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->snapshots = g_ptr_array_new_with_free_func (wp_model_ref_release);
  self->snapshot_every = 5;
}

WpTrainSession *
wp_train_session_new (void)
{
  return g_object_new (WP_TYPE_TRAIN_SESSION, NULL);
}
