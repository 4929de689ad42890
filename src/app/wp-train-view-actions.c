#define G_LOG_DOMAIN "wp-train-view"

/* wp-train-view-actions.c: the Fine-Tune page's actions: start a run or continue the one in the
 * output folder, pause, stop, evaluate before and after (the evaluation table), and the folder
 * choosers. */
#include "wp-train-view-private.h"

#include <math.h>
#include <string.h>

#include "wp-file-chooser.h"

static gboolean
read_settings (WpTrainView     *self,
               WpTrainSettings *settings,
               GError         **error)
{
  const char *data_dir = gtk_editable_get_text (GTK_EDITABLE (self->data_entry));
  const char *out_dir = gtk_editable_get_text (GTK_EDITABLE (self->out_entry));

  if (data_dir[0] == '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "choose a dataset folder first");
    return FALSE;
  }
  if (out_dir[0] == '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "choose an output folder for the run");
    return FALSE;
  }
  wp_train_settings_init (settings);
  if (!wp_train_view_read_form (self, settings, error))
    return FALSE;
  settings->data_dir = g_strdup (data_dir);
  settings->out_dir = g_strdup (out_dir);
  settings->init_model = g_strdup (self->model->model->path);
  /* The app sets the count once for training and exploring alike; the run records it. */
  settings->threads = wp_get_threads ();
  return wp_train_settings_validate (settings, error);
}

static void
start_new (WpTrainView           *self,
           const WpTrainSettings *settings)
{
  g_autoptr (GError) error = NULL;

  if (!wp_train_session_start (self->session, settings, &error))
    wp_train_view_set_notice (self, error->message);
}

/* A sibling of out_dir that does not exist yet: "run-2", "run-3", … */
static char *
new_folder_beside (const char *out_dir)
{
  g_autofree char *base = g_strdup (out_dir);

  while (g_str_has_suffix (base, G_DIR_SEPARATOR_S) && strlen (base) > 1)
    base[strlen (base) - 1] = '\0';
  for (int i = 2;; i++) {
    g_autofree char *candidate = g_strdup_printf ("%s-%d", base, i);

    if (!g_file_test (candidate, G_FILE_TEST_EXISTS))
      return g_steal_pointer (&candidate);
  }
}

static void
continue_response_cb (GtkDialog   *dialog,
                      int          response,
                      WpTrainView *self)
{
  g_auto (WpTrainSettings) run = self->continue_settings;
  g_autoptr (GError) error = NULL;

  memset (&self->continue_settings, 0, sizeof self->continue_settings);
  self->continue_dialog = NULL;
  gtk_window_destroy (GTK_WINDOW (dialog));
  if (response == GTK_RESPONSE_ACCEPT) {
    /* The form shows what runs: the run's own settings, with the changes it accepts. */
    wp_train_view_fill_form (self, &run);
    if (!wp_train_session_resume (self->session, &run, &error))
      wp_train_view_set_notice (self, error->message);
  } else if (response == WP_TRAIN_VIEW_RESPONSE_NEW_FOLDER) {
    g_auto (WpTrainSettings) settings = { 0 };
    g_autofree char *out_dir = new_folder_beside (run.out_dir);

    wp_train_view_set_out_dir (self, out_dir);
    if (read_settings (self, &settings, &error))
      start_new (self, &settings);
    else
      wp_train_view_set_notice (self, error->message);
  } else {
    wp_train_view_refresh (self);
  }
}

static void
ask_continue (WpTrainView           *self,
              const WpTrainSettings *form)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) differ = g_string_new (NULL);
  g_autoptr (GArray) steps = wp_train_run_list_checkpoints (form->out_dir);
  g_autofree char *keeps = NULL;
  g_autofree char *stopped = NULL;
  GtkWidget       *dialog;
  GtkRoot         *root = gtk_widget_get_root (GTK_WIDGET (self));

  wp_train_settings_clear (&self->continue_settings);
  if (!wp_train_view_prepare_continue (self, form, &self->continue_settings, differ, &error)) {
    g_autofree char *notice = g_strdup_printf ("%s holds a run that cannot be continued (%s): "
                                               "choose another output folder",
                                               form->out_dir, error->message);

    wp_train_view_set_notice (self, notice);
    return;
  }
  if (steps->len == 0) {
    g_autofree char *notice = g_strdup_printf (
      "%s holds a run without a checkpoint to continue from: choose another output folder",
      form->out_dir);

    wp_train_view_set_notice (self, notice);
    return;
  }
  stopped = g_strdup_printf ("%s holds a run whose newest checkpoint is at step %" G_GINT64_FORMAT
                             ".",
                             form->out_dir, g_array_index (steps, gint64, steps->len - 1));
  keeps = differ->len > 0
            ? g_strdup_printf (" It keeps its own %s: the form shows them as the run has them.",
                               differ->str)
            : g_strdup ("");
  dialog = gtk_message_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                   GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                   GTK_MESSAGE_QUESTION, GTK_BUTTONS_NONE,
                                   "Continue the run in this folder?");
  gtk_message_dialog_format_secondary_text (
    GTK_MESSAGE_DIALOG (dialog),
    "%s Continuing trains on from there, with the dataset, steps, epochs, checkpoint interval "
    "and checkpoints kept given here.%s",
    stopped, keeps);
  gtk_dialog_add_buttons (GTK_DIALOG (dialog), "Cancel", GTK_RESPONSE_CANCEL,
                          "New Run in Another Folder", WP_TRAIN_VIEW_RESPONSE_NEW_FOLDER,
                          "Continue Run", GTK_RESPONSE_ACCEPT, NULL);
  gtk_dialog_set_default_response (GTK_DIALOG (dialog), GTK_RESPONSE_ACCEPT);
  g_signal_connect (dialog, "response", G_CALLBACK (continue_response_cb), self);
  self->continue_dialog = dialog;
  gtk_window_present (GTK_WINDOW (dialog));
  wp_train_view_refresh (self);
}

