/* test-gui.c: the real window under a display (Xvfb in CI): it opens on the bundled model and
 * demo scene, follows a typed caption, shows one selected word and reads out its value under the
 * pointer, exports the view, and reports a bad image in the window instead of crashing; it
 * fine-tunes from the Fine-Tune page (pause, resume, stop, evaluate, compare with the start, close
 * during training), measuring how long the main loop is ever kept from running meanwhile, alone
 * and beside a busy process on every core. The Fine-Tune page's own state: the engine's defaults,
 * the checkpoint list equal to the run folder, a failed start leaving the previous run in place,
 * a stopped run continued from its last checkpoint, Start in view in an 800x600 window that never
 * changes size, the box term's fields following the dataset and a CLIP-objective model learning
 * with it where its words are. The app, run as a child process, exits once closed during
 * training. */
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli-harness.h"
#include "shapes.h"
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

/* Runs the main loop until the window has no computation pending (at most about 60 s). */
static gboolean
wait_idle (WpWindow *window)
{
  for (int i = 0; i < 6000; i++) {
    while (g_main_context_iteration (NULL, FALSE))
      ;
    if (wp_window_is_idle (window))
      return TRUE;
    g_usleep (10000);
  }
  return FALSE;
}

/* Runs the main loop until done (checked after each pass) or about 120 s. */
static gboolean
wait_for (gboolean (*done) (gpointer),
          gpointer data)
{
  for (int i = 0; i < 24000; i++) {
    g_main_context_iteration (NULL, FALSE);
    if (done (data))
      return TRUE;
    if (!g_main_context_pending (NULL))
      g_usleep (5000);
  }
  return FALSE;
}

static int
count_near (const WpImage *image,
            guint32        rgb,
            int            tolerance)
{
  int n = 0;

  for (int i = 0; i < image->width * image->height; i++) {
    const guint8 *px = image->rgb + (gsize) i * 3;

    n += ABS (px[0] - (int) (rgb >> 16)) <= tolerance &&
         ABS (px[1] - (int) ((rgb >> 8) & 0xff)) <= tolerance &&
         ABS (px[2] - (int) (rgb & 0xff)) <= tolerance;
  }
  return n;
}

static int
count_colour (const WpImage *image,
              guint32        rgb)
{
  return count_near (image, rgb, 3);
}

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

/* The file chooser dialog a window action opened (GTK's own, without a portal under Xvfb). */
static GtkWindow *
find_file_chooser (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++) {
    g_autoptr (GtkWindow) toplevel = g_list_model_get_item (toplevels, i);

    if (GTK_IS_FILE_CHOOSER (toplevel))
      return toplevel;
  }
  return NULL;
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
  WpWindow *window;

  g_assert_true (g_application_register (G_APPLICATION (application), NULL, &error));
  g_assert_no_error (error);
  window = wp_window_new (application);
  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (wait_idle (window));
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

/* ---- the Explore page: methods, stale maps, read-outs, repeated words, export, size ---- */

static void run_loop_for (int milliseconds);
static void save_screenshot (WpWindow   *window,
                             const char *page,
                             const char *name);

static gpointer
window_child (WpWindow   *window,
              const char *name)
{
  GObject *child = gtk_widget_get_template_child (GTK_WIDGET (window), WP_TYPE_WINDOW, name);

  g_assert_nonnull (child);
  return child;
}

static WpImageView *
window_view (WpWindow *window)
{
  return window_child (window, "image_view");
}

static const WpFigure *
shown_figure (WpWindow *window)
{
  return wp_image_view_get_figure (window_view (window));
}

static WpWindow *
explore_window (GtkApplication *application)
{
  g_autoptr (GError) error = NULL;
  WpWindow *window;

  g_assert_true (g_application_register (G_APPLICATION (application), NULL, &error));
  g_assert_no_error (error);
  window = wp_window_new (application);
  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (wait_idle (window));
  /* The view has its size before anything is pointed at. */
  run_loop_for (100);
  return window;
}

/* The view's drawing as pixels, as the screen shows it once the next frame is drawn. */
static GBytes *
view_pixels (WpWindow *window)
{
  GtkWidget     *view = GTK_WIDGET (window_view (window));
  GdkPaintable  *paintable;
  GtkSnapshot   *snapshot;
  GskRenderNode *node;
  GdkTexture    *texture;
  GBytes        *bytes;

  run_loop_for (200);
  paintable = gtk_widget_paintable_new (view);
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, gtk_widget_get_width (view),
                          gtk_widget_get_height (view));
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (gtk_widget_get_native (view)),
                                         node, NULL);
  bytes = gdk_texture_save_to_png_bytes (texture);
  g_object_unref (texture);
  gsk_render_node_unref (node);
  g_object_unref (paintable);
  return bytes;
}

/* Switching the method, the query kind and the resolution redraws the maps: the window never
 * waits on them (it returns with the work pending and the previous maps marked stale, still
 * drawn), and then draws maps of the method, query kind and patch grid asked for. */
