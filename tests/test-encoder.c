/* test-encoder.c: the encoder layer stack's backward pass against central finite differences of
 * its forward pass, for every parameter and the input, causal and not, both activations; the
 * forward-only state against the full one. */
#include <math.h>
#include <string.h>

#include "wordpatch/encoder.h"
#include "wordpatch/rng.h"

#define N_LAYERS 3
#define BATCH    2
#define TOKENS   3

typedef struct {
  WpTowerConfig tower;
  float        *params, *grads;
  gsize         n_params;
  WpLayerParams layers[N_LAYERS], dlayers[N_LAYERS];
} Tower;

static void
tower_init (Tower       *tw,
            WpActivation activation,
            WpRng       *rng)
{
  const gsize C = 6, I = 8;
  /* The model's layout (model.h): the k, v, q weights adjacent, then their biases. */
  const gsize sizes[16] = {
    C, C, C * C, C * C, C * C, C, C, C, C * C, C, C, C, I * C, I, C * I, C
  };
  gsize per_layer = 0, offset = 0;

  tw->tower = (WpTowerConfig){ (int) C, (int) I, 2, N_LAYERS, activation, 1e-5f };
  for (int k = 0; k < 16; k++)
    per_layer += sizes[k];
  tw->n_params = per_layer * N_LAYERS;
  tw->params = g_new (float, tw->n_params);
  tw->grads = g_new0 (float, tw->n_params);
  for (gsize i = 0; i < tw->n_params; i++)
    tw->params[i] = (float) (0.4 * wp_rng_normal (rng));
  for (int l = 0; l < N_LAYERS; l++) {
    WpLayerParams *views[2] = { &tw->layers[l], &tw->dlayers[l] };
    float         *bases[2] = { tw->params, tw->grads };

    for (int v = 0; v < 2; v++) {
      float **slots[16] = {
        &views[v]->ln1_w, &views[v]->ln1_b, &views[v]->k_w, &views[v]->v_w,
        &views[v]->q_w, &views[v]->k_b, &views[v]->v_b, &views[v]->q_b,
        &views[v]->out_w, &views[v]->out_b, &views[v]->ln2_w, &views[v]->ln2_b,
        &views[v]->fc1_w, &views[v]->fc1_b, &views[v]->fc2_w, &views[v]->fc2_b
      };
      gsize o = offset;

      for (int k = 0; k < 16; k++) {
        *slots[k] = bases[v] + o;
        o += sizes[k];
      }
    }
    offset += per_layer;
  }
}

static void
tower_clear (Tower *tw)
{
  g_free (tw->params);
  g_free (tw->grads);
}

/* sum(dout * encoder(inp)) in double: its gradient is what backward computes for dout. */
static double
probe (Tower          *tw,
       WpEncoderState *state,
       const float    *inp,
       const float    *dout,
       gboolean        causal)
{
  const float *out = wp_encoder_forward (state, tw->layers, inp, BATCH, TOKENS, causal);
  double       sum = 0.0;

  for (gsize i = 0; i < (gsize) BATCH * TOKENS * tw->tower.width; i++)
    sum += (double) dout[i] * out[i];
  return sum;
}

static void
check (float          *x,
       const float    *analytic,
       gsize           n,
       const char     *what,
       Tower          *tw,
       WpEncoderState *state,
       const float    *inp,
       const float    *dout,
       gboolean        causal)
{
  const float h = 1e-2f;
  double      worst = 0.0, largest = 1e-9;
  gsize       worst_index = 0;

  for (gsize i = 0; i < n; i++) {
    const float saved = x[i];
    double      numeric;

    x[i] = saved + h;
    numeric = probe (tw, state, inp, dout, causal);
    x[i] = saved - h;
    numeric = (numeric - probe (tw, state, inp, dout, causal)) / (2.0 * h);
    x[i] = saved;
    largest = fmax (largest, fabs (numeric));
    if (fabs (numeric - analytic[i]) > worst) {
      worst = fabs (numeric - analytic[i]);
      worst_index = i;
    }
  }
  if (worst > 2e-3 * largest + 1e-4)
    g_test_fail_printf ("%s: element %" G_GSIZE_FORMAT " off by %g (largest gradient %g)", what,
                        worst_index, worst, largest);
}

