#include "wordpatch/objectives.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Adds to loss the mean cross-entropy of the rows of logits (n, n) with diagonal targets, and
 * writes into dlogits (n, n) its gradient scaled by weight: weight (softmax - onehot) / n. */
static double
cross_entropy_rows (const double *logits,
                    double       *dlogits,
                    int           n,
                    double        weight)
{
  double loss = 0.0;

  for (int i = 0; i < n; i++) {
    const double *row = logits + (gsize) i * n;
    double        max = row[0], sum = 0.0;

    for (int j = 1; j < n; j++)
      max = fmax (max, row[j]);
    for (int j = 0; j < n; j++)
      sum += exp (row[j] - max);
    loss += max + log (sum) - row[i];
    if (dlogits != NULL) {
      for (int j = 0; j < n; j++)
        dlogits[(gsize) i * n + j] = weight * (exp (row[j] - max) / sum - (i == j)) / n;
    }
  }
  return loss / n;
}

static void
transpose (double       *out,
           const double *inp,
           int           n)
{
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < n; j++)
      out[(gsize) j * n + i] = inp[(gsize) i * n + j];
  }
}

double
wp_loss_clip (const float *img,
              const float *txt,
              float        logit_scale,
              int          B,
              int          E,
              float       *dimg,
              float       *dtxt,
              float       *dlogit_scale)
{
  const double       lambda = exp (logit_scale);
  const gboolean     backward = dimg != NULL;
  const gsize        BB = (gsize) B * B;
  g_autofree float  *dots = g_new (float, BB);
  g_autofree double *logits = g_new (double, BB);
  g_autofree double *logits_t = g_new (double, BB);
  g_autofree double *dlogits = backward ? g_new (double, BB) : NULL;
  g_autofree double *dlogits_t = backward ? g_new (double, BB) : NULL;
  double             loss;

  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, B, B, E, 1.0f, img, E, txt, E, 0.0f, dots, B);
  for (gsize k = 0; k < BB; k++)
    logits[k] = lambda * dots[k];
  transpose (logits_t, logits, B);
  loss = 0.5 * cross_entropy_rows (logits, dlogits, B, 0.5) + 0.5 * cross_entropy_rows (logits_t, dlogits_t, B, 0.5);
  if (!backward)
    return loss;

  {
    g_autofree float *dscaled = g_new (float, BB);
    double            dscale = 0.0;

    /* dG (rows images) = dlogits + dlogits_t^T; G = lambda dots, so d dots = lambda dG and
     * d logit_scale = sum dG * G. */
    for (int i = 0; i < B; i++) {
      for (int j = 0; j < B; j++) {
        const double dg = dlogits[(gsize) i * B + j] + dlogits_t[(gsize) j * B + i];

        dscale += dg * logits[(gsize) i * B + j];
        dscaled[(gsize) i * B + j] = (float) (lambda * dg);
      }
    }
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, B, E, B, 1.0f, dscaled, B, txt, E, 1.0f, dimg, E);
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, B, E, B, 1.0f, dscaled, B, img, E, 1.0f, dtxt, E);
    *dlogit_scale += (float) dscale;
  }
  return loss;
}

double
wp_loss_filip (const float *patches,
               const float *tokens,
               const int   *lengths,
               float        logit_scale,
               int          B,
               int          P,
               int          K,
               int          E,
               float       *dpatches,
               float       *dtokens,
               float       *dlogit_scale)
{
  const double      lambda = exp (logit_scale);
  const gboolean    backward = dpatches != NULL;
  const gsize       BB = (gsize) B * B;
  g_autofree float *sim = g_new (float, (gsize) P *K);
  /* Arg-maxes of every (image i, text j) block: over tokens for each patch, over patches for each
   * valid token; kept for the backward pass. */
  g_autofree int    *best_token = g_new (int, BB *P);
  g_autofree int    *best_patch = g_new (int, BB *K);
  g_autofree double *a = g_new (double, BB); /* A_ij = lambda sI_ij */
  g_autofree double *c = g_new (double, BB); /* C_ji = lambda sT_ij */
  g_autofree double *da = backward ? g_new (double, BB) : NULL;
  g_autofree double *dc = backward ? g_new (double, BB) : NULL;
  double             loss;

  for (int i = 0; i < B; i++) {
    const float *v = patches + (gsize) i * P * E;

    for (int j = 0; j < B; j++) {
      const float *t = tokens + (gsize) j * K * E;
      const int    L = lengths[j];
      const gsize  ij = (gsize) i * B + j;
      double       s_image = 0.0, s_text = 0.0;

      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, P, L, E, 1.0f, v, E, t, E, 0.0f, sim, L);
      for (int p = 0; p < P; p++) {
        const float *row = sim + (gsize) p * L;
        int          best = 0;

        for (int l = 1; l < L; l++) {
          if (row[l] > row[best])
            best = l;
        }
        best_token[ij * P + p] = best;
        s_image += row[best];
      }
      for (int l = 0; l < L; l++) {
        int best = 0;

        for (int p = 1; p < P; p++) {
          if (sim[(gsize) p * L + l] > sim[(gsize) best * L + l])
            best = p;
        }
        best_patch[ij * K + l] = best;
        s_text += sim[(gsize) best * L + l];
      }
      a[ij] = lambda * s_image / P;
      c[(gsize) j * B + i] = lambda * s_text / L;
    }
  }
  loss = 0.5 * cross_entropy_rows (a, da, B, 0.5) + 0.5 * cross_entropy_rows (c, dc, B, 0.5);
  if (!backward)
    return loss;

  {
    double dscale = 0.0;

    for (int i = 0; i < B; i++) {
      const float *v = patches + (gsize) i * P * E;
      float       *dv = dpatches + (gsize) i * P * E;

      for (int j = 0; j < B; j++) {
        const float *t = tokens + (gsize) j * K * E;
        float       *dt = dtokens + (gsize) j * K * E;
        const int    L = lengths[j];
        const gsize  ij = (gsize) i * B + j, ji = (gsize) j * B + i;
        const float  g_image = (float) (lambda * da[ij] / P), g_text = (float) (lambda * dc[ji] / L);

        dscale += da[ij] * a[ij] + dc[ji] * c[ji];
        for (int p = 0; p < P; p++) {
          const int l = best_token[ij * P + p];

          cblas_saxpy (E, g_image, t + (gsize) l * E, 1, dv + (gsize) p * E, 1);
          cblas_saxpy (E, g_image, v + (gsize) p * E, 1, dt + (gsize) l * E, 1);
        }
        for (int l = 0; l < L; l++) {
          const int p = best_patch[ij * K + l];

          cblas_saxpy (E, g_text, v + (gsize) p * E, 1, dt + (gsize) l * E, 1);
          cblas_saxpy (E, g_text, t + (gsize) l * E, 1, dv + (gsize) p * E, 1);
        }
      }
    }
    *dlogit_scale += (float) dscale;
  }
  return loss;
}
