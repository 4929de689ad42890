#include "wordpatch/dense.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "dense-private.h"
#include "wordpatch/encoder.h"
#include "wordpatch/error.h"
#include "wordpatch/kernels.h"
#include "wordpatch/vision.h"

/* Shapes as dense-private.h. */

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
