/* objectives-private.h: what the objectives' files share. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The mean cross-entropy of the rows of logits (n, n) with diagonal targets. Records each row's
 * maximum and its sum of exp(x - max) for the backward. */
double wp_cross_entropy_rows_forward (double       *row_max,
                                      double       *row_sum,
                                      const double *logits,
                                      int           n);
/* Writes into dlogits (n, n) the gradient of weight times that mean: weight (softmax - onehot)
 * / n. */
void wp_cross_entropy_rows_backward (double       *dlogits,
                                     const double *logits,
                                     const double *row_max,
                                     const double *row_sum,
                                     int           n,
                                     double        weight);

/* keep (n) = 1 for the k highest of score (n), ties to the lower index, 0 elsewhere: FILIP's
 * token selection and SPARC's patch side. */
void wp_keep_highest (guint8       *keep,
                      const double *score,
                      int           n,
                      int           k);

G_END_DECLS
