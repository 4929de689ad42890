/* test-gui.c: the real window under a display (Xvfb in CI): it opens on the bundled model and
 * demo scene, follows a typed caption, shows one selected word and reads out its value under the
 * pointer, and reports a bad image in the window instead of crashing; it opens on what its command
 * line names; the app, run as a child process, exits once closed during training; workers run
 * nicer than the window. The Explore page, export and the Fine-Tune page have programs of their
 * own (test-gui-explore.c, test-gui-export.c, test-gui-fine-tune*.c). */
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli-harness.h"
#include "gui-util.h"
#include "spiece-train.h"
#include "wordpatch/wordpatch.h"
#include "wp-application.h"
#include "wp-image-view.h"
#include "wp-window.h"
#include "wp-word-bar.h"
#include "wp-worker.h"

#include <sys/stat.h>

#ifdef __linux__
#include <sys/resource.h>
#endif

/* Hovering the middle of the view, over the one map shown, reads out a patch and the word's value
 * there; the view's top-left corner, in the title, reads out nothing. */
static void
hover_reads_word (WpWindow   *window,
                  const char *word)
{
  GtkWidget *view = GTK_WIDGET (
    gtk_widget_get_template_child (GTK_WIDGET (window), WP_TYPE_WINDOW, "image_view"));
  g_autoptr (GListModel) controllers = gtk_widget_observe_controllers (view);
  g_autofree char *value = g_strdup_printf ("  %s ", word);
  GObject         *motion = NULL;

  for (guint i = 0; motion == NULL && i < g_list_model_get_n_items (controllers); i++) {
    g_autoptr (GObject) controller = g_list_model_get_item (controllers, i);

    if (GTK_IS_EVENT_CONTROLLER_MOTION (controller))
      motion = controller;
  }
  g_assert_nonnull (motion);
  g_signal_emit_by_name (motion, "motion", gtk_widget_get_width (view) / 2.0,
                         gtk_widget_get_height (view) / 2.0);
  g_assert_true (g_str_has_prefix (wp_image_view_get_readout (WP_IMAGE_VIEW (view)), "patch row "));
  g_assert_nonnull (strstr (wp_image_view_get_readout (WP_IMAGE_VIEW (view)), value));
  g_signal_emit_by_name (motion, "motion", 1.0, 1.0);
  g_assert_cmpstr (wp_image_view_get_readout (WP_IMAGE_VIEW (view)), ==, "");
}

/* Whether the dialog has loaded the file it was given (it does so on the main loop). */
static gboolean
chooser_has_file (gpointer dialog)
{
  g_autoptr (GFile) file = gtk_file_chooser_get_file (dialog);

  return file != NULL;
}