static void
test_explore_methods (void)
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.TestMethods", G_APPLICATION_NON_UNIQUE);
  WpWindow       *window = explore_window (application);
  WpImageView    *view = window_view (window);
  const WpFigure *figure;
  g_autoptr (GBytes) filip_pixels = NULL;
  g_autoptr (GBytes) legrad_pixels = NULL;
  const WpWordMaps *before;
  int               rows;

  wp_window_set_caption (window, "a blue circle");
  g_assert_true (wait_idle (window));
  filip_pixels = view_pixels (window);
  figure = shown_figure (window);
  g_assert_cmpint (figure->style.method, ==, WP_MAP_FILIP);
  rows = figure->maps->rows;
  before = figure->maps;

  gtk_drop_down_set_selected (window_child (window, "method_dropdown"), WP_MAP_LEGRAD);
  g_assert_false (wp_window_is_idle (window));
  g_assert_true (wp_image_view_get_stale (view));
  g_assert_true (shown_figure (window)->maps == before);
  g_assert_true (wait_idle (window));
  g_assert_false (wp_image_view_get_stale (view));
  figure = shown_figure (window);
  g_assert_cmpint (figure->style.method, ==, WP_MAP_LEGRAD);
  g_assert_nonnull (figure->maps->words[0].values[WP_MAP_LEGRAD]);
  legrad_pixels = view_pixels (window);
  g_assert_false (g_bytes_equal (filip_pixels, legrad_pixels));

  /* The bundled model records FILIP: token queries until prompt is picked. */
  g_assert_cmpint (figure->maps->query, ==, WP_QUERY_TOKEN);
  gtk_drop_down_set_selected (window_child (window, "query_dropdown"), 1);
  g_assert_true (wait_idle (window));
  figure = shown_figure (window);
  g_assert_cmpint (figure->maps->query, ==, WP_QUERY_PROMPT);
  g_assert_cmpint (figure->maps->words[0].first_token, ==, -1);

  /* Twice the model's size: twice the patches on a side. */
  gtk_drop_down_set_selected (window_child (window, "resolution_dropdown"), 1);
  g_assert_true (wait_idle (window));
  figure = shown_figure (window);
  g_assert_cmpint (figure->maps->rows, ==, 2 * rows);
  g_assert_cmpint (figure->style.method, ==, WP_MAP_LEGRAD);

  /* A label map of the method shown: a style, no computation. */
  gtk_toggle_button_set_active (window_child (window, "labels_toggle"), TRUE);
  g_assert_true (wp_window_is_idle (window));
  g_assert_true (shown_figure (window)->style.labels);
  save_screenshot (window, "explore", "explore-legrad-labels");

  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static gboolean
file_contains (const char *path,
               const char *text)
{
  g_autofree char *bytes = NULL;
  gsize            len = 0;

  g_assert_true (g_file_get_contents (path, &bytes, &len, NULL));
  for (gsize i = 0; i + strlen (text) <= len; i++) {
    if (memcmp (bytes + i, text, strlen (text)) == 0)
      return TRUE;
  }
  return FALSE;
}

/* Methods side by side: a column each (FILIP, MaskCLIP, ClearCLIP and LeGrad to start with), and
 * exported as PNG, SVG and PDF, each naming every method in its provenance. */
static void
test_explore_compare_methods (void)
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.TestSideBySide", G_APPLICATION_NON_UNIQUE);
  g_autofree char         *tmp_dir = g_dir_make_tmp ("wp-test-gui-methods-XXXXXX", NULL);
  static const char *const names[] = { "methods.png", "methods.svg", "methods.pdf" };
  static const char *const records[] = {
    "wordpatch.method\0filip,maskclip,clearclip,legrad",
    "<wordpatch:entry key=\"wordpatch.method\">filip,maskclip,clearclip,legrad<",
    "wordpatch.method=filip,maskclip,clearclip,legrad",
  };
  /* The PNG's text chunk is the keyword, a NUL, the value. */
  const gsize     record_lengths[] = { strlen ("wordpatch.method") + 1 +
                                         strlen ("filip,maskclip,clearclip,legrad"),
                                       strlen (records[1]), strlen (records[2]) };
  WpWindow       *window = explore_window (application);
  const WpFigure *figure;

  wp_window_set_caption (window, "a small green star above a blue circle");
  gtk_check_button_set_active (window_child (window, "side_by_side_check"), TRUE);
  g_assert_true (wp_image_view_get_stale (window_view (window)));
  g_assert_true (wait_idle (window));
  figure = shown_figure (window);
  g_assert_cmpint (figure->n_methods, ==, 4);
  g_assert_cmpint (figure->methods[0], ==, WP_MAP_FILIP);
  g_assert_cmpint (figure->methods[1], ==, WP_MAP_MASKCLIP);
  g_assert_cmpint (figure->methods[2], ==, WP_MAP_CLEARCLIP);
  g_assert_cmpint (figure->methods[3], ==, WP_MAP_LEGRAD);
  g_assert_cmpint (wp_figure_get_n_panels (figure, 900, 600), ==, 4 * figure->maps->n_words);
  save_screenshot (window, "explore", "explore-methods-side-by-side");
  for (gsize f = 0; f < G_N_ELEMENTS (names); f++) {
    g_autoptr (GError) error = NULL;
    g_autofree char *path = g_build_filename (tmp_dir, names[f], NULL);
    g_autofree char *bytes = NULL;
    gsize            len = 0;
    gboolean         found = FALSE;

    g_assert_true (wp_window_export (window, path, 900, 600, &error));
    g_assert_no_error (error);
    g_assert_true (g_file_get_contents (path, &bytes, &len, NULL));
    for (gsize i = 0; !found && i + record_lengths[f] <= len; i++)
      found = memcmp (bytes + i, records[f], record_lengths[f]) == 0;
    if (!found)
      g_error ("%s does not record the methods compared", names[f]);
    g_assert_true (file_contains (path, "a small green star above a blue circle"));
  }
  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  remove_tree (tmp_dir);
}

static GObject *
motion_controller (WpImageView *view)
{
  g_autoptr (GListModel) controllers = gtk_widget_observe_controllers (GTK_WIDGET (view));

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++) {
    g_autoptr (GObject) controller = g_list_model_get_item (controllers, i);

    if (GTK_IS_EVENT_CONTROLLER_MOTION (controller))
      return controller;
  }
  g_assert_not_reached ();
}

/* What the read-out must say with the pointer at (x, y): the figure drawn now, there. */
static char *
expected_readout (WpWindow *window,
                  double    x,
                  double    y)
{
  GtkWidget   *view = GTK_WIDGET (window_view (window));
  WpFigureSpot spot;

  if (!wp_figure_locate (shown_figure (window), gtk_widget_get_width (view),
                         gtk_widget_get_height (view), x, y, &spot))
    return g_strdup ("");
  return wp_figure_describe_spot (shown_figure (window), &spot);
}

