#include "wordpatch/kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void
wp_matmul_forward (float       *out,
                   const float *inp,
                   const float *weight,
                   const float *bias,
                   int          N,
                   int          C,
                   int          OC)
{
  if (bias != NULL) {
    for (int n = 0; n < N; n++)
      memcpy (out + (gsize) n * OC, bias, (gsize) OC * sizeof (float));
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C, bias != NULL ? 1.0f : 0.0f, out, OC);
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
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
  if (dbias != NULL) {
    for (int n = 0; n < N; n++) {
      const float *d = dout + (gsize) n * OC;

      for (int o = 0; o < OC; o++)
        dbias[o] += d[o];
    }
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
  for (int n = 0; n < N; n++) {
    const float *x = inp + (gsize) n * C;
    float       *y = out + (gsize) n * C;
    double       sum = 0.0, var = 0.0;
    float        m, s;

    for (int c = 0; c < C; c++)
      sum += x[c];
    m = (float) (sum / C);
    for (int c = 0; c < C; c++) {
      double d = x[c] - m;

      var += d * d;
    }
    s = (float) (1.0 / sqrt (var / C + eps));
    for (int c = 0; c < C; c++)
      y[c] = (x[c] - m) * s * weight[c] + bias[c];
    mean[n] = m;
    rstd[n] = s;
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
  for (int n = 0; n < N; n++) {
    const float *x = inp + (gsize) n * C;
    const float *dy = dout + (gsize) n * C;
    float       *dx = dinp + (gsize) n * C;
    const float  m = mean[n], s = rstd[n];
    double       sum_g = 0.0, sum_g_xhat = 0.0;
    float        mean_g, mean_g_xhat;

    for (int c = 0; c < C; c++) {
      const float xhat = (x[c] - m) * s;
      const float g = dy[c] * weight[c];

      sum_g += g;
      sum_g_xhat += (double) g * xhat;
    }
    mean_g = (float) (sum_g / C);
    mean_g_xhat = (float) (sum_g_xhat / C);
    for (int c = 0; c < C; c++) {
      const float xhat = (x[c] - m) * s;
      const float g = dy[c] * weight[c];

      dbias[c] += dy[c];
      dweight[c] += xhat * dy[c];
      dx[c] += s * (g - mean_g - xhat * mean_g_xhat);
    }
  }
}

void
wp_activation_forward (float       *out,
                       const float *inp,
                       gsize        n,
                       WpActivation activation)
{
  if (activation == WP_ACTIVATION_GELU) {
    for (gsize i = 0; i < n; i++)
      out[i] = 0.5f * inp[i] * (1.0f + erff (inp[i] * (float) M_SQRT1_2));
  } else {
    for (gsize i = 0; i < n; i++)
      out[i] = inp[i] / (1.0f + expf (-1.702f * inp[i]));
  }
}

/* dinp, dout, inp (n); inp is the forward's input.
 * quick_gelu: y = x s with s = sigmoid(1.702 x), so dy/dx = s + 1.702 x s (1 - s).
 * GELU: y = x Phi(x), so dy/dx = Phi(x) + x phi(x) with phi the standard normal density. */
void
wp_activation_backward (float       *dinp,
                        const float *dout,
                        const float *inp,
                        gsize        n,
                        WpActivation activation)
{
  if (activation == WP_ACTIVATION_GELU) {
    const float inv_sqrt_2pi = (float) (0.5 * M_2_SQRTPI * M_SQRT1_2);

    for (gsize i = 0; i < n; i++) {
      const float x = inp[i];
      const float cdf = 0.5f * (1.0f + erff (x * (float) M_SQRT1_2));
      /* For |x| past ~13, x * x overflows to inf and expf gives 0: the tails stay finite. */
      const float pdf = inv_sqrt_2pi * expf (-0.5f * x * x);

      dinp[i] += dout[i] * (cdf + x * pdf);
    }
  } else {
    for (gsize i = 0; i < n; i++) {
      const float x = inp[i];
      const float s = 1.0f / (1.0f + expf (-1.702f * x));

      /* x * s first: in the tails one of s, 1 - s is exactly 0 and the product stays finite. */
      dinp[i] += dout[i] * (s + x * s * (1.0f - s) * 1.702f);
    }
  }
}

void
wp_attention_forward (float       *out,
                      float       *att,
                      const float *q,
                      const float *k,
                      const float *v,
                      int          B,
                      int          T,
                      int          C,
                      int          NH,
                      gboolean     causal)
{
  const int   HS = C / NH;
  const float scale = 1.0f / sqrtf ((float) HS);

  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      const gsize head = (gsize) b * T * C + (gsize) h * HS;
      float      *a = att + ((gsize) b * NH + h) * T * T;

      /* Scores for one head: (T, HS) . (T, HS)^T, reading the head's columns in place. */
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, T, T, HS, scale, q + head, C, k + head, C, 0.0f, a, T);
      for (int t = 0; t < T; t++) {
        float *row = a + (gsize) t * T;
        int    n_keys = causal ? t + 1 : T;
        float  max = row[0], sum = 0.0f;

        for (int u = 1; u < n_keys; u++)
          max = fmaxf (max, row[u]);
        for (int u = 0; u < n_keys; u++) {
          row[u] = expf (row[u] - max);
          sum += row[u];
        }
        for (int u = 0; u < n_keys; u++)
          row[u] /= sum;
        for (int u = n_keys; u < T; u++)
          row[u] = 0.0f;
      }
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, T, HS, T, 1.0f, a, T, v + head, C, 0.0f, out + head, C);
    }
  }
}

