/* kernels_attention.c: the attention kernels: causal or full softmax, multi-head attention over
 * (B, T) sequences and the attention-pooling probe, forward and backward. */
#include "wordpatch/kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "kernels-private.h"
#include "simd-private.h"

typedef struct {
  float       *rows;  /* (B, NH, T, T): scores to probabilities, or dP to dS */
  const float *probs; /* the forward's probabilities, for the backward */
  int          T;
  gboolean     causal;
} SoftmaxRows;

/* Row r of a (B, NH, T, T) array belongs to query t = r % T, which sees keys 0 .. t when causal. */
static int
softmax_n_keys (const SoftmaxRows *a,
                gsize              r)
{
  return a->causal ? (int) (r % (gsize) a->T) + 1 : a->T;
}

/* Softmax over each row's keys, in place, zeros after them. */
static void
softmax_rows (gpointer data,
              gsize    first,
              gsize    end)
{
  const SoftmaxRows *a = data;
  const int          T = a->T;

  for (gsize r = first; r < end; r++) {
    float    *row = a->rows + r * T;
    const int n_keys = softmax_n_keys (a, r), n4 = n_keys & ~3, k = n_keys - n4;
    float     max = row[0];
    v4f       vmax, sum = splat (0.0f), vtotal;

    for (int u = 1; u < n_keys; u++)
      max = fmaxf (max, row[u]);
    vmax = splat (max);
    for (int u = 0; u < n4; u += 4) {
      const v4f e = exp4 (load4 (row + u) - vmax);

      store4 (row + u, e);
      sum += e;
    }
    if (k > 0) {
      const v4f e = keep_lanes (exp4 (load_tail (row + n4, k) - vmax), k);

      store_tail (row + n4, e, k);
      sum += e;
    }
    vtotal = splat ((sum[0] + sum[1]) + (sum[2] + sum[3]));
    for (int u = 0; u < n4; u += 4)
      store4 (row + u, load4 (row + u) / vtotal);
    if (k > 0)
      store_tail (row + n4, load_tail (row + n4, k) / vtotal, k);
    memset (row + n_keys, 0, (gsize) (T - n_keys) * sizeof (float));
  }
}

/* Attention's per-head products are tiny, so each head takes its queries in blocks that keep every
 * product below BLAS_SERIAL_MNK (on the calling thread), and the heads run side by side on
 * wp_parallel_for()'s threads instead. The blocks depend only on T and HS, so results do not
 * depend on the thread count. */

typedef struct {
  float       *out, *att; /* forward's results */
  const float *q, *k, *v;
  const float *probs, *dout; /* backward's inputs */
  float       *dq, *dk, *dv, *datt;
  int          ld; /* of q, k, v and their gradients */
  int          T, C, NH;
  gboolean     causal;
} Attention;

/* Query rows a block of one head's products takes: as few blocks as keep R T HS below the limit,
 * of equal size. */
static int
attention_block_rows (int T,
                      int HS)
{
  const int max_rows = MAX ((BLAS_SERIAL_MNK - 1) / (T * HS), 1);
  const int n_blocks = (T + max_rows - 1) / max_rows;

  return (T + n_blocks - 1) / n_blocks;
}

/* Heads a thread should take at least: one caption's heads (T = 12) are not worth a wake-up. */
static gsize
attention_grain (int T,
                 int HS)
{
  return MAX (BLAS_SERIAL_MNK / ((gsize) T * T * HS), 1);
}

/* Where head bh (= b NH + h) starts in q, k, v and their gradients (rows ld apart) and in out and
 * dout (rows C apart). */
static void
attention_head (const Attention *a,
                gsize            bh,
                gsize           *head,
                gsize           *head_out)
{
  const gsize b = bh / a->NH, h = bh % a->NH, HS = a->C / a->NH;

  *head = b * a->T * a->ld + h * HS;
  *head_out = b * a->T * a->C + h * HS;
}

