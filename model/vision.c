#include "wordpatch/vision.h"

#include <string.h>

#include "layout-private.h"
#include "wordpatch/encoder.h"
#include "wordpatch/kernels.h"

struct _WpVisionState {
  int            max_B;
  int            B; /* of the last forward pass */
  gpointer       buffer;
  float         *patches;                      /* (B, P, 3 p p) pixels of each patch, im2col */
  float         *embed;                        /* (B, T, C) */
  float         *pre_ln, *pre_mean, *pre_rstd; /* (B, T, C), (B, T), (B, T) */
  WpEncoderState encoder;
  float         *post_ln, *post_mean, *post_rstd; /* (B, T, C), (B, T), (B, T) */
  float         *output;                          /* (B, T, E) */
  float         *dhidden, *dnormed;               /* (B, T, C) backward scratch */
};

/* The tower's own arrays; the encoder lays out its layers in its own buffer. */
static void
lay_out (WpVisionState      *s,
         const WpClipConfig *config,
         WpLayout           *layout)
{
  const guint64 P = wp_clip_config_n_patches (config), p = config->patch_size;
  const guint64 BT = (guint64) s->max_B * (P + 1), C = config->vision.width;

  WP_LAYOUT_ARRAY (layout, s->patches, s->max_B * P * 3 * p * p);
  WP_LAYOUT_ARRAY (layout, s->embed, BT * C);
  WP_LAYOUT_ARRAY (layout, s->pre_ln, BT * C);
  WP_LAYOUT_ARRAY (layout, s->pre_mean, BT);
  WP_LAYOUT_ARRAY (layout, s->pre_rstd, BT);
  WP_LAYOUT_ARRAY (layout, s->post_ln, BT * C);
  WP_LAYOUT_ARRAY (layout, s->post_mean, BT);
  WP_LAYOUT_ARRAY (layout, s->post_rstd, BT);
  WP_LAYOUT_ARRAY (layout, s->output, BT * config->projection_dim);
  WP_LAYOUT_ARRAY (layout, s->dhidden, BT * C);
  WP_LAYOUT_ARRAY (layout, s->dnormed, BT * C);
}

guint64
wp_vision_state_bytes (const WpClipConfig *config,
                       int                 max_B)
{
  WpVisionState measure = { .max_B = max_B };
  WpLayout      layout = { 0 };

  lay_out (&measure, config, &layout);
  return layout.used +
         wp_encoder_state_bytes (&config->vision, max_B, wp_clip_config_n_patches (config) + 1);
}

WpVisionState *
wp_vision_state_new (const WpClipConfig *config,
                     int                 max_B)
{
  WpVisionState *s = g_new0 (WpVisionState, 1);
  const int      T = wp_clip_config_n_patches (config) + 1;
  WpLayout       layout = { 0 };

  s->max_B = max_B;
  lay_out (s, config, &layout);
  s->buffer = wp_layout_alloc (&layout);
  lay_out (s, config, &layout);
  wp_layout_check (&layout);
  wp_encoder_state_init (&s->encoder, &config->vision, max_B, T);
  return s;
}

void
wp_vision_state_free (WpVisionState *state)
{
  if (state == NULL)
    return;
  wp_encoder_state_clear (&state->encoder);
  g_free (state->buffer);
  g_free (state);
}

/* Lays out each patch's pixels as [channel][row][column], the order of a Conv2d weight
 * (C, 3, p, p), so the patch embedding is one matrix product. */
static void
im2col (float       *patches,
        const float *pixels,
        int          B,
        int          S,
        int          p)
{
  const int G = S / p;

  for (int b = 0; b < B; b++) {
    for (int gy = 0; gy < G; gy++) {
      for (int gx = 0; gx < G; gx++) {
        float *dst = patches + (((gsize) b * G + gy) * G + gx) * 3 * p * p;

        for (int c = 0; c < 3; c++) {
          for (int y = 0; y < p; y++) {
            const float *src = pixels + (((gsize) b * 3 + c) * S + gy * p + y) * S + gx * p;

            memcpy (dst, src, (gsize) p * sizeof (float));
            dst += p;
          }
        }
      }
    }
  }
}