static void
test_window (void)
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.Test", G_APPLICATION_NON_UNIQUE);
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp_dir = g_dir_make_tmp ("wp-test-gui-XXXXXX", NULL);
  g_autofree char *png = g_build_filename (tmp_dir, "view.png", NULL);
  g_autofree char *junk = g_build_filename (tmp_dir, "junk.png", NULL);
  g_autoptr (WpImage) view = NULL;
  WpWindow *window = explore_window (application);

  g_assert_cmpstr (wp_window_get_status (window), !=, "");
  g_assert_nonnull (strstr (wp_window_get_scores (window), "global cosine"));

  /* Typing: the maps follow the caption. */
  wp_window_set_caption (window, "a blue circle");
  g_assert_true (wait_idle (window));
  g_assert_true (wp_window_select_word (window, "circle"));
  g_assert_false (wp_window_select_word (window, "star"));
  g_assert_true (wp_window_select_word (window, "circle"));
  g_assert_true (wait_idle (window));
  hover_reads_word (window, "circle");

  /* The exported view shows the colour map's two ends: the map is high in places, low in others. */
  g_assert_true (wp_window_export (window, png, 900, 600, &error));
  g_assert_no_error (error);
  view = wp_image_load (png, &error);
  g_assert_no_error (error);
  g_assert_cmpint (count_colour (view, 0xfde725), >, 20);
  g_assert_cmpint (count_colour (view, 0x440154), >, 20);
  {
    g_autoptr (GFile) file = g_file_new_for_path (png);
    g_autoptr (GBytes) bytes = g_file_load_bytes (file, NULL, NULL, &error);
    gsize       len = 0;
    const char *data = bytes != NULL ? g_bytes_get_data (bytes, &len) : NULL;
    const char *keys[] = { "wordpatch.model_sha256", "wordpatch.words", "wordpatch.caption",
                           "a blue circle" };

    g_assert_no_error (error);
    for (gsize k = 0; k < G_N_ELEMENTS (keys); k++) {
      gboolean found = FALSE;

      for (gsize i = 0; !found && i + strlen (keys[k]) <= len; i++)
        found = memcmp (data + i, keys[k], strlen (keys[k])) == 0;
      g_assert_true (found);
    }
  }

  /* A word the vocabulary splits: each BPE piece has its own map and can be shown alone. */
  wp_window_set_caption (window, "a zebra circle");
  g_assert_true (wait_idle (window));
  g_assert_false (wp_window_select_piece (window, "circle", 0));
  g_assert_true (wp_window_select_piece (window, "zebra", 1));
  g_assert_true (wp_window_export (window, png, 900, 600, &error));
  g_assert_no_error (error);
  {
    g_autoptr (WpImage) piece_view = wp_image_load (png, &error);

    g_assert_no_error (error);
    g_assert_cmpint (count_colour (piece_view, 0xfde725), >, 20);
  }

  /* Pasting an image (Ctrl+Shift+V) opens it. */
  {
    g_autoptr (GFile) file = g_file_new_for_path (png);
    g_autoptr (GdkTexture) texture = gdk_texture_new_from_file (file, &error);

    g_assert_no_error (error);
    gdk_clipboard_set_texture (gtk_widget_get_clipboard (GTK_WIDGET (window)), texture);
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.paste-image", NULL));
    g_assert_true (wait_idle (window));
    g_assert_nonnull (strstr (wp_window_get_status (window), "pasted.png"));
  }

  /* Open Image… (Ctrl+O) opens the file chosen in its dialog. */
  {
    g_autoptr (GFile) file = g_file_new_for_path (png);
    GtkWindow *dialog;

    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.open-image", NULL));
    dialog = find_file_chooser ();
    g_assert_nonnull (dialog);
    g_assert_cmpstr (gtk_window_get_title (dialog), ==, "Open Image");
    g_assert_true (gtk_file_chooser_set_file (GTK_FILE_CHOOSER (dialog), file, &error));
    g_assert_no_error (error);
    g_assert_true (wait_for (chooser_has_file, dialog));
    gtk_dialog_response (GTK_DIALOG (dialog), GTK_RESPONSE_ACCEPT);
    g_assert_true (wait_idle (window));
    g_assert_cmpstr (wp_window_get_status (window), ==, png);
  }

  /* A file that is not an image: a message in the window, the previous view kept. */
  g_assert_true (g_file_set_contents (junk, "not an image", -1, NULL));
  wp_window_open_image (window, junk);
  g_assert_true (wait_idle (window));
  g_assert_nonnull (strstr (wp_window_get_status (window), junk));
  g_assert_nonnull (strstr (wp_window_get_scores (window), "global cosine"));

  /* A broken model folder: a message, the model in use kept. */
  wp_window_open_model (window, tmp_dir);
  g_assert_nonnull (strstr (wp_window_get_status (window), tmp_dir));
  g_assert_true (wait_idle (window));

  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_unlink (png);
  g_unlink (junk);
  g_rmdir (tmp_dir);
}

/* A SigLIP model (its vocabulary trained here) opens in Explore with maps by every kind of
 * method, and the Fine-Tune page starts on its own loss. */
