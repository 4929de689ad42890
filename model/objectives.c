#include "wordpatch/objectives.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "layout-private.h"

/* FILIP's and SPARC's caches share the bytes after CLIP's and the box term's: no loss runs both,
 * and FILIP's grows as B^2 where SPARC's grows as B, so the larger of the two is what a state
 * pays for. */
static void
lay_out (WpObjectiveCaches *caches,
         WpLayout          *layout)
{
  const guint64 B = caches->max_B, P = caches->P, K = caches->K, E = caches->E, BB = B * B;
  WpClipCache  *clip = &caches->clip;
  WpFilipCache *filip = &caches->filip;
  WpSparcCache *sparc = &caches->sparc;
  WpBoxCache   *box = &caches->box;
  guint64       shared, filip_end;

  WP_LAYOUT_ARRAY (layout, clip->dots, BB);
  WP_LAYOUT_ARRAY (layout, clip->logits, BB);
  WP_LAYOUT_ARRAY (layout, clip->logits_t, BB);
  WP_LAYOUT_ARRAY (layout, clip->row_max, 2 * B);
  WP_LAYOUT_ARRAY (layout, clip->row_sum, 2 * B);
  WP_LAYOUT_ARRAY (layout, clip->dlogits, BB);
  WP_LAYOUT_ARRAY (layout, clip->dlogits_t, BB);
  WP_LAYOUT_ARRAY (layout, clip->dscaled, BB);
  WP_LAYOUT_ARRAY (layout, caches->sigmoid.dots, BB);
  WP_LAYOUT_ARRAY (layout, caches->sigmoid.logits, BB);
  WP_LAYOUT_ARRAY (layout, caches->sigmoid.dscaled, BB);

  WP_LAYOUT_ARRAY (layout, box->word, B * K * E);
  WP_LAYOUT_ARRAY (layout, box->map, B * K * P);
  WP_LAYOUT_ARRAY (layout, box->lse, B * K);
  WP_LAYOUT_ARRAY (layout, box->dword, E);

  shared = layout->used;
  WP_LAYOUT_ARRAY (layout, filip->sim, P * K);
  WP_LAYOUT_ARRAY (layout, filip->patch_best, B * P);
  WP_LAYOUT_ARRAY (layout, filip->score, P);
  WP_LAYOUT_ARRAY (layout, filip->best_token, BB * P);
  WP_LAYOUT_ARRAY (layout, filip->best_patch, BB * K);
  WP_LAYOUT_ARRAY (layout, filip->keep, B * P);
  WP_LAYOUT_ARRAY (layout, filip->a, BB);
  WP_LAYOUT_ARRAY (layout, filip->c, BB);
  WP_LAYOUT_ARRAY (layout, filip->row_max, 2 * B);
  WP_LAYOUT_ARRAY (layout, filip->row_sum, 2 * B);
  WP_LAYOUT_ARRAY (layout, filip->da, BB);
  WP_LAYOUT_ARRAY (layout, filip->dc, BB);
  filip_end = layout->used;

  layout->used = shared;
  WP_LAYOUT_ARRAY (layout, sparc->a, B * K * P);
  WP_LAYOUT_ARRAY (layout, sparc->shat, B * K * P);
  WP_LAYOUT_ARRAY (layout, sparc->argmin, B * K);
  WP_LAYOUT_ARRAY (layout, sparc->argmax, B * K);
  WP_LAYOUT_ARRAY (layout, sparc->range, B * K);
  WP_LAYOUT_ARRAY (layout, sparc->kept, B * K);
  WP_LAYOUT_ARRAY (layout, sparc->chat, B * K * E);
  WP_LAYOUT_ARRAY (layout, sparc->that, B * K * E);
  WP_LAYOUT_ARRAY (layout, sparc->c_norm, B * K);
  WP_LAYOUT_ARRAY (layout, sparc->t_norm, B * K);
  WP_LAYOUT_ARRAY (layout, sparc->z, B * K * K);
  WP_LAYOUT_ARRAY (layout, sparc->zt, B * K * K);
  WP_LAYOUT_ARRAY (layout, sparc->row_max, B * 2 * K);
  WP_LAYOUT_ARRAY (layout, sparc->row_sum, B * 2 * K);
  WP_LAYOUT_ARRAY (layout, sparc->s, K * P);
  WP_LAYOUT_ARRAY (layout, sparc->c, K * E);
  WP_LAYOUT_ARRAY (layout, sparc->td, K * E);
  WP_LAYOUT_ARRAY (layout, sparc->dz, K * K);
  WP_LAYOUT_ARRAY (layout, sparc->dzt, K * K);
  WP_LAYOUT_ARRAY (layout, sparc->dchat, K * E);
  WP_LAYOUT_ARRAY (layout, sparc->dthat, K * E);
  WP_LAYOUT_ARRAY (layout, sparc->dc, K * E);
  WP_LAYOUT_ARRAY (layout, sparc->dtd, K * E);
  WP_LAYOUT_ARRAY (layout, sparc->ds, K * P);
  WP_LAYOUT_ARRAY (layout, sparc->da, P);
  WP_LAYOUT_ARRAY (layout, sparc->dshat, P);
  layout->used = MAX (layout->used, filip_end);
}

