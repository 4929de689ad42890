/* sparc.c: SPARC's alignment weights and fine-grained loss (docs/algorithms.md, "SPARC"); its
 * image and pair negatives are in sparc_cross.c. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "objectives-private.h"
#include "sparc-private.h"
#include "wordpatch/objectives.h"

WpSparcPair
wp_sparc_pair (const WpSparcCache *cache,
               int                 b,
               int                 P,
               int                 K,
               int                 E)
{
  const gsize KP = (gsize) b * K * P, KE = (gsize) b * K * E, K1 = (gsize) b * K;
  WpSparcPair pair = {
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

/* Row-wise min-max normalisation and sparsification at threshold of s (L, P) into pair->a;
 * records the normalised values, the arg-min and arg-max, the range and the kept sum of each row
 * for the backward. A range below 1e-8 marks the row uniform (range 0). */
static void
sparc_weights_rows (WpSparcPair  *pair,
                    const double *s,
                    double        threshold,
                    int           L,
                    int           P)
{
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
        out[p] = 1.0 / P;
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

double
wp_sparc_dot_float (const float *x,
                    const float *y,
                    int          n)
{
  double sum = 0.0;

  for (int i = 0; i < n; i++)
    sum += (double) x[i] * y[i];
  return sum;
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
    for (int p = 0; p < P; p++)
      s[(gsize) l * P + p] =
        wp_sparc_dot_float (tokens + (gsize) l * E, patches + (gsize) p * E, E);
  }
}

/* The maps' alignment weights (L, P) of the similarities s (L, P): the paper's 1/P threshold. */
static void
map_weights (float        *weights,
             const double *s,
             int           L,
             int           P)
{
  const gsize        LP = (gsize) L * P;
  g_autofree double *a = g_new (double, LP);
  g_autofree double *shat = g_new (double, LP);
  g_autofree int    *args = g_new (int, 2 * (gsize) L);
  g_autofree double *stats = g_new (double, 2 * (gsize) L);
  WpSparcPair        rows = { .a = a,
                              .shat = shat,
                              .argmin = args,
                              .argmax = args + L,
                              .range = stats,
                              .kept = stats + L };

  sparc_weights_rows (&rows, s, 1.0 / P, L, P);
  for (gsize k = 0; k < LP; k++)
    weights[k] = (float) a[k];
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

  similarities (s, tokens, patches, L, P, E);
  map_weights (weights, s, L, P);
}

void
wp_sparc_caption_scores (float       *scores,
                         const float *patches,
                         const float *tokens,
                         const guint *offsets,
                         int          V,
                         int          P,
                         int          E)
{
  const int          N = (int) (offsets[V] - offsets[0]);
  const gsize        NP = (gsize) N * P;
  g_autofree float  *products = g_new (float, NP);
  g_autofree float  *weights = g_new (float, NP);
  g_autofree float  *grouped = g_new (float, (gsize) N *E);
  g_autofree double *s = g_new (double, NP);

  /* Every caption's tokens at once: two matrix products per image instead of two per pair. */
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, N, P, E, 1.0f, tokens, E, patches, E,
               0.0f, products, P);
  for (gsize k = 0; k < NP; k++)
    s[k] = products[k];
  map_weights (weights, s, N, P);
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, N, E, P, 1.0f, weights, P, patches, E,
               0.0f, grouped, E);
  for (int v = 0; v < V; v++) {
    const int first = (int) (offsets[v] - offsets[0]), L = (int) (offsets[v + 1] - offsets[v]);
    double    sum = 0.0;

    for (int l = first; l < first + L; l++) {
      const float *c = grouped + (gsize) l * E, *t = tokens + (gsize) l * E;
      const double c_norm = sqrt (wp_sparc_dot_float (c, c, E));
      const double t_norm = sqrt (wp_sparc_dot_float (t, t, E));

      sum += wp_sparc_dot_float (c, t, E) / (fmax (c_norm, 1e-6) * fmax (t_norm, 1e-6));
    }
    scores[v] = (float) (sum / L);
  }
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

