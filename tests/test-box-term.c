/* test-box-term.c: the box term (docs/algorithms.md, "Box-supervised word maps") against a
 * naive double-precision implementation written here from its definition, its gradients against
 * central finite differences, its limits and the accumulation of its backward. */
#include <math.h>
#include <string.h>

#include "wordpatch/objectives.h"
#include "wordpatch/rng.h"

/* Last: its shape macros (B, E, P, K) would rename the headers' parameters. */
#include "objectives-fixtures.h"

/* The box term's words: several tokens (pair 0), one token (pairs 1 and 3), two words of one
 * pair (pair 2), boxes of one patch and of all but one; pair 3 has no boxed word. */
#define N_BOX_WORDS 4
static const int    box_pair[N_BOX_WORDS] = { 0, 1, 2, 2 };
static const int    box_first[N_BOX_WORDS] = { 1, 0, 0, 2 };
static const int    box_n_tokens[N_BOX_WORDS] = { 3, 1, 2, 1 };
static const guint8 box_inside[N_BOX_WORDS][P] = {
  { 0, 1, 1, 0, 0 },
  { 0, 0, 0, 1, 0 },
  { 1, 1, 1, 1, 0 },
  { 1, 0, 0, 0, 1 },
};
static const double box_tau = 0.3;

static void
fill_box_words (WpBoxWords *words)
{
  wp_box_words_init (words, MAX_B * K, P);
  words->n_words = N_BOX_WORDS;
  for (int w = 0; w < N_BOX_WORDS; w++) {
    words->pair[w] = box_pair[w];
    words->first[w] = box_first[w];
    words->n_tokens[w] = box_n_tokens[w];
    memcpy (words->inside + w * P, box_inside[w], P);
  }
}

/* L_box from the definition: each word's map the mean of its tokens' dot products, the
 * cross-entropy of its softmax against the uniform distribution on its boxes' patches, and the
 * mean over the words. The logit scale plays no part. */
static double
naive_box (const double *v,
           const double *t,
           double        logit_scale)
{
  double loss = 0.0;

  for (int w = 0; w < N_BOX_WORDS; w++) {
    const double *vb = v + box_pair[w] * P * E;
    double        m[P], sum = 0.0, n_inside = 0.0, word_loss = 0.0;

    for (int p = 0; p < P; p++) {
      m[p] = 0.0;
      for (int l = box_first[w]; l < box_first[w] + box_n_tokens[w]; l++)
        m[p] += dot (vb + p * E, t + (box_pair[w] * K + l) * E, E) / box_n_tokens[w];
      sum += exp (m[p] / box_tau);
      n_inside += box_inside[w][p];
    }
    for (int p = 0; p < P; p++) {
      if (box_inside[w][p])
        word_loss -= log (exp (m[p] / box_tau) / sum) / n_inside;
    }
    loss += word_loss;
  }
  return loss / N_BOX_WORDS;
}

static void
test_box_matches_definition (void)
{
  float             v[B * P * E], t[B * K * E], dv[B * P * E] = { 0 }, dt[B * K * E] = { 0 };
  double            vd[B * P * E], td[B * K * E], loss;
  WpObjectiveCaches caches;
  const WpFineBatch batch = { v, t, NULL, B, P, K, E };
  g_auto (WpBoxWords) words = { 0 };
  WpRng rng;

  wp_rng_init (&rng, 23);
  fill_random (v, B * P * E, &rng);
  fill_random (t, B * K * E, &rng);
  fill_box_words (&words);
  /* Tokens no word holds are never read. */
  for (int e = 0; e < E; e++) {
    t[(0 * K + 0) * E + e] = NAN;
    t[(2 * K + 3) * E + e] = NAN;
  }
  for (int i = 0; i < B * P * E; i++)
    vd[i] = v[i];
  for (int i = 0; i < B * K * E; i++)
    td[i] = t[i];
  wp_objective_caches_init (&caches, MAX_B, P, K, E);
  loss = wp_loss_box_forward (&caches.box, &batch, &words, box_tau);
  wp_loss_box_backward (dv, dt, &caches.box, &batch, &words, box_tau);
  wp_objective_caches_clear (&caches);
  g_assert_true (isfinite (loss));
  g_assert_cmpfloat_with_epsilon (loss, naive_box (vd, td, 0.0), 1e-6 * fabs (loss));
  /* Pair 3 has no boxed word: its patches and tokens get nothing. */
  for (int i = 3 * P * E; i < 4 * P * E; i++)
    g_assert_cmpfloat (dv[i], ==, 0.0f);
  for (int i = 0; i < B * K * E; i++) {
    if (isnan (t[i])) {
      g_assert_cmpfloat (dt[i], ==, 0.0f);
      t[i] = 0.0f;
    }
  }
  for (int i = 3 * K * E; i < 4 * K * E; i++)
    g_assert_cmpfloat (dt[i], ==, 0.0f);
  check_gradients ("box", naive_box, v, B * P * E, t, B * K * E, 0.0f, dv, dt, 0.0f);
}

