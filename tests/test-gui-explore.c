/* test-gui-explore.c: the Explore page in the real window under a display (Xvfb in CI): the
 * method, query kind and resolution redraw the maps without waiting on them, methods side by side,
 * the read-out under the pointer, repeated words, the model's title, a phone's photo shown upright,
 * and an 800x600 window that never grows. */
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <string.h>

#include "cli-harness.h"
#include "gui-util.h"
#include "shapes.h"
#include "wordpatch/wordpatch.h"
#include "wp-application.h"
#include "wp-image-view.h"
#include "wp-window.h"
#include "wp-word-bar.h"

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

/* The view's drawing as pixels, as the screen shows it once the next frame is drawn. */
static GBytes *
view_pixels (WpWindow *window)
{
  g_autoptr (GdkTexture) texture = NULL;

  run_loop_for (200);
  texture = render_widget (GTK_WIDGET (window_view (window)));
  return gdk_texture_save_to_png_bytes (texture);
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

/* A phone's photo, stored landscape with an EXIF orientation that turns it portrait, is shown and
 * mapped upright. */
static void
test_explore_photo_upright (void)
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.TestUpright", G_APPLICATION_NON_UNIQUE);
  g_autofree char   *tmp_dir = wp_test_make_tmp_dir ("gui-upright");
  g_autofree char   *photo = g_build_filename (tmp_dir, "photo.jpg", NULL);
  g_autofree guint8 *pixels = wp_test_pattern_pixels (40, 24, 3);
  g_autoptr (WpImage) upright = NULL;
  g_autoptr (GError) error = NULL;
  WpWindow      *window = explore_window (application);
  const WpImage *shown;

  wp_test_write_exif_jpeg (photo, pixels, 40, 24, 6, TRUE);
  upright = wp_image_load_upright (photo, &error);
  g_assert_no_error (error);

  wp_window_open_image (window, photo);
  g_assert_true (wait_idle (window));
  shown = shown_figure (window)->image;
  g_assert_cmpint (shown->width, ==, 24);
  g_assert_cmpint (shown->height, ==, 40);
  g_assert_cmpmem (shown->rgb, 24 * 40 * 3, upright->rgb, 24 * 40 * 3);
  g_assert_nonnull (shown_figure (window)->maps);
  save_screenshot (window, "explore", "explore-photo-upright");

  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
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

static void
add_tests (void)
{
  g_test_add_func ("/gui/explore/methods", test_explore_methods);
  g_test_add_func ("/gui/explore/compare-methods", test_explore_compare_methods);
  g_test_add_func ("/gui/explore/readout", test_explore_readout);
  g_test_add_func ("/gui/explore/repeated-words", test_explore_repeated_words);
  g_test_add_func ("/gui/explore/model-title", test_explore_model_title);
  g_test_add_func ("/gui/explore/photo-upright", test_explore_photo_upright);
  g_test_add_func ("/gui/explore/small-window", test_explore_small_window);
}

int
main (int   argc,
      char *argv[])
{
  return gui_test_main (argc, argv, add_tests);
}
