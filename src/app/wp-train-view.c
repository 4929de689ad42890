#define G_LOG_DOMAIN "wp-train-view"

#include "wp-train-view.h"

#include <math.h>

#include "plot.h"
#include "wp-file-chooser.h"
#include "wp-worker.h"

struct _WpTrainView {
  GtkBox parent_instance;

  /* Template widgets */
  GtkLabel       *model_label;
  GtkEntry       *data_entry;
  GtkLabel       *data_summary_label;
  GtkDropDown    *objective_dropdown;
  GtkSpinButton  *lambda_global_spin;
  GtkSpinButton  *lambda_fine_spin;
  GtkSpinButton  *filip_patches_spin;
  GtkSpinButton  *filip_global_spin;
  GtkEntry       *lr_entry;
  GtkSpinButton  *batch_spin;
  GtkSpinButton  *steps_spin;
  GtkSpinButton  *epochs_spin;
  GtkCheckButton *freeze_text_check;
  GtkCheckButton *freeze_vision_check;
  GtkCheckButton *augment_check;
  GtkSpinButton  *threads_spin;
  GtkSpinButton  *save_every_spin;
  GtkEntry       *out_entry;
  GtkButton      *pause_button;
  GtkGrid        *eval_grid;
  GtkProgressBar *progress_bar;
  GtkLabel       *status_label;
  GtkScale       *smoothing_scale;
  GtkCheckButton *log_check;
  GtkDrawingArea *loss_plot;
  GtkDrawingArea *scale_plot;
  GtkDrawingArea *eval_plot;
  GtkListBox     *checkpoints_list;

  /* Owned */
  WpTrainSession *session;
  WpModelRef     *model;
  GCancellable   *check_cancellable;
  GCancellable   *eval_cancellable;
  guint           pending;
  char           *data_summary;
  char           *status;
  GString        *evaluation;
};

G_DEFINE_FINAL_TYPE (WpTrainView, wp_train_view, GTK_TYPE_BOX)

enum {
  SIGNAL_OPEN_CHECKPOINT,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

/* matplotlib's tab10, as the figures use for words */
static const guint32 curve_colours[] = { 0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728 };

static void
set_status (WpTrainView *self,
            const char  *status)
{
  g_free (self->status);
  self->status = g_strdup (status);
  gtk_label_set_text (self->status_label, status);
}

static void
set_data_summary (WpTrainView *self,
                  const char  *summary,
                  gboolean     problem)
{
  g_free (self->data_summary);
  self->data_summary = g_strdup (summary);
  gtk_label_set_text (self->data_summary_label, summary);
  if (problem)
    gtk_widget_add_css_class (GTK_WIDGET (self->data_summary_label), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->data_summary_label), "error");
}

/* ---- the dataset check ---- */

typedef struct {
  WpModelRef *model;
  char       *dir;
  int         threads;
  char       *summary;
} Check;

static void
check_free (gpointer data)
{
  Check *check = data;

  g_clear_pointer (&check->model, wp_model_ref_release);
  g_free (check->dir);
  g_free (check->summary);
  g_free (check);
}

