/* wp-window.h: the main window. Explore: an image, a caption, and the caption's word maps over
 * the image by any map method (or several side by side), optionally compared with a second
 * model. Fine-tune: the training view (wp-train-view.h), whose weight snapshots the explore page
 * follows live or scrubs through.
 *
 * Work runs on worker threads (GTask), the newest request winning and the one it replaces
 * cancelled: the image's features once per image, model, view and set of methods; the caption's
 * maps over them at every edit (text tower, then the maps; gradient methods take a backward pass
 * per word). Meanwhile the previous maps stay drawn, marked stale. Errors (an unreadable image, a
 * folder that is no model) are shown in the window. */
#pragma once

#include <gtk/gtk.h>

#include "wp-train-view.h"

G_BEGIN_DECLS

#define WP_TYPE_WINDOW (wp_window_get_type ())

G_DECLARE_FINAL_TYPE (WpWindow, wp_window, WP, WINDOW, GtkApplicationWindow)

WpWindow *wp_window_new (GtkApplication *application);

/* Loads the model folder (or file) and recomputes; errors are shown in the window. */
void wp_window_open_model (WpWindow   *self,
                           const char *path);
/* Compares with the model at path (the baseline A; the open model is B), or stops comparing for
 * NULL. */
void     wp_window_compare_model (WpWindow   *self,
                                  const char *path);
gboolean wp_window_is_comparing (WpWindow *self);
void     wp_window_open_image (WpWindow   *self,
                               const char *path);
void     wp_window_set_caption (WpWindow   *self,
                                const char *caption);
/* Shows this word of the caption ("red", or "red#1" for its second occurrence, as heatmap's
 * --tokens names it), or every word for NULL. */
gboolean wp_window_select_word (WpWindow   *self,
                                const char *word);

/* Shows one BPE piece (0-based) of a word ("red" or "red#1") split into several tokens; FALSE if
 * there is none. */
gboolean wp_window_select_piece (WpWindow   *self,
                                 const char *word,
                                 int         piece);

/* TRUE when no computation is pending: the maps shown are those of the image, caption, models
 * and settings asked for last. */
gboolean    wp_window_is_idle (WpWindow *self);
const char *wp_window_get_status (WpWindow *self);
const char *wp_window_get_scores (WpWindow *self);

/* Writes the figure shown as PNG, SVG or PDF (by extension), width x height, with its provenance
 * (figure.h) and, when the command line can draw it again (weights from files, words rather than
 * BPE pieces), the command that does. The export dialog opens in the last export's folder. */
gboolean wp_window_export (WpWindow   *self,
                           const char *path,
                           int         width,
                           int         height,
                           GError    **error);

WpTrainView *wp_window_get_train_view (WpWindow *self);
/* The step of the weights the explore page shows, and whether it follows training live. */
gint64 wp_window_get_model_step (WpWindow *self,
                                 gboolean *live);
/* The question asked when the window is closed during training, or NULL. */
GtkWidget *wp_window_get_close_dialog (WpWindow *self);

G_END_DECLS
