/* test-towers.c: both towers' backward passes against central finite differences of their
 * forward passes, on a small random CLIP and SigLIP model: sampled elements of every parameter
 * tensor. */
#include <math.h>
#include <string.h>

#include "test-util.h"
#include "wordpatch/rng.h"
#include "wordpatch/text.h"
#include "wordpatch/vision.h"

#define BATCH 2
#define SEQ   5

typedef struct {
  WpModel       *model;
  WpVisionState *vision;
  WpTextState   *text;
  float         *pixels, *dvision, *dtext;
  int            ids[BATCH * SEQ];
  int            lengths[BATCH];
} Fixture;

static WpModel *
small_model (WpModelFamily family)
{
  g_autoptr (GError) error = NULL;
  WpTokenizer *tokenizer = wp_test_clip_tokenizer ();
  WpClipConfig config;
  WpModel     *model;
  WpRng        rng;

  if (family == WP_MODEL_FAMILY_SIGLIP) {
    /* The text tower runs on its whole context; the embedding is the vision width. */
    wp_siglip_config_init_default (&config);
    config.text = (WpTowerConfig){ 6, 12, 2, 2, WP_ACTIVATION_GELU_TANH, 1e-6f };
    config.vision = (WpTowerConfig){ 8, 12, 2, 2, WP_ACTIVATION_GELU_TANH, 1e-6f };
    config.context_length = SEQ;
    config.projection_dim = 8;
    config.vocab_size = 49408;
  } else {
    wp_clip_config_init_default (&config);
    config.text = (WpTowerConfig){ 8, 12, 2, 2, WP_ACTIVATION_QUICK_GELU, 1e-5f };
    config.vision = (WpTowerConfig){ 8, 12, 2, 2, WP_ACTIVATION_GELU, 1e-5f };
    config.context_length = 8;
    config.projection_dim = 6;
  }
  config.image_size = 8;
  config.patch_size = 4;
  model = wp_model_new_random (&config, tokenizer, 3, &error);
  g_assert_no_error (error);
  /* Larger, non-zero weights everywhere so that every gradient is visible. */
  wp_rng_init (&rng, 5);
  for (guint i = 0; i < model->n_specs; i++) {
    const WpTensorSpec *spec = &model->specs[i];
    gboolean            gain = g_str_has_suffix (spec->name, "norm.weight") ||
                    g_str_has_suffix (spec->name, "norm1.weight") ||
                    g_str_has_suffix (spec->name, "norm2.weight") ||
                    g_str_has_suffix (spec->name, "layrnorm.weight");

    for (gsize k = 0; k < spec->numel; k++)
      model->params[spec->offset + k] = (float) ((gain ? 1.0 : 0.0) + 0.4 * wp_rng_normal (&rng));
  }
  return model;
}

static double
probe (Fixture *f)
{
  const WpClipConfig *c = &f->model->config;
  const gsize         nv = (gsize) BATCH * (wp_clip_config_n_patches (c) + 1) * c->projection_dim;
  const gsize         nt = (gsize) BATCH * SEQ * c->projection_dim;
  const float        *vo, *to;
  double              sum = 0.0;

  wp_vision_forward (f->model, f->vision, f->pixels, BATCH);
  wp_text_forward (f->model, f->text, f->ids, f->lengths, BATCH, SEQ);
  vo = wp_vision_state_get_output (f->vision);
  to = wp_text_state_get_output (f->text);
  for (gsize i = 0; i < nv; i++)
    sum += (double) f->dvision[i] * vo[i];
  for (gsize i = 0; i < nt; i++)
    sum += (double) f->dtext[i] * to[i];
  return sum;
}

