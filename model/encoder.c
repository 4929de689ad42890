#include "wordpatch/encoder.h"

#include <string.h>

#include "layout-private.h"
#include "wordpatch/kernels.h"

/* Every layer's activations for the backward pass, then the backward's own scratch: the
 * gradients of one layer's activations, reused by every layer. A forward-only state lays out two
 * layers' activations, which the layers take in turn: each reads its input from the other's. */
static void
lay_out (WpEncoderState *state,
         WpLayout       *layout)
{
  const WpTowerConfig *t = &state->tower;
  const guint64        N = (guint64) state->max_B * state->max_T, C = t->width, I = t->mlp_width;
  const guint64        att = (guint64) state->max_B * t->n_heads * state->max_T * state->max_T;
  const int            n_laid_out = state->forward_only ? MIN (2, t->n_layers) : t->n_layers;

  for (int l = 0; l < n_laid_out; l++) {
    WpEncoderLayerActs *a = &state->layers[l];

    WP_LAYOUT_ARRAY (layout, a->ln1, N * C);
    WP_LAYOUT_ARRAY (layout, a->attn, N * C);
    WP_LAYOUT_ARRAY (layout, a->resid1, N * C);
    WP_LAYOUT_ARRAY (layout, a->ln2, N * C);
    WP_LAYOUT_ARRAY (layout, a->resid2, N * C);
    WP_LAYOUT_ARRAY (layout, a->kvq, 3 * N * C);
    WP_LAYOUT_ARRAY (layout, a->ln1_mean, N);
    WP_LAYOUT_ARRAY (layout, a->ln1_rstd, N);
    WP_LAYOUT_ARRAY (layout, a->ln2_mean, N);
    WP_LAYOUT_ARRAY (layout, a->ln2_rstd, N);
    WP_LAYOUT_ARRAY (layout, a->fc1, N * I);
    WP_LAYOUT_ARRAY (layout, a->act, N * I);
    WP_LAYOUT_ARRAY (layout, a->att, att);
  }
  for (int l = n_laid_out; l < t->n_layers; l++)
    state->layers[l] = state->layers[l % 2];
  if (state->forward_only)
    return;
  WP_LAYOUT_ARRAY (layout, state->dresid, N * C);
  WP_LAYOUT_ARRAY (layout, state->dln, N * C);
  WP_LAYOUT_ARRAY (layout, state->dattn, N * C);
  WP_LAYOUT_ARRAY (layout, state->dkvq, 3 * N * C);
  WP_LAYOUT_ARRAY (layout, state->dfc1, N * I);
  WP_LAYOUT_ARRAY (layout, state->dact, N * I);
  WP_LAYOUT_ARRAY (layout, state->datt, att);
}

static void
set_dims (WpEncoderState      *state,
          const WpTowerConfig *tower,
          int                  max_B,
          int                  max_T,
          gboolean             forward_only)
{
  memset (state, 0, sizeof *state);
  state->tower = *tower;
  state->max_B = max_B;
  state->max_T = max_T;
  state->forward_only = forward_only;
}

guint64
wp_encoder_state_bytes (const WpTowerConfig *tower,
                        int                  max_B,
                        int                  max_T)
{
  WpEncoderState measure;
  WpLayout       layout = { 0 };

  set_dims (&measure, tower, max_B, max_T, FALSE);
  lay_out (&measure, &layout);
  return layout.used;
}

void
wp_encoder_state_init (WpEncoderState      *state,
                       const WpTowerConfig *tower,
                       int                  max_B,
                       int                  max_T,
                       gboolean             forward_only)
{
  WpLayout layout = { 0 };

  set_dims (state, tower, max_B, max_T, forward_only);
  lay_out (state, &layout);
  state->buffer = wp_layout_alloc (&layout);
  lay_out (state, &layout);
  wp_layout_check (&layout);
}

void
wp_encoder_state_clear (WpEncoderState *state)
{
  g_clear_pointer (&state->buffer, g_free);
}

/* The k, v and q projections are one product over k_w, the (3C, C) matrix the three weights
 * form in the model's layout (model.h); anything else laid out differently is a bug. */
static void
assert_kvq_adjacent (const WpLayerParams *w,
                     int                  C)
{
  const gsize CC = (gsize) C * C;

  g_assert (w->v_w == w->k_w + CC && w->q_w == w->v_w + CC && w->v_b == w->k_b + C &&
            w->q_b == w->v_b + C);
}

