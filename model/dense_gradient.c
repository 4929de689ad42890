/* dense_gradient.c: the gradient map methods (Grad-CAM, Chefer et al., LeGrad) over a batch of
 * queries, from the activations wp_dense_image_new() kept, on CLIP's class token or SigLIP's
 * attention-pooling head. Shapes as dense-private.h. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "dense-private.h"
#include "wordpatch/kernels.h"
#include "wordpatch/vision.h"

typedef struct {
  int    Q, T;
  float *dy;           /* (Q, C) the gradient of each query's pooled input */
  float *rows_c[3];    /* (Q T, C) */
  float *rows_m[2];    /* (Q T, M) */
  float *dkvq;         /* (T, 3C) gradcam, one query at a time */
  float *att, *dprobs; /* (NH, T, T) and (Q, NH, T, T) */
  float *score[4];     /* (max(C, E)) pooled_score_backward's own */
  float *buffer;
} GradScratch;

static void
grad_scratch_init (GradScratch         *s,
                   const WpTowerConfig *t,
                   int                  Q,
                   int                  T,
                   int                  E)
{
  const gsize QTC = (gsize) Q * T * t->width, QTM = (gsize) Q * T * t->mlp_width;
  const gsize TT = (gsize) t->n_heads * T * T, R = MAX (t->width, E);
  const gsize total = (gsize) Q * t->width + 3 * QTC + 2 * QTM + (gsize) 3 * T * t->width +
                      TT * (1 + (gsize) Q) + 4 * R;
  float *p;

  s->Q = Q;
  s->T = T;
  s->buffer = g_new (float, total);
  p = s->buffer;
  s->dy = p, p += (gsize) Q * t->width;
  for (int i = 0; i < 3; i++)
    s->rows_c[i] = p, p += QTC;
  for (int i = 0; i < 2; i++)
    s->rows_m[i] = p, p += QTM;
  s->dkvq = p, p += (gsize) 3 * T * t->width;
  s->att = p, p += TT;
  s->dprobs = p, p += TT * Q;
  for (int i = 0; i < 4; i++)
    s->score[i] = p, p += R;
  g_assert (p == s->buffer + total);
}

/* dy (C) = dS/dy for S = <normalize(visual_projection(post_layernorm(y))), e> with y (C) and
 * e (E) a unit query. */
static void
pooled_score_backward (const WpModel *model,
                       const float   *y,
                       const float   *e,
                       GradScratch   *s,
                       float         *dy)
{
  const WpClipConfig *config = &model->config;
  const int           C = config->vision.width, E = config->projection_dim;
  float              *normed = s->score[0], *projected = s->score[1], *dprojected = s->score[2];
  float              *dnormed = s->score[3], mean, rstd, norm;

  wp_layernorm_forward (normed, &mean, &rstd, y, model->p.post_ln_w, model->p.post_ln_b, 1, C,
                        config->vision.layer_norm_eps);
  wp_matmul_forward (projected, normed, model->p.visual_projection, NULL, 1, C, E);
  wp_l2_normalize_rows (dprojected, &norm, projected, 1, E);
  memset (dprojected, 0, (gsize) E * sizeof (float));
  wp_l2_normalize_rows_backward (dprojected, e, projected, &norm, 1, E);
  memset (dnormed, 0, (gsize) C * sizeof (float));
  wp_matmul_backward (dnormed, NULL, NULL, dprojected, normed, model->p.visual_projection, 1, C, E);
  memset (dy, 0, (gsize) C * sizeof (float));
  wp_layernorm_backward (dy, NULL, NULL, dnormed, y, model->p.post_ln_w, &mean, &rstd, 1, C);
}

/* Backward of Q queries through one block, from the gradient of its output to the gradient of
 * its heads' outputs before out_proj, dattn (Q n, C), for the block's first n rows: query q's
 * output gradient is s->dy's row q on each of its n rows (LeGrad's mean-pooled score spreads
 * evenly) or, with n = 1, on row 0 alone (the class token's score). Rows past n are left out,
 * which is exact when their output gradient is zero: the MLP and layer norms work row by row.
 * The queries' rows go through each product together. */
