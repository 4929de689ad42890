#define G_LOG_DOMAIN "wp-train-view"

#include "wp-train-view-private.h"

#include <math.h>
#include <string.h>

#include "plot.h"
#include "wp-worker.h"

/* Skipped lines the dataset summary names; the rest are counted. */
#define SUMMARY_WARNINGS 5

G_DEFINE_FINAL_TYPE (WpTrainView, wp_train_view, GTK_TYPE_BOX)

enum {
  SIGNAL_OPEN_CHECKPOINT,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

/* matplotlib's tab10, as the figures use for words */
static const guint32 curve_colours[] = { 0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728 };

/* ---- messages ---- */

void
wp_train_view_set_notice (WpTrainView *self,
                          const char  *notice)
{
  g_free (self->notice);
  self->notice = g_strdup (notice);
  wp_train_view_refresh (self);
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

/* The box term needs boxed words: without them its fields are off, and its weight 0 so that the
 * form shows what a run would do. */
static void
set_box_words (WpTrainView *self,
               guint        box_words)
{
  GtkWidget *fields[] = { GTK_WIDGET (self->box_weight_label), GTK_WIDGET (self->box_weight_spin),
                          GTK_WIDGET (self->box_tau_label), GTK_WIDGET (self->box_tau_spin) };

  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    gtk_widget_set_sensitive (fields[i], box_words > 0);
  if (box_words == 0)
    gtk_spin_button_set_value (self->box_weight_spin, 0.0);
}

/* ---- the dataset check ---- */

typedef struct {
  WpModelRef *model;
  char       *dir;
  char       *summary;
  guint       box_words; /* what the box term would train on */
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

/* The skipped lines, as the command line prints them, without the captions file's name that
 * the summary's first line gives. */
static void
append_skipped (GString         *text,
                const WpDataset *dataset)
{
  const GPtrArray *warnings = wp_dataset_get_warnings (dataset);
  const char      *file = wp_dataset_get_file (dataset);
  const guint      named = MIN (warnings->len, SUMMARY_WARNINGS);
  guint            skipped = 0;

  for (int r = 0; r < WP_SKIP_N_REASONS; r++)
    skipped += wp_dataset_get_n_skipped (dataset, (WpSkipReason) r);
  for (guint i = 0; i < named; i++) {
    const char *warning = warnings->pdata[i];

    if (g_str_has_prefix (warning, file) && warning[strlen (file)] == ' ')
      warning += strlen (file) + 1;
    g_string_append_printf (text, "  %s\n", warning);
  }
  if (skipped > named)
    g_string_append_printf (text, "  … and %u more\n", skipped - named);
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

  if (dataset == NULL ||
      !wp_dataset_check_images (dataset, wp_get_threads (), cancellable, &error)) {
    g_string_free (text, TRUE);
    g_task_return_error (task, error);
    return;
  }
  n = wp_dataset_get_n_pairs (dataset);
  for (guint i = 0; i < n; i++)
    boxed += wp_dataset_get_pair (dataset, i)->n_boxes > 0;
  skipped = wp_dataset_describe_skipped (dataset);
  g_string_append_printf (text, "%u pairs (%s) ready in %s", n,
                          wp_dataset_get_format_name (dataset), wp_dataset_get_file (dataset));
  if (skipped != NULL) {
    g_string_append_printf (text, " (%s):\n", skipped);
    append_skipped (text, dataset);
  } else {
    g_string_append (text, ".\n");
  }
  if (boxed > 0) {
    check->box_words = wp_box_words_count (dataset, check->model->model);
    g_string_append_printf (text, "%u with word boxes: the pointing game is tracked", boxed);
    if (check->box_words > 0)
      g_string_append_printf (text, "; a box weight trains the maps of %u boxed words.\n",
                              check->box_words);
    else
      g_string_append (text, ", but no box names a word of its caption: no box term.\n");
  } else {
    g_string_append (text, "No word boxes: retrieval only, no pointing game, no box term.\n");
  }
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
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      set_data_summary (self, error->message, TRUE);
      set_box_words (self, 0);
    }
    return;
  }
  if (g_task_get_cancellable (G_TASK (result)) == self->check_cancellable) {
    set_data_summary (self, check->summary, FALSE);
    set_box_words (self, check->box_words);
  }
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
    set_box_words (self, 0);
    return;
  }
  self->check_cancellable = g_cancellable_new ();
  check = g_new0 (Check, 1);
  check->model = wp_model_ref_acquire (self->model);
  check->dir = g_strdup (dir);
  task = g_task_new (self, self->check_cancellable, check_done_cb, NULL);
  g_task_set_task_data (task, check, check_free);
  g_task_set_name (task, "[wp] check dataset");
  self->pending++;
  set_data_summary (self, "checking the dataset's images…", FALSE);
  wp_worker_run (task, check_worker);
}