static void
check_worker (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  Check   *check = task_data;
  GError  *error = NULL;
  GString *text = g_string_new (NULL);
  g_autoptr (WpDataset) dataset = wp_dataset_open (check->dir, &error);
  g_autofree char *skipped = NULL;
  g_auto (WpVocabularyCoverage) coverage = { 0 };
  guint boxed = 0, n;

  if (dataset == NULL || !wp_dataset_check_images (dataset, check->threads, cancellable, &error)) {
    g_string_free (text, TRUE);
    g_task_return_error (task, error);
    return;
  }
  n = wp_dataset_get_n_pairs (dataset);
  for (guint i = 0; i < n; i++)
    boxed += wp_dataset_get_pair (dataset, i)->n_boxes > 0;
  skipped = wp_dataset_describe_skipped (dataset);
  g_string_append_printf (text, "%u pairs ready in %s", n, wp_dataset_get_file (dataset));
  if (skipped != NULL)
    g_string_append_printf (text, " (%s)", skipped);
  g_string_append (text, ".\n");
  if (boxed > 0)
    g_string_append_printf (text, "%u with word boxes: the pointing game is tracked.\n", boxed);
  else
    g_string_append (text, "No word boxes: retrieval only, no pointing game.\n");
  wp_dataset_get_vocabulary_coverage (dataset, check->model->model, &coverage);
  g_string_append_printf (text,
                          "Vocabulary: %.1f%% of %u words are whole tokens (%u of %u distinct)",
                          100.0 * coverage.whole / MAX (coverage.words, 1), coverage.words,
                          coverage.whole_distinct, coverage.distinct);
  for (guint i = 0; i < coverage.split->len; i++)
    g_string_append_printf (text, "%s%s", i == 0 ? "; split most often: " : ", ",
                            (const char *) coverage.split->pdata[i]);
  g_string_append (text, ".");
  if (coverage.truncated > 0)
    g_string_append_printf (text, "\n%u captions are longer than %d tokens and are cut.",
                            coverage.truncated, check->model->model->config.context_length);
  check->summary = g_string_free (text, FALSE);
  g_task_return_boolean (task, TRUE);
}

static void
check_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  WpTrainView *self = WP_TRAIN_VIEW (source);
  Check       *check = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;

  self->pending--;
  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      set_data_summary (self, error->message, TRUE);
    return;
  }
  if (g_task_get_cancellable (G_TASK (result)) == self->check_cancellable)
    set_data_summary (self, check->summary, FALSE);
}

static void
start_check (WpTrainView *self)
{
  const char *dir = gtk_editable_get_text (GTK_EDITABLE (self->data_entry));
  g_autoptr (GTask) task = NULL;
  Check *check;

  g_cancellable_cancel (self->check_cancellable);
  g_clear_object (&self->check_cancellable);
  if (dir[0] == '\0' || self->model == NULL) {
    set_data_summary (self, "", FALSE);
    return;
  }
  self->check_cancellable = g_cancellable_new ();
  check = g_new0 (Check, 1);
  check->model = wp_model_ref_acquire (self->model);
  check->dir = g_strdup (dir);
  check->threads = gtk_spin_button_get_value_as_int (self->threads_spin);
  task = g_task_new (self, self->check_cancellable, check_done_cb, NULL);
  g_task_set_task_data (task, check, check_free);
  g_task_set_name (task, "[wp] check dataset");
  self->pending++;
  set_data_summary (self, "checking the dataset's images…", FALSE);
  wp_worker_run (task, check_worker);
}

/* ---- plots ---- */

static void
draw_plot (cairo_t       *cr,
           int            width,
           int            height,
           WpTrainView   *self,
           const char    *title,
           const WpCurve *curves,
           const char   **labels,
           int            n,
           gboolean       smooth,
           gboolean       log_y)
{
  WpPlotSeries series[4];
  WpPlot       plot = { 0 };

  for (int i = 0; i < n; i++) {
    series[i].rgb = curve_colours[i];
    wp_train_session_get_curve (self->session, curves[i], &series[i].x, &series[i].y, &series[i].n);
    /* Terms the objective does not have stay out of the legend. */
    series[i].label = series[i].n > 0 ? labels[i] : NULL;
  }
  plot.title = title;
  plot.x_label = "step";
  plot.log_y = log_y;
  plot.smoothing = smooth ? gtk_range_get_value (GTK_RANGE (self->smoothing_scale)) : 0.0;
  plot.series = series;
  plot.n_series = n;
  wp_plot_draw (cr, &plot, width, height);
}

static void
draw_loss_cb (GtkDrawingArea *area,
              cairo_t        *cr,
              int             width,
              int             height,
              gpointer        user_data)
{
  static const WpCurve curves[] = { WP_CURVE_LOSS, WP_CURVE_LOSS_CLIP, WP_CURVE_LOSS_FINE };
  static const char   *labels[] = { "loss", "L_CLIP (global term)",
                                    "fine-grained term (SPARC's L_f or L_FILIP)" };
  WpTrainView         *self = user_data;

  draw_plot (cr, width, height, self, "training loss", curves, labels, G_N_ELEMENTS (curves), TRUE,
             gtk_check_button_get_active (self->log_check));
}