static void
block_backward_to_heads (const WpTowerConfig      *t,
                         const WpLayerParams      *w,
                         const WpEncoderLayerActs *a,
                         int                       Q,
                         int                       n,
                         GradScratch              *s,
                         float                    *dattn)
{
  const int C = t->width, M = t->mlp_width, N = Q * n;
  float    *dact = s->rows_m[0], *dfc1 = s->rows_m[1], *dresid = s->rows_c[1], *dln = s->rows_c[2];

  /* Every row of query q has the same output gradient: one product for the Q distinct rows. */
  memset (dact, 0, (gsize) Q * M * sizeof (float));
  wp_matmul_backward (dact, NULL, NULL, s->dy, a->act, w->fc2_w, Q, M, C);
  for (int q = Q - 1; q >= 0; q--) {
    for (int i = n - 1; i >= 0; i--)
      memmove (dact + ((gsize) q * n + i) * M, dact + (gsize) q * M, (gsize) M * sizeof (float));
  }
  memset (dfc1, 0, (gsize) N * M * sizeof (float));
  for (int q = 0; q < Q; q++)
    wp_activation_backward (dfc1 + (gsize) q * n * M, dact + (gsize) q * n * M, a->fc1,
                            (gsize) n * M, t->activation);
  memset (dln, 0, (gsize) N * C * sizeof (float));
  wp_matmul_backward (dln, NULL, NULL, dfc1, a->ln2, w->fc1_w, N, C, M);
  for (int q = 0; q < Q; q++) {
    for (int i = 0; i < n; i++)
      memcpy (dresid + ((gsize) q * n + i) * C, s->dy + (gsize) q * C, (gsize) C * sizeof (float));
    wp_layernorm_backward (dresid + (gsize) q * n * C, NULL, NULL, dln + (gsize) q * n * C,
                           a->resid1, w->ln2_w, a->ln2_mean, a->ln2_rstd, n, C);
  }
  memset (dattn, 0, (gsize) N * C * sizeof (float));
  wp_matmul_backward (dattn, NULL, NULL, dresid, a->attn, w->out_w, N, C, C);
}

/* dprobs (NH, n, T): the gradient of the attention probabilities of the first n query rows, from
 * dattn (n, C) and the block's values. */
static void
heads_backward_to_probabilities (const WpTowerConfig      *t,
                                 const WpEncoderLayerActs *a,
                                 const float              *dattn,
                                 int                       n,
                                 int                       T,
                                 float                    *dprobs)
{
  const int C = t->width, HS = C / t->n_heads;

  for (int h = 0; h < t->n_heads; h++)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, T, HS, 1.0f, dattn + h * HS, C,
                 a->kvq + C + h * HS, 3 * C, 0.0f, dprobs + (gsize) h * n * T, T);
}

/* The backward both class-token methods start with: each query's score of the pooled class token
 * into s->dy, then through the last block to its heads' outputs, dattn (Q, C) (row 0 only). */
static void
class_scores_to_heads (const WpDenseImage *image,
                       const WpModel      *model,
                       const float        *queries,
                       int                 Q,
                       GradScratch        *s,
                       float              *dattn)
{
  const WpTowerConfig      *t = &model->config.vision;
  const int                 L = t->n_layers;
  const WpEncoderLayerActs *a = &image->encoder.layers[L - 1];

  for (int q = 0; q < Q; q++)
    pooled_score_backward (model, a->resid2, queries + (gsize) q * image->E, s,
                           s->dy + (gsize) q * t->width);
  block_backward_to_heads (t, &model->p.vision_layers[L - 1], a, Q, 1, s, dattn);
}

/* Grad-CAM's map of one query over P patches: out_p = max(0, <alpha, h_p>) with alpha the mean
 * over the patches of the gradient dh_p; dh and h (P, C) start at the first patch's row, alpha
 * (C) is scratch. */
static void
gradcam_row (float       *out,
             double      *alpha,
             const float *dh,
             const float *h,
             int          P,
             int          C)
{
  memset (alpha, 0, (gsize) C * sizeof (double));
  for (int p = 0; p < P; p++) {
    for (int c = 0; c < C; c++)
      alpha[c] += dh[(gsize) p * C + c];
  }
  for (int p = 0; p < P; p++) {
    double dot = 0.0;

    for (int c = 0; c < C; c++)
      dot += alpha[c] / P * h[(gsize) p * C + c];
    out[p] = (float) MAX (dot, 0.0);
  }
}

