/* test-objectives.c: the contrastive losses against naive double-precision implementations
 * written here from the definitions, and their gradients against central finite differences of
 * those naive losses; the caches' reuse and sizing. The box term's: test-box-term.c. */
#include <math.h>
#include <string.h>

#include "wordpatch/objectives.h"
#include "wordpatch/rng.h"

/* Last: its shape macros (B, E, P, K) would rename the headers' parameters. */
#include "objectives-fixtures.h"

static const int lengths[B] = { 4, 2, 3, 1 };
/* The captions' token ids (B, K), valid ones first: pairs 0 to 2 share 1, pairs 0 and 1 share 7,
 * pairs 0 and 2 share 2; the padding's ids are those of other pairs' tokens, which no rule may
 * read. */
static const int ids[B * K] = { 1, 7, 8, 2, 1, 7, 9, 5, 1, 9, 2, 8, 5, 7, 1, 2 };

typedef enum {
  OBJECTIVE_CLIP,
  OBJECTIVE_FILIP,
  OBJECTIVE_SPARC,
  OBJECTIVE_SPARC_BATCH,          /* SPARC with batch negatives */
  OBJECTIVE_SPARC_STOP,           /* SPARC whose alignment weights pass no gradient */
  OBJECTIVE_SPARC_CENTRE,         /* SPARC on patches less their position's batch mean */
  OBJECTIVE_SPARC_IMAGES,         /* SPARC with image negatives */
  OBJECTIVE_SPARC_IMAGES_CENTRED, /* ... on patches less both their means */
  OBJECTIVE_SPARC_UNSHARED,       /* ... only images whose captions lack the token */
  OBJECTIVE_SPARC_IMAGES_SHARP,   /* ... every image, weights at a threshold of SHARP */
  OBJECTIVE_SPARC_MAX,            /* SPARC whose groupings are each token's most similar patch */
  OBJECTIVE_SPARC_PAIRS,          /* SPARC with pair negatives */
  OBJECTIVE_SPARC_PAIRS_PATCHES,  /* ... and a patch side over PATCH_SIDE of the patches */
} Objective;

/* The patch side's share of OBJECTIVE_SPARC_PAIRS_PATCHES: 3 of the 5 patches. */
#define PATCH_SIDE 0.6

/* The sparsity threshold of OBJECTIVE_SPARC_IMAGES_SHARP. */
#define SHARP 0.5

/* How many patches of each image naive_filip's sI keeps (FILIP's token selection). */
static int naive_filip_kept = P;

/* Whether patch p of image i is among the naive_filip_kept with the highest similarity to any
 * valid token of any text of the batch: fewer than that many patches score higher. */
static gboolean
naive_patch_kept (const double *v,
                  const double *t,
                  int           i,
                  int           p)
{
  double score[P];
  int    higher = 0;

  for (int q = 0; q < P; q++) {
    score[q] = -INFINITY;
    for (int j = 0; j < B; j++) {
      for (int l = 0; l < lengths[j]; l++)
        score[q] = fmax (score[q], dot (v + (i * P + q) * E, t + (j * K + l) * E, E));
    }
  }
  for (int q = 0; q < P; q++)
    higher += score[q] > score[p];
  return higher < naive_filip_kept;
}

static double
naive_filip (const double *v,
             const double *t,
             double        logit_scale)
{
  double a[B * B], c[B * B];

  for (int i = 0; i < B; i++) {
    for (int j = 0; j < B; j++) {
      double s_image = 0.0, s_text = 0.0;

      for (int p = 0; p < P; p++) {
        double best = -INFINITY;

        if (!naive_patch_kept (v, t, i, p))
          continue;
        for (int l = 0; l < lengths[j]; l++)
          best = fmax (best, dot (v + (i * P + p) * E, t + (j * K + l) * E, E));
        s_image += best;
      }
      for (int l = 0; l < lengths[j]; l++) {
        double best = -INFINITY;

        for (int p = 0; p < P; p++)
          best = fmax (best, dot (v + (i * P + p) * E, t + (j * K + l) * E, E));
        s_text += best;
      }
      a[i * B + j] = exp (logit_scale) * s_image / naive_filip_kept;
      c[j * B + i] = exp (logit_scale) * s_text / lengths[j];
    }
  }
  return 0.5 * (naive_ce_rows (a, B) + naive_ce_rows (c, B));
}

/* The inputs SPARC's alignment weights are computed from when they pass no gradient: the
 * unperturbed ones, so that central differences see the weights as constants. */
static const double *frozen_v, *frozen_t;

/* The sparsity threshold of naive_group, the paper's 1/P where 0. */
static double naive_threshold;

/* c (E) = sum_p a_p v_p: one token's grouping of one image's patches v (P, E), its alignment
 * weights a from the similarities of wt (E) with wv (P, E) (t and v, or their frozen copies). */
