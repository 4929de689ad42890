#include "wordpatch/dense.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "wordpatch/encoder.h"
#include "wordpatch/error.h"
#include "wordpatch/kernels.h"
#include "wordpatch/vision.h"

/* Shapes as dense.h: P patches, T = P + 1 tokens, C width, M MLP width (dense.h's I, a name
 * complex.h takes), E projection, NH heads. */

/* NACLIP's neighbourhood width, in patches. */
#define NACLIP_SIGMA 5.0

static const char *const method_names[WP_N_MAP_METHODS] = {
  "filip",
  "sparc",
  "maskclip",
  "sclip",
  "clearclip",
  "naclip",
  "gradcam",
  "chefer",
  "legrad",
};

const char *
wp_map_method_to_string (WpMapMethod method)
{
  g_return_val_if_fail (method < WP_N_MAP_METHODS, NULL);
  return method_names[method];
}

gboolean
wp_map_method_from_string (const char  *name,
                           WpMapMethod *method)
{
  for (int m = 0; m < WP_N_MAP_METHODS; m++) {
    if (g_strcmp0 (name, method_names[m]) == 0) {
      *method = (WpMapMethod) m;
      return TRUE;
    }
  }
  return FALSE;
}

gboolean
wp_map_methods_parse (const char  *list,
                      guint       *methods,
                      WpMapMethod *order,
                      int         *n_order,
                      GError     **error)
{
  g_auto (GStrv) names = g_strsplit (list, ",", -1);
  int n = 0;

  *methods = 0;
  if (g_strcmp0 (g_strstrip (names[0]), "all") == 0 && names[1] == NULL) {
    *methods = WP_MAP_ALL;
    for (int m = 0; m < WP_N_MAP_METHODS; m++) {
      if (order != NULL)
        order[n] = (WpMapMethod) m;
      n++;
    }
  }
  for (int i = 0; *methods != WP_MAP_ALL && names[i] != NULL; i++) {
    const char *name = g_strstrip (names[i]);
    WpMapMethod method;

    if (!wp_map_method_from_string (name, &method)) {
      g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                   "unknown map method '%s' (filip, sparc, maskclip, sclip, clearclip, naclip, "
                   "gradcam, chefer, legrad, or all)",
                   name);
      return FALSE;
    }
    if (*methods & WP_MAP_BIT (method)) {
      g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "map method '%s' is named twice", name);
      return FALSE;
    }
    *methods |= WP_MAP_BIT (method);
    if (order != NULL)
      order[n] = method;
    n++;
  }
  if (n_order != NULL)
    *n_order = n;
  return TRUE;
}

/* The forward methods that have dense features of their own. */
static gboolean
has_features (WpMapMethod method)
{
  return method == WP_MAP_FILIP || method == WP_MAP_MASKCLIP || method == WP_MAP_SCLIP ||
         method == WP_MAP_CLEARCLIP || method == WP_MAP_NACLIP;
}

struct _WpDenseImage {
  int    rows, cols, P, T, C, E;
  guint  methods;
  float *pooled_raw, *pooled; /* (E) */
  float *features_raw[WP_N_MAP_METHODS];
  float *features[WP_N_MAP_METHODS]; /* (P, E), forward methods asked for */
  /* The encoder's activations, kept for gradient methods: every layer's for LeGrad, the last
   * two layers' (encoder.h's forward-only state) for the others. */
  WpEncoderState encoder;
  gboolean       has_activations;
};

/* torch's cubic convolution weights (a = -0.75) of the four taps around a sample at fraction t
 * past its floor. */
static void
cubic_weights (double  t,
               double *w)
{
  const double a = -0.75, s = t + 1.0, u = 1.0 - t, v = 2.0 - t;

  w[0] = ((a * s - 5.0 * a) * s + 8.0 * a) * s - 4.0 * a;
  w[1] = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
  w[2] = ((a + 2.0) * u - (a + 3.0)) * u * u + 1.0;
  w[3] = ((a * v - 5.0 * a) * v + 8.0 * a) * v - 4.0 * a;
}

/* For each of n_out outputs resampled from n_in inputs (align_corners false): its four taps'
 * input indices, clamped, and weights. */
