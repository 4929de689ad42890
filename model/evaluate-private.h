/* evaluate-private.h: what evaluate.c (wp_evaluate()) shares with eval_metrics.c (its building
 * blocks) and eval_retrieval.c (its similarities and recalls). */
#pragma once

#include <gio/gio.h>

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

/* FILIP's or SPARC's similarities of every image and caption: i2t (U, V), t2i (V, U). patches
 * (U, P, E); tokens (sum of lengths, E), caption v's at rows offsets[v] .. offsets[v+1]-1; both
 * unit for FILIP, not normalised for SPARC (whose scores are the same both ways). */
gboolean wp_eval_token_similarities (float        *i2t,
                                     float        *t2i,
                                     const float  *patches,
                                     const float  *tokens,
                                     const guint  *offsets,
                                     int           U,
                                     int           V,
                                     int           P,
                                     int           E,
                                     WpRetrieval   retrieval,
                                     GCancellable *cancellable,
                                     GError      **error);
/* Recall@1, 5, 10 of the n_rows queries of sim (n_rows, n_cols); the correct candidates of row
 * r are the groups other_group[m] of the members m of row r's list (offsets, members). */
void wp_eval_recalls (double      *r1,
                      double      *r5,
                      double      *r10,
                      const float *sim,
                      int          n_rows,
                      int          n_cols,
                      const guint *offsets,
                      const guint *members,
                      const guint *other_group);

G_END_DECLS
