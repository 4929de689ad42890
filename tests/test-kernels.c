/* test-kernels.c: the forward kernels against naive double-precision loops written here (the
 * backward kernels are in test-kernels-backward.c), and the threaded kernels' results at any
 * thread count.
 *
 * Inputs are random (fixed seeds); every comparison reports the kernel, the array, the element
 * and both numbers. Tolerances are relative to the float result's scale. */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "kernels-reference.h"
#include "test-util.h"
#include "wordpatch/kernels.h"
#include "wordpatch/parallel.h"

/* Fails the test at the first element where got and want differ by more than tol * (1 + |want|). */
static gboolean
check_close (const char   *what,
             const float  *got,
             const double *want,
             gsize         n,
             double        tol)
{
  for (gsize i = 0; i < n; i++) {
    if (!isfinite (got[i]) || fabs (got[i] - want[i]) > tol * (1.0 + fabs (want[i]))) {
      g_test_fail_printf ("%s[%" G_GSIZE_FORMAT "] = %.9g, expected %.9g", what, i, got[i],
                          want[i]);
      return FALSE;
    }
  }
  return TRUE;
}

/* ---- matmul ---- */

static void
check_matmul (int      N,
              int      C,
              int      OC,
              gboolean with_bias)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed ((guint32) (N * 1000 + C * 10 + OC));
  g_autofree float  *inp = wp_test_random_floats (rand, (gsize) N * C, 1.0);
  g_autofree float  *weight = wp_test_random_floats (rand, (gsize) OC * C, 1.0);
  g_autofree float  *bias = wp_test_random_floats (rand, OC, 1.0);
  g_autofree float  *out = g_new (float, (gsize) N *OC);
  g_autofree double *want = g_new (double, (gsize) N *OC);
  g_autofree char   *what = g_strdup_printf ("matmul N=%d C=%d OC=%d%s: out", N, C, OC,
                                           with_bias ? " with bias" : "");

  /* Garbage in out: the kernel must overwrite, not accumulate. */
  for (gsize i = 0; i < (gsize) N * OC; i++)
    out[i] = 1e30f;
  wp_matmul_forward (out, inp, weight, with_bias ? bias : NULL, N, C, OC);
  for (int n = 0; n < N; n++) {
    for (int o = 0; o < OC; o++) {
      double sum = with_bias ? bias[o] : 0.0;

      for (int c = 0; c < C; c++)
        sum += (double) inp[n * C + c] * weight[o * C + c];
      want[n * OC + o] = sum;
    }
  }
  check_close (what, out, want, (gsize) N * OC, 1e-5);
}

static void
test_matmul (void)
{
  check_matmul (1, 1, 1, FALSE);
  check_matmul (3, 5, 7, FALSE);
  check_matmul (3, 5, 7, TRUE);
  check_matmul (7, 5, 3, TRUE);
  check_matmul (17, 64, 33, TRUE);
  check_matmul (64, 33, 17, FALSE);
  check_matmul (1, 96, 200, TRUE);
  /* Few rows and enough work: the column-block path. */
  check_matmul (12, 96, 300, TRUE);
  check_matmul (5, 700, 100, FALSE);
}

/* ---- layer norm ---- */

static void
check_layernorm (int   N,
                 int   C,
                 float eps,
                 float offset)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed ((guint32) (N * 100 + C));
  g_autofree float  *inp = wp_test_random_floats (rand, (gsize) N * C, 2.0);
  g_autofree float  *weight = wp_test_random_floats (rand, C, 1.5);
  g_autofree float  *bias = wp_test_random_floats (rand, C, 0.5);
  g_autofree float  *out = g_new (float, (gsize) N *C);
  g_autofree float  *mean = g_new (float, N);
  g_autofree float  *rstd = g_new (float, N);
  g_autofree double *want = g_new (double, (gsize) N *C);
  g_autofree double *want_mean = g_new (double, N);
  g_autofree double *want_rstd = g_new (double, N);
  g_autofree char   *what = NULL;

  /* A large common offset makes a one-pass variance formula lose its digits. */
  for (gsize i = 0; i < (gsize) N * C; i++)
    inp[i] += offset;
  wp_layernorm_forward (out, mean, rstd, inp, weight, bias, N, C, eps);
  for (int n = 0; n < N; n++) {
    double m = 0.0, v = 0.0;

    for (int c = 0; c < C; c++)
      m += inp[n * C + c];
    m /= C;
    for (int c = 0; c < C; c++)
      v += (inp[n * C + c] - m) * (inp[n * C + c] - m);
    v /= C;
    want_mean[n] = m;
    want_rstd[n] = 1.0 / sqrt (v + eps);
    for (int c = 0; c < C; c++)
      want[n * C + c] = (inp[n * C + c] - m) * want_rstd[n] * weight[c] + bias[c];
  }
  what = g_strdup_printf ("layernorm N=%d C=%d offset=%g: out", N, C, offset);
  check_close (what, out, want, (gsize) N * C, offset != 0.0f ? 1e-4 : 1e-5);
  g_free (what);
  what = g_strdup_printf ("layernorm N=%d C=%d offset=%g: mean", N, C, offset);
  check_close (what, mean, want_mean, N, 1e-6);
  g_free (what);
  what = g_strdup_printf ("layernorm N=%d C=%d offset=%g: rstd", N, C, offset);
  check_close (what, rstd, want_rstd, N, offset != 0.0f ? 1e-4 : 1e-5);
}

