#include "wordpatch/encoder.h"

#include <string.h>

#include "wordpatch/kernels.h"

/* Floats of one layer's saved activations (the slots wp_encoder_state_init lays out). */
static guint64
layer_floats (const WpTowerConfig *tower,
              int                  max_B,
              int                  max_T)
{
  const guint64 N = (guint64) max_B * max_T, C = tower->width, I = tower->mlp_width;

  return 8 * N * C + 4 * N + 2 * N * I + (guint64) max_B * tower->n_heads * max_T * max_T;
}

/* Floats of the backward's scratch (the gradients wp_encoder_backward lays out). */
static guint64
scratch_floats (const WpTowerConfig *tower,
                int                  max_B,
                int                  max_T)
{
  const guint64 N = (guint64) max_B * max_T, C = tower->width, I = tower->mlp_width;

  return 6 * N * C + 2 * N * I + (guint64) max_B * tower->n_heads * max_T * max_T;
}

guint64
wp_encoder_state_bytes (const WpTowerConfig *tower,
                        int                  max_B,
                        int                  max_T)
{
  return sizeof (float) * (layer_floats (tower, max_B, max_T) * tower->n_layers +
                           scratch_floats (tower, max_B, max_T));
}

void
wp_encoder_state_init (WpEncoderState      *state,
                       const WpTowerConfig *tower,
                       int                  max_B,
                       int                  max_T)
{
  const gsize N = (gsize) max_B * max_T, C = tower->width, I = tower->mlp_width;
  const gsize att = (gsize) max_B * tower->n_heads * max_T * max_T;
  const gsize per_layer = layer_floats (tower, max_B, max_T);
  float      *p;

  memset (state, 0, sizeof *state);
  state->tower = *tower;
  state->max_B = max_B;
  state->max_T = max_T;
  state->buffer = g_new0 (float, per_layer * tower->n_layers);
  p = state->buffer;
  for (int l = 0; l < tower->n_layers; l++) {
    WpEncoderLayerActs *a = &state->layers[l];
    float             **slots[] = { &a->ln1, &a->attn, &a->resid1, &a->ln2, &a->resid2 };

    for (gsize i = 0; i < G_N_ELEMENTS (slots); i++) {
      *slots[i] = p;
      p += N * C;
    }
    a->kvq = p, p += 3 * N * C;
    a->ln1_mean = p, p += N;
    a->ln1_rstd = p, p += N;
    a->ln2_mean = p, p += N;
    a->ln2_rstd = p, p += N;
    a->fc1 = p, p += N * I;
    a->act = p, p += N * I;
    a->att = p, p += att;
  }
  g_assert (p ==
            state->buffer + per_layer * tower->n_layers); /* layer_floats() counts these slots */
}

void
wp_encoder_state_clear (WpEncoderState *state)
{
  g_clear_pointer (&state->buffer, g_free);
  g_clear_pointer (&state->scratch, g_free);
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
  const gsize          NC = (gsize) state->max_B * state->max_T * C,
              NI = (gsize) state->max_B * state->max_T * I;
  float *dresid, *dln, *dattn, *dkvq, *dfc1, *dact, *datt;

  if (state->scratch == NULL)
    state->scratch = g_new (float, scratch_floats (t, state->max_B, state->max_T));
  dresid = state->scratch; /* the gradient flowing down the residual stream */
  dln = dresid + NC;
  dattn = dln + NC;
  dkvq = dattn + NC; /* (N, 3C) as the forward's kvq */
  dfc1 = dkvq + 3 * NC;
  dact = dfc1 + NI;
  datt = dact + NI;

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
