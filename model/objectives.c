#include "wordpatch/objectives.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "layout-private.h"
#include "objectives-private.h"
#include "wordpatch/kernels.h"

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
  WP_LAYOUT_ARRAY (layout, sparc->patches_d, B * P * E);
  WP_LAYOUT_ARRAY (layout, sparc->tokens_d, B * K * E);
  WP_LAYOUT_ARRAY (layout, sparc->s, K * P);
  WP_LAYOUT_ARRAY (layout, sparc->c, K * E);
  WP_LAYOUT_ARRAY (layout, sparc->dz, K * K);
  WP_LAYOUT_ARRAY (layout, sparc->dzt, K * K);
  WP_LAYOUT_ARRAY (layout, sparc->dchat, K * E);
  WP_LAYOUT_ARRAY (layout, sparc->dthat, K * E);
  WP_LAYOUT_ARRAY (layout, sparc->dc, K * E);
  WP_LAYOUT_ARRAY (layout, sparc->dtd, K * E);
  WP_LAYOUT_ARRAY (layout, sparc->ds, K * P);
  WP_LAYOUT_ARRAY (layout, sparc->da, K * P);
  WP_LAYOUT_ARRAY (layout, sparc->dshat, P);
  WP_LAYOUT_ARRAY (layout, sparc->dv, P * E);
  WP_LAYOUT_ARRAY (layout, sparc->dchat_all, B * K * E);
  WP_LAYOUT_ARRAY (layout, sparc->dthat_all, B * K * E);
  WP_LAYOUT_ARRAY (layout, sparc->slots, B * K);
  WP_LAYOUT_ARRAY (layout, sparc->centred, B * P * E);
  WP_LAYOUT_ARRAY (layout, sparc->dcentred, B * P * E);
  WP_LAYOUT_ARRAY (layout, sparc->zimg, B * MAX (K, 3) * B);
  WP_LAYOUT_ARRAY (layout, sparc->patch_kept, B * P);
  WP_LAYOUT_ARRAY (layout, sparc->patch_norm, B * P);
  WP_LAYOUT_ARRAY (layout, sparc->token_norm, B * K);
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