const float *
wp_encoder_forward (WpEncoderState      *state,
                    const WpLayerParams *layers,
                    const float         *inp,
                    int                  B,
                    int                  T,
                    gboolean             causal)
{
  const WpTowerConfig *t = &state->tower;
  const int            N = B * T, C = t->width, I = t->mlp_width;
  const float         *x = inp;

  g_assert (B <= state->max_B && T <= state->max_T);
  state->B = B;
  state->T = T;

  for (int l = 0; l < t->n_layers; l++) {
    const WpLayerParams *w = &layers[l];
    WpEncoderLayerActs  *a = &state->layers[l];

    assert_kvq_adjacent (w, C);
    wp_layernorm_forward (a->ln1, a->ln1_mean, a->ln1_rstd, x, w->ln1_w, w->ln1_b, N, C,
                          t->layer_norm_eps);
    wp_matmul_forward (a->kvq, a->ln1, w->k_w, w->k_b, N, C, 3 * C);
    wp_attention_forward (a->attn, a->att, a->kvq + 2 * C, a->kvq, a->kvq + C, 3 * C, B, T, C,
                          t->n_heads, causal);
    /* out_proj lands in resid1, then the residual is added in place. */
    wp_matmul_forward (a->resid1, a->attn, w->out_w, w->out_b, N, C, C);
    wp_residual_forward (a->resid1, a->resid1, x, (gsize) N * C);
    wp_layernorm_forward (a->ln2, a->ln2_mean, a->ln2_rstd, a->resid1, w->ln2_w, w->ln2_b, N, C,
                          t->layer_norm_eps);
    wp_matmul_forward (a->fc1, a->ln2, w->fc1_w, w->fc1_b, N, C, I);
    wp_activation_forward (a->act, a->fc1, (gsize) N * I, t->activation);
    wp_matmul_forward (a->resid2, a->act, w->fc2_w, w->fc2_b, N, I, C);
    wp_residual_forward (a->resid2, a->resid2, a->resid1, (gsize) N * C);
    x = a->resid2;
  }
  return x;
}

void
wp_encoder_backward (WpEncoderState      *state,
                     const WpLayerParams *layers,
                     WpLayerParams       *grads,
                     const float         *inp,
                     const float         *dout,
                     float               *dinp,
                     gboolean             causal)
{
  const WpTowerConfig *t = &state->tower;
  const int            B = state->B, T = state->T, N = B * T, C = t->width, I = t->mlp_width;
  float               *dresid = state->dresid, *dln = state->dln, *dattn = state->dattn;
  float               *dkvq = state->dkvq, *dfc1 = state->dfc1;
  float               *dact = state->dact, *datt = state->datt;

  g_return_if_fail (!state->forward_only);
  memcpy (dresid, dout, (gsize) N * C * sizeof (float));
  for (int l = t->n_layers - 1; l >= 0; l--) {
    const WpLayerParams      *w = &layers[l];
    WpLayerParams            *g = &grads[l];
    const WpEncoderLayerActs *a = &state->layers[l];
    const float              *x = l == 0 ? inp : state->layers[l - 1].resid2;

    /* MLP branch: dresid is the gradient of resid2 and, through the skip, of resid1. */
    memset (dact, 0, (gsize) N * I * sizeof (float));
    wp_matmul_backward (dact, g->fc2_w, g->fc2_b, dresid, a->act, w->fc2_w, N, I, C);
    memset (dfc1, 0, (gsize) N * I * sizeof (float));
    wp_activation_backward (dfc1, dact, a->fc1, (gsize) N * I, t->activation);
    memset (dln, 0, (gsize) N * C * sizeof (float));
    wp_matmul_backward (dln, g->fc1_w, g->fc1_b, dfc1, a->ln2, w->fc1_w, N, C, I);
    wp_layernorm_backward (dresid, g->ln2_w, g->ln2_b, dln, a->resid1, w->ln2_w, a->ln2_mean,
                           a->ln2_rstd, N, C);

    /* Attention branch: dresid is now the gradient of resid1 and, through the skip, of x. */
    memset (dattn, 0, (gsize) N * C * sizeof (float));
    wp_matmul_backward (dattn, g->out_w, g->out_b, dresid, a->attn, w->out_w, N, C, C);
    memset (dkvq, 0, (gsize) 3 * N * C * sizeof (float));
    wp_attention_backward (dkvq + 2 * C, dkvq, dkvq + C, 3 * C, datt, dattn, a->kvq + 2 * C, a->kvq,
                           a->kvq + C, a->att, B, T, C, t->n_heads, causal);
    memset (dln, 0, (gsize) N * C * sizeof (float));
    assert_kvq_adjacent (g, C);
    wp_matmul_backward (dln, g->k_w, g->k_b, dkvq, a->ln1, w->k_w, N, C, 3 * C);
    wp_layernorm_backward (dresid, g->ln1_w, g->ln1_b, dln, x, w->ln1_w, a->ln1_mean, a->ln1_rstd,
                           N, C);
  }
  memcpy (dinp, dresid, (gsize) N * C * sizeof (float));
}