WpSparcPair
wp_sparc_pair_group (WpSparcCache      *cache,
                     const WpFineBatch *batch,
                     double             threshold,
                     int                i,
                     int                j)
{
  const int     P = batch->P, K = batch->K, E = batch->E, L = batch->lengths[i];
  const double *v = cache->patches_d + (gsize) j * P * E;
  const double *t = cache->tokens_d + (gsize) i * K * E;
  WpSparcPair   pair = wp_sparc_pair (cache, i, P, K, E);
  double       *c = cache->c;

  /* s (L, P) = t v^T; c (L, E) = a v */
  cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasTrans, L, P, E, 1.0, t, E, v, E, 0.0, cache->s,
               P);
  sparc_weights_rows (&pair, cache->s, threshold, L, P);
  cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, L, E, P, 1.0, pair.a, P, v, E, 0.0, c,
               E);
  for (int l = 0; l < L; l++) {
    pair.c_norm[l] = normalize (pair.chat + (gsize) l * E, c + (gsize) l * E, E);
    pair.t_norm[l] = normalize (pair.that + (gsize) l * E, t + (gsize) l * E, E);
  }
  return pair;
}

double
wp_sparc_dot (const double *x,
              const double *y,
              int           n)
{
  double sum = 0.0;

  for (int i = 0; i < n; i++)
    sum += x[i] * y[i];
  return sum;
}

/* The pair's own L x L logits (the paper's): returns its summed CE of both directions, before
 * the division by the batch's token count. */
static double
sparc_pair_logits_forward (WpSparcPair *pair,
                           int          L,
                           int          E,
                           double       lambda)
{
  for (int l = 0; l < L; l++) {
    for (int k = 0; k < L; k++) {
      const double z =
        lambda * wp_sparc_dot (pair->chat + (gsize) l * E, pair->that + (gsize) k * E, E);

      pair->z[(gsize) l * L + k] = z;
      pair->zt[(gsize) k * L + l] = z;
    }
  }
  /* The cross-entropies are means over the L rows; the loss wants sums. */
  return L * (wp_cross_entropy_rows_forward (pair->row_max, pair->row_sum, pair->z, L) +
              wp_cross_entropy_rows_forward (pair->row_max + L, pair->row_sum + L, pair->zt, L));
}

/* Writes into dchat and dthat (L, E) weight times the gradient of the pair's summed CE, and
 * accumulates its logit-scale gradient into dscale. */
static void
sparc_pair_logits_backward (double            *dchat,
                            double            *dthat,
                            double            *dscale,
                            const WpSparcPair *pair,
                            WpSparcCache      *cache,
                            int                L,
                            int                E,
                            double             lambda,
                            double             weight)
{
  double *dz = cache->dz, *dzt = cache->dzt;

  wp_cross_entropy_rows_backward (dz, pair->z, pair->row_max, pair->row_sum, L, weight * L);
  wp_cross_entropy_rows_backward (dzt, pair->zt, pair->row_max + L, pair->row_sum + L, L,
                                  weight * L);
  memset (dchat, 0, (gsize) L * E * sizeof (double));
  memset (dthat, 0, (gsize) L * E * sizeof (double));
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
}