/* Another dataset: what went wrong with the previous one is no longer news. */
static void
data_dir_changed (WpTrainView *self)
{
  g_clear_pointer (&self->notice, g_free);
  wp_train_session_clear_error (self->session);
  start_check (self);
  wp_train_view_refresh (self);
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
  static const WpCurve curves[] = { WP_CURVE_LOSS, WP_CURVE_LOSS_CLIP, WP_CURVE_LOSS_FINE,
                                    WP_CURVE_LOSS_BOX };
  static const char   *labels[] = { "loss", "L_CLIP (global term)",
                                    "fine-grained term (SPARC's L_f or L_FILIP)",
                                    "L_box (box term)" };
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

static char *
describe_state (WpTrainView *self)
{
  const WpTrainState     state = wp_train_session_get_state (self->session);
  const WpTrainProgress *p = wp_train_session_get_progress (self->session);
  const GPtrArray       *checkpoints = wp_train_session_get_checkpoints (self->session);
  const char            *last =
    checkpoints->len > 0 ? checkpoints->pdata[checkpoints->len - 1] : "(none)";
  gboolean         at_start = FALSE;
  const char      *error = wp_train_session_get_error (self->session, &at_start);
  g_autofree char *eta = NULL;
  g_autoptr (GString) terms = g_string_new (NULL);

  /* A start that failed says so over the state of the run it left in place. */
  if (error != NULL && at_start && !wp_train_session_is_active (self->session))
    return g_strdup_printf ("Not started: %s", error);
  switch (state) {
  case WP_TRAIN_STATE_PREPARING:
    return g_strdup ("Preparing: checking every image, splitting off held-out pairs, writing or "
                     "reading the checkpoint…");
  case WP_TRAIN_STATE_STOPPED:
    return g_strdup_printf ("Stopped at step %" G_GINT64_FORMAT "; its last checkpoint is %s. "
                            "Start in the same output folder continues it.",
                            p->step, last);
  case WP_TRAIN_STATE_FINISHED:
    return g_strdup_printf ("Finished at step %" G_GINT64_FORMAT "; its last checkpoint is %s.",
                            p->step, last);
  case WP_TRAIN_STATE_FAILED:
  case WP_TRAIN_STATE_IDLE:
    if (error != NULL)
      return g_strdup_printf ("Training failed: %s", error);
    return g_strdup ("Pick a dataset folder and start: the open model is fine-tuned, each "
                     "checkpoint a model folder.");
  case WP_TRAIN_STATE_RUNNING:
  case WP_TRAIN_STATE_PAUSING:
  case WP_TRAIN_STATE_PAUSED:
  case WP_TRAIN_STATE_STOPPING:
    break;
  }
  eta = format_duration (p->eta_seconds);
  if (p->loss.fine != 0.0)
    g_string_printf (terms, "L_CLIP %.4f, L_fine %.4f", p->loss.clip, p->loss.fine);
  else if (p->loss.filip != 0.0 && p->loss.clip != 0.0)
    g_string_printf (terms, "L_FILIP %.4f, L_CLIP %.4f", p->loss.filip, p->loss.clip);
  else if (isfinite (p->loss.box))
    g_string_printf (terms, "%s %.4f", p->loss.filip != 0.0 ? "L_FILIP" : "L_CLIP",
                     p->loss.filip != 0.0 ? p->loss.filip : p->loss.clip);
  /* NAN without the box term. */
  if (isfinite (p->loss.box))
    g_string_append_printf (terms, ", L_box %.4f over %d words", p->loss.box, p->loss.box_words);
  if (terms->len > 0) {
    g_string_prepend (terms, " (");
    g_string_append_c (terms, ')');
  }
  return g_strdup_printf (
    "loss %.4f%s, lr %.3g, grad norm %.3g, logit scale %.2f, %.1f pairs/s, ETA %s%s",
    p->loss.total, terms->str, p->lr, p->grad_norm, p->logit_scale, p->pairs_per_second, eta,
    state == WP_TRAIN_STATE_STOPPING  ? " — stopping, writing a checkpoint…"
    : state == WP_TRAIN_STATE_PAUSING ? " — pausing after this step…"
    : state == WP_TRAIN_STATE_PAUSED  ? " — paused"
                                      : "");
}

void
wp_train_view_refresh (WpTrainView *self)
{
  const WpTrainState     state = wp_train_session_get_state (self->session);
  const WpTrainProgress *p = wp_train_session_get_progress (self->session);
  const gboolean         active = wp_train_session_is_active (self->session);
  const gboolean         paused = state == WP_TRAIN_STATE_PAUSED || state == WP_TRAIN_STATE_PAUSING;
  g_autofree char       *fraction = NULL;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.start",
                                 !active && self->model != NULL && self->continue_dialog == NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.pause",
                                 active && state != WP_TRAIN_STATE_STOPPING);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.stop",
                                 active && state != WP_TRAIN_STATE_STOPPING);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.evaluate",
                                 self->eval_cancellable == NULL &&
                                   wp_train_session_get_n_snapshots (self->session) > 0);
  gtk_button_set_label (self->pause_button, paused ? "Resume" : "Pause");

  /* While a run prepares, the progress is still the previous run's. */
  if (p->total_steps > 0 && state != WP_TRAIN_STATE_PREPARING) {
    fraction = g_strdup_printf ("step %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " (%s)", p->step,
                                p->total_steps, wp_train_state_to_string (state));
    gtk_progress_bar_set_fraction (self->progress_bar, (double) p->step / (double) p->total_steps);
  } else {
    fraction = g_strdup (wp_train_state_to_string (state));
    gtk_progress_bar_set_fraction (self->progress_bar, 0.0);
  }
  gtk_progress_bar_set_text (self->progress_bar, fraction);

  g_free (self->status);
  self->status = self->notice != NULL ? g_strdup (self->notice) : describe_state (self);
  gtk_label_set_text (self->status_label, self->status);
  gtk_widget_queue_draw (GTK_WIDGET (self->loss_plot));
  gtk_widget_queue_draw (GTK_WIDGET (self->scale_plot));
  gtk_widget_queue_draw (GTK_WIDGET (self->eval_plot));
}