static void
attention_forward_heads (gpointer data,
                         gsize    first,
                         gsize    end)
{
  const Attention *a = data;
  const int        T = a->T, C = a->C, HS = C / a->NH, R = attention_block_rows (T, HS);
  const float      scale = 1.0f / sqrtf ((float) HS);

  for (gsize bh = first; bh < end; bh++) {
    float *att = a->att + bh * T * T;
    gsize  head, head_out;

    attention_head (a, bh, &head, &head_out);
    for (int t0 = 0; t0 < T; t0 += R) {
      const int   rows = MIN (R, T - t0);
      SoftmaxRows softmax = { att, NULL, T, a->causal };

      /* Scores of queries t0 .. t0 + rows - 1: (rows, HS) . (T, HS)^T, the head's columns read in
       * place; then their softmax and weighted values (rows, T) . (T, HS). */
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, rows, T, HS, scale,
                   a->q + head + (gsize) t0 * a->ld, a->ld, a->k + head, a->ld, 0.0f,
                   att + (gsize) t0 * T, T);
      softmax_rows (&softmax, t0, t0 + rows);
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, HS, T, 1.0f,
                   att + (gsize) t0 * T, T, a->v + head, a->ld, 0.0f,
                   a->out + head_out + (gsize) t0 * C, C);
    }
  }
}

void
wp_attention_forward (float       *out,
                      float       *att,
                      const float *q,
                      const float *k,
                      const float *v,
                      int          ld,
                      int          B,
                      int          T,
                      int          C,
                      int          NH,
                      gboolean     causal)
{
  Attention a = { .out = out,
                  .att = att,
                  .q = q,
                  .k = k,
                  .v = v,
                  .ld = ld,
                  .T = T,
                  .C = C,
                  .NH = NH,
                  .causal = causal };

  wp_parallel_for ((gsize) B * NH, attention_grain (T, C / NH), attention_forward_heads, &a);
}

/* Softmax backward, row by row, in place: dP becomes dS = P * (dP - rowsum(P * dP)). */
static void
softmax_backward_rows (gpointer data,
                       gsize    first,
                       gsize    end)
{
  const SoftmaxRows *a = data;
  const int          T = a->T;

  for (gsize r = first; r < end; r++) {
    const float *p = a->probs + r * T;
    float       *d = a->rows + r * T;
    const int    n_keys = softmax_n_keys (a, r), n4 = n_keys & ~3, k = n_keys - n4;
    v4f          dot = splat (0.0f), vtotal;

    for (int u = 0; u < n4; u += 4)
      dot += load4 (p + u) * load4 (d + u);
    if (k > 0)
      dot += load_tail (p + n4, k) * load_tail (d + n4, k);
    vtotal = splat ((dot[0] + dot[1]) + (dot[2] + dot[3]));
    for (int u = 0; u < n4; u += 4)
      store4 (d + u, load4 (p + u) * (load4 (d + u) - vtotal));
    if (k > 0)
      store_tail (d + n4, load_tail (p + n4, k) * (load_tail (d + n4, k) - vtotal), k);
    memset (d + n_keys, 0, (gsize) (T - n_keys) * sizeof (float));
  }
}

/* dout (B, T, C); dq, dk, dv, q, k, v (B, T) rows of C, ld apart; heads side by side in C;
 * att (B, NH, T, T) the forward's probabilities; datt_scratch (B, NH, T, T) caller-provided
 * scratch, overwritten.
 * Per head, with S = scale q k^T, P = softmax(S) (masked), out = P v:
 *   dP = dout v^T;  dv += P^T dout;  dS = P * (dP - rowsum(P * dP));
 *   dq += scale dS k;  dk += scale dS^T q.
 * Masked entries have P = 0, hence dS = 0: no separate mask is needed. Each head's query blocks
 * (see BLAS_SERIAL_MNK) run in order on one thread, which alone writes the head's columns. */
static void
attention_backward_heads (gpointer data,
                          gsize    first,
                          gsize    end)
{
  const Attention *a = data;
  const int        T = a->T, C = a->C, HS = C / a->NH, R = attention_block_rows (T, HS);
  const float      scale = 1.0f / sqrtf ((float) HS);

  for (gsize bh = first; bh < end; bh++) {
    const int    ld = a->ld;
    const float *p = a->probs + bh * T * T;
    float       *d = a->datt + bh * T * T;
    gsize        head, head_out;

    attention_head (a, bh, &head, &head_out);
    for (int t0 = 0; t0 < T; t0 += R) {
      const int   rows = MIN (R, T - t0);
      const gsize q0 = head + (gsize) t0 * ld, dout0 = head_out + (gsize) t0 * C;
      SoftmaxRows softmax = { d, p, T, a->causal };

      /* dP (rows, T) = dout (rows, HS) . v (T, HS)^T; dv (T, HS) += P^T (T, rows) . dout (rows,
       * HS). */
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, rows, T, HS, 1.0f, a->dout + dout0, C,
                   a->v + head, ld, 0.0f, d + (gsize) t0 * T, T);
      cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, T, HS, rows, 1.0f, p + (gsize) t0 * T,
                   T, a->dout + dout0, C, 1.0f, a->dv + head, ld);
      softmax_backward_rows (&softmax, t0, t0 + rows);
      /* dq (rows, HS) += scale dS (rows, T) . k (T, HS); dk (T, HS) += scale dS^T (T, rows) . q
       * (rows, HS). */
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, HS, T, scale,
                   d + (gsize) t0 * T, T, a->k + head, ld, 1.0f, a->dq + q0, ld);
      cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, T, HS, rows, scale, d + (gsize) t0 * T,
                   T, a->q + q0, ld, 1.0f, a->dk + head, ld);
    }
  }
}

