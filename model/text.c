#include "wordpatch/text.h"

#include <string.h>

#include "wordpatch/encoder.h"
#include "wordpatch/kernels.h"

struct _WpTextState {
  int            max_B, max_T;
  float         *embed; /* (B, T, C) */
  WpEncoderState encoder;
  float         *final_ln, *final_mean, *final_rstd; /* (B, T, C), (B, T), (B, T) */
  float         *output;                             /* (B, T, E) */
  int            B, T;                               /* of the last forward pass */
  int           *ids;                                /* (B, T) of the last forward pass */
  float         *dhidden, *dnormed;                  /* (B, T, C) backward scratch, on first use */
};

WpTextState *
wp_text_state_new (const WpClipConfig *config,
                   int                 max_B)
{
  return wp_text_state_new_sized (config, max_B, config->context_length);
}

WpTextState *
wp_text_state_new_sized (const WpClipConfig *config,
                         int                 max_B,
                         int                 max_T)
{
  WpTextState *s;
  gsize        BT, C;

  g_return_val_if_fail (max_B >= 1 && max_T >= 1 && max_T <= config->context_length, NULL);

  s = g_new0 (WpTextState, 1);
  BT = (gsize) max_B * max_T;
  C = config->text.width;
  s->max_B = max_B;
  s->max_T = max_T;
  s->embed = g_new (float, BT *C);
  wp_encoder_state_init (&s->encoder, &config->text, max_B, max_T);
  s->final_ln = g_new (float, BT *C);
  s->final_mean = g_new (float, BT);
  s->final_rstd = g_new (float, BT);
  s->output = g_new (float, BT * config->projection_dim);
  s->ids = g_new (int, BT);
  return s;
}

void
wp_text_state_free (WpTextState *state)
{
  if (state == NULL)
    return;
  wp_encoder_state_clear (&state->encoder);
  g_free (state->embed);
  g_free (state->final_ln);
  g_free (state->final_mean);
  g_free (state->final_rstd);
  g_free (state->output);
  g_free (state->ids);
  g_free (state->dhidden);
  g_free (state->dnormed);
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
  const float        *hidden;

  g_return_if_fail (B >= 1 && B <= s->max_B && T >= 1 && T <= s->max_T);

  s->B = B;
  s->T = T;
  memcpy (s->ids, ids, (gsize) B * T * sizeof (int));

  for (int b = 0; b < B; b++) {
    g_return_if_fail (lengths[b] >= 1 && lengths[b] <= T);
    for (int t = 0; t < T; t++) {
      const int id = ids[(gsize) b * T + t];
      float    *x = s->embed + ((gsize) b * T + t) * C;

      g_return_if_fail (id >= 0 && id < config->vocab_size);
      wp_residual_forward (x, w->token_embedding + (gsize) id * C, w->text_position + (gsize) t * C,
                           C);
    }
  }
  hidden = wp_encoder_forward (&s->encoder, w->text_layers, s->embed, B, T, TRUE);
  wp_layernorm_forward (s->final_ln, s->final_mean, s->final_rstd, hidden, w->final_ln_w,
                        w->final_ln_b, B * T, C, config->text.layer_norm_eps);
  wp_matmul_forward (s->output, s->final_ln, w->text_projection, NULL, B * T, C, E);
}

const float *
wp_text_state_get_output (const WpTextState *state)
{
  return state->output;
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
  const gsize         BKC = (gsize) s->max_B * s->max_T * C;
  const float        *hidden = s->encoder.layers[config->text.n_layers - 1].resid2;

  if (s->dhidden == NULL) {
    s->dhidden = g_new (float, BKC);
    s->dnormed = g_new (float, BKC);
  }
  memset (s->dnormed, 0, (gsize) B * T * C * sizeof (float));
  wp_matmul_backward (s->dnormed, grads->text_projection, NULL, doutput, s->final_ln,
                      w->text_projection, B * T, C, E);
  memset (s->dhidden, 0, (gsize) B * T * C * sizeof (float));
  wp_layernorm_backward (s->dhidden, grads->final_ln_w, grads->final_ln_b, s->dnormed, hidden,
                         w->final_ln_w, s->final_mean, s->final_rstd, B * T, C);
  wp_encoder_backward (&s->encoder, w->text_layers, grads->text_layers, s->embed, s->dhidden,
                       s->dnormed, TRUE);
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
