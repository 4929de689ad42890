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
