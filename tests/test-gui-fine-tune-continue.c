/* test-gui-fine-tune-continue.c: the Fine-Tune page's own state in the real window under a
 * display (Xvfb in CI): the engine's defaults, the checkpoint list equal to the run folder, a
 * failed start leaving the previous run in place, a stopped run continued from its last
 * checkpoint; and the box term's fields following the dataset, a CLIP-objective model learning
 * with it where its words are. */
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <string.h>

#include "cli-harness.h"
#include "gui-util.h"
#include "wordpatch/wordpatch.h"
#include "wp-application.h"
#include "wp-image-view.h"
#include "wp-window.h"
#include "wp-word-bar.h"

static double
spin_value (WpTrainView *view,
            const char  *name)
{
  return gtk_spin_button_get_value (GTK_SPIN_BUTTON (train_child (view, name)));
}

static int
compare_paths (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The checkpoints of the run in out_dir as the engine leaves them: complete step-N folders. */
static GPtrArray *
checkpoints_on_disk (const char *out_dir)
{
  g_autofree char *root = g_build_filename (out_dir, "checkpoints", NULL);
  g_autoptr (GDir) dir = g_dir_open (root, 0, NULL);
  GPtrArray  *paths = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *state = g_build_filename (root, name, "state.json", NULL);

    if (g_str_has_prefix (name, "step-") && strspn (name + 5, "0123456789") == strlen (name + 5) &&
        g_file_test (state, G_FILE_TEST_EXISTS))
      g_ptr_array_add (paths, g_build_filename (root, name, NULL));
  }
  /* Zero-padded names sort as their steps. */
  g_ptr_array_sort (paths, compare_paths);
  return paths;
}

/* The rows of the page's list, as their paths, and the first row's label. */
static GPtrArray *
listed_checkpoints (WpTrainView *view,
                    char       **first_label)
{
  GtkWidget *list = train_child (view, "checkpoints_list");
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);

  for (GtkWidget *row = gtk_widget_get_first_child (list); row != NULL;
       row = gtk_widget_get_next_sibling (row)) {
    GtkWidget *label = gtk_list_box_row_get_child (GTK_LIST_BOX_ROW (row));

    if (first_label != NULL && paths->len == 0)
      *first_label = g_strdup (gtk_label_get_text (GTK_LABEL (label)));
    g_ptr_array_add (paths, g_strdup (g_object_get_data (G_OBJECT (label), "wp-path")));
  }
  return paths;
}

static void
assert_list_is_disk (WpTrainView *view,
                     const char  *out_dir)
{
  g_autoptr (GPtrArray) disk = checkpoints_on_disk (out_dir);
  g_autoptr (GPtrArray) listed = listed_checkpoints (view, NULL);

  g_assert_cmpuint (listed->len, ==, disk->len);
  for (guint i = 0; i < disk->len; i++) {
    g_autofree char *a = g_canonicalize_filename (listed->pdata[i], NULL);
    g_autofree char *b = g_canonicalize_filename (disk->pdata[i], NULL);

    g_assert_cmpstr (a, ==, b);
  }
}

static void
open_checkpoint_count_cb (WpTrainView *view,
                          const char  *path,
                          int         *count)
{
  (*count)++;
}

static const char *
snapshot_label (WpWindow *window)
{
  return gtk_label_get_text (GTK_LABEL (
    gtk_widget_get_template_child (GTK_WIDGET (window), WP_TYPE_WINDOW, "snapshot_label")));
}

/* The steps of the loss curve run 1, 2, … n without a gap or a repeat. */
static void
assert_curve_continuous (WpTrainSession *session,
                         gint64          last_step)
{
  const double *steps, *values;
  guint         n;

  wp_train_session_get_curve (session, WP_CURVE_LOSS, &steps, &values, &n);
  g_assert_cmpuint (n, ==, (guint) last_step);
  for (guint i = 0; i < n; i++) {
    g_assert_cmpfloat (steps[i], ==, i + 1);
    g_assert_true (isfinite (values[i]));
  }
}

static gboolean
dialog_shown (gpointer view)
{
  return wp_train_view_get_continue_dialog (view) != NULL;
}

/* The page's state through a run's life: the engine's defaults, each objective's own fields, a
 * dataset summary naming its skipped lines as the command line does, the checkpoint list equal
 * to the run folder's after `keep` removed some, a start that fails leaving the stopped run's
 * curves, table and list, its message gone with another dataset, and Start in the stopped run's
 * folder continuing it from its last checkpoint: step numbers continue and the loss curve has
 * every step once. In an 800x600 window that never changes size. */
