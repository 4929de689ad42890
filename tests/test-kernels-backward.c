/* test-kernels-backward.c: the backward kernels against central finite differences of naive
 * double-precision forwards written here, and their accumulation into gradients.
 *
 * Inputs are random (fixed seeds); every comparison reports the kernel, the array, the element
 * and both numbers. */
#include <math.h>
#include <string.h>

#include "kernels-reference.h"
#include "test-util.h"
#include "wordpatch/kernels.h"

/* ---- backward kernels against central finite differences ----
 *
 * Each op has a naive double-precision forward here; the loss is sum (dout * forward (inputs)) with
 * a random upstream gradient dout, so its derivative with respect to an input is exactly what the
 * backward kernel computes. The float kernel sees the same (float) inputs that the double forward
 * is differentiated at. */

/* One op's double inputs (perturbed in place by numeric_grad) and dims; each loss reads its own. */
typedef struct {
  double       *x[3]; /* the differentiated inputs, in the order of the kernel's gradients */
  const double *dout;
  const float  *weight; /* layernorm's weight and bias are differentiated through x[1], x[2] */
  int           N, C, OC, B, T, NH;
  gboolean      causal;
  WpActivation  activation;
  double        eps;
} FdCase;

typedef double (*LossFunc) (const FdCase *fd);

static double *
to_double (const float *a,
           gsize        n)
{
  double *d = g_new (double, n);

  for (gsize i = 0; i < n; i++)
    d[i] = a[i];
  return d;
}

/* grad (n) = d loss / d x (n) by central differences with step h; x is one of fd->x. */
static void
numeric_grad (double       *grad,
              double       *x,
              gsize         n,
              double        h,
              LossFunc      loss,
              const FdCase *fd)
{
  for (gsize i = 0; i < n; i++) {
    const double save = x[i];
    double       plus, minus;

    x[i] = save + h;
    plus = loss (fd);
    x[i] = save - h;
    minus = loss (fd);
    x[i] = save;
    grad[i] = (plus - minus) / (2.0 * h);
  }
}

/* Worst relative error over the tensor, each element's error relative to max(|want|, 1e-2 max
 * |want|, 1e-4): near-zero elements are judged on the tensor's scale, and a gradient that is
 * exactly zero (C = 1 normalisation) against float rounding (the inputs and dout are of order
 * one). Fails the test above tol naming the element and both numbers; reports the worst error with
 * g_test_message either way. */
G_GNUC_PRINTF (5, 6)
static double
check_grad (const float  *got,
            const double *want,
            gsize         n,
            double        tol,
            const char   *format,
            ...)
{
  g_autofree char *what = NULL;
  double           max_want = 0.0, worst = 0.0;
  gsize            worst_i = 0;
  va_list          args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);

  for (gsize i = 0; i < n; i++)
    max_want = fmax (max_want, fabs (want[i]));
  for (gsize i = 0; i < n; i++) {
    const double err =
      fabs (got[i] - want[i]) / fmax (fmax (fabs (want[i]), 1e-2 * max_want), 1e-4);

    if (!isfinite (got[i]) || !(err <= worst)) {
      worst = isfinite (got[i]) ? err : INFINITY;
      worst_i = i;
    }
  }
  if (!(worst <= tol))
    g_test_fail_printf ("%s: worst element [%" G_GSIZE_FORMAT "] = %.9g, finite differences give "
                        "%.9g (relative error %.3g > %.3g)",
                        what, worst_i, got[worst_i], want[worst_i], worst, tol);
  else
    g_test_message ("%s: worst relative error %.3g at [%" G_GSIZE_FORMAT "] (%.9g vs %.9g)", what,
                    worst, worst_i, got[worst_i], want[worst_i]);
  return worst;
}

/* Calls to a backward kernel must add up: got2 (two calls into zeros) is twice got1 (one call). */
G_GNUC_PRINTF (4, 5)
static void
check_doubled (const float *got1,
               const float *got2,
               gsize        n,
               const char  *format,
               ...)
{
  for (gsize i = 0; i < n; i++) {
    if (!(fabsf (got2[i] - 2.0f * got1[i]) <= 1e-6f * (1.0f + fabsf (2.0f * got1[i])))) {
      g_autofree char *what = NULL;
      va_list          args;

      va_start (args, format);
      what = g_strdup_vprintf (format, args);
      va_end (args);
      g_test_fail_printf ("%s[%" G_GSIZE_FORMAT "]: two calls give %.9g, one call %.9g "
                          "(expected twice that)",
                          what, i, got2[i], got1[i]);
      return;
    }
  }
}

