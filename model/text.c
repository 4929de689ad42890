#include "wordpatch/text.h"

#include <string.h>

#include "layout-private.h"
#include "wordpatch/encoder.h"
#include "wordpatch/kernels.h"

struct _WpTextState {
  int            max_B, max_T;
  int            B, T; /* of the last forward pass */
  gboolean       forward_only;
  gpointer       buffer;
  float         *embed; /* (B, T, C) */
  WpEncoderState encoder;
  float         *final_ln, *final_mean, *final_rstd; /* (B, T, C), (B, T), (B, T) */
  float         *output;                             /* (B, T, E) */
  int           *ids;                                /* (B, T) of the last forward pass */
  int           *pooled;                             /* (B) pooled positions of that pass */
  float         *dhidden, *dnormed;                  /* (B, T, C) backward scratch */
};

/* The tower's own arrays; the encoder lays out its layers in its own buffer. */
static void
lay_out (WpTextState        *s,
         const WpClipConfig *config,
         WpLayout           *layout)
{
  const guint64 BT = (guint64) s->max_B * s->max_T, C = config->text.width;

  WP_LAYOUT_ARRAY (layout, s->embed, BT * C);
  WP_LAYOUT_ARRAY (layout, s->final_ln, BT * C);
  WP_LAYOUT_ARRAY (layout, s->final_mean, BT);
  WP_LAYOUT_ARRAY (layout, s->final_rstd, BT);
  WP_LAYOUT_ARRAY (layout, s->output, BT * config->projection_dim);
  WP_LAYOUT_ARRAY (layout, s->ids, BT);
  WP_LAYOUT_ARRAY (layout, s->pooled, s->max_B);
  if (s->forward_only)
    return;
  WP_LAYOUT_ARRAY (layout, s->dhidden, BT * C);
  WP_LAYOUT_ARRAY (layout, s->dnormed, BT * C);
}

guint64
wp_text_state_bytes (const WpClipConfig *config,
                     int                 max_B)
{
  WpTextState measure = { .max_B = max_B, .max_T = config->context_length };
  WpLayout    layout = { 0 };

  lay_out (&measure, config, &layout);
  return layout.used + wp_encoder_state_bytes (&config->text, max_B, config->context_length);
}

static WpTextState *
new_state (const WpClipConfig *config,
           int                 max_B,
           int                 max_T,
           gboolean            forward_only)
{
  WpTextState *s;
  WpLayout     layout = { 0 };

  s = g_new0 (WpTextState, 1);
  s->max_B = max_B;
  s->max_T = max_T;
  s->forward_only = forward_only;
  lay_out (s, config, &layout);
  s->buffer = wp_layout_alloc (&layout);
  lay_out (s, config, &layout);
  wp_layout_check (&layout);
  wp_encoder_state_init (&s->encoder, &config->text, max_B, max_T, forward_only);
  return s;
}

WpTextState *
wp_text_state_new (const WpClipConfig *config,
                   int                 max_B)
{
  g_return_val_if_fail (max_B >= 1, NULL);
  return new_state (config, max_B, config->context_length, FALSE);
}

int
wp_text_run_length (const WpClipConfig *config,
                    int                 n_tokens)
{
  return config->family == WP_MODEL_FAMILY_SIGLIP ? config->context_length : n_tokens;
}

WpTextState *
wp_text_state_new_forward (const WpClipConfig *config,
                           int                 max_B,
                           int                 max_T)
{
  g_return_val_if_fail (max_B >= 1 && max_T >= 1 && max_T <= config->context_length, NULL);
  return new_state (config, max_B, wp_text_run_length (config, max_T), TRUE);
}

void
wp_text_state_free (WpTextState *state)
{
  if (state == NULL)
    return;
  wp_encoder_state_clear (&state->encoder);
  g_free (state->buffer);
  g_free (state);
}