/* A model of the bundled one's size and vocabulary with other weights, saved in dir. */
static void
write_other_model (const char *dir)
{
  g_autofree char *bundled_dir = wp_model_find_default ();
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) bundled = wp_model_load (bundled_dir, &error);
  g_autoptr (WpModel) other = NULL;
  const char  *vocab, *merges;
  gsize        vocab_len, merges_len;
  WpTokenizer *tokenizer;

  g_assert_no_error (error);
  vocab = wp_tokenizer_get_vocab_json (bundled->tokenizer, &vocab_len);
  merges = wp_tokenizer_get_merges_txt (bundled->tokenizer, &merges_len);
  tokenizer = wp_tokenizer_new_from_data (vocab, vocab_len, merges, merges_len, &error);
  g_assert_no_error (error);
  other = wp_model_new_random (&bundled->config, tokenizer, 7, &error);
  g_assert_no_error (error);
  g_assert_true (wp_model_save (other, dir, &error));
  g_assert_no_error (error);
}

/* The read-out always describes what is drawn: after the caption, the image, the model and the
 * comparison change under a still pointer, it says what the new figure has there (or nothing),
 * never the earlier figure's values. The arrow keys' patch cursor drives the same read-out. */
static void
test_explore_readout (void)
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.TestReadout", G_APPLICATION_NON_UNIQUE);
  g_autofree char *tmp_dir = g_dir_make_tmp ("wp-test-gui-readout-XXXXXX", NULL);
  g_autofree char *other_dir = g_build_filename (tmp_dir, "other", NULL);
  g_autofree char *disc = g_build_filename (tmp_dir, "disc.png", NULL);
  g_autofree char *bundled = wp_model_find_default ();
  WpWindow        *window = explore_window (application);
  WpImageView     *view = window_view (window);
  GObject         *motion = motion_controller (view);
  const double     x = gtk_widget_get_width (GTK_WIDGET (view)) / 2.0,
               y = gtk_widget_get_height (GTK_WIDGET (view)) / 2.0;
  g_autofree char *readout = NULL;

  write_other_model (other_dir);
  g_assert_true (write_test_image (disc));
  wp_window_set_caption (window, "a blue circle");
  g_assert_true (wait_idle (window));
  g_assert_true (wp_window_select_word (window, "circle"));
  g_signal_emit_by_name (motion, "motion", x, y);
  readout = g_strdup (wp_image_view_get_readout (view));
  g_assert_nonnull (strstr (readout, "circle"));

#define ASSERT_READOUT_CURRENT()                                      \
  G_STMT_START                                                        \
  {                                                                   \
    g_autofree char *expected = expected_readout (window, x, y);      \
                                                                      \
    g_assert_cmpstr (wp_image_view_get_readout (view), ==, expected); \
    g_assert_cmpstr (wp_image_view_get_readout (view), !=, readout);  \
    g_free (readout);                                                 \
    readout = g_strdup (wp_image_view_get_readout (view));            \
  }                                                                   \
  G_STMT_END

  /* The caption: "circle" is gone, the words now shown are read out. */
  wp_window_set_caption (window, "a green star");
  g_assert_true (wait_idle (window));
  ASSERT_READOUT_CURRENT ();
  g_assert_null (strstr (readout, "circle"));

  /* The image. */
  wp_window_open_image (window, disc);
  g_assert_true (wait_idle (window));
  ASSERT_READOUT_CURRENT ();

  /* The model. */
  wp_window_open_model (window, other_dir);
  g_assert_true (wait_idle (window));
  ASSERT_READOUT_CURRENT ();

  /* The comparison: A, B and B - A at the pointer, or nothing where no map is. */
  wp_window_compare_model (window, bundled);
  g_assert_true (wait_idle (window));
  g_assert_true (wp_window_is_comparing (window));
  ASSERT_READOUT_CURRENT ();
  wp_window_compare_model (window, NULL);
  g_assert_true (wait_idle (window));
  ASSERT_READOUT_CURRENT ();

  /* Zooming about the pointer keeps the same patch under it; zooming back out resets. */
  g_free (readout);
  readout = g_strdup (wp_image_view_get_readout (view));
  wp_image_view_zoom (view, 2.0, x, y);
  g_assert_cmpfloat (wp_image_view_get_zoom (view), ==, 2.0);
  g_assert_cmpstr (wp_image_view_get_readout (view), ==, readout);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "view.zoom", "d", 1.0));
  g_assert_cmpfloat (wp_image_view_get_zoom (view), ==, 1.0);

  /* The keyboard's cursor: the middle patch of the first map, then one to its right. */
  g_assert_true (wp_window_select_word (window, "star"));
  g_assert_true (wp_image_view_move_cursor (view, 0, 0, 0));
  g_assert_true (g_str_has_prefix (wp_image_view_get_readout (view), "patch row "));
  g_assert_nonnull (strstr (wp_image_view_get_readout (view), "  star "));
  g_free (readout);
  readout = g_strdup (wp_image_view_get_readout (view));
  g_assert_true (wp_image_view_move_cursor (view, 0, 0, 1));
  g_assert_cmpstr (wp_image_view_get_readout (view), !=, readout);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (view), "view.hide-cursor", NULL));
  g_assert_cmpstr (wp_image_view_get_readout (view), ==, "");
#undef ASSERT_READOUT_CURRENT

  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  remove_tree (tmp_dir);
}

/* The word bar's chip for key ("red", "red#1", or a piece's "·ze"), by its label. */
static GtkToggleButton *
find_chip (WpWindow   *window,
           const char *label)
{
  GtkWidget *bar = window_child (window, "word_bar");
  GtkWidget *stack[64];
  int        n = 0;

  stack[n++] = bar;
  while (n > 0) {
    GtkWidget *widget = stack[--n];

    if (GTK_IS_TOGGLE_BUTTON (widget) &&
        g_strcmp0 (gtk_button_get_label (GTK_BUTTON (widget)), label) == 0)
      return GTK_TOGGLE_BUTTON (widget);
    for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL && n < 64;
         child = gtk_widget_get_next_sibling (child))
      stack[n++] = child;
  }
  return NULL;
}

