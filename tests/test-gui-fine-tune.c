/* test-gui-fine-tune.c: fine-tuning from the Fine-Tune page of the real window under a display
 * (Xvfb in CI): pause, resume, stop, evaluate, compare with the start, measuring how long the main
 * loop is ever kept from running meanwhile, alone and beside a busy process on every core; and
 * Start in view in an 800x600 window that never changes size. */
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "cli-harness.h"
#include "gui-util.h"
#include "wordpatch/wordpatch.h"
#include "wp-application.h"
#include "wp-image-view.h"
#include "wp-window.h"
#include "wp-word-bar.h"

/* The main loop's responsiveness: the largest gap between ticks of a 5 ms timer. */
typedef struct {
  gint64 last;
  gint64 largest;
  guint  ticks;
} Ticks;

static gboolean
tick_cb (gpointer user_data)
{
  Ticks       *ticks = user_data;
  const gint64 now = g_get_monotonic_time ();

  if (ticks->last > 0)
    ticks->largest = MAX (ticks->largest, now - ticks->last);
  ticks->last = now;
  ticks->ticks++;
  return G_SOURCE_CONTINUE;
}

/* Runs the main loop until training reaches step, and returns the largest gap between ticks of a
 * 5 ms timer meanwhile, in ms: the longest the window was kept from answering. */
static double
largest_gap_until (WpTrainSession *session,
                   gint64          step)
{
  Ticks       ticks = { 0 };
  const guint source = g_timeout_add (5, tick_cb, &ticks);

  g_assert_true (wait_for_step (session, step));
  g_source_remove (source);
  g_assert_cmpuint (ticks.ticks, >, 1);
  return ticks.largest / 1000.0;
}

static void
new_session (gpointer user_data)
{
  setsid ();
}

/* One CPU-bound process per core, as when another program keeps the machine busy: each in a
 * session of its own, as a program started elsewhere is (Linux schedules a session's processes
 * as a group: children in the test's session would share its CPU time instead of competing with
 * it). Each ends by itself once this process is gone, should the test die before stopping them. */
static GPtrArray *
start_busy_processes (void)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  GPtrArray *busy = g_ptr_array_new_with_free_func (g_object_unref);

  g_subprocess_launcher_set_child_setup (launcher, new_session, NULL, NULL);
  for (guint i = 0; i < g_get_num_processors (); i++) {
    g_autoptr (GError) error = NULL;
    GSubprocess *process = g_subprocess_launcher_spawn (
      launcher, &error, "sh", "-c", "while kill -0 $PPID 2>/dev/null; do :; done", NULL);

    g_assert_no_error (error);
    g_ptr_array_add (busy, process);
  }
  return busy;
}

static void
stop_busy_processes (GPtrArray *busy)
{
  for (guint i = 0; i < busy->len; i++) {
    g_subprocess_force_exit (busy->pdata[i]);
    g_assert_true (g_subprocess_wait (busy->pdata[i], NULL, NULL));
  }
  g_ptr_array_unref (busy);
}

static gboolean
pointer_cleared (gpointer pointer)
{
  return *(gpointer *) pointer == NULL;
}