/* Grad-CAM on the last block's layer_norm1 output H: out (Q, P). */
static void
gradcam_maps (const WpDenseImage *image,
              const WpModel      *model,
              const float        *queries,
              int                 Q,
              GradScratch        *s,
              float              *out)
{
  const WpTowerConfig      *t = &model->config.vision;
  const int                 L = t->n_layers, C = t->width, T = image->T, P = image->P;
  const WpLayerParams      *w = &model->p.vision_layers[L - 1];
  const WpEncoderLayerActs *a = &image->encoder.layers[L - 1];
  g_autofree double        *alpha = g_new (double, C);
  float                    *dattn = s->rows_c[0], *dh = s->rows_c[1], *dkvq = s->dkvq;
  float                    *dattn_rows = s->rows_c[2];

  class_scores_to_heads (image, model, queries, Q, s, dattn);
  for (int q = 0; q < Q; q++) {
    /* Only the class row's output has a gradient. */
    memset (dattn_rows, 0, (gsize) T * C * sizeof (float));
    memcpy (dattn_rows, dattn + (gsize) q * C, (gsize) C * sizeof (float));
    memset (dkvq, 0, (gsize) T * 3 * C * sizeof (float));
    wp_attention_backward (dkvq + 2 * C, dkvq, dkvq + C, 3 * C, s->att, dattn_rows,
                           a->kvq + 2 * C, a->kvq, a->kvq + C, a->att, 1, T, C, t->n_heads,
                           FALSE);
    memset (dh, 0, (gsize) T * C * sizeof (float));
    wp_matmul_backward (dh, NULL, NULL, dkvq, a->ln1, w->k_w, T, C, 3 * C);
    gradcam_row (out + (gsize) q * P, alpha, dh + C, a->ln1 + C, P, C);
  }
}

/* Chefer et al.'s last-layer relevance of the class row: out (Q, P). */
static void
chefer_maps (const WpDenseImage *image,
             const WpModel      *model,
             const float        *queries,
             int                 Q,
             GradScratch        *s,
             float              *out)
{
  const WpTowerConfig      *t = &model->config.vision;
  const int                 L = t->n_layers, NH = t->n_heads;
  const int                 T = image->T, P = image->P;
  const WpEncoderLayerActs *a = &image->encoder.layers[L - 1];
  float                    *dattn = s->rows_c[0], *dprobs = s->dprobs;

  class_scores_to_heads (image, model, queries, Q, s, dattn);
  /* One row a query: heads_backward_to_probabilities over the Q rows gives (NH, Q, T). */
  heads_backward_to_probabilities (t, a, dattn, Q, T, dprobs);
  for (int q = 0; q < Q; q++) {
    for (int p = 0; p < P; p++) {
      double sum = 0.0;

      for (int h = 0; h < NH; h++) {
        const double g = dprobs[((gsize) h * Q + q) * T + 1 + p];
        const double att = a->att[(gsize) h * T * T + 1 + p];

        sum += MAX (g * att, 0.0);
      }
      out[(gsize) q * P + p] = (float) (sum / NH);
    }
  }
}