/* Each occurrence of a word is its own chip and map: picking the second "red" draws one map,
 * labelled "red#1" as heatmap's --tokens names it. Picking a piece sets picked words aside
 * instead of dropping them, and unpicking it brings them back. */
static void
test_explore_repeated_words (void)
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.TestRepeated", G_APPLICATION_NON_UNIQUE);
  WpWindow        *window = explore_window (application);
  GtkWidget       *view = GTK_WIDGET (window_view (window));
  const WpFigure  *figure;
  GtkToggleButton *red, *second_red, *piece;
  g_autofree char *label = NULL;

  wp_window_set_caption (window, "a red circle above a red zebra");
  g_assert_true (wait_idle (window));
  red = find_chip (window, "red");
  second_red = find_chip (window, "red#1");
  g_assert_nonnull (red);
  g_assert_nonnull (second_red);
  gtk_toggle_button_set_active (second_red, TRUE);
  figure = shown_figure (window);
  g_assert_cmpint (figure->n_words, ==, 1);
  g_assert_cmpint (figure->words[0], ==, 5);
  g_assert_cmpstr (figure->maps->words[5].text, ==, "red");
  g_assert_cmpint (wp_figure_get_n_panels (figure, gtk_widget_get_width (view),
                                           gtk_widget_get_height (view)),
                   ==, 1);
  label = wp_figure_dup_item_label (figure, 5);
  g_assert_cmpstr (label, ==, "red#1");
  g_assert_false (gtk_toggle_button_get_active (red));
  g_assert_true (wp_window_select_word (window, "red#1"));
  g_assert_cmpint (shown_figure (window)->words[0], ==, 5);

  /* A piece of "zebra" (the bundled vocabulary spells it out): the picked word is set aside,
   * then shown again. */
  piece = find_chip (window, "·z");
  g_assert_nonnull (piece);
  gtk_toggle_button_set_active (piece, TRUE);
  figure = shown_figure (window);
  g_assert_nonnull (figure->token_labels);
  g_assert_cmpint (figure->n_words, ==, 1);
  g_assert_true (gtk_toggle_button_get_active (second_red));
  g_assert_nonnull (strstr (wp_word_bar_get_hint (window_child (window, "word_bar")),
                            "set aside"));
  gtk_toggle_button_set_active (piece, FALSE);
  figure = shown_figure (window);
  g_assert_null (figure->token_labels);
  g_assert_cmpint (figure->n_words, ==, 1);
  g_assert_cmpint (figure->words[0], ==, 5);
  g_assert_nonnull (strstr (wp_word_bar_get_hint (window_child (window, "word_bar")),
                            "out of vocabulary"));

  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* Which model is open: the title names its folder, objective and step; a folder without a model
 * says which files it lacks; the app's icon is found (the About dialog shows it) uninstalled; the
 * bundled CLIP-trained model opens from the Open menu with prompt queries. A chip keeps the
 * keyboard focus when it is toggled. */
static void
test_explore_model_title (void)
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.TestTitle", G_APPLICATION_NON_UNIQUE);
  g_autofree char *empty = g_dir_make_tmp ("wp-test-gui-empty-XXXXXX", NULL);
  WpWindow        *window = explore_window (application);
  GtkToggleButton *chip;

  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (window)), ==,
                   "wordpatch — model · FILIP · step 3000");
  g_assert_cmpstr (gtk_label_get_text (window_child (window, "subtitle_label")), ==,
                   "model · FILIP · step 3000");
  wp_window_open_model (window, empty);
  g_assert_true (g_str_has_prefix (wp_window_get_status (window), empty));
  g_assert_nonnull (strstr (wp_window_get_status (window), "not a model folder"));
  g_assert_nonnull (strstr (wp_window_get_status (window), "config.json"));
  g_assert_null (strstr (wp_window_get_status (window), "Failed to open"));
  g_assert_cmpstr (gtk_label_get_text (window_child (window, "subtitle_label")), ==,
                   "model · FILIP · step 3000");
  g_assert_true (gtk_icon_theme_has_icon (
    gtk_icon_theme_get_for_display (gtk_widget_get_display (GTK_WIDGET (window))),
    "org.wordpatch.App"));

  /* The bundled CLIP-trained model: named so, and asked with prompts. */
  g_assert_true (
    gtk_widget_activate_action (GTK_WIDGET (window), "win.open-bundled", "s", "model-clip"));
  g_assert_true (wait_idle (window));
  g_assert_true (g_str_has_prefix (gtk_window_get_title (GTK_WINDOW (window)),
                                   "wordpatch — model-clip · CLIP · step "));
  g_assert_cmpint (shown_figure (window)->maps->query, ==, WP_QUERY_PROMPT);

  /* An open_clip folder (no config.json, no model.safetensors) opens as any model does. */
  {
    g_autofree char *open_clip = g_build_filename (empty, "open-clip-model", NULL);
    g_autofree char *bundled = wp_model_find_default ();
    g_autoptr (GError) error = NULL;
    WpModel *model = wp_model_load (bundled, &error);

    g_assert_no_error (error);
    /* As a checkpoint trained elsewhere: no objective recorded. */
    model->config.objective = NULL;
    g_assert_true (
      wp_model_save_format (model, open_clip, WP_MODEL_FORMAT_OPEN_CLIP, WP_DTYPE_F16, &error));
    g_assert_no_error (error);
    wp_model_free (model);
    wp_window_open_model (window, open_clip);
    g_assert_true (wait_idle (window));
    g_assert_true (g_str_has_prefix (gtk_label_get_text (window_child (window, "subtitle_label")),
                                     "open-clip-model · open_clip · step 3000"));
    assert_mentions (gtk_widget_get_tooltip_text (window_child (window, "subtitle_label")),
                     "(open_clip folder, F16");
    g_assert_nonnull (shown_figure (window)->maps);
    remove_tree (open_clip);
  }

  wp_window_set_caption (window, "a red circle");
  g_assert_true (wait_idle (window));
  chip = find_chip (window, "circle");
  g_assert_nonnull (chip);
  gtk_widget_grab_focus (GTK_WIDGET (chip));
  gtk_toggle_button_set_active (chip, TRUE);
  run_loop_for (100);
  g_assert_true (gtk_window_get_focus (GTK_WINDOW (window)) == GTK_WIDGET (chip));
  /* New maps for the same words keep the chips. */
  wp_window_set_caption (window, "a red circle ");
  g_assert_true (wait_idle (window));
  g_assert_true (find_chip (window, "circle") == chip);
  g_assert_true (gtk_toggle_button_get_active (chip));

  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_rmdir (empty);
}

