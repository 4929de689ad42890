/* test-gui.c: the real window under a display (Xvfb in CI): it opens on the bundled model and
 * demo scene, follows a typed caption, shows one selected word, exports the view, and reports a
 * bad image in the window instead of crashing. */
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <string.h>

#include "wordpatch/wordpatch.h"
#include "wp-window.h"

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

static int
count_colour (const WpImage *image,
              guint32        rgb)
{
  int n = 0;

  for (int i = 0; i < image->width * image->height; i++) {
    const guint8 *px = image->rgb + (gsize) i * 3;

    n += ABS (px[0] - (int) (rgb >> 16)) <= 3 && ABS (px[1] - (int) ((rgb >> 8) & 0xff)) <= 3 && ABS (px[2] - (int) (rgb & 0xff)) <= 3;
  }
  return n;
}

static void
test_window (void)
{
  g_autoptr (GtkApplication) application = gtk_application_new ("org.wordpatch.Test", G_APPLICATION_NON_UNIQUE);
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
    const char *keys[] = { "wordpatch.model_sha256", "wordpatch.words", "wordpatch.caption", "a blue circle" };

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

int
main (int   argc,
      char *argv[])
{
  g_autofree char *cache = g_dir_make_tmp ("wp-test-gui-cache-XXXXXX", NULL);
  g_autofree char *pasted_dir = g_build_filename (cache, "wordpatch", NULL);
  g_autofree char *pasted = g_build_filename (pasted_dir, "pasted.png", NULL);
  int              status;

  /* Pasted images go to the cache folder: a temporary one here, not the user's. */
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  gtk_test_init (&argc, &argv, NULL);
  g_test_add_func ("/gui/window", test_window);
  status = g_test_run ();
  g_unlink (pasted);
  g_rmdir (pasted_dir);
  g_rmdir (cache);
  return status;
}
