/* sparc_cross.c: SPARC's fine-grained loss with image and pair negatives, whose groupings pair
 * every caption with every image of the batch (docs/algorithms.md, "SPARC"). */
#include <math.h>
#include <string.h>

#include "objectives-private.h"
#include "sparc-private.h"
#include "wordpatch/objectives.h"

/* Whether caption j holds id; shared->ids must be set. */
static gboolean
caption_holds (const WpSparcSharedTokens *shared,
               const WpFineBatch         *batch,
               int                        j,
               int                        id)
{
  for (int l = 0; l < batch->lengths[j]; l++) {
    if (shared->ids[(gsize) j * shared->T + l] == id)
      return TRUE;
  }
  return FALSE;
}

/* Image negatives: pair i's tokens grouped over image j's patches, each token's logit
 * lambda <c^, t^> into zimg at column j, or -inf where image j is no negative of the token. The
 * groupings overwrite pair i's records. */
static void
sparc_image_logits_fill (WpSparcCache              *cache,
                         const WpFineBatch         *batch,
                         const WpSparcSharedTokens *shared,
                         double                     threshold,
                         int                        i,
                         int                        j,
                         double                     lambda)
{
  const int         B = batch->B, K = batch->K, E = batch->E;
  const WpSparcPair pair = wp_sparc_pair_group (cache, batch, threshold, i, j);

  for (int l = 0; l < batch->lengths[i]; l++)
    cache->zimg[((gsize) i * K + l) * B + j] =
      j != i && shared->ids != NULL &&
          caption_holds (shared, batch, j, shared->ids[(gsize) i * shared->T + l])
        ? -INFINITY
        : lambda * wp_sparc_dot (pair.chat + (gsize) l * E, pair.that + (gsize) l * E, E);
}

double
wp_sparc_image_logits_forward (WpSparcCache              *cache,
                               const WpFineBatch         *batch,
                               const WpSparcSharedTokens *shared,
                               double                     threshold,
                               double                     lambda)
{
  const int B = batch->B, K = batch->K;
  double    loss = 0.0;

  for (int i = 0; i < B; i++) {
    for (int j = 0; j < B; j++)
      sparc_image_logits_fill (cache, batch, shared, threshold, i, j, lambda);
    for (int l = 0; l < batch->lengths[i]; l++) {
      const double *row = cache->zimg + ((gsize) i * K + l) * B;
      double        max = row[0], sum = 0.0;

      for (int j = 1; j < B; j++)
        max = fmax (max, row[j]);
      for (int j = 0; j < B; j++)
        sum += exp (row[j] - max);
      cache->row_max[(gsize) i * 2 * K + l] = max;
      cache->row_sum[(gsize) i * 2 * K + l] = sum;
      loss += max + log (sum) - row[i];
    }
  }
  return loss;
}

/* Carries back into dpatches and dtokens the gradient of pair i's tokens grouped over image j
 * (pair's records), given the gradient dcos[l] of the loss with respect to each token's cosine
 * <c^, t^> with its grouping. */
static void
sparc_cross_group_backward (float             *dpatches,
                            float             *dtokens,
                            const WpSparcPair *pair,
                            WpSparcCache      *cache,
                            const WpFineBatch *batch,
                            const double      *dcos,
                            gboolean           stop_selection,
                            int                i,
                            int                j)
{
  const int E = batch->E;

  for (int l = 0; l < batch->lengths[i]; l++) {
    for (int e = 0; e < E; e++) {
      cache->dchat[(gsize) l * E + e] = dcos[l] * pair->that[(gsize) l * E + e];
      cache->dthat[(gsize) l * E + e] = dcos[l] * pair->chat[(gsize) l * E + e];
    }
  }
  wp_sparc_pair_group_backward (dpatches, dtokens, pair, cache, batch, cache->dchat, cache->dthat,
                                stop_selection, i, j);
}

void
wp_sparc_image_logits_backward (float                     *dpatches,
                                float                     *dtokens,
                                double                    *dscale,
                                WpSparcCache              *cache,
                                const WpFineBatch         *batch,
                                const WpSparcSharedTokens *shared,
                                double                     threshold,
                                gboolean                   stop_selection,
                                double                     lambda,
                                double                     weight)
{
  const int B = batch->B, P = batch->P, K = batch->K, E = batch->E;
  /* The pair logits' scratch, which these negatives leave unused, holds each token's dcos. */
  double *dcos = cache->dz;

  for (int i = 0; i < B; i++) {
    const WpSparcPair pair = wp_sparc_pair (cache, i, P, K, E);

    for (int j = 0; j < B; j++) {
      sparc_image_logits_fill (cache, batch, shared, threshold, i, j, lambda);
      for (int l = 0; l < batch->lengths[i]; l++) {
        const gsize  slot = (gsize) i * 2 * K + l;
        const double z = cache->zimg[((gsize) i * K + l) * B + j];
        /* An image that is no negative has no logit, so no gradient. */
        const double g =
          isinf (z) ? 0.0
                    : weight * (exp (z - cache->row_max[slot]) / cache->row_sum[slot] -
                                (double) (i == j));

        if (g != 0.0)
          *dscale += g * z;
        dcos[l] = lambda * g;
      }
      sparc_cross_group_backward (dpatches, dtokens, &pair, cache, batch, dcos, stop_selection, i,
                                  j);
    }
  }
}