void
wp_sparc_pair_group_backward (float             *dpatches,
                              float             *dtokens,
                              const WpSparcPair *pair,
                              WpSparcCache      *cache,
                              const WpFineBatch *batch,
                              const double      *dchat,
                              const double      *dthat,
                              gboolean           stop_selection,
                              int                i,
                              int                j)
{
  const int     P = batch->P, K = batch->K, E = batch->E, L = batch->lengths[i];
  const gsize   LE = (gsize) L * E, PE = (gsize) P * E;
  const double *v = cache->patches_d + j * PE, *t = cache->tokens_d + (gsize) i * K * E;
  float        *dv = dpatches + j * PE, *dt = dtokens + (gsize) i * K * E;
  double       *dc = cache->dc, *dtd = cache->dtd, *ds = cache->ds, *da = cache->da;
  double       *dshat = cache->dshat, *dvd = cache->dv;

  memset (dc, 0, LE * sizeof (double));
  memset (dtd, 0, LE * sizeof (double));
  memset (ds, 0, (gsize) L * P * sizeof (double));
  for (int l = 0; l < L; l++) {
    normalize_backward (dc + (gsize) l * E, dchat + (gsize) l * E, pair->chat + (gsize) l * E,
                        pair->c_norm[l], E);
    normalize_backward (dtd + (gsize) l * E, dthat + (gsize) l * E, pair->that + (gsize) l * E,
                        pair->t_norm[l], E);
  }
  /* c = a v: da (L, P) = dc v^T, and dv = a^T dc. */
  cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasTrans, L, P, E, 1.0, dc, E, v, E, 0.0, da, P);
  cblas_dgemm (CblasRowMajor, CblasTrans, CblasNoTrans, P, E, L, 1.0, pair->a, P, dc, E, 0.0, dvd,
               E);
  for (int l = 0; l < L; l++) {
    const double *arow = pair->a + (gsize) l * P, *darow = da + (gsize) l * P;
    const double *shat = pair->shat + (gsize) l * P;
    double       *dsrow = ds + (gsize) l * P;
    const double  range = pair->range[l];
    double        mean_da = 0.0;

    /* A uniform row is a constant: nothing flows back into the similarities. */
    if (range == 0.0 || stop_selection)
      continue;
    for (int p = 0; p < P; p++)
      mean_da += darow[p] * arow[p];
    for (int p = 0; p < P; p++) {
      /* a = kept-entry / kept-sum; the threshold zeroes the rest. */
      dshat[p] = arow[p] != 0.0 ? (darow[p] - mean_da) / pair->kept[l] : 0.0;
      dsrow[p] += dshat[p] / range;
      dsrow[pair->argmin[l]] += dshat[p] * (shat[p] - 1.0) / range;
      dsrow[pair->argmax[l]] -= dshat[p] * shat[p] / range;
    }
  }
  /* s = t v^T: dt += ds v, dv += ds^T t. */
  cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, L, E, P, 1.0, ds, P, v, E, 1.0, dtd, E);
  cblas_dgemm (CblasRowMajor, CblasTrans, CblasNoTrans, P, E, L, 1.0, ds, P, t, E, 1.0, dvd, E);
  for (gsize k = 0; k < PE; k++)
    dv[k] += (float) dvd[k];
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

/* The batch's valid tokens as one list: the (B, K) slot of each into slots; returns their
 * count. */
static int
valid_slots (int       *slots,
             const int *lengths,
             int        B,
             int        K)
{
  int n = 0;

  for (int b = 0; b < B; b++) {
    for (int l = 0; l < lengths[b]; l++)
      slots[n++] = b * K + l;
  }
  return n;
}

/* Batch negatives: Z_ij = lambda <c^_i, t^_j> over every valid token of the batch, rows and
 * columns both cross-entropies with diagonal targets. The N x N logits are recomputed rather
 * than stored (N = B K can be large); each row's and column's maximum and sum of exponentials
 * go to row_max and row_sum at the token's slot (rows) and the slot plus K (columns). Returns
 * the summed CE of both directions. */
static double
sparc_batch_logits_forward (WpSparcCache *cache,
                            const int    *slots,
                            int           N,
                            int           K,
                            int           E,
                            double        lambda)
{
  double loss = 0.0;

  for (int side = 0; side < 2; side++) {
    const double *rows = side == 0 ? cache->chat : cache->that;
    const double *cols = side == 0 ? cache->that : cache->chat;

    for (int i = 0; i < N; i++) {
      const int    si = slots[i], stat = si / K * 2 * K + si % K + side * K;
      const double diagonal = lambda * wp_sparc_dot (cache->chat + (gsize) si * E,
                                                     cache->that + (gsize) si * E, E);
      double       max = -G_MAXDOUBLE, sum = 0.0;

      /* One pass, each logit computed once: the running sum rescales when the maximum grows. */
      for (int j = 0; j < N; j++) {
        const double z =
          lambda * wp_sparc_dot (rows + (gsize) si * E, cols + (gsize) slots[j] * E, E);

        if (z > max) {
          sum = sum * exp (max - z) + 1.0;
          max = z;
        } else {
          sum += exp (z - max);
        }
      }
      cache->row_max[stat] = max;
      cache->row_sum[stat] = sum;
      loss += max + log (sum) - diagonal;
    }
  }
  return loss;
}

/* Writes into dchat_all and dthat_all (B, K, E) weight times the gradient of the batch's summed
 * CE, and accumulates its logit-scale gradient into dscale. */