/* The share of pixels of a raster within tolerance of rgb. */
static int
count_in_texture (GdkTexture *texture,
                  guint32     rgb,
                  int         tolerance)
{
  const int          width = gdk_texture_get_width (texture);
  const int          height = gdk_texture_get_height (texture);
  g_autofree guint8 *data = g_new (guint8, (gsize) width * height * 4);
  int                n = 0;

  gdk_texture_download (texture, data, (gsize) width * 4);
  for (int i = 0; i < width * height; i++) {
    /* Cairo's ARGB32 in memory: blue, green, red, alpha. */
    const guint8 *px = data + (gsize) i * 4;

    n += ABS (px[2] - (int) (rgb >> 16)) <= tolerance &&
         ABS (px[1] - (int) ((rgb >> 8) & 0xff)) <= tolerance &&
         ABS (px[0] - (int) (rgb & 0xff)) <= tolerance;
  }
  return n;
}

static gboolean
chooser_named (gpointer dialog)
{
  g_autoptr (GFile) file = gtk_file_chooser_get_file (dialog);
  g_autofree char *base = file != NULL ? g_file_get_basename (file) : NULL;

  return base != NULL && strchr (base, '.') != NULL;
}

static const char *wanted_folder;
static const char *wanted_file;

static gboolean
chooser_has_wanted_file (gpointer dialog)
{
  g_autoptr (GFile) file = gtk_file_chooser_get_file (dialog);
  g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

  return g_strcmp0 (path, wanted_file) == 0;
}

static gboolean
chooser_in_folder (gpointer dialog)
{
  g_autoptr (GFile) folder = gtk_file_chooser_get_current_folder (dialog);
  g_autofree char *path = folder != NULL ? g_file_get_path (folder) : NULL;

  return g_strcmp0 (path, wanted_folder) == 0;
}

static gboolean
no_file_chooser (gpointer data)
{
  return find_file_chooser () == NULL;
}

/* Whether the dialog says, in a label styled as an error, why it refused a name. */
static gboolean
dialog_shows_error (gpointer dialog)
{
  GtkWidget *stack[256];
  int        n = 0;

  stack[n++] = dialog;
  while (n > 0) {
    GtkWidget *widget = stack[--n];

    if (GTK_IS_LABEL (widget) && gtk_widget_has_css_class (widget, "error") &&
        gtk_widget_get_visible (widget) &&
        strstr (gtk_label_get_text (GTK_LABEL (widget)), ".png, .svg or .pdf") != NULL)
      return TRUE;
    for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL && n < 256;
         child = gtk_widget_get_next_sibling (child))
      stack[n++] = child;
  }
  return FALSE;
}

/* Picks the dialog's i-th format, as its picker does. */
static void
set_chooser_filter (GtkFileChooser *dialog,
                    guint           i)
{
  g_autoptr (GListModel) filters = gtk_file_chooser_get_filters (dialog);
  g_autoptr (GtkFileFilter) filter = g_list_model_get_item (filters, i);

  gtk_file_chooser_set_filter (dialog, filter);
}

/* Export: SVG draws patches as blocks, as the screen does, and SVG and PDF carry the provenance
 * PNG does, the PNG also the command that draws it again; files get the umask's permissions.
 * The dialog offers a name, its format picker sets the extension, and a name in another format
 * is refused before the dialog closes. */
