#include "wordpatch/kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "kernels-private.h"
#include "simd-private.h"

/* Work items worth handing to another thread: below these a kernel runs on the calling thread
 * alone, as a helper's wake-up (tens of microseconds) would cost more than it saves. */
#define GRAIN_ELEMENTS     32768
#define GRAIN_ROW_ELEMENTS 16384

/* Rows of C elements a chunk of row-wise work should hold at least. */
static gsize
row_grain (int C)
{
  return MAX (GRAIN_ROW_ELEMENTS / MAX (C, 1), 1);
}

/* Products of at most this many rows (one caption's tokens) stream the weight matrix once and do
 * little work per weight: split across OpenBLAS's threads they ran at a third of the speed of one
 * thread (12 x 512 x 2048: 1.6 ms against 0.6 ms). */
#define SKINNY_MAX_ROWS 16

typedef struct {
  float       *out;
  const float *inp, *weight;
  int          N, C, OC, cols;
  float        beta;
} SkinnyMatmul;

/* Output columns of blocks first .. end - 1, cols each, every product below BLAS_SERIAL_MNK. */
static void
skinny_matmul_blocks (gpointer data,
                      gsize    first,
                      gsize    end)
{
  const SkinnyMatmul *a = data;

  for (gsize b = first; b < end; b++) {
    const int o0 = (int) b * a->cols, n = MIN (a->cols, a->OC - o0);

    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, a->N, n, a->C, 1.0f, a->inp, a->C,
                 a->weight + (gsize) o0 * a->C, a->C, a->beta, a->out + o0, a->OC);
  }
}

void
wp_matmul_forward (float       *out,
                   const float *inp,
                   const float *weight,
                   const float *bias,
                   int          N,
                   int          C,
                   int          OC)
{
  const float beta = bias != NULL ? 1.0f : 0.0f;

  if (bias != NULL) {
    for (int n = 0; n < N; n++)
      memcpy (out + (gsize) n * OC, bias, (gsize) OC * sizeof (float));
  }
  if (N <= SKINNY_MAX_ROWS && (gsize) N * C * OC >= BLAS_SERIAL_MNK) {
    /* Column blocks, each a product OpenBLAS keeps on its calling thread, spread over ours; the
     * blocks depend on the shape only. */
    const int    max_cols = MAX ((BLAS_SERIAL_MNK - 1) / (N * C), 1);
    const int    n_blocks = (OC + max_cols - 1) / max_cols;
    SkinnyMatmul a = { out, inp, weight, N, C, OC, (OC + n_blocks - 1) / n_blocks, beta };

    wp_parallel_for (n_blocks, MAX (4 * BLAS_SERIAL_MNK / ((gsize) N * C * a.cols), 1),
                     skinny_matmul_blocks, &a);
    return;
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C, beta,
               out, OC);
}

typedef struct {
  float       *dbias;
  const float *dout;
  int          N, OC;
} ColumnSums;

/* dbias[o] += dout[n][o] over n in order, for the columns of quads first .. end - 1 (4 columns
 * each): one thread owns each column, so every sum runs in the serial order. */
static void
column_sums_range (gpointer data,
                   gsize    first,
                   gsize    end)
{
  const ColumnSums *a = data;
  const int         o0 = (int) first * 4, o1 = MIN (a->OC, (int) end * 4);

  for (int n = 0; n < a->N; n++) {
    const float *d = a->dout + (gsize) n * a->OC;
    int          o = o0;

    for (; o + 4 <= o1; o += 4)
      store4 (a->dbias + o, load4 (a->dbias + o) + load4 (d + o));
    if (o < o1) {
      const int k = o1 - o;

      store_tail (a->dbias + o, load_tail (a->dbias + o, k) + load_tail (d + o, k), k);
    }
  }
}

/* dinp (N, C) += dout (N, OC) . weight (OC, C)
 * dweight (OC, C) += dout^T (OC, N) . inp (N, C)
 * dbias (OC) += sum over n of dout (N, OC); dbias may be NULL. */