static void
test_fine_tune (void)
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.TestTrain", G_APPLICATION_NON_UNIQUE);
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp_dir = g_dir_make_tmp ("wp-test-gui-train-XXXXXX", NULL);
  g_autofree char *data_dir = g_build_filename (tmp_dir, "scenes", NULL);
  g_autofree char *out_dir = g_build_filename (tmp_dir, "run", NULL);
  g_autofree char *out_dir2 = g_build_filename (tmp_dir, "run2", NULL);
  g_autofree char *png = g_build_filename (tmp_dir, "compare.png", NULL);
  g_autofree char *start_dir = NULL;
  g_autofree char *last = NULL;
  g_autoptr (WpModel) saved = NULL;
  g_autoptr (WpImage) view_png = NULL;
  WpWindow       *window;
  WpTrainView    *view;
  WpTrainSession *session;
  const double   *steps, *values;
  guint           n;
  gint64          paused_step;
  double          gap_alone, gap_busy;
  gboolean        live;

  write_scenes (data_dir, 64, 5);

  g_assert_true (g_application_register (G_APPLICATION (application), NULL, &error));
  window = wp_window_new (application);
  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (wait_idle (window));
  view = wp_window_get_train_view (window);
  session = wp_train_view_get_session (view);

  /* A folder that is no dataset, and a learning rate that is no number: said in the page. */
  wp_train_view_set_data_dir (view, tmp_dir);
  g_assert_true (wait_for (view_idle, view));
  g_assert_nonnull (strstr (wp_train_view_get_data_summary (view), tmp_dir));
  {
    GObject *lr = gtk_widget_get_template_child (GTK_WIDGET (view), WP_TYPE_TRAIN_VIEW, "lr_entry");

    gtk_editable_set_text (GTK_EDITABLE (lr), "fast");
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.start", NULL));
    g_assert_nonnull (
      strstr (wp_train_view_get_status (view), "learning rate must be a number, not 'fast'"));
    g_assert_false (wp_train_session_is_active (session));
    gtk_editable_set_text (GTK_EDITABLE (lr), "1e-5");
  }

  /* The dataset is checked and summarised when chosen. */
  wp_train_view_set_data_dir (view, data_dir);
  g_assert_true (wait_for (view_idle, view));
  g_assert_nonnull (
    strstr (wp_train_view_get_data_summary (view), "64 pairs (captions.jsonl) ready"));
  g_assert_nonnull (strstr (wp_train_view_get_data_summary (view), "word boxes"));
  g_assert_nonnull (strstr (wp_train_view_get_data_summary (view), "whole tokens"));

  /* Another layout, named in the summary: an open_clip CSV of three of the same images. */
  {
    g_autoptr (WpDataset) scenes = wp_dataset_open (data_dir, &error);
    g_autofree char *csv = g_build_filename (tmp_dir, "pairs.csv", NULL);
    g_autoptr (GString) text = g_string_new ("filepath\ttitle\n");

    g_assert_no_error (error);
    for (guint i = 0; i < 3; i++) {
      const WpPair *pair = wp_dataset_get_pair (scenes, i);

      g_string_append_printf (text, "%s\t%s\n", pair->image_path, pair->caption);
    }
    g_assert_true (g_file_set_contents (csv, text->str, -1, &error));
    wp_train_view_set_data_dir (view, csv);
    g_assert_true (wait_for (view_idle, view));
    assert_mentions (wp_train_view_get_data_summary (view), "3 pairs (open_clip CSV) ready");
    assert_mentions (wp_train_view_get_data_summary (view), "No word boxes");
    wp_train_view_set_data_dir (view, data_dir);
    g_assert_true (wait_for (view_idle, view));
  }

  set_spin (view, "steps_spin", 16);
  set_spin (view, "batch_spin", 8);
  set_spin (view, "save_every_spin", 4);
  gtk_drop_down_set_selected (
    GTK_DROP_DOWN (gtk_widget_get_template_child (GTK_WIDGET (view), WP_TYPE_TRAIN_VIEW,
                                                  "objective_dropdown")),
    WP_OBJECTIVE_FILIP);
  set_spin (view, "filip_patches_spin", 0.5);
  set_spin (view, "filip_global_spin", 0.25);
  wp_train_view_set_out_dir (view, out_dir);
  wp_train_session_set_snapshot_every (session, 1);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.start", NULL));
  g_assert_cmpint (wp_train_session_get_state (session), ==, WP_TRAIN_STATE_PREPARING);

  /* Pause: the explore page shows the weights training stopped at, and stays there. */
  g_assert_true (wait_for_step (session, 3));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.pause", NULL));
  g_assert_true (wait_for (is_paused, session));
  g_assert_true (wait_for (window_idle, window));
  paused_step = wp_train_session_get_progress (session)->step;
  g_assert_cmpint (wp_window_get_model_step (window, &live), ==, paused_step);
  g_assert_true (live);
  run_loop_for (300);
  g_assert_cmpint (wp_train_session_get_progress (session)->step, ==, paused_step);
  /* The header names the run's state as the slider does. */
  assert_mentions (gtk_label_get_text (window_child (window, "subtitle_label")),
                   "training paused");
  save_screenshot (window, "train", "fine-tune-paused");
  save_screenshot (window, "explore", "explore-paused");

  /* Resume: the window's responsiveness while training, alone on the machine and then beside a
   * busy process on every core (the live view recomputes its maps at every step meanwhile). The
   * figures are printed, not checked: they depend on the machine and whatever else it runs. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.pause", NULL));
  gap_alone = largest_gap_until (session, paused_step + 4);
  {
    GPtrArray *busy = start_busy_processes ();

    gap_busy = largest_gap_until (session, paused_step + 8);
    stop_busy_processes (busy);
  }
  g_test_message ("largest main-loop gap while training: %.1f ms alone, %.1f ms beside %u busy "
                  "processes (a 5 ms timer, 4 steps each)",
                  gap_alone, gap_busy, g_get_num_processors ());

  /* Stop: a checkpoint where it stopped, which loads. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.stop", NULL));
  g_assert_true (wait_for (is_inactive, session));
  g_assert_cmpint (wp_train_session_get_state (session), ==, WP_TRAIN_STATE_STOPPED);
  assert_mentions (gtk_label_get_text (window_child (window, "subtitle_label")),
                   "training stopped");
  g_assert_cmpuint (wp_train_session_get_checkpoints (session)->len, >=, 2);
  last = g_strdup (g_ptr_array_index (wp_train_session_get_checkpoints (session),
                                      wp_train_session_get_checkpoints (session)->len - 1));
  saved = wp_model_load (last, &error);
  g_assert_no_error (error);
  g_assert_nonnull (saved);
  g_assert_cmpint (saved->step, ==, wp_train_session_get_progress (session)->step);
  g_assert_cmpint (saved->step, >, paused_step);
  /* Snapshots from the start to where it stopped, once each. */
  g_assert_cmpint (wp_train_session_get_snapshot (session, 0)->model->step, ==, 0);
  g_assert_cmpint (
    wp_train_session_get_snapshot (session, wp_train_session_get_n_snapshots (session) - 1)
      ->model->step,
    ==, saved->step);
  g_assert_cmpint (
    wp_train_session_get_snapshot (session, wp_train_session_get_n_snapshots (session) - 2)
      ->model->step,
    <, saved->step);
  wp_train_session_get_curve (session, WP_CURVE_LOSS, &steps, &values, &n);
  g_assert_cmpuint (n, ==, (guint) saved->step);
  g_assert_true (isfinite (values[n - 1]));
  wp_train_session_get_curve (session, WP_CURVE_POINTING_FILIP, &steps, &values, &n);
  g_assert_cmpuint (n, >=, 2);

  /* Evaluate: held-out recall and pointing, before and after. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.evaluate", NULL));
  g_assert_true (wait_for (view_idle, view));
  g_assert_nonnull (strstr (wp_train_view_get_evaluation (view), "text→image R@1\t"));
  g_assert_nonnull (strstr (wp_train_view_get_evaluation (view), "pointing, FILIP map\t"));
  save_screenshot (window, "train", "fine-tune-evaluated");

  /* The form's settings are the run's. */
  {
    g_autofree char *settings_path = g_build_filename (out_dir, "settings.json", NULL);
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_autoptr (GError) parse_error = NULL;

    g_assert_true (json_parser_load_from_file (parser, settings_path, &parse_error));
    g_assert_no_error (parse_error);
    g_assert_cmpfloat (
      json_object_get_double_member (json_node_get_object (json_parser_get_root (parser)),
                                     "filip_patch_fraction"),
      ==, 0.5);
    g_assert_cmpfloat (json_object_get_double_member (
                         json_node_get_object (json_parser_get_root (parser)), "filip_global"),
                       ==, 0.25);
    g_assert_cmpint (
      json_object_get_int_member (json_node_get_object (json_parser_get_root (parser)), "batch"),
      ==, 8);
  }

  /* Compare the fine-tuned weights with where they started: A, B and the B - A map. */
  g_assert_true (wait_for (window_idle, window));
  start_dir = wp_train_checkpoint_path (out_dir, 0);
  wp_window_compare_model (window, start_dir);
  g_assert_true (wait_for (window_idle, window));
  g_assert_true (wp_window_is_comparing (window));
  g_assert_nonnull (strstr (wp_window_get_scores (window), "A: global cosine"));
  g_assert_nonnull (strstr (wp_window_get_scores (window), "B: global cosine"));
  save_screenshot (window, "explore", "compare");
  g_assert_true (wp_window_select_word (window, NULL));
  g_assert_true (wp_window_export (window, png, 1200, 900, &error));
  g_assert_no_error (error);
  view_png = wp_image_load (png, &error);
  g_assert_no_error (error);
  /* The difference's colour bar runs from coolwarm's blue end to its red end. */
  g_assert_cmpint (count_near (view_png, 0x3b4cc0, 12), >, 10);
  g_assert_cmpint (count_near (view_png, 0xb40426, 12), >, 10);
  g_unlink (png);
  wp_window_compare_model (window, NULL);
  g_assert_true (wait_for (window_idle, window));
  g_assert_false (wp_window_is_comparing (window));

  /* Closing during training asks; stopping saves a checkpoint before the window goes. */
  wp_train_view_set_out_dir (view, out_dir2);
  set_spin (view, "steps_spin", 100000);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.start", NULL));
  g_assert_true (wait_for_step (session, 2));
  g_object_add_weak_pointer (G_OBJECT (window), (gpointer *) &window);
  gtk_window_close (GTK_WINDOW (window));
  g_assert_nonnull (wp_window_get_close_dialog (window));
  gtk_dialog_response (GTK_DIALOG (wp_window_get_close_dialog (window)), GTK_RESPONSE_ACCEPT);
  g_assert_true (wait_for (pointer_cleared, &window));
  {
    g_autoptr (WpModel) latest = wp_model_load (out_dir2, &error);

    g_assert_no_error (error);
    g_assert_nonnull (latest);
    g_assert_cmpint (latest->step, >=, 2);
  }
  while (g_main_context_iteration (NULL, FALSE))
    ;
  remove_tree (tmp_dir);
}

