#define G_LOG_DOMAIN "wp-train-session"

/* wp-train-run.c: a training run's worker side (wp-train-run.h): the engine's trainer on a worker
 * thread posting its progress, curve points and weight snapshots into the run's mailbox. */
#include "wp-train-run.h"

#include <json-glib/json-glib.h>
#include <math.h>

/* Seconds between snapshots at least, however fast the steps are. */
#define SNAPSHOT_MIN_INTERVAL 0.25

static void
run_clear (gpointer pointer)
{
  WpTrainRun *data = pointer;

  wp_train_settings_clear (&data->settings);
  g_main_context_unref (data->main_context);
  g_weak_ref_clear (&data->session);
  g_clear_pointer (&data->trainer, wp_trainer_free);
  g_clear_pointer (&data->points, g_array_unref);
  g_clear_pointer (&data->snapshots, g_ptr_array_unref);
  g_clear_pointer (&data->template, wp_model_free);
  g_clear_pointer (&data->since_request, g_timer_destroy);
  g_mutex_clear (&data->lock);
}

void
wp_train_run_unref (gpointer data)
{
  g_atomic_rc_box_release_full (data, run_clear);
}

/* ---- the worker's side ---- */

/* Called with the lock held. */
static void
schedule_locked (WpTrainRun *data)
{
  GSource *source;

  if (data->pending)
    return;
  data->pending = TRUE;
  source = g_idle_source_new ();
  g_source_set_callback (source, wp_train_session_apply_mailbox_cb,
                         g_atomic_rc_box_acquire (data), wp_train_run_unref);
  g_source_set_static_name (source, "[wp] train progress");
  g_source_attach (source, data->main_context);
  g_source_unref (source);
}

static void
post_point (WpTrainRun *data,
            WpCurve     curve,
            gint64      step,
            double      value)
{
  const WpTrainPoint point = { curve, (double) step, value };

  if (isfinite (value))
    g_array_append_val (data->points, point);
}

/* Called with the lock held: a step's points, the same for a live step and a logged one. */
static void
post_step_points (WpTrainRun        *data,
                  gint64             step,
                  const WpLossParts *loss,
                  double             logit_scale)
{
  post_point (data, WP_CURVE_LOSS, step, loss->total);
  post_point (data, WP_CURVE_LOGIT_SCALE, step, logit_scale);
  /* CLIP's loss is its one term, FILIP's too unless a global term is added; SPARC's has two. */
  if (data->settings.loss.objective == WP_OBJECTIVE_SPARC) {
    post_point (data, WP_CURVE_LOSS_CLIP, step, loss->clip);
    post_point (data, WP_CURVE_LOSS_FINE, step, loss->fine);
  } else if (data->settings.loss.objective == WP_OBJECTIVE_FILIP &&
             data->settings.loss.filip_global > 0.0f) {
    post_point (data, WP_CURVE_LOSS_CLIP, step, loss->clip);
    post_point (data, WP_CURVE_LOSS_FINE, step, loss->filip);
  }
  /* NAN, hence no point, without the box term. */
  post_point (data, WP_CURVE_LOSS_BOX, step, loss->box);
}

/* Called with the lock held; pointing is NAN without boxed words. */
static void
post_eval_points (WpTrainRun *data,
                  gint64      step,
                  double      i2t_r1,
                  double      t2i_r1,
                  double      pointing_filip,
                  double      pointing_sparc)
{
  post_point (data, WP_CURVE_I2T_R1, step, i2t_r1);
  post_point (data, WP_CURVE_T2I_R1, step, t2i_r1);
  post_point (data, WP_CURVE_POINTING_FILIP, step, pointing_filip);
  post_point (data, WP_CURVE_POINTING_SPARC, step, pointing_sparc);
}

static double
member_number (JsonObject *object,
               const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  return node != NULL && JSON_NODE_HOLDS_VALUE (node) ? json_node_get_double (node) : NAN;
}

/* A continued run's curves up to its checkpoint, from the metrics.jsonl the trainer keeps (and
 * has cut back to that checkpoint). A line that does not parse adds nothing. */
static void
post_logged_points (WpTrainRun *data)
{
  g_autofree char *path = g_build_filename (data->settings.out_dir, "metrics.jsonl", NULL);
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return;
  lines = g_strsplit (contents, "\n", -1);
  g_mutex_lock (&data->lock);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *line, *eval;
    gint64      step;

    if (lines[i][0] == '\0' || !json_parser_load_from_data (parser, lines[i], -1, NULL) ||
        !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
      continue;
    line = json_node_get_object (json_parser_get_root (parser));
    step = json_object_get_int_member_with_default (line, "step", -1);
    eval = json_object_has_member (line, "eval")
             ? json_object_get_object_member (line, "eval")
             : NULL;
    if (step < 0) {
      continue;
    } else if (eval != NULL) {
      post_eval_points (data, step, member_number (eval, "i2t_r1"), member_number (eval, "t2i_r1"),
                        member_number (eval, "pointing_filip"),
                        member_number (eval, "pointing_sparc"));
    } else {
      const WpLossParts loss = { member_number (line, "loss"), member_number (line, "loss_clip"),
                                 member_number (line, "loss_filip"),
                                 member_number (line, "loss_fine"),
                                 member_number (line, "loss_box") };

      post_step_points (data, step, &loss, member_number (line, "logit_scale"));
    }
  }
  schedule_locked (data);
  g_mutex_unlock (&data->lock);
}

