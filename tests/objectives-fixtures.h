/* objectives-fixtures.h: what the objectives' tests share: the batches' shapes, random inputs,
 * a dot product, the finite-difference check of analytic gradients, naive cross-entropy and
 * CLIP losses. Include it after every other header: its shape macros are single letters. */
#pragma once

#include <glib.h>

#include "wordpatch/rng.h"

G_BEGIN_DECLS

#define B 4
#define E 6
#define P 5
#define K 4
/* The caches hold more pairs than the batches use: a stride taken from the caches' size instead
 * of the batch's would show. */
#define MAX_B (B + 3)

/* x (n) from N(0, 0.25). */
void   fill_random (float *x,
                    gsize  n,
                    WpRng *rng);
double dot (const double *a,
            const double *b,
            int           n);

/* A loss of inputs x and y (double) and a logit scale, written from its definition. */
typedef double (*NaiveLoss) (const double *x,
                             const double *y,
                             double        logit_scale);

/* Compares analytic gradients of x, y and the logit scale with central differences of naive;
 * fails the test, naming what, beyond 1e-3 of the largest gradient. */
void check_gradients (const char  *what,
                      NaiveLoss    naive,
                      const float *x,
                      gsize        nx,
                      const float *y,
                      gsize        ny,
                      float        logit_scale,
                      const float *dx,
                      const float *dy,
                      float        dscale);

/* Mean CE over rows of m (n x n, row stride n) with diagonal targets. */
double naive_ce_rows (const double *m,
                      int           n);
/* CLIP's loss from its definition: img and txt (B, E). */
double naive_clip (const double *img,
                   const double *txt,
                   double        logit_scale);

G_END_DECLS
