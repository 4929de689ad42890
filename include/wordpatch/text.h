/* text.h: the causal text tower (token and position embeddings, causal encoder layers, final
 * layer norm, projection), or SigLIP's (no causal mask, the whole context padded with the pad
 * id, final layer norm, then `head`, a Linear with bias, on every token).
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
/* A state for embedding captions of at most max_T <= context length tokens, forward passes only
 * (wp_text_backward() refuses it): buffers for their own tokens, not the whole context, and one
 * layer's activations shared by all (encoder.h), small enough to stay in the caches. */
WpTextState *wp_text_state_new_forward (const WpClipConfig *config,
                                        int                 max_B,
                                        int                 max_T) G_GNUC_WARN_UNUSED_RESULT;
void         wp_text_state_free (WpTextState *state);
/* Bytes wp_text_state_new() allocates for max_B captions of the context length, computed
 * without allocating from the list the state is laid out by. */
guint64 wp_text_state_bytes (const WpClipConfig *config,
                             int                 max_B);

/* How many positions the tower runs on for captions of at most n_tokens tokens: n_tokens for
 * CLIP (causal: what follows a caption never changes it), the context length for SigLIP (which
 * attends to its padding and pools at the last position). */
int wp_text_run_length (const WpClipConfig *config,
                        int                 n_tokens);

/* ids (B, T) with every id in [0, vocab_size); lengths (B) in [1, T]; T at most the state's
 * max_T (the context length for wp_text_state_new()) and wp_text_run_length() of itself (the
 * context length for SigLIP, whose positions from lengths[b] on are taken as the tokenizer's pad
 * id whatever ids holds there). */
void wp_text_forward (const WpModel *model,
                      WpTextState   *state,
                      const int     *ids,
                      const int     *lengths,
                      int            B,
                      int            T);

/* (B, T, E): every token through final_layer_norm and text_projection (SigLIP: head), not
 * normalised. The pooled text embedding of caption b is its token
 * wp_text_state_get_pooled()[b] (SigLIP: T - 1, a padding position for a short caption). */
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