static void
cubic_taps (int     n_in,
            int     n_out,
            int    *index,
            double *weight)
{
  const double scale = (double) n_in / n_out;

  for (int i = 0; i < n_out; i++) {
    const double src = scale * (i + 0.5) - 0.5, floor_src = floor (src);

    cubic_weights (src - floor_src, weight + 4 * i);
    for (int k = 0; k < 4; k++)
      index[4 * i + k] = CLAMP ((int) floor_src - 1 + k, 0, n_in - 1);
  }
}

void
wp_position_interpolate (float       *out,
                         const float *pos,
                         int          grid,
                         int          rows,
                         int          cols,
                         int          C)
{
  memcpy (out, pos, (gsize) C * sizeof (float));
  wp_position_interpolate_patches (out + C, pos + C, grid, rows, cols, C);
}

void
wp_position_interpolate_patches (float       *out,
                                 const float *pos,
                                 int          grid,
                                 int          rows,
                                 int          cols,
                                 int          C)
{
  g_autofree int    *row_index = g_new (int, 4 * rows), *col_index = g_new (int, 4 * cols);
  g_autofree double *row_weight = g_new (double, 4 * rows), *col_weight = g_new (double, 4 * cols);

  if (rows == grid && cols == grid) {
    memcpy (out, pos, (gsize) grid * grid * C * sizeof (float));
    return;
  }
  cubic_taps (grid, rows, row_index, row_weight);
  cubic_taps (grid, cols, col_index, col_weight);
  for (int r = 0; r < rows; r++) {
    for (int c = 0; c < cols; c++) {
      float *dst = out + ((gsize) r * cols + c) * C;

      for (int ch = 0; ch < C; ch++) {
        double sum = 0.0;

        for (int i = 0; i < 4; i++) {
          for (int j = 0; j < 4; j++) {
            const gsize src = (gsize) row_index[4 * r + i] * grid + col_index[4 * c + j];

            sum += row_weight[4 * r + i] * col_weight[4 * c + j] * pos[src * C + ch];
          }
        }
        dst[ch] = (float) sum;
      }
    }
  }
}

/* Lays out each patch's pixels as [channel][row][column], the order of a Conv2d weight
 * (C, 3, p, p), so the patch embedding is one matrix product. pixels (3, rows p, cols p). */
static void
im2col (float       *patches,
        const float *pixels,
        int          rows,
        int          cols,
        int          p)
{
  const gsize height = (gsize) rows * p, width = (gsize) cols * p;

  for (int gy = 0; gy < rows; gy++) {
    for (int gx = 0; gx < cols; gx++) {
      float *dst = patches + ((gsize) gy * cols + gx) * 3 * p * p;

      for (int c = 0; c < 3; c++) {
        for (int y = 0; y < p; y++) {
          memcpy (dst, pixels + (c * height + (gsize) gy * p + y) * width + (gsize) gx * p,
                  (gsize) p * sizeof (float));
          dst += p;
        }
      }
    }
  }
}

/* Scratch of one block's worth of rows: (T, C), (T, M) and (NH, T, T) arrays. */
typedef struct {
  float *a, *b, *c, *d; /* (T, C) */
  float *wide1, *wide2; /* (T, M) */
  float *kvq;           /* (T, 3C) */
  float *att1, *att2;   /* (NH, T, T) */
  float *mean, *rstd;   /* (T) */
  float *row, *row2;    /* (max(C, E)) for the methods */
  float *score[4];      /* (max(C, E)) pooled_score_backward's own */
  float *buffer;
} Scratch;

static void
scratch_init (Scratch             *s,
              const WpTowerConfig *t,
              int                  T)
{
  const gsize TC = (gsize) T * t->width, TI = (gsize) T * t->mlp_width;
  const gsize TT = (gsize) t->n_heads * T * T;
  float      *p;

  s->buffer = g_new (float, 4 * TC + 2 * TI + 3 * TC + 2 * TT + 2 * (gsize) T);
  p = s->buffer;
  s->a = p, p += TC;
  s->b = p, p += TC;
  s->c = p, p += TC;
  s->d = p, p += TC;
  s->wide1 = p, p += TI;
  s->wide2 = p, p += TI;
  s->kvq = p, p += 3 * TC;
  s->att1 = p, p += TT;
  s->att2 = p, p += TT;
  s->mean = p, p += T;
  s->rstd = p, p += T;
  g_assert (p == s->buffer + 4 * TC + 2 * TI + 3 * TC + 2 * TT + 2 * (gsize) T);
}

