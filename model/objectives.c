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

  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, B, B, E, 1.0f, img, E, txt, E, 0.0f, dots,
               B);
  for (gsize k = 0; k < BB; k++)
    logits[k] = lambda * dots[k];
  transpose (logits_t, logits, B);
  loss = 0.5 * cross_entropy_rows (logits, dlogits, B, 0.5) +
         0.5 * cross_entropy_rows (logits_t, dlogits_t, B, 0.5);
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
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, B, E, B, 1.0f, dscaled, B, txt, E, 1.0f,
                 dimg, E);
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, B, E, B, 1.0f, dscaled, B, img, E, 1.0f,
                 dtxt, E);
    *dlogit_scale += (float) dscale;
  }
  return loss;
}

/* The kept patches of each image: the k with the highest token-wise maximum similarity over all
 * the batch's texts (FILIP's token selection), ties to the lower index. patch_best (B, B, P) holds
 * each patch's maximum over one text's valid tokens; keep (B, P) receives 1 for kept patches. */
static void
select_patches (guint8      *keep,
                const float *patch_best,
                int          B,
                int          P,
                int          k)
{
  g_autofree float *score = g_new (float, P);

  for (int i = 0; i < B; i++) {
    guint8 *row = keep + (gsize) i * P;

    for (int p = 0; p < P; p++) {
      score[p] = -G_MAXFLOAT;
      for (int j = 0; j < B; j++)
        score[p] = fmaxf (score[p], patch_best[((gsize) i * B + j) * P + p]);
    }
    memset (row, 0, P);
    for (int n = 0; n < k; n++) {
      int best = -1;

      for (int p = 0; p < P; p++) {
        if (!row[p] && (best < 0 || score[p] > score[best]))
          best = p;
      }
      row[best] = 1;
    }
  }
}

