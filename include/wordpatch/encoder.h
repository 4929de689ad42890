/* encoder.h: the transformer layer stack both towers share (pre-LN CLIP encoder layers).
 *
 * Layer: x1 = x + out_proj(attention(layer_norm1(x))); x2 = x1 + fc2(act(fc1(layer_norm2(x1)))).
 * Shapes: B sequences of T tokens, N = B x T rows, C width, I MLP width, NH heads. The state keeps
 * every layer's activations for the backward pass; it is sized once for the largest B and T. */
#pragma once

#include <glib.h>

#include "wordpatch/config.h"
#include "wordpatch/model.h"

G_BEGIN_DECLS

typedef struct {
  float *ln1, *ln1_mean, *ln1_rstd; /* (N, C), (N), (N) */
  float *kvq;                       /* (N, 3C): each row k, v, q (one product, see model.h) */
  float *att;                       /* (B, NH, T, T) softmax probabilities */
  float *attn;                      /* (N, C) heads' outputs before out_proj */
  float *resid1;                    /* (N, C) */
  float *ln2, *ln2_mean, *ln2_rstd; /* (N, C), (N), (N) */
  float *fc1;                       /* (N, I) before the activation */
  float *act;                       /* (N, I) */
  float *resid2;                    /* (N, C) the layer's output */
} WpEncoderLayerActs;

typedef struct {
  WpTowerConfig      tower;
  int                max_B, max_T;
  int                B, T; /* of the last forward pass */
  gboolean           forward_only;
  gpointer           buffer;
  WpEncoderLayerActs layers[WP_MAX_LAYERS];
  /* The backward's gradients of one layer's activations, as their namesakes above; dresid is
   * the gradient flowing down the residual stream. */
  float *dresid, *dln, *dattn, *dkvq, *dfc1, *dact, *datt;
} WpEncoderState;

/* forward_only: a state for forward passes only, a sixth of the memory for twelve layers: the
 * layers take two sets of buffers in turn, so after a pass only the last two layers' activations
 * are left (all the last block's and its input), and there is no backward. */
void wp_encoder_state_init (WpEncoderState      *state,
                            const WpTowerConfig *tower,
                            int                  max_B,
                            int                  max_T,
                            gboolean             forward_only);
void wp_encoder_state_clear (WpEncoderState *state);
/* Bytes a state of (max_B, max_T) allocates: every layer's activations and the backward's
 * scratch, from the list wp_encoder_state_init() lays out. */
guint64 wp_encoder_state_bytes (const WpTowerConfig *tower,
                                int                  max_B,
                                int                  max_T);

/* inp (B, T, C), B <= max_B, T <= max_T. Returns the last layer's output (B, T, C), owned by the
 * state. */
const float *wp_encoder_forward (WpEncoderState      *state,
                                 const WpLayerParams *layers,
                                 const float         *inp,
                                 int                  B,
                                 int                  T,
                                 gboolean             causal);

/* Backward through the last forward pass: inp is the input that pass was given, dout (B, T, C)
 * the gradient of its output. Writes dinp (B, T, C) (overwritten, not accumulated) and
 * ACCUMULATES the parameters' gradients into grads (views of a gradient buffer). */
void wp_encoder_backward (WpEncoderState      *state,
                          const WpLayerParams *layers,
                          WpLayerParams       *grads,
                          const float         *inp,
                          const float         *dout,
                          float               *dinp,
                          gboolean             causal);

G_END_DECLS
