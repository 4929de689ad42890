#include "wordpatch/adamw.h"

#include <math.h>

#include "wordpatch/kernels.h"

#include "simd-private.h"

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
  return (float) (options->lr_min +
                  0.5 * (options->lr_max - options->lr_min) * (1.0 + cos (G_PI * progress)));
}

gboolean
wp_adamw_is_trainable (const WpAdamWOptions *options,
                       const WpTensorSpec   *spec)
{
  const gboolean text = g_str_has_prefix (spec->name, "text_model.") ||
                        g_str_has_prefix (spec->name, "text_projection");
  const gboolean vision = g_str_has_prefix (spec->name, "vision_model.") ||
                          g_str_has_prefix (spec->name, "visual_projection");

  return !(text && options->freeze_text) && !(vision && options->freeze_vision);
}

/* Trainable parameters are cut into blocks of this many: a block is a unit of a thread's work,
 * and the squared norm adds up block sums in block order, so it does not depend on the thread
 * count. */
#define ADAMW_BLOCK 65536

typedef struct {
  gsize first, end;
  float decay;
} AdamWBlock;

typedef struct {
  const AdamWBlock *blocks;
  double           *sums; /* (n_blocks) sums of squared gradients */
  float            *grads, *m, *v, *params;
  float             clip, lr, beta1, beta2, correction1, correction2, eps;
} AdamWRun;

static void
sum_squares_blocks (gpointer data,
                    gsize    first,
                    gsize    end)
{
  const AdamWRun *r = data;

  for (gsize b = first; b < end; b++) {
    const float *g = r->grads;
    gsize        k = r->blocks[b].first;
    v2d          acc = { 0.0, 0.0 };
    double       sum;

    for (; k + 2 <= r->blocks[b].end; k += 2) {
      const v2d x = load2_wide (g + k);

      acc += x * x;
    }
    sum = sum_wide (acc);
    if (k < r->blocks[b].end)
      sum += (double) g[k] * g[k];
    r->sums[b] = sum;
  }
}

/* One quad of the update; the lanes do exactly the scalar AdamW's operations. */
static inline void
update_quad (const AdamWRun *r,
             v4f            *g,
             v4f            *m,
             v4f            *v,
             v4f            *p,
             float           decay)
{
  v4f m_hat, v_hat;

  *g *= splat (r->clip);
  *m = splat (r->beta1) * *m + splat (1.0f - r->beta1) * *g;
  *v = splat (r->beta2) * *v + splat (1.0f - r->beta2) * *g * *g;
  m_hat = *m / splat (r->correction1);
  v_hat = *v / splat (r->correction2);
  *p -= splat (r->lr) * (m_hat / (sqrt4 (v_hat) + splat (r->eps)) + splat (decay) * *p);
}

static void
update_blocks (gpointer data,
               gsize    first,
               gsize    end)
{
  const AdamWRun *r = data;
  /* Scaling by 1 changes nothing: the gradients are written back only when clipped. */
  const gboolean clipped = r->clip != 1.0f;

  for (gsize b = first; b < end; b++) {
    const float decay = r->blocks[b].decay;
    gsize       k = r->blocks[b].first;
    v4f         g, m, v, p;

    for (; k + 4 <= r->blocks[b].end; k += 4) {
      g = load4 (r->grads + k);
      m = load4 (r->m + k);
      v = load4 (r->v + k);
      p = load4 (r->params + k);
      update_quad (r, &g, &m, &v, &p, decay);
      if (clipped)
        store4 (r->grads + k, g);
      store4 (r->m + k, m);
      store4 (r->v + k, v);
      store4 (r->params + k, p);
    }
    if (k < r->blocks[b].end) {
      const int n = (int) (r->blocks[b].end - k);

      g = load_tail (r->grads + k, n);
      m = load_tail (r->m + k, n);
      v = load_tail (r->v + k, n);
      p = load_tail (r->params + k, n);
      update_quad (r, &g, &m, &v, &p, decay);
      if (clipped)
        store_tail (r->grads + k, g, n);
      store_tail (r->m + k, m, n);
      store_tail (r->v + k, v, n);
      store_tail (r->params + k, p, n);
    }
  }
}

double
wp_adamw_update (WpAdamW              *adamw,
                 WpModel              *model,
                 float                *grads,
                 const WpAdamWOptions *options)
{
  const double t = (double) (adamw->step + 1);
  g_autoptr (GArray) blocks = g_array_new (FALSE, FALSE, sizeof (AdamWBlock));
  g_autofree double *sums = NULL;
  AdamWRun           run;
  double             sum_squares = 0.0, norm;

  g_return_val_if_fail (adamw->n_params == model->n_params, 0.0);

  for (guint i = 0; i < model->n_specs; i++) {
    const WpTensorSpec *spec = &model->specs[i];
    const float         decay = spec->decay ? options->weight_decay : 0.0f;

    if (!wp_adamw_is_trainable (options, spec))
      continue;
    for (gsize k = spec->offset; k < spec->offset + spec->numel; k += ADAMW_BLOCK) {
      const AdamWBlock block = { k, MIN (k + ADAMW_BLOCK, spec->offset + spec->numel), decay };

      g_array_append_val (blocks, block);
    }
  }
  sums = g_new (double, blocks->len);
  run = (AdamWRun){
    .blocks = (const AdamWBlock *) (void *) blocks->data,
    .sums = sums,
    .grads = grads,
    .m = adamw->m,
    .v = adamw->v,
    .params = model->params,
    .clip = 1.0f,
    .lr = wp_adamw_learning_rate (options, adamw->step),
    .beta1 = options->beta1,
    .beta2 = options->beta2,
    .correction1 = (float) (1.0 - pow (options->beta1, t)),
    .correction2 = (float) (1.0 - pow (options->beta2, t)),
    .eps = options->eps,
  };

  wp_parallel_for (blocks->len, 1, sum_squares_blocks, &run);
  for (guint b = 0; b < blocks->len; b++)
    sum_squares += sums[b];
  norm = sqrt (sum_squares);
  if (!isfinite (norm))
    return norm;
  if (options->clip_norm > 0.0f && norm > options->clip_norm)
    run.clip = (float) (options->clip_norm / norm);

  wp_parallel_for (blocks->len, 1, update_blocks, &run);
  *model->p.logit_scale = fminf (*model->p.logit_scale, logf (100.0f));
  adamw->step++;
  return norm;
}
