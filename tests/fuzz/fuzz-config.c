/* fuzz-config.c: config.json text. What the parser accepts must lay out a model within the
 * limits and survive a round trip through the writer. */
#include "fuzz.h"

#include <string.h>

#include "wordpatch/config.h"
#include "wordpatch/model.h"

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  return 0;
}

static void
assert_towers_equal (const WpTowerConfig *a,
                     const WpTowerConfig *b)
{
  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->mlp_width, ==, b->mlp_width);
  g_assert_cmpint (a->n_heads, ==, b->n_heads);
  g_assert_cmpint (a->n_layers, ==, b->n_layers);
  g_assert_cmpint (a->activation, ==, b->activation);
  g_assert_cmpfloat (a->layer_norm_eps, ==, b->layer_norm_eps);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  WpClipConfig     config, again;
  g_autofree char *json = NULL;
  WpTensorSpec    *specs;
  guint            n_specs;
  gsize            n_params;

  if (!wp_clip_config_parse (&config, (const char *) data, size, NULL))
    return 0;

  specs = wp_tensor_specs_new (&config, &n_specs, &n_params);
  g_assert_cmpuint (n_params, <=, WP_MAX_PARAMETERS);
  wp_tensor_specs_free (specs, n_specs);

  json = wp_clip_config_to_json (&config);
  g_assert_true (wp_clip_config_parse (&again, json, strlen (json), NULL));
  assert_towers_equal (&config.text, &again.text);
  assert_towers_equal (&config.vision, &again.vision);
  g_assert_cmpint (config.vocab_size, ==, again.vocab_size);
  g_assert_cmpint (config.context_length, ==, again.context_length);
  g_assert_cmpint (config.image_size, ==, again.image_size);
  g_assert_cmpint (config.patch_size, ==, again.patch_size);
  g_assert_cmpint (config.projection_dim, ==, again.projection_dim);
  g_assert_cmpfloat (config.logit_scale_init, ==, again.logit_scale_init);
  for (int c = 0; c < 3; c++) {
    g_assert_cmpfloat (config.image_mean[c], ==, again.image_mean[c]);
    g_assert_cmpfloat (config.image_std[c], ==, again.image_std[c]);
  }
  return 0;
}
