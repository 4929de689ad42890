/* wp-file-chooser.h: asking the user for a file or a folder (GtkFileChooserNative: the desktop's
 * own dialog where a portal offers one), then acting on the answer. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Called with the path chosen; not called when the user cancels. */
typedef void (*WpFileChosenFunc) (GtkWidget  *widget,
                                  const char *path,
                                  gpointer    user_data);

/* Shows a dialog over widget's window; func (widget, path, user_data) follows when the user
 * accepts a local file. */
void wp_file_chooser_run (GtkWidget           *widget,
                          const char          *title,
                          GtkFileChooserAction action,
                          WpFileChosenFunc     func,
                          gpointer             user_data);

G_END_DECLS