/* ---- matmul backward ---- */

static double
matmul_loss (const FdCase *fd)
{
  const double *inp = fd->x[0], *weight = fd->x[1], *bias = fd->x[2];
  double        loss = 0.0;

  for (int n = 0; n < fd->N; n++) {
    for (int o = 0; o < fd->OC; o++) {
      double out = bias != NULL ? bias[o] : 0.0;

      for (int c = 0; c < fd->C; c++)
        out += inp[n * fd->C + c] * weight[o * fd->C + c];
      loss += fd->dout[n * fd->OC + o] * out;
    }
  }
  return loss;
}

static void
check_matmul_backward (int      N,
                       int      C,
                       int      OC,
                       gboolean with_bias)
{
  const gsize n_inp = (gsize) N * C, n_w = (gsize) OC * C, n_out = (gsize) N * OC;
  g_autoptr (GRand) rand = g_rand_new_with_seed ((guint32) (7 + N * 100 + C * 10 + OC));
  g_autofree float  *inp = wp_test_random_floats (rand, n_inp, 1.0);
  g_autofree float  *weight = wp_test_random_floats (rand, n_w, 1.0);
  g_autofree float  *dout = wp_test_random_floats (rand, n_out, 1.0);
  g_autofree float  *dinp = g_new0 (float, n_inp);
  g_autofree float  *dweight = g_new0 (float, n_w);
  g_autofree float  *dbias = g_new0 (float, OC);
  g_autofree float  *dinp2 = g_new0 (float, n_inp);
  g_autofree float  *dweight2 = g_new0 (float, n_w);
  g_autofree float  *dbias2 = g_new0 (float, OC);
  g_autofree double *dout_d = to_double (dout, n_out);
  g_autofree double *inp_d = to_double (inp, n_inp);
  g_autofree double *weight_d = to_double (weight, n_w);
  g_autofree double *bias_d = g_new0 (double, OC);
  g_autofree double *want_inp = g_new (double, n_inp);
  g_autofree double *want_w = g_new (double, n_w);
  g_autofree double *want_b = g_new (double, OC);
  g_autofree char   *prefix = g_strdup_printf ("matmul_backward N=%d C=%d OC=%d%s", N, C, OC,
                                             with_bias ? "" : " no bias");
  FdCase             fd = {
                { inp_d, weight_d, with_bias ? bias_d : NULL },
                dout_d,
                NULL,
                N,
                C,
                OC,
  };

  wp_matmul_backward (dinp, dweight, with_bias ? dbias : NULL, dout, inp, weight, N, C, OC);
  numeric_grad (want_inp, inp_d, n_inp, 1e-6, matmul_loss, &fd);
  numeric_grad (want_w, weight_d, n_w, 1e-6, matmul_loss, &fd);
  check_grad (dinp, want_inp, n_inp, 1e-3, "%s: dinp", prefix);
  check_grad (dweight, want_w, n_w, 1e-3, "%s: dweight", prefix);
  if (with_bias) {
    numeric_grad (want_b, bias_d, OC, 1e-6, matmul_loss, &fd);
    check_grad (dbias, want_b, OC, 1e-3, "%s: dbias", prefix);
  } else {
    for (int o = 0; o < OC; o++)
      g_assert_cmpfloat (dbias[o], ==, 0.0f);
  }

  for (int i = 0; i < 2; i++)
    wp_matmul_backward (dinp2, dweight2, with_bias ? dbias2 : NULL, dout, inp, weight, N, C, OC);
  check_doubled (dinp, dinp2, n_inp, "%s accumulates: dinp", prefix);
  check_doubled (dweight, dweight2, n_w, "%s accumulates: dweight", prefix);
  check_doubled (dbias, dbias2, OC, "%s accumulates: dbias", prefix);
}

static void
test_matmul_backward (void)
{
  check_matmul_backward (5, 6, 4, TRUE);
  check_matmul_backward (5, 6, 4, FALSE);
  check_matmul_backward (1, 1, 1, TRUE);
  check_matmul_backward (3, 17, 9, TRUE);
}

