/* sparc-private.h: what sparc.c (the paper's loss, its batch negatives, the public calls) and
 * sparc_cross.c (image and pair negatives) share: one pair's records and its grouping. */
#pragma once

#include <glib.h>

#include "wordpatch/objectives.h"

G_BEGIN_DECLS

/* One pair's part of a WpSparcCache: its arrays for L valid tokens (see objectives.h). */
typedef struct {
  double *a, *shat;          /* (L, P) */
  int    *argmin, *argmax;   /* (L) */
  double *range, *kept;      /* (L) */
  double *chat, *that;       /* (L, E) */
  double *c_norm, *t_norm;   /* (L) */
  double *z, *zt;            /* (L, L) */
  double *row_max, *row_sum; /* (2L): the rows of z, then those of zt */
} WpSparcPair;

/* Which images are no negatives of a token: with unshared images, those whose captions hold
 * its id (ids (B, T), pair b's valid tokens first); none otherwise. */
typedef struct {
  const int *ids;
  int        T;
} WpSparcSharedTokens;

/* Pair b's records in the cache, for up to K valid tokens of P patches and E dims. */
WpSparcPair wp_sparc_pair (const WpSparcCache *cache,
                           int                 b,
                           int                 P,
                           int                 K,
                           int                 E);
/* Caption i's valid tokens grouped over image j's patches (pair i's own image where j = i),
 * both read in double from the cache's patches_d and tokens_d: the weights at threshold, and
 * the unit grouped-vision and token embeddings, into pair i's records, which it returns. */
WpSparcPair wp_sparc_pair_group (WpSparcCache      *cache,
                                 const WpFineBatch *batch,
                                 double             threshold,
                                 int                i,
                                 int                j);
/* That grouping's backward: accumulates into image j's patches of dpatches (B, P, E) and caption
 * i's tokens of dtokens (B, K, E) the gradient that dchat and dthat (L, E), of the pair's unit
 * embeddings, carry back; through the alignment weights too unless stop_selection. */
void   wp_sparc_pair_group_backward (float             *dpatches,
                                     float             *dtokens,
                                     const WpSparcPair *pair,
                                     WpSparcCache      *cache,
                                     const WpFineBatch *batch,
                                     const double      *dchat,
                                     const double      *dthat,
                                     gboolean           stop_selection,
                                     int                i,
                                     int                j);
double wp_sparc_dot (const double *x,
                     const double *y,
                     int           n);
/* The dot product of two float vectors, accumulated in double. */
double wp_sparc_dot_float (const float *x,
                           const float *y,
                           int          n);

/* Image negatives' summed CE over the images of every valid token, targets their own images;
 * each row's maximum and sum of exponentials go to row_max and row_sum at the token's slot. The
 * groupings read the cache's double copies of the batch's embeddings; the batch gives the
 * lengths and dims. */
double wp_sparc_image_logits_forward (WpSparcCache              *cache,
                                      const WpFineBatch         *batch,
                                      const WpSparcSharedTokens *shared,
                                      double                     threshold,
                                      double                     lambda);
/* Accumulates into dpatches and dtokens weight times the gradient of the image negatives'
 * summed CE (each grouping computed again), its logit-scale gradient into dscale. */
void wp_sparc_image_logits_backward (float                     *dpatches,
                                     float                     *dtokens,
                                     double                    *dscale,
                                     WpSparcCache              *cache,
                                     const WpFineBatch         *batch,
                                     const WpSparcSharedTokens *shared,
                                     double                     threshold,
                                     gboolean                   stop_selection,
                                     double                     lambda,
                                     double                     weight);
/* Pair negatives' CE over the rows (a caption over the images) and over the columns (an image
 * over the captions) of the B x B scores, summed; with a patch side (a share of the patches, or
 * 0) the columns' CE is over its scores instead. */
double wp_sparc_pair_scores_forward (WpSparcCache      *cache,
                                     const WpFineBatch *batch,
                                     double             threshold,
                                     double             patch_side,
                                     double             lambda);
/* Accumulates into dpatches and dtokens weight times the gradient of the pair negatives' summed
 * CE (each grouping computed again), its logit-scale gradient into dscale. */
void wp_sparc_pair_scores_backward (float             *dpatches,
                                    float             *dtokens,
                                    double            *dscale,
                                    WpSparcCache      *cache,
                                    const WpFineBatch *batch,
                                    double             threshold,
                                    double             patch_side,
                                    gboolean           stop_selection,
                                    double             lambda,
                                    double             weight);

G_END_DECLS