/* A word whose map already peaks on its box at a low temperature has a small loss; without words
 * the term is 0 and gives no gradient. */
static void
test_box_limits (void)
{
  float             v[B * P * E] = { 0 }, t[B * K * E] = { 0 }, dv[B * P * E] = { 0 };
  float             dt[B * K * E] = { 0 };
  WpObjectiveCaches caches;
  const WpFineBatch batch = { v, t, NULL, B, P, K, E };
  g_auto (WpBoxWords) words = { 0 };
  double loss;

  wp_objective_caches_init (&caches, MAX_B, P, K, E);
  wp_box_words_init (&words, MAX_B * K, P);
  g_assert_cmpfloat (wp_loss_box_forward (&caches.box, &batch, &words, 0.07), ==, 0.0);
  wp_loss_box_backward (dv, dt, &caches.box, &batch, &words, 0.07);
  for (int i = 0; i < B * P * E; i++)
    g_assert_cmpfloat (dv[i], ==, 0.0f);

  /* Unit patches along the axes, token 0 of pair 0 along patch 2's axis, its box patch 2. */
  for (int p = 0; p < P; p++)
    v[p * E + p] = 1.0f;
  t[2] = 1.0f;
  words.n_words = 1;
  words.pair[0] = 0;
  words.first[0] = 0;
  words.n_tokens[0] = 1;
  memset (words.inside, 0, P);
  words.inside[2] = 1;
  /* m = (0, 0, 1, 0, 0): L = log (e^(1/tau) + 4) - 1/tau. */
  loss = wp_loss_box_forward (&caches.box, &batch, &words, 0.07);
  g_assert_cmpfloat_with_epsilon (loss, log (exp (1 / 0.07) + 4) - 1 / 0.07, 1e-9);
  g_assert_cmpfloat (loss, <, 1e-5);
  /* The same word with its box elsewhere pays the whole contrast. */
  words.inside[2] = 0;
  words.inside[4] = 1;
  loss = wp_loss_box_forward (&caches.box, &batch, &words, 0.07);
  g_assert_cmpfloat_with_epsilon (loss, log (exp (1 / 0.07) + 4), 1e-9);
  wp_objective_caches_clear (&caches);
}

static void
test_box_backward_accumulates (void)
{
  float             v[B * P * E], t[B * K * E], dv1[B * P * E] = { 0 }, dt1[B * K * E] = { 0 };
  float             dv2[B * P * E] = { 0 }, dt2[B * K * E] = { 0 };
  WpObjectiveCaches caches;
  const WpFineBatch batch = { v, t, NULL, B, P, K, E };
  g_auto (WpBoxWords) words = { 0 };
  WpRng rng;

  wp_rng_init (&rng, 29);
  fill_random (v, B * P * E, &rng);
  fill_random (t, B * K * E, &rng);
  fill_box_words (&words);
  wp_objective_caches_init (&caches, MAX_B, P, K, E);
  wp_loss_box_forward (&caches.box, &batch, &words, box_tau);
  wp_loss_box_backward (dv1, dt1, &caches.box, &batch, &words, box_tau);
  for (int i = 0; i < 2; i++) {
    wp_loss_box_forward (&caches.box, &batch, &words, box_tau);
    wp_loss_box_backward (dv2, dt2, &caches.box, &batch, &words, box_tau);
  }
  for (gsize i = 0; i < B * P * E; i++)
    g_assert_cmpfloat_with_epsilon (dv2[i], 2.0f * dv1[i], 1e-6);
  for (gsize i = 0; i < B * K * E; i++)
    g_assert_cmpfloat_with_epsilon (dt2[i], 2.0f * dt1[i], 1e-6);
  wp_objective_caches_clear (&caches);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_set_nonfatal_assertions ();
  g_test_add_func ("/box-term/matches-definition", test_box_matches_definition);
  g_test_add_func ("/box-term/limits", test_box_limits);
  g_test_add_func ("/box-term/backward-accumulates", test_box_backward_accumulates);
  return g_test_run ();
}