static void
naive_group (double       *c,
             const double *wt,
             const double *wv,
             const double *v)
{
  double s[P], a[P], lo = INFINITY, hi = -INFINITY, kept = 0.0;

  for (int p = 0; p < P; p++) {
    s[p] = dot (wt, wv + p * E, E);
    lo = fmin (lo, s[p]);
    hi = fmax (hi, s[p]);
  }
  for (int p = 0; p < P; p++) {
    const double shat = (s[p] - lo) / (hi - lo);

    a[p] = shat >= (naive_threshold > 0.0 ? naive_threshold : 1.0 / P) ? shat : 0.0;
    kept += a[p];
  }
  for (int e = 0; e < E; e++) {
    c[e] = 0.0;
    for (int p = 0; p < P; p++)
      c[e] += a[p] / kept * v[p * E + e];
  }
}

/* SPARC's fine-grained loss, written from its definition with no shortcuts: with the logits of
 * each pair's own tokens, or with batch negatives those of every valid token of the batch. */
static double
naive_sparc_logits (const double *v,
                    const double *t,
                    double        logit_scale,
                    gboolean      batch_negatives)
{
  double chat[B * K][E], that[B * K][E], z[B * K * B * K], zt[B * K * B * K], loss = 0.0;
  int    pair_of[B * K], n_tokens = 0;

  for (int b = 0; b < B; b++) {
    const double *vb = v + b * P * E, *tb = t + b * K * E;
    const double *wv = (frozen_v != NULL ? frozen_v : v) + b * P * E;
    const double *wt = (frozen_t != NULL ? frozen_t : t) + b * K * E;

    for (int l = 0; l < lengths[b]; l++, n_tokens++) {
      double c[E], norm_c, norm_t;

      naive_group (c, wt + l * E, wv, vb);
      norm_c = dot (c, c, E);
      norm_t = dot (tb + l * E, tb + l * E, E);
      for (int e = 0; e < E; e++) {
        chat[n_tokens][e] = c[e] / sqrt (norm_c);
        that[n_tokens][e] = tb[l * E + e] / sqrt (norm_t);
      }
      pair_of[n_tokens] = b;
    }
  }
  if (batch_negatives) {
    const int N = n_tokens;

    for (int i = 0; i < N; i++) {
      for (int j = 0; j < N; j++) {
        z[i * N + j] = exp (logit_scale) * dot (chat[i], that[j], E);
        zt[j * N + i] = z[i * N + j];
      }
    }
    return 0.5 * (naive_ce_rows (z, N) + naive_ce_rows (zt, N));
  }
  for (int first = 0; first < n_tokens;) {
    int L = 0;

    while (first + L < n_tokens && pair_of[first + L] == pair_of[first])
      L++;
    for (int l = 0; l < L; l++) {
      for (int k = 0; k < L; k++) {
        z[l * L + k] = exp (logit_scale) * dot (chat[first + l], that[first + k], E);
        zt[k * L + l] = z[l * L + k];
      }
    }
    loss += L * (naive_ce_rows (z, L) + naive_ce_rows (zt, L));
    first += L;
  }
  return 0.5 * loss / n_tokens;
}

static double
naive_sparc (const double *v,
             const double *t,
             double        logit_scale)
{
  return naive_sparc_logits (v, t, logit_scale, FALSE);
}

static double
naive_sparc_batch (const double *v,
                   const double *t,
                   double        logit_scale)
{
  return naive_sparc_logits (v, t, logit_scale, TRUE);
}

/* out (B, P, E) = v_bp less the mean of v_.p over the images (positions), less the mean of v_b.
 * over the patches (images); with both, plus the grand mean, which each takes out. */
static void
naive_centre (double       *out,
              const double *v,
              gboolean      positions,
              gboolean      images)
{
  for (int e = 0; e < E; e++) {
    double position_mean[P] = { 0 }, image_mean[B] = { 0 }, grand = 0.0;

    for (int b = 0; b < B; b++) {
      for (int p = 0; p < P; p++) {
        position_mean[p] += v[(b * P + p) * E + e] / B;
        image_mean[b] += v[(b * P + p) * E + e] / P;
        grand += v[(b * P + p) * E + e] / (B * P);
      }
    }
    for (int b = 0; b < B; b++) {
      for (int p = 0; p < P; p++)
        out[(b * P + p) * E + e] = v[(b * P + p) * E + e] -
                                   (positions ? position_mean[p] : 0.0) -
                                   (images ? image_mean[b] : 0.0) +
                                   (positions && images ? grand : 0.0);
    }
  }
}

/* SPARC's fine-grained loss on v_bp less the mean of v_.p over the batch. */
static double
naive_sparc_centred (const double *v,
                     const double *t,
                     double        logit_scale)
{
  double centred[B * P * E];

  naive_centre (centred, v, TRUE, FALSE);
  return naive_sparc_logits (centred, t, logit_scale, FALSE);
}