void
wp_matmul_backward (float       *dinp,
                    float       *dweight,
                    float       *dbias,
                    const float *dout,
                    const float *inp,
                    const float *weight,
                    int          N,
                    int          C,
                    int          OC)
{
  /* beta = 1: sgemm adds the product to what the gradients already hold. */
  if (dinp != NULL)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C,
                 1.0f, dinp, C);
  if (dweight != NULL)
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f,
                 dweight, C);
  if (dbias != NULL) {
    ColumnSums a = { dbias, dout, N, OC };

    wp_parallel_for ((gsize) (OC + 3) / 4, MAX ((gsize) GRAIN_ELEMENTS / MAX ((gsize) N * 4, 1), 1),
                     column_sums_range, &a);
  }
}

typedef struct {
  float       *out, *mean, *rstd;
  const float *inp, *weight, *bias;
  int          C;
  float        eps;
} LayerNormForward;

static void
layernorm_forward_rows (gpointer data,
                        gsize    first,
                        gsize    end)
{
  const LayerNormForward *a = data;
  const int               C = a->C, C4 = C & ~3, k = C - C4;

  for (gsize n = first; n < end; n++) {
    const float *x = a->inp + n * C;
    float       *y = a->out + n * C;
    v2d          sum = { 0.0, 0.0 }, var = { 0.0, 0.0 };
    float        m, s;
    v4f          vm, vs;

    for (int c = 0; c < C4; c += 4)
      sum = add_wide (sum, load4 (x + c));
    if (k > 0)
      sum = add_wide (sum, load_tail (x + C4, k));
    m = (float) (sum_wide (sum) / C);
    vm = splat (m);
    for (int c = 0; c < C4; c += 4) {
      const v4f d = load4 (x + c) - vm;

      var = add_wide (var, d * d);
    }
    if (k > 0) {
      const v4f d = keep_lanes (load_tail (x + C4, k) - vm, k);

      var = add_wide (var, d * d);
    }
    s = (float) (1.0 / sqrt (sum_wide (var) / C + a->eps));
    vs = splat (s);
    for (int c = 0; c < C4; c += 4)
      store4 (y + c, (load4 (x + c) - vm) * vs * load4 (a->weight + c) + load4 (a->bias + c));
    if (k > 0)
      store_tail (y + C4,
                  (load_tail (x + C4, k) - vm) * vs * load_tail (a->weight + C4, k) +
                    load_tail (a->bias + C4, k),
                  k);
    a->mean[n] = m;
    a->rstd[n] = s;
  }
}

void
wp_layernorm_forward (float       *out,
                      float       *mean,
                      float       *rstd,
                      const float *inp,
                      const float *weight,
                      const float *bias,
                      int          N,
                      int          C,
                      float        eps)
{
  LayerNormForward a = { out, mean, rstd, inp, weight, bias, C, eps };

  wp_parallel_for (N, row_grain (C), layernorm_forward_rows, &a);
}

typedef struct {
  float       *dinp, *dweight, *dbias;
  const float *dout, *inp, *weight, *mean, *rstd;
  int          N, C;
} LayerNormBackward;

/* One quad of a row's g = dout * weight and xhat = (x - mean) * rstd. */
static inline void
layernorm_quad (v4f  x,
                v4f  dy,
                v4f  w,
                v4f  m,
                v4f  s,
                v4f *g,
                v4f *xhat)
{
  *g = dy * w;
  *xhat = (x - m) * s;
}