static void
run_case (WpActivation activation,
          gboolean     causal)
{
  const gsize    n_io = (gsize) BATCH * TOKENS * 6;
  Tower          tw;
  WpEncoderState state;
  WpRng          rng;
  float          inp[BATCH * TOKENS * 6], dout[BATCH * TOKENS * 6], dinp[BATCH * TOKENS * 6];

  wp_rng_init (&rng, causal ? 21 : 22);
  tower_init (&tw, activation, &rng);
  wp_encoder_state_init (&state, &tw.tower, BATCH, TOKENS, FALSE);
  for (gsize i = 0; i < n_io; i++) {
    inp[i] = (float) wp_rng_normal (&rng);
    dout[i] = (float) wp_rng_normal (&rng);
  }
  probe (&tw, &state, inp, dout, causal);
  wp_encoder_backward (&state, tw.layers, tw.dlayers, inp, dout, dinp, causal);
  check (inp, dinp, n_io, "input", &tw, &state, inp, dout, causal);
  check (tw.params, tw.grads, tw.n_params, "parameters", &tw, &state, inp, dout, causal);
  wp_encoder_state_clear (&state);
  tower_clear (&tw);
}

static void
test_causal_quick_gelu (void)
{
  run_case (WP_ACTIVATION_QUICK_GELU, TRUE);
}

static void
test_bidirectional_gelu (void)
{
  run_case (WP_ACTIVATION_GELU, FALSE);
}

/* The layers take two sets of buffers in turn in a forward-only state: the output must not change
 * by a bit, for batches smaller than the state too. */
static void
test_forward_only (void)
{
  const gsize               n_io = (gsize) BATCH * TOKENS * 6;
  Tower                     tw;
  WpEncoderState            full, forward;
  const WpEncoderLayerActs *fa, *fb;
  WpRng                     rng;
  float                     inp[BATCH * TOKENS * 6];

  wp_rng_init (&rng, 23);
  tower_init (&tw, WP_ACTIVATION_QUICK_GELU, &rng);
  wp_encoder_state_init (&full, &tw.tower, BATCH, TOKENS, FALSE);
  wp_encoder_state_init (&forward, &tw.tower, BATCH, TOKENS, TRUE);
  fa = &full.layers[N_LAYERS - 1];
  fb = &forward.layers[N_LAYERS - 1];
  for (gsize i = 0; i < n_io; i++)
    inp[i] = (float) wp_rng_normal (&rng);
  for (int B = 1; B <= BATCH; B++) {
    for (int causal = 0; causal < 2; causal++) {
      const float *a = wp_encoder_forward (&full, tw.layers, inp, B, TOKENS, causal);
      const float *b = wp_encoder_forward (&forward, tw.layers, inp, B, TOKENS, causal);
      const gsize  io = (gsize) B * TOKENS * 6 * sizeof (float);

      g_assert_cmpmem (a, io, b, io);
      /* What the last-block map methods read: that block's activations and its input. */
      g_assert_cmpmem (full.layers[N_LAYERS - 2].resid2, io, forward.layers[N_LAYERS - 2].resid2,
                       io);
      g_assert_cmpmem (fa->kvq, 3 * io, fb->kvq, 3 * io);
      g_assert_cmpmem (fa->ln1, io, fb->ln1, io);
      g_assert_cmpmem (fa->resid1, io, fb->resid1, io);
      g_assert_cmpmem (fa->fc1, io / 6 * 8, fb->fc1, io / 6 * 8);
    }
  }
  g_assert_true (forward.forward_only);
  g_assert_true (forward.layers[2].resid2 == forward.layers[0].resid2);
  g_assert_true (forward.layers[1].resid2 != forward.layers[0].resid2);
  g_assert_null (forward.dresid);
  wp_encoder_state_clear (&full);
  wp_encoder_state_clear (&forward);
  tower_clear (&tw);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_set_nonfatal_assertions ();
  g_test_add_func ("/encoder/backward/causal-quick-gelu", test_causal_quick_gelu);
  g_test_add_func ("/encoder/backward/bidirectional-gelu", test_bidirectional_gelu);
  g_test_add_func ("/encoder/forward-only", test_forward_only);
  return g_test_run ();
}
