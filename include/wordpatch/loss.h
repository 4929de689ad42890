/* loss.h: one batch through both towers and an objective, and back to every parameter.
 *
 * Shapes: B pairs, images (B, 3, S, S) normalised, captions (B, T) padded with any valid id,
 * lengths (B) valid tokens each. Objectives (see objectives.h):
 *   clip:  L_CLIP on the pooled embeddings;
 *   filip: L_FILIP on the unit patch and valid token embeddings, plus filip_global L_CLIP
 *          (default 0: FILIP alone);
 *   sparc: lambda_global L_CLIP + lambda_fine L_f (L_f on the un-normalised embeddings);
 *   sigmoid: SigLIP's sigmoid loss on the pooled embeddings, with the model's logit_bias (a
 *          model without one, CLIP's, is refused with WP_ERROR_INVALID).
 * All share the model's logit_scale (not clamped here; the optimiser clamps it). Any of them may
 * add box_weight L_box, the box term on the word maps of the batch's boxed words (objectives.h;
 * docs/algorithms.md, "Box-supervised word maps"), which does not involve the logit scale.
 *
 * Thread contract: a WpLossState belongs to one thread; the model is only read. */
#pragma once

#include <glib.h>

#include "wordpatch/augment.h"
#include "wordpatch/dataset.h"
#include "wordpatch/model.h"
#include "wordpatch/objectives.h"

G_BEGIN_DECLS

typedef enum {
  WP_OBJECTIVE_CLIP,
  WP_OBJECTIVE_FILIP,
  WP_OBJECTIVE_SPARC,
  WP_OBJECTIVE_SIGMOID,
} WpObjective;

/* The negatives of SPARC's fine-grained logits (docs/algorithms.md, "SPARC"). */
typedef enum {
  WP_SPARC_NEGATIVES_CAPTION,         /* the other tokens of the pair's own caption: the paper's */
  WP_SPARC_NEGATIVES_BATCH,           /* every valid token of the batch (ours) */
  WP_SPARC_NEGATIVES_IMAGES,          /* the token's grouping in the batch's other images (ours) */
  WP_SPARC_NEGATIVES_UNSHARED_IMAGES, /* ... in those whose captions lack the token (ours) */
  WP_SPARC_NEGATIVES_PAIRS,           /* each caption's grouping in the other images (ours) */
} WpSparcNegatives;

/* The names of the objectives and of SPARC's negatives, in their enums' order, NULL-terminated:
 * "clip", "filip", "sparc", "sigmoid"; "caption", "batch", "images", "unshared-images",
 * "pairs". */
extern const char *const wp_objective_names[];
extern const char *const wp_sparc_negatives_names[];

typedef struct {
  WpObjective      objective;
  float            lambda_global;          /* SPARC's weight of L_CLIP: default 0, the paper 0.5 */
  float            lambda_fine;            /* SPARC's weight of L_f, default 1.0 */
  WpSparcNegatives sparc_negatives;        /* SPARC's L_f's negatives: default pairs */
  gboolean         sparc_stop_selection;   /* SPARC's alignment weights pass no gradient (ours) */
  gboolean         sparc_centre_positions; /* SPARC's L_f on position-centred patches (ours) */
  gboolean         sparc_centre_images;    /* SPARC's L_f on image-centred patches (ours) */
  float            sparc_threshold;        /* SPARC's sparsity threshold; 0: the paper's 1/P */
  float            sparc_patch_side;       /* SPARC pair negatives' patch side's share, or 0 */
  float            filip_patch_fraction;   /* FILIP: share of each image's patches in sI (1) */
  float            filip_global;           /* FILIP: weight of an added L_CLIP, default 0 */
  float            box_weight;             /* weight of L_box, default 0: off */
  float            box_tau;                /* L_box's temperature, default 0.07 */
} WpLossOptions;