/* Whether naive_sparc_images leaves out the images whose captions hold the token (unshared). */
static gboolean naive_unshared;

/* SPARC's image negatives from their definition: every valid token grouped over every image's
 * patches, one cross-entropy over the images per token, its own image the target. */
static double
naive_sparc_images (const double *v,
                    const double *t,
                    double        logit_scale)
{
  double loss = 0.0;
  int    n_tokens = 0;

  for (int i = 0; i < B; i++) {
    for (int l = 0; l < lengths[i]; l++, n_tokens++) {
      const double *tl = t + (i * K + l) * E;
      double        z[B], max = -INFINITY, sum = 0.0;

      for (int j = 0; j < B; j++) {
        double c[E];

        naive_group (c, tl, v + j * P * E, v + j * P * E);
        z[j] = exp (logit_scale) * dot (c, tl, E) / sqrt (dot (c, c, E) * dot (tl, tl, E));
        max = fmax (max, z[j]);
      }
      for (int j = 0; j < B; j++) {
        gboolean shared = FALSE;

        /* Unshared: another image whose caption holds the token's id is no negative. */
        for (int k = 0; naive_unshared && j != i && k < lengths[j]; k++)
          shared |= ids[j * K + k] == ids[i * K + l];
        sum += shared ? 0.0 : exp (z[j] - max);
      }
      loss += max + log (sum) - z[i];
    }
  }
  return loss / n_tokens;
}

/* Image negatives on v_bp less the mean of v_.p over the images and of v_b. over the patches. */
static double
naive_sparc_images_centred (const double *v,
                            const double *t,
                            double        logit_scale)
{
  double centred[B * P * E];

  naive_centre (centred, v, TRUE, TRUE);
  return naive_sparc_images (centred, t, logit_scale);
}

/* Whether naive_sparc_pairs scores the images' side as FILIP's s^I over PATCH_SIDE of them. */
static gboolean naive_patch_side;

/* FILIP's s^I of image i and caption j over the kept patches: the ceil(PATCH_SIDE P) patches of
 * image i with the largest dot product with any valid token of the batch, each patch's largest
 * cosine with caption j's valid tokens, their mean. */
static double
naive_patch_side_score (const double *v,
                        const double *t,
                        int           i,
                        int           j)
{
  const int n_kept = (int) ceil (PATCH_SIDE * P - 1e-9);
  double    score[P], sum = 0.0;

  for (int q = 0; q < P; q++) {
    score[q] = -INFINITY;
    for (int b = 0; b < B; b++) {
      for (int l = 0; l < lengths[b]; l++)
        score[q] = fmax (score[q], dot (v + (i * P + q) * E, t + (b * K + l) * E, E));
    }
  }
  for (int p = 0; p < P; p++) {
    const double *vp = v + (i * P + p) * E;
    double        best = -INFINITY;
    int           higher = 0;

    for (int q = 0; q < P; q++)
      higher += score[q] > score[p];
    if (higher >= n_kept)
      continue;
    for (int l = 0; l < lengths[j]; l++) {
      const double *tl = t + (j * K + l) * E;

      best = fmax (best, dot (vp, tl, E) / sqrt (dot (vp, vp, E) * dot (tl, tl, E)));
    }
    sum += best;
  }
  return sum / n_kept;
}

/* SPARC's pair negatives from their definition: a pair's score is the mean over the caption's
 * valid tokens of the cosine of each token with its grouping of the image's patches; CLIP's
 * loss on those scores, or with the patch side the captions' CE on those and the images' CE on
 * naive_patch_side's. */
static double
naive_sparc_pairs (const double *v,
                   const double *t,
                   double        logit_scale)
{
  double z[B * B], zt[B * B];

  for (int i = 0; i < B; i++) {
    for (int j = 0; j < B; j++) {
      double sum = 0.0;

      for (int l = 0; l < lengths[i]; l++) {
        const double *tl = t + (i * K + l) * E;
        double        c[E];

        naive_group (c, tl, v + j * P * E, v + j * P * E);
        sum += dot (c, tl, E) / sqrt (dot (c, c, E) * dot (tl, tl, E));
      }
      z[i * B + j] = exp (logit_scale) * sum / lengths[i];
      zt[j * B + i] = naive_patch_side ? exp (logit_scale) * naive_patch_side_score (v, t, j, i)
                                       : z[i * B + j];
    }
  }
  return 0.5 * (naive_ce_rows (z, B) + naive_ce_rows (zt, B));
}

/* SPARC's cases: the variant the engine runs and the naive loss that defines it, which reads
 * the variant's threshold, unshared images and patch side from naive_threshold, naive_unshared
 * and naive_patch_side (set by use_sparc_case). */
