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

/* Running sums for WpEvalResult's patch variance shares. */
typedef struct {
  double *position_sum; /* (P, E) each position's sum over the images */
  double  image_sum_sq; /* sum over the images of P |the image's mean patch|^2 */
  double  sum_sq;       /* sum of every patch's squared norm */
  guint   images;
} WpPatchVariance;

/* Adds one image's P patches (P, E) to the sums. */
void wp_patch_variance_add (WpPatchVariance *pv,
                            const float     *patches,
                            int              P,
                            int              E);
/* The shares of the position means and of the image means in the patches' variance; NaN
 * below two images or without variance. */
void wp_patch_variance_shares (double                *position_share,
                               double                *image_share,
                               const WpPatchVariance *pv,
                               int                    P,
                               int                    E);

G_END_DECLS