static void
test_explore_export (void)
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.TestExport", G_APPLICATION_NON_UNIQUE);
  g_autofree char *tmp_dir = g_dir_make_tmp ("wp-test-gui-export-XXXXXX", NULL);
  g_autofree char *png = g_build_filename (tmp_dir, "fig.png", NULL);
  g_autofree char *svg = g_build_filename (tmp_dir, "fig.svg", NULL);
  g_autofree char *pdf = g_build_filename (tmp_dir, "fig.pdf", NULL);
  g_autofree char *chosen = g_build_filename (tmp_dir, "chosen.pdf", NULL);
  g_autofree char *jpg = g_build_filename (tmp_dir, "fig.jpg", NULL);
  g_autoptr (GError) error = NULL;
  WpWindow    *window = explore_window (application);
  const mode_t old_umask = umask (022);
  GStatBuf     st;

  wp_window_set_caption (window, "a blue circle");
  g_assert_true (wait_idle (window));
  g_assert_true (wp_window_select_word (window, "circle"));
  gtk_range_set_value (window_child (window, "opacity_scale"), 1.0);
  g_assert_true (wp_window_export (window, png, 900, 600, &error));
  g_assert_no_error (error);
  g_assert_true (wp_window_export (window, svg, 900, 600, &error));
  g_assert_no_error (error);
  g_assert_true (wp_window_export (window, pdf, 900, 600, &error));
  g_assert_no_error (error);
  g_assert_true (file_contains (png, "wordpatch-cli heatmap"));
  g_assert_true (file_contains (png, "--tokens 'circle'"));
  g_assert_true (file_contains (svg, "<wordpatch:entry key=\"wordpatch.caption\">a blue circle<"));
  g_assert_true (file_contains (svg, "<wordpatch:entry key=\"wordpatch.model_sha256\">"));
  g_assert_true (file_contains (pdf, "wordpatch.caption=a blue circle"));
  g_assert_true (file_contains (pdf, "wordpatch.model_sha256="));
  for (int f = 0; f < 3; f++) {
    g_assert_cmpint (g_stat (f == 0 ? png : f == 1 ? svg
                                                   : pdf,
                             &st),
                     ==, 0);
    g_assert_cmpint (st.st_mode & 0777, ==, 0644);
  }
  umask (old_umask);

  /* Blocks: whole patches in the colour map's end colours, not a blur between patch centres. */
  {
    g_autoptr (GFile) file = g_file_new_for_path (svg);
    g_autoptr (GdkTexture) texture = gdk_texture_new_from_file (file, &error);

    if (texture == NULL) {
      g_test_skip ("no SVG loader for GdkTexture here");
    } else {
      g_autoptr (WpImage) drawn = wp_image_load (png, NULL);
      const int blocky_png = count_colour (drawn, 0xfde725);

      g_assert_cmpint (count_in_texture (texture, 0xfde725, 3), >, blocky_png / 2);
      g_assert_cmpint (count_in_texture (texture, 0xfde725, 3), >, 1000);
    }
    g_clear_error (&error);
  }

  /* The dialog: a name made from the model, caption and method; the picker sets the extension;
   * a .jpg is refused and the dialog stays; without an extension the picker's is taken. */
  {
    g_autoptr (GFile) folder = g_file_new_for_path (tmp_dir);
    GtkFileChooser  *dialog;
    g_autofree char *name = NULL;

    wanted_folder = tmp_dir;
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.export", NULL));
    dialog = GTK_FILE_CHOOSER (find_file_chooser ());
    g_assert_nonnull (dialog);
    name = gtk_file_chooser_get_current_name (dialog);
    g_assert_cmpstr (name, ==, "model_a-blue-circle_filip.png");
    set_chooser_filter (dialog, 1);
    g_free (name);
    name = gtk_file_chooser_get_current_name (dialog);
    g_assert_cmpstr (name, ==, "model_a-blue-circle_filip.svg");
    g_assert_true (gtk_file_chooser_set_current_folder (dialog, folder, &error));
    g_assert_no_error (error);
    g_assert_true (wait_for (chooser_in_folder, dialog));
    gtk_file_chooser_set_current_name (dialog, "fig.jpg");
    g_assert_true (wait_for (chooser_named, dialog));
    gtk_dialog_response (GTK_DIALOG (dialog), GTK_RESPONSE_ACCEPT);
    /* The dialog checks the folder before it answers, on the main loop. */
    g_assert_true (wait_for (dialog_shows_error, dialog));
    g_assert_true (find_file_chooser () == GTK_WINDOW (dialog));
    g_assert_false (g_file_test (jpg, G_FILE_TEST_EXISTS));
    set_chooser_filter (dialog, 2);
    {
      g_autofree char *bare = g_build_filename (tmp_dir, "chosen", NULL);

      g_assert_true (gtk_file_chooser_set_current_folder (dialog, folder, &error));
      g_assert_no_error (error);
      gtk_file_chooser_set_current_name (dialog, "chosen");
      wanted_file = bare;
      g_assert_true (wait_for (chooser_has_wanted_file, dialog));
    }
    gtk_dialog_response (GTK_DIALOG (dialog), GTK_RESPONSE_ACCEPT);
    g_assert_true (wait_for (no_file_chooser, NULL));
    g_assert_cmpstr (wp_window_get_status (window), ==, chosen);
    g_assert_true (g_file_test (chosen, G_FILE_TEST_EXISTS));
    g_assert_true (file_contains (chosen, "%PDF"));
  }

  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  remove_tree (tmp_dir);
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

/* An 800 x 600 window: the Explore page and the header fit, and nothing the page does (a long
 * caption, comparing methods or models, label maps, the stale mark) makes the window grow. */
static void
test_explore_small_window (void)
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.TestSmall", G_APPLICATION_NON_UNIQUE);
  g_autofree char *bundled = wp_model_find_default ();
  WpWindow        *window;
  GtkWidget       *page, *header;
  int              min_width, min_height, header_height, nat, width, height;

  g_assert_true (g_application_register (G_APPLICATION (application), NULL, NULL));
  window = wp_window_new (application);
  gtk_window_set_default_size (GTK_WINDOW (window), 800, 600);
  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (wait_idle (window));
  run_loop_for (200);
  page = gtk_stack_get_child_by_name (window_child (window, "stack"), "explore");
  header = gtk_window_get_titlebar (GTK_WINDOW (window));
  gtk_widget_measure (page, GTK_ORIENTATION_HORIZONTAL, -1, &min_width, &nat, NULL, NULL);
  gtk_widget_measure (page, GTK_ORIENTATION_VERTICAL, 800, &min_height, &nat, NULL, NULL);
  gtk_widget_measure (header, GTK_ORIENTATION_VERTICAL, 800, &header_height, &nat, NULL, NULL);
  g_assert_cmpint (min_width, <=, 800);
  g_assert_cmpint (header_height + min_height, <=, 600);
  gtk_widget_measure (header, GTK_ORIENTATION_HORIZONTAL, -1, &min_width, &nat, NULL, NULL);
  g_assert_cmpint (min_width, <=, 800);
  save_screenshot (window, "explore", "explore-800x600");

  width = gtk_widget_get_width (GTK_WIDGET (window));
  height = gtk_widget_get_height (GTK_WIDGET (window));
  wp_window_set_caption (window, "a small green star above a blue circle beside a red square "
                                 "under a yellow triangle next to a purple zebra and an orange "
                                 "quokka on the left of a grey pentagon");
  g_assert_true (wait_idle (window));
  gtk_check_button_set_active (window_child (window, "side_by_side_check"), TRUE);
  g_assert_true (wait_idle (window));
  gtk_toggle_button_set_active (window_child (window, "labels_toggle"), TRUE);
  wp_window_compare_model (window, bundled);
  g_assert_true (wait_idle (window));
  run_loop_for (300);
  g_assert_cmpint (gtk_widget_get_width (GTK_WIDGET (window)), ==, width);
  g_assert_cmpint (gtk_widget_get_height (GTK_WIDGET (window)), ==, height);
  save_screenshot (window, "explore", "explore-800x600-long-caption");

  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* ---- fine-tuning from the app ---- */