/* Pair negatives: caption i's tokens grouped over image j's patches; the pair's score
 * lambda mean_l <c^, t^> into zimg at (i, j) and at B^2 + (j, i), the transpose. The groupings
 * overwrite pair i's records. */
static void
sparc_pair_scores_fill (WpSparcCache      *cache,
                        const WpFineBatch *batch,
                        double             threshold,
                        int                i,
                        int                j,
                        double             lambda)
{
  const int         B = batch->B, E = batch->E, L = batch->lengths[i];
  const WpSparcPair pair = wp_sparc_pair_group (cache, batch, threshold, i, j);
  double            sum = 0.0;

  for (int l = 0; l < L; l++)
    sum += wp_sparc_dot (pair.chat + (gsize) l * E, pair.that + (gsize) l * E, E);
  cache->zimg[(gsize) i * B + j] = lambda * sum / L;
  cache->zimg[(gsize) (B + j) * B + i] = cache->zimg[(gsize) i * B + j];
}

/* The patch side's patches: of each image, the n_kept most similar (raw dot product) to any
 * valid token of the batch, ties to the lower index, as FILIP's token selection; and the norms
 * of every patch and valid token. */
static void
patch_side_select (WpSparcCache      *cache,
                   const WpFineBatch *batch,
                   int                n_kept)
{
  const int    B = batch->B, P = batch->P, K = batch->K, E = batch->E;
  const float *patches = batch->patches, *tokens = batch->tokens;
  const int   *lengths = batch->lengths;
  double      *score = cache->da;

  for (int i = 0; i < B; i++) {
    for (int l = 0; l < lengths[i]; l++) {
      const float *t = tokens + ((gsize) i * K + l) * E;

      cache->token_norm[(gsize) i * K + l] = fmax (sqrt (wp_sparc_dot_float (t, t, E)), 1e-6);
    }
  }
  for (int j = 0; j < B; j++) {
    for (int p = 0; p < P; p++) {
      const float *v = patches + ((gsize) j * P + p) * E;

      cache->patch_norm[(gsize) j * P + p] = fmax (sqrt (wp_sparc_dot_float (v, v, E)), 1e-6);
      score[p] = -G_MAXDOUBLE;
      for (int i = 0; i < B; i++) {
        for (int l = 0; l < lengths[i]; l++) {
          const float *t = tokens + ((gsize) i * K + l) * E;

          score[p] = fmax (score[p], wp_sparc_dot_float (v, t, E));
        }
      }
    }
    wp_keep_highest (cache->patch_kept + (gsize) j * P, score, P, n_kept);
  }
}

/* The cosine of patch p of image j with token l of caption i. */
static double
patch_side_cosine (const WpSparcCache *cache,
                   const WpFineBatch  *batch,
                   int                 j,
                   int                 p,
                   int                 i,
                   int                 l)
{
  const int   E = batch->E;
  const gsize vp = (gsize) j * batch->P + p, tl = (gsize) i * batch->K + l;

  return wp_sparc_dot_float (batch->patches + vp * E, batch->tokens + tl * E, E) /
         (cache->patch_norm[vp] * cache->token_norm[tl]);
}

/* The valid token of caption i most similar to patch p of image j, the first on ties; its
 * cosine into best_cosine. */
static int
patch_side_best (double             *best_cosine,
                 const WpSparcCache *cache,
                 const WpFineBatch  *batch,
                 int                 j,
                 int                 p,
                 int                 i)
{
  int best = 0;

  *best_cosine = patch_side_cosine (cache, batch, j, p, i, 0);
  for (int l = 1; l < batch->lengths[i]; l++) {
    const double cosine = patch_side_cosine (cache, batch, j, p, i, l);

    if (cosine > *best_cosine) {
      *best_cosine = cosine;
      best = l;
    }
  }
  return best;
}

/* The patch side's score of image j and caption i: lambda times the mean over j's kept patches
 * of each one's largest cosine with i's valid tokens. */
static double
patch_side_score (const WpSparcCache *cache,
                  const WpFineBatch  *batch,
                  int                 j,
                  int                 i,
                  int                 n_kept,
                  double              lambda)
{
  double sum = 0.0;

  for (int p = 0; p < batch->P; p++) {
    double cosine;

    if (!cache->patch_kept[(gsize) j * batch->P + p])
      continue;
    patch_side_best (&cosine, cache, batch, j, p, i);
    sum += cosine;
  }
  return lambda * sum / n_kept;
}