static void
scratch_clear (Scratch *s)
{
  g_clear_pointer (&s->buffer, g_free);
}

/* y (T, C) += mlp(layer_norm2(y)), the second half of a block. */
static void
add_mlp (float               *y,
         const WpTowerConfig *t,
         const WpLayerParams *w,
         int                  T,
         Scratch             *s)
{
  const int C = t->width, M = t->mlp_width;

  wp_layernorm_forward (s->c, s->mean, s->rstd, y, w->ln2_w, w->ln2_b, T, C, t->layer_norm_eps);
  wp_matmul_forward (s->wide1, s->c, w->fc1_w, w->fc1_b, T, C, M);
  wp_activation_forward (s->wide2, s->wide1, (gsize) T * M, t->activation);
  wp_matmul_forward (s->d, s->wide2, w->fc2_w, w->fc2_b, T, M, C);
  wp_residual_forward (y, y, s->d, (gsize) T * C);
}

/* out (T, C) = attention of q and k (rows ld apart, heads side by side) over v, with NACLIP's
 * Gaussian neighbourhood added to the scaled scores between patches: softmax(s q k^T + Omega). */
static void
attention_with_neighbourhood (float       *out,
                              float       *att,
                              const float *q,
                              const float *k,
                              const float *v,
                              int          ld,
                              int          rows,
                              int          cols,
                              int          n_cls,
                              int          C,
                              int          NH)
{
  const int   T = rows * cols + n_cls, HS = C / NH;
  const float scale = 1.0f / sqrtf ((float) HS);

  for (int h = 0; h < NH; h++) {
    float *a = att + (gsize) h * T * T;

    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, T, T, HS, scale, q + h * HS, ld,
                 k + h * HS, ld, 0.0f, a, T);
    for (int i = 0; i < T; i++) {
      float *row = a + (gsize) i * T;
      float  max = -INFINITY;
      double sum = 0.0;

      for (int j = n_cls; i >= n_cls && j < T; j++) {
        const int    pi = i - n_cls, pj = j - n_cls;
        const double dy = pi / cols - pj / cols, dx = pi % cols - pj % cols;

        row[j] += (float) exp (-(dy * dy + dx * dx) / (2.0 * NACLIP_SIGMA * NACLIP_SIGMA));
      }
      for (int j = 0; j < T; j++)
        max = MAX (max, row[j]);
      for (int j = 0; j < T; j++) {
        row[j] = expf (row[j] - max);
        sum += row[j];
      }
      for (int j = 0; j < T; j++)
        row[j] = (float) (row[j] / sum);
    }
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, T, HS, T, 1.0f, a, T, v + h * HS, ld,
                 0.0f, out + h * HS, C);
  }
}

/* y (T, C): the last block's output under a forward method, from its input x (T, C) and the
 * standard pass's activations a of that block (its k, v, q are the same for every method). */
static void
last_block (WpMapMethod               method,
            const WpTowerConfig      *t,
            const WpLayerParams      *w,
            const WpEncoderLayerActs *a,
            const float              *x,
            int                       rows,
            int                       cols,
            int                       n_cls,
            Scratch                  *s,
            float                    *y)
{
  const int    T = rows * cols + n_cls, C = t->width, NH = t->n_heads;
  const float *k = a->kvq, *v = a->kvq + C, *q = a->kvq + 2 * C;
  gboolean     residual = TRUE;

  switch (method) {
  case WP_MAP_MASKCLIP:
    for (int i = 0; i < T; i++)
      memcpy (s->a + (gsize) i * C, v + (gsize) i * 3 * C, (gsize) C * sizeof (float));
    break;
  case WP_MAP_SCLIP:
    wp_attention_forward (s->a, s->att1, q, q, v, 3 * C, 1, T, C, NH, FALSE);
    wp_attention_forward (s->b, s->att1, k, k, v, 3 * C, 1, T, C, NH, FALSE);
    wp_residual_forward (s->a, s->a, s->b, (gsize) T * C);
    break;
  case WP_MAP_CLEARCLIP:
    wp_attention_forward (s->a, s->att1, q, q, v, 3 * C, 1, T, C, NH, FALSE);
    residual = FALSE;
    break;
  case WP_MAP_NACLIP:
    attention_with_neighbourhood (s->a, s->att1, k, k, v, 3 * C, rows, cols, n_cls, C, NH);
    residual = FALSE;
    break;
  case WP_MAP_FILIP:
  case WP_MAP_SPARC:
  case WP_MAP_GRADCAM:
  case WP_MAP_CHEFER:
  case WP_MAP_LEGRAD:
  case WP_N_MAP_METHODS:
    g_assert_not_reached ();
  }
  wp_matmul_forward (y, s->a, w->out_w, w->out_b, T, C, C);
  if (residual) {
    wp_residual_forward (y, y, x, (gsize) T * C);
    add_mlp (y, t, w, T, s);
  }
}