static void
set_dims (WpObjectiveCaches *caches,
          int                max_B,
          int                P,
          int                K,
          int                E)
{
  memset (caches, 0, sizeof *caches);
  caches->max_B = max_B;
  caches->P = P;
  caches->K = K;
  caches->E = E;
}

guint64
wp_objective_caches_bytes (int max_B,
                           int P,
                           int K,
                           int E)
{
  WpObjectiveCaches measure;
  WpLayout          layout = { 0 };

  set_dims (&measure, max_B, P, K, E);
  lay_out (&measure, &layout);
  return layout.used;
}

void
wp_objective_caches_init (WpObjectiveCaches *caches,
                          int                max_B,
                          int                P,
                          int                K,
                          int                E)
{
  WpLayout layout = { 0 };

  set_dims (caches, max_B, P, K, E);
  lay_out (caches, &layout);
  caches->buffer = wp_layout_alloc (&layout);
  lay_out (caches, &layout);
  wp_layout_check (&layout);
}

void
wp_objective_caches_clear (WpObjectiveCaches *caches)
{
  g_clear_pointer (&caches->buffer, g_free);
}

/* The mean cross-entropy of the rows of logits (n, n) with diagonal targets. Records each row's
 * maximum and its sum of exp(x - max) for the backward. */
static double
cross_entropy_rows_forward (double       *row_max,
                            double       *row_sum,
                            const double *logits,
                            int           n)
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
    row_max[i] = max;
    row_sum[i] = sum;
  }
  return loss / n;
}

/* Writes into dlogits (n, n) the gradient of weight times that mean: weight (softmax - onehot)
 * / n. */
static void
cross_entropy_rows_backward (double       *dlogits,
                             const double *logits,
                             const double *row_max,
                             const double *row_sum,
                             int           n,
                             double        weight)
{
  for (int i = 0; i < n; i++) {
    const double *row = logits + (gsize) i * n;

    for (int j = 0; j < n; j++)
      dlogits[(gsize) i * n + j] = weight * (exp (row[j] - row_max[i]) / row_sum[i] - (i == j)) / n;
  }
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
wp_loss_clip_forward (WpClipCache *cache,
                      const float *img,
                      const float *txt,
                      float        logit_scale,
                      int          B,
                      int          E)
{
  const double lambda = exp (logit_scale);

  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, B, B, E, 1.0f, img, E, txt, E, 0.0f,
               cache->dots, B);
  for (gsize k = 0; k < (gsize) B * B; k++)
    cache->logits[k] = lambda * cache->dots[k];
  transpose (cache->logits_t, cache->logits, B);
  return 0.5 * cross_entropy_rows_forward (cache->row_max, cache->row_sum, cache->logits, B) +
         0.5 * cross_entropy_rows_forward (cache->row_max + B, cache->row_sum + B, cache->logits_t,
                                           B);
}

