/* text.h: the causal text tower (token and position embeddings, causal encoder layers, final
 * layer norm, projection).
 *
 * Shapes: B captions padded to T tokens (T <= context length); lengths[b] counts the valid tokens
 * (start, caption, end). Causal attention means padding after a caption never changes its valid
 * tokens, so padding ids may be anything in the vocabulary. C width, E projection dim.
 *
 * Thread contract: as vision.h. */
#pragma once

#include <glib.h>

#include "wordpatch/model.h"

G_BEGIN_DECLS

typedef struct _WpTextState WpTextState;

WpTextState *wp_text_state_new (const WpClipConfig *config,
                                int                 max_B) G_GNUC_WARN_UNUSED_RESULT;
/* A state for captions of at most max_T <= context length tokens: one caption's embedding needs
 * buffers for its own tokens only, not for the whole context. */
WpTextState *wp_text_state_new_sized (const WpClipConfig *config,
                                      int                 max_B,
                                      int                 max_T) G_GNUC_WARN_UNUSED_RESULT;
void         wp_text_state_free (WpTextState *state);
/* Bytes wp_text_state_new() allocates for max_B captions of the context length, computed
 * without allocating from the list the state is laid out by. */
guint64 wp_text_state_bytes (const WpClipConfig *config,
                             int                 max_B);

/* ids (B, T) with every id in [0, vocab_size); lengths (B) in [1, T]; T at most the state's
 * max_T (the context length for wp_text_state_new()). */
void wp_text_forward (const WpModel *model,
                      WpTextState   *state,
                      const int     *ids,
                      const int     *lengths,
                      int            B,
                      int            T);

/* (B, T, E): every token through final_layer_norm and text_projection, not normalised. CLIP's
 * pooled text embedding of caption b is its token wp_text_state_get_pooled()[b]. */
const float *wp_text_state_get_output (const WpTextState *state);
/* (B): the pooled position of each caption of the last forward pass, as
 * wp_text_pooled_position() says. */
const int *wp_text_state_get_pooled (const WpTextState *state);

/* The position among ids[0 .. length) whose embedding is the caption's pooled one, by
 * config->text_pooling: transformers' and open_clip's rules, the end token (last) for a caption
 * the tokenizer encoded unless the caption itself spelled an end token earlier. */
int wp_text_pooled_position (const WpClipConfig *config,
                             const int          *ids,
                             int                 length);

/* Backward through the last wp_text_forward() on this state: doutput (B, T, E) is the gradient
 * of its output (zero at padding). ACCUMULATES into grads (views of a gradient buffer). */
void wp_text_backward (const WpModel *model,
                       WpTextState   *state,
                       const float   *doutput,
                       WpParams      *grads);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpTextState, wp_text_state_free)

G_END_DECLS
