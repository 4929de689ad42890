/* wp-file-chooser.h: asking the user for a file or a folder, then acting on the answer. Opening
 * uses GtkFileChooserNative (the desktop's own dialog where a portal offers one); saving a figure
 * uses GTK's own dialog, which can refuse a name before it closes. */
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

/* Asks where to save a figure, offering name (its extension picks the format first) in folder
 * (NULL: the dialog's choice). A format picker (PNG, SVG, PDF) sets the name's extension; a name
 * without one gets the picker's; a name in any other format is refused with a message in the
 * dialog, which stays open. func follows with the path accepted. */
void wp_file_chooser_save_figure (GtkWidget       *widget,
                                  const char      *title,
                                  const char      *folder,
                                  const char      *name,
                                  WpFileChosenFunc func,
                                  gpointer         user_data);

G_END_DECLS