void
wp_loss_clip_backward (float       *dimg,
                       float       *dtxt,
                       float       *dlogit_scale,
                       WpClipCache *cache,
                       const float *img,
                       const float *txt,
                       float        logit_scale,
                       int          B,
                       int          E)
{
  const double lambda = exp (logit_scale);
  double       dscale = 0.0;

  cross_entropy_rows_backward (cache->dlogits, cache->logits, cache->row_max, cache->row_sum, B,
                               0.5);
  cross_entropy_rows_backward (cache->dlogits_t, cache->logits_t, cache->row_max + B,
                               cache->row_sum + B, B, 0.5);
  /* dG (rows images) = dlogits + dlogits_t^T; G = lambda dots, so d dots = lambda dG and
   * d logit_scale = sum dG * G. */
  for (int i = 0; i < B; i++) {
    for (int j = 0; j < B; j++) {
      const double dg = cache->dlogits[(gsize) i * B + j] + cache->dlogits_t[(gsize) j * B + i];

      dscale += dg * cache->logits[(gsize) i * B + j];
      cache->dscaled[(gsize) i * B + j] = (float) (lambda * dg);
    }
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, B, E, B, 1.0f, cache->dscaled, B, txt, E,
               1.0f, dimg, E);
  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, B, E, B, 1.0f, cache->dscaled, B, img, E,
               1.0f, dtxt, E);
  *dlogit_scale += (float) dscale;
}

/* log sigmoid(x) = -log(1 + exp(-x)), without overflow for either sign of x. */
static double
log_sigmoid (double x)
{
  return fmin (x, 0.0) - log1p (exp (-fabs (x)));
}

double
wp_loss_sigmoid_forward (WpSigmoidCache *cache,
                         const float    *img,
                         const float    *txt,
                         float           logit_scale,
                         float           logit_bias,
                         int             B,
                         int             E)
{
  const double t = exp (logit_scale);
  double       loss = 0.0;

  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, B, B, E, 1.0f, img, E, txt, E, 0.0f,
               cache->dots, B);
  for (int i = 0; i < B; i++) {
    for (int j = 0; j < B; j++) {
      const gsize  k = (gsize) i * B + j;
      const double z = i == j ? 1.0 : -1.0;

      cache->logits[k] = t * cache->dots[k] + logit_bias;
      loss -= log_sigmoid (z * cache->logits[k]);
    }
  }
  return loss / B;
}

void
wp_loss_sigmoid_backward (float          *dimg,
                          float          *dtxt,
                          float          *dlogit_scale,
                          float          *dlogit_bias,
                          WpSigmoidCache *cache,
                          const float    *img,
                          const float    *txt,
                          float           logit_scale,
                          float           logit_bias,
                          int             B,
                          int             E)
{
  const double t = exp (logit_scale);
  double       dscale = 0.0, dbias = 0.0;

  /* d/dl of -log sigmoid(z l) is -z sigmoid(-z l); l = t dots + b, t = exp(logit_scale). */
  for (int i = 0; i < B; i++) {
    for (int j = 0; j < B; j++) {
      const gsize  k = (gsize) i * B + j;
      const double z = i == j ? 1.0 : -1.0;
      const double dl = -z / (1.0 + exp (z * cache->logits[k])) / B;

      dbias += dl;
      dscale += dl * t * cache->dots[k];
      cache->dscaled[k] = (float) (t * dl);
    }
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, B, E, B, 1.0f, cache->dscaled, B, txt, E,
               1.0f, dimg, E);
  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, B, E, B, 1.0f, cache->dscaled, B, img, E,
               1.0f, dtxt, E);
  *dlogit_scale += (float) dscale;
  *dlogit_bias += (float) dbias;
}