static void
test_layernorm (void)
{
  check_layernorm (1, 1, 1e-5f, 0.0f);
  check_layernorm (4, 16, 1e-5f, 0.0f);
  check_layernorm (9, 192, 1e-5f, 0.0f);
  check_layernorm (3, 64, 1e-6f, 100.0f);
}

/* A constant row has zero variance: the output is the bias, rstd is 1/sqrt(eps). */
static void
test_layernorm_constant_row (void)
{
  const int C = 8;
  float     inp[8], weight[8], bias[8], out[8], mean, rstd;

  for (int c = 0; c < C; c++) {
    inp[c] = 3.0f;
    weight[c] = 2.0f;
    bias[c] = (float) c;
  }
  wp_layernorm_forward (out, &mean, &rstd, inp, weight, bias, 1, C, 1e-5f);
  g_assert_cmpfloat (mean, ==, 3.0f);
  g_assert_cmpfloat_with_epsilon (rstd, 1.0 / sqrt (1e-5), 1e-2);
  for (int c = 0; c < C; c++)
    g_assert_cmpfloat (out[c], ==, (float) c);
}

/* ---- activations ---- */

static void
test_activation (void)
{
  const gsize        n = 2001;
  g_autofree float  *inp = g_new (float, n);
  g_autofree float  *out = g_new (float, n);
  g_autofree double *want = g_new (double, n);

  /* -10 .. 10 in steps of 0.01, exact zero included. */
  for (gsize i = 0; i < n; i++)
    inp[i] = (float) (((double) i - 1000.0) / 100.0);

  wp_activation_forward (out, inp, n, WP_ACTIVATION_QUICK_GELU);
  for (gsize i = 0; i < n; i++)
    want[i] = inp[i] / (1.0 + exp (-1.702 * inp[i]));
  check_close ("quick_gelu", out, want, n, 1e-6);
  g_assert_cmpfloat (out[1000], ==, 0.0f);

  wp_activation_forward (out, inp, n, WP_ACTIVATION_GELU);
  for (gsize i = 0; i < n; i++)
    want[i] = 0.5 * inp[i] * (1.0 + erf (inp[i] / sqrt (2.0)));
  check_close ("gelu", out, want, n, 1e-6);
  g_assert_cmpfloat (out[1000], ==, 0.0f);

  wp_activation_forward (out, inp, n, WP_ACTIVATION_GELU_TANH);
  for (gsize i = 0; i < n; i++)
    want[i] = gelu_tanh_reference (inp[i]);
  check_close ("gelu_new", out, want, n, 1e-6);
  g_assert_cmpfloat (out[1000], ==, 0.0f);
}

/* Far out in the tails the functions are 0 and x, never NaN. */
static void
test_activation_extremes (void)
{
  const float inp[] = { -1e30f, -100.0f, -88.0f, 88.0f, 100.0f, 1e30f };
  float       out[G_N_ELEMENTS (inp)];

  for (int kind = 0; kind < N_ACTIVATIONS; kind++) {
    WpActivation activation = activations[kind];

    wp_activation_forward (out, inp, G_N_ELEMENTS (inp), activation);
    for (gsize i = 0; i < G_N_ELEMENTS (inp); i++) {
      const float want = inp[i] > 0 ? inp[i] : 0.0f;

      if (!isfinite (out[i]) || fabsf (out[i] - want) > 1e-6f * fabsf (inp[i]))
        g_test_fail_printf ("%s (%g) = %g, expected %g", wp_activation_to_string (activation),
                            inp[i], out[i], want);
    }
  }
}