static void
session_changed_cb (WpTrainSession *session,
                    WpTrainView    *self)
{
  g_clear_pointer (&self->notice, g_free);
  wp_train_view_refresh (self);
}

static void
run_started_cb (WpTrainSession *session,
                WpTrainView    *self)
{
  wp_train_view_clear_evaluation (self);
}

/* The list is what the session found on disk; step 0 is where fine-tuning started. */
static void
checkpoints_changed_cb (WpTrainSession *session,
                        WpTrainView    *self)
{
  const GPtrArray *paths = wp_train_session_get_checkpoints (session);
  GtkWidget       *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->checkpoints_list))) != NULL)
    gtk_list_box_remove (self->checkpoints_list, child);
  for (guint i = 0; i < paths->len; i++) {
    const gint64     step = wp_train_session_get_checkpoint_step (session, i);
    g_autofree char *name = step == 0 ? g_strdup ("start (step 0)")
                                      : g_strdup_printf ("step %" G_GINT64_FORMAT, step);
    GtkWidget       *label = gtk_label_new (name);

    gtk_label_set_xalign (GTK_LABEL (label), 0.0);
    gtk_widget_set_tooltip_text (label, paths->pdata[i]);
    g_object_set_data_full (G_OBJECT (label), "wp-path", g_strdup (paths->pdata[i]), g_free);
    gtk_list_box_append (self->checkpoints_list, label);
  }
  wp_train_view_refresh (self);
}

/* The engine may have removed it since the list was read (it keeps the newest few): then the
 * list is read again instead of opening what is not there. */
static void
checkpoint_activated_cb (GtkListBox    *list,
                         GtkListBoxRow *row,
                         WpTrainView   *self)
{
  g_autofree char *path =
    g_strdup (g_object_get_data (G_OBJECT (gtk_list_box_row_get_child (row)), "wp-path"));
  g_autofree char *state = g_build_filename (path, "state.json", NULL);

  if (!g_file_test (state, G_FILE_TEST_IS_REGULAR)) {
    g_autofree char *notice =
      g_strdup_printf ("%s is no longer on disk: the run keeps only its newest checkpoints", path);

    wp_train_session_update_checkpoints (self->session);
    wp_train_view_set_notice (self, notice);
    return;
  }
  g_signal_emit (self, signals[SIGNAL_OPEN_CHECKPOINT], 0, path);
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
  /* SigLIP is trained with its own loss: the form starts there for it. */
  if (self->model != NULL && self->model->model->config.family == WP_MODEL_FAMILY_SIGLIP)
    gtk_drop_down_set_selected (self->objective_dropdown, WP_OBJECTIVE_SIGMOID);
  gtk_label_set_text (self->model_label, text != NULL ? text : "no model open");
  /* A long path is cut in the middle so that the window never grows for it; the whole of it
   * is a hover away. */
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->model_label), text);
  start_check (self);
  wp_train_view_refresh (self);
}