int
wp_filip_kept_patches (double patch_fraction,
                       int    P)
{
  return CLAMP ((int) ceil (patch_fraction * P - 1e-9), 1, P);
}

/* The kept patches of one image: the k with the highest token-wise maximum similarity over all
 * the batch's texts (FILIP's token selection), ties to the lower index. patch_best (B, P) holds
 * each patch's maximum over each text's valid tokens; keep (P) receives 1 for kept patches;
 * score (P) is scratch. */
static void
select_patches (guint8      *keep,
                float       *score,
                const float *patch_best,
                int          B,
                int          P,
                int          k)
{
  for (int p = 0; p < P; p++) {
    score[p] = -G_MAXFLOAT;
    for (int j = 0; j < B; j++)
      score[p] = fmaxf (score[p], patch_best[(gsize) j * P + p]);
  }
  memset (keep, 0, P);
  for (int n = 0; n < k; n++) {
    int best = -1;

    for (int p = 0; p < P; p++) {
      if (!keep[p] && (best < 0 || score[p] > score[best]))
        best = p;
    }
    keep[best] = 1;
  }
}

double
wp_loss_filip_forward (WpFilipCache *cache,
                       const float  *patches,
                       const float  *tokens,
                       const int    *lengths,
                       float         logit_scale,
                       double        patch_fraction,
                       int           B,
                       int           P,
                       int           K,
                       int           E)
{
  const double lambda = exp (logit_scale);
  const int    n_kept = wp_filip_kept_patches (patch_fraction, P);
  float       *sim = cache->sim;

  /* Image by image: the selection of an image's patches needs its blocks with every text, and
   * then its sI row can be summed. */
  for (int i = 0; i < B; i++) {
    const float *v = patches + (gsize) i * P * E;
    guint8      *keep = cache->keep + (gsize) i * P;

    for (int j = 0; j < B; j++) {
      const float *t = tokens + (gsize) j * K * E;
      const int    L = lengths[j];
      const gsize  ij = (gsize) i * B + j;
      float       *patch_best = cache->patch_best + (gsize) j * P;
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
        cache->best_token[ij * P + p] = best;
        patch_best[p] = row[best];
      }
      for (int l = 0; l < L; l++) {
        int best = 0;

        for (int p = 1; p < P; p++) {
          if (sim[(gsize) p * L + l] > sim[(gsize) best * L + l])
            best = p;
        }
        cache->best_patch[ij * K + l] = best;
        s_text += sim[(gsize) best * L + l];
      }
      cache->c[(gsize) j * B + i] = lambda * s_text / L;
    }
    if (n_kept < P)
      select_patches (keep, cache->score, cache->patch_best, B, P, n_kept);
    else
      memset (keep, 1, P);
    for (int j = 0; j < B; j++) {
      const float *patch_best = cache->patch_best + (gsize) j * P;
      double       s_image = 0.0;

      for (int p = 0; p < P; p++) {
        if (keep[p])
          s_image += patch_best[p];
      }
      cache->a[(gsize) i * B + j] = lambda * s_image / n_kept;
    }
  }
  return 0.5 * cross_entropy_rows_forward (cache->row_max, cache->row_sum, cache->a, B) +
         0.5 * cross_entropy_rows_forward (cache->row_max + B, cache->row_sum + B, cache->c, B);
}