/* In place: out may be inp. */
static void
test_activation_in_place (void)
{
  float a[3] = { -1.0f, 0.5f, 2.0f }, b[3];

  wp_activation_forward (b, a, 3, WP_ACTIVATION_GELU);
  wp_activation_forward (a, a, 3, WP_ACTIVATION_GELU);
  g_assert_cmpmem (a, sizeof a, b, sizeof b);
}

/* ---- attention ---- */

static void
check_attention (int      B,
                 int      T,
                 int      C,
                 int      NH,
                 gboolean causal)
{
  const int   HS = C / NH;
  const gsize n = (gsize) B * T * C, n_att = (gsize) B * NH * T * T;
  g_autoptr (GRand) rand = g_rand_new_with_seed ((guint32) (B * 1000 + T * 100 + C + causal));
  g_autofree float  *q = wp_test_random_floats (rand, n, 2.0);
  g_autofree float  *k = wp_test_random_floats (rand, n, 2.0);
  g_autofree float  *v = wp_test_random_floats (rand, n, 1.0);
  g_autofree float  *out = g_new (float, n);
  g_autofree float  *att = g_new (float, n_att);
  g_autofree double *want = g_new0 (double, n);
  g_autofree double *want_att = g_new0 (double, n_att);
  g_autofree char   *what = NULL;

  for (gsize i = 0; i < n_att; i++)
    att[i] = 1e30f;
  wp_attention_forward (out, att, q, k, v, C, B, T, C, NH, causal);

  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      for (int t = 0; t < T; t++) {
        const float *qt = q + ((gsize) b * T + t) * C + h * HS;
        double      *row = want_att + (((gsize) b * NH + h) * T + t) * T;
        double       max = -INFINITY, sum = 0.0;
        int          n_keys = causal ? t + 1 : T;

        for (int u = 0; u < n_keys; u++) {
          const float *ku = k + ((gsize) b * T + u) * C + h * HS;
          double       dot = 0.0;

          for (int i = 0; i < HS; i++)
            dot += (double) qt[i] * ku[i];
          row[u] = dot / sqrt (HS);
          max = fmax (max, row[u]);
        }
        for (int u = 0; u < n_keys; u++) {
          row[u] = exp (row[u] - max);
          sum += row[u];
        }
        for (int u = 0; u < n_keys; u++)
          row[u] /= sum;
        for (int i = 0; i < HS; i++) {
          double acc = 0.0;

          for (int u = 0; u < n_keys; u++)
            acc += row[u] * v[((gsize) b * T + u) * C + h * HS + i];
          want[((gsize) b * T + t) * C + h * HS + i] = acc;
        }
      }
    }
  }
  what = g_strdup_printf ("attention B=%d T=%d C=%d NH=%d%s: att", B, T, C, NH,
                          causal ? " causal" : "");
  check_close (what, att, want_att, n_att, 1e-5);
  g_free (what);
  what = g_strdup_printf ("attention B=%d T=%d C=%d NH=%d%s: out", B, T, C, NH,
                          causal ? " causal" : "");
  check_close (what, out, want, n, 1e-5);

  /* Each row of probabilities sums to one; causal rows are exactly zero above the diagonal. */
  for (gsize r = 0; r < n_att / T; r++) {
    const float *row = att + r * T;
    const int    t = (int) (r % T);
    double       sum = 0.0;

    for (int u = 0; u < T; u++) {
      sum += row[u];
      if (causal && u > t && row[u] != 0.0f) {
        g_test_fail_printf ("causal att row %" G_GSIZE_FORMAT " (t=%d) has %g at key %d", r, t,
                            row[u], u);
        return;
      }
    }
    if (fabs (sum - 1.0) > 1e-5) {
      g_test_fail_printf ("att row %" G_GSIZE_FORMAT " sums to %.9g", r, sum);
      return;
    }
  }
}

