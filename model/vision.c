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
  /* SigLIP's pooling head over the P patch tokens (empty for CLIP), and its backward's scratch
   * (as their namesakes). */
  WpSiglipHeadActs head;
  float           *dhead_q, *dhead_kv, *dhead_fc1, *dhead_act;
};

static void
head_lay_out (WpSiglipHeadActs   *a,
              const WpClipConfig *config,
              int                 B,
              int                 n,
              WpLayout           *layout)
{
  const guint64 C = config->vision.width, I = config->vision.mlp_width;
  const guint64 rows = (guint64) B * (n + 1);

  WP_LAYOUT_ARRAY (layout, a->q, C);
  WP_LAYOUT_ARRAY (layout, a->kv, (guint64) B * n * 2 * C);
  WP_LAYOUT_ARRAY (layout, a->att, (guint64) B * n * config->vision.n_heads);
  WP_LAYOUT_ARRAY (layout, a->in, rows * C);
  WP_LAYOUT_ARRAY (layout, a->x, rows * C);
  WP_LAYOUT_ARRAY (layout, a->ln, rows * C);
  WP_LAYOUT_ARRAY (layout, a->mean, rows);
  WP_LAYOUT_ARRAY (layout, a->rstd, rows);
  WP_LAYOUT_ARRAY (layout, a->fc1, rows * I);
  WP_LAYOUT_ARRAY (layout, a->act, rows * I);
}

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
  if (config->family == WP_MODEL_FAMILY_SIGLIP) {
    const guint64 I = config->vision.mlp_width, BP = (guint64) s->max_B * P;

    WP_LAYOUT_ARRAY (layout, s->dhead_q, C);
    WP_LAYOUT_ARRAY (layout, s->dhead_kv, BP * 2 * C);
    WP_LAYOUT_ARRAY (layout, s->dhead_fc1, BT * I);
    WP_LAYOUT_ARRAY (layout, s->dhead_act, BT * I);
    head_lay_out (&s->head, config, s->max_B, (int) P, layout);
  }
}