double
wp_cross_entropy_rows_forward (double       *row_max,
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

void
wp_cross_entropy_rows_backward (double       *dlogits,
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

/* dots (B, B) = img txt^T: every pair's similarity, CLIP's and SigLIP's logits before their
 * scale. One product rather than wp_matmul_forward(), which splits small batches into column
 * blocks whose sums may round differently. */
static void
pair_dots (float       *dots,
           const float *img,
           const float *txt,
           int          B,
           int          E)
{
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, B, B, E, 1.0f, img, E, txt, E, 0.0f, dots,
               B);
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
  double       images_to_texts, texts_to_images;

  pair_dots (cache->dots, img, txt, B, E);
  for (gsize k = 0; k < (gsize) B * B; k++)
    cache->logits[k] = lambda * cache->dots[k];
  transpose (cache->logits_t, cache->logits, B);
  images_to_texts =
    wp_cross_entropy_rows_forward (cache->row_max, cache->row_sum, cache->logits, B);
  texts_to_images =
    wp_cross_entropy_rows_forward (cache->row_max + B, cache->row_sum + B, cache->logits_t, B);
  return 0.5 * images_to_texts + 0.5 * texts_to_images;
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

  wp_cross_entropy_rows_backward (cache->dlogits, cache->logits, cache->row_max, cache->row_sum, B,
                                  0.5);
  wp_cross_entropy_rows_backward (cache->dlogits_t, cache->logits_t, cache->row_max + B,
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
  /* dots = img txt^T is a layer's product with txt as its weight. */
  wp_matmul_backward (dimg, dtxt, NULL, cache->dscaled, img, txt, B, E, B);
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

  pair_dots (cache->dots, img, txt, B, E);
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
  /* dots = img txt^T is a layer's product with txt as its weight. */
  wp_matmul_backward (dimg, dtxt, NULL, cache->dscaled, img, txt, B, E, B);
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
                double      *score,
                const float *patch_best,
                int          B,
                int          P,
                int          k)
{
  for (int p = 0; p < P; p++) {
    float best = -G_MAXFLOAT;

    for (int j = 0; j < B; j++)
      best = fmaxf (best, patch_best[(gsize) j * P + p]);
    score[p] = best;
  }
  wp_keep_highest (keep, score, P, k);
}

void
wp_keep_highest (guint8       *keep,
                 const double *score,
                 int           n,
                 int           k)
{
  memset (keep, 0, n);
  for (int m = 0; m < k; m++) {
    int best = -1;

    for (int i = 0; i < n; i++) {
      if (!keep[i] && (best < 0 || score[i] > score[best]))
        best = i;
    }
    keep[best] = 1;
  }
}

double
wp_loss_filip_forward (WpFilipCache      *cache,
                       const WpFineBatch *batch,
                       float              logit_scale,
                       double             patch_fraction)
{
  const int    B = batch->B, P = batch->P, K = batch->K, E = batch->E;
  const double lambda = exp (logit_scale);
  const int    n_kept = wp_filip_kept_patches (patch_fraction, P);
  float       *sim = cache->sim;

  /* Image by image: the selection of an image's patches needs its blocks with every text, and
   * then its sI row can be summed. */
  for (int i = 0; i < B; i++) {
    const float *v = batch->patches + (gsize) i * P * E;
    guint8      *keep = cache->keep + (gsize) i * P;

    for (int j = 0; j < B; j++) {
      const float *t = batch->tokens + (gsize) j * K * E;
      const int    L = batch->lengths[j];
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
  return 0.5 * wp_cross_entropy_rows_forward (cache->row_max, cache->row_sum, cache->a, B) +
         0.5 * wp_cross_entropy_rows_forward (cache->row_max + B, cache->row_sum + B, cache->c, B);
}

void
wp_loss_filip_backward (float             *dpatches,
                        float             *dtokens,
                        float             *dlogit_scale,
                        WpFilipCache      *cache,
                        const WpFineBatch *batch,
                        float              logit_scale,
                        double             patch_fraction)
{
  const int    B = batch->B, P = batch->P, K = batch->K, E = batch->E;
  const double lambda = exp (logit_scale);
  const int    n_kept = wp_filip_kept_patches (patch_fraction, P);
  double       dscale = 0.0;

  wp_cross_entropy_rows_backward (cache->da, cache->a, cache->row_max, cache->row_sum, B, 0.5);
  wp_cross_entropy_rows_backward (cache->dc, cache->c, cache->row_max + B, cache->row_sum + B, B,
                                  0.5);
  /* Each similarity's gradient flows to the arg-maxes the forward recorded. */
  for (int i = 0; i < B; i++) {
    const float  *v = batch->patches + (gsize) i * P * E;
    float        *dv = dpatches + (gsize) i * P * E;
    const guint8 *keep = cache->keep + (gsize) i * P;

    for (int j = 0; j < B; j++) {
      const float *t = batch->tokens + (gsize) j * K * E;
      float       *dt = dtokens + (gsize) j * K * E;
      const int    L = batch->lengths[j];
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
wp_loss_box_forward (WpBoxCache        *cache,
                     const WpFineBatch *batch,
                     const WpBoxWords  *words,
                     double             tau)
{
  const int W = words->n_words, P = batch->P, K = batch->K, E = batch->E;
  double    loss = 0.0;

  for (int w = 0; w < W; w++) {
    const float  *v = batch->patches + (gsize) words->pair[w] * P * E;
    const float  *t = batch->tokens + ((gsize) words->pair[w] * K + words->first[w]) * E;
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
wp_loss_box_backward (float             *dpatches,
                      float             *dtokens,
                      WpBoxCache        *cache,
                      const WpFineBatch *batch,
                      const WpBoxWords  *words,
                      double             tau)
{
  const int W = words->n_words, P = batch->P, K = batch->K, E = batch->E;
  double   *dword = cache->dword;

  for (int w = 0; w < W; w++) {
    const gsize   b = (gsize) words->pair[w];
    const float  *v = batch->patches + b * P * E;
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
