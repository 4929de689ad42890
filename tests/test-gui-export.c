/* test-gui-export.c: exporting the Explore page's view from the real window under a display (Xvfb
 * in CI): PNG, SVG and PDF with their provenance, the files' permissions, and the export dialog's
 * name, format picker and refusal of a name in another format. */
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <string.h>

#include "cli-harness.h"
#include "gui-util.h"
#include "shapes.h"
#include "wordpatch/wordpatch.h"
#include "wp-application.h"
#include "wp-image-view.h"
#include "wp-window.h"
#include "wp-word-bar.h"

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
    /* The folder is the last export's, set before the dialog is shown: set afterwards, GTK's own
     * start-up folder may still be loading and win. */
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

static void
add_tests (void)
{
  g_test_add_func ("/gui/explore/export", test_explore_export);
}

int
main (int   argc,
      char *argv[])
{
  return gui_test_main (argc, argv, add_tests);
}
