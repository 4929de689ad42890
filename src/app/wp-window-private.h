/* wp-window-private.h: what wp-window.c (the window: pages, workers, comparison, following
 * training) and wp-window-actions.c (the window's actions: open, paste, export, compare, about)
 * share. */
#pragma once

#include "wordpatch/wordpatch.h"
#include "wp-image-view.h"
#include "wp-model-ref.h"
#include "wp-train-view.h"
#include "wp-window.h"
#include "wp-word-bar.h"

G_BEGIN_DECLS

struct _WpWindow {
  GtkApplicationWindow parent_instance;

  /* Template widgets */
  GtkEntry        *caption_entry;
  WpWordBar       *word_bar;
  WpImageView     *image_view;
  GtkLabel        *scores_label;
  GtkLabel        *status_label;
  GtkDropDown     *method_dropdown;
  GtkToggleButton *grid_toggle;
  GtkDropDown     *colormap_dropdown;
  GtkScale        *opacity_scale;
  GtkCheckButton  *smooth_check;
  GtkCheckButton  *patch_grid_check;
  GtkCheckButton  *fixed_scale_check;
  GtkSpinButton   *scale_lo_spin;
  GtkSpinButton   *scale_hi_spin;
  GtkStack        *stack;
  WpTrainView     *train_view;
  GtkWidget       *snapshot_box;
  GtkLabel        *snapshot_label;
  GtkScale        *snapshot_scale;

  /* Owned */
  WpModelRef       *model;
  char             *image_path;
  WpImage          *image;
  WpImageEmbedding *image_embedding;
  WpTextEmbedding  *text;
  WpWordMaps       *maps;
  GPtrArray        *token_labels; /* the caption's token texts, for piece chips and token figures */
  GCancellable     *image_cancellable;
  GCancellable     *text_cancellable;
  guint             pending;
  WpFigureStyle     style;
  char             *status;
  char             *scores;
  /* Comparison: the compare model is the baseline A, the open model B (B - A: what changed). */
  WpModelRef       *compare_model;
  WpImageEmbedding *compare_image_embedding;
  WpTextEmbedding  *compare_text;
  WpWordMaps       *compare_maps;
  char             *model_label;
  char             *compare_label;
  /* Training: the view follows the newest snapshot while live. */
  gboolean   live;
  gboolean   updating_slider;
  GtkWidget *close_dialog;
  gboolean   close_after_stop;
};

/* Installs the actions of wp-window-actions.c and their keys. */
void wp_window_class_actions_init (WpWindowClass *klass);

/* The line under the figure: what was opened or written, or what went wrong. */
void wp_window_set_status (WpWindow   *self,
                           const char *status);
/* Compares with model (acquired; NULL: stops comparing), titled label. */
void wp_window_set_compare_model (WpWindow   *self,
                                  WpModelRef *model,
                                  const char *label);

G_END_DECLS
