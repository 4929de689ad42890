/* wp-train-view.h: the app's training page: a form for a fine-tuning run of the open model, the
 * controls (start, pause/resume, stop, evaluate), live curves, the checkpoints, and evaluation
 * before and after. The run itself is a WpTrainSession. */
#pragma once

#include <gtk/gtk.h>

#include "wp-model-ref.h"
#include "wp-train-session.h"

G_BEGIN_DECLS

#define WP_TYPE_TRAIN_VIEW (wp_train_view_get_type ())
G_DECLARE_FINAL_TYPE (WpTrainView, wp_train_view, WP, TRAIN_VIEW, GtkBox)

/* Signals: "open-checkpoint" (const char *path), when the user activates a checkpoint. */
WpTrainView    *wp_train_view_new (void);
WpTrainSession *wp_train_view_get_session (WpTrainView *self);

/* The model a run fine-tunes (acquired); the dataset summary is redone for it. */
void wp_train_view_set_model (WpTrainView *self,
                              WpModelRef  *model);
/* Sets the dataset folder and checks it in the background (summary below the entry). */
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

G_END_DECLS
