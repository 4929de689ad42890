/* test-kernels.c: the forward kernels against naive double-precision loops written here.
 *
 * Inputs are random (fixed seeds); every comparison reports the kernel, the array, the element
 * and both numbers. Tolerances are relative to the float result's scale. */
#include <math.h>
#include <string.h>

#include "wordpatch/kernels.h"

/* The engine must not log warnings or criticals for any input. GTest makes them fatal, which kills
 * the program without naming the test; main() makes them non-fatal and this handler fails the
 * running test instead, with the message. */
static void
log_cb (const char    *log_domain,
        GLogLevelFlags log_level,
        const char    *message,
        gpointer       user_data)
{
  if (log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    g_test_fail_printf ("unexpected log message (%s): %s", log_domain ? log_domain : "no domain",
                        message);
  g_log_default_handler (log_domain, log_level, message, user_data);
}

static float *
random_array (GRand *rand,
              gsize  n,
              double scale)
{
  float *a = g_new (float, n);

  for (gsize i = 0; i < n; i++)
    a[i] = (float) g_rand_double_range (rand, -scale, scale);
  return a;
}

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
  g_autofree float  *inp = random_array (rand, (gsize) N * C, 1.0);
  g_autofree float  *weight = random_array (rand, (gsize) OC * C, 1.0);
  g_autofree float  *bias = random_array (rand, OC, 1.0);
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
}

/* ---- layer norm ---- */

static void
check_layernorm (int   N,
                 int   C,
                 float eps,
                 float offset)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed ((guint32) (N * 100 + C));
  g_autofree float  *inp = random_array (rand, (gsize) N * C, 2.0);
  g_autofree float  *weight = random_array (rand, C, 1.5);
  g_autofree float  *bias = random_array (rand, C, 0.5);
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
}

/* Far out in the tails the functions are 0 and x, never NaN. */
static void
test_activation_extremes (void)
{
  const float inp[] = { -1e30f, -100.0f, -88.0f, 88.0f, 100.0f, 1e30f };
  float       out[G_N_ELEMENTS (inp)];

  for (int kind = 0; kind < 2; kind++) {
    WpActivation activation = kind ? WP_ACTIVATION_GELU : WP_ACTIVATION_QUICK_GELU;

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
  g_autofree float  *q = random_array (rand, n, 2.0);
  g_autofree float  *k = random_array (rand, n, 2.0);
  g_autofree float  *v = random_array (rand, n, 1.0);
  g_autofree float  *out = g_new (float, n);
  g_autofree float  *att = g_new (float, n_att);
  g_autofree double *want = g_new0 (double, n);
  g_autofree double *want_att = g_new0 (double, n_att);
  g_autofree char   *what = NULL;

  for (gsize i = 0; i < n_att; i++)
    att[i] = 1e30f;
  wp_attention_forward (out, att, q, k, v, B, T, C, NH, causal);

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
  wp_attention_forward (out, att, q, k, v, 1, T, C, 1, FALSE);
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

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  /* Every test runs and reports, also after another has failed. */
  g_test_set_nonfatal_assertions ();
  g_log_set_always_fatal (G_LOG_FATAL_MASK);
  g_log_set_default_handler (log_cb, NULL);

  g_test_add_func ("/kernels/matmul/naive", test_matmul);
  g_test_add_func ("/kernels/layernorm/naive", test_layernorm);
  g_test_add_func ("/kernels/layernorm/constant-row", test_layernorm_constant_row);
  g_test_add_func ("/kernels/activation/formula", test_activation);
  g_test_add_func ("/kernels/activation/extremes", test_activation_extremes);
  g_test_add_func ("/kernels/activation/in-place", test_activation_in_place);
  g_test_add_func ("/kernels/attention/naive", test_attention);
  g_test_add_func ("/kernels/attention/large-scores", test_attention_large_scores);
  g_test_add_func ("/kernels/residual/add", test_residual);
  g_test_add_func ("/kernels/l2-normalize/rows", test_l2_normalize);
  return g_test_run ();
}
