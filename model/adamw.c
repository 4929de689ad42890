#include "wordpatch/adamw.h"

#include <math.h>

void
wp_adamw_options_init (WpAdamWOptions *options,
                       gint64          total_steps)
{
  *options = (WpAdamWOptions){
    .lr_max = 5e-4f,
    .lr_min = 5e-5f,
    .warmup_steps = 0,
    .total_steps = total_steps,
    .beta1 = 0.9f,
    .beta2 = 0.98f,
    .eps = 1e-6f,
    .weight_decay = 0.1f,
    .clip_norm = 1.0f,
  };
}

WpAdamW *
wp_adamw_new (gsize n_params)
{
  WpAdamW *adamw = g_new0 (WpAdamW, 1);

  adamw->n_params = n_params;
  adamw->m = g_new0 (float, n_params);
  adamw->v = g_new0 (float, n_params);
  return adamw;
}

void
wp_adamw_free (WpAdamW *adamw)
{
  if (adamw == NULL)
    return;
  g_free (adamw->m);
  g_free (adamw->v);
  g_free (adamw);
}

float
wp_adamw_learning_rate (const WpAdamWOptions *options,
                        gint64                step)
{
  const gint64 decay_steps = options->total_steps - options->warmup_steps;
  double       progress;

  if (step < options->warmup_steps)
    return options->lr_max * (float) (step + 1) / (float) options->warmup_steps;
  if (decay_steps <= 0)
    return options->lr_max;
  progress = MIN (1.0, (double) (step - options->warmup_steps) / (double) decay_steps);
  return (float) (options->lr_min + 0.5 * (options->lr_max - options->lr_min) * (1.0 + cos (G_PI * progress)));
}

gboolean
wp_adamw_is_trainable (const WpAdamWOptions *options,
                       const WpTensorSpec   *spec)
{
  const gboolean text = g_str_has_prefix (spec->name, "text_model.") || g_str_has_prefix (spec->name, "text_projection");
  const gboolean vision = g_str_has_prefix (spec->name, "vision_model.") || g_str_has_prefix (spec->name, "visual_projection");

  return !(text && options->freeze_text) && !(vision && options->freeze_vision);
}

double
wp_adamw_update (WpAdamW              *adamw,
                 WpModel              *model,
                 float                *grads,
                 const WpAdamWOptions *options)
{
  const float  lr = wp_adamw_learning_rate (options, adamw->step);
  const double t = (double) (adamw->step + 1);
  const float  correction1 = (float) (1.0 - pow (options->beta1, t));
  const float  correction2 = (float) (1.0 - pow (options->beta2, t));
  double       sum_squares = 0.0, norm;
  float        clip = 1.0f;

  g_return_val_if_fail (adamw->n_params == model->n_params, 0.0);

  for (guint i = 0; i < model->n_specs; i++) {
    const WpTensorSpec *spec = &model->specs[i];

    if (!wp_adamw_is_trainable (options, spec))
      continue;
    for (gsize k = spec->offset; k < spec->offset + spec->numel; k++)
      sum_squares += (double) grads[k] * grads[k];
  }
  norm = sqrt (sum_squares);
  if (!isfinite (norm))
    return norm;
  if (options->clip_norm > 0.0f && norm > options->clip_norm)
    clip = (float) (options->clip_norm / norm);

  for (guint i = 0; i < model->n_specs; i++) {
    const WpTensorSpec *spec = &model->specs[i];
    const float         decay = spec->decay ? options->weight_decay : 0.0f;

    if (!wp_adamw_is_trainable (options, spec))
      continue;
    for (gsize k = spec->offset; k < spec->offset + spec->numel; k++) {
      const float g = grads[k] *= clip;
      float       m_hat, v_hat;

      adamw->m[k] = options->beta1 * adamw->m[k] + (1.0f - options->beta1) * g;
      adamw->v[k] = options->beta2 * adamw->v[k] + (1.0f - options->beta2) * g * g;
      m_hat = adamw->m[k] / correction1;
      v_hat = adamw->v[k] / correction2;
      model->params[k] -= lr * (m_hat / (sqrtf (v_hat) + options->eps) + decay * model->params[k]);
    }
  }
  *model->p.logit_scale = fminf (*model->p.logit_scale, logf (100.0f));
  adamw->step++;
  return norm;
}