void
wp_train_view_set_data_dir (WpTrainView *self,
                            const char  *dir)
{
  gtk_editable_set_text (GTK_EDITABLE (self->data_entry), dir);
  data_dir_changed (self);
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

GtkWidget *
wp_train_view_get_continue_dialog (WpTrainView *self)
{
  return self->continue_dialog;
}

/* ---- the object ---- */

static void
wp_train_view_dispose (GObject *object)
{
  WpTrainView *self = WP_TRAIN_VIEW (object);

  g_cancellable_cancel (self->check_cancellable);
  g_cancellable_cancel (self->eval_cancellable);
  if (self->continue_dialog != NULL)
    gtk_window_destroy (GTK_WINDOW (g_steal_pointer (&self->continue_dialog)));
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
  g_free (self->notice);
  g_string_free (self->evaluation, TRUE);
  wp_train_settings_clear (&self->continue_settings);
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
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, lambda_global_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, lambda_global_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, lambda_fine_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, lambda_fine_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, filip_patches_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, filip_patches_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, filip_global_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, filip_global_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, box_weight_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, box_weight_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, lr_entry);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, batch_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, steps_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, epochs_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, freeze_text_check);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, freeze_vision_check);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, augment_check);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, save_every_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, out_entry);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, seed_entry);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, warmup_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, weight_decay_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, holdout_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, keep_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, box_tau_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, box_tau_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, sparc_negatives_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, sparc_negatives_dropdown);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, sparc_threshold_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, sparc_threshold_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, threads_label);
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
  /* For gtk_widget_get_template_child() alone (tests). */
  gtk_widget_class_bind_template_child_full (widget_class, "start_button", FALSE, 0);
  gtk_widget_class_bind_template_child_full (widget_class, "advanced_expander", FALSE, 0);
  wp_train_view_class_actions_init (klass);
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
  g_autofree char *threads = NULL;
  g_auto (WpTrainSettings) defaults = { 0 };

  gtk_widget_init_template (GTK_WIDGET (self));
  self->session = wp_train_session_new ();
  self->evaluation = g_string_new (NULL);
  wp_train_view_init_form (self);
  wp_train_settings_init (&defaults);
  wp_train_view_fill_form (self, &defaults);
  wp_train_view_objective_changed_cb (self);
  set_box_words (self, 0);
  threads = g_strdup_printf ("Threads: %d, shared by training and exploring (all processors, set "
                             "when the app starts). A run records the count; continuing it with "
                             "another is not bit for bit what training on would have been.",
                             wp_get_threads ());
  gtk_label_set_text (self->threads_label, threads);
  gtk_editable_set_text (GTK_EDITABLE (self->out_entry), out);
  gtk_drawing_area_set_draw_func (self->loss_plot, draw_loss_cb, self, NULL);
  gtk_drawing_area_set_draw_func (self->scale_plot, draw_scale_cb, self, NULL);
  gtk_drawing_area_set_draw_func (self->eval_plot, draw_eval_cb, self, NULL);
  g_signal_connect (self->session, "changed", G_CALLBACK (session_changed_cb), self);
  g_signal_connect (self->session, "run-started", G_CALLBACK (run_started_cb), self);
  g_signal_connect (self->session, "checkpoints-changed", G_CALLBACK (checkpoints_changed_cb),
                    self);
  g_signal_connect (self->checkpoints_list, "row-activated", G_CALLBACK (checkpoint_activated_cb),
                    self);
  g_signal_connect_swapped (self->data_entry, "activate", G_CALLBACK (data_dir_changed), self);
  g_signal_connect_swapped (self->objective_dropdown, "notify::selected",
                            G_CALLBACK (wp_train_view_objective_changed_cb), self);
  g_signal_connect_swapped (self->smoothing_scale, "value-changed", G_CALLBACK (plots_changed_cb),
                            self);
  g_signal_connect_swapped (self->log_check, "toggled", G_CALLBACK (plots_changed_cb), self);
  wp_train_view_refresh (self);
}

WpTrainView *
wp_train_view_new (void)
{
  return g_object_new (WP_TYPE_TRAIN_VIEW, NULL);
}