typedef struct {
  const char    *name; /* in the test paths */
  WpSparcVariant variant;
  NaiveLoss      naive;
} SparcCase;

static const SparcCase sparc_cases[] = {
  [OBJECTIVE_SPARC] = { "sparc", { 0, 0.0, 0.0 }, naive_sparc },
  [OBJECTIVE_SPARC_BATCH] = {
    "sparc-batch",
    { WP_SPARC_BATCH_NEGATIVES, 0.0, 0.0 },
    naive_sparc_batch,
  },
  [OBJECTIVE_SPARC_STOP] = { "sparc-stop", { WP_SPARC_STOP_SELECTION, 0.0, 0.0 }, naive_sparc },
  [OBJECTIVE_SPARC_CENTRE] = {
    "sparc-centre",
    { WP_SPARC_CENTRE_POSITIONS, 0.0, 0.0 },
    naive_sparc_centred,
  },
  [OBJECTIVE_SPARC_IMAGES] = {
    "sparc-images",
    { WP_SPARC_IMAGE_NEGATIVES, 0.0, 0.0 },
    naive_sparc_images,
  },
  [OBJECTIVE_SPARC_IMAGES_CENTRED] = {
    "sparc-images-centred",
    { WP_SPARC_IMAGE_NEGATIVES | WP_SPARC_CENTRE_POSITIONS | WP_SPARC_CENTRE_IMAGES, 0.0, 0.0 },
    naive_sparc_images_centred,
  },
  [OBJECTIVE_SPARC_UNSHARED] = {
    "sparc-unshared",
    { WP_SPARC_IMAGE_NEGATIVES | WP_SPARC_UNSHARED_IMAGES, 0.0, 0.0 },
    naive_sparc_images,
  },
  [OBJECTIVE_SPARC_IMAGES_SHARP] = {
    "sparc-images-sharp",
    { WP_SPARC_IMAGE_NEGATIVES, SHARP, 0.0 },
    naive_sparc_images,
  },
  [OBJECTIVE_SPARC_MAX] = { "sparc-max", { 0, 1.0, 0.0 }, naive_sparc },
  [OBJECTIVE_SPARC_PAIRS] = {
    "sparc-pairs",
    { WP_SPARC_PAIR_NEGATIVES, 0.0, 0.0 },
    naive_sparc_pairs,
  },
  [OBJECTIVE_SPARC_PAIRS_PATCHES] = {
    "sparc-pairs-patches",
    { WP_SPARC_PAIR_NEGATIVES, 0.0, PATCH_SIDE },
    naive_sparc_pairs,
  },
};

/* Sets the naive losses' settings to sparc_case's variant, or back to the paper's with NULL. */
static void
use_sparc_case (const SparcCase *sparc_case)
{
  naive_unshared =
    sparc_case != NULL && (sparc_case->variant.flags & WP_SPARC_UNSHARED_IMAGES) != 0;
  naive_threshold = sparc_case != NULL ? sparc_case->variant.threshold : 0.0;
  naive_patch_side = sparc_case != NULL && sparc_case->variant.patch_side > 0.0;
}

/* One forward and one backward of an objective on caches: x and y are img and txt (B, E) for
 * CLIP, patches (B, P, E) and tokens (B, K, E) otherwise. The gradients accumulate into dx, dy
 * and dscale; returns the loss. */
static double
run (WpObjectiveCaches *caches,
     Objective          objective,
     const float       *x,
     const float       *y,
     float              logit_scale,
     double             patch_fraction,
     float             *dx,
     float             *dy,
     float             *dscale)
{
  const WpFineBatch batch = { x, y, lengths, B, P, K, E };
  double            loss;

  switch (objective) {
  case OBJECTIVE_CLIP:
    loss = wp_loss_clip_forward (&caches->clip, x, y, logit_scale, B, E);
    wp_loss_clip_backward (dx, dy, dscale, &caches->clip, x, y, logit_scale, B, E);
    break;
  case OBJECTIVE_FILIP:
    loss = wp_loss_filip_forward (&caches->filip, &batch, logit_scale, patch_fraction);
    wp_loss_filip_backward (dx, dy, dscale, &caches->filip, &batch, logit_scale, patch_fraction);
    break;
  default:
    loss = wp_loss_sparc_fine_forward (&caches->sparc, &batch, ids, K, logit_scale,
                                       &sparc_cases[objective].variant);
    wp_loss_sparc_fine_backward (dx, dy, dscale, &caches->sparc, &batch, ids, K, logit_scale,
                                 &sparc_cases[objective].variant);
    break;
  }
  return loss;
}