static void
post_snapshot (WpTrainRun *data,
               WpModel    *model)
{
  data->posted_step = model->step;
  g_mutex_lock (&data->lock);
  g_ptr_array_add (data->snapshots, wp_model_ref_new (model));
  schedule_locked (data);
  g_mutex_unlock (&data->lock);
}

/* The engine's newest snapshot as a model of its own, if it is newer than the last one posted. */
static void
collect_snapshot (WpTrainRun *data)
{
  WpModel *model = wp_model_copy (data->template);
  guint    generation = wp_trainer_copy_snapshot (data->trainer, model);

  if (generation == data->generation) {
    wp_model_free (model);
    return;
  }
  data->generation = generation;
  post_snapshot (data, model);
}

static void
progress_cb (const WpTrainProgress *progress,
             gpointer               user_data)
{
  WpTrainRun *data = user_data;
  int         every;

  if (progress->event == WP_TRAIN_EVENT_STEP && data->requested) {
    collect_snapshot (data);
    data->requested = FALSE;
  } else if (progress->event == WP_TRAIN_EVENT_PAUSED) {
    collect_snapshot (data);
  }

  g_mutex_lock (&data->lock);
  every = data->snapshot_every;
  switch (progress->event) {
  case WP_TRAIN_EVENT_STEP:
    data->progress = *progress;
    data->progress.checkpoint_dir = NULL;
    data->has_progress = TRUE;
    post_step_points (data, progress->step, &progress->loss, progress->logit_scale);
    break;
  case WP_TRAIN_EVENT_EVAL:
    post_eval_points (data, progress->step, progress->i2t_r1, progress->t2i_r1,
                      progress->eval_boxed_words > 0 ? progress->pointing_filip : NAN,
                      progress->eval_boxed_words > 0 ? progress->pointing_sparc : NAN);
    break;
  case WP_TRAIN_EVENT_CHECKPOINT:
    data->checkpoint_written = TRUE;
    break;
  case WP_TRAIN_EVENT_PAUSED:
    data->paused_reported = TRUE;
    break;
  }
  schedule_locked (data);
  g_mutex_unlock (&data->lock);

  /* Asked for now, taken by the engine after the next update, collected at the next step. */
  if (progress->event == WP_TRAIN_EVENT_STEP && progress->step < progress->total_steps &&
      (progress->step - data->requested_step >= every ||
       progress->step + 1 == progress->total_steps) &&
      g_timer_elapsed (data->since_request, NULL) >= SNAPSHOT_MIN_INTERVAL) {
    wp_trainer_request_snapshot (data->trainer);
    data->requested = TRUE;
    data->requested_step = progress->step;
    g_timer_start (data->since_request);
  }
}

void
wp_train_run_worker (GTask        *task,
                     gpointer      source_object,
                     gpointer      task_data,
                     GCancellable *cancellable)
{
  WpTrainRun *data = task_data;
  GError     *error = NULL;
  WpTrainer  *trainer = data->resume ? wp_trainer_resume (data->settings.out_dir, &data->settings,
                                                          &error)
                                     : wp_trainer_new (&data->settings, &error);
  gboolean    ok;

  if (trainer == NULL) {
    g_task_return_error (task, error);
    return;
  }
  /* This thread owns the live weights, so it may copy them: the first snapshot. */
  data->template = wp_model_copy (wp_trainer_get_model (trainer));
  /* A fine-tuned model may carry the step of its own training; snapshots count this run's. */
  data->template->step = wp_trainer_get_step (trainer);
  g_mutex_lock (&data->lock);
  data->trainer = trainer;
  wp_trainer_set_paused (trainer, data->paused);
  data->started = TRUE;
  data->start_step = wp_trainer_get_step (trainer);
  data->start_total = wp_trainer_get_total_steps (trainer);
  schedule_locked (data);
  g_mutex_unlock (&data->lock);
  if (data->start_step > 0) {
    g_autofree char *start_path = wp_train_checkpoint_path (data->settings.out_dir, 0);
    WpModel         *start = wp_model_load (start_path, NULL);

    /* The first snapshot is the run's start, as for a new run, when its checkpoint is there. */
    if (start != NULL)
      post_snapshot (data, start);
    post_logged_points (data);
  }
  post_snapshot (data, wp_model_copy (data->template));
  data->requested_step = wp_trainer_get_step (trainer);

  ok = wp_trainer_run (trainer, progress_cb, data, cancellable, &error);
  if (wp_trainer_get_step (trainer) != data->posted_step)
    post_snapshot (data, wp_model_copy (wp_trainer_get_model (trainer)));
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}