/* dq, dk, dv, dout, q, k, v (B, T, C), heads side by side in C; att (B, NH, T, T) the forward's
 * probabilities; datt_scratch (B, NH, T, T) caller-provided scratch, overwritten.
 * Per head, with S = scale q k^T, P = softmax(S) (masked), out = P v:
 *   dP = dout v^T;  dv += P^T dout;  dS = P * (dP - rowsum(P * dP));
 *   dq += scale dS k;  dk += scale dS^T q.
 * Masked entries have P = 0, hence dS = 0: no separate mask is needed. */
void
wp_attention_backward (float       *dq,
                       float       *dk,
                       float       *dv,
                       float       *datt_scratch,
                       const float *dout,
                       const float *q,
                       const float *k,
                       const float *v,
                       const float *att,
                       int          B,
                       int          T,
                       int          C,
                       int          NH,
                       gboolean     causal)
{
  const int   HS = C / NH;
  const float scale = 1.0f / sqrtf ((float) HS);

  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      const gsize  head = (gsize) b * T * C + (gsize) h * HS;
      const float *p = att + ((gsize) b * NH + h) * T * T;
      float       *d = datt_scratch + ((gsize) b * NH + h) * T * T;

      /* dP (T, T) = dout (T, HS) . v (T, HS)^T, then dv (T, HS) += P^T (T, T) . dout (T, HS). */
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, T, T, HS, 1.0f, dout + head, C, v + head, C, 0.0f, d, T);
      cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, T, HS, T, 1.0f, p, T, dout + head, C, 1.0f, dv + head, C);
      /* Softmax backward, row by row, in place: dP becomes dS. */
      for (int t = 0; t < T; t++) {
        const float *prow = p + (gsize) t * T;
        float       *drow = d + (gsize) t * T;
        const int    n_keys = causal ? t + 1 : T;
        float        dot = 0.0f;

        for (int u = 0; u < n_keys; u++)
          dot += prow[u] * drow[u];
        for (int u = 0; u < n_keys; u++)
          drow[u] = prow[u] * (drow[u] - dot);
        for (int u = n_keys; u < T; u++)
          drow[u] = 0.0f;
      }
      /* dq (T, HS) += scale dS (T, T) . k (T, HS); dk (T, HS) += scale dS^T . q (T, HS). */
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, T, HS, T, scale, d, T, k + head, C, 1.0f, dq + head, C);
      cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, T, HS, T, scale, d, T, q + head, C, 1.0f, dk + head, C);
    }
  }
}

void
wp_residual_forward (float       *out,
                     const float *a,
                     const float *b,
                     gsize        n)
{
  for (gsize i = 0; i < n; i++)
    out[i] = a[i] + b[i];
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