/* dx for rows first .. end - 1. */
static void
layernorm_backward_rows (gpointer data,
                         gsize    first,
                         gsize    end)
{
  const LayerNormBackward *a = data;
  const int                C = a->C, C4 = C & ~3, k = C - C4;
  const float             *w = a->weight;

  for (gsize n = first; n < end; n++) {
    const float *x = a->inp + n * C;
    const float *dy = a->dout + n * C;
    float       *dx = a->dinp + n * C;
    const v4f    m = splat (a->mean[n]), s = splat (a->rstd[n]);
    v2d          sum_g = { 0.0, 0.0 }, sum_g_xhat = { 0.0, 0.0 };
    v4f          g, xhat, mean_g, mean_g_xhat;

    for (int c = 0; c < C4; c += 4) {
      layernorm_quad (load4 (x + c), load4 (dy + c), load4 (w + c), m, s, &g, &xhat);
      sum_g = add_wide (sum_g, g);
      sum_g_xhat = add_wide (sum_g_xhat, g * xhat);
    }
    if (k > 0) {
      /* The tail's missing lanes have g = 0 and add nothing to either sum. */
      layernorm_quad (load_tail (x + C4, k), load_tail (dy + C4, k), load_tail (w + C4, k), m, s,
                      &g, &xhat);
      sum_g = add_wide (sum_g, g);
      sum_g_xhat = add_wide (sum_g_xhat, g * xhat);
    }
    mean_g = splat ((float) (sum_wide (sum_g) / C));
    mean_g_xhat = splat ((float) (sum_wide (sum_g_xhat) / C));
    for (int c = 0; c < C4; c += 4) {
      layernorm_quad (load4 (x + c), load4 (dy + c), load4 (w + c), m, s, &g, &xhat);
      store4 (dx + c, load4 (dx + c) + s * (g - mean_g - xhat * mean_g_xhat));
    }
    if (k > 0) {
      layernorm_quad (load_tail (x + C4, k), load_tail (dy + C4, k), load_tail (w + C4, k), m, s,
                      &g, &xhat);
      store_tail (dx + C4, load_tail (dx + C4, k) + s * (g - mean_g - xhat * mean_g_xhat), k);
    }
  }
}

/* dweight and dbias for the columns of quads first .. end - 1, rows in order. */
static void
layernorm_backward_columns (gpointer data,
                            gsize    first,
                            gsize    end)
{
  const LayerNormBackward *a = data;
  const int                C = a->C, c0 = (int) first * 4, c1 = MIN (C, (int) end * 4);
  float                   *dw = a->dweight, *db = a->dbias;

  for (int n = 0; n < a->N; n++) {
    const float *x = a->inp + (gsize) n * C;
    const float *dy = a->dout + (gsize) n * C;
    const v4f    m = splat (a->mean[n]), s = splat (a->rstd[n]);
    int          c = c0;

    for (; c + 4 <= c1; c += 4) {
      const v4f d = load4 (dy + c);

      store4 (db + c, load4 (db + c) + d);
      store4 (dw + c, load4 (dw + c) + (load4 (x + c) - m) * s * d);
    }
    if (c < c1) {
      const int k = c1 - c;
      const v4f d = load_tail (dy + c, k);

      store_tail (db + c, load_tail (db + c, k) + d, k);
      store_tail (dw + c, load_tail (dw + c, k) + (load_tail (x + c, k) - m) * s * d, k);
    }
  }
}

/* dinp, dout, inp (N, C); weight, dweight, dbias (C); mean, rstd (N) from the forward.
 * With xhat = (x - mean) * rstd and g = dout * weight, the exact gradient (eps included, since rstd
 * carries it) is dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), as in llm.c. */
void
wp_layernorm_backward (float       *dinp,
                       float       *dweight,
                       float       *dbias,
                       const float *dout,
                       const float *inp,
                       const float *weight,
                       const float *mean,
                       const float *rstd,
                       int          N,
                       int          C)
{
  LayerNormBackward a = { dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C };

  wp_parallel_for (N, row_grain (C), layernorm_backward_rows, &a);
  if (dweight == NULL)
    return;
  wp_parallel_for ((gsize) (C + 3) / 4, MAX ((gsize) GRAIN_ELEMENTS / MAX ((gsize) N * 4, 1), 1),
                   layernorm_backward_columns, &a);
}

