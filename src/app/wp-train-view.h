/* wp-train-view.h: the app's training page: a form for a fine-tuning run of the open model, the
 * controls (start or continue, pause/resume, stop, evaluate), live curves, the checkpoints on
 * disk, and evaluation before and after. The run itself is a WpTrainSession.
 *
 * The form's settings are the engine's (train_settings.h): its defaults, ranges and help come
 * from the settings table, as the command line's do. Start in an output folder that holds a run
 * offers to continue it from its newest checkpoint (wp_trainer_resume()'s rules: the run keeps
 * its own settings except those a resumed run may change). */
#pragma once

#include <gtk/gtk.h>

#include "wp-model-ref.h"
#include "wp-train-session.h"

G_BEGIN_DECLS

#define WP_TYPE_TRAIN_VIEW (wp_train_view_get_type ())
G_DECLARE_FINAL_TYPE (WpTrainView, wp_train_view, WP, TRAIN_VIEW, GtkBox)

/* Signals: "open-checkpoint" (const char *path), when the user activates a checkpoint that is
 * on disk. */
WpTrainView    *wp_train_view_new (void);
WpTrainSession *wp_train_view_get_session (WpTrainView *self);

/* The model a run fine-tunes (acquired); the dataset summary is redone for it. */
void wp_train_view_set_model (WpTrainView *self,
                              WpModelRef  *model);
/* Sets the dataset folder and checks it in the background (summary below the entry); a message
 * about a failed run goes. */
void wp_train_view_set_data_dir (WpTrainView *self,
                                 const char  *dir);
void wp_train_view_set_out_dir (WpTrainView *self,
                                const char  *dir);
/* Whether no background check or evaluation is running. */
gboolean    wp_train_view_is_idle (WpTrainView *self);
const char *wp_train_view_get_data_summary (WpTrainView *self);
const char *wp_train_view_get_status (WpTrainView *self);
/* The evaluation table as text, one row a line ("metric<TAB>before<TAB>after"), "" before any. */
const char *wp_train_view_get_evaluation (WpTrainView *self);
/* The question asked when Start finds a run in the output folder, or NULL. Its responses:
 * GTK_RESPONSE_ACCEPT continues the run, WP_TRAIN_VIEW_RESPONSE_NEW_FOLDER starts a new one in
 * a new folder beside it. */
GtkWidget *wp_train_view_get_continue_dialog (WpTrainView *self);
#define WP_TRAIN_VIEW_RESPONSE_NEW_FOLDER 1

G_END_DECLS