static void
test_attention (void)
{
  check_attention (1, 1, 4, 1, FALSE);
  check_attention (2, 5, 8, 2, FALSE);
  check_attention (2, 5, 8, 2, TRUE);
  check_attention (3, 7, 12, 3, TRUE);
  check_attention (1, 17, 32, 2, FALSE);
}

/* Large scores must not overflow the softmax. */
static void
test_attention_large_scores (void)
{
  const int T = 3, C = 2;
  float     q[6], k[6], v[6], out[6], att[9];

  for (int i = 0; i < T * C; i++) {
    q[i] = 100.0f;
    k[i] = (float) (100 * (i / C));
    v[i] = (float) (i / C);
  }
  wp_attention_forward (out, att, q, k, v, C, 1, T, C, 1, FALSE);
  for (int i = 0; i < T * T; i++)
    g_assert_true (isfinite (att[i]));
  /* Key 2 scores far above the others: every query takes its value. */
  for (int i = 0; i < T * C; i++)
    g_assert_cmpfloat_with_epsilon (out[i], 2.0, 1e-5);
}

/* ---- residual and L2 normalisation ---- */

static void
test_residual (void)
{
  float a[4] = { 1, 2, 3, 4 }, b[4] = { 0.5f, -2, 0, 1e-3f }, out[4];

  wp_residual_forward (out, a, b, 4);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat (out[i], ==, a[i] + b[i]);
  wp_residual_forward (a, a, b, 4);
  g_assert_cmpmem (a, sizeof a, out, sizeof out);
}

static void
test_l2_normalize (void)
{
  const int   N = 4, C = 5;
  const float inp[] = {
    3, 4, 0, 0, 0,      /* norm 5 */
    0, 0, 0, 0, 0,      /* zero stays zero */
    1e-8f, 0, 0, 0, 0,  /* below the 1e-6 floor: divided by 1e-6, not blown up to 1 */
    -1, 2, -2, 4, 0.5f, /* norm 5.0249... */
  };
  float  out[20], norms[4];
  double want[20], want_norms[4];

  wp_l2_normalize_rows (out, norms, inp, N, C);
  for (int n = 0; n < N; n++) {
    double sum = 0.0;

    for (int c = 0; c < C; c++)
      sum += (double) inp[n * C + c] * inp[n * C + c];
    want_norms[n] = sqrt (sum);
    for (int c = 0; c < C; c++)
      want[n * C + c] = inp[n * C + c] / fmax (want_norms[n], 1e-6);
  }
  check_close ("l2_normalize: out", out, want, 20, 1e-6);
  check_close ("l2_normalize: norms", norms, want_norms, 4, 1e-6);
  for (int c = 0; c < C; c++)
    g_assert_cmpfloat (out[C + c], ==, 0.0f);
  g_assert_cmpfloat_with_epsilon (out[2 * C], 0.01, 1e-6);

  /* In place, and without norms. */
  {
    float copy[20];

    memcpy (copy, inp, sizeof copy);
    wp_l2_normalize_rows (copy, NULL, copy, N, C);
    g_assert_cmpmem (copy, sizeof copy, out, sizeof out);
  }
  /* Unit rows have norm one. */
  for (int n = 0; n < N; n++) {
    double sum = 0.0;

    if (n == 1 || n == 2)
      continue;
    for (int c = 0; c < C; c++)
      sum += (double) out[n * C + c] * out[n * C + c];
    g_assert_cmpfloat_with_epsilon (sqrt (sum), 1.0, 1e-6);
  }
}

/* ---- attention over packed k, v, q in query blocks ---- */

/* Attention of one (B, T, 3C) array holding k, v, q side by side, in double: out (B, T, C) and,
 * for dout (B, T, C), the gradients dkvq (B, T, 3C) laid out like kvq. */