static void
test_fine_tune_continue (void)
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.TestContinue", G_APPLICATION_NON_UNIQUE);
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp_dir = g_dir_make_tmp ("wp-test-gui-continue-XXXXXX", NULL);
  g_autofree char *data_dir = g_build_filename (tmp_dir, "scenes", NULL);
  g_autofree char *captions = g_build_filename (data_dir, "captions.jsonl", NULL);
  g_autofree char *out_dir = g_build_filename (tmp_dir, "run", NULL);
  g_autofree char *other_out = g_build_filename (tmp_dir, "other", NULL);
  g_autofree char *model_dir = wp_model_find_default ();
  g_autofree char *first_label = NULL;
  g_autofree char *stopped_status = NULL;
  g_autofree char *evaluation = NULL;
  g_auto (WpTrainSettings) defaults = { 0 };
  g_auto (Run) cli = { 0 };
  WpWindow       *window;
  WpTrainView    *view;
  WpTrainSession *session;
  const double   *steps, *values;
  guint           n_loss, n_checkpoints_written = 0;
  gint64          stopped_step;
  int             opened = 0;

  write_scenes (data_dir, 48, 11);
  {
    /* Two lines the engine skips: an empty caption (line 49) and one that is not JSON (50). */
    g_autoptr (GFile) file = g_file_new_for_path (captions);
    g_autoptr (GFileOutputStream) out = g_file_append_to (file, G_FILE_CREATE_NONE, NULL, &error);
    const char *bad = "{\"image\": \"images/0000.png\", \"caption\": \"  \"}\n{\"image\": \n";

    g_assert_no_error (error);
    g_assert_true (
      g_output_stream_write_all (G_OUTPUT_STREAM (out), bad, strlen (bad), NULL, NULL, &error));
    g_assert_no_error (error);
  }

  g_assert_true (g_application_register (G_APPLICATION (application), NULL, &error));
  window = new_small_window (application);
  view = wp_window_get_train_view (window);
  session = wp_train_view_get_session (view);
  show_page (window, "train");

  /* The form starts at the engine's defaults, the command line's. */
  wp_train_settings_init (&defaults);
  g_assert_cmpuint (
    gtk_drop_down_get_selected (GTK_DROP_DOWN (train_child (view, "objective_dropdown"))), ==,
    defaults.loss.objective);
  g_assert_cmpint (
    gtk_check_button_get_active (GTK_CHECK_BUTTON (train_child (view, "augment_check"))), ==,
    defaults.augment);
  g_assert_cmpuint (
    gtk_drop_down_get_selected (GTK_DROP_DOWN (train_child (view, "sparc_negatives_dropdown"))), ==,
    defaults.loss.sparc_negatives);
  g_assert_cmpfloat (spin_value (view, "sparc_threshold_spin"), ==, defaults.loss.sparc_threshold);
  g_assert_cmpfloat (spin_value (view, "batch_spin"), ==, defaults.batch);
  g_assert_cmpfloat (spin_value (view, "steps_spin"), ==, defaults.steps);
  g_assert_cmpfloat (spin_value (view, "epochs_spin"), ==, defaults.epochs);
  g_assert_cmpfloat (spin_value (view, "save_every_spin"), ==, defaults.save_every);
  g_assert_cmpfloat (spin_value (view, "warmup_spin"), ==, defaults.warmup);
  g_assert_cmpfloat (spin_value (view, "weight_decay_spin"), ==, defaults.weight_decay);
  g_assert_cmpfloat (spin_value (view, "holdout_spin"), ==, defaults.holdout);
  g_assert_cmpfloat (spin_value (view, "keep_spin"), ==, defaults.keep);
  g_assert_cmpfloat (spin_value (view, "lambda_global_spin"), ==, defaults.loss.lambda_global);
  g_assert_cmpfloat (spin_value (view, "filip_patches_spin"), ==,
                     defaults.loss.filip_patch_fraction);
  /* The learning rate's default depends on the run (fine-tuning or not): the engine picks it. */
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (train_child (view, "lr_entry"))), ==, "");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (train_child (view, "seed_entry"))), ==,
                   "0");

  /* Each objective's own weights, and only those, can be set. */
  set_objective (view, WP_OBJECTIVE_CLIP);
  g_assert_false (gtk_widget_get_sensitive (train_child (view, "lambda_global_spin")));
  g_assert_false (gtk_widget_get_sensitive (train_child (view, "sparc_negatives_dropdown")));
  g_assert_false (gtk_widget_get_sensitive (train_child (view, "sparc_threshold_spin")));
  g_assert_false (gtk_widget_get_sensitive (train_child (view, "filip_patches_spin")));
  set_objective (view, WP_OBJECTIVE_FILIP);
  g_assert_false (gtk_widget_get_sensitive (train_child (view, "lambda_fine_spin")));
  g_assert_true (gtk_widget_get_sensitive (train_child (view, "filip_global_spin")));
  set_objective (view, WP_OBJECTIVE_SPARC);
  g_assert_true (gtk_widget_get_sensitive (train_child (view, "lambda_global_spin")));
  g_assert_true (gtk_widget_get_sensitive (train_child (view, "sparc_negatives_dropdown")));
  g_assert_true (gtk_widget_get_sensitive (train_child (view, "sparc_threshold_spin")));
  g_assert_false (gtk_widget_get_sensitive (train_child (view, "filip_patches_spin")));

  /* The summary names the skipped lines, as the command line does. */
  wp_train_view_set_data_dir (view, data_dir);
  g_assert_true (wait_for (view_idle, view));
  assert_mentions (wp_train_view_get_data_summary (view), "48 pairs (captions.jsonl) ready");
  assert_mentions (wp_train_view_get_data_summary (view), "2 pairs skipped: 2 bad lines");
  assert_mentions (wp_train_view_get_data_summary (view), "line 49: empty caption");
  assert_mentions (wp_train_view_get_data_summary (view), "line 50: ");
  run_cli (&cli, "loss", "--model", model_dir, "--data", data_dir, "--batch", "2", NULL);
  g_assert_cmpint (cli.status, ==, 0);
  assert_mentions (cli.err, "captions.jsonl line 49: empty caption");
  assert_mentions (cli.err, "captions.jsonl line 50: ");
  assert_mentions (cli.err, "2 pairs skipped: 2 bad lines");

  /* A run that writes a checkpoint every 2 steps and keeps 2 besides step 0, stopped. */
  set_spin (view, "steps_spin", 14);
  set_spin (view, "batch_spin", 8);
  set_spin (view, "save_every_spin", 2);
  wp_train_view_set_out_dir (view, out_dir);
  wp_train_session_set_snapshot_every (session, 1);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.start", NULL));
  g_assert_true (wait_for_step (session, 7));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.stop", NULL));
  g_assert_true (wait_for (is_inactive, session));
  g_assert_cmpint (wp_train_session_get_state (session), ==, WP_TRAIN_STATE_STOPPED);
  stopped_step = wp_train_session_get_progress (session)->step;
  g_assert_cmpint (stopped_step, >=, 7);
  g_assert_true (wait_for (window_idle, window));
  assert_mentions (snapshot_label (window), "training stopped, step");

  /* The list is the run folder's: `keep` removed the older checkpoints, step 0 stays. */
  n_checkpoints_written = (guint) (stopped_step / 2) + (stopped_step % 2 != 0);
  assert_list_is_disk (view, out_dir);
  g_ptr_array_unref (listed_checkpoints (view, &first_label));
  g_assert_cmpstr (first_label, ==, "start (step 0)");
  g_assert_cmpuint (wp_train_session_get_checkpoints (session)->len, ==, 3);
  g_assert_cmpuint (n_checkpoints_written, >, 2);

  /* A checkpoint gone from disk since the list was read is not opened: the list is read again. */
  {
    GtkWidget       *list = train_child (view, "checkpoints_list");
    GtkListBoxRow   *row = gtk_list_box_get_row_at_index (GTK_LIST_BOX (list), 1);
    g_autofree char *path = g_strdup (
      g_object_get_data (G_OBJECT (gtk_list_box_row_get_child (row)), "wp-path"));
    g_autofree char *moved = g_strconcat (path, ".moved", NULL);
    gulong           handler = g_signal_connect (view, "open-checkpoint",
                                                 G_CALLBACK (open_checkpoint_count_cb), &opened);

    g_assert_cmpint (g_rename (path, moved), ==, 0);
    g_signal_emit_by_name (list, "row-activated", row);
    g_assert_cmpint (opened, ==, 0);
    assert_list_is_disk (view, out_dir);
    assert_mentions (wp_train_view_get_status (view), "no longer on disk");
    g_assert_cmpint (g_rename (moved, path), ==, 0);
    wp_train_session_update_checkpoints (session);
    assert_list_is_disk (view, out_dir);
    g_signal_handler_disconnect (view, handler);
  }

  /* Evaluate: the table is this run's; the window keeps its size. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.evaluate", NULL));
  g_assert_true (wait_for (view_idle, view));
  g_assert_cmpstr (wp_train_view_get_evaluation (view), !=, "");
  assert_window_size (window);
  assert_start_shows (window, view);
  save_screenshot (window, "train", "fine-tune-800x600-stopped");
  stopped_status = g_strdup (wp_train_view_get_status (view));
  assert_mentions (stopped_status, "Start in the same output folder continues it");
  wp_train_session_get_curve (session, WP_CURVE_LOSS, &steps, &values, &n_loss);
  evaluation = g_strdup (wp_train_view_get_evaluation (view));

  /* A start that fails (no dataset there) leaves the stopped run as it was. */
  wp_train_view_set_data_dir (view, tmp_dir);
  g_assert_true (wait_for (view_idle, view));
  wp_train_view_set_out_dir (view, other_out);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.start", NULL));
  g_assert_true (wait_for (is_inactive, session));
  g_assert_cmpint (wp_train_session_get_state (session), ==, WP_TRAIN_STATE_STOPPED);
  assert_mentions (wp_train_view_get_status (view), "Not started: ");
  assert_mentions (wp_train_view_get_status (view), "no captions.jsonl");
  wp_train_session_get_curve (session, WP_CURVE_LOSS, &steps, &values, &n_loss);
  g_assert_cmpuint (n_loss, ==, (guint) stopped_step);
  g_assert_cmpstr (wp_train_view_get_evaluation (view), ==, evaluation);
  assert_list_is_disk (view, out_dir);
  g_assert_cmpint (wp_train_session_get_progress (session)->step, ==, stopped_step);
  /* Another dataset: the message goes. */
  wp_train_view_set_data_dir (view, data_dir);
  g_assert_true (wait_for (view_idle, view));
  g_assert_null (strstr (wp_train_view_get_status (view), "Not started"));
  g_assert_cmpstr (wp_train_view_get_status (view), ==, stopped_status);

  /* Start in the stopped run's folder asks; continuing keeps the run's batch (the form's
   * differs) and trains on from its last checkpoint to the end. */
  wp_train_view_set_out_dir (view, out_dir);
  set_spin (view, "batch_spin", 4);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.start", NULL));
  g_assert_true (wait_for (dialog_shown, view));
  g_assert_false (wp_train_session_is_active (session));
  gtk_dialog_response (GTK_DIALOG (wp_train_view_get_continue_dialog (view)), GTK_RESPONSE_ACCEPT);
  g_assert_null (wp_train_view_get_continue_dialog (view));
  g_assert_cmpfloat (spin_value (view, "batch_spin"), ==, 8);
  g_assert_cmpint (wp_train_session_get_state (session), ==, WP_TRAIN_STATE_PREPARING);
  g_assert_true (wait_for_step (session, stopped_step + 1));
  /* The new run's table starts empty; the curve goes on from the checkpoint's step. */
  g_assert_cmpstr (wp_train_view_get_evaluation (view), ==, "");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.pause", NULL));
  g_assert_true (wait_for (is_paused, session));
  g_assert_true (wait_for (window_idle, window));
  assert_mentions (snapshot_label (window), "training paused, step");
  save_screenshot (window, "train", "fine-tune-800x600-continued");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.pause", NULL));
  g_assert_true (wait_for (is_inactive, session));
  g_assert_cmpint (wp_train_session_get_state (session), ==, WP_TRAIN_STATE_FINISHED);
  g_assert_cmpint (wp_train_session_get_progress (session)->step, ==, 14);
  assert_curve_continuous (session, 14);
  g_assert_cmpint (wp_train_session_get_snapshot (session, 0)->model->step, ==, 0);
  assert_list_is_disk (view, out_dir);
  g_assert_cmpuint (wp_train_session_get_checkpoints (session)->len, ==, 3);
  g_assert_true (wait_for (window_idle, window));
  assert_mentions (snapshot_label (window), "training finished, step 14");
  assert_window_size (window);
  {
    /* The run's own metrics.jsonl has each step once, as an uninterrupted run's. */
    g_autofree char *metrics_path = g_build_filename (out_dir, "metrics.jsonl", NULL);
    g_autofree char *metrics = NULL;
    g_auto (GStrv) lines = NULL;
    gint64 next = 1;

    g_assert_true (g_file_get_contents (metrics_path, &metrics, NULL, &error));
    g_assert_no_error (error);
    lines = g_strsplit (metrics, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
      g_autoptr (JsonParser) parser = json_parser_new ();
      JsonObject *line;

      if (lines[i][0] == '\0')
        continue;
      line = parse_object (parser, lines[i]);
      if (!json_object_has_member (line, "eval"))
        g_assert_cmpint (json_object_get_int_member (line, "step"), ==, next++);
    }
    g_assert_cmpint (next, ==, 15);
  }

  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  remove_tree (tmp_dir);
}