/* LeGrad over the last K blocks: out (Q, P). */
static void
legrad_maps (const WpDenseImage *image,
             const WpModel      *model,
             const float        *queries,
             int                 Q,
             int                 legrad_layers,
             GradScratch        *s,
             float              *out)
{
  const WpTowerConfig *t = &model->config.vision;
  const int            L = t->n_layers, NH = t->n_heads, C = t->width, T = image->T;
  const int            P = image->P;
  const int            K = legrad_layers <= 0 || legrad_layers > L ? L : legrad_layers;
  g_autofree double   *sum = g_new0 (double, (gsize) Q *P);
  g_autofree float    *z = g_new (float, C);
  float               *dattn = s->rows_c[0], *dprobs = s->dprobs;

  for (int l = L - K; l < L; l++) {
    const WpEncoderLayerActs *a = &image->encoder.layers[l];

    for (int c = 0; c < C; c++) {
      double mean = 0.0;

      for (int i = 0; i < T; i++)
        mean += a->resid2[(gsize) i * C + c];
      z[c] = (float) (mean / T);
    }
    for (int q = 0; q < Q; q++) {
      float *dz = s->dy + (gsize) q * C;

      pooled_score_backward (model, z, queries + (gsize) q * image->E, s, dz);
      for (int c = 0; c < C; c++)
        dz[c] /= T;
    }
    block_backward_to_heads (t, &model->p.vision_layers[l], a, Q, T, s, dattn);
    for (int q = 0; q < Q; q++) {
      heads_backward_to_probabilities (t, a, dattn + (gsize) q * T * C, T, T, dprobs);
      for (int h = 0; h < NH; h++) {
        for (int i = 0; i < T; i++) {
          const float *row = dprobs + ((gsize) h * T + i) * T + 1;
          double      *acc = sum + (gsize) q * P;

          for (int p = 0; p < P; p++)
            acc[p] += MAX (row[p], 0.0f);
        }
      }
    }
  }
  for (gsize i = 0; i < (gsize) Q * P; i++)
    out[i] = (float) (sum[i] / ((double) NH * T));
}

/* ---- SigLIP: the scores of the attention-pooling head (docs/algorithms.md, "SigLIP") ---- */

/* For tokens x (n, C), post_layernorm'ed, and Q unit queries (Q, E): the head's attention A
 * (NH, n) and, for each query's score S = <normalize(pool(x)), e>, G (Q, NH, n) = dS/dA and,
 * when dx is not NULL, dx (Q, n, C) = dS/dx. */
static void
siglip_head_scores (const WpModel *model,
                    const float   *x,
                    int            n,
                    const float   *queries,
                    int            Q,
                    float         *A,
                    float         *G,
                    float         *dx)
{
  const WpClipConfig *config = &model->config;
  const WpParams     *w = &model->p;
  const int           C = config->vision.width, M = config->vision.mlp_width;
  const int           NH = config->vision.n_heads, HS = C / NH;
  const gsize         CC = (gsize) C * C;
  WpSiglipHeadActs    a;
  g_autofree float   *out = g_new (float, (gsize) (n + 1) * C);
  g_autofree float   *row = g_new (float, 5 * (gsize) C + 2 * (gsize) M);
  g_autofree float   *dkv = dx != NULL ? g_new (float, (gsize) n * 2 * C) : NULL;
  float              *unit = row, *dpooled = row + C, *dln = row + 2 * C, *dhx = row + 3 * C;
  float              *dattn = row + 4 * C, *dact = row + 5 * C, *dfc1 = dact + M, norm;

  wp_siglip_head_acts_init (&a, config, 1, n);
  wp_siglip_head_forward (model, &a, x, 1, n, out);
  memcpy (A, a.att, (gsize) NH * n * sizeof (float));
  wp_l2_normalize_rows (unit, &norm, out, 1, C);
  for (int q = 0; q < Q; q++) {
    const float *kv = a.kv;

    /* Row 0 alone: the pooled output h + mlp(layernorm(h)), back to the heads' output. */
    memset (dpooled, 0, (gsize) C * sizeof (float));
    wp_l2_normalize_rows_backward (dpooled, queries + (gsize) q * C, out, &norm, 1, C);
    memset (dact, 0, (gsize) M * sizeof (float));
    wp_matmul_backward (dact, NULL, NULL, dpooled, a.act, w->head_fc2_w, 1, M, C);
    memset (dfc1, 0, (gsize) M * sizeof (float));
    wp_activation_backward (dfc1, dact, a.fc1, M, config->vision.activation);
    memset (dln, 0, (gsize) C * sizeof (float));
    wp_matmul_backward (dln, NULL, NULL, dfc1, a.ln, w->head_fc1_w, 1, C, M);
    memcpy (dhx, dpooled, (gsize) C * sizeof (float));
    wp_layernorm_backward (dhx, NULL, NULL, dln, a.x, w->head_ln_w, a.mean, a.rstd, 1, C);
    memset (dattn, 0, (gsize) C * sizeof (float));
    wp_matmul_backward (dattn, NULL, NULL, dhx, a.in, w->head_out_w, 1, C, C);
    /* out_h = sum_p A_hp v_hp, so dS/dA_hp = dout_h . v_hp. */
    for (int h = 0; h < NH; h++) {
      for (int p = 0; p < n; p++) {
        const float *v = kv + (gsize) p * 2 * C + C + h * HS;
        double       sum = 0.0;

        for (int i = 0; i < HS; i++)
          sum += (double) dattn[h * HS + i] * v[i];
        G[((gsize) q * NH + h) * n + p] = (float) sum;
      }
    }
    if (dx != NULL) {
      float *dxq = dx + (gsize) q * n * C;

      memset (dkv, 0, (gsize) n * 2 * C * sizeof (float));
      memset (dln, 0, (gsize) C * sizeof (float));
      wp_probe_attention_backward (dln, dkv, dkv + C, 2 * C, dattn, a.q, kv, kv + C, a.att, 1, n,
                                   C, NH);
      memset (dxq, 0, (gsize) n * C * sizeof (float));
      wp_matmul_backward (dxq, NULL, NULL, dkv, x, w->head_in_w + CC, n, C, 2 * C);
    }
  }
  wp_siglip_head_acts_clear (&a);
}