void
wp_loss_filip_backward (float        *dpatches,
                        float        *dtokens,
                        float        *dlogit_scale,
                        WpFilipCache *cache,
                        const float  *patches,
                        const float  *tokens,
                        const int    *lengths,
                        float         logit_scale,
                        double        patch_fraction,
                        int           B,
                        int           P,
                        int           K,
                        int           E)
{
  const double lambda = exp (logit_scale);
  const int    n_kept = wp_filip_kept_patches (patch_fraction, P);
  double       dscale = 0.0;

  cross_entropy_rows_backward (cache->da, cache->a, cache->row_max, cache->row_sum, B, 0.5);
  cross_entropy_rows_backward (cache->dc, cache->c, cache->row_max + B, cache->row_sum + B, B,
                               0.5);
  /* Each similarity's gradient flows to the arg-maxes the forward recorded. */
  for (int i = 0; i < B; i++) {
    const float  *v = patches + (gsize) i * P * E;
    float        *dv = dpatches + (gsize) i * P * E;
    const guint8 *keep = cache->keep + (gsize) i * P;

    for (int j = 0; j < B; j++) {
      const float *t = tokens + (gsize) j * K * E;
      float       *dt = dtokens + (gsize) j * K * E;
      const int    L = lengths[j];
      const gsize  ij = (gsize) i * B + j, ji = (gsize) j * B + i;
      const float  g_image = (float) (lambda * cache->da[ij] / n_kept),
                  g_text = (float) (lambda * cache->dc[ji] / L);

      dscale += cache->da[ij] * cache->a[ij] + cache->dc[ji] * cache->c[ji];
      for (int p = 0; p < P; p++) {
        const int l = cache->best_token[ij * P + p];

        if (!keep[p])
          continue;
        cblas_saxpy (E, g_image, t + (gsize) l * E, 1, dv + (gsize) p * E, 1);
        cblas_saxpy (E, g_image, v + (gsize) p * E, 1, dt + (gsize) l * E, 1);
      }
      for (int l = 0; l < L; l++) {
        const int p = cache->best_patch[ij * K + l];

        cblas_saxpy (E, g_text, v + (gsize) p * E, 1, dt + (gsize) l * E, 1);
        cblas_saxpy (E, g_text, t + (gsize) l * E, 1, dv + (gsize) p * E, 1);
      }
    }
  }
  *dlogit_scale += (float) dscale;
}

/* One pair's part of a WpSparcCache: its arrays for L valid tokens (see objectives.h). */
typedef struct {
  double *a, *shat;          /* (L, P) */
  int    *argmin, *argmax;   /* (L) */
  double *range, *kept;      /* (L) */
  double *chat, *that;       /* (L, E) */
  double *c_norm, *t_norm;   /* (L) */
  double *z, *zt;            /* (L, L) */
  double *row_max, *row_sum; /* (2L): the rows of z, then those of zt */
} SparcPair;

static SparcPair
sparc_pair (const WpSparcCache *cache,
            int                 b,
            int                 P,
            int                 K,
            int                 E)
{
  const gsize KP = (gsize) b * K * P, KE = (gsize) b * K * E, K1 = (gsize) b * K;
  SparcPair   pair = {
      cache->a + KP,
      cache->shat + KP,
      cache->argmin + K1,
      cache->argmax + K1,
      cache->range + K1,
      cache->kept + K1,
      cache->chat + KE,
      cache->that + KE,
      cache->c_norm + K1,
      cache->t_norm + K1,
      cache->z + (gsize) b * K * K,
      cache->zt + (gsize) b * K * K,
      cache->row_max + 2 * K1,
      cache->row_sum + 2 * K1,
  };

  return pair;
}

/* Row-wise min-max normalisation and sparsification of s (L, P) into pair->a; records the
 * normalised values, the arg-min and arg-max, the range and the kept sum of each row for the
 * backward. A range below 1e-8 marks the row uniform (range 0). */
