#define G_LOG_DOMAIN "wp-window"

#include "wp-window-private.h"

#include <string.h>

#include "wp-file-chooser.h"

gboolean
wp_window_export (WpWindow   *self,
                  const char *path,
                  int         width,
                  int         height,
                  GError    **error)
{
  /* What the view shows is what is written. */
  const WpFigure *figure = wp_image_view_get_figure (self->image_view);
  g_autoptr (GHashTable) text = NULL;
  g_autofree char *sha256 = NULL;

  if (figure->maps == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_PENDING, "%s: nothing to export yet", path);
    return FALSE;
  }
  /* Hashed at export only: large models take a moment. */
  sha256 =
    g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) self->model->model->params,
                                 self->model->model->n_params * sizeof (float));
  if (figure->other_maps != NULL) {
    const WpModel *baseline = self->compare_model->model;

    text = wp_figure_new_png_text (figure, baseline, NULL, self->image_path, NULL);
    g_hash_table_insert (text, "wordpatch.model_sha256",
                         g_compute_checksum_for_data (G_CHECKSUM_SHA256,
                                                      (const guchar *) baseline->params,
                                                      baseline->n_params * sizeof (float)));
    g_hash_table_insert (
      text, "wordpatch.compare_model",
      g_strdup (self->model->model->path != NULL ? self->model->model->path : "(unsaved)"));
    g_hash_table_insert (text, "wordpatch.compare_model_sha256", g_steal_pointer (&sha256));
  } else {
    text = wp_figure_new_png_text (figure, self->model->model, sha256, self->image_path, NULL);
  }
  return wp_figure_export (figure, path, width, height, text, error);
}

/* ---- file choosers ---- */

/* The actions that ask for a file first. */
static const struct {
  const char          *action;
  const char          *title;
  GtkFileChooserAction mode;
} choosers[] = {
  { "win.open-image", "Open Image", GTK_FILE_CHOOSER_ACTION_OPEN },
  { "win.open-model", "Open Model Folder", GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER },
  { "win.compare-model", "Compare with a Model Folder (the baseline)",
    GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER },
  { "win.export", "Export Figure (.png, .svg or .pdf)", GTK_FILE_CHOOSER_ACTION_SAVE },
};

static void
file_chosen_cb (GtkWidget  *widget,
                const char *path,
                gpointer    action)
{
  WpWindow *self = WP_WINDOW (widget);

  if (g_strcmp0 (action, "win.open-model") == 0)
    wp_window_open_model (self, path);
  else if (g_strcmp0 (action, "win.compare-model") == 0)
    wp_window_compare_model (self, path);
  else if (g_strcmp0 (action, "win.open-image") == 0)
    wp_window_open_image (self, path);
  else {
    g_autoptr (GError) error = NULL;

    if (!wp_window_export (self, path, 1200, 800, &error))
      wp_window_set_status (self, error->message);
    else
      wp_window_set_status (self, path);
  }
}

static void
chooser_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  for (gsize i = 0; i < G_N_ELEMENTS (choosers); i++) {
    if (strcmp (choosers[i].action, action_name) == 0)
      wp_file_chooser_run (widget, choosers[i].title, choosers[i].mode, file_chosen_cb,
                           (gpointer) choosers[i].action);
  }
}

/* ---- the clipboard ---- */

static void
paste_texture_cb (GObject      *clipboard,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr (WpWindow) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GdkTexture) texture =
    gdk_clipboard_read_texture_finish (GDK_CLIPBOARD (clipboard), result, &error);
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "wordpatch", NULL);
  g_autofree char *path = g_build_filename (dir, "pasted.png", NULL);

  self->pending--;
  if (texture == NULL) {
    wp_window_set_status (self, "the clipboard holds no image");
    return;
  }
  /* The pipeline reads files: the pasted image becomes one in the cache folder. */
  if (g_mkdir_with_parents (dir, 0755) != 0 || !gdk_texture_save_to_png (texture, path)) {
    g_autofree char *message = g_strdup_printf ("%s: cannot save the pasted image", path);

    wp_window_set_status (self, message);
    return;
  }
  wp_window_open_image (self, path);
}

static void
paste_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  GdkClipboard *clipboard = gtk_widget_get_clipboard (widget);

  WP_WINDOW (widget)->pending++;
  gdk_clipboard_read_texture_async (clipboard, NULL, paste_texture_cb, g_object_ref (widget));
}

/* ---- comparison ---- */

/* The weights the fine-tuning run started from (its first snapshot) become the baseline. */
static void
compare_start_action (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  WpWindow        *self = WP_WINDOW (widget);
  WpTrainSession  *session = wp_train_view_get_session (self->train_view);
  g_autofree char *label = NULL;
  WpModelRef      *start;

  if (wp_train_session_get_n_snapshots (session) == 0) {
    wp_window_set_status (self, "no fine-tuning run yet: start one in the Fine-Tune page");
    return;
  }
  start = wp_train_session_get_snapshot (session, 0);
  label = g_strdup_printf ("run start, step %" G_GINT64_FORMAT, start->model->step);
  wp_window_set_compare_model (self, start, label);
}

static void
compare_off_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  wp_window_set_compare_model (WP_WINDOW (widget), NULL, NULL);
}

static void
about_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  static const char *const authors[] = { "The wordpatch developers", NULL };

  gtk_show_about_dialog (GTK_WINDOW (widget), "program-name", "wordpatch", "version", WP_VERSION,
                         "logo-icon-name", "org.wordpatch.App", "comments",
                         "Which image patches does each word of a caption align with? FILIP and "
                         "SPARC, trained and shown in C.",
                         "license-type", GTK_LICENSE_MIT_X11, "authors", authors, NULL);
}

void
wp_window_class_actions_init (WpWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  for (gsize i = 0; i < G_N_ELEMENTS (choosers); i++)
    gtk_widget_class_install_action (widget_class, choosers[i].action, NULL, chooser_action);
  gtk_widget_class_install_action (widget_class, "win.compare-start", NULL, compare_start_action);
  gtk_widget_class_install_action (widget_class, "win.compare-off", NULL, compare_off_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_m, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "win.compare-model", NULL);
  gtk_widget_class_install_action (widget_class, "win.about", NULL, about_action);
  gtk_widget_class_install_action (widget_class, "win.paste-image", NULL, paste_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_v, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "win.paste-image", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, GDK_CONTROL_MASK, "win.open-image",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_m, GDK_CONTROL_MASK, "win.open-model",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F1, 0, "win.about", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_e, GDK_CONTROL_MASK, "win.export",
                                       NULL);
}