static void
draw_scale_cb (GtkDrawingArea *area,
               cairo_t        *cr,
               int             width,
               int             height,
               gpointer        user_data)
{
  static const WpCurve curves[] = { WP_CURVE_LOGIT_SCALE };
  static const char   *labels[] = { "exp(logit_scale)" };

  draw_plot (cr, width, height, user_data, "temperature", curves, labels, 1, FALSE, FALSE);
}

static void
draw_eval_cb (GtkDrawingArea *area,
              cairo_t        *cr,
              int             width,
              int             height,
              gpointer        user_data)
{
  static const WpCurve curves[] = { WP_CURVE_I2T_R1, WP_CURVE_T2I_R1, WP_CURVE_POINTING_FILIP,
                                    WP_CURVE_POINTING_SPARC };
  static const char   *labels[] = { "image→text R@1", "text→image R@1", "pointing (FILIP)",
                                    "pointing (SPARC)" };

  draw_plot (cr, width, height, user_data, "held out", curves, labels, G_N_ELEMENTS (curves), FALSE,
             FALSE);
}

/* ---- the session's state shown ---- */

static char *
format_duration (double seconds)
{
  const gint64 s = (gint64) MAX (0.0, seconds);

  if (s >= 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT ":%02d:%02d", s / 3600, (int) (s / 60 % 60),
                            (int) (s % 60));
  return g_strdup_printf ("%d:%02d", (int) (s / 60), (int) (s % 60));
}

static void
refresh (WpTrainView *self)
{
  const WpTrainState     state = wp_train_session_get_state (self->session);
  const WpTrainProgress *p = wp_train_session_get_progress (self->session);
  const gboolean         active = wp_train_session_is_active (self->session);
  const gboolean         paused = state == WP_TRAIN_STATE_PAUSED || state == WP_TRAIN_STATE_PAUSING;
  g_autofree char       *fraction = NULL;
  g_autofree char       *status = NULL;
  g_autofree char       *eta = format_duration (p->eta_seconds);
  g_autofree char       *terms = NULL;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.start", !active && self->model != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.pause",
                                 active && state != WP_TRAIN_STATE_STOPPING);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.stop",
                                 active && state != WP_TRAIN_STATE_STOPPING);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.evaluate",
                                 self->eval_cancellable == NULL &&
                                   wp_train_session_get_n_snapshots (self->session) > 0);
  gtk_button_set_label (self->pause_button, paused ? "Resume" : "Pause");

  if (p->total_steps > 0) {
    fraction = g_strdup_printf ("step %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " (%s)", p->step,
                                p->total_steps, wp_train_state_to_string (state));
    gtk_progress_bar_set_fraction (self->progress_bar, (double) p->step / (double) p->total_steps);
  } else {
    fraction = g_strdup (wp_train_state_to_string (state));
    gtk_progress_bar_set_fraction (self->progress_bar, 0.0);
  }
  gtk_progress_bar_set_text (self->progress_bar, fraction);

  switch (state) {
  case WP_TRAIN_STATE_IDLE:
    status = g_strdup ("Pick a dataset folder and start: the open model is fine-tuned, each "
                       "checkpoint a model folder.");
    break;
  case WP_TRAIN_STATE_PREPARING:
    status = g_strdup ("Preparing: checking every image, splitting off held-out pairs, writing the "
                       "step-0 checkpoint…");
    break;
  case WP_TRAIN_STATE_FAILED:
    status = g_strdup_printf ("Training failed: %s", wp_train_session_get_error (self->session));
    break;
  case WP_TRAIN_STATE_STOPPED:
  case WP_TRAIN_STATE_FINISHED: {
    const GPtrArray *checkpoints = wp_train_session_get_checkpoints (self->session);

    status = g_strdup_printf (
      "%s at step %" G_GINT64_FORMAT "; the last checkpoint is %s",
      state == WP_TRAIN_STATE_STOPPED ? "Stopped" : "Finished", p->step,
      checkpoints->len > 0 ? (const char *) checkpoints->pdata[checkpoints->len - 1] : "(none)");
    break;
  }
  default:
    terms = p->loss.fine != 0.0
              ? g_strdup_printf (" (L_CLIP %.4f, L_fine %.4f)", p->loss.clip, p->loss.fine)
            : p->loss.filip != 0.0 && p->loss.clip != 0.0
              ? g_strdup_printf (" (L_FILIP %.4f, L_CLIP %.4f)", p->loss.filip, p->loss.clip)
              : g_strdup ("");
    status = g_strdup_printf (
      "loss %.4f%s, lr %.3g, grad norm %.3g, logit scale %.2f, %.1f pairs/s, ETA %s%s",
      p->loss.total, terms, p->lr, p->grad_norm, p->logit_scale, p->pairs_per_second, eta,
      state == WP_TRAIN_STATE_STOPPING  ? " — stopping, writing a checkpoint…"
      : state == WP_TRAIN_STATE_PAUSING ? " — pausing after this step…"
                                        : "");
    break;
  }
  set_status (self, status);
  gtk_widget_queue_draw (GTK_WIDGET (self->loss_plot));
  gtk_widget_queue_draw (GTK_WIDGET (self->scale_plot));
  gtk_widget_queue_draw (GTK_WIDGET (self->eval_plot));
}