/* ---- the box term from the Fine-Tune page ---- */

static gboolean
box_fields_enabled (WpTrainView *view)
{
  return gtk_widget_get_sensitive (train_child (view, "box_weight_spin")) &&
         gtk_widget_get_sensitive (train_child (view, "box_tau_spin"));
}

static gboolean
box_fields_disabled (WpTrainView *view)
{
  return !gtk_widget_get_sensitive (train_child (view, "box_weight_spin")) &&
         !gtk_widget_get_sensitive (train_child (view, "box_tau_spin")) &&
         spin_value (view, "box_weight_spin") == 0.0;
}

/* The box term's fields follow the dataset: off without boxed words (and the weight 0), on with
 * them, the summary naming how many words it would train. A CLIP-objective model fine-tuned with
 * it from the page learns where its words are: the held-out pointing at the end is well above
 * the start, and the loss plot has the term's own curve. */
static void
test_fine_tune_box_term (void)
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.TestBox", G_APPLICATION_NON_UNIQUE);
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp_dir = g_dir_make_tmp ("wp-test-gui-box-XXXXXX", NULL);
  g_autofree char *data_dir = g_build_filename (tmp_dir, "scenes", NULL);
  g_autofree char *plain_dir = g_build_filename (tmp_dir, "plain", NULL);
  g_autofree char *out_dir = g_build_filename (tmp_dir, "run", NULL);
  g_autofree char *model_dir = wp_data_find ("model-clip");
  g_autofree char *expected = NULL;
  g_autoptr (WpModel) model = NULL;
  g_autoptr (WpDataset) dataset = NULL;
  WpWindow       *window;
  WpTrainView    *view;
  WpTrainSession *session;
  const double   *steps, *values;
  guint           n;

  g_assert_nonnull (model_dir);
  write_scenes (data_dir, 128, 17);
  {
    /* The same images without boxes. */
    g_autofree char *tsv = g_build_filename (plain_dir, "captions.tsv", NULL);
    g_autofree char *image = g_build_filename (data_dir, "images", "000000.png", NULL);
    g_autofree char *text = g_strdup_printf ("%s\ta scene\n%s\tthe same scene\n", image, image);

    g_assert_cmpint (g_mkdir_with_parents (plain_dir, 0755), ==, 0);
    g_assert_true (g_file_set_contents (tsv, text, -1, &error));
    g_assert_no_error (error);
  }
  model = wp_model_load (model_dir, &error);
  g_assert_no_error (error);
  dataset = wp_dataset_open (data_dir, &error);
  g_assert_no_error (error);
  expected = g_strdup_printf ("a box weight trains the maps of %u boxed words",
                              wp_box_words_count (dataset, model));
  g_assert_cmpuint (wp_box_words_count (dataset, model), >, 128);

  g_assert_true (g_application_register (G_APPLICATION (application), NULL, &error));
  window = new_small_window (application);
  g_assert_true (
    gtk_widget_activate_action (GTK_WIDGET (window), "win.open-bundled", "s", "model-clip"));
  g_assert_true (wait_idle (window));
  view = wp_window_get_train_view (window);
  session = wp_train_view_get_session (view);
  g_assert_true (box_fields_disabled (view));

  wp_train_view_set_data_dir (view, plain_dir);
  g_assert_true (wait_for (view_idle, view));
  g_assert_nonnull (strstr (wp_train_view_get_data_summary (view), "no box term"));
  g_assert_true (box_fields_disabled (view));

  wp_train_view_set_data_dir (view, data_dir);
  g_assert_true (wait_for (view_idle, view));
  g_assert_nonnull (strstr (wp_train_view_get_data_summary (view), expected));
  g_assert_true (box_fields_enabled (view));

  set_objective (view, WP_OBJECTIVE_CLIP);
  set_spin (view, "box_weight_spin", 1.0);
  set_spin (view, "box_tau_spin", 0.05);
  set_spin (view, "steps_spin", 40);
  set_spin (view, "batch_spin", 16);
  set_spin (view, "save_every_spin", 10);
  set_spin (view, "holdout_spin", 0.25);
  /* Kept in the run's settings though CLIP does not use it: the form's choice as its name. */
  gtk_drop_down_set_selected (GTK_DROP_DOWN (train_child (view, "sparc_negatives_dropdown")),
                              WP_SPARC_NEGATIVES_PAIRS);
  set_spin (view, "sparc_threshold_spin", 0.25);
  gtk_editable_set_text (GTK_EDITABLE (train_child (view, "lr_entry")), "2e-4");
  wp_train_view_set_out_dir (view, out_dir);
  gtk_expander_set_expanded (GTK_EXPANDER (train_child (view, "advanced_expander")), TRUE);
  show_page (window, "train");
  assert_window_size (window);
  save_screenshot (window, "train", "fine-tune-box-term");
  /* The form scrolls to the focused field: the advanced settings' box τ. */
  gtk_widget_grab_focus (train_child (view, "box_tau_spin"));
  save_screenshot (window, "train", "fine-tune-box-term-tau");

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.start", NULL));
  g_assert_true (wait_for_step (session, 2));
  g_assert_nonnull (strstr (wp_train_view_get_status (view), ", L_box "));
  g_assert_true (wait_for (is_inactive, session));
  g_assert_cmpint (wp_train_session_get_state (session), ==, WP_TRAIN_STATE_FINISHED);
  show_page (window, "train");
  assert_window_size (window);
  save_screenshot (window, "train", "fine-tune-box-term-finished");

  {
    g_autofree char *settings_path = g_build_filename (out_dir, "settings.json", NULL);
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *settings;

    g_assert_true (json_parser_load_from_file (parser, settings_path, &error));
    g_assert_no_error (error);
    settings = json_node_get_object (json_parser_get_root (parser));
    g_assert_cmpstr (json_object_get_string_member (settings, "loss"), ==, "clip");
    g_assert_cmpstr (json_object_get_string_member (settings, "sparc_negatives"), ==, "pairs");
    g_assert_cmpfloat (json_object_get_double_member (settings, "sparc_threshold"), ==, 0.25);
    g_assert_cmpfloat (json_object_get_double_member (settings, "box_weight"), ==, 1.0);
    g_assert_cmpfloat_with_epsilon (json_object_get_double_member (settings, "box_tau"), 0.05,
                                    1e-6);
  }
  wp_train_session_get_curve (session, WP_CURVE_LOSS_BOX, &steps, &values, &n);
  g_assert_cmpuint (n, ==, 40);
  for (guint i = 0; i < n; i++)
    g_assert_true (isfinite (values[i]) && values[i] > 0.0);
  /* Held out at steps 0, 10, 20, 30 and 40. */
  wp_train_session_get_curve (session, WP_CURVE_POINTING_FILIP, &steps, &values, &n);
  g_assert_cmpuint (n, ==, 5);
  g_test_message ("held-out pointing (FILIP map) from step 0 to 40: %.3f %.3f %.3f %.3f %.3f",
                  values[0], values[1], values[2], values[3], values[4]);
  g_assert_cmpfloat (steps[0], ==, 0.0);
  g_assert_cmpfloat (steps[n - 1], ==, 40.0);
  g_assert_cmpfloat (values[n - 1], >, values[0] + 0.1);

  /* A dataset without boxes turns the term off again. */
  wp_train_view_set_data_dir (view, plain_dir);
  g_assert_true (wait_for (view_idle, view));
  g_assert_true (box_fields_disabled (view));

  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  remove_tree (tmp_dir);
}

static void
add_tests (void)
{
  g_test_add_func ("/gui/fine-tune/continue", test_fine_tune_continue);
  g_test_add_func ("/gui/fine-tune/box-term", test_fine_tune_box_term);
}

int
main (int   argc,
      char *argv[])
{
  return gui_test_main (argc, argv, add_tests);
}