void
wp_text_forward (const WpModel *model,
                 WpTextState   *s,
                 const int     *ids,
                 const int     *lengths,
                 int            B,
                 int            T)
{
  const WpClipConfig *config = &model->config;
  const WpParams     *w = &model->p;
  const int           C = config->text.width, E = config->projection_dim;
  const gboolean      siglip = config->family == WP_MODEL_FAMILY_SIGLIP;
  const float        *hidden;

  g_return_if_fail (B >= 1 && B <= s->max_B && T >= 1 && T <= s->max_T);
  g_return_if_fail (T == wp_text_run_length (config, T));

  s->B = B;
  s->T = T;
  memcpy (s->ids, ids, (gsize) B * T * sizeof (int));

  for (int b = 0; b < B; b++) {
    g_return_if_fail (lengths[b] >= 1 && lengths[b] <= T);
    /* SigLIP sees its padding: it must be the pad id whatever the caller padded with. */
    if (siglip) {
      for (int t = lengths[b]; t < T; t++)
        s->ids[(gsize) b * T + t] = wp_tokenizer_get_pad_id (model->tokenizer);
    }
    s->pooled[b] = wp_text_pooled_position (config, s->ids + (gsize) b * T, lengths[b]);
    for (int t = 0; t < T; t++) {
      const int id = s->ids[(gsize) b * T + t];
      float    *x = s->embed + ((gsize) b * T + t) * C;

      g_return_if_fail (id >= 0 && id < config->vocab_size);
      wp_residual_forward (x, w->token_embedding + (gsize) id * C, w->text_position + (gsize) t * C,
                           C);
    }
  }
  hidden = wp_encoder_forward (&s->encoder, w->text_layers, s->embed, B, T, !siglip);
  wp_layernorm_forward (s->final_ln, s->final_mean, s->final_rstd, hidden, w->final_ln_w,
                        w->final_ln_b, B * T, C, config->text.layer_norm_eps);
  if (siglip)
    wp_matmul_forward (s->output, s->final_ln, w->text_head_w, w->text_head_b, B * T, C, E);
  else
    wp_matmul_forward (s->output, s->final_ln, w->text_projection, NULL, B * T, C, E);
}

const float *
wp_text_state_get_output (const WpTextState *state)
{
  return state->output;
}

const int *
wp_text_state_get_pooled (const WpTextState *state)
{
  return state->pooled;
}

int
wp_text_pooled_position (const WpClipConfig *config,
                         const int          *ids,
                         int                 length)
{
  int best = 0;

  if (config->text_pooling == WP_TEXT_POOL_LAST)
    return config->context_length - 1;
  if (config->text_pooling == WP_TEXT_POOL_ARGMAX) {
    for (int t = 1; t < length; t++) {
      if (ids[t] > ids[best])
        best = t;
    }
    return best;
  }
  for (int t = 0; t < length; t++) {
    if (ids[t] == config->eos_token_id)
      return t;
  }
  /* A config whose eos_token_id is not its tokenizer's end token (models saved before the id was
   * taken from the tokenizer): the end token the tokenizer always puts last. */
  return length - 1;
}

void
wp_text_backward (const WpModel *model,
                  WpTextState   *s,
                  const float   *doutput,
                  WpParams      *grads)
{
  const WpClipConfig *config = &model->config;
  const WpParams     *w = &model->p;
  const int           B = s->B, T = s->T, C = config->text.width, E = config->projection_dim;
  const gboolean      siglip = config->family == WP_MODEL_FAMILY_SIGLIP;
  const float        *hidden = s->encoder.layers[config->text.n_layers - 1].resid2;

  g_return_if_fail (!s->forward_only);
  memset (s->dnormed, 0, (gsize) B * T * C * sizeof (float));
  if (siglip)
    wp_matmul_backward (s->dnormed, grads->text_head_w, grads->text_head_b, doutput, s->final_ln,
                        w->text_head_w, B * T, C, E);
  else
    wp_matmul_backward (s->dnormed, grads->text_projection, NULL, doutput, s->final_ln,
                        w->text_projection, B * T, C, E);
  memset (s->dhidden, 0, (gsize) B * T * C * sizeof (float));
  wp_layernorm_backward (s->dhidden, grads->final_ln_w, grads->final_ln_b, s->dnormed, hidden,
                         w->final_ln_w, s->final_mean, s->final_rstd, B * T, C);
  wp_encoder_backward (&s->encoder, w->text_layers, grads->text_layers, s->embed, s->dhidden,
                       s->dnormed, !siglip);
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      const float *d = s->dnormed + ((gsize) b * T + t) * C;
      float       *dtoken = grads->token_embedding + (gsize) s->ids[(gsize) b * T + t] * C;

      wp_residual_forward (dtoken, dtoken, d, C);
      wp_residual_forward (grads->text_position + (gsize) t * C,
                           grads->text_position + (gsize) t * C, d, C);
    }
  }
}