double
wp_loss_filip (const float *patches,
               const float *tokens,
               const int   *lengths,
               float        logit_scale,
               double       patch_fraction,
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
  const int         n_kept = wp_filip_kept_patches (patch_fraction, P);
  g_autofree float *sim = g_new (float, (gsize) P *K);
  /* Arg-maxes of every (image i, text j) block: over tokens for each patch, over patches for each
   * valid token; kept for the backward pass. */
  g_autofree int    *best_token = g_new (int, BB *P);
  g_autofree float  *patch_best = g_new (float, BB *P);
  g_autofree guint8 *keep = g_new (guint8, (gsize) B * P);
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
      double       s_text = 0.0;

      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, P, L, E, 1.0f, v, E, t, E, 0.0f, sim,
                   L);
      for (int p = 0; p < P; p++) {
        const float *row = sim + (gsize) p * L;
        int          best = 0;

        for (int l = 1; l < L; l++) {
          if (row[l] > row[best])
            best = l;
        }
        best_token[ij * P + p] = best;
        patch_best[ij * P + p] = row[best];
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
      c[(gsize) j * B + i] = lambda * s_text / L;
    }
  }
  if (n_kept < P)
    select_patches (keep, patch_best, B, P, n_kept);
  else
    memset (keep, 1, (gsize) B * P);
  for (int i = 0; i < B; i++) {
    for (int j = 0; j < B; j++) {
      const gsize ij = (gsize) i * B + j;
      double      s_image = 0.0;

      for (int p = 0; p < P; p++) {
        if (keep[(gsize) i * P + p])
          s_image += patch_best[ij * P + p];
      }
      a[ij] = lambda * s_image / n_kept;
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
        const float  g_image = (float) (lambda * da[ij] / n_kept),
                    g_text = (float) (lambda * dc[ji] / L);

        dscale += da[ij] * a[ij] + dc[ji] * c[ji];
        for (int p = 0; p < P; p++) {
          const int l = best_token[ij * P + p];

          if (!keep[(gsize) i * P + p])
            continue;
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

int
wp_filip_kept_patches (double patch_fraction,
                       int    P)
{
  return CLAMP ((int) ceil (patch_fraction * P - 1e-9), 1, P);
}

/* Row-wise min-max normalisation and sparsification of s (L, P) into weights; keeps, per row, the
 * normalised values (shat), the arg-min and arg-max, the range and the kept sum for backward. A
 * range below 1e-8 marks the row uniform (range 0). */
typedef struct {
  double *shat;            /* (L, P) */
  int    *argmin, *argmax; /* (L) */
  double *range, *kept;    /* (L) */
} SparcCache;

static void
sparc_weights_rows (double       *a,
                    SparcCache   *cache,
                    const double *s,
                    int           L,
                    int           P)
{
  const double threshold = 1.0 / P;

  for (int l = 0; l < L; l++) {
    const double *row = s + (gsize) l * P;
    double       *shat = cache->shat + (gsize) l * P;
    double       *out = a + (gsize) l * P;
    int           lo = 0, hi = 0;
    double        range, kept = 0.0;

    for (int p = 1; p < P; p++) {
      if (row[p] < row[lo])
        lo = p;
      if (row[p] > row[hi])
        hi = p;
    }
    range = row[hi] - row[lo];
    cache->argmin[l] = lo;
    cache->argmax[l] = hi;
    if (range < 1e-8) {
      for (int p = 0; p < P; p++)
        out[p] = threshold;
      cache->range[l] = 0.0;
      continue;
    }
    for (int p = 0; p < P; p++) {
      shat[p] = (row[p] - row[lo]) / range;
      out[p] = shat[p] >= threshold ? shat[p] : 0.0;
      kept += out[p];
    }
    /* The maximum always survives (shat = 1), so kept >= 1. */
    for (int p = 0; p < P; p++)
      out[p] /= kept;
    cache->range[l] = range;
    cache->kept[l] = kept;
  }
}

static SparcCache
sparc_cache_new (int L,
                 int P)
{
  SparcCache cache = {
    g_new (double, (gsize) L *P),
    g_new (int, L),
    g_new (int, L),
    g_new (double, L),
    g_new (double, L),
  };

  return cache;
}

static void
sparc_cache_clear (SparcCache *cache)
{
  g_free (cache->shat);
  g_free (cache->argmin);
  g_free (cache->argmax);
  g_free (cache->range);
  g_free (cache->kept);
}

/* s (L, P) = tokens (L, E) . patches (P, E)^T in double. */
static void
similarities (double      *s,
              const float *tokens,
              const float *patches,
              int          L,
              int          P,
              int          E)
{
  for (int l = 0; l < L; l++) {
    for (int p = 0; p < P; p++) {
      double sum = 0.0;

      for (int e = 0; e < E; e++)
        sum += (double) tokens[(gsize) l * E + e] * patches[(gsize) p * E + e];
      s[(gsize) l * P + p] = sum;
    }
  }
}

void
wp_sparc_weights (float       *weights,
                  const float *tokens,
                  const float *patches,
                  int          L,
                  int          P,
                  int          E)
{
  g_autofree double *s = g_new (double, (gsize) L *P);
  g_autofree double *a = g_new (double, (gsize) L *P);
  SparcCache         cache = sparc_cache_new (L, P);

  similarities (s, tokens, patches, L, P, E);
  sparc_weights_rows (a, &cache, s, L, P);
  for (gsize k = 0; k < (gsize) L * P; k++)
    weights[k] = (float) a[k];
  sparc_cache_clear (&cache);
}

/* y = x / max(||x||, 1e-6) for a row of n doubles; returns the divisor. */
static double
normalize (double       *y,
           const double *x,
           int           n)
{
  double norm = 0.0;

  for (int i = 0; i < n; i++)
    norm += x[i] * x[i];
  norm = fmax (sqrt (norm), 1e-6);
  for (int i = 0; i < n; i++)
    y[i] = x[i] / norm;
  return norm;
}

/* Accumulates into dx the gradient through y = x / max(||x||, 1e-6). */
static void
normalize_backward (double       *dx,
                    const double *dy,
                    const double *y,
                    double        divisor,
                    int           n)
{
  double projection = 0.0;

  /* Below the floor the divisor is a constant and only the scaling remains. */
  if (divisor > 1e-6) {
    for (int i = 0; i < n; i++)
      projection += y[i] * dy[i];
  }
  for (int i = 0; i < n; i++)
    dx[i] += (dy[i] - y[i] * projection) / divisor;
}

/* Everything of one pair, forward and backward. Returns the pair's summed CE of both directions
 * (before the division by the token count); with dv non-NULL accumulates weight times its
 * gradient. */
static double
sparc_pair (const float *v,
            const float *t,
            int          L,
            int          P,
            int          E,
            double       lambda,
            double       weight,
            float       *dv,
            float       *dt,
            double      *dscale)
{
  const gsize        LP = (gsize) L * P, LE = (gsize) L * E, LL = (gsize) L * L;
  g_autofree double *s = g_new (double, LP);
  g_autofree double *a = g_new (double, LP);
  g_autofree double *c = g_new0 (double, LE);
  g_autofree double *chat = g_new (double, LE);
  g_autofree double *that = g_new (double, LE);
  g_autofree double *c_norm = g_new (double, L);
  g_autofree double *t_norm = g_new (double, L);
  g_autofree double *z = g_new (double, LL);
  g_autofree double *zt = g_new (double, LL);
  g_autofree double *dz = dv != NULL ? g_new (double, LL) : NULL;
  g_autofree double *dzt = dv != NULL ? g_new (double, LL) : NULL;
  g_autofree double *td = g_new (double, LE);
  SparcCache         cache = sparc_cache_new (L, P);
  double             loss;

  similarities (s, t, v, L, P, E);
  sparc_weights_rows (a, &cache, s, L, P);
  for (int l = 0; l < L; l++) {
    for (int p = 0; p < P; p++) {
      const double w = a[(gsize) l * P + p];

      for (int e = 0; e < E && w != 0.0; e++)
        c[(gsize) l * E + e] += w * v[(gsize) p * E + e];
    }
    for (int e = 0; e < E; e++)
      td[(gsize) l * E + e] = t[(gsize) l * E + e];
    c_norm[l] = normalize (chat + (gsize) l * E, c + (gsize) l * E, E);
    t_norm[l] = normalize (that + (gsize) l * E, td + (gsize) l * E, E);
  }
  for (int l = 0; l < L; l++) {
    for (int k = 0; k < L; k++) {
      double sum = 0.0;

      for (int e = 0; e < E; e++)
        sum += chat[(gsize) l * E + e] * that[(gsize) k * E + e];
      z[(gsize) l * L + k] = lambda * sum;
      zt[(gsize) k * L + l] = lambda * sum;
    }
  }
  /* cross_entropy_rows returns means over the L rows; the loss wants sums. */
  loss =
    L * (cross_entropy_rows (z, dz, L, weight * L) + cross_entropy_rows (zt, dzt, L, weight * L));
  if (dv != NULL) {
    g_autofree double *dchat = g_new0 (double, LE);
    g_autofree double *dthat = g_new0 (double, LE);
    g_autofree double *dc = g_new0 (double, LE);
    g_autofree double *dtd = g_new0 (double, LE);
    g_autofree double *ds = g_new0 (double, LP);

    for (int l = 0; l < L; l++) {
      for (int k = 0; k < L; k++) {
        const double g = dz[(gsize) l * L + k] + dzt[(gsize) k * L + l];

        *dscale += g * z[(gsize) l * L + k];
        for (int e = 0; e < E; e++) {
          dchat[(gsize) l * E + e] += lambda * g * that[(gsize) k * E + e];
          dthat[(gsize) k * E + e] += lambda * g * chat[(gsize) l * E + e];
        }
      }
    }
    for (int l = 0; l < L; l++) {
      const double *dcl = dc + (gsize) l * E;
      double       *da = g_newa (double, P);
      double       *dshat = g_newa (double, P);
      const double *arow = a + (gsize) l * P;
      const double *shat = cache.shat + (gsize) l * P;
      double       *dsrow = ds + (gsize) l * P;
      const double  range = cache.range[l];
      double        mean_da = 0.0;

      normalize_backward (dc + (gsize) l * E, dchat + (gsize) l * E, chat + (gsize) l * E,
                          c_norm[l], E);
      normalize_backward (dtd + (gsize) l * E, dthat + (gsize) l * E, that + (gsize) l * E,
                          t_norm[l], E);
      for (int p = 0; p < P; p++) {
        da[p] = 0.0;
        for (int e = 0; e < E; e++)
          da[p] += dcl[e] * v[(gsize) p * E + e];
        mean_da += da[p] * arow[p];
        if (arow[p] != 0.0) {
          for (int e = 0; e < E; e++)
            dv[(gsize) p * E + e] += (float) (arow[p] * dcl[e]);
        }
      }
      /* A uniform row is a constant: nothing flows back into the similarities. */
      if (range == 0.0)
        continue;
      for (int p = 0; p < P; p++) {
        /* a = kept-entry / kept-sum; the threshold zeroes the rest. */
        dshat[p] = arow[p] != 0.0 ? (da[p] - mean_da) / cache.kept[l] : 0.0;
        dsrow[p] += dshat[p] / range;
        dsrow[cache.argmin[l]] += dshat[p] * (shat[p] - 1.0) / range;
        dsrow[cache.argmax[l]] -= dshat[p] * shat[p] / range;
      }
    }
    for (int l = 0; l < L; l++) {
      for (int p = 0; p < P; p++) {
        const double g = ds[(gsize) l * P + p];

        for (int e = 0; e < E && g != 0.0; e++) {
          dtd[(gsize) l * E + e] += g * v[(gsize) p * E + e];
          dv[(gsize) p * E + e] += (float) (g * t[(gsize) l * E + e]);
        }
      }
    }
    for (gsize k = 0; k < LE; k++)
      dt[k] += (float) dtd[k];
  }
  sparc_cache_clear (&cache);
  return loss;
}

double
wp_loss_sparc_fine (const float *patches,
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
  const double lambda = exp (logit_scale);
  double       loss = 0.0, dscale = 0.0;
  int          n_tokens = 0;

  for (int b = 0; b < B; b++)
    n_tokens += lengths[b];
  for (int b = 0; b < B; b++) {
    loss +=
      sparc_pair (patches + (gsize) b * P * E, tokens + (gsize) b * K * E, lengths[b], P, E, lambda,
                  0.5 / n_tokens, dpatches != NULL ? dpatches + (gsize) b * P * E : NULL,
                  dtokens != NULL ? dtokens + (gsize) b * K * E : NULL, &dscale);
  }
  if (dpatches != NULL)
    *dlogit_scale += (float) dscale;
  return 0.5 * loss / n_tokens;
}
