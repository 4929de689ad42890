/* model-fixtures.c: what the test-model*.c and test-checkpoints*.c programs share
 * (model-fixtures.h). */
#include "model-fixtures.h"

#include <string.h>

#include "assert-config.h"

/* What the two tiny configurations share: OpenAI's vocabulary size, a 16-token context, 16-pixel
 * images of 8-pixel patches, 8-wide embeddings and a preprocessing off the default. */
static void
tiny_sizes (WpClipConfig *config)
{
  wp_clip_config_init_default (config);
  config->vocab_size = CLIP_VOCAB;
  config->context_length = 16;
  config->image_size = 16;
  config->patch_size = 8;
  config->projection_dim = 8;
  config->image_mean[1] = 0.25f;
  config->image_std[2] = 0.5f;
}

void
tiny_config (WpClipConfig *config)
{
  tiny_sizes (config);
  config->text = (WpTowerConfig){ 16, 32, 2, 1, WP_ACTIVATION_QUICK_GELU, 1e-5f };
  config->vision = (WpTowerConfig){ 32, 64, 2, 2, WP_ACTIVATION_GELU, 1e-6f };
  config->logit_scale_init = 2.5f;
}

WpModel *
new_tiny_model (guint64 seed)
{
  WpClipConfig config;
  g_autoptr (GError) error = NULL;
  WpModel *model;

  tiny_config (&config);
  model = wp_model_new_random (&config, wp_test_clip_tokenizer (), seed, &error);
  g_assert_no_error (error);
  g_assert_nonnull (model);
  return model;
}

void
openclip_tiny_config (WpClipConfig *config)
{
  tiny_sizes (config);
  config->text = (WpTowerConfig){ 16, 40, 2, 1, WP_ACTIVATION_GELU, 1e-5f };
  config->vision = (WpTowerConfig){ 24, 48, 2, 2, WP_ACTIVATION_GELU_TANH, 1e-6f };
}

static WpTokenizer *learnt;

WpTokenizer *
learnt_tokenizer (void)
{
  static const char *const texts[] = { "a photo of a cat", "a cat on a mat", "two cats" };
  const char              *vocab, *merges;
  gsize                    vocab_len, merges_len;

  if (learnt == NULL)
    learnt = wp_tokenizer_learn (texts, G_N_ELEMENTS (texts), 560, NULL);
  g_assert_nonnull (learnt);
  vocab = wp_tokenizer_get_vocab_json (learnt, &vocab_len);
  merges = wp_tokenizer_get_merges_txt (learnt, &merges_len);
  return wp_tokenizer_new_from_data (vocab, vocab_len, merges, merges_len, NULL);
}

void
learnt_tokenizer_clear (void)
{
  g_clear_pointer (&learnt, wp_tokenizer_free);
}

WpModel *
new_openclip_model (guint64      seed,
                    WpTokenizer *tokenizer)
{
  WpClipConfig config;
  g_autoptr (GError) error = NULL;
  WpModel *model;

  openclip_tiny_config (&config);
  config.vocab_size = wp_tokenizer_get_n_vocab (tokenizer);
  model = wp_model_new_random (&config, tokenizer, seed, &error);
  g_assert_no_error (error);
  return model;
}

WpModel *
new_small_model (guint64 seed)
{
  return new_openclip_model (seed, learnt_tokenizer ());
}

WpModel *
load_ok (const char *path)
{
  g_autoptr (GError) error = NULL;
  WpModel *model = wp_model_load (path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (model);
  return model;
}

void
expect_load_error (const char *path,
                   GQuark      domain,
                   int         code,
                   const char *fragment1,
                   const char *fragment2)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = wp_model_load (path, &error);

  g_assert_null (model);
  g_assert_error (error, domain, code);
  assert_error_mentions (error, fragment1);
  if (fragment2 != NULL)
    assert_error_mentions (error, fragment2);
}

void
assert_params_equal (const WpModel *a,
                     const WpModel *b)
{
  g_assert_cmpuint (a->n_params, ==, b->n_params);
  for (guint i = 0; i < a->n_specs; i++) {
    const WpTensorSpec *spec = &a->specs[i];

    if (memcmp (a->params + spec->offset, b->params + spec->offset,
                spec->numel * sizeof (float)) != 0) {
      g_test_fail_printf ("tensor '%s' differs", spec->name);
      return;
    }
  }
}

void
assert_models_equal (const WpModel *a,
                     const WpModel *b)
{
  wp_assert_clip_config_equal (&a->config, &b->config);
  g_assert_cmpuint (a->n_specs, ==, b->n_specs);
  g_assert_cmpint (a->step, ==, b->step);
  g_assert_cmpint (wp_tokenizer_get_n_vocab (a->tokenizer), ==,
                   wp_tokenizer_get_n_vocab (b->tokenizer));
  g_assert_cmpint (wp_tokenizer_get_n_merges (a->tokenizer), ==,
                   wp_tokenizer_get_n_merges (b->tokenizer));
  assert_params_equal (a, b);
}