/* out (T, E) = visual_projection (post_layernorm (y (T, C))). SigLIP, y (P, C) without a class
 * token: out (1 + P, E) = the pooling head over post_layernorm (y), the pooled embedding first,
 * then each patch's (vision.h). */
static void
project (const WpModel *model,
         const float   *y,
         int            T,
         Scratch       *s,
         float         *out)
{
  const WpClipConfig *config = &model->config;

  if (config->family == WP_MODEL_FAMILY_SIGLIP) {
    WpSiglipHeadActs head;

    wp_layernorm_forward (s->c, s->mean, s->rstd, y, model->p.post_ln_w, model->p.post_ln_b, T,
                          config->vision.width, config->vision.layer_norm_eps);
    wp_siglip_head_acts_init (&head, config, 1, T);
    wp_siglip_head_forward (model, &head, s->c, 1, T, out);
    wp_siglip_head_acts_clear (&head);
    return;
  }
  wp_layernorm_forward (s->c, s->mean, s->rstd, y, model->p.post_ln_w, model->p.post_ln_b, T,
                        config->vision.width, config->vision.layer_norm_eps);
  wp_matmul_forward (out, s->c, model->p.visual_projection, NULL, T, config->vision.width,
                     config->projection_dim);
}

/* Keeps the patch rows of out (T, E) as a method's features, un-normalised and unit. */
static void
keep_features (WpDenseImage *image,
               WpMapMethod   method,
               const float  *out)
{
  const gsize PE = (gsize) image->P * image->E;

  image->features_raw[method] = g_memdup2 (out + image->E, PE * sizeof (float));
  image->features[method] = g_new (float, PE);
  wp_l2_normalize_rows (image->features[method], NULL, image->features_raw[method], image->P,
                        image->E);
}

