/* objectives-fixtures.c: what the objectives' tests (test-objectives.c, test-box-term.c) share:
 * random inputs, a dot product, the finite-difference check of analytic gradients, and naive
 * cross-entropy and CLIP losses. */
#include <math.h>

/* Last: its shape macros (B, E, P, K) would rename the headers' parameters. */
#include "objectives-fixtures.h"

void
fill_random (float *x,
             gsize  n,
             WpRng *rng)
{
  for (gsize i = 0; i < n; i++)
    x[i] = (float) wp_rng_normal (rng) * 0.5f;
}

double
dot (const double *a,
     const double *b,
     int           n)
{
  double s = 0.0;

  for (int i = 0; i < n; i++)
    s += a[i] * b[i];
  return s;
}

void
check_gradients (const char  *what,
                 NaiveLoss    naive,
                 const float *x,
                 gsize        nx,
                 const float *y,
                 gsize        ny,
                 float        logit_scale,
                 const float *dx,
                 const float *dy,
                 float        dscale)
{
  g_autofree double *xd = g_new (double, nx);
  g_autofree double *yd = g_new (double, ny);
  const double       h = 1e-5;
  double             worst = 0.0, max_grad = 1e-12;
  const char        *worst_name = "";
  gsize              worst_index = 0;

  for (gsize i = 0; i < nx; i++)
    xd[i] = x[i];
  for (gsize i = 0; i < ny; i++)
    yd[i] = y[i];
  for (int which = 0; which < 3; which++) {
    gsize        n = which == 0 ? nx : which == 1 ? ny
                                                  : 1;
    double      *base = which == 0 ? xd : yd;
    const float *analytic = which == 0 ? dx : which == 1 ? dy
                                                         : &dscale;

    for (gsize k = 0; k < n; k++) {
      double numeric;

      if (which == 2) {
        numeric = (naive (xd, yd, logit_scale + h) - naive (xd, yd, logit_scale - h)) / (2 * h);
      } else {
        double saved = base[k];

        base[k] = saved + h;
        numeric = naive (xd, yd, logit_scale);
        base[k] = saved - h;
        numeric -= naive (xd, yd, logit_scale);
        base[k] = saved;
        numeric /= 2 * h;
      }
      max_grad = fmax (max_grad, fabs (numeric));
      if (fabs (numeric - analytic[k]) > worst) {
        worst = fabs (numeric - analytic[k]);
        worst_name = which == 0 ? "first input" : which == 1 ? "second input"
                                                             : "logit_scale";
        worst_index = k;
      }
    }
  }
  if (worst > 1e-3 * max_grad)
    g_test_fail_printf ("%s: gradient of the %s element %" G_GSIZE_FORMAT
                        " off by %g (largest gradient %g)",
                        what, worst_name, worst_index, worst, max_grad);
}

double
naive_ce_rows (const double *m,
               int           n)
{
  double loss = 0.0;

  for (int i = 0; i < n; i++) {
    double sum = 0.0;

    for (int j = 0; j < n; j++)
      sum += exp (m[i * n + j]);
    loss += log (sum) - m[i * n + i];
  }
  return loss / n;
}

double
naive_clip (const double *img,
            const double *txt,
            double        logit_scale)
{
  double g[B * B], gt[B * B];

  for (int i = 0; i < B; i++) {
    for (int j = 0; j < B; j++) {
      g[i * B + j] = exp (logit_scale) * dot (img + i * E, txt + j * E, E);
      gt[j * B + i] = g[i * B + j];
    }
  }
  return 0.5 * (naive_ce_rows (g, B) + naive_ce_rows (gt, B));
}
