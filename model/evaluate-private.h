/* evaluate-private.h: what evaluate.c (wp_evaluate()) and eval_metrics.c (its building blocks)
 * share. */
#pragma once

#include <glib.h>

#include "wordpatch/evaluate.h"

G_BEGIN_DECLS

/* Whether the centre of patch p, in original-image pixels, lies inside one of the boxes. */
gboolean wp_patch_centre_in_boxes (const WpImageCrop *crop,
                                   int                rows,
                                   int                cols,
                                   int                p,
                                   const WpBox       *boxes,
                                   guint              n_boxes);

G_END_DECLS
