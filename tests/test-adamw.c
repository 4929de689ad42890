/* test-adamw.c: the optimiser on a real model and batch: one step lowers the batch's loss under
 * each objective, the logit scale is clamped, decay, freezing, clipping and the schedule do
 * what their definitions say; a loss state too large for the machine is refused. */
#include <math.h>
#include <string.h>

#include "test-util.h"
#include "wordpatch/adamw.h"
#include "wordpatch/error.h"
#include "wordpatch/loss.h"
#include "wordpatch/rng.h"

#define BATCH 4

typedef struct {
  WpModel *model;
  float   *pixels;
  int      ids[BATCH * 32];
  int      lengths[BATCH];
  int      T;
} Batch;

static void
batch_init (Batch *batch)
{
  static const char *const captions[BATCH] = { "a red circle",
                                               "two green squares above a big blue star", "cat",
                                               "a photo of a dog" };
  g_autoptr (GError) error = NULL;
  WpTokenizer *tokenizer = wp_test_clip_tokenizer ();
  WpClipConfig config;
  int          encoded[BATCH][32];
  WpRng        rng;
  gsize        n_pixels;

  wp_clip_config_init_preset (&config, "tiny", wp_tokenizer_get_n_vocab (tokenizer), &error);
  g_assert_no_error (error);
  config.vision.n_layers = 2;
  config.text.n_layers = 2;
  batch->model = wp_model_new_random (&config, tokenizer, 4, &error);
  g_assert_no_error (error);
  n_pixels = (gsize) BATCH * 3 * config.image_size * config.image_size;
  batch->pixels = g_new (float, n_pixels);
  wp_rng_init (&rng, 6);
  for (gsize i = 0; i < n_pixels; i++)
    batch->pixels[i] = (float) wp_rng_normal (&rng);
  batch->T = 1;
  for (int b = 0; b < BATCH; b++) {
    batch->lengths[b] =
      wp_tokenizer_encode (batch->model->tokenizer, captions[b], encoded[b], NULL, 32);
    batch->T = MAX (batch->T, batch->lengths[b]);
  }
  for (int b = 0; b < BATCH; b++) {
    for (int t = 0; t < batch->T; t++)
      batch->ids[b * batch->T + t] =
        t < batch->lengths[b] ? encoded[b][t] : encoded[b][batch->lengths[b] - 1];
  }
}

static void
batch_clear (Batch *batch)
{
  wp_model_free (batch->model);
  g_free (batch->pixels);
}

/* What an update test starts from: the batch, a new optimiser for its model, gradients of zero and
 * the default options of a 10-step run. */
typedef struct {
  Batch          batch;
  WpAdamW       *adamw;
  float         *grads;
  WpAdamWOptions options;
} Step;

static void
step_setup (Step         *step,
            gconstpointer data)
{
  batch_init (&step->batch);
  step->adamw = wp_adamw_new (step->batch.model->n_params);
  step->grads = g_new0 (float, step->batch.model->n_params);
  wp_adamw_options_init (&step->options, 10);
}

static void
step_teardown (Step         *step,
               gconstpointer data)
{
  wp_adamw_free (step->adamw);
  g_free (step->grads);
  batch_clear (&step->batch);
}

static double
loss_and_grads (Batch       *batch,
                WpLossState *state,
                WpObjective  objective,
                float       *grads)
{
  g_autoptr (GError) error = NULL;
  WpLossOptions options;
  WpLossParts   parts;
  WpParams      views;

  wp_loss_options_init (&options, objective);
  if (grads != NULL) {
    memset (grads, 0, batch->model->n_params * sizeof (float));
    wp_params_init_views (&views, &batch->model->config, batch->model->specs, grads);
  }
  wp_loss_compute (batch->model, state, &options, batch->pixels, batch->ids, batch->lengths, BATCH,
                   batch->T, NULL, grads != NULL ? &views : NULL, &parts, &error);
  g_assert_no_error (error);
  return parts.total;
}

static void
test_step_lowers_loss (Step         *step,
                       gconstpointer data)
{
  const WpObjective objective = GPOINTER_TO_INT (data);
  g_autoptr (WpLossState) state = wp_loss_state_new (&step->batch.model->config, BATCH);
  double before, after;

  /* Adam's first update moves every parameter that has a gradient by about lr, whatever its
   * gradient's size; at a 0.02-scale random init the layer norms make the loss sharply curved
   * (measured: lr 1e-4 overshoots the CLIP loss), so take the small step a warm-up starts with. */
  step->options.lr_max = 1e-5f;
  before = loss_and_grads (&step->batch, state, objective, step->grads);
  wp_adamw_update (step->adamw, step->batch.model, step->grads, &step->options);
  after = loss_and_grads (&step->batch, state, objective, NULL);
  g_test_message ("%s: loss %g -> %g", wp_objective_to_string (objective), before, after);
  g_assert_cmpfloat (after, <, before);
}

static void
test_logit_scale_clamped (Step         *step,
                          gconstpointer data)
{
  WpModel *model = step->batch.model;

  step->options.lr_max = 1.0f;
  *model->p.logit_scale = logf (99.0f);
  /* A large negative gradient pushes the scale up by about lr per step. */
  step->grads[model->p.logit_scale - model->params] = -1.0f;
  for (int i = 0; i < 3; i++)
    wp_adamw_update (step->adamw, model, step->grads, &step->options);
  g_assert_cmpfloat (expf (*model->p.logit_scale), <=, 100.0f + 1e-3f);
}