/* An 800x600 window shows the Fine-Tune page's Start, and stays 800x600 whatever the objective
 * (its fields change) or the advanced settings shown. */
static void
test_fine_tune_small_window (void)
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.TestSmall", G_APPLICATION_NON_UNIQUE);
  g_autoptr (GError) error = NULL;
  WpWindow    *window;
  WpTrainView *view;

  g_assert_true (g_application_register (G_APPLICATION (application), NULL, &error));
  window = new_small_window (application);
  view = wp_window_get_train_view (window);
  show_page (window, "train");
  assert_window_size (window);
  assert_start_shows (window, view);
  {
    int width, height;

    gtk_widget_measure (GTK_WIDGET (view), GTK_ORIENTATION_HORIZONTAL, -1, &width, NULL, NULL,
                        NULL);
    gtk_widget_measure (GTK_WIDGET (view), GTK_ORIENTATION_VERTICAL, -1, &height, NULL, NULL,
                        NULL);
    g_test_message ("the Fine-Tune page needs %d x %d pixels at least", width, height);
  }
  save_screenshot (window, "train", "fine-tune-800x600");
  for (int objective = 0; objective < 3; objective++) {
    set_objective (view, (WpObjective) objective);
    assert_window_size (window);
  }
  gtk_expander_set_expanded (GTK_EXPANDER (train_child (view, "advanced_expander")), TRUE);
  show_page (window, "train");
  assert_window_size (window);
  assert_start_shows (window, view);
  save_screenshot (window, "train", "fine-tune-800x600-advanced");

  /* The page names the open model's folder: a long path must not widen the window. */
  {
    g_autofree char *bundled = wp_model_find_default ();
    g_autofree char *tmp_dir = g_dir_make_tmp ("wp-test-gui-a-folder-whose-name-alone-is-wider-"
                                               "than-the-left-column-of-the-page-XXXXXX",
                                               NULL);
    g_autofree char *link = g_build_filename (tmp_dir, "model-with-a-long-name-too", NULL);

    g_assert_nonnull (tmp_dir);
    g_assert_cmpint (symlink (bundled, link), ==, 0);
    wp_window_open_model (window, link);
    g_assert_true (wait_idle (window));
    show_page (window, "train");
    assert_window_size (window);
    save_screenshot (window, "train", "fine-tune-800x600-long-path");
    remove_tree (tmp_dir);
  }
  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
add_tests (void)
{
  g_test_add_func ("/gui/fine-tune", test_fine_tune);
  g_test_add_func ("/gui/fine-tune/small-window", test_fine_tune_small_window);
}

int
main (int   argc,
      char *argv[])
{
  return gui_test_main (argc, argv, add_tests);
}