static void
session_changed_cb (WpTrainSession *session,
                    WpTrainView    *self)
{
  refresh (self);
}

static void
checkpoint_added_cb (WpTrainSession *session,
                     const char     *path,
                     WpTrainView    *self)
{
  g_autofree char *name = g_path_get_basename (path);
  GtkWidget       *label = gtk_label_new (name);

  gtk_label_set_xalign (GTK_LABEL (label), 0.0);
  gtk_widget_set_tooltip_text (label, path);
  g_object_set_data_full (G_OBJECT (label), "wp-path", g_strdup (path), g_free);
  gtk_list_box_append (self->checkpoints_list, label);
}

static void
checkpoint_activated_cb (GtkListBox    *list,
                         GtkListBoxRow *row,
                         WpTrainView   *self)
{
  const char *path = g_object_get_data (G_OBJECT (gtk_list_box_row_get_child (row)), "wp-path");

  g_signal_emit (self, signals[SIGNAL_OPEN_CHECKPOINT], 0, path);
}

/* ---- actions ---- */

static gboolean
read_settings (WpTrainView     *self,
               WpTrainSettings *settings,
               GError         **error)
{
  const char *data_dir = gtk_editable_get_text (GTK_EDITABLE (self->data_entry));
  const char *out_dir = gtk_editable_get_text (GTK_EDITABLE (self->out_entry));
  const char *lr_text = gtk_editable_get_text (GTK_EDITABLE (self->lr_entry));
  char       *end;
  double      lr = g_ascii_strtod (lr_text, &end);

  if (data_dir[0] == '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "choose a dataset folder first");
    return FALSE;
  }
  if (end == lr_text || *end != '\0' || !isfinite (lr) || lr <= 0.0 || lr >= 1.0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "learning rate '%s': give a number between 0 and 1, e.g. 1e-5", lr_text);
    return FALSE;
  }
  if (out_dir[0] == '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "choose an output folder for the run");
    return FALSE;
  }
  wp_train_settings_init (settings);
  settings->data_dir = g_strdup (data_dir);
  settings->out_dir = g_strdup (out_dir);
  settings->init_model = g_strdup (self->model->model->path);
  wp_loss_options_init (&settings->loss,
                        (WpObjective) gtk_drop_down_get_selected (self->objective_dropdown));
  settings->loss.lambda_global = (float) gtk_spin_button_get_value (self->lambda_global_spin);
  settings->loss.lambda_fine = (float) gtk_spin_button_get_value (self->lambda_fine_spin);
  settings->loss.filip_patch_fraction =
    (float) gtk_spin_button_get_value (self->filip_patches_spin);
  settings->loss.filip_global = (float) gtk_spin_button_get_value (self->filip_global_spin);
  settings->lr = lr;
  settings->batch = gtk_spin_button_get_value_as_int (self->batch_spin);
  settings->steps = (gint64) gtk_spin_button_get_value (self->steps_spin);
  settings->epochs = gtk_spin_button_get_value (self->epochs_spin);
  settings->freeze_text = gtk_check_button_get_active (self->freeze_text_check);
  settings->freeze_vision = gtk_check_button_get_active (self->freeze_vision_check);
  settings->augment = gtk_check_button_get_active (self->augment_check);
  settings->threads = gtk_spin_button_get_value_as_int (self->threads_spin);
  settings->save_every = gtk_spin_button_get_value_as_int (self->save_every_spin);
  return TRUE;
}