/* Accumulates into dpatches and dtokens the gradient of the patch side's score of image j and
 * caption i, times dscore: through each kept patch's cosine with its best token. */
static void
patch_side_backward (float              *dpatches,
                     float              *dtokens,
                     const WpSparcCache *cache,
                     const WpFineBatch  *batch,
                     int                 j,
                     int                 i,
                     int                 n_kept,
                     double              dscore)
{
  const int P = batch->P, K = batch->K, E = batch->E;

  for (int p = 0; p < P; p++) {
    const gsize  vp = (gsize) j * P + p;
    int          l;
    gsize        tl;
    double       cosine, nv, nt;
    const float *v, *t;

    if (!cache->patch_kept[vp])
      continue;
    l = patch_side_best (&cosine, cache, batch, j, p, i);
    tl = (gsize) i * K + l;
    v = batch->patches + vp * E;
    t = batch->tokens + tl * E;
    nv = cache->patch_norm[vp];
    nt = cache->token_norm[tl];
    /* d cos / dv = t / (|v| |t|) - cos v / |v|^2, and symmetrically for t. */
    for (int e = 0; e < E; e++) {
      const double d = dscore / n_kept;

      dpatches[vp * E + e] += (float) (d * (t[e] / (nv * nt) - cosine * v[e] / (nv * nv)));
      dtokens[tl * E + e] += (float) (d * (v[e] / (nv * nt) - cosine * t[e] / (nt * nt)));
    }
  }
}

double
wp_sparc_pair_scores_forward (WpSparcCache      *cache,
                              const WpFineBatch *batch,
                              double             threshold,
                              double             patch_side,
                              double             lambda)
{
  const int   B = batch->B;
  const gsize BB = (gsize) B * B;
  const int   n_kept = wp_filip_kept_patches (patch_side, batch->P);

  if (patch_side > 0.0)
    patch_side_select (cache, batch, n_kept);
  for (int i = 0; i < B; i++) {
    for (int j = 0; j < B; j++) {
      sparc_pair_scores_fill (cache, batch, threshold, i, j, lambda);
      if (patch_side > 0.0)
        cache->zimg[2 * BB + (gsize) j * B + i] =
          patch_side_score (cache, batch, j, i, n_kept, lambda);
    }
  }
  return B * (wp_cross_entropy_rows_forward (cache->row_max, cache->row_sum, cache->zimg, B) +
              wp_cross_entropy_rows_forward (cache->row_max + B, cache->row_sum + B,
                                             cache->zimg + (patch_side > 0.0 ? 2 : 1) * BB, B));
}

void
wp_sparc_pair_scores_backward (float             *dpatches,
                               float             *dtokens,
                               double            *dscale,
                               WpSparcCache      *cache,
                               const WpFineBatch *batch,
                               double             threshold,
                               double             patch_side,
                               gboolean           stop_selection,
                               double             lambda,
                               double             weight)
{
  const int   B = batch->B, P = batch->P, K = batch->K, E = batch->E;
  const gsize BB = (gsize) B * B;
  const int   n_kept = wp_filip_kept_patches (patch_side, P);
  /* The pair logits' scratch, which these negatives leave unused, holds each token's dcos. */
  double *dcos = cache->dz;

  for (int i = 0; i < B; i++) {
    const WpSparcPair pair = wp_sparc_pair (cache, i, P, K, E);

    for (int j = 0; j < B; j++) {
      double z, g;

      sparc_pair_scores_fill (cache, batch, threshold, i, j, lambda);
      z = cache->zimg[(gsize) i * B + j];
      /* z is row i's logit j, and column j's logit i unless the patch side takes the columns. */
      g = weight * (exp (z - cache->row_max[i]) / cache->row_sum[i] - (double) (i == j));
      if (patch_side > 0.0) {
        const double zp = cache->zimg[2 * BB + (gsize) j * B + i];
        const double gp =
          weight * (exp (zp - cache->row_max[B + j]) / cache->row_sum[B + j] - (double) (i == j));

        *dscale += gp * zp;
        patch_side_backward (dpatches, dtokens, cache, batch, j, i, n_kept, lambda * gp);
      } else {
        g += weight * (exp (z - cache->row_max[B + j]) / cache->row_sum[B + j] - (double) (i == j));
      }
      *dscale += g * z;
      for (int l = 0; l < batch->lengths[i]; l++)
        dcos[l] = lambda * g / batch->lengths[i];
      sparc_cross_group_backward (dpatches, dtokens, &pair, cache, batch, dcos, stop_selection, i,
                                  j);
    }
  }
}