static void
start_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  WpTrainView *self = WP_TRAIN_VIEW (widget);
  g_auto (WpTrainSettings) settings = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *settings_path = NULL;

  g_clear_pointer (&self->notice, g_free);
  if (self->model == NULL || self->model->model->path == NULL) {
    wp_train_view_set_notice (self, "open a model folder first: fine-tuning starts from it");
    return;
  }
  if (!read_settings (self, &settings, &error)) {
    wp_train_view_set_notice (self, error->message);
    return;
  }
  settings_path = g_build_filename (settings.out_dir, "settings.json", NULL);
  if (g_file_test (settings_path, G_FILE_TEST_EXISTS))
    ask_continue (self, &settings);
  else
    start_new (self, &settings);
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

void
wp_train_view_clear_evaluation (WpTrainView *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->eval_grid))) != NULL)
    gtk_grid_remove (self->eval_grid, child);
  g_string_truncate (self->evaluation, 0);
}

static char *
format_metric (double value)
{
  return isfinite (value) ? g_strdup_printf ("%.3f", value) : g_strdup ("–");
}

/* The names' column gives way first (cut, whole in the tooltip), so that the table never
 * widens the window. */
static GtkWidget *
eval_cell (const char *text,
           int         column)
{
  GtkWidget *label = gtk_label_new (text);

  gtk_label_set_xalign (GTK_LABEL (label), column == 0 ? 0.0f : 1.0f);
  if (column == 0) {
    gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
    gtk_label_set_width_chars (GTK_LABEL (label), 10);
    gtk_widget_set_hexpand (label, TRUE);
    gtk_widget_set_tooltip_text (label, text);
  }
  return label;
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

  for (int c = 0; c < 3; c++)
    gtk_grid_attach (self->eval_grid, eval_cell (cells[c], c), c, row, 1, 1);
  g_string_append_printf (self->evaluation, "%s\t%s\t%s\n", name, b, a);
}

static void
show_evaluation (WpTrainView        *self,
                 const WpEvalResult *before,
                 const WpEvalResult *after,
                 gint64              after_step)
{
  g_autofree char *after_title = g_strdup_printf ("step %" G_GINT64_FORMAT, after_step);
  const char      *similarity = wp_retrieval_to_string (after->retrieval);
  g_autofree char *pairs =
    g_strdup_printf ("held out: %u pairs, ranked by %s similarity", after->pairs, similarity);
  const char *titles[] = { pairs, "before (step 0)", after_title };
  int         row = 1;

  wp_train_view_clear_evaluation (self);
  for (int c = 0; c < 3; c++) {
    GtkWidget *label = eval_cell (titles[c], c);

    gtk_widget_add_css_class (label, "heading");
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
      wp_train_view_set_notice (self, error->message);
  } else {
    show_evaluation (self, &before, &after, after_step);
  }
  wp_train_view_refresh (self);
  g_object_unref (self);
}

static void
evaluate_action (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *parameter)
{
  WpTrainView *self = WP_TRAIN_VIEW (widget);

  g_clear_pointer (&self->notice, g_free);
  self->eval_cancellable = g_cancellable_new ();
  self->pending++;
  wp_train_session_evaluate_async (self->session, self->eval_cancellable, evaluate_done_cb,
                                   g_object_ref (self));
  wp_train_view_refresh (self);
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
  g_autofree char *settings = g_build_filename (path, "settings.json", NULL);

  /* A folder that holds a run is that run's; any other gets a new "run" folder inside. */
  wp_train_view_set_out_dir (WP_TRAIN_VIEW (widget),
                             g_file_test (settings, G_FILE_TEST_EXISTS) ? path : run);
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
  wp_file_chooser_run (widget, "Folder for the Run (a run's own, or one a new \"run\" goes in)",
                       GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, out_dir_chosen_cb, NULL);
}

void
wp_train_view_class_actions_init (WpTrainViewClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  gtk_widget_class_install_action (widget_class, "train.start", NULL, start_action);
  gtk_widget_class_install_action (widget_class, "train.pause", NULL, pause_action);
  gtk_widget_class_install_action (widget_class, "train.stop", NULL, stop_action);
  gtk_widget_class_install_action (widget_class, "train.evaluate", NULL, evaluate_action);
  gtk_widget_class_install_action (widget_class, "train.choose-data", NULL, choose_data_action);
  gtk_widget_class_install_action (widget_class, "train.choose-out", NULL, choose_out_action);
}