static void
start_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  WpTrainView *self = WP_TRAIN_VIEW (widget);
  g_auto (WpTrainSettings) settings = { 0 };
  g_autoptr (GError) error = NULL;
  GtkWidget *child;

  if (self->model == NULL || self->model->model->path == NULL) {
    set_status (self, "open a model folder first: fine-tuning starts from it");
    return;
  }
  if (!read_settings (self, &settings, &error) ||
      !wp_train_session_start (self->session, &settings, &error)) {
    set_status (self, error->message);
    return;
  }
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->checkpoints_list))) != NULL)
    gtk_list_box_remove (self->checkpoints_list, child);
}

static void
pause_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  WpTrainView       *self = WP_TRAIN_VIEW (widget);
  const WpTrainState state = wp_train_session_get_state (self->session);

  wp_train_session_set_paused (self->session,
                               state != WP_TRAIN_STATE_PAUSED && state != WP_TRAIN_STATE_PAUSING);
}

static void
stop_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  wp_train_session_stop (WP_TRAIN_VIEW (widget)->session);
}

static char *
format_metric (double value)
{
  return isfinite (value) ? g_strdup_printf ("%.3f", value) : g_strdup ("–");
}

static void
add_eval_row (WpTrainView *self,
              int          row,
              const char  *name,
              double       before,
              double       after)
{
  g_autofree char *b = format_metric (before);
  g_autofree char *a = format_metric (after);
  const char      *cells[] = { name, b, a };

  for (int c = 0; c < 3; c++) {
    GtkWidget *label = gtk_label_new (cells[c]);

    gtk_label_set_xalign (GTK_LABEL (label), c == 0 ? 0.0f : 1.0f);
    gtk_grid_attach (self->eval_grid, label, c, row, 1, 1);
  }
  g_string_append_printf (self->evaluation, "%s\t%s\t%s\n", name, b, a);
}

static void
show_evaluation (WpTrainView        *self,
                 const WpEvalResult *before,
                 const WpEvalResult *after,
                 gint64              after_step)
{
  g_autofree char *after_title = g_strdup_printf ("step %" G_GINT64_FORMAT, after_step);
  g_autofree char *pairs = g_strdup_printf ("held out: %u pairs", after->pairs);
  const char      *titles[] = { pairs, "before (step 0)", after_title };
  GtkWidget       *child;
  int              row = 1;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->eval_grid))) != NULL)
    gtk_grid_remove (self->eval_grid, child);
  g_string_truncate (self->evaluation, 0);
  for (int c = 0; c < 3; c++) {
    GtkWidget *label = gtk_label_new (titles[c]);

    gtk_widget_add_css_class (label, "heading");
    gtk_label_set_xalign (GTK_LABEL (label), c == 0 ? 0.0f : 1.0f);
    gtk_grid_attach (self->eval_grid, label, c, 0, 1, 1);
  }
  add_eval_row (self, row++, "image→text R@1", before->i2t_r1, after->i2t_r1);
  add_eval_row (self, row++, "image→text R@5", before->i2t_r5, after->i2t_r5);
  add_eval_row (self, row++, "text→image R@1", before->t2i_r1, after->t2i_r1);
  add_eval_row (self, row++, "text→image R@5", before->t2i_r5, after->t2i_r5);
  if (after->boxed_words > 0) {
    add_eval_row (self, row++, "pointing, FILIP map", before->scores[WP_MAP_FILIP].pointing,
                  after->scores[WP_MAP_FILIP].pointing);
    add_eval_row (self, row++, "pointing, SPARC grouping", before->scores[WP_MAP_SPARC].pointing,
                  after->scores[WP_MAP_SPARC].pointing);
    for (int k = 0; k < WP_WORD_CLASS_N; k++) {
      g_autofree char *name =
        g_strdup_printf ("pointing, %s words (FILIP)", wp_word_class_to_string ((WpWordClass) k));

      if (after->classes[k].count > 0)
        add_eval_row (self, row++, name, before->classes[k].scores[WP_MAP_FILIP].pointing,
                      after->classes[k].scores[WP_MAP_FILIP].pointing);
    }
  }
}