WpDenseImage *
wp_dense_image_new (const WpModel *model,
                    const float   *pixels,
                    int            rows,
                    int            cols,
                    guint          methods)
{
  const WpClipConfig  *config = &model->config;
  const WpTowerConfig *t = &config->vision;
  const WpParams      *w = &model->p;
  const int            p = config->patch_size, grid = wp_clip_config_grid (config);
  const gboolean       siglip = config->family == WP_MODEL_FAMILY_SIGLIP;
  const int            n_cls = siglip ? 0 : 1;
  const int            P = rows * cols, T = P + n_cls, C = t->width, E = config->projection_dim;
  const int            L = t->n_layers;
  WpDenseImage        *image = g_new0 (WpDenseImage, 1);
  g_autofree float    *patches = g_new (float, (gsize) P * 3 * p * p);
  g_autofree float    *tokens = g_new (float, (gsize) T *C);
  g_autofree float    *normed = g_new (float, (gsize) T *C);
  g_autofree float    *out = g_new (float, (gsize) (P + 1) * E);
  g_autofree float    *y = g_new (float, (gsize) T *C);
  Scratch              s;
  const float         *hidden, *block_input;

  g_return_val_if_fail (rows >= 1 && cols >= 1 && P <= WP_MAX_PATCHES, NULL);
  image->rows = rows;
  image->cols = cols;
  image->P = P;
  image->T = T;
  image->C = C;
  image->E = E;
  image->methods = methods | WP_MAP_BIT (WP_MAP_FILIP);
  scratch_init (&s, t, T);

  im2col (patches, pixels, rows, cols, p);
  if (siglip) {
    /* No class token and no pre-LN: the encoder's input is the embedded patches. */
    wp_matmul_forward (tokens, patches, w->patch_embedding, w->patch_bias, P, 3 * p * p, C);
    wp_position_interpolate_patches (y, w->vision_position, grid, rows, cols, C);
    wp_residual_forward (normed, tokens, y, (gsize) T * C);
  } else {
    memcpy (tokens, w->class_embedding, (gsize) C * sizeof (float));
    wp_matmul_forward (tokens + C, patches, w->patch_embedding, NULL, P, 3 * p * p, C);
    wp_position_interpolate (y, w->vision_position, grid, rows, cols, C);
    wp_residual_forward (tokens, tokens, y, (gsize) T * C);
    wp_layernorm_forward (normed, s.mean, s.rstd, tokens, w->pre_ln_w, w->pre_ln_b, T, C,
                          t->layer_norm_eps);
  }
  image->has_activations = (methods & WP_MAP_GRADIENT_METHODS) != 0;
  /* Every method but LeGrad reads the last block's activations and its input only. */
  wp_encoder_state_init (&image->encoder, t, 1, T, !(methods & WP_MAP_BIT (WP_MAP_LEGRAD)));
  hidden = wp_encoder_forward (&image->encoder, w->vision_layers, normed, 1, T, FALSE);

  project (model, hidden, T, &s, out);
  image->pooled_raw = g_memdup2 (out, (gsize) E * sizeof (float));
  image->pooled = g_new (float, E);
  wp_l2_normalize_rows (image->pooled, NULL, image->pooled_raw, 1, E);
  keep_features (image, WP_MAP_FILIP, out);

  block_input = L >= 2 ? image->encoder.layers[L - 2].resid2 : normed;
  for (int m = 0; m < WP_N_MAP_METHODS; m++) {
    if (m == WP_MAP_FILIP || !has_features ((WpMapMethod) m) || !(methods & WP_MAP_BIT (m)))
      continue;
    last_block ((WpMapMethod) m, t, &w->vision_layers[L - 1], &image->encoder.layers[L - 1],
                block_input, rows, cols, n_cls, &s, y);
    project (model, y, T, &s, out);
    keep_features (image, (WpMapMethod) m, out);
  }
  scratch_clear (&s);
  if (!image->has_activations)
    wp_encoder_state_clear (&image->encoder);
  return image;
}

void
wp_dense_image_free (WpDenseImage *image)
{
  if (image == NULL)
    return;
  for (int m = 0; m < WP_N_MAP_METHODS; m++) {
    g_free (image->features_raw[m]);
    g_free (image->features[m]);
  }
  g_free (image->pooled_raw);
  g_free (image->pooled);
  wp_encoder_state_clear (&image->encoder);
  g_free (image);
}

guint
wp_dense_image_get_methods (const WpDenseImage *image)
{
  return image->methods;
}

const float *
wp_dense_image_get_pooled (const WpDenseImage *image,
                           gboolean            unit)
{
  return unit ? image->pooled : image->pooled_raw;
}

const float *
wp_dense_image_get_features (const WpDenseImage *image,
                             WpMapMethod         method,
                             gboolean            unit)
{
  g_return_val_if_fail (method < WP_N_MAP_METHODS, NULL);
  return unit ? image->features[method] : image->features_raw[method];
}

/* Scratch of a batch of Q queries' backward passes through one block: Q n rows at most, n <= T. */
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
    memset (alpha, 0, (gsize) C * sizeof (double));
    for (int p = 0; p < P; p++) {
      for (int c = 0; c < C; c++)
        alpha[c] += dh[(gsize) (1 + p) * C + c];
    }
    for (int p = 0; p < P; p++) {
      const float *h = a->ln1 + (gsize) (1 + p) * C;
      double       dot = 0.0;

      for (int c = 0; c < C; c++)
        dot += alpha[c] / P * h[c];
      out[(gsize) q * P + p] = (float) MAX (dot, 0.0);
    }
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
    memset (alpha, 0, (gsize) C * sizeof (double));
    for (int p = 0; p < P; p++) {
      for (int c = 0; c < C; c++)
        alpha[c] += dln[(gsize) p * C + c];
    }
    for (int p = 0; p < P; p++) {
      const float *h = a->ln1 + (gsize) p * C;
      double       dot = 0.0;

      for (int c = 0; c < C; c++)
        dot += alpha[c] / P * h[c];
      out[(gsize) q * P + p] = (float) MAX (dot, 0.0);
    }
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
