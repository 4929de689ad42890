#define G_LOG_DOMAIN "wp-window"

/* wp-window-training.c: the Explore page following a fine-tuning run: the snapshot slider, live
 * at its right end, and the snapshot's label as the run's state changes. */
#include "wp-window-private.h"

#include <math.h>

/* ---- following training ---- */

/* Live only while the run goes on: a paused or ended run says so. */
static char *
describe_snapshot (WpWindow *self,
                   gint64    step)
{
  const char *how = NULL;

  switch (wp_train_session_get_state (wp_train_view_get_session (self->train_view))) {
  case WP_TRAIN_STATE_PAUSING:
  case WP_TRAIN_STATE_PAUSED:
    how = "paused";
    break;
  case WP_TRAIN_STATE_STOPPING:
  case WP_TRAIN_STATE_STOPPED:
    how = "stopped";
    break;
  case WP_TRAIN_STATE_FINISHED:
    how = "finished";
    break;
  case WP_TRAIN_STATE_FAILED:
    how = "failed";
    break;
  case WP_TRAIN_STATE_IDLE:
  case WP_TRAIN_STATE_PREPARING:
  case WP_TRAIN_STATE_RUNNING:
    how = self->live ? "live" : NULL;
    break;
  }
  return how != NULL ? g_strdup_printf ("training %s, step %" G_GINT64_FORMAT, how, step)
                     : g_strdup_printf ("training, step %" G_GINT64_FORMAT, step);
}

static void
show_snapshot (WpWindow *self,
               guint     index)
{
  WpTrainSession  *session = wp_train_view_get_session (self->train_view);
  WpModelRef      *snapshot = wp_train_session_get_snapshot (session, index);
  g_autofree char *label = describe_snapshot (self, snapshot->model->step);

  gtk_label_set_text (self->snapshot_label, label);
  wp_window_set_model (self, snapshot, label);
}

/* The run's state changed under the snapshot shown. */
static void
update_snapshot_label (WpWindow *self)
{
  WpTrainSession  *session = wp_train_view_get_session (self->train_view);
  g_autofree char *label = NULL;

  for (guint i = 0; i < wp_train_session_get_n_snapshots (session); i++) {
    if (wp_train_session_get_snapshot (session, i) == self->model)
      label = describe_snapshot (self, self->model->model->step);
  }
  if (label == NULL)
    return;
  gtk_label_set_text (self->snapshot_label, label);
  g_free (self->model_label);
  self->model_label = g_steal_pointer (&label);
  /* The title and the figure's column title name the same run state as the slider. */
  wp_window_update_title (self);
  wp_window_update_view (self);
}

/* The slider spans the snapshots kept; at its right end the view is live. */
static void
update_snapshot_slider (WpWindow *self)
{
  WpTrainSession *session = wp_train_view_get_session (self->train_view);
  const guint     n = wp_train_session_get_n_snapshots (session);
  guint           index = n > 0 ? n - 1 : 0;

  gtk_widget_set_visible (self->snapshot_box, n > 0);
  if (n == 0)
    return;
  /* Thinning moves indices: a scrubbed view keeps its step. */
  for (guint i = 0; !self->live && i < n; i++) {
    if (wp_train_session_get_snapshot (session, i) == self->model)
      index = i;
  }
  self->updating_slider = TRUE;
  gtk_range_set_range (GTK_RANGE (self->snapshot_scale), 0, MAX (n - 1, 1));
  gtk_range_set_value (GTK_RANGE (self->snapshot_scale), index);
  self->updating_slider = FALSE;
}

static void
snapshot_added_cb (WpTrainSession *session,
                   guint           index,
                   WpWindow       *self)
{
  update_snapshot_slider (self);
  if (self->live)
    show_snapshot (self, index);
}

static void
snapshot_scale_changed_cb (WpWindow *self)
{
  WpTrainSession *session = wp_train_view_get_session (self->train_view);
  const guint     n = wp_train_session_get_n_snapshots (session);
  guint           index;

  if (self->updating_slider || n == 0)
    return;
  index = (guint) CLAMP (lround (gtk_range_get_value (GTK_RANGE (self->snapshot_scale))), 0,
                         (long) n - 1);
  self->live = index == n - 1;
  show_snapshot (self, index);
}

static void
train_state_changed_cb (WpTrainSession *session,
                        WpWindow       *self)
{
  /* A new run starts live. */
  if (wp_train_session_get_state (session) == WP_TRAIN_STATE_PREPARING)
    self->live = TRUE;
  update_snapshot_slider (self);
  update_snapshot_label (self);
  if (self->close_after_stop && !wp_train_session_is_active (session))
    gtk_window_destroy (GTK_WINDOW (self));
}

static void
open_checkpoint_cb (WpTrainView *view,
                    const char  *path,
                    WpWindow    *self)
{
  wp_window_open_model (self, path);
  gtk_stack_set_visible_child_name (self->stack, "explore");
}

WpTrainView *
wp_window_get_train_view (WpWindow *self)
{
  return self->train_view;
}

gint64
wp_window_get_model_step (WpWindow *self,
                          gboolean *live)
{
  if (live != NULL)
    *live = self->live;
  return self->model != NULL ? self->model->model->step : -1;
}

GtkWidget *
wp_window_get_close_dialog (WpWindow *self)
{
  return self->close_dialog;
}

void
wp_window_follow_training (WpWindow *self)
{
  g_signal_connect_swapped (self->snapshot_scale, "value-changed",
                            G_CALLBACK (snapshot_scale_changed_cb), self);
  g_signal_connect (self->train_view, "open-checkpoint", G_CALLBACK (open_checkpoint_cb), self);
  g_signal_connect (wp_train_view_get_session (self->train_view), "snapshot-added",
                    G_CALLBACK (snapshot_added_cb), self);
  g_signal_connect (wp_train_view_get_session (self->train_view), "changed",
                    G_CALLBACK (train_state_changed_cb), self);
}