static void
reference_attention (double      *out,
                     double      *dkvq,
                     const float *kvq,
                     const float *dout,
                     int          B,
                     int          T,
                     int          C,
                     int          NH,
                     gboolean     causal)
{
  const int          HS = C / NH, ld = 3 * C;
  g_autofree double *p = g_new (double, (gsize) T *T);
  g_autofree double *dp = g_new (double, (gsize) T *T);

  for (int b = 0; b < B; b++) {
    for (int h = 0; h < NH; h++) {
      const float *k = kvq + (gsize) b * T * ld + h * HS, *v = k + C, *q = k + 2 * C;
      const float *dy = dout + (gsize) b * T * C + h * HS;
      double      *o = out + (gsize) b * T * C + h * HS;
      double      *dk = dkvq + (gsize) b * T * ld + h * HS, *dv = dk + C, *dq = dk + 2 * C;

      for (int t = 0; t < T; t++) {
        const int n_keys = causal ? t + 1 : T;
        double    max = -INFINITY, sum = 0.0, dot = 0.0;

        for (int u = 0; u < T; u++) {
          double s = 0.0;

          for (int i = 0; i < HS; i++)
            s += (double) q[t * ld + i] * k[u * ld + i];
          p[t * T + u] = s / sqrt (HS);
          if (u < n_keys)
            max = fmax (max, p[t * T + u]);
        }
        for (int u = 0; u < T; u++) {
          p[t * T + u] = u < n_keys ? exp (p[t * T + u] - max) : 0.0;
          sum += p[t * T + u];
        }
        for (int u = 0; u < T; u++) {
          p[t * T + u] /= sum;
          dp[t * T + u] = 0.0;
          for (int i = 0; i < HS; i++)
            dp[t * T + u] += (double) dy[t * C + i] * v[u * ld + i];
          dot += p[t * T + u] * dp[t * T + u];
        }
        for (int i = 0; i < HS; i++) {
          o[t * C + i] = 0.0;
          for (int u = 0; u < T; u++)
            o[t * C + i] += p[t * T + u] * v[u * ld + i];
        }
        /* dS = P (dP - rowsum(P dP)), in place of dP. */
        for (int u = 0; u < T; u++)
          dp[t * T + u] = p[t * T + u] * (dp[t * T + u] - dot);
      }
      for (int t = 0; t < T; t++) {
        for (int i = 0; i < HS; i++) {
          double gq = 0.0, gk = 0.0, gv = 0.0;

          for (int u = 0; u < T; u++) {
            gq += dp[t * T + u] * k[u * ld + i];
            gk += dp[u * T + t] * q[u * ld + i];
            gv += p[u * T + t] * dy[u * C + i];
          }
          dq[t * ld + i] = gq / sqrt (HS);
          dk[t * ld + i] = gk / sqrt (HS);
          dv[t * ld + i] = gv;
        }
      }
    }
  }
}

/* The encoder's layout (k, v, q as column blocks of one array, rows 3C apart) with T large enough
 * that each head's products are split into query blocks. */
static void
check_attention_packed (int      B,
                        int      T,
                        int      C,
                        int      NH,
                        gboolean causal)
{
  const gsize n = (gsize) B * T * C, n_att = (gsize) B * NH * T * T;
  g_autoptr (GRand) rand = g_rand_new_with_seed ((guint32) (B + T + C + NH + causal));
  g_autofree float  *kvq = wp_test_random_floats (rand, 3 * n, 1.0);
  g_autofree float  *dout = wp_test_random_floats (rand, n, 1.0);
  g_autofree float  *out = g_new (float, n);
  g_autofree float  *att = g_new (float, n_att);
  g_autofree float  *scratch = g_new (float, n_att);
  g_autofree float  *dkvq = g_new0 (float, 3 * n);
  g_autofree double *want = g_new (double, n);
  g_autofree double *want_dkvq = g_new (double, 3 * n);
  g_autofree char   *what = g_strdup_printf ("packed attention B=%d T=%d C=%d NH=%d%s", B, T, C, NH,
                                           causal ? " causal" : "");
  g_autofree char   *what_out = g_strconcat (what, ": out", NULL);
  g_autofree char   *what_grad = g_strconcat (what, ": dkvq", NULL);

  wp_attention_forward (out, att, kvq + 2 * C, kvq, kvq + C, 3 * C, B, T, C, NH, causal);
  wp_attention_backward (dkvq + 2 * C, dkvq, dkvq + C, 3 * C, scratch, dout, kvq + 2 * C, kvq,
                         kvq + C, att, B, T, C, NH, causal);
  reference_attention (want, want_dkvq, kvq, dout, B, T, C, NH, causal);
  check_close (what_out, out, want, n, 1e-5);
  check_close (what_grad, dkvq, want_dkvq, 3 * n, 1e-4);
}

static void
test_attention_packed (void)
{
  /* T T HS = 409,600 multiply-adds a head: above BLAS_SERIAL_MNK, two query blocks. */
  check_attention_packed (2, 80, 128, 2, FALSE);
  check_attention_packed (2, 80, 128, 2, TRUE);
  check_attention_packed (1, 5, 12, 3, TRUE);
}