static void
test_backward_matches_finite_differences (gconstpointer data)
{
  const WpModelFamily family = GPOINTER_TO_INT (data);
  Fixture             f = { 0 };
  const WpClipConfig *c;
  g_autofree float   *grads = NULL;
  WpParams            g;
  WpRng               rng;
  gsize               nv, nt;
  double              worst = 0.0, largest = 1e-9;
  const char         *worst_name = "";

  f.model = small_model (family);
  c = &f.model->config;
  f.vision = wp_vision_state_new (c, BATCH);
  f.text = wp_text_state_new (c, BATCH);
  nv = (gsize) BATCH * (wp_clip_config_n_patches (c) + 1) * c->projection_dim;
  nt = (gsize) BATCH * SEQ * c->projection_dim;
  f.pixels = g_new (float, (gsize) BATCH * 3 * c->image_size * c->image_size);
  f.dvision = g_new (float, nv);
  f.dtext = g_new0 (float, nt);
  wp_rng_init (&rng, 9);
  for (gsize i = 0; i < (gsize) BATCH * 3 * c->image_size * c->image_size; i++)
    f.pixels[i] = (float) wp_rng_normal (&rng);
  for (gsize i = 0; i < nv; i++)
    f.dvision[i] = (float) wp_rng_normal (&rng);
  /* Caption 1 is shorter: its padding slots get no gradient, as the objectives give none, but
   * for SigLIP's pooled last position. */
  f.lengths[0] = SEQ;
  f.lengths[1] = 3;
  for (int b = 0; b < BATCH; b++) {
    for (int t = 0; t < SEQ; t++) {
      f.ids[b * SEQ + t] = 320 + 7 * t + b;
      if (t < f.lengths[b] || (family == WP_MODEL_FAMILY_SIGLIP && t == SEQ - 1)) {
        for (int e = 0; e < c->projection_dim; e++)
          f.dtext[(b * SEQ + t) * c->projection_dim + e] = (float) wp_rng_normal (&rng);
      }
    }
  }

  grads = g_new0 (float, f.model->n_params);
  wp_params_init_views (&g, c, f.model->specs, grads);
  probe (&f);
  wp_vision_backward (f.model, f.vision, f.dvision, &g);
  wp_text_backward (f.model, f.text, f.dtext, &g);

  for (guint i = 0; i < f.model->n_specs; i++) {
    const WpTensorSpec *spec = &f.model->specs[i];
    const gboolean      tokens =
      strcmp (spec->name, "text_model.embeddings.token_embedding.weight") == 0;

    for (int sample = 0; sample < 6; sample++) {
      gsize  k = tokens
                   ? (gsize) f.ids[sample % (BATCH * SEQ)] * c->text.width + sample % c->text.width
                   : (gsize) (wp_rng_next (&rng) % spec->numel);
      float *x = f.model->params + spec->offset + k;
      float  saved = *x;
      double numeric;

      *x = saved + 1e-2f;
      numeric = probe (&f);
      *x = saved - 1e-2f;
      numeric = (numeric - probe (&f)) / 2e-2;
      *x = saved;
      largest = fmax (largest, fabs (numeric));
      if (fabs (numeric - grads[spec->offset + k]) > worst) {
        worst = fabs (numeric - grads[spec->offset + k]);
        worst_name = spec->name;
      }
    }
  }
  if (worst > 2e-3 * largest)
    g_test_fail_printf ("gradient of '%s' off by %g (largest gradient %g)", worst_name, worst,
                        largest);
  g_test_message ("worst gradient error %g, largest gradient %g", worst, largest);

  wp_vision_state_free (f.vision);
  wp_text_state_free (f.text);
  wp_model_free (f.model);
  g_free (f.pixels);
  g_free (f.dvision);
  g_free (f.dtext);
}

int
main (int    argc,
      char **argv)
{
  wp_test_init (&argc, &argv);
  g_test_add_data_func ("/towers/backward/finite-differences",
                        GINT_TO_POINTER (WP_MODEL_FAMILY_CLIP),
                        test_backward_matches_finite_differences);
  g_test_add_data_func ("/towers/backward/siglip/finite-differences",
                        GINT_TO_POINTER (WP_MODEL_FAMILY_SIGLIP),
                        test_backward_matches_finite_differences);
  return g_test_run ();
}