/* img and txt (B, E) drawn from seed, and their copies in double for the naive losses. */
static void
random_embeddings (float  *img,
                   float  *txt,
                   double *imgd,
                   double *txtd,
                   guint64 seed)
{
  WpRng rng;

  wp_rng_init (&rng, seed);
  fill_random (img, B * E, &rng);
  fill_random (txt, B * E, &rng);
  for (int i = 0; i < B * E; i++) {
    imgd[i] = img[i];
    txtd[i] = txt[i];
  }
}

static void
test_clip_matches_definition (void)
{
  float             img[B * E], txt[B * E], dimg[B * E] = { 0 }, dtxt[B * E] = { 0 }, dscale = 0.0f;
  double            imgd[B * E], txtd[B * E], loss;
  WpObjectiveCaches caches;

  random_embeddings (img, txt, imgd, txtd, 7);
  wp_objective_caches_init (&caches, MAX_B, P, K, E);
  loss = run (&caches, OBJECTIVE_CLIP, img, txt, 1.2f, 1.0, dimg, dtxt, &dscale);
  g_assert_cmpfloat_with_epsilon (loss, naive_clip (imgd, txtd, 1.2f), 1e-5 * fabs (loss));
  check_gradients ("clip", naive_clip, img, B * E, txt, B * E, 1.2f, dimg, dtxt, dscale);
  wp_objective_caches_clear (&caches);
}

/* The logit bias naive_sigmoid uses (NaiveLoss takes the scale only). */
static double naive_bias = -1.5;

/* SigLIP: -(1/B) sum_ij log sigmoid(z_ij (exp(scale) <img_i, txt_j> + b)), z_ii = 1, else -1,
 * written as -log(1 / (1 + exp(-z l))) directly. */
static double
naive_sigmoid (const double *img,
               const double *txt,
               double        logit_scale)
{
  double loss = 0.0;

  for (int i = 0; i < B; i++) {
    for (int j = 0; j < B; j++) {
      const double l = exp (logit_scale) * dot (img + i * E, txt + j * E, E) + naive_bias;
      const double z = i == j ? 1.0 : -1.0;

      loss -= log (1.0 / (1.0 + exp (-z * l)));
    }
  }
  return loss / B;
}

static void
test_sigmoid_matches_definition (void)
{
  float             img[B * E], txt[B * E], dimg[B * E] = { 0 }, dtxt[B * E] = { 0 };
  float             dscale = 0.0f, dbias = 0.0f;
  double            imgd[B * E], txtd[B * E], loss, numeric;
  const double      h = 1e-5;
  WpObjectiveCaches caches;

  random_embeddings (img, txt, imgd, txtd, 17);
  wp_objective_caches_init (&caches, MAX_B, P, K, E);
  loss = wp_loss_sigmoid_forward (&caches.sigmoid, img, txt, 1.2f, (float) naive_bias, B, E);
  wp_loss_sigmoid_backward (dimg, dtxt, &dscale, &dbias, &caches.sigmoid, img, txt, 1.2f,
                            (float) naive_bias, B, E);
  g_assert_cmpfloat_with_epsilon (loss, naive_sigmoid (imgd, txtd, 1.2f), 1e-5 * fabs (loss));
  check_gradients ("sigmoid", naive_sigmoid, img, B * E, txt, B * E, 1.2f, dimg, dtxt, dscale);
  naive_bias += h;
  numeric = naive_sigmoid (imgd, txtd, 1.2f);
  naive_bias -= 2 * h;
  numeric = (numeric - naive_sigmoid (imgd, txtd, 1.2f)) / (2 * h);
  naive_bias += h;
  if (fabs (numeric - dbias) > 1e-4 * fmax (fabs (numeric), 1.0))
    g_test_fail_printf ("sigmoid: logit_bias gradient %g, finite differences give %g", dbias,
                        numeric);

  /* Accumulates, as every backward. */
  wp_loss_sigmoid_backward (dimg, dtxt, &dscale, &dbias, &caches.sigmoid, img, txt, 1.2f,
                            (float) naive_bias, B, E);
  g_assert_cmpfloat_with_epsilon (dbias, 2.0 * numeric, 1e-4 * fmax (fabs (numeric), 1.0));
  wp_objective_caches_clear (&caches);
}

/* t = e^20 and b = -30: logits far beyond exp's range both ways stay finite. */
static void
test_sigmoid_large_logits_are_finite (void)
{
  float             img[B * E], txt[B * E], dimg[B * E] = { 0 }, dtxt[B * E] = { 0 };
  float             dscale = 0.0f, dbias = 0.0f;
  double            loss;
  WpObjectiveCaches caches;
  WpRng             rng;

  wp_rng_init (&rng, 19);
  fill_random (img, B * E, &rng);
  fill_random (txt, B * E, &rng);
  wp_objective_caches_init (&caches, MAX_B, P, K, E);
  loss = wp_loss_sigmoid_forward (&caches.sigmoid, img, txt, 20.0f, -30.0f, B, E);
  wp_loss_sigmoid_backward (dimg, dtxt, &dscale, &dbias, &caches.sigmoid, img, txt, 20.0f,
                            -30.0f, B, E);
  g_assert_true (isfinite (loss) && loss > 0.0);
  g_assert_true (isfinite (dscale) && isfinite (dbias));
  for (int i = 0; i < B * E; i++)
    g_assert_true (isfinite (dimg[i]) && isfinite (dtxt[i]));
  wp_objective_caches_clear (&caches);
}

