#define G_LOG_DOMAIN "wp-file-chooser"

#include "wp-file-chooser.h"

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