static void
sparc_batch_logits_backward (WpSparcCache *cache,
                             double       *dscale,
                             const int    *slots,
                             int           N,
                             int           B,
                             int           K,
                             int           E,
                             double        lambda,
                             double        weight)
{
  memset (cache->dchat_all, 0, (gsize) B * K * E * sizeof (double));
  memset (cache->dthat_all, 0, (gsize) B * K * E * sizeof (double));
  for (int i = 0; i < N; i++) {
    const int     si = slots[i], row = si / K * 2 * K + si % K;
    const double *chat = cache->chat + (gsize) si * E;
    double       *dchat = cache->dchat_all + (gsize) si * E;

    for (int j = 0; j < N; j++) {
      const int     sj = slots[j], col = sj / K * 2 * K + sj % K + K;
      const double *that = cache->that + (gsize) sj * E;
      double       *dthat = cache->dthat_all + (gsize) sj * E;
      const double  z = lambda * wp_sparc_dot (chat, that, E);
      /* Z's row i (vision to language) and Z^T's row j (language to vision) hold z. */
      const double g = weight * (exp (z - cache->row_max[row]) / cache->row_sum[row] +
                                 exp (z - cache->row_max[col]) / cache->row_sum[col] -
                                 2.0 * (i == j));

      *dscale += g * z;
      for (int e = 0; e < E; e++) {
        dchat[e] += lambda * g * that[e];
        dthat[e] += lambda * g * chat[e];
      }
    }
  }
}

/* x (B, P, E) less, in place, the mean over the B images of each position's row (over_images)
 * or over the P patches of each image's rows. The forward centres the patches with it, the
 * backward their gradient (the map is its own transpose). */
static void
centre (float   *x,
        gboolean over_images,
        int      B,
        int      P,
        int      E)
{
  const gsize PE = (gsize) P * E, groups = over_images ? PE : (gsize) B * E;
  const gsize stride = over_images ? PE : (gsize) E;
  const int   count = over_images ? B : P;

  for (gsize g = 0; g < groups; g++) {
    float *row = x + (over_images ? g : g / E * PE + g % E);
    double mean = 0.0;

    for (int i = 0; i < count; i++)
      mean += row[i * stride];
    mean /= count;
    for (int i = 0; i < count; i++)
      row[i * stride] = (float) (row[i * stride] - mean);
  }
}

/* The variant's sparsity threshold, the paper's 1/P where it gives none. */
static double
sparc_threshold (const WpSparcVariant *variant,
                 int                   P)
{
  return variant->threshold > 0.0 ? variant->threshold : 1.0 / P;
}

static const WpSparcFlags centred_flags = WP_SPARC_CENTRE_POSITIONS | WP_SPARC_CENTRE_IMAGES;

/* The patches and the tokens L_f sees into the cache in double. */
static void
sparc_inputs_to_double (WpSparcCache      *cache,
                        const WpFineBatch *seen)
{
  for (gsize k = 0; k < (gsize) seen->B * seen->P * seen->E; k++)
    cache->patches_d[k] = seen->patches[k];
  for (gsize k = 0; k < (gsize) seen->B * seen->K * seen->E; k++)
    cache->tokens_d[k] = seen->tokens[k];
}

/* Applies the flags' centrings to x (B, P, E) in place. */
static void
centre_by_flags (float       *x,
                 WpSparcFlags flags,
                 int          B,
                 int          P,
                 int          E)
{
  if (flags & WP_SPARC_CENTRE_POSITIONS)
    centre (x, TRUE, B, P, E);
  if (flags & WP_SPARC_CENTRE_IMAGES)
    centre (x, FALSE, B, P, E);
}