static void
evaluate_done_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  WpTrainView *self = user_data;
  g_autoptr (GError) error = NULL;
  g_auto (WpEvalResult) before = { 0 };
  g_auto (WpEvalResult) after = { 0 };
  gint64 after_step = 0;

  self->pending--;
  g_clear_object (&self->eval_cancellable);
  if (!wp_train_session_evaluate_finish (WP_TRAIN_SESSION (source), result, &before, &after,
                                         &after_step, &error)) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      set_status (self, error->message);
  } else {
    show_evaluation (self, &before, &after, after_step);
  }
  refresh (self);
  g_object_unref (self);
}

static void
evaluate_action (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *parameter)
{
  WpTrainView *self = WP_TRAIN_VIEW (widget);

  self->eval_cancellable = g_cancellable_new ();
  self->pending++;
  wp_train_session_evaluate_async (self->session, self->eval_cancellable, evaluate_done_cb,
                                   g_object_ref (self));
  refresh (self);
}

static void
data_dir_chosen_cb (GtkWidget  *widget,
                    const char *path,
                    gpointer    user_data)
{
  wp_train_view_set_data_dir (WP_TRAIN_VIEW (widget), path);
}

static void
out_dir_chosen_cb (GtkWidget  *widget,
                   const char *path,
                   gpointer    user_data)
{
  g_autofree char *run = g_build_filename (path, "run", NULL);

  wp_train_view_set_out_dir (WP_TRAIN_VIEW (widget), run);
}

static void
choose_data_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  wp_file_chooser_run (widget, "Dataset Folder", GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                       data_dir_chosen_cb, NULL);
}

static void
choose_out_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  wp_file_chooser_run (widget, "Folder for the Run (a new \"run\" folder goes inside)",
                       GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, out_dir_chosen_cb, NULL);
}

/* ---- public ---- */

WpTrainSession *
wp_train_view_get_session (WpTrainView *self)
{
  return self->session;
}

void
wp_train_view_set_model (WpTrainView *self,
                         WpModelRef  *model)
{
  g_autofree char *text = NULL;

  g_clear_pointer (&self->model, wp_model_ref_release);
  self->model = model != NULL ? wp_model_ref_acquire (model) : NULL;
  if (self->model != NULL)
    text = g_strdup_printf ("from %s (step %" G_GINT64_FORMAT ")",
                            self->model->model->path != NULL ? self->model->model->path
                                                             : "(unsaved model)",
                            self->model->model->step);
  gtk_label_set_text (self->model_label, text != NULL ? text : "no model open");
  start_check (self);
  refresh (self);
}

void
wp_train_view_set_data_dir (WpTrainView *self,
                            const char  *dir)
{
  gtk_editable_set_text (GTK_EDITABLE (self->data_entry), dir);
  start_check (self);
}

void
wp_train_view_set_out_dir (WpTrainView *self,
                           const char  *dir)
{
  gtk_editable_set_text (GTK_EDITABLE (self->out_entry), dir);
}

gboolean
wp_train_view_is_idle (WpTrainView *self)
{
  return self->pending == 0;
}

const char *
wp_train_view_get_data_summary (WpTrainView *self)
{
  return self->data_summary != NULL ? self->data_summary : "";
}

const char *
wp_train_view_get_status (WpTrainView *self)
{
  return self->status != NULL ? self->status : "";
}

const char *
wp_train_view_get_evaluation (WpTrainView *self)
{
  return self->evaluation->str;
}