/* quick_gelu's sigmoid(1.702 x) of four lanes. */
static inline v4f
quick_gelu_sigmoid (v4f x)
{
  return splat (1.0f) / (splat (1.0f) + exp4 (splat (-1.702f) * x));
}

/* dy/dx of quick_gelu times dout: x * s first, since in the tails one of s, 1 - s is exactly 0
 * and the product stays finite. */
static inline v4f
quick_gelu_backward (v4f x,
                     v4f dout)
{
  const v4f s = quick_gelu_sigmoid (x);

  return dout * (s + x * s * (splat (1.0f) - s) * splat (1.702f));
}

/* GELU's tanh approximation as y = x s with s = 0.5 (1 + tanh(u)) = sigmoid(2u),
 * u = sqrt(2/pi) (x + 0.044715 x^3): the same function as transformers' gelu_new, without the
 * cancellation of 1 + tanh(u) for negative x. In the tails u is +-inf and s exactly 1 or 0. */
#define GELU_TANH_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_TANH_C 0.044715f

static inline float
gelu_tanh_gate (float x)
{
  const float u = GELU_TANH_K * (x + GELU_TANH_C * x * x * x);

  return 1.0f / (1.0f + expf (-2.0f * u));
}

/* dy/dx = s + x s (1 - s) 2 du/dx with du/dx = sqrt(2/pi) (1 + 3 0.044715 x^2). Where s (1 - s)
 * is 0 the second term is 0: computed, x^2 may be infinite there and 0 * inf is NaN. */
static inline float
gelu_tanh_derivative (float x)
{
  const float s = gelu_tanh_gate (x), g = s * (1.0f - s);

  if (g == 0.0f)
    return s;
  return s + x * g * 2.0f * GELU_TANH_K * (1.0f + 3.0f * GELU_TANH_C * x * x);
}

typedef struct {
  float       *out;
  const float *inp, *dout;
  WpActivation activation;
} Activation;

static void
activation_forward_range (gpointer data,
                          gsize    first,
                          gsize    end)
{
  const Activation *a = data;

  if (a->activation == WP_ACTIVATION_GELU) {
    for (gsize i = first; i < end; i++)
      a->out[i] = 0.5f * a->inp[i] * (1.0f + erff (a->inp[i] * (float) M_SQRT1_2));
    return;
  }
  if (a->activation == WP_ACTIVATION_GELU_TANH) {
    for (gsize i = first; i < end; i++)
      a->out[i] = a->inp[i] * gelu_tanh_gate (a->inp[i]);
    return;
  }
  gsize i = first;

  for (; i + 4 <= end; i += 4) {
    const v4f x = load4 (a->inp + i);

    store4 (a->out + i, x * quick_gelu_sigmoid (x));
  }
  if (i < end) {
    const int k = (int) (end - i);
    const v4f x = load_tail (a->inp + i, k);

    store_tail (a->out + i, x * quick_gelu_sigmoid (x), k);
  }
}

void
wp_activation_forward (float       *out,
                       const float *inp,
                       gsize        n,
                       WpActivation activation)
{
  Activation a = { out, inp, NULL, activation };

  wp_parallel_for (n, GRAIN_ELEMENTS, activation_forward_range, &a);
}

/* quick_gelu: y = x s with s = sigmoid(1.702 x), so dy/dx = s + 1.702 x s (1 - s).
 * GELU: y = x Phi(x), so dy/dx = Phi(x) + x phi(x) with phi the standard normal density.
 * GELU's tanh approximation: gelu_tanh_derivative(). */