/* ---- threads ---- */

/* The arrays one pass through the threaded kernels produces. */
enum {
  RUN_LN,
  RUN_MEAN,
  RUN_RSTD,
  RUN_ACT,
  RUN_DACT,
  RUN_DX,
  RUN_DW,
  RUN_DB,
  RUN_OUT,
  RUN_ATT,
  RUN_DKVQ,
  RUN_MATMUL,
  RUN_N_ARRAYS
};

/* Sizes that split every kernel's work into several chunks at the kernels' grains. */
#define RUN_B   8
#define RUN_T   80
#define RUN_N   (RUN_B * RUN_T)
#define RUN_C   128
#define RUN_MLP (4 * RUN_C)
#define RUN_OC  2048

static const struct {
  const char *name;
  gsize       size;
} run_arrays[RUN_N_ARRAYS] = {
  { "layernorm out", RUN_N *RUN_C },
  { "layernorm mean", RUN_N },
  { "layernorm rstd", RUN_N },
  { "quick_gelu", RUN_N *RUN_MLP },
  { "quick_gelu backward + residual", RUN_N *RUN_MLP },
  { "layernorm dinp", RUN_N *RUN_C },
  { "layernorm dweight", RUN_C },
  { "layernorm dbias", RUN_C },
  { "attention out", RUN_N *RUN_C },
  { "attention probabilities", RUN_B * 2 * RUN_T *RUN_T },
  { "attention dkvq", 3 * RUN_N *RUN_C },
  { "matmul (12 rows)", 12 * RUN_OC },
};

/* One pass through every kernel that spreads work over wp_parallel_for() (attention with two
 * heads), at the current thread count. */
static void
thread_run (float       *r[RUN_N_ARRAYS],
            const float *x,
            const float *w,
            const float *kvq,
            const float *dout)
{
  const int         N = RUN_N, C = RUN_C, MLP = RUN_MLP;
  g_autofree float *scratch = g_new (float, run_arrays[RUN_ATT].size);

  for (int a = 0; a < RUN_N_ARRAYS; a++)
    r[a] = g_new0 (float, run_arrays[a].size);
  wp_layernorm_forward (r[RUN_LN], r[RUN_MEAN], r[RUN_RSTD], x, w, w + C, N, C, 1e-5f);
  wp_layernorm_backward (r[RUN_DX], r[RUN_DW], r[RUN_DB], dout, x, w, r[RUN_MEAN], r[RUN_RSTD], N,
                         C);
  wp_activation_forward (r[RUN_ACT], kvq, (gsize) N * MLP, WP_ACTIVATION_QUICK_GELU);
  wp_activation_backward (r[RUN_DACT], kvq + (gsize) N * MLP, kvq, (gsize) N * MLP,
                          WP_ACTIVATION_QUICK_GELU);
  wp_residual_forward (r[RUN_DACT], r[RUN_DACT], r[RUN_ACT], (gsize) N * MLP);
  wp_attention_forward (r[RUN_OUT], r[RUN_ATT], kvq + 2 * C, kvq, kvq + C, 3 * C, RUN_B, RUN_T, C,
                        2, TRUE);
  wp_attention_backward (r[RUN_DKVQ] + 2 * C, r[RUN_DKVQ], r[RUN_DKVQ] + C, 3 * C, scratch, dout,
                         kvq + 2 * C, kvq, kvq + C, r[RUN_ATT], RUN_B, RUN_T, C, 2, TRUE);
  wp_matmul_forward (r[RUN_MATMUL], x, kvq, NULL, 12, C, RUN_OC);
}

/* Every element's result is the same on one thread and on several (kernels.h): the split moves
 * work between threads, never changes an element's arithmetic. */