/* ---- the object ---- */

static void
wp_train_view_dispose (GObject *object)
{
  WpTrainView *self = WP_TRAIN_VIEW (object);

  g_cancellable_cancel (self->check_cancellable);
  g_cancellable_cancel (self->eval_cancellable);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  gtk_widget_dispose_template (GTK_WIDGET (self), WP_TYPE_TRAIN_VIEW);
  G_OBJECT_CLASS (wp_train_view_parent_class)->dispose (object);
}

static void
wp_train_view_finalize (GObject *object)
{
  WpTrainView *self = WP_TRAIN_VIEW (object);

  g_clear_object (&self->session);
  g_clear_object (&self->check_cancellable);
  g_clear_object (&self->eval_cancellable);
  g_clear_pointer (&self->model, wp_model_ref_release);
  g_free (self->data_summary);
  g_free (self->status);
  g_string_free (self->evaluation, TRUE);
  G_OBJECT_CLASS (wp_train_view_parent_class)->finalize (object);
}

static void
wp_train_view_class_init (WpTrainViewClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = wp_train_view_dispose;
  object_class->finalize = wp_train_view_finalize;
  signals[SIGNAL_OPEN_CHECKPOINT] =
    g_signal_new ("open-checkpoint", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/wordpatch/app/wp-train-view.ui");
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, model_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, data_entry);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, data_summary_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, objective_dropdown);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, lambda_global_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, lambda_fine_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, filip_patches_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, filip_global_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, lr_entry);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, batch_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, steps_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, epochs_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, freeze_text_check);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, freeze_vision_check);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, augment_check);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, threads_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, save_every_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, out_entry);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, pause_button);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, eval_grid);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, status_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, smoothing_scale);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, log_check);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, loss_plot);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, scale_plot);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, eval_plot);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, checkpoints_list);
  gtk_widget_class_install_action (widget_class, "train.start", NULL, start_action);
  gtk_widget_class_install_action (widget_class, "train.pause", NULL, pause_action);
  gtk_widget_class_install_action (widget_class, "train.stop", NULL, stop_action);
  gtk_widget_class_install_action (widget_class, "train.evaluate", NULL, evaluate_action);
  gtk_widget_class_install_action (widget_class, "train.choose-data", NULL, choose_data_action);
  gtk_widget_class_install_action (widget_class, "train.choose-out", NULL, choose_out_action);
}

static void
plots_changed_cb (WpTrainView *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self->loss_plot));
}

static void
wp_train_view_init (WpTrainView *self)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  g_autofree char *out = g_build_filename (g_get_home_dir (), "wordpatch-runs", stamp, NULL);

  gtk_widget_init_template (GTK_WIDGET (self));
  self->session = wp_train_session_new ();
  self->evaluation = g_string_new (NULL);
  gtk_spin_button_set_value (self->threads_spin, g_get_num_processors ());
  gtk_editable_set_text (GTK_EDITABLE (self->out_entry), out);
  gtk_drawing_area_set_draw_func (self->loss_plot, draw_loss_cb, self, NULL);
  gtk_drawing_area_set_draw_func (self->scale_plot, draw_scale_cb, self, NULL);
  gtk_drawing_area_set_draw_func (self->eval_plot, draw_eval_cb, self, NULL);
  g_signal_connect (self->session, "changed", G_CALLBACK (session_changed_cb), self);
  g_signal_connect (self->session, "checkpoint-added", G_CALLBACK (checkpoint_added_cb), self);
  g_signal_connect (self->checkpoints_list, "row-activated", G_CALLBACK (checkpoint_activated_cb),
                    self);
  g_signal_connect_swapped (self->data_entry, "activate", G_CALLBACK (start_check), self);
  g_signal_connect_swapped (self->smoothing_scale, "value-changed", G_CALLBACK (plots_changed_cb),
                            self);
  g_signal_connect_swapped (self->log_check, "toggled", G_CALLBACK (plots_changed_cb), self);
  refresh (self);
}

WpTrainView *
wp_train_view_new (void)
{
  return g_object_new (WP_TYPE_TRAIN_VIEW, NULL);
}
