/* vision.h: the ViT image tower (patch embedding, class token, position embedding, pre-LN,
 * encoder layers, post-LN, projection), or SigLIP's (patch embedding with bias, position
 * embedding, encoder layers, post-LN, attention-pooling head).
 *
 * Shapes: B images of S x S pixels in 3 channels, patch p, P = (S/p)^2 patches row-major,
 * T = P + 1 tokens (class token first), C width, E projection dim.
 *
 * Thread contract: a WpModel is read-only during forward passes and may be shared between
 * threads; each thread owns its WpVisionState. */
#pragma once

#include <glib.h>

#include "wordpatch/model.h"

G_BEGIN_DECLS

typedef struct _WpVisionState WpVisionState;

WpVisionState *wp_vision_state_new (const WpClipConfig *config,
                                    int                 max_B) G_GNUC_WARN_UNUSED_RESULT;
void           wp_vision_state_free (WpVisionState *state);
/* Bytes a state of max_B images allocates (its arrays and its encoder's), computed without
 * allocating from the list the state is laid out by. */
guint64 wp_vision_state_bytes (const WpClipConfig *config,
                               int                 max_B);

/* pixels (B, 3, S, S), already normalised (see image.h); B <= max_B. */
void wp_vision_forward (const WpModel *model,
                        WpVisionState *state,
                        const float   *pixels,
                        int            B);

/* (B, T, E): every token through post_layernorm and visual_projection, not normalised. Token 0
 * of each image is CLIP's pooled image embedding; tokens 1..P are the patches. SigLIP (no class
 * token; E is the vision width): token 0 is the attention-pooling head's output, token 1 + p is
 * patch p's embedding u_p + mlp(layernorm(u_p)), u_p = out_proj(v_proj(x_p)) of the head's
 * attention over the post_layernorm'ed patch tokens x_p (MaskCLIP through the head; the pooled
 * output is the same with h = sum_p a_p u_p in place of u_p, docs/algorithms.md). */
const float *wp_vision_state_get_output (const WpVisionState *state);

/* Backward through the last wp_vision_forward() on this state: doutput (B, T, E) is the gradient
 * of its output. ACCUMULATES into grads (views of a gradient buffer); no pixel gradient. */
void wp_vision_backward (const WpModel *model,
                         WpVisionState *state,
                         const float   *doutput,
                         WpParams      *grads);

/* SigLIP's attention-pooling head over B images of n tokens each: what its backward needs. */
typedef struct {
  float   *q;                /* (C) the probe's query */
  float   *kv;               /* (B, n, 2C) keys and values of the tokens */
  float   *att;              /* (B, NH, n) the probe's attention */
  float   *in;               /* (B, 1 + n, C) row 0 the heads' output, rows 1..n the values */
  float   *x;                /* (B, 1 + n, C) the same after out_proj: h, then each u_p */
  float   *ln, *mean, *rstd; /* (B, 1 + n, C), (B, 1 + n), (B, 1 + n) */
  float   *fc1, *act;        /* (B, 1 + n, I) */
  gpointer buffer;           /* what wp_siglip_head_acts_init() allocated; NULL inside a state */
} WpSiglipHeadActs;

void wp_siglip_head_acts_init (WpSiglipHeadActs   *acts,
                               const WpClipConfig *config,
                               int                 B,
                               int                 n);
void wp_siglip_head_acts_clear (WpSiglipHeadActs *acts);
/* x (B, n, C): post_layernorm'ed tokens; out (B, 1 + n, C): row 0 the pooled embedding, row
 * 1 + p token p's embedding (see wp_vision_state_get_output()). B and n at most acts' sizes. */
void wp_siglip_head_forward (const WpModel    *model,
                             WpSiglipHeadActs *acts,
                             const float      *x,
                             int               B,
                             int               n,
                             float            *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpVisionState, wp_vision_state_free)

G_END_DECLS