/* x (P, C) = post_layernorm (y (P, C)), its mean and rstd (P) kept. */
static void
siglip_post_ln (const WpModel *model,
                const float   *y,
                int            P,
                float         *x,
                float         *mean,
                float         *rstd)
{
  wp_layernorm_forward (x, mean, rstd, y, model->p.post_ln_w, model->p.post_ln_b, P,
                        model->config.vision.width, model->config.vision.layer_norm_eps);
}

/* Grad-CAM on the last block's layer_norm1 output H, every token a patch: out (Q, P). */
static void
siglip_gradcam_maps (const WpDenseImage *image,
                     const WpModel      *model,
                     const float        *queries,
                     int                 Q,
                     float              *out)
{
  const WpTowerConfig      *t = &model->config.vision;
  const int                 L = t->n_layers, C = t->width, M = t->mlp_width, NH = t->n_heads;
  const int                 P = image->P;
  const gsize               PC = (gsize) P * C, PM = (gsize) P * M;
  const WpLayerParams      *w = &model->p.vision_layers[L - 1];
  const WpEncoderLayerActs *a = &image->encoder.layers[L - 1];
  g_autofree float         *x = g_new (float, PC), *mean = g_new (float, P);
  g_autofree float         *rstd = g_new (float, P), *A = g_new (float, (gsize) NH *P);
  g_autofree float         *G = g_new (float, (gsize) Q *NH *P), *dx = g_new (float, Q *PC);
  g_autofree float         *dy = g_new (float, PC), *dln = g_new (float, PC);
  g_autofree float         *dattn = g_new (float, PC), *dkvq = g_new (float, 3 * PC);
  g_autofree float         *dact = g_new (float, PM), *dfc1 = g_new (float, PM);
  g_autofree float         *datt = g_new (float, (gsize) NH *P *P);
  g_autofree double        *alpha = g_new (double, C);

  siglip_post_ln (model, a->resid2, P, x, mean, rstd);
  siglip_head_scores (model, x, P, queries, Q, A, G, dx);
  for (int q = 0; q < Q; q++) {
    /* dy: the gradient of the block's output, then of resid1 through the MLP branch. */
    memset (dy, 0, PC * sizeof (float));
    wp_layernorm_backward (dy, NULL, NULL, dx + (gsize) q * PC, a->resid2, model->p.post_ln_w,
                           mean, rstd, P, C);
    memset (dact, 0, PM * sizeof (float));
    wp_matmul_backward (dact, NULL, NULL, dy, a->act, w->fc2_w, P, M, C);
    memset (dfc1, 0, PM * sizeof (float));
    wp_activation_backward (dfc1, dact, a->fc1, PM, t->activation);
    memset (dln, 0, PC * sizeof (float));
    wp_matmul_backward (dln, NULL, NULL, dfc1, a->ln2, w->fc1_w, P, C, M);
    wp_layernorm_backward (dy, NULL, NULL, dln, a->resid1, w->ln2_w, a->ln2_mean, a->ln2_rstd, P,
                           C);
    memset (dattn, 0, PC * sizeof (float));
    wp_matmul_backward (dattn, NULL, NULL, dy, a->attn, w->out_w, P, C, C);
    memset (dkvq, 0, 3 * PC * sizeof (float));
    wp_attention_backward (dkvq + 2 * C, dkvq, dkvq + C, 3 * C, datt, dattn, a->kvq + 2 * C,
                           a->kvq, a->kvq + C, a->att, 1, P, C, NH, FALSE);
    memset (dln, 0, PC * sizeof (float));
    wp_matmul_backward (dln, NULL, NULL, dkvq, a->ln1, w->k_w, P, C, 3 * C);
    gradcam_row (out + (gsize) q * P, alpha, dln, a->ln1, P, C);
  }
}