static void
sparc_weights_rows (SparcPair    *pair,
                    const double *s,
                    int           L,
                    int           P)
{
  const double threshold = 1.0 / P;

  for (int l = 0; l < L; l++) {
    const double *row = s + (gsize) l * P;
    double       *shat = pair->shat + (gsize) l * P;
    double       *out = pair->a + (gsize) l * P;
    int           lo = 0, hi = 0;
    double        range, kept = 0.0;

    for (int p = 1; p < P; p++) {
      if (row[p] < row[lo])
        lo = p;
      if (row[p] > row[hi])
        hi = p;
    }
    range = row[hi] - row[lo];
    pair->argmin[l] = lo;
    pair->argmax[l] = hi;
    if (range < 1e-8) {
      for (int p = 0; p < P; p++)
        out[p] = threshold;
      pair->range[l] = 0.0;
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
    pair->range[l] = range;
    pair->kept[l] = kept;
  }
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
  const gsize        LP = (gsize) L * P;
  g_autofree double *s = g_new (double, LP);
  g_autofree double *a = g_new (double, LP);
  g_autofree double *shat = g_new (double, LP);
  g_autofree int    *args = g_new (int, 2 * (gsize) L);
  g_autofree double *stats = g_new (double, 2 * (gsize) L);
  SparcPair          pair = { .a = a,
                              .shat = shat,
                              .argmin = args,
                              .argmax = args + L,
                              .range = stats,
                              .kept = stats + L };

  similarities (s, tokens, patches, L, P, E);
  sparc_weights_rows (&pair, s, L, P);
  for (gsize k = 0; k < LP; k++)
    weights[k] = (float) a[k];
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

/* One pair's forward: v (P, E) patches, t (L, E) valid tokens. Returns the pair's summed CE of
 * both directions, before the division by the batch's token count. */
static double
sparc_pair_forward (SparcPair    *pair,
                    WpSparcCache *cache,
                    const float  *v,
                    const float  *t,
                    int           L,
                    int           P,
                    int           E,
                    double        lambda)
{
  double *c = cache->c, *td = cache->td;

  similarities (cache->s, t, v, L, P, E);
  sparc_weights_rows (pair, cache->s, L, P);
  memset (c, 0, (gsize) L * E * sizeof (double));
  for (int l = 0; l < L; l++) {
    for (int p = 0; p < P; p++) {
      const double w = pair->a[(gsize) l * P + p];

      for (int e = 0; e < E && w != 0.0; e++)
        c[(gsize) l * E + e] += w * v[(gsize) p * E + e];
    }
    for (int e = 0; e < E; e++)
      td[(gsize) l * E + e] = t[(gsize) l * E + e];
    pair->c_norm[l] = normalize (pair->chat + (gsize) l * E, c + (gsize) l * E, E);
    pair->t_norm[l] = normalize (pair->that + (gsize) l * E, td + (gsize) l * E, E);
  }
  for (int l = 0; l < L; l++) {
    for (int k = 0; k < L; k++) {
      double sum = 0.0;

      for (int e = 0; e < E; e++)
        sum += pair->chat[(gsize) l * E + e] * pair->that[(gsize) k * E + e];
      pair->z[(gsize) l * L + k] = lambda * sum;
      pair->zt[(gsize) k * L + l] = lambda * sum;
    }
  }
  /* The cross-entropies are means over the L rows; the loss wants sums. */
  return L * (cross_entropy_rows_forward (pair->row_max, pair->row_sum, pair->z, L) +
              cross_entropy_rows_forward (pair->row_max + L, pair->row_sum + L, pair->zt, L));
}

/* One pair's backward: accumulates weight times the gradient of its summed CE into dv (P, E),
 * dt (L, E) and dscale. */
static void
sparc_pair_backward (float           *dv,
                     float           *dt,
                     double          *dscale,
                     const SparcPair *pair,
                     WpSparcCache    *cache,
                     const float     *v,
                     const float     *t,
                     int              L,
                     int              P,
                     int              E,
                     double           lambda,
                     double           weight)
{
  const gsize LE = (gsize) L * E;
  double     *dz = cache->dz, *dzt = cache->dzt, *dchat = cache->dchat, *dthat = cache->dthat;
  double     *dc = cache->dc, *dtd = cache->dtd, *ds = cache->ds, *da = cache->da;
  double     *dshat = cache->dshat;

  cross_entropy_rows_backward (dz, pair->z, pair->row_max, pair->row_sum, L, weight * L);
  cross_entropy_rows_backward (dzt, pair->zt, pair->row_max + L, pair->row_sum + L, L, weight * L);
  memset (dchat, 0, LE * sizeof (double));
  memset (dthat, 0, LE * sizeof (double));
  memset (dc, 0, LE * sizeof (double));
  memset (dtd, 0, LE * sizeof (double));
  memset (ds, 0, (gsize) L * P * sizeof (double));
  for (int l = 0; l < L; l++) {
    for (int k = 0; k < L; k++) {
      const double g = dz[(gsize) l * L + k] + dzt[(gsize) k * L + l];

      *dscale += g * pair->z[(gsize) l * L + k];
      for (int e = 0; e < E; e++) {
        dchat[(gsize) l * E + e] += lambda * g * pair->that[(gsize) k * E + e];
        dthat[(gsize) k * E + e] += lambda * g * pair->chat[(gsize) l * E + e];
      }
    }
  }
  for (int l = 0; l < L; l++) {
    const double *dcl = dc + (gsize) l * E;
    const double *arow = pair->a + (gsize) l * P;
    const double *shat = pair->shat + (gsize) l * P;
    double       *dsrow = ds + (gsize) l * P;
    const double  range = pair->range[l];
    double        mean_da = 0.0;

    normalize_backward (dc + (gsize) l * E, dchat + (gsize) l * E, pair->chat + (gsize) l * E,
                        pair->c_norm[l], E);
    normalize_backward (dtd + (gsize) l * E, dthat + (gsize) l * E, pair->that + (gsize) l * E,
                        pair->t_norm[l], E);
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
      dshat[p] = arow[p] != 0.0 ? (da[p] - mean_da) / pair->kept[l] : 0.0;
      dsrow[p] += dshat[p] / range;
      dsrow[pair->argmin[l]] += dshat[p] * (shat[p] - 1.0) / range;
      dsrow[pair->argmax[l]] -= dshat[p] * shat[p] / range;
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

static int
count_tokens (const int *lengths,
              int        B)
{
  int n_tokens = 0;

  for (int b = 0; b < B; b++)
    n_tokens += lengths[b];
  return n_tokens;
}

double
wp_loss_sparc_fine_forward (WpSparcCache *cache,
                            const float  *patches,
                            const float  *tokens,
                            const int    *lengths,
                            float         logit_scale,
                            int           B,
                            int           P,
                            int           K,
                            int           E)
{
  const double lambda = exp (logit_scale);
  double       loss = 0.0;

  for (int b = 0; b < B; b++) {
    SparcPair pair = sparc_pair (cache, b, P, K, E);

    loss += sparc_pair_forward (&pair, cache, patches + (gsize) b * P * E,
                                tokens + (gsize) b * K * E, lengths[b], P, E, lambda);
  }
  return 0.5 * loss / count_tokens (lengths, B);
}

void
wp_loss_sparc_fine_backward (float        *dpatches,
                             float        *dtokens,
                             float        *dlogit_scale,
                             WpSparcCache *cache,
                             const float  *patches,
                             const float  *tokens,
                             const int    *lengths,
                             float         logit_scale,
                             int           B,
                             int           P,
                             int           K,
                             int           E)
{
  const double lambda = exp (logit_scale);
  const double weight = 0.5 / count_tokens (lengths, B);
  double       dscale = 0.0;

  for (int b = 0; b < B; b++) {
    const SparcPair pair = sparc_pair (cache, b, P, K, E);

    sparc_pair_backward (dpatches + (gsize) b * P * E, dtokens + (gsize) b * K * E, &dscale, &pair,
                         cache, patches + (gsize) b * P * E, tokens + (gsize) b * K * E,
                         lengths[b], P, E, lambda, weight);
  }
  *dlogit_scale += (float) dscale;
}

void
wp_box_words_init (WpBoxWords *words,
                   int         max_words,
                   int         P)
{
  memset (words, 0, sizeof *words);
  words->max_words = max_words;
  words->P = P;
  words->pair = g_new (int, max_words);
  words->first = g_new (int, max_words);
  words->n_tokens = g_new (int, max_words);
  words->inside = g_new (guint8, (gsize) max_words * P);
}

void
wp_box_words_clear (WpBoxWords *words)
{
  g_clear_pointer (&words->pair, g_free);
  g_clear_pointer (&words->first, g_free);
  g_clear_pointer (&words->n_tokens, g_free);
  g_clear_pointer (&words->inside, g_free);
  words->n_words = 0;
}

double
wp_loss_box_forward (WpBoxCache       *cache,
                     const float      *patches,
                     const float      *tokens,
                     const WpBoxWords *words,
                     double            tau,
                     int               P,
                     int               K,
                     int               E)
{
  const int W = words->n_words;
  double    loss = 0.0;

  for (int w = 0; w < W; w++) {
    const float  *v = patches + (gsize) words->pair[w] * P * E;
    const float  *t = tokens + ((gsize) words->pair[w] * K + words->first[w]) * E;
    const guint8 *inside = words->inside + (gsize) w * P;
    double       *word = cache->word + (gsize) w * E, *map = cache->map + (gsize) w * P;
    double        max = -G_MAXDOUBLE, sum = 0.0, target = 0.0;
    int           n_inside = 0;

    for (int e = 0; e < E; e++) {
      word[e] = 0.0;
      for (int l = 0; l < words->n_tokens[w]; l++)
        word[e] += t[(gsize) l * E + e];
      word[e] /= words->n_tokens[w];
    }
    for (int p = 0; p < P; p++) {
      map[p] = 0.0;
      for (int e = 0; e < E; e++)
        map[p] += (double) v[(gsize) p * E + e] * word[e];
      max = fmax (max, map[p] / tau);
      if (inside[p]) {
        target += map[p] / tau;
        n_inside++;
      }
    }
    for (int p = 0; p < P; p++)
      sum += exp (map[p] / tau - max);
    cache->lse[w] = max + log (sum);
    /* -sum_p q_p log pi_p with q uniform on the inside patches. */
    loss += cache->lse[w] - target / n_inside;
  }
  return W > 0 ? loss / W : 0.0;
}

void
wp_loss_box_backward (float            *dpatches,
                      float            *dtokens,
                      WpBoxCache       *cache,
                      const float      *patches,
                      const float      *tokens,
                      const WpBoxWords *words,
                      double            tau,
                      int               P,
                      int               K,
                      int               E)
{
  const int W = words->n_words;
  double   *dword = cache->dword;

  for (int w = 0; w < W; w++) {
    const gsize   b = (gsize) words->pair[w];
    const float  *v = patches + b * P * E;
    float        *dv = dpatches + b * P * E;
    float        *dt = dtokens + (b * K + words->first[w]) * E;
    const guint8 *inside = words->inside + (gsize) w * P;
    const double *word = cache->word + (gsize) w * E, *map = cache->map + (gsize) w * P;
    int           n_inside = 0;

    for (int p = 0; p < P; p++)
      n_inside += inside[p];
    memset (dword, 0, (gsize) E * sizeof (double));
    for (int p = 0; p < P; p++) {
      /* d L_w / d m_p = (pi_p - q_p) / tau, and the loss is the mean over the words. */
      const double pi = exp (map[p] / tau - cache->lse[w]);
      const double g = (pi - (inside[p] ? 1.0 / n_inside : 0.0)) / (tau * W);

      for (int e = 0; e < E; e++) {
        dv[(gsize) p * E + e] += (float) (g * word[e]);
        dword[e] += g * v[(gsize) p * E + e];
      }
    }
    /* The word is the mean of its tokens. */
    for (int l = 0; l < words->n_tokens[w]; l++) {
      for (int e = 0; e < E; e++)
        dt[(gsize) l * E + e] += (float) (dword[e] / words->n_tokens[w]);
    }
  }
}