static void
set_spin (WpTrainView *view,
          const char  *name,
          double       value)
{
  GObject *spin = gtk_widget_get_template_child (GTK_WIDGET (view), WP_TYPE_TRAIN_VIEW, name);

  g_assert_nonnull (spin);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (spin), value);
}

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

static gint64 wanted_step;

/* While a run prepares, the progress shown is still the previous run's. */
static gboolean
reached_step (gpointer session)
{
  return (wp_train_session_get_state (session) != WP_TRAIN_STATE_PREPARING &&
          wp_train_session_get_progress (session)->step >= wanted_step) ||
         !wp_train_session_is_active (session);
}

/* Runs the main loop until training reaches step, and returns the largest gap between ticks of a
 * 5 ms timer meanwhile, in ms: the longest the window was kept from answering. */
static double
largest_gap_until (WpTrainSession *session,
                   gint64          step)
{
  Ticks       ticks = { 0 };
  const guint source = g_timeout_add (5, tick_cb, &ticks);

  wanted_step = step;
  g_assert_true (wait_for (reached_step, session));
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

static void run_loop_for (int milliseconds);

/* With WP_TEST_SCREENSHOTS=DIR, the window as drawn goes to DIR/name.png, to look at. */
static void
save_screenshot (WpWindow   *window,
                 const char *page,
                 const char *name)
{
  const char *dir = g_getenv ("WP_TEST_SCREENSHOTS");
  GObject    *stack =
    gtk_widget_get_template_child (GTK_WIDGET (window), WP_TYPE_WINDOW, "stack");
  GtkWidget       *widget = GTK_WIDGET (window);
  GdkPaintable    *paintable;
  GtkSnapshot     *snapshot;
  GskRenderNode   *node;
  GdkTexture      *texture;
  g_autofree char *path = NULL;

  if (dir == NULL)
    return;
  gtk_stack_set_visible_child_name (GTK_STACK (stack), page);
  run_loop_for (300);
  paintable = gtk_widget_paintable_new (widget);
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, gtk_widget_get_width (widget),
                          gtk_widget_get_height (widget));
  node = gtk_snapshot_free_to_node (snapshot);
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (gtk_widget_get_native (widget)),
                                         node, NULL);
  path = g_strdup_printf ("%s/%s.png", dir, name);
  gdk_texture_save_to_png (texture, path);
  g_object_unref (texture);
  gsk_render_node_unref (node);
  g_object_unref (paintable);
  gtk_stack_set_visible_child_name (GTK_STACK (stack), "explore");
}

/* Keeps the main loop running (the test's own waiting must not count as a stall). */
static void
run_loop_for (int milliseconds)
{
  const gint64 end = g_get_monotonic_time () + milliseconds * 1000;

  while (g_get_monotonic_time () < end) {
    g_main_context_iteration (NULL, FALSE);
    if (!g_main_context_pending (NULL))
      g_usleep (2000);
  }
}

static gboolean
view_idle (gpointer view)
{
  return wp_train_view_is_idle (view);
}

static gboolean
is_paused (gpointer session)
{
  return wp_train_session_get_state (session) == WP_TRAIN_STATE_PAUSED;
}

static gboolean
is_inactive (gpointer session)
{
  return !wp_train_session_is_active (session);
}