void
wp_attention_backward (float       *dq,
                       float       *dk,
                       float       *dv,
                       int          ld,
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
  Attention a = { .probs = att,
                  .q = q,
                  .k = k,
                  .v = v,
                  .dq = dq,
                  .dk = dk,
                  .dv = dv,
                  .datt = datt_scratch,
                  .dout = dout,
                  .ld = ld,
                  .T = T,
                  .C = C,
                  .NH = NH,
                  .causal = causal };

  wp_parallel_for ((gsize) B * NH, attention_grain (T, C / NH), attention_backward_heads, &a);
}

/* q (C) shared by the B sequences; k, v (B, T) rows ld apart; heads side by side in C. Per
 * sequence b and head h, with scale = HS^-1/2: a = softmax(scale k_h q_h), out_h = a^T v_h. */
void
wp_probe_attention_forward (float       *out,
                            float       *att,
                            const float *q,
                            const float *k,
                            const float *v,
                            int          ld,
                            int          B,
                            int          T,
                            int          C,
                            int          NH)
{
  const int   HS = C / NH;
  const float scale = 1.0f / sqrtf ((float) HS);

  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      float *a = att + ((gsize) b * NH + h) * T;
      float *o = out + (gsize) b * C + h * HS;
      float  max = -INFINITY, sum = 0.0f;

      for (int t = 0; t < T; t++) {
        const float *kt = k + ((gsize) b * T + t) * ld + h * HS;
        float        dot = 0.0f;

        for (int i = 0; i < HS; i++)
          dot += q[h * HS + i] * kt[i];
        a[t] = scale * dot;
        max = fmaxf (max, a[t]);
      }
      for (int t = 0; t < T; t++) {
        a[t] = expf (a[t] - max);
        sum += a[t];
      }
      memset (o, 0, (gsize) HS * sizeof (float));
      for (int t = 0; t < T; t++) {
        const float *vt = v + ((gsize) b * T + t) * ld + h * HS;

        a[t] /= sum;
        for (int i = 0; i < HS; i++)
          o[i] += a[t] * vt[i];
      }
    }
  }
}

/* With da_t = dout_h . v_t: dv_t += a_t dout_h; ds = a * (da - sum(a * da));
 * dq_h += scale sum_t ds_t k_t; dk_t += scale ds_t q_h. */
void
wp_probe_attention_backward (float       *dq,
                             float       *dk,
                             float       *dv,
                             int          ld,
                             const float *dout,
                             const float *q,
                             const float *k,
                             const float *v,
                             const float *att,
                             int          B,
                             int          T,
                             int          C,
                             int          NH)
{
  const int   HS = C / NH;
  const float scale = 1.0f / sqrtf ((float) HS);

  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      const float *a = att + ((gsize) b * NH + h) * T;
      const float *d = dout + (gsize) b * C + h * HS;
      float        total = 0.0f;

      for (int t = 0; t < T; t++) {
        const float *vt = v + ((gsize) b * T + t) * ld + h * HS;
        float       *dvt = dv + ((gsize) b * T + t) * ld + h * HS;
        float        da = 0.0f;

        for (int i = 0; i < HS; i++) {
          da += d[i] * vt[i];
          dvt[i] += a[t] * d[i];
        }
        total += a[t] * da;
      }
      for (int t = 0; t < T; t++) {
        const float *vt = v + ((gsize) b * T + t) * ld + h * HS;
        const float *kt = k + ((gsize) b * T + t) * ld + h * HS;
        float       *dkt = dk + ((gsize) b * T + t) * ld + h * HS;
        float        da = 0.0f, ds;

        for (int i = 0; i < HS; i++)
          da += d[i] * vt[i];
        ds = scale * a[t] * (da - total);
        for (int i = 0; i < HS; i++) {
          dq[h * HS + i] += ds * kt[i];
          dkt[i] += ds * q[h * HS + i];
        }
      }
    }
  }
}