/* ---- layer norm backward ---- */

static double
layernorm_loss (const FdCase *fd)
{
  const double *inp = fd->x[0], *weight = fd->x[1], *bias = fd->x[2];
  const int     C = fd->C;
  double        loss = 0.0;

  for (int n = 0; n < fd->N; n++) {
    const double *x = inp + n * C;
    double        m = 0.0, v = 0.0, s;

    for (int c = 0; c < C; c++)
      m += x[c];
    m /= C;
    for (int c = 0; c < C; c++)
      v += (x[c] - m) * (x[c] - m);
    s = 1.0 / sqrt (v / C + fd->eps);
    for (int c = 0; c < C; c++)
      loss += fd->dout[n * C + c] * ((x[c] - m) * s * weight[c] + bias[c]);
  }
  return loss;
}

static void
check_layernorm_backward (int   N,
                          int   C,
                          float eps)
{
  const gsize n = (gsize) N * C;
  g_autoptr (GRand) rand = g_rand_new_with_seed ((guint32) (11 + N * 100 + C));
  g_autofree float  *inp = wp_test_random_floats (rand, n, 2.0);
  g_autofree float  *weight = wp_test_random_floats (rand, C, 1.5);
  g_autofree float  *bias = wp_test_random_floats (rand, C, 0.5);
  g_autofree float  *dout = wp_test_random_floats (rand, n, 1.0);
  g_autofree float  *out = g_new (float, n);
  g_autofree float  *mean = g_new (float, N);
  g_autofree float  *rstd = g_new (float, N);
  g_autofree float  *dinp = g_new0 (float, n);
  g_autofree float  *dweight = g_new0 (float, C);
  g_autofree float  *dbias = g_new0 (float, C);
  g_autofree float  *dinp2 = g_new0 (float, n);
  g_autofree float  *dweight2 = g_new0 (float, C);
  g_autofree float  *dbias2 = g_new0 (float, C);
  g_autofree double *dout_d = to_double (dout, n);
  g_autofree double *inp_d = to_double (inp, n);
  g_autofree double *weight_d = to_double (weight, C);
  g_autofree double *bias_d = to_double (bias, C);
  g_autofree double *want_inp = g_new (double, n);
  g_autofree double *want_w = g_new (double, C);
  g_autofree double *want_b = g_new (double, C);
  FdCase             fd = { { inp_d, weight_d, bias_d }, dout_d, NULL, N, C };

  fd.eps = eps;
  wp_layernorm_forward (out, mean, rstd, inp, weight, bias, N, C, eps);
  wp_layernorm_backward (dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
  numeric_grad (want_inp, inp_d, n, 1e-6, layernorm_loss, &fd);
  numeric_grad (want_w, weight_d, C, 1e-6, layernorm_loss, &fd);
  numeric_grad (want_b, bias_d, C, 1e-6, layernorm_loss, &fd);
  check_grad (dinp, want_inp, n, 1e-3, "layernorm_backward N=%d C=%d: dinp", N, C);
  check_grad (dweight, want_w, C, 1e-3, "layernorm_backward N=%d C=%d: dweight", N, C);
  check_grad (dbias, want_b, C, 1e-3, "layernorm_backward N=%d C=%d: dbias", N, C);

  for (int i = 0; i < 2; i++)
    wp_layernorm_backward (dinp2, dweight2, dbias2, dout, inp, weight, mean, rstd, N, C);
  check_doubled (dinp, dinp2, n, "layernorm_backward accumulates: dinp");
  check_doubled (dweight, dweight2, C, "layernorm_backward accumulates: dweight");
  check_doubled (dbias, dbias2, C, "layernorm_backward accumulates: dbias");
}

static void
test_layernorm_backward (void)
{
  check_layernorm_backward (5, 6, 1e-5f);
  check_layernorm_backward (3, 16, 1e-6f);
  check_layernorm_backward (2, 2, 1e-5f);
}

/* ---- activation backward ---- */

static double
activation_loss (const FdCase *fd)
{
  const double *x = fd->x[0];
  double        loss = 0.0;

  for (int i = 0; i < fd->N; i++) {
    double y;

    if (fd->activation == WP_ACTIVATION_GELU)
      y = 0.5 * x[i] * (1.0 + erf (x[i] / sqrt (2.0)));
    else if (fd->activation == WP_ACTIVATION_GELU_TANH)
      y = gelu_tanh_reference (x[i]);
    else
      y = x[i] / (1.0 + exp (-1.702 * x[i]));
    loss += fd->dout[i] * y;
  }
  return loss;
}

static void
test_activation_backward (void)
{
  const int n = 64;

  for (int kind = 0; kind < N_ACTIVATIONS; kind++) {
    const WpActivation activation = activations[kind];
    g_autoptr (GRand) rand = g_rand_new_with_seed (13 + kind);
    g_autofree float  *inp = wp_test_random_floats (rand, n, 4.0);
    g_autofree float  *dout = wp_test_random_floats (rand, n, 1.0);
    g_autofree float  *dinp = g_new0 (float, n);
    g_autofree float  *dinp2 = g_new0 (float, n);
    g_autofree double *inp_d = NULL;
    g_autofree double *dout_d = to_double (dout, n);
    g_autofree double *want = g_new (double, n);
    FdCase             fd = { { NULL }, dout_d, NULL, n };

    inp[0] = 0.0f; /* the kink-free middle, exactly */
    inp_d = to_double (inp, n);
    fd.x[0] = inp_d;
    fd.activation = activation;
    wp_activation_backward (dinp, dout, inp, n, activation);
    numeric_grad (want, inp_d, n, 1e-6, activation_loss, &fd);
    check_grad (dinp, want, n, 1e-3,
                "activation_backward %s: dinp", wp_activation_to_string (activation));

    wp_activation_backward (dinp2, dout, inp, n, activation);
    wp_activation_backward (dinp2, dout, inp, n, activation);
    check_doubled (dinp, dinp2, n,
                   "activation_backward %s accumulates: dinp",
                   wp_activation_to_string (activation));
  }
}

/* Far out in the tails the derivatives are 0 and 1, never NaN. */
static void
test_activation_backward_extremes (void)
{
  const float inp[] = { -1e30f, -100.0f, -88.0f, 88.0f, 100.0f, 1e30f };
  float       dout[G_N_ELEMENTS (inp)], dinp[G_N_ELEMENTS (inp)];

  for (gsize i = 0; i < G_N_ELEMENTS (inp); i++)
    dout[i] = 1.0f;
  for (int kind = 0; kind < N_ACTIVATIONS; kind++) {
    WpActivation activation = activations[kind];

    memset (dinp, 0, sizeof dinp);
    wp_activation_backward (dinp, dout, inp, G_N_ELEMENTS (inp), activation);
    for (gsize i = 0; i < G_N_ELEMENTS (inp); i++) {
      const float want = inp[i] > 0 ? 1.0f : 0.0f;

      if (!isfinite (dinp[i]) || fabsf (dinp[i] - want) > 1e-6f)
        g_test_fail_printf ("%s'(%g) = %g, expected %g", wp_activation_to_string (activation),
                            inp[i], dinp[i], want);
    }
  }
}

/* ---- attention backward ---- */

/* sum_i dout_i out_i for one query qh (HS) of one head, out = softmax(qh . k_u / sqrt(HS)) over
 * the first n_keys keys k_u and values v_u, row u at k + u * C (the head's columns). */
static double
naive_head_loss (const double *qh,
                 const double *k,
                 const double *v,
                 const double *dout,
                 int           n_keys,
                 int           C,
                 int           HS)
{
  double row[64], max = -INFINITY, sum = 0.0, loss = 0.0;

  g_assert (n_keys <= (int) G_N_ELEMENTS (row));
  for (int u = 0; u < n_keys; u++) {
    double dot = 0.0;

    for (int i = 0; i < HS; i++)
      dot += qh[i] * k[(gsize) u * C + i];
    row[u] = dot / sqrt (HS);
    max = fmax (max, row[u]);
  }
  for (int u = 0; u < n_keys; u++) {
    row[u] = exp (row[u] - max);
    sum += row[u];
  }
  for (int i = 0; i < HS; i++) {
    double out = 0.0;

    for (int u = 0; u < n_keys; u++)
      out += row[u] / sum * v[(gsize) u * C + i];
    loss += dout[i] * out;
  }
  return loss;
}

static double
attention_loss (const FdCase *fd)
{
  const double *q = fd->x[0], *k = fd->x[1], *v = fd->x[2];
  const int     T = fd->T, C = fd->C, NH = fd->NH, HS = C / NH;
  double        loss = 0.0;

  for (int b = 0; b < fd->B; b++) {
    for (int h = 0; h < NH; h++) {
      for (int t = 0; t < T; t++) {
        const gsize first = (gsize) b * T * C + h * HS, at = ((gsize) b * T + t) * C + h * HS;

        loss += naive_head_loss (q + at, k + first, v + first, fd->dout + at,
                                 fd->causal ? t + 1 : T, C, HS);
      }
    }
  }
  return loss;
}

static void
check_attention_backward (int      B,
                          int      T,
                          int      C,
                          int      NH,
                          gboolean causal)
{
  const gsize n = (gsize) B * T * C, n_att = (gsize) B * NH * T * T;
  g_autoptr (GRand) rand = g_rand_new_with_seed ((guint32) (17 + B * 1000 + T * 100 + C + causal));
  g_autofree float  *q = wp_test_random_floats (rand, n, 1.5);
  g_autofree float  *k = wp_test_random_floats (rand, n, 1.5);
  g_autofree float  *v = wp_test_random_floats (rand, n, 1.0);
  g_autofree float  *dout = wp_test_random_floats (rand, n, 1.0);
  g_autofree float  *out = g_new (float, n);
  g_autofree float  *att = g_new (float, n_att);
  g_autofree float  *scratch = g_new (float, n_att);
  g_autofree float  *dq = g_new0 (float, n);
  g_autofree float  *dk = g_new0 (float, n);
  g_autofree float  *dv = g_new0 (float, n);
  g_autofree float  *dq2 = g_new0 (float, n);
  g_autofree float  *dk2 = g_new0 (float, n);
  g_autofree float  *dv2 = g_new0 (float, n);
  g_autofree double *q_d = to_double (q, n);
  g_autofree double *k_d = to_double (k, n);
  g_autofree double *v_d = to_double (v, n);
  g_autofree double *dout_d = to_double (dout, n);
  g_autofree double *want = g_new (double, n);
  g_autofree char   *prefix = g_strdup_printf ("attention_backward B=%d T=%d C=%d NH=%d%s", B, T,
                                               C, NH, causal ? " causal" : "");
  const char        *names[] = { "dq", "dk", "dv" };
  float             *got[] = { dq, dk, dv };
  FdCase             fd = { { q_d, k_d, v_d }, dout_d, NULL, 0, C, 0, B, T, NH, causal };

  wp_attention_forward (out, att, q, k, v, C, B, T, C, NH, causal);
  /* Garbage in the scratch: the kernel must not read it before writing it. */
  for (gsize i = 0; i < n_att; i++)
    scratch[i] = 1e30f;
  wp_attention_backward (dq, dk, dv, C, scratch, dout, q, k, v, att, B, T, C, NH, causal);
  for (int i = 0; i < 3; i++) {
    numeric_grad (want, fd.x[i], n, 1e-6, attention_loss, &fd);
    check_grad (got[i], want, n, 1e-3, "%s: %s", prefix, names[i]);
  }

  for (int i = 0; i < 2; i++)
    wp_attention_backward (dq2, dk2, dv2, C, scratch, dout, q, k, v, att, B, T, C, NH, causal);
  check_doubled (dq, dq2, n, "%s accumulates: dq", prefix);
  check_doubled (dk, dk2, n, "%s accumulates: dk", prefix);
  check_doubled (dv, dv2, n, "%s accumulates: dv", prefix);
}

static void
test_attention_backward (void)
{
  check_attention_backward (2, 4, 6, 2, FALSE);
  check_attention_backward (2, 4, 6, 2, TRUE);
  check_attention_backward (1, 5, 8, 1, TRUE);
  check_attention_backward (1, 1, 4, 2, FALSE);
}

/* ---- L2 normalisation backward ---- */

static double
l2_normalize_loss (const FdCase *fd)
{
  const double *x = fd->x[0];
  const int     C = fd->C;
  double        loss = 0.0;

  for (int n = 0; n < fd->N; n++) {
    double sum = 0.0, norm;

    for (int c = 0; c < C; c++)
      sum += x[n * C + c] * x[n * C + c];
    /* The kernel's floor is the float 1e-6f. */
    norm = fmax (sqrt (sum), (double) 1e-6f);
    for (int c = 0; c < C; c++)
      loss += fd->dout[n * C + c] * x[n * C + c] / norm;
  }
  return loss;
}

/* scale sets the size of the inputs: 1 for ordinary rows, 1e-9 for rows below the 1e-6 floor
 * (differentiated with a step small enough to stay below it). */
static void
check_l2_normalize_backward (int    N,
                             int    C,
                             double scale)
{
  const gsize n = (gsize) N * C;
  g_autoptr (GRand) rand = g_rand_new_with_seed ((guint32) (19 + N * 100 + C));
  g_autofree float  *inp = wp_test_random_floats (rand, n, scale);
  g_autofree float  *dout = wp_test_random_floats (rand, n, 1.0);
  g_autofree float  *out = g_new (float, n);
  g_autofree float  *norms = g_new (float, N);
  g_autofree float  *dinp = g_new0 (float, n);
  g_autofree float  *dinp2 = g_new0 (float, n);
  g_autofree double *inp_d = to_double (inp, n);
  g_autofree double *dout_d = to_double (dout, n);
  g_autofree double *want = g_new (double, n);
  FdCase             fd = { { inp_d }, dout_d, NULL, N, C };

  wp_l2_normalize_rows (out, norms, inp, N, C);
  wp_l2_normalize_rows_backward (dinp, dout, inp, norms, N, C);
  numeric_grad (want, inp_d, n, 1e-6 * scale, l2_normalize_loss, &fd);
  check_grad (dinp, want, n, 1e-3,
              "l2_normalize_rows_backward N=%d C=%d scale=%g: dinp", N, C, scale);

  for (int i = 0; i < 2; i++)
    wp_l2_normalize_rows_backward (dinp2, dout, inp, norms, N, C);
  check_doubled (dinp, dinp2, n,
                 "l2_normalize_rows_backward N=%d C=%d scale=%g accumulates: dinp", N, C, scale);
}

static void
test_l2_normalize_backward (void)
{
  check_l2_normalize_backward (5, 6, 1.0);
  check_l2_normalize_backward (4, 6, 1e-9);
}

/* Degenerate rows: an all-zero row has gradient dout / 1e-6 (finite); with C = 1 the output is
 * sign(x), so the true gradient is zero and the float result may only carry rounding. */
static void
test_l2_normalize_backward_degenerate (void)
{
  const float zero[3] = { 0, 0, 0 }, dout[3] = { 1, -2, 0.5f };
  const float column[3] = { 0.7f, -1.3f, 2.9f };
  float       out[3], norms[3], dinp[3] = { 0 };

  wp_l2_normalize_rows (out, norms, zero, 1, 3);
  wp_l2_normalize_rows_backward (dinp, dout, zero, norms, 1, 3);
  for (int c = 0; c < 3; c++)
    g_assert_cmpfloat_with_epsilon (dinp[c], dout[c] * 1e6, 1.0);

  memset (dinp, 0, sizeof dinp);
  wp_l2_normalize_rows (out, norms, column, 3, 1);
  wp_l2_normalize_rows_backward (dinp, dout, column, norms, 3, 1);
  for (int n = 0; n < 3; n++) {
    if (!(fabsf (dinp[n]) <= 1e-6f * fabsf (dout[n] / column[n])))
      g_test_fail_printf ("l2_normalize_rows_backward C=1: dinp[%d] = %g, expected 0", n, dinp[n]);
  }
}

/* ---- probe attention (SigLIP's pooling head) ---- */

/* loss = sum dout . out of one query q (C) over each sequence's T keys and values (B, T, C). */
static double
probe_attention_loss (const FdCase *fd)
{
  const double *q = fd->x[0], *k = fd->x[1], *v = fd->x[2];
  const int     T = fd->T, C = fd->C, NH = fd->NH, HS = C / NH;
  double        loss = 0.0;

  for (int b = 0; b < fd->B; b++) {
    for (int h = 0; h < NH; h++) {
      const gsize first = (gsize) b * T * C + h * HS;

      loss += naive_head_loss (q + h * HS, k + first, v + first,
                               fd->dout + (gsize) b * C + h * HS, T, C, HS);
    }
  }
  return loss;
}

/* The forward against the naive loop (through loss = one-hot dout), the backward against finite
 * differences, and its accumulation. */
static void
check_probe_attention (int B,
                       int T,
                       int C,
                       int NH)
{
  const gsize n = (gsize) B * T * C;
  g_autoptr (GRand) rand = g_rand_new_with_seed ((guint32) (31 + B * 1000 + T * 100 + C));
  g_autofree float  *q = wp_test_random_floats (rand, C, 1.5);
  g_autofree float  *k = wp_test_random_floats (rand, n, 1.5);
  g_autofree float  *v = wp_test_random_floats (rand, n, 1.0);
  g_autofree float  *dout = wp_test_random_floats (rand, (gsize) B * C, 1.0);
  g_autofree float  *out = g_new (float, (gsize) B *C);
  g_autofree float  *att = g_new (float, (gsize) B *NH *T);
  g_autofree float  *dq = g_new0 (float, C), *dk = g_new0 (float, n), *dv = g_new0 (float, n);
  g_autofree float  *dq2 = g_new0 (float, C), *dk2 = g_new0 (float, n), *dv2 = g_new0 (float, n);
  g_autofree double *q_d = to_double (q, C), *k_d = to_double (k, n), *v_d = to_double (v, n);
  g_autofree double *dout_d = g_new0 (double, (gsize) B *C);
  g_autofree double *want = g_new (double, MAX (n, (gsize) B * C));
  g_autofree char   *prefix = g_strdup_printf ("probe_attention B=%d T=%d C=%d NH=%d", B, T, C, NH);
  const gsize        sizes[] = { C, n, n };
  const char        *names[] = { "dq", "dk", "dv" };
  float             *got[] = { dq, dk, dv };
  FdCase             fd = { { q_d, k_d, v_d }, dout_d, NULL, 0, C, 0, B, T, NH, FALSE };

  wp_probe_attention_forward (out, att, q, k, v, C, B, T, C, NH);
  for (gsize i = 0; i < (gsize) B * C; i++) {
    dout_d[i] = 1.0;
    want[i] = probe_attention_loss (&fd);
    dout_d[i] = 0.0;
  }
  check_grad (out, want, (gsize) B * C, 1e-5, "%s: out", prefix);

  for (gsize i = 0; i < (gsize) B * C; i++)
    dout_d[i] = dout[i];
  wp_probe_attention_backward (dq, dk, dv, C, dout, q, k, v, att, B, T, C, NH);
  for (int i = 0; i < 3; i++) {
    numeric_grad (want, fd.x[i], sizes[i], 1e-6, probe_attention_loss, &fd);
    check_grad (got[i], want, sizes[i], 1e-3, "%s: %s", prefix, names[i]);
  }
  for (int i = 0; i < 2; i++)
    wp_probe_attention_backward (dq2, dk2, dv2, C, dout, q, k, v, att, B, T, C, NH);
  check_doubled (dq, dq2, C, "%s accumulates", prefix);
  check_doubled (dk, dk2, n, "%s accumulates", prefix);
  check_doubled (dv, dv2, n, "%s accumulates", prefix);
}

static void
test_probe_attention (void)
{
  check_probe_attention (2, 5, 6, 2);
  check_probe_attention (1, 9, 8, 4);
  check_probe_attention (3, 1, 4, 1);
}

int
main (int   argc,
      char *argv[])
{
  wp_test_init (&argc, &argv);

  g_test_add_func ("/kernels/matmul/backward-finite-difference", test_matmul_backward);
  g_test_add_func ("/kernels/layernorm/backward-finite-difference", test_layernorm_backward);
  g_test_add_func ("/kernels/activation/backward-finite-difference", test_activation_backward);
  g_test_add_func ("/kernels/activation/backward-extremes", test_activation_backward_extremes);
  g_test_add_func ("/kernels/attention/backward-finite-difference", test_attention_backward);
  g_test_add_func ("/kernels/probe-attention/naive-and-finite-difference", test_probe_attention);
  g_test_add_func ("/kernels/l2-normalize/backward-finite-difference", test_l2_normalize_backward);
  g_test_add_func ("/kernels/l2-normalize/backward-degenerate",
                   test_l2_normalize_backward_degenerate);
  return g_test_run ();
}