void
wp_vision_forward (const WpModel *model,
                   WpVisionState *s,
                   const float   *pixels,
                   int            B)
{
  const WpClipConfig *config = &model->config;
  const WpParams     *w = &model->p;
  const int           S = config->image_size, p = config->patch_size;
  const int           P = wp_clip_config_n_patches (config), T = P + 1;
  const int           C = config->vision.width, E = config->projection_dim;
  const float         eps = config->vision.layer_norm_eps;
  const float        *hidden;

  g_return_if_fail (B >= 1 && B <= s->max_B);

  s->B = B;
  im2col (s->patches, pixels, B, S, p);
  for (int b = 0; b < B; b++) {
    float *tokens = s->embed + (gsize) b * T * C;

    memcpy (tokens, w->class_embedding, (gsize) C * sizeof (float));
    wp_matmul_forward (tokens + C, s->patches + (gsize) b * P * 3 * p * p, w->patch_embedding, NULL,
                       P, 3 * p * p, C);
    wp_residual_forward (tokens, tokens, w->vision_position, (gsize) T * C);
  }
  wp_layernorm_forward (s->pre_ln, s->pre_mean, s->pre_rstd, s->embed, w->pre_ln_w, w->pre_ln_b,
                        B * T, C, eps);
  hidden = wp_encoder_forward (&s->encoder, w->vision_layers, s->pre_ln, B, T, FALSE);
  wp_layernorm_forward (s->post_ln, s->post_mean, s->post_rstd, hidden, w->post_ln_w, w->post_ln_b,
                        B * T, C, eps);
  wp_matmul_forward (s->output, s->post_ln, w->visual_projection, NULL, B * T, C, E);
}

const float *
wp_vision_state_get_output (const WpVisionState *state)
{
  return state->output;
}

void
wp_vision_backward (const WpModel *model,
                    WpVisionState *s,
                    const float   *doutput,
                    WpParams      *grads)
{
  const WpClipConfig *config = &model->config;
  const WpParams     *w = &model->p;
  const int           B = s->B, p = config->patch_size;
  const int           P = wp_clip_config_n_patches (config), T = P + 1;
  const int           C = config->vision.width, E = config->projection_dim;
  const float        *hidden = s->encoder.layers[config->vision.n_layers - 1].resid2;

  memset (s->dnormed, 0, (gsize) B * T * C * sizeof (float));
  wp_matmul_backward (s->dnormed, grads->visual_projection, NULL, doutput, s->post_ln,
                      w->visual_projection, B * T, C, E);
  memset (s->dhidden, 0, (gsize) B * T * C * sizeof (float));
  wp_layernorm_backward (s->dhidden, grads->post_ln_w, grads->post_ln_b, s->dnormed, hidden,
                         w->post_ln_w, s->post_mean, s->post_rstd, B * T, C);
  /* dnormed now receives the gradient of the encoder's input (the pre-LN output). */
  wp_encoder_backward (&s->encoder, w->vision_layers, grads->vision_layers, s->pre_ln, s->dhidden,
                       s->dnormed, FALSE);
  memset (s->dhidden, 0, (gsize) B * T * C * sizeof (float));
  wp_layernorm_backward (s->dhidden, grads->pre_ln_w, grads->pre_ln_b, s->dnormed, s->embed,
                         w->pre_ln_w, s->pre_mean, s->pre_rstd, B * T, C);
  for (int b = 0; b < B; b++) {
    const float *dtokens = s->dhidden + (gsize) b * T * C;

    wp_residual_forward (grads->class_embedding, grads->class_embedding, dtokens, C);
    wp_residual_forward (grads->vision_position, grads->vision_position, dtokens, (gsize) T * C);
    wp_matmul_backward (NULL, grads->patch_embedding, NULL, dtokens + C,
                        s->patches + (gsize) b * P * 3 * p * p, w->patch_embedding, P, 3 * p * p,
                        C);
  }
}
