/* wp-window-private.h: what wp-window.c (the window: pages, models, comparison, the Explore
 * page's controls, close-while-training), wp-window-maps.c (the Explore page's computation: an
 * image's features, then a caption's maps, on workers), wp-window-training.c (following a
 * fine-tuning run's snapshots) and wp-window-actions.c (the window's actions: open, paste, export,
 * compare, about) share. */
#pragma once

#include "wordpatch/wordpatch.h"
#include "wp-image-view.h"
#include "wp-model-ref.h"
#include "wp-train-view.h"
#include "wp-window.h"
#include "wp-word-bar.h"

G_BEGIN_DECLS

/* How the maps are computed, besides the image and the caption: the Explore page's controls. */
typedef struct {
  guint         methods; /* the maps' methods: filip and every method shown */
  WpQueryKind   query;
  char         *template_text; /* prompt queries; NULL: the default */
  gboolean      surgery;
  int           legrad_layers;
  WpViewOptions view;
} WpMapSettings;

/* A decoded image, shared by the window and its workers (atomic reference count). */
typedef struct {
  char    *path;
  WpImage *image;
} WpPicture;

/* A model's prompt embeddings kept across caption edits, shared by the workers that make its
 * maps (atomic reference count; the cache itself is thread-safe). */
typedef struct {
  WpModelRef    *model;
  WpPromptCache *cache;
} WpPrompts;

/* An image as the models see it under one view, with the methods asked of it: computed once, on
 * a worker, and shared (atomic reference count) by every map computation that reads it. */
typedef struct {
  WpPicture        *picture;
  WpViewOptions     view;
  guint             methods;
  WpModelRef       *model;
  WpModelRef       *compare_model; /* NULL when not comparing */
  WpPrompts        *prompts;       /* the models' prompt caches, for their maps */
  WpPrompts        *compare_prompts;
  WpImageEmbedding *embedding;
  WpImageEmbedding *compare_embedding;
} WpFeatures;

/* What the figure draws: one caption's maps over one WpFeatures. */
typedef struct {
  WpFeatures      *features;
  char            *caption;
  WpMapSettings    settings;
  WpTextEmbedding *text;
  WpTextEmbedding *compare_text;
  WpWordMaps      *maps;
  WpWordMaps      *compare_maps;
  GPtrArray       *token_labels; /* the caption's token texts, for piece chips and token figures */
  GStrv            cut_words;    /* the caption's words past the model's context (token queries) */
  int             *pieces;       /* prompt queries: each query's BPE pieces when it is one word */
} WpShown;

struct _WpWindow {
  GtkApplicationWindow parent_instance;

  /* Template widgets */
  GtkLabel        *subtitle_label;
  GtkEntry        *caption_entry;
  WpWordBar       *word_bar;
  WpImageView     *image_view;
  GtkLabel        *scores_label;
  GtkLabel        *readout_label;
  GtkLabel        *status_label;
  GtkDropDown     *method_dropdown;
  GtkToggleButton *labels_toggle;
  GtkToggleButton *grid_toggle;
  GtkCheckButton  *side_by_side_check;
  GtkWidget       *side_methods_box; /* one check button per method, in WpMapMethod order */
  GtkDropDown     *query_dropdown;
  GtkEntry        *template_entry;
  GtkCheckButton  *surgery_check;
  GtkSpinButton   *legrad_layers_spin;
  GtkDropDown     *crop_dropdown;
  GtkDropDown     *resolution_dropdown;
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
  WpModelRef   *model;
  WpPrompts    *prompts; /* the model's */
  char         *model_label;
  char         *image_path; /* the image asked for last (it may still be loading) */
  WpPicture    *picture;    /* the image last decoded */
  WpFeatures   *features;   /* the newest image features */
  WpShown      *shown;      /* what the figure draws */
  WpMapSettings settings;
  GCancellable *image_cancellable;
  GCancellable *maps_cancellable;
  gboolean      image_busy;  /* the newest image's features are being computed */
  gboolean      maps_busy;   /* the newest maps are being computed */
  gboolean      maps_wanted; /* maps to compute once the image's features arrive */
  guint         pending;     /* tasks not finished, superseded ones included */
  WpFigureStyle style;
  gboolean      side_by_side;
  WpMapMethod   side_methods[WP_N_MAP_METHODS]; /* those checked */
  int           n_side_methods;
  WpMapMethod   figure_methods[WP_N_MAP_METHODS]; /* those the figure shows, which it borrows */
  gboolean      updating_controls;
  char         *status;
  char         *scores;
  char         *export_folder; /* the last export's, where the export dialog opens */
  /* Comparison: the compare model is the baseline A, the open model B (B - A: what changed). */
  WpModelRef *compare_model;
  WpPrompts  *compare_prompts;
  char       *compare_label;
  /* Training: the view follows the newest snapshot while live. */
  gboolean   live;
  gboolean   updating_slider;
  GtkWidget *close_dialog;
  gboolean   close_after_stop;
};

/* wp-window-maps.c: the shared pieces' lifetimes. */
void wp_map_settings_clear (WpMapSettings *settings);
void wp_picture_unref (gpointer picture);
/* A model's prompt cache (NULL for a NULL model). */
WpPrompts *wp_prompts_new (WpModelRef *model);
void       wp_prompts_unref (gpointer prompts);
void       wp_features_unref (gpointer features);
void       wp_shown_free (gpointer shown);

/* Brings the figure up to date with the image, models, caption and settings, on workers
 * (wp-window-maps.c): the image's features only when they changed, then the caption's maps. */
void wp_window_recompute (WpWindow *self);
/* Hands what the figure shows to the image view (wp-window-maps.c); called whenever it changes. */
void wp_window_update_view (WpWindow *self);
/* The window's title and the header's subtitle (and its tooltip) name the model shown. */
void wp_window_update_title (WpWindow *self);
/* Reads the Explore page's controls into the window's settings (wp-window.c). */
void wp_window_read_settings (WpWindow *self);
/* Shows model (acquired), titled label, on the Explore page (wp-window.c). */
void wp_window_set_model (WpWindow   *self,
                          WpModelRef *model,
                          const char *label);
/* Connects the snapshot slider and the fine-tuning run's signals (wp-window-training.c). */
void wp_window_follow_training (WpWindow *self);

/* Installs the actions of wp-window-actions.c and their keys. */
void wp_window_class_actions_init (WpWindowClass *klass);

/* The line under the figure: what was opened or written, or what went wrong. */
void wp_window_set_status (WpWindow   *self,
                           const char *status);
/* Compares with model (acquired; NULL: stops comparing), titled label. */
void wp_window_set_compare_model (WpWindow   *self,
                                  WpModelRef *model,
                                  const char *label);
/* How the model is named in titles: its folder, objective and step. */
char *wp_window_describe_model (const WpModel *model) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
