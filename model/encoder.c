#include "wordpatch/encoder.h"

#include "wordpatch/kernels.h"

void
wp_encoder_state_init (WpEncoderState      *state,
                       const WpTowerConfig *tower,
                       int                  max_B,
                       int                  max_T)
{
  const gsize N = (gsize) max_B * max_T, C = tower->width, I = tower->mlp_width;
  const gsize att = (gsize) max_B * tower->n_heads * max_T * max_T;
  const gsize per_layer = 8 * N * C + 4 * N + 2 * N * I + att;
  float      *p;

  state->tower = *tower;
  state->max_B = max_B;
  state->max_T = max_T;
  state->buffer = g_new0 (float, per_layer * tower->n_layers);
  p = state->buffer;
  for (int l = 0; l < tower->n_layers; l++) {
    WpEncoderLayerActs *a = &state->layers[l];
    float             **slots[] = { &a->ln1, &a->q, &a->k, &a->v, &a->attn, &a->resid1, &a->ln2, &a->resid2 };

    for (gsize i = 0; i < G_N_ELEMENTS (slots); i++) {
      *slots[i] = p;
      p += N * C;
    }
    a->ln1_mean = p, p += N;
    a->ln1_rstd = p, p += N;
    a->ln2_mean = p, p += N;
    a->ln2_rstd = p, p += N;
    a->fc1 = p, p += N * I;
    a->act = p, p += N * I;
    a->att = p, p += att;
  }
}

void
wp_encoder_state_clear (WpEncoderState *state)
{
  g_clear_pointer (&state->buffer, g_free);
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

  for (int l = 0; l < t->n_layers; l++) {
    const WpLayerParams *w = &layers[l];
    WpEncoderLayerActs  *a = &state->layers[l];

    wp_layernorm_forward (a->ln1, a->ln1_mean, a->ln1_rstd, x, w->ln1_w, w->ln1_b, N, C, t->layer_norm_eps);
    wp_matmul_forward (a->q, a->ln1, w->q_w, w->q_b, N, C, C);
    wp_matmul_forward (a->k, a->ln1, w->k_w, w->k_b, N, C, C);
    wp_matmul_forward (a->v, a->ln1, w->v_w, w->v_b, N, C, C);
    wp_attention_forward (a->attn, a->att, a->q, a->k, a->v, B, T, C, t->n_heads, causal);
    /* out_proj lands in resid1, then the residual is added in place. */
    wp_matmul_forward (a->resid1, a->attn, w->out_w, w->out_b, N, C, C);
    wp_residual_forward (a->resid1, a->resid1, x, (gsize) N * C);
    wp_layernorm_forward (a->ln2, a->ln2_mean, a->ln2_rstd, a->resid1, w->ln2_w, w->ln2_b, N, C, t->layer_norm_eps);
    wp_matmul_forward (a->fc1, a->ln2, w->fc1_w, w->fc1_b, N, C, I);
    wp_activation_forward (a->act, a->fc1, (gsize) N * I, t->activation);
    wp_matmul_forward (a->resid2, a->act, w->fc2_w, w->fc2_b, N, I, C);
    wp_residual_forward (a->resid2, a->resid2, a->resid1, (gsize) N * C);
    x = a->resid2;
  }
  return x;
}