double
wp_loss_sparc_fine_forward (WpSparcCache         *cache,
                            const WpFineBatch    *batch,
                            const int            *ids,
                            int                   T,
                            float                 logit_scale,
                            const WpSparcVariant *variant)
{
  const int          B = batch->B, P = batch->P, K = batch->K, E = batch->E;
  const int         *lengths = batch->lengths;
  const WpSparcFlags flags = variant->flags;
  const double       threshold = sparc_threshold (variant, P);
  const double       lambda = exp (logit_scale);
  WpFineBatch        seen = *batch;
  double             loss = 0.0;

  if (flags & centred_flags) {
    memcpy (cache->centred, batch->patches, (gsize) B * P * E * sizeof (float));
    centre_by_flags (cache->centred, flags, B, P, E);
    seen.patches = cache->centred;
  }
  sparc_inputs_to_double (cache, &seen);
  if (flags & WP_SPARC_PAIR_NEGATIVES)
    return 0.5 *
           wp_sparc_pair_scores_forward (cache, &seen, threshold, variant->patch_side, lambda) / B;
  if (flags & WP_SPARC_IMAGE_NEGATIVES) {
    const WpSparcSharedTokens shared = { flags & WP_SPARC_UNSHARED_IMAGES ? ids : NULL, T };

    return wp_sparc_image_logits_forward (cache, &seen, &shared, threshold, lambda) /
           count_tokens (lengths, B);
  }
  for (int b = 0; b < B; b++) {
    WpSparcPair pair = wp_sparc_pair_group (cache, &seen, threshold, b, b);

    if (!(flags & WP_SPARC_BATCH_NEGATIVES))
      loss += sparc_pair_logits_forward (&pair, lengths[b], E, lambda);
  }
  if (flags & WP_SPARC_BATCH_NEGATIVES) {
    const int N = valid_slots (cache->slots, lengths, B, K);

    loss = sparc_batch_logits_forward (cache, cache->slots, N, K, E, lambda);
  }
  return 0.5 * loss / count_tokens (lengths, B);
}

void
wp_loss_sparc_fine_backward (float                *dpatches,
                             float                *dtokens,
                             float                *dlogit_scale,
                             WpSparcCache         *cache,
                             const WpFineBatch    *batch,
                             const int            *ids,
                             int                   T,
                             float                 logit_scale,
                             const WpSparcVariant *variant)
{
  const int          B = batch->B, P = batch->P, K = batch->K, E = batch->E;
  const int         *lengths = batch->lengths;
  const WpSparcFlags flags = variant->flags;
  const double       lambda = exp (logit_scale);
  const double       weight = 0.5 / count_tokens (lengths, B);
  const gboolean     centred = (flags & centred_flags) != 0;
  const gboolean     stop_selection = (flags & WP_SPARC_STOP_SELECTION) != 0;
  float             *dv = centred ? cache->dcentred : dpatches;
  WpFineBatch        seen = *batch;
  double             dscale = 0.0;

  /* The forward left the centred patches, and the double copies of what L_f sees, in the
   * cache. */
  if (centred) {
    seen.patches = cache->centred;
    memset (dv, 0, (gsize) B * P * E * sizeof (float));
  }
  if (flags & WP_SPARC_PAIR_NEGATIVES) {
    wp_sparc_pair_scores_backward (dv, dtokens, &dscale, cache, &seen,
                                   sparc_threshold (variant, P), variant->patch_side,
                                   stop_selection, lambda, 0.5 / B);
  } else if (flags & WP_SPARC_IMAGE_NEGATIVES) {
    const WpSparcSharedTokens shared = { flags & WP_SPARC_UNSHARED_IMAGES ? ids : NULL, T };

    /* One direction only: twice the weight of each of the two the other logits have. */
    wp_sparc_image_logits_backward (dv, dtokens, &dscale, cache, &seen, &shared,
                                    sparc_threshold (variant, P), stop_selection, lambda,
                                    2.0 * weight);
  } else {
    if (flags & WP_SPARC_BATCH_NEGATIVES) {
      const int N = valid_slots (cache->slots, lengths, B, K);

      sparc_batch_logits_backward (cache, &dscale, cache->slots, N, B, K, E, lambda, weight);
    }
    for (int b = 0; b < B; b++) {
      const WpSparcPair pair = wp_sparc_pair (cache, b, P, K, E);
      const int         L = lengths[b];
      double           *dchat = cache->dchat, *dthat = cache->dthat;

      if (flags & WP_SPARC_BATCH_NEGATIVES) {
        dchat = cache->dchat_all + (gsize) b * K * E;
        dthat = cache->dthat_all + (gsize) b * K * E;
      } else {
        sparc_pair_logits_backward (dchat, dthat, &dscale, &pair, cache, L, E, lambda, weight);
      }
      wp_sparc_pair_group_backward (dv, dtokens, &pair, cache, &seen, dchat, dthat, stop_selection,
                                    b, b);
    }
  }
  if (centred) {
    centre_by_flags (dv, flags, B, P, E);
    for (gsize k = 0; k < (gsize) B * P * E; k++)
      dpatches[k] += dv[k];
  }
  *dlogit_scale += (float) dscale;
}