/* Backward functions add to the gradients they are given, as the kernels' do. */
static void
test_backward_accumulates (gconstpointer data)
{
  const Objective   objective = GPOINTER_TO_INT (data);
  const gsize       nx = objective == OBJECTIVE_CLIP ? B * E : B * P * E;
  const gsize       ny = objective == OBJECTIVE_CLIP ? B * E : B * K * E;
  float             x[B * P * E], y[B * K * E], dx1[B * P * E] = { 0 }, dy1[B * K * E] = { 0 };
  float             dx2[B * P * E] = { 0 }, dy2[B * K * E] = { 0 }, s1 = 0.0f, s2 = 0.0f;
  WpObjectiveCaches caches;
  WpRng             rng;

  wp_rng_init (&rng, 8);
  fill_random (x, nx, &rng);
  fill_random (y, ny, &rng);
  wp_objective_caches_init (&caches, MAX_B, P, K, E);
  run (&caches, objective, x, y, 0.5f, 0.4, dx1, dy1, &s1);
  run (&caches, objective, x, y, 0.5f, 0.4, dx2, dy2, &s2);
  run (&caches, objective, x, y, 0.5f, 0.4, dx2, dy2, &s2);
  for (gsize i = 0; i < nx; i++)
    g_assert_cmpfloat_with_epsilon (dx2[i], 2.0f * dx1[i], 1e-6);
  for (gsize i = 0; i < ny; i++)
    g_assert_cmpfloat_with_epsilon (dy2[i], 2.0f * dy1[i], 1e-6);
  g_assert_cmpfloat_with_epsilon (s2, 2.0f * s1, 1e-6);
  wp_objective_caches_clear (&caches);
}

static void
test_clip_large_scale_is_finite (void)
{
  float             img[B * E], txt[B * E], dimg[B * E] = { 0 }, dtxt[B * E] = { 0 }, dscale = 0;
  double            loss;
  WpObjectiveCaches caches;
  WpRng             rng;

  wp_rng_init (&rng, 9);
  fill_random (img, B * E, &rng);
  fill_random (txt, B * E, &rng);
  wp_objective_caches_init (&caches, MAX_B, P, K, E);
  /* lambda = e^20: a naive exp would overflow; the log-sum-exp must not. */
  loss = run (&caches, OBJECTIVE_CLIP, img, txt, 20.0f, 1.0, dimg, dtxt, &dscale);
  g_assert_true (isfinite (loss));
  wp_objective_caches_clear (&caches);
}

static void
check_filip (double patch_fraction,
             int    kept)
{
  float             v[B * P * E], t[B * K * E], dv[B * P * E] = { 0 }, dt[B * K * E] = { 0 };
  float             dscale = 0.0f;
  double            vd[B * P * E], td[B * K * E], loss;
  WpObjectiveCaches caches;
  WpRng             rng;

  g_assert_cmpint (wp_filip_kept_patches (patch_fraction, P), ==, kept);
  naive_filip_kept = kept;
  wp_rng_init (&rng, 11);
  fill_random (v, B * P * E, &rng);
  fill_random (t, B * K * E, &rng);
  /* Padding slots hold NaN: the loss must never read them. */
  for (int j = 0; j < B; j++) {
    for (int l = lengths[j]; l < K; l++) {
      for (int e = 0; e < E; e++)
        t[(j * K + l) * E + e] = NAN;
    }
  }
  for (int i = 0; i < B * P * E; i++)
    vd[i] = v[i];
  for (int i = 0; i < B * K * E; i++)
    td[i] = t[i];
  wp_objective_caches_init (&caches, MAX_B, P, K, E);
  loss = run (&caches, OBJECTIVE_FILIP, v, t, 0.7f, patch_fraction, dv, dt, &dscale);
  wp_objective_caches_clear (&caches);
  g_assert_true (isfinite (loss));
  g_assert_cmpfloat_with_epsilon (loss, naive_filip (vd, td, 0.7f), 1e-5 * fabs (loss));
  for (int j = 0; j < B; j++) {
    for (int l = lengths[j]; l < K; l++) {
      for (int e = 0; e < E; e++)
        g_assert_cmpfloat (dt[(j * K + l) * E + e], ==, 0.0f);
    }
  }
  /* Finite differences need finite inputs everywhere; the padding gradients were checked above. */
  for (int i = 0; i < B * K * E; i++) {
    if (isnan (t[i]))
      t[i] = 0.0f;
  }
  check_gradients ("filip", naive_filip, v, B * P * E, t, B * K * E, 0.7f, dv, dt, dscale);
}

