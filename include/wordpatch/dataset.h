/* dataset.h: image-caption datasets in a folder.
 *
 * A dataset folder holds captions.jsonl (one JSON object a line: "image", a path relative to the
 * folder, and "caption"; other keys such as "boxes" are allowed) or, if that is absent,
 * captions.tsv (image<TAB>caption a line). Blank lines are skipped. Pairs keep file order.
 * Limits: at most WP_DATASET_MAX_PAIRS pairs, captions at most WP_DATASET_MAX_CAPTION bytes. */
#pragma once

#include <glib.h>

#include "wordpatch/model.h"

G_BEGIN_DECLS

#define WP_DATASET_MAX_PAIRS   10000000
#define WP_DATASET_MAX_CAPTION 65536

typedef struct {
  char *image_path; /* resolved against the folder */
  char *caption;
} WpPair;

typedef struct _WpDataset WpDataset;

WpDataset    *wp_dataset_open (const char *dir,
                               GError    **error) G_GNUC_WARN_UNUSED_RESULT;
void          wp_dataset_free (WpDataset *dataset);
guint         wp_dataset_get_n_pairs (const WpDataset *dataset);
const WpPair *wp_dataset_get_pair (const WpDataset *dataset,
                                   guint            index);

/* Decodes and preprocesses the images and tokenizes the captions of pairs indices[0..B-1] for
 * model: pixels (B, 3, S, S); ids (B, K) with K the context length, each caption padded with the
 * end token after its lengths[b] valid tokens; *T receives the longest length, and rows are laid
 * out with stride T, ready for wp_loss_compute(). An unreadable image is an error naming it. */
gboolean wp_dataset_load_batch (const WpDataset *dataset,
                                const WpModel   *model,
                                const guint     *indices,
                                int              B,
                                float           *pixels,
                                int             *ids,
                                int             *lengths,
                                int             *T,
                                GError         **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpDataset, wp_dataset_free)

G_END_DECLS