/* chefer: the head's attention in place of the class row, map_p = mean_h max(0, G_hp A_hp);
 * legrad (ours): the head on each of the last K blocks' post_layernorm'ed output,
 * map_p = sum_l mean_h max(0, G_l,hp). out (Q, P). */
static void
siglip_attention_maps (const WpDenseImage *image,
                       const WpModel      *model,
                       WpMapMethod         method,
                       const float        *queries,
                       int                 Q,
                       int                 legrad_layers,
                       float              *out)
{
  const WpTowerConfig *t = &model->config.vision;
  const int            L = t->n_layers, C = t->width, NH = t->n_heads, P = image->P;
  const int            K = method == WP_MAP_CHEFER                   ? 1
                           : legrad_layers <= 0 || legrad_layers > L ? L
                                                                     : legrad_layers;
  g_autofree float    *x = g_new (float, (gsize) P *C), *mean = g_new (float, P);
  g_autofree float    *rstd = g_new (float, P), *A = g_new (float, (gsize) NH *P);
  g_autofree float    *G = g_new (float, (gsize) Q *NH *P);
  g_autofree double   *sum = g_new0 (double, (gsize) Q *P);

  for (int l = L - K; l < L; l++) {
    siglip_post_ln (model, image->encoder.layers[l].resid2, P, x, mean, rstd);
    siglip_head_scores (model, x, P, queries, Q, A, G, NULL);
    for (int q = 0; q < Q; q++) {
      for (int h = 0; h < NH; h++) {
        for (int p = 0; p < P; p++) {
          const double g = G[((gsize) q * NH + h) * P + p];

          sum[(gsize) q * P + p] += MAX (method == WP_MAP_CHEFER ? g * A[(gsize) h * P + p] : g,
                                         0.0);
        }
      }
    }
  }
  for (gsize i = 0; i < (gsize) Q * P; i++)
    out[i] = (float) (sum[i] / NH);
}

void
wp_dense_image_gradient_maps (const WpDenseImage *image,
                              const WpModel      *model,
                              WpMapMethod         method,
                              const float        *queries,
                              int                 Q,
                              int                 legrad_layers,
                              float              *out)
{
  GradScratch s;

  g_return_if_fail (image->has_activations && (image->methods & WP_MAP_BIT (method)));
  if (model->config.family == WP_MODEL_FAMILY_SIGLIP) {
    if (method == WP_MAP_GRADCAM)
      siglip_gradcam_maps (image, model, queries, Q, out);
    else
      siglip_attention_maps (image, model, method, queries, Q, legrad_layers, out);
    return;
  }
  grad_scratch_init (&s, &model->config.vision, Q, image->T, image->E);
  switch (method) {
  case WP_MAP_GRADCAM:
    gradcam_maps (image, model, queries, Q, &s, out);
    break;
  case WP_MAP_CHEFER:
    chefer_maps (image, model, queries, Q, &s, out);
    break;
  case WP_MAP_LEGRAD:
    legrad_maps (image, model, queries, Q, legrad_layers, &s, out);
    break;
  case WP_MAP_FILIP:
  case WP_MAP_SPARC:
  case WP_MAP_MASKCLIP:
  case WP_MAP_SCLIP:
  case WP_MAP_CLEARCLIP:
  case WP_MAP_NACLIP:
  case WP_N_MAP_METHODS:
    g_assert_not_reached ();
  }
  g_free (s.buffer);
}
