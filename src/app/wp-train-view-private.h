/* wp-train-view-private.h: what wp-train-view.c (the page: messages, the dataset check, plots,
 * the session's state, the object), wp-train-view-form.c (the form: the engine's settings, one
 * widget each) and wp-train-view-actions.c (start or continue, pause, stop, evaluate, the folder
 * choosers, the evaluation table) share. */
#pragma once

#include "wp-train-view.h"

G_BEGIN_DECLS

struct _WpTrainView {
  GtkBox parent_instance;

  /* Template widgets */
  GtkLabel       *model_label;
  GtkEntry       *data_entry;
  GtkLabel       *data_summary_label;
  GtkDropDown    *objective_dropdown;
  GtkLabel       *lambda_global_label;
  GtkSpinButton  *lambda_global_spin;
  GtkLabel       *lambda_fine_label;
  GtkSpinButton  *lambda_fine_spin;
  GtkLabel       *filip_patches_label;
  GtkSpinButton  *filip_patches_spin;
  GtkLabel       *filip_global_label;
  GtkSpinButton  *filip_global_spin;
  GtkLabel       *box_weight_label;
  GtkSpinButton  *box_weight_spin;
  GtkEntry       *lr_entry;
  GtkSpinButton  *batch_spin;
  GtkSpinButton  *steps_spin;
  GtkSpinButton  *epochs_spin;
  GtkCheckButton *freeze_text_check;
  GtkCheckButton *freeze_vision_check;
  GtkCheckButton *augment_check;
  GtkSpinButton  *save_every_spin;
  GtkEntry       *out_entry;
  GtkEntry       *seed_entry;
  GtkSpinButton  *warmup_spin;
  GtkSpinButton  *weight_decay_spin;
  GtkSpinButton  *holdout_spin;
  GtkSpinButton  *keep_spin;
  GtkLabel       *box_tau_label;
  GtkSpinButton  *box_tau_spin;
  GtkLabel       *sparc_negatives_label;
  GtkDropDown    *sparc_negatives_dropdown;
  GtkLabel       *sparc_threshold_label;
  GtkSpinButton  *sparc_threshold_spin;
  GtkLabel       *threads_label;
  GtkButton      *pause_button;
  GtkGrid        *eval_grid;
  GtkProgressBar *progress_bar;
  GtkLabel       *status_label;
  GtkScale       *smoothing_scale;
  GtkCheckButton *log_check;
  GtkDrawingArea *loss_plot;
  GtkDrawingArea *scale_plot;
  GtkDrawingArea *eval_plot;
  GtkListBox     *checkpoints_list;

  /* Owned */
  WpTrainSession *session;
  WpModelRef     *model;
  GCancellable   *check_cancellable;
  GCancellable   *eval_cancellable;
  guint           pending;
  char           *data_summary;
  char           *status;
  char           *notice; /* what an action said, shown until the session changes */
  GString        *evaluation;
  GtkWidget      *continue_dialog;
  WpTrainSettings continue_settings; /* the run the dialog offers to continue */
};

/* wp-train-view-form.c: tooltips and ranges of the form's fields from the settings table. */
void wp_train_view_init_form (WpTrainView *self);
/* Shows settings in the form: the engine's defaults, or a run's own. */
void wp_train_view_fill_form (WpTrainView           *self,
                              const WpTrainSettings *settings);
/* The form's settings over settings' own, each checked against its range; FALSE with an error
 * naming the field as the form does otherwise. */
gboolean wp_train_view_read_form (WpTrainView     *self,
                                  WpTrainSettings *settings,
                                  GError         **error);
/* The objective's own weights are the ones that can be set. */
void wp_train_view_objective_changed_cb (WpTrainView *self);
/* The run in form's output folder, with what the form may change in it (see the definition). */
gboolean wp_train_view_prepare_continue (WpTrainView           *self,
                                         const WpTrainSettings *form,
                                         WpTrainSettings       *run,
                                         GString               *differ,
                                         GError               **error);

/* wp-train-view.c: what an action said, shown until the session changes. */
void wp_train_view_set_notice (WpTrainView *self,
                               const char  *notice);
/* Shows the session's state: status, progress, plots, what can be done. */
void wp_train_view_refresh (WpTrainView *self);

/* wp-train-view-actions.c: a new run's table starts empty. */
void wp_train_view_clear_evaluation (WpTrainView *self);
/* Installs the page's actions (train.start, .pause, .stop, .evaluate, .choose-data,
 * .choose-out). */
void wp_train_view_class_actions_init (WpTrainViewClass *klass);

G_END_DECLS