static void
activation_backward_range (gpointer data,
                           gsize    first,
                           gsize    end)
{
  const Activation *a = data;

  if (a->activation == WP_ACTIVATION_GELU) {
    const float inv_sqrt_2pi = (float) (0.5 * M_2_SQRTPI * M_SQRT1_2);

    for (gsize i = first; i < end; i++) {
      const float x = a->inp[i];
      const float cdf = 0.5f * (1.0f + erff (x * (float) M_SQRT1_2));
      /* For |x| past ~13, x * x overflows to inf and expf gives 0: the tails stay finite. */
      const float pdf = inv_sqrt_2pi * expf (-0.5f * x * x);

      a->out[i] += a->dout[i] * (cdf + x * pdf);
    }
    return;
  }
  if (a->activation == WP_ACTIVATION_GELU_TANH) {
    for (gsize i = first; i < end; i++)
      a->out[i] += a->dout[i] * gelu_tanh_derivative (a->inp[i]);
    return;
  }
  gsize i = first;

  for (; i + 4 <= end; i += 4)
    store4 (a->out + i,
            load4 (a->out + i) + quick_gelu_backward (load4 (a->inp + i), load4 (a->dout + i)));
  if (i < end) {
    const int k = (int) (end - i);

    store_tail (a->out + i,
                load_tail (a->out + i, k) +
                  quick_gelu_backward (load_tail (a->inp + i, k), load_tail (a->dout + i, k)),
                k);
  }
}

/* dinp, dout, inp (n); inp is the forward's input. */
void
wp_activation_backward (float       *dinp,
                        const float *dout,
                        const float *inp,
                        gsize        n,
                        WpActivation activation)
{
  Activation a = { dinp, inp, dout, activation };

  wp_parallel_for (n, GRAIN_ELEMENTS, activation_backward_range, &a);
}

typedef struct {
  float       *out;
  const float *a, *b;
} Residual;

static void
residual_range (gpointer data,
                gsize    first,
                gsize    end)
{
  const Residual *r = data;
  gsize           i = first;

  for (; i + 4 <= end; i += 4)
    store4 (r->out + i, load4 (r->a + i) + load4 (r->b + i));
  if (i < end) {
    const int k = (int) (end - i);

    store_tail (r->out + i, load_tail (r->a + i, k) + load_tail (r->b + i, k), k);
  }
}

void
wp_residual_forward (float       *out,
                     const float *a,
                     const float *b,
                     gsize        n)
{
  Residual r = { out, a, b };

  wp_parallel_for (n, GRAIN_ELEMENTS, residual_range, &r);
}

void
wp_l2_normalize_rows (float       *out,
                      float       *norms,
                      const float *inp,
                      int          N,
                      int          C)
{
  for (int n = 0; n < N; n++) {
    const float *x = inp + (gsize) n * C;
    float       *y = out + (gsize) n * C;
    double       sum = 0.0;
    float        norm;

    for (int c = 0; c < C; c++)
      sum += (double) x[c] * x[c];
    norm = (float) sqrt (sum);
    if (norms != NULL)
      norms[n] = norm;
    norm = fmaxf (norm, 1e-6f);
    for (int c = 0; c < C; c++)
      y[c] = x[c] / norm;
  }
}

/* dinp, dout, inp (N, C); norms (N) the unclamped norms from wp_l2_normalize_rows.
 * For a row with norm r >= 1e-6, y = x / r and dx = (dy - y (y . dy)) / r. Below the floor the
 * forward divided by the constant 1e-6, so dx = dy / 1e-6. */
void
wp_l2_normalize_rows_backward (float       *dinp,
                               const float *dout,
                               const float *inp,
                               const float *norms,
                               int          N,
                               int          C)
{
  for (int n = 0; n < N; n++) {
    const float *x = inp + (gsize) n * C;
    const float *dy = dout + (gsize) n * C;
    float       *dx = dinp + (gsize) n * C;
    const float  norm = norms[n];

    if (norm < 1e-6f) {
      for (int c = 0; c < C; c++)
        dx[c] += dy[c] / 1e-6f;
    } else {
      const float inv = 1.0f / norm;
      double      dot = 0.0;
      float       y_dot_dy;

      for (int c = 0; c < C; c++)
        dot += (double) (x[c] * inv) * dy[c];
      y_dot_dy = (float) dot;
      for (int c = 0; c < C; c++)
        dx[c] += (dy[c] - x[c] * inv * y_dot_dy) * inv;
    }
  }
}
