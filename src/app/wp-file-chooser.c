#define G_LOG_DOMAIN "wp-file-chooser"

#include "wp-file-chooser.h"

#include <string.h>

#include "figure.h"

typedef struct {
  GtkWidget       *widget;
  WpFileChosenFunc func;
  gpointer         user_data;
} Request;

static void
request_free (gpointer  request,
              GClosure *closure)
{
  g_free (request);
}

static void
response_cb (GtkNativeDialog *dialog,
             int              response,
             Request         *request)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
    g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

    if (path != NULL)
      request->func (request->widget, path, request->user_data);
  }
  g_object_unref (dialog);
}

void
wp_file_chooser_run (GtkWidget           *widget,
                     const char          *title,
                     GtkFileChooserAction action,
                     WpFileChosenFunc     func,
                     gpointer             user_data)
{
  GtkRoot              *root = gtk_widget_get_root (widget);
  GtkFileChooserNative *dialog = gtk_file_chooser_native_new (
    title, GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, action, NULL, NULL);
  Request *request = g_new (Request, 1);

  request->widget = widget;
  request->func = func;
  request->user_data = user_data;
  g_signal_connect_data (dialog, "response", G_CALLBACK (response_cb), request, request_free, 0);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

/* ---- saving a figure ---- */

static const struct {
  const char *title;
  const char *extension;
} figure_formats[] = {
  { "PNG image (how it was made in its metadata)", "png" },
  { "SVG drawing", "svg" },
  { "PDF document", "pdf" },
};

typedef struct {
  GtkWidget       *widget;
  WpFileChosenFunc func;
  gpointer         user_data;
  GtkLabel        *error_label;
} SaveRequest;

static const char *
filter_extension (GtkFileChooser *chooser)
{
  GtkFileFilter *filter = gtk_file_chooser_get_filter (chooser);

  return filter != NULL ? g_object_get_data (G_OBJECT (filter), "wp-extension") : NULL;
}

/* name with its extension replaced by (or, without one, followed by) extension. */
static char *
with_extension (const char *name,
                const char *extension)
{
  const char *dot = strrchr (name, '.');

  if (dot == NULL || dot == name)
    return g_strdup_printf ("%s.%s", name, extension);
  return g_strdup_printf ("%.*s.%s", (int) (dot - name), name, extension);
}

/* The format picker sets the extension of the name typed. */
static void
filter_changed_cb (GtkFileChooser *chooser,
                   GParamSpec     *pspec,
                   SaveRequest    *request)
{
  const char      *extension = filter_extension (chooser);
  g_autofree char *name = gtk_file_chooser_get_current_name (chooser);
  g_autofree char *renamed = NULL;

  if (extension == NULL || name == NULL || name[0] == '\0')
    return;
  renamed = with_extension (name, extension);
  if (strcmp (renamed, name) != 0)
    gtk_file_chooser_set_current_name (chooser, renamed);
}

static void
save_response_cb (GtkDialog   *dialog,
                  int          response,
                  SaveRequest *request)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
    g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;
    g_autofree char *base = path != NULL ? g_path_get_basename (path) : NULL;

    if (path == NULL)
      return;
    /* No extension: the one the picker shows. */
    if (strchr (base, '.') == NULL && filter_extension (GTK_FILE_CHOOSER (dialog)) != NULL) {
      char *extended =
        g_strdup_printf ("%s.%s", path, filter_extension (GTK_FILE_CHOOSER (dialog)));

      g_free (path);
      path = extended;
    }
    if (!wp_figure_format_supported (path)) {
      g_autofree char *message =
        g_strdup_printf ("%s: the figure's name must end in .png, .svg or .pdf", base);

      gtk_label_set_text (request->error_label, message);
      gtk_widget_set_visible (GTK_WIDGET (request->error_label), TRUE);
      return;
    }
    request->func (request->widget, path, request->user_data);
  }
  gtk_window_destroy (GTK_WINDOW (dialog));
}

void
wp_file_chooser_save_figure (GtkWidget       *widget,
                             const char      *title,
                             const char      *folder,
                             const char      *name,
                             WpFileChosenFunc func,
                             gpointer         user_data)
{
  GtkRoot   *root = gtk_widget_get_root (widget);
  GtkWidget *dialog = gtk_file_chooser_dialog_new (
    title, GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, GTK_FILE_CHOOSER_ACTION_SAVE,
    "_Cancel", GTK_RESPONSE_CANCEL, "_Export", GTK_RESPONSE_ACCEPT, NULL);
  SaveRequest *request = g_new0 (SaveRequest, 1);
  GtkWidget   *error_label = gtk_label_new (NULL);
  const char  *dot = strrchr (name, '.');

  request->widget = widget;
  request->func = func;
  request->user_data = user_data;
  request->error_label = GTK_LABEL (error_label);
  gtk_window_set_modal (GTK_WINDOW (dialog), TRUE);
  gtk_dialog_set_default_response (GTK_DIALOG (dialog), GTK_RESPONSE_ACCEPT);
  for (gsize i = 0; i < G_N_ELEMENTS (figure_formats); i++) {
    GtkFileFilter *filter = gtk_file_filter_new ();

    gtk_file_filter_set_name (filter, figure_formats[i].title);
    gtk_file_filter_add_suffix (filter, figure_formats[i].extension);
    g_object_set_data (G_OBJECT (filter), "wp-extension", (gpointer) figure_formats[i].extension);
    gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (dialog), filter);
    if (dot != NULL && g_ascii_strcasecmp (dot + 1, figure_formats[i].extension) == 0)
      gtk_file_chooser_set_filter (GTK_FILE_CHOOSER (dialog), filter);
    g_object_unref (filter);
  }
  if (folder != NULL) {
    g_autoptr (GFile) dir = g_file_new_for_path (folder);

    gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (dialog), dir, NULL);
  }
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (dialog), name);
  gtk_widget_add_css_class (error_label, "error");
  gtk_label_set_wrap (GTK_LABEL (error_label), TRUE);
  gtk_widget_set_visible (error_label, FALSE);
  gtk_widget_set_margin_start (error_label, 12);
  gtk_widget_set_margin_end (error_label, 12);
  gtk_box_append (GTK_BOX (gtk_dialog_get_content_area (GTK_DIALOG (dialog))), error_label);
  g_signal_connect (dialog, "notify::filter", G_CALLBACK (filter_changed_cb), request);
  g_signal_connect_data (dialog, "response", G_CALLBACK (save_response_cb), request, request_free,
                         0);
  gtk_window_present (GTK_WINDOW (dialog));
}