static void
test_siglip (void)
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.TestSiglip", G_APPLICATION_NON_UNIQUE);
  static const char *const texts[] = { "a red circle", "a blue square above a green star",
                                       "two small yellow triangles", "a purple cross" };
  g_autoptr (GPtrArray) lines = g_ptr_array_new ();
  g_autofree char *dir = g_dir_make_tmp ("wp-test-gui-siglip-XXXXXX", NULL);
  g_autofree char *spiece = g_build_filename (dir, "spiece.model", NULL);
  g_autofree char *model = g_build_filename (dir, "siglip-model", NULL);
  g_autofree char *proto = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (Run) init = { 0 };
  WpWindow       *window;
  const WpFigure *figure;
  gsize           len;

  for (int r = 0; r < 40; r++) {
    for (gsize i = 0; i < G_N_ELEMENTS (texts); i++)
      g_ptr_array_add (lines, (gpointer) texts[i]);
  }
  proto = wp_test_train_spiece ((const char *const *) lines->pdata, lines->len, 60, TRUE, &len);
  g_assert_true (g_file_set_contents (spiece, proto, (gssize) len, &error));
  g_assert_no_error (error);
  run_cli (&init, "init", "--family", "siglip", "--config", "tiny", "--vocab", dir, "--out",
           model, NULL);
  g_assert_cmpint (init.status, ==, 0);

  window = explore_window (application);
  wp_window_open_model (window, model);
  wp_window_set_caption (window, "a red circle");
  g_assert_true (wait_idle (window));
  assert_mentions (gtk_label_get_text (window_child (window, "subtitle_label")), "siglip-model");
  figure = wp_image_view_get_figure (WP_IMAGE_VIEW (window_child (window, "image_view")));
  g_assert_nonnull (figure->maps);
  g_assert_nonnull (figure->maps->words[0].values[WP_MAP_FILIP]);
  gtk_drop_down_set_selected (window_child (window, "method_dropdown"), WP_MAP_LEGRAD);
  g_assert_true (wait_idle (window));
  figure = wp_image_view_get_figure (WP_IMAGE_VIEW (window_child (window, "image_view")));
  g_assert_nonnull (figure->maps->words[0].values[WP_MAP_LEGRAD]);
  gtk_drop_down_set_selected (window_child (window, "method_dropdown"), WP_MAP_MASKCLIP);
  g_assert_true (wait_idle (window));
  figure = wp_image_view_get_figure (WP_IMAGE_VIEW (window_child (window, "image_view")));
  g_assert_nonnull (figure->maps->words[0].values[WP_MAP_MASKCLIP]);
  g_assert_cmpuint (gtk_drop_down_get_selected (GTK_DROP_DOWN (gtk_widget_get_template_child (
                      GTK_WIDGET (wp_window_get_train_view (window)), WP_TYPE_TRAIN_VIEW,
                      "objective_dropdown"))),
                    ==, WP_OBJECTIVE_SIGMOID);

  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  remove_tree (dir);
}

typedef struct {
  GtkApplication *application;
  const char     *caption;
  const char     *image_name;
  const char     *model_name;
  gboolean        checked;
  int             tries;
} CommandLineCheck;

/* Once the window the command line opened is idle: it shows what the arguments named. */
static gboolean
check_command_line_window (gpointer data)
{
  CommandLineCheck *check = data;
  WpWindow         *window = WP_WINDOW (gtk_application_get_active_window (check->application));

  /* A minute at most, as wait_idle(). */
  g_assert_cmpint (++check->tries, <, 3000);
  if (window == NULL || !wp_window_is_idle (window))
    return G_SOURCE_CONTINUE;
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (window_child (window, "caption_entry"))),
                   ==, check->caption);
  assert_mentions (gtk_label_get_text (window_child (window, "subtitle_label")),
                   check->model_name);
  assert_mentions (wp_window_get_status (window), check->image_name);
  check->checked = TRUE;
  gtk_window_destroy (GTK_WINDOW (window));
  return G_SOURCE_REMOVE;
}

/* `wordpatch --model DIR --caption TEXT IMAGE` opens on them; two images are a usage error. */
static void
test_command_line (void)
{
  g_autofree char *bundled = wp_model_find_default ();
  g_autofree char *demo = wp_data_find ("demo/scenes");
  g_autofree char *image = g_build_filename (demo, "images", "000001.png", NULL);
  g_autofree char *tmp_dir = g_dir_make_tmp ("wp-test-gui-args-XXXXXX", NULL);
  g_autofree char *link = g_build_filename (tmp_dir, "model-by-argument", NULL);
  CommandLineCheck check = { NULL, "a red circle", "000001.png", "model-by-argument", FALSE, 0 };
  char            *argv[] = { "wordpatch", "--model", link, "--caption", "a red circle", image,
                              NULL };
  char            *two[] = { "wordpatch", image, image, NULL };

  g_assert_cmpint (symlink (bundled, link), ==, 0);
  {
    g_autoptr (WpApplication) application = wp_application_new (
      "org.wordpatch.TestArgs", G_APPLICATION_HANDLES_COMMAND_LINE | G_APPLICATION_NON_UNIQUE);

    check.application = GTK_APPLICATION (application);
    g_timeout_add (20, check_command_line_window, &check);
    g_assert_cmpint (g_application_run (G_APPLICATION (application), 6, argv), ==, 0);
    g_assert_true (check.checked);
  }
  {
    g_autoptr (WpApplication) application = wp_application_new (
      "org.wordpatch.TestArgs", G_APPLICATION_HANDLES_COMMAND_LINE | G_APPLICATION_NON_UNIQUE);

    g_assert_cmpint (g_application_run (G_APPLICATION (application), 3, two), ==, 2);
  }
  remove_tree (tmp_dir);
}