static void
test_decay_and_freeze (Step         *step,
                       gconstpointer data)
{
  WpModel          *model = step->batch.model;
  g_autofree float *before = g_memdup2 (model->params, model->n_params * sizeof (float));

  step->options.weight_decay = 0.5f;
  step->options.freeze_text = TRUE;
  /* Zero gradients: only weight decay can move a parameter. */
  wp_adamw_update (step->adamw, model, step->grads, &step->options);
  for (guint i = 0; i < model->n_specs; i++) {
    const WpTensorSpec *spec = &model->specs[i];
    gboolean            changed = memcmp (before + spec->offset, model->params + spec->offset,
                                          spec->numel * sizeof (float)) != 0;
    gboolean            expected = spec->decay && wp_adamw_is_trainable (&step->options, spec);

    if (changed != expected)
      g_test_fail_printf ("'%s' %s under weight decay with the text tower frozen", spec->name,
                          changed ? "changed" : "did not change");
  }
  g_assert_false (wp_adamw_is_trainable (&step->options, &model->specs[0]));
}

static void
test_clipping (Step         *step,
               gconstpointer data)
{
  const gsize n_params = step->batch.model->n_params;
  double      norm, m_norm = 0.0;

  for (gsize k = 0; k < n_params; k++)
    step->grads[k] = 1.0f;
  step->options.clip_norm = 2.0f;
  norm = wp_adamw_update (step->adamw, step->batch.model, step->grads, &step->options);
  g_assert_cmpfloat_with_epsilon (norm, sqrt ((double) n_params), 1e-3 * norm);
  for (gsize k = 0; k < n_params; k++)
    m_norm += (double) step->adamw->m[k] * step->adamw->m[k];
  /* m = (1 - beta1) g after one step, g clipped to norm 2. */
  g_assert_cmpfloat_with_epsilon (sqrt (m_norm), (1.0 - step->options.beta1) * 2.0, 1e-4);
}

static void
test_schedule (void)
{
  WpAdamWOptions options;

  wp_adamw_options_init (&options, 110);
  options.warmup_steps = 10;
  g_assert_cmpfloat_with_epsilon (wp_adamw_learning_rate (&options, 0), options.lr_max / 10, 1e-9);
  g_assert_cmpfloat_with_epsilon (wp_adamw_learning_rate (&options, 9), options.lr_max, 1e-9);
  g_assert_cmpfloat_with_epsilon (wp_adamw_learning_rate (&options, 10), options.lr_max, 1e-9);
  g_assert_cmpfloat_with_epsilon (wp_adamw_learning_rate (&options, 60),
                                  (options.lr_max + options.lr_min) / 2, 1e-8);
  g_assert_cmpfloat_with_epsilon (wp_adamw_learning_rate (&options, 110), options.lr_min, 1e-9);
  g_assert_cmpfloat_with_epsilon (wp_adamw_learning_rate (&options, 500), options.lr_min, 1e-9);
}

/* The memory a loss state needs grows with the batch; a batch that cannot fit is refused with a
 * message instead of aborting in an allocation. */
static void
test_loss_state_memory (void)
{
  g_autoptr (GError) error = NULL;
  WpClipConfig config;

  g_assert_true (wp_clip_config_init_preset (&config, "tiny", 1024, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (wp_loss_state_bytes (&config, 32), >, 0);
  g_assert_cmpuint (wp_loss_state_bytes (&config, 32), <, G_GUINT64_CONSTANT (1) << 30);
  g_assert_cmpuint (wp_loss_state_bytes (&config, 64), >, wp_loss_state_bytes (&config, 32));
  g_assert_true (wp_loss_state_check_fits (&config, 32, &error));
  g_assert_no_error (error);

  /* 4,096 patches of one pixel, 4,096 pairs: attention maps alone are terabytes. */
  config.patch_size = 1;
  g_assert_false (wp_loss_state_check_fits (&config, 4096, &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "a batch of 4096 pairs with 4096 patches an image"));
  g_assert_nonnull (strstr (error->message, "lower the batch"));
}

#define add_step_test(path, data, func) \
  g_test_add (path, Step, data, step_setup, func, step_teardown)

int
main (int    argc,
      char **argv)
{
  wp_test_init (&argc, &argv);
  add_step_test ("/adamw/step/lowers-clip-loss", GINT_TO_POINTER (WP_OBJECTIVE_CLIP),
                 test_step_lowers_loss);
  add_step_test ("/adamw/step/lowers-filip-loss", GINT_TO_POINTER (WP_OBJECTIVE_FILIP),
                 test_step_lowers_loss);
  add_step_test ("/adamw/step/lowers-sparc-loss", GINT_TO_POINTER (WP_OBJECTIVE_SPARC),
                 test_step_lowers_loss);
  add_step_test ("/adamw/logit-scale/clamped-at-100", NULL, test_logit_scale_clamped);
  add_step_test ("/adamw/decay/only-decayed-tensors-and-not-frozen", NULL, test_decay_and_freeze);
  add_step_test ("/adamw/clipping/global-norm", NULL, test_clipping);
  g_test_add_func ("/adamw/schedule/warmup-cosine", test_schedule);
  g_test_add_func ("/loss/state/memory-check", test_loss_state_memory);
  return g_test_run ();
}