guint64
wp_vision_state_bytes (const WpClipConfig *config,
                       int                 max_B)
{
  WpVisionState measure = { .max_B = max_B };
  WpLayout      layout = { 0 };

  lay_out (&measure, config, &layout);
  return layout.used +
         wp_encoder_state_bytes (&config->vision, max_B,
                                 wp_clip_config_n_patches (config) +
                                   (config->family == WP_MODEL_FAMILY_SIGLIP ? 0 : 1));
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
  wp_encoder_state_init (&s->encoder, &config->vision, max_B,
                         config->family == WP_MODEL_FAMILY_SIGLIP ? T - 1 : T, FALSE);
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
wp_siglip_head_acts_init (WpSiglipHeadActs   *acts,
                          const WpClipConfig *config,
                          int                 B,
                          int                 n)
{
  WpLayout layout = { 0 };

  head_lay_out (acts, config, B, n, &layout);
  acts->buffer = wp_layout_alloc (&layout);
  head_lay_out (acts, config, B, n, &layout);
  wp_layout_check (&layout);
}

void
wp_siglip_head_acts_clear (WpSiglipHeadActs *acts)
{
  g_clear_pointer (&acts->buffer, g_free);
}

void
wp_siglip_head_forward (const WpModel    *model,
                        WpSiglipHeadActs *a,
                        const float      *x,
                        int               B,
                        int               n,
                        float            *out)
{
  const WpClipConfig *config = &model->config;
  const WpParams     *w = &model->p;
  const int           T = n + 1, C = config->vision.width, I = config->vision.mlp_width;
  const int           NH = config->vision.n_heads;
  const gsize         CC = (gsize) C * C;

  wp_matmul_forward (a->q, w->head_probe, w->head_in_w, w->head_in_b, 1, C, C);
  wp_matmul_forward (a->kv, x, w->head_in_w + CC, w->head_in_b + C, B * n, C, 2 * C);
  for (int b = 0; b < B; b++) {
    float       *rows = a->in + (gsize) b * T * C;
    const float *kv = a->kv + (gsize) b * n * 2 * C;

    wp_probe_attention_forward (rows, a->att + (gsize) b * NH * n, a->q, kv, kv + C, 2 * C, 1, n,
                                C, NH);
    for (int p = 0; p < n; p++)
      memcpy (rows + (gsize) (1 + p) * C, kv + (gsize) p * 2 * C + C, (gsize) C * sizeof (float));
  }
  wp_matmul_forward (a->x, a->in, w->head_out_w, w->head_out_b, B * T, C, C);
  wp_layernorm_forward (a->ln, a->mean, a->rstd, a->x, w->head_ln_w, w->head_ln_b, B * T, C,
                        config->vision.layer_norm_eps);
  wp_matmul_forward (a->fc1, a->ln, w->head_fc1_w, w->head_fc1_b, B * T, C, I);
  wp_activation_forward (a->act, a->fc1, (gsize) B * T * I, config->vision.activation);
  wp_matmul_forward (out, a->act, w->head_fc2_w, w->head_fc2_b, B * T, I, C);
  wp_residual_forward (out, out, a->x, (gsize) B * T * C);
}

/* SigLIP: patch embedding with bias, P position rows, no class token and no pre-LN;
 * post_layernorm on every token, then the pooling head. */
static void
siglip_forward (const WpModel *model,
                WpVisionState *s,
                int            B)
{
  const WpClipConfig *config = &model->config;
  const WpParams     *w = &model->p;
  const int           p = config->patch_size, P = wp_clip_config_n_patches (config);
  const int           C = config->vision.width;
  const float        *hidden;

  for (int b = 0; b < B; b++) {
    float *tokens = s->embed + (gsize) b * P * C;

    wp_matmul_forward (tokens, s->patches + (gsize) b * P * 3 * p * p, w->patch_embedding,
                       w->patch_bias, P, 3 * p * p, C);
    wp_residual_forward (tokens, tokens, w->vision_position, (gsize) P * C);
  }
  hidden = wp_encoder_forward (&s->encoder, w->vision_layers, s->embed, B, P, FALSE);
  wp_layernorm_forward (s->post_ln, s->post_mean, s->post_rstd, hidden, w->post_ln_w, w->post_ln_b,
                        B * P, C, config->vision.layer_norm_eps);
  wp_siglip_head_forward (model, &s->head, s->post_ln, B, P, s->output);
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
  if (config->family == WP_MODEL_FAMILY_SIGLIP) {
    siglip_forward (model, s, B);
    return;
  }
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

/* Backward through siglip_forward(): doutput (B, 1 + P, C). */
static void
siglip_backward (const WpModel *model,
                 WpVisionState *s,
                 const float   *doutput,
                 WpParams      *grads)
{
  const WpClipConfig *config = &model->config;
  const WpParams     *w = &model->p;
  const int           B = s->B, p = config->patch_size, P = wp_clip_config_n_patches (config);
  const int           T = P + 1, C = config->vision.width, I = config->vision.mlp_width;
  const int           NH = config->vision.n_heads;
  const gsize         CC = (gsize) C * C;
  const float        *hidden = s->encoder.layers[config->vision.n_layers - 1].resid2;
  float              *dx = s->dhidden, *drows = s->dnormed;

  /* The head's MLP branch; dx, the gradient of head_x, starts as the residual's. */
  memcpy (dx, doutput, (gsize) B * T * C * sizeof (float));
  memset (s->dhead_act, 0, (gsize) B * T * I * sizeof (float));
  wp_matmul_backward (s->dhead_act, grads->head_fc2_w, grads->head_fc2_b, doutput, s->head.act,
                      w->head_fc2_w, B * T, I, C);
  memset (s->dhead_fc1, 0, (gsize) B * T * I * sizeof (float));
  wp_activation_backward (s->dhead_fc1, s->dhead_act, s->head.fc1, (gsize) B * T * I,
                          config->vision.activation);
  memset (drows, 0, (gsize) B * T * C * sizeof (float));
  wp_matmul_backward (drows, grads->head_fc1_w, grads->head_fc1_b, s->dhead_fc1, s->head.ln,
                      w->head_fc1_w, B * T, C, I);
  wp_layernorm_backward (dx, grads->head_ln_w, grads->head_ln_b, drows, s->head.x, w->head_ln_w,
                         s->head.mean, s->head.rstd, B * T, C);
  /* out_proj, then row 0 back through the probe's attention and rows 1..P into the values. */
  memset (drows, 0, (gsize) B * T * C * sizeof (float));
  wp_matmul_backward (drows, grads->head_out_w, grads->head_out_b, dx, s->head.in, w->head_out_w,
                      B * T, C, C);
  memset (s->dhead_kv, 0, (gsize) B * P * 2 * C * sizeof (float));
  memset (s->dhead_q, 0, (gsize) C * sizeof (float));
  for (int b = 0; b < B; b++) {
    float       *dkv = s->dhead_kv + (gsize) b * P * 2 * C;
    const float *kv = s->head.kv + (gsize) b * P * 2 * C;

    wp_probe_attention_backward (s->dhead_q, dkv, dkv + C, 2 * C, drows + (gsize) b * T * C,
                                 s->head.q, kv, kv + C, s->head.att + (gsize) b * NH * P, 1, P, C,
                                 NH);
    for (int q = 0; q < P; q++)
      wp_residual_forward (dkv + (gsize) q * 2 * C + C, dkv + (gsize) q * 2 * C + C,
                           drows + ((gsize) b * T + 1 + q) * C, C);
  }
  wp_matmul_backward (grads->head_probe, grads->head_in_w, grads->head_in_b, s->dhead_q,
                      w->head_probe, w->head_in_w, 1, C, C);
  /* dx now receives the gradient of post_ln (B, P, C), drows that of the encoder's output. */
  memset (dx, 0, (gsize) B * P * C * sizeof (float));
  wp_matmul_backward (dx, grads->head_in_w + CC, grads->head_in_b + C, s->dhead_kv, s->post_ln,
                      w->head_in_w + CC, B * P, C, 2 * C);
  memset (drows, 0, (gsize) B * P * C * sizeof (float));
  wp_layernorm_backward (drows, grads->post_ln_w, grads->post_ln_b, dx, hidden, w->post_ln_w,
                         s->post_mean, s->post_rstd, B * P, C);
  wp_encoder_backward (&s->encoder, w->vision_layers, grads->vision_layers, s->embed, drows, dx,
                       FALSE);
  for (int b = 0; b < B; b++) {
    const float *dtokens = dx + (gsize) b * P * C;

    wp_residual_forward (grads->vision_position, grads->vision_position, dtokens, (gsize) P * C);
    wp_matmul_backward (NULL, grads->patch_embedding, grads->patch_bias, dtokens,
                        s->patches + (gsize) b * P * 3 * p * p, w->patch_embedding, P, 3 * p * p,
                        C);
  }
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

  if (config->family == WP_MODEL_FAMILY_SIGLIP) {
    siglip_backward (model, s, doutput, grads);
    return;
  }
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
