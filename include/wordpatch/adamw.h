/* adamw.h: the optimiser. AdamW with decoupled weight decay (only on tensors whose spec says
 * decay: linear weights and projections; never biases, layer-norm gains, embeddings or the logit
 * scale), a linear warm-up then cosine learning-rate schedule, gradient clipping by global norm,
 * optional freezing of either tower, and the logit scale clamped to ln(100) after every step,
 * as CLIP does.
 *
 * The moments m and v have the parameters' layout; with the step count they are the whole
 * optimiser state a checkpoint saves. */
#pragma once

#include <glib.h>

#include "wordpatch/model.h"

G_BEGIN_DECLS

typedef struct {
  float    lr_max;        /* peak learning rate, default 5e-4 */
  float    lr_min;        /* at the end of the cosine, default lr_max / 10 */
  int      warmup_steps;  /* linear from 0, default 0 */
  gint64   total_steps;   /* the cosine reaches lr_min here */
  float    beta1, beta2;  /* default 0.9, 0.98 (CLIP's) */
  float    eps;           /* default 1e-6 */
  float    weight_decay;  /* default 0.1 */
  float    clip_norm;     /* global gradient norm limit; 0 disables, default 1.0 */
  gboolean freeze_text;   /* text_model.* and text_projection stay as they are */
  gboolean freeze_vision; /* vision_model.* and visual_projection stay as they are */
} WpAdamWOptions;

typedef struct {
  float *m, *v; /* (n_params) */
  gsize  n_params;
  gint64 step; /* updates done */
} WpAdamW;

void wp_adamw_options_init (WpAdamWOptions *options,
                            gint64          total_steps);

WpAdamW *wp_adamw_new (gsize n_params) G_GNUC_WARN_UNUSED_RESULT;
void     wp_adamw_free (WpAdamW *adamw);

/* The learning rate of update number step (0-based). */
float wp_adamw_learning_rate (const WpAdamWOptions *options,
                              gint64                step);

/* Whether the tensor is trained under these options (not in a frozen tower). */
gboolean wp_adamw_is_trainable (const WpAdamWOptions *options,
                                const WpTensorSpec   *spec);

/* One update of model->params from grads (the model's layout); grads of trainable tensors are
 * scaled in place when clipping. Returns the global gradient norm before clipping; when it is not
 * finite nothing is updated (the step count neither). */
double wp_adamw_update (WpAdamW              *adamw,
                        WpModel              *model,
                        float                *grads,
                        const WpAdamWOptions *options);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpAdamW, wp_adamw_free)

G_END_DECLS