/* ---- the app's exit ---- */

/* This program, run again as the app for /gui/exit/. */
static const char *test_program;

#define EXIT_CHILD_DATA "WP_TEST_EXIT_CHILD_DATA"
#define EXIT_CHILD_OUT  "WP_TEST_EXIT_CHILD_OUT"
#define EXIT_CHILD_HOW  "WP_TEST_EXIT_CHILD_HOW"

/* The steps the child trains before it ends: enough for the Explore page to follow the run's
 * snapshots, so that it computes maps when the app ends. */
#define EXIT_CHILD_STEPS 3

/* How the child ends the app during training. */
typedef struct {
  const char *how;  /* EXIT_CHILD_HOW's value */
  const char *what; /* for messages */
} ExitWay;

static const ExitWay exit_by_dialog = { "dialog", "\"Stop, Save and Close\"" };

static const ExitWay exit_by_quit = { "quit", "the app was told to quit" };

/* The child's script, polled from the app's main loop: once the window has drawn its maps, check
 * the dataset; once checked, start; after a few steps, either close the window and answer "Stop,
 * Save and Close", or have the app quit with the window open (as a session ending does). */
static gboolean
exit_child_tick_cb (gpointer user_data)
{
  GtkApplication *application = user_data;
  GtkWindow      *toplevel = gtk_application_get_active_window (application);
  WpWindow       *window;
  WpTrainView    *view;
  WpTrainSession *session;
  static int      phase;

  if (toplevel == NULL || !WP_IS_WINDOW (toplevel))
    return phase < 3 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
  window = WP_WINDOW (toplevel);
  view = wp_window_get_train_view (window);
  session = wp_train_view_get_session (view);
  if (phase == 0 && wp_window_is_idle (window)) {
    wp_train_view_set_data_dir (view, g_getenv (EXIT_CHILD_DATA));
    wp_train_view_set_out_dir (view, g_getenv (EXIT_CHILD_OUT));
    set_spin (view, "steps_spin", 100000);
    set_spin (view, "batch_spin", 8);
    phase = 1;
  } else if (phase == 1 && wp_train_view_is_idle (view)) {
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "train.start", NULL));
    phase = 2;
  } else if (phase == 2 && wp_train_session_get_progress (session)->step >= EXIT_CHILD_STEPS) {
    const gint64 step = wp_train_session_get_progress (session)->step;

    if (g_strcmp0 (g_getenv (EXIT_CHILD_HOW), exit_by_quit.how) == 0) {
      g_application_quit (G_APPLICATION (application));
    } else {
      gtk_window_close (toplevel);
      g_assert_nonnull (wp_window_get_close_dialog (window));
      gtk_dialog_response (GTK_DIALOG (wp_window_get_close_dialog (window)), GTK_RESPONSE_ACCEPT);
    }
    printf ("ending at step %" G_GINT64_FORMAT "\n", step);
    fflush (stdout);
    phase = 3;
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

static void
exit_child_activate_cb (GtkApplication *application)
{
  g_timeout_add (20, exit_child_tick_cb, application);
}

/* The app as main.c runs it, scripted: its exit status is main()'s, and it then goes through
 * exit() and the libraries' exit handlers as the app does. */
static int
run_exit_child (char **argv)
{
  g_autoptr (WpApplication) application =
    wp_application_new ("org.wordpatch.TestExit", G_APPLICATION_NON_UNIQUE);

  g_signal_connect_after (application, "activate", G_CALLBACK (exit_child_activate_cb), NULL);
  return g_application_run (G_APPLICATION (application), 1, argv);
}

typedef struct {
  GMainLoop *loop;
  gboolean   exited;
} ChildWait;

static void
exit_child_exited_cb (GObject      *process,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  ChildWait *wait = user_data;

  wait->exited = g_subprocess_wait_finish (G_SUBPROCESS (process), result, NULL);
  g_main_loop_quit (wait->loop);
}

static gboolean
quit_loop_cb (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

/* Ending the app during training ends the process (issue 20: after "Stop, Save and Close" it
 * stayed in exit(), where OpenBLAS's exit handler waited for a thread of its own that a worker
 * still computing had handed work to). The app runs as a child process; from the moment it is
 * told to end, it has 10 s to write its checkpoint and exit. */
static void
test_exit_during_training (gconstpointer data)
{
  const ExitWay *way = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp_dir = g_dir_make_tmp ("wp-test-gui-exit-XXXXXX", NULL);
  g_autofree char *data_dir = g_build_filename (tmp_dir, "scenes", NULL);
  g_autofree char *out_dir = g_build_filename (tmp_dir, "run", NULL);
  g_autoptr (GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GDataInputStream) output = NULL;
  g_autofree char *line = NULL;
  g_autoptr (WpModel) latest = NULL;
  ChildWait wait = { g_main_loop_new (NULL, FALSE), FALSE };
  gint64    closed_step = -1, closed_at;
  guint     timeout;
  double    seconds;

  write_scenes (data_dir, 128, 7);

  g_subprocess_launcher_setenv (launcher, EXIT_CHILD_DATA, data_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, EXIT_CHILD_OUT, out_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, EXIT_CHILD_HOW, way->how, TRUE);
  /* OpenBLAS with threads of its own, as a user runs the app (the tests run it with one). */
  g_subprocess_launcher_unsetenv (launcher, "OPENBLAS_NUM_THREADS");
  process = g_subprocess_launcher_spawn (launcher, &error, test_program, NULL);
  g_assert_no_error (error);
  output = g_data_input_stream_new (g_subprocess_get_stdout_pipe (process));
  line = g_data_input_stream_read_line (output, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  g_assert_true (sscanf (line, "ending at step %" G_GINT64_FORMAT, &closed_step) == 1);
  closed_at = g_get_monotonic_time ();

  g_subprocess_wait_async (process, NULL, exit_child_exited_cb, &wait);
  timeout = g_timeout_add (10000, quit_loop_cb, wait.loop);
  g_main_loop_run (wait.loop);
  seconds = (g_get_monotonic_time () - closed_at) / 1e6;
  if (!wait.exited) {
    g_subprocess_force_exit (process);
    while (!wait.exited)
      g_main_context_iteration (NULL, TRUE);
    g_main_loop_unref (wait.loop);
    remove_tree (tmp_dir);
    g_test_fail_printf ("the app still runs %.1f s after %s", seconds, way->what);
    return;
  }
  g_source_remove (timeout);
  g_main_loop_unref (wait.loop);
  g_test_message ("the app exited %.1f s after %s at step %" G_GINT64_FORMAT, seconds, way->what,
                  closed_step);
  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);
  /* It stopped where it was, with a checkpoint. */
  latest = wp_model_load (out_dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (latest->step, >=, closed_step);
  remove_tree (tmp_dir);
}

/* ---- workers ---- */

#ifdef __linux__
static void
report_priority_worker (GTask        *task,
                        gpointer      source_object,
                        gpointer      task_data,
                        GCancellable *cancellable)
{
  g_task_return_int (task, getpriority (PRIO_PROCESS, 0));
}

#endif

/* A worker runs nicer than the main thread, which keeps its own priority. */
static void
test_worker_priority (void)
{
#ifdef __linux__
  g_autoptr (GTask) task = g_task_new (NULL, NULL, NULL, NULL);
  g_autoptr (GError) error = NULL;
  const int main_nice = getpriority (PRIO_PROCESS, 0);

  wp_worker_run (task, report_priority_worker);
  while (!g_task_get_completed (task))
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (g_task_propagate_int (task, &error), ==,
                   MIN (main_nice + WP_WORKER_NICENESS, 19));
  g_assert_no_error (error);
  g_assert_cmpint (getpriority (PRIO_PROCESS, 0), ==, main_nice);
#else
  g_test_skip ("a thread's own priority is Linux's");
#endif
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *cache = gui_test_setup ();
  int              status;

  if (g_getenv (EXIT_CHILD_DATA) != NULL) {
    status = run_exit_child (argv);
    remove_tree (cache);
    return status;
  }
  test_program = argv[0];
  g_set_application_name ("wordpatch tests");
  gtk_test_init (&argc, &argv, NULL);
  g_test_add_func ("/gui/worker/nicer-than-main-thread", test_worker_priority);
  g_test_add_func ("/gui/window", test_window);
  g_test_add_func ("/gui/command-line", test_command_line);
  g_test_add_func ("/gui/siglip", test_siglip);
  g_test_add_data_func ("/gui/exit/during-training", &exit_by_dialog, test_exit_during_training);
  g_test_add_data_func ("/gui/exit/quit-during-training", &exit_by_quit,
                        test_exit_during_training);
  status = g_test_run ();
  remove_tree (cache);
  return status;
}