static void
test_filip_matches_definition (void)
{
  check_filip (1.0, P);
}

static void
test_filip_patch_selection (void)
{
  float             v[B * P * E], t[B * K * E];
  const WpFineBatch batch = { v, t, lengths, B, P, K, E };
  WpObjectiveCaches caches;
  WpRng             rng;

  g_assert_cmpint (wp_filip_kept_patches (0.25, 64), ==, 16);
  g_assert_cmpint (wp_filip_kept_patches (0.1, 64), ==, 7);
  g_assert_cmpint (wp_filip_kept_patches (1e-6, 64), ==, 1);
  check_filip (0.4, 2);
  check_filip (0.01, 1);
  /* Keeping fewer patches changes sI, so the loss must differ from the full one. */
  wp_rng_init (&rng, 11);
  fill_random (v, B * P * E, &rng);
  fill_random (t, B * K * E, &rng);
  wp_objective_caches_init (&caches, MAX_B, P, K, E);
  g_assert_cmpfloat (
    fabs (wp_loss_filip_forward (&caches.filip, &batch, 0.7f, 0.4) -
          wp_loss_filip_forward (&caches.filip, &batch, 0.7f, 1.0)),
    >, 1e-4);
  wp_objective_caches_clear (&caches);
}

static void
test_sparc_matches_definition (gconstpointer data)
{
  const Objective  objective = GPOINTER_TO_INT (data);
  const SparcCase *sparc_case = &sparc_cases[objective];
  /* With the selection stopped, the gradient is that of the loss with the weights held. */
  const gboolean    frozen = (sparc_case->variant.flags & WP_SPARC_STOP_SELECTION) != 0;
  float             v[B * P * E], t[B * K * E], dv[B * P * E] = { 0 }, dt[B * K * E] = { 0 };
  float             dscale = 0.0f;
  double            vd[B * P * E], td[B * K * E], loss;
  WpObjectiveCaches caches;
  WpRng             rng;

  wp_rng_init (&rng, 13);
  fill_random (v, B * P * E, &rng);
  fill_random (t, B * K * E, &rng);
  for (int i = 0; i < B * P * E; i++)
    vd[i] = v[i];
  for (int i = 0; i < B * K * E; i++)
    td[i] = t[i];
  wp_objective_caches_init (&caches, MAX_B, P, K, E);
  loss = run (&caches, objective, v, t, 0.9f, 1.0, dv, dt, &dscale);
  wp_objective_caches_clear (&caches);
  use_sparc_case (sparc_case);
  g_assert_cmpfloat_with_epsilon (loss, sparc_case->naive (vd, td, 0.9f), 1e-6 * fabs (loss));
  frozen_v = frozen ? vd : NULL;
  frozen_t = frozen ? td : NULL;
  check_gradients (sparc_case->name, sparc_case->naive, v, B * P * E, t, B * K * E, 0.9f, dv, dt,
                   dscale);
  frozen_v = frozen_t = NULL;
  use_sparc_case (NULL);
  for (int j = 0; j < B; j++) {
    for (int l = lengths[j]; l < K; l++) {
      for (int e = 0; e < E; e++)
        g_assert_cmpfloat (dt[(j * K + l) * E + e], ==, 0.0f);
    }
  }
}

/* Caches are reused step after step, and FILIP's and SPARC's share their memory: whatever ran on
 * them before, and however much larger than the batch they are, a loss and its gradients are
 * the same bits as on fresh caches of the batch's size. */
