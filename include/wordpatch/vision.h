/* vision.h: the ViT image tower (patch embedding, class token, position embedding, pre-LN,
 * encoder layers, post-LN, projection).
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
 * of each image is CLIP's pooled image embedding; tokens 1..P are the patches. */
const float *wp_vision_state_get_output (const WpVisionState *state);

/* Backward through the last wp_vision_forward() on this state: doutput (B, T, E) is the gradient
 * of its output. ACCUMULATES into grads (views of a gradient buffer); no pixel gradient. */
void wp_vision_backward (const WpModel *model,
                         WpVisionState *state,
                         const float   *doutput,
                         WpParams      *grads);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpVisionState, wp_vision_state_free)

G_END_DECLS