typedef struct {
  double total;
  double clip;      /* L_CLIP, unweighted (clip, sparc, and filip with filip_global) */
  double filip;     /* L_FILIP (filip) */
  double fine;      /* L_f, unweighted (sparc) */
  double box;       /* L_box, unweighted; NAN when box_weight is 0 */
  int    box_words; /* the boxed words L_box averaged over */
  double sigmoid;   /* the sigmoid loss (sigmoid) */
} WpLossParts;

typedef struct _WpLossState WpLossState;

void wp_loss_options_init (WpLossOptions *options,
                           WpObjective    objective);
/* FALSE with WP_ERROR_INVALID for options that exclude each other (the patch side without pair
 * negatives); each option's own range is the settings table's (train_settings.h). */
gboolean wp_loss_options_check (const WpLossOptions *options,
                                GError             **error);
/* "clip", "filip", "sparc" or "sigmoid"; FALSE for anything else. */
gboolean    wp_objective_from_string (const char  *name,
                                      WpObjective *objective);
const char *wp_objective_to_string (WpObjective objective);

/* The bytes wp_loss_state_new() allocates for max_B pairs, computed without allocating from the
 * lists it lays its parts out by: both towers' states (wp_vision_state_bytes(),
 * wp_text_state_bytes()), the batch's embeddings and their gradients, and the objectives' caches
 * (wp_objective_caches_bytes(): a state serves every objective, so it holds CLIP's and the larger
 * of FILIP's and SPARC's). */
guint64 wp_loss_state_bytes (const WpClipConfig *config,
                             int                 max_B);
/* FALSE with WP_ERROR_INVALID, naming the batch, the patches and both sizes, when a loss state of
 * max_B pairs would not fit in this machine's physical memory: a clear message instead of an
 * allocation failure that aborts the process. */
gboolean     wp_loss_state_check_fits (const WpClipConfig *config,
                                       int                 max_B,
                                       GError            **error);
WpLossState *wp_loss_state_new (const WpClipConfig *config,
                                int                 max_B) G_GNUC_WARN_UNUSED_RESULT;
void         wp_loss_state_free (WpLossState *state);

/* Forward, loss and, when grads is not NULL, backward: ACCUMULATES the gradient of the total
 * loss into grads (views of a gradient buffer of the model's layout). boxes: the batch's boxed
 * words (wp_box_words_add_pair()), read when options->box_weight > 0; NULL is none. A
 * non-finite loss is WP_ERROR_NOT_FINITE and leaves grads untouched. */
gboolean wp_loss_compute (const WpModel       *model,
                          WpLossState         *state,
                          const WpLossOptions *options,
                          const float         *pixels,
                          const int           *ids,
                          const int           *lengths,
                          int                  B,
                          int                  T,
                          const WpBoxWords    *boxes,
                          WpParams            *grads,
                          WpLossParts         *parts,
                          GError             **error);

/* The most boxed words a batch of B pairs can hold for model: one per valid token slot. */
int wp_box_words_capacity (const WpClipConfig *config,
                           int                 B);

/* Appends to words the boxed words of pair, which is pair b of a batch, seen as augmentation
 * says (wp_dataset_load_batch()). A word's boxes are those of its text (lowercased) and
 * occurrence, as the evaluation groups them; they name the occurrence-th caption word of that
 * text as the tokenizer splits words (wp_word_maps_find_word()'s rule); its patches are those
 * whose centre, in original-image pixels (wp_augment_patch_rect()), lies inside one of the boxes,
 * edges included (the pointing game's test). Skipped: boxes naming no word of the caption, words
 * cut by the context, words whose boxes hold no patch centre. Returns the words appended. */
int wp_box_words_add_pair (WpBoxWords           *words,
                           const WpModel        *model,
                           const WpPair         *pair,
                           int                   b,
                           const WpAugmentation *augmentation);

/* The boxed words the dataset's captions give the box term under model's tokenizer and context:
 * wp_box_words_add_pair()'s words but for the patch test, which depends on each sample's crop.
 * 0 when the dataset has no boxes. */
guint wp_box_words_count (const WpDataset *dataset,
                          const WpModel   *model);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpLossState, wp_loss_state_free)

G_END_DECLS