static void
test_caches_reused (void)
{
  const Objective   order[] = { OBJECTIVE_SPARC_STOP, OBJECTIVE_FILIP, OBJECTIVE_SPARC_BATCH,
                                OBJECTIVE_CLIP, OBJECTIVE_SPARC_CENTRE, OBJECTIVE_SPARC,
                                OBJECTIVE_SPARC_IMAGES, OBJECTIVE_SPARC_PAIRS, OBJECTIVE_FILIP };
  float             v[B * P * E], t[B * K * E], other_v[B * P * E], other_t[B * K * E];
  WpObjectiveCaches reused;
  WpRng             rng;

  wp_rng_init (&rng, 19);
  fill_random (v, B * P * E, &rng);
  fill_random (t, B * K * E, &rng);
  fill_random (other_v, B * P * E, &rng);
  fill_random (other_t, B * K * E, &rng);
  wp_objective_caches_init (&reused, MAX_B, P, K, E);
  for (gsize i = 0; i < G_N_ELEMENTS (order); i++) {
    float             dv[2][B * P * E] = { { 0 } }, dt[2][B * K * E] = { { 0 } };
    float             dscale[2] = { 0 };
    double            loss[2];
    WpObjectiveCaches fresh;

    /* Another batch first, so that the reused caches hold its records. */
    run (&reused, order[(i + 1) % G_N_ELEMENTS (order)], other_v, other_t, 1.1f, 0.4, dv[0], dt[0],
         &dscale[0]);
    memset (dv, 0, sizeof dv);
    memset (dt, 0, sizeof dt);
    dscale[0] = 0.0f;
    loss[0] = run (&reused, order[i], v, t, 0.8f, 0.4, dv[0], dt[0], &dscale[0]);
    wp_objective_caches_init (&fresh, B, P, K, E);
    loss[1] = run (&fresh, order[i], v, t, 0.8f, 0.4, dv[1], dt[1], &dscale[1]);
    wp_objective_caches_clear (&fresh);
    g_assert_true (loss[0] == loss[1]);
    g_assert_true (dscale[0] == dscale[1]);
    g_assert_cmpmem (dv[0], sizeof dv[0], dv[1], sizeof dv[1]);
    g_assert_cmpmem (dt[0], sizeof dt[0], dt[1], sizeof dt[1]);
  }
  wp_objective_caches_clear (&reused);
}

/* The memory estimate covers what grows fastest with the batch: FILIP's arg-maxes of every
 * (image, text) block, B^2 (P + K) of them. */
static void
test_caches_bytes (void)
{
  for (guint64 max_B = 32; max_B <= 1024; max_B *= 4) {
    g_assert_cmpuint (wp_objective_caches_bytes ((int) max_B, 64, 32, 128), >=,
                      max_B * max_B * (64 + 32) * sizeof (int));
  }
}

static void
test_sparc_weights_sparse_rows (void)
{
  float w[K * P], v[P * E], t[K * E];
  WpRng rng;

  wp_rng_init (&rng, 17);
  fill_random (v, P * E, &rng);
  fill_random (t, K * E, &rng);
  /* Token 3 equals zero: every similarity ties, so its row is uniform. */
  for (int e = 0; e < E; e++)
    t[3 * E + e] = 0.0f;
  wp_sparc_weights (w, t, v, K, P, E);
  for (int l = 0; l < K; l++) {
    double sum = 0.0;
    int    zeros = 0;

    for (int p = 0; p < P; p++) {
      g_assert_cmpfloat (w[l * P + p], >=, 0.0f);
      sum += w[l * P + p];
      zeros += w[l * P + p] == 0.0f;
    }
    g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-6);
    if (l == 3) {
      for (int p = 0; p < P; p++)
        g_assert_cmpfloat_with_epsilon (w[l * P + p], 1.0f / P, 1e-7);
    } else {
      /* The minimum's normalised value is 0 < 1/P: at least one patch is always dropped. */
      g_assert_cmpint (zeros, >=, 1);
    }
  }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_set_nonfatal_assertions ();
  g_test_add_func ("/objectives/clip/matches-definition", test_clip_matches_definition);
  g_test_add_func ("/objectives/clip/large-scale-is-finite", test_clip_large_scale_is_finite);
  g_test_add_func ("/objectives/sigmoid/matches-definition", test_sigmoid_matches_definition);
  g_test_add_func ("/objectives/sigmoid/large-logits-are-finite",
                   test_sigmoid_large_logits_are_finite);
  g_test_add_func ("/objectives/filip/matches-definition", test_filip_matches_definition);
  g_test_add_func ("/objectives/filip/patch-selection", test_filip_patch_selection);
  for (int o = OBJECTIVE_SPARC; o < (int) G_N_ELEMENTS (sparc_cases); o++) {
    g_autofree char *matches =
      g_strdup_printf ("/objectives/%s/matches-definition", sparc_cases[o].name);
    g_autofree char *accumulates =
      g_strdup_printf ("/objectives/%s/backward-accumulates", sparc_cases[o].name);

    g_test_add_data_func (matches, GINT_TO_POINTER (o), test_sparc_matches_definition);
    g_test_add_data_func (accumulates, GINT_TO_POINTER (o), test_backward_accumulates);
  }
  g_test_add_func ("/objectives/sparc/weights-sparse-rows", test_sparc_weights_sparse_rows);
  g_test_add_data_func ("/objectives/clip/backward-accumulates", GINT_TO_POINTER (OBJECTIVE_CLIP),
                        test_backward_accumulates);
  g_test_add_data_func ("/objectives/filip/backward-accumulates",
                        GINT_TO_POINTER (OBJECTIVE_FILIP), test_backward_accumulates);
  g_test_add_func ("/objectives/caches/reused", test_caches_reused);
  g_test_add_func ("/objectives/caches/bytes", test_caches_bytes);
  return g_test_run ();
}