static void
test_threads_same_results (void)
{
  const int saved = openblas_get_num_threads ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (99);
  g_autofree float *x = wp_test_random_floats (rand, RUN_N * RUN_C, 2.0);
  g_autofree float *w = wp_test_random_floats (rand, 2 * RUN_C, 1.0);
  g_autofree float *kvq = wp_test_random_floats (rand, 2 * RUN_N * RUN_MLP, 3.0);
  g_autofree float *dout = wp_test_random_floats (rand, RUN_N * RUN_C, 1.0);
  float            *one[RUN_N_ARRAYS], *two[RUN_N_ARRAYS];

  openblas_set_num_threads (1);
  thread_run (one, x, w, kvq, dout);
  openblas_set_num_threads (2);
  thread_run (two, x, w, kvq, dout);
  openblas_set_num_threads (saved);
  for (int a = 0; a < RUN_N_ARRAYS; a++) {
    for (gsize i = 0; i < run_arrays[a].size; i++) {
      if (memcmp (&two[a][i], &one[a][i], sizeof (float)) != 0) {
        g_test_fail_printf ("%s[%" G_GSIZE_FORMAT "] = %.9g on two threads, %.9g on one",
                            run_arrays[a].name, i, two[a][i], one[a][i]);
        break;
      }
    }
    g_free (one[a]);
    g_free (two[a]);
  }
}

/* One caller of concurrent_callers(): rows x 768 times 768 x 768, again and again. */
typedef struct {
  int          rows, repeats;
  const float *x, *w, *expected;
  float       *out;
  gboolean     same;
} MatmulCaller;

static gpointer
matmul_caller_run (gpointer data)
{
  MatmulCaller *c = data;
  const gsize   bytes = (gsize) c->rows * 768 * sizeof (float);

  c->same = TRUE;
  for (int r = 0; r < c->repeats; r++) {
    wp_matmul_forward (c->out, c->x, c->w, NULL, c->rows, 768, 768);
    c->same = c->same && memcmp (c->out, c->expected, bytes) == 0;
  }
  return NULL;
}

/* The app multiplies on two threads at once (a map worker, a fine-tune) with OpenBLAS's count
 * raised at start-up from the environment's (the tests start at OPENBLAS_NUM_THREADS=1): both
 * callers must finish, with the results each gets alone. A deadlock here ends in the test's
 * timeout. */
static void
test_threads_concurrent_callers (void)
{
  const int saved = openblas_get_num_threads ();
  const int rows[2] = { 197, 12 };
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  g_autofree float *w = wp_test_random_floats (rand, 768 * 768, 0.05);
  MatmulCaller      callers[2];
  GThread          *threads[2];

  wp_set_threads (2);
  for (int i = 0; i < 2; i++) {
    callers[i] = (MatmulCaller){ rows[i], 60, NULL, w, NULL, NULL, FALSE };
    callers[i].x = wp_test_random_floats (rand, rows[i] * 768, 1.0);
    callers[i].out = g_new (float, rows[i] * 768);
    callers[i].expected = g_new (float, rows[i] * 768);
    wp_matmul_forward ((float *) callers[i].expected, callers[i].x, w, NULL, rows[i], 768, 768);
  }
  for (int i = 0; i < 2; i++)
    threads[i] = g_thread_new ("caller", matmul_caller_run, &callers[i]);
  for (int i = 0; i < 2; i++) {
    g_thread_join (threads[i]);
    g_assert_true (callers[i].same);
    g_free ((float *) callers[i].x);
    g_free ((float *) callers[i].expected);
    g_free (callers[i].out);
  }
  openblas_set_num_threads (saved);
}

int
main (int   argc,
      char *argv[])
{
  wp_test_init (&argc, &argv);

  g_test_add_func ("/kernels/matmul/naive", test_matmul);
  g_test_add_func ("/kernels/layernorm/naive", test_layernorm);
  g_test_add_func ("/kernels/layernorm/constant-row", test_layernorm_constant_row);
  g_test_add_func ("/kernels/activation/formula", test_activation);
  g_test_add_func ("/kernels/activation/extremes", test_activation_extremes);
  g_test_add_func ("/kernels/activation/in-place", test_activation_in_place);
  g_test_add_func ("/kernels/attention/naive", test_attention);
  g_test_add_func ("/kernels/attention/large-scores", test_attention_large_scores);
  g_test_add_func ("/kernels/attention/packed-blocks", test_attention_packed);
  g_test_add_func ("/kernels/residual/add", test_residual);
  g_test_add_func ("/kernels/l2-normalize/rows", test_l2_normalize);
  g_test_add_func ("/kernels/threads/same-results", test_threads_same_results);
  g_test_add_func ("/kernels/threads/concurrent-callers", test_threads_concurrent_callers);
  return g_test_run ();
}