static gboolean
window_idle (gpointer window)
{
  return wp_window_is_idle (window);
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
  WpShapesOptions options;
  WpWindow       *window;
  WpTrainView    *view;
  WpTrainSession *session;
  const double   *steps, *values;
  guint           n;
  gint64          paused_step;
  double          gap_alone, gap_busy;
  gboolean        live;

  wp_shapes_options_init (&options);
  options.seed = 5;
  g_assert_true (wp_shapes_write_dataset (data_dir, 64, &options, &error));
  g_assert_no_error (error);

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
  wanted_step = 3;
  g_assert_true (wait_for (reached_step, session));
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
  wanted_step = 2;
  g_assert_true (wait_for (reached_step, session));
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

/* ---- the Fine-Tune page's state, a run continued, the page at 800x600 ---- */

static GtkWidget *
train_child (WpTrainView *view,
             const char  *name)
{
  GObject *child = gtk_widget_get_template_child (GTK_WIDGET (view), WP_TYPE_TRAIN_VIEW, name);

  g_assert_nonnull (child);
  return GTK_WIDGET (child);
}

static double
spin_value (WpTrainView *view,
            const char  *name)
{
  return gtk_spin_button_get_value (GTK_SPIN_BUTTON (train_child (view, name)));
}

static void
set_objective (WpTrainView *view,
               WpObjective  objective)
{
  gtk_drop_down_set_selected (GTK_DROP_DOWN (train_child (view, "objective_dropdown")), objective);
}

/* A window of 800x600, as on a small screen, that must stay so. */
static WpWindow *
new_small_window (GtkApplication *application)
{
  WpWindow *window = wp_window_new (application);

  gtk_window_set_default_size (GTK_WINDOW (window), 800, 600);
  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (wait_idle (window));
  return window;
}

/* The window stays 800x600 on screen whatever the page shows. The header bar (the Explore
 * page's tools) may ask for more width than that; the window is then as wide as it asks (with
 * the frame GTK draws around it), and no wider. */
static void
assert_window_size (WpWindow *window)
{
  GdkSurface *surface;
  int         titlebar_width, frame_width;

  run_loop_for (100);
  surface = gtk_native_get_surface (GTK_NATIVE (window));
  frame_width = gdk_surface_get_width (surface) - gtk_widget_get_width (GTK_WIDGET (window));
  gtk_widget_measure (gtk_window_get_titlebar (GTK_WINDOW (window)), GTK_ORIENTATION_HORIZONTAL,
                      -1, &titlebar_width, NULL, NULL, NULL);
  g_assert_cmpint (gdk_surface_get_width (surface), ==, MAX (800, titlebar_width + frame_width));
  g_assert_cmpint (gdk_surface_get_height (surface), ==, 600);
}

/* Start lies inside the window and no scrolled window holds it: it shows without scrolling. */
static void
assert_start_shows (WpWindow    *window,
                    WpTrainView *view)
{
  GtkWidget      *start = train_child (view, "start_button");
  graphene_rect_t bounds;

  g_assert_true (gtk_widget_get_mapped (start));
  g_assert_true (gtk_widget_compute_bounds (start, GTK_WIDGET (window), &bounds));
  g_assert_cmpfloat (bounds.origin.x, >=, 0);
  g_assert_cmpfloat (bounds.origin.y, >=, 0);
  g_assert_cmpfloat (bounds.origin.x + bounds.size.width, <=,
                     gtk_widget_get_width (GTK_WIDGET (window)));
  g_assert_cmpfloat (bounds.origin.y + bounds.size.height, <=,
                     gtk_widget_get_height (GTK_WIDGET (window)));
  for (GtkWidget *w = start; w != NULL; w = gtk_widget_get_parent (w))
    g_assert_false (GTK_IS_SCROLLED_WINDOW (w));
}

static void
show_page (WpWindow   *window,
           const char *page)
{
  GObject *stack = gtk_widget_get_template_child (GTK_WIDGET (window), WP_TYPE_WINDOW, "stack");

  gtk_stack_set_visible_child_name (GTK_STACK (stack), page);
  run_loop_for (100);
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
  WpShapesOptions options;
  WpWindow       *window;
  WpTrainView    *view;
  WpTrainSession *session;
  const double   *steps, *values;
  guint           n_loss, n_checkpoints_written = 0;
  gint64          stopped_step;
  int             opened = 0;

  wp_shapes_options_init (&options);
  options.seed = 11;
  g_assert_true (wp_shapes_write_dataset (data_dir, 48, &options, &error));
  g_assert_no_error (error);
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
  g_assert_false (gtk_widget_get_sensitive (train_child (view, "filip_patches_spin")));
  set_objective (view, WP_OBJECTIVE_FILIP);
  g_assert_false (gtk_widget_get_sensitive (train_child (view, "lambda_fine_spin")));
  g_assert_true (gtk_widget_get_sensitive (train_child (view, "filip_global_spin")));
  set_objective (view, WP_OBJECTIVE_SPARC);
  g_assert_true (gtk_widget_get_sensitive (train_child (view, "lambda_global_spin")));
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
  wanted_step = 7;
  g_assert_true (wait_for (reached_step, session));
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
  wanted_step = stopped_step + 1;
  g_assert_true (wait_for (reached_step, session));
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
  WpShapesOptions options;
  WpWindow       *window;
  WpTrainView    *view;
  WpTrainSession *session;
  const double   *steps, *values;
  guint           n;

  g_assert_nonnull (model_dir);
  wp_shapes_options_init (&options);
  options.seed = 17;
  g_assert_true (wp_shapes_write_dataset (data_dir, 128, &options, &error));
  g_assert_no_error (error);
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
  wanted_step = 2;
  g_assert_true (wait_for (reached_step, session));
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
  ChildWait       wait = { g_main_loop_new (NULL, FALSE), FALSE };
  WpShapesOptions options;
  gint64          closed_step = -1, closed_at;
  guint           timeout;
  double          seconds;

  wp_shapes_options_init (&options);
  options.seed = 7;
  g_assert_true (wp_shapes_write_dataset (data_dir, 128, &options, &error));
  g_assert_no_error (error);

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
  g_autofree char *cache = g_dir_make_tmp ("wp-test-gui-cache-XXXXXX", NULL);
  int              status;

  /* Pasted images go to the cache folder: a temporary one here, not the user's. */
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  /* On Xvfb, GL is software rendering that competes with what is measured; the cairo renderer
   * is the one the measured figures are for, unless the environment names another. */
  g_setenv ("GSK_RENDERER", "cairo", FALSE);
  /* The file chooser keeps settings and recently used files: in memory, under a name. */
  g_setenv ("GSETTINGS_BACKEND", "memory", FALSE);
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
  g_test_add_func ("/gui/explore/methods", test_explore_methods);
  g_test_add_func ("/gui/explore/compare-methods", test_explore_compare_methods);
  g_test_add_func ("/gui/explore/readout", test_explore_readout);
  g_test_add_func ("/gui/explore/repeated-words", test_explore_repeated_words);
  g_test_add_func ("/gui/explore/export", test_explore_export);
  g_test_add_func ("/gui/explore/model-title", test_explore_model_title);
  g_test_add_func ("/gui/explore/small-window", test_explore_small_window);
  g_test_add_func ("/gui/command-line", test_command_line);
  g_test_add_func ("/gui/fine-tune", test_fine_tune);
  g_test_add_func ("/gui/fine-tune/small-window", test_fine_tune_small_window);
  g_test_add_func ("/gui/fine-tune/continue", test_fine_tune_continue);
  g_test_add_func ("/gui/fine-tune/box-term", test_fine_tune_box_term);
  g_test_add_data_func ("/gui/exit/during-training", &exit_by_dialog, test_exit_during_training);
  g_test_add_data_func ("/gui/exit/quit-during-training", &exit_by_quit,
                        test_exit_during_training);
  status = g_test_run ();
  remove_tree (cache);
  return status;
}
