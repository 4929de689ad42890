/* assert-config.h: one field-by-field equality check of model configurations, for the unit
 * tests and the config fuzz target (which asserts that the writer round-trips what the parser
 * accepts). */
#pragma once

#include <glib.h>

#include "wordpatch/config.h"

static inline void
wp_assert_tower_config_equal (const WpTowerConfig *a,
                              const WpTowerConfig *b)
{
  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->mlp_width, ==, b->mlp_width);
  g_assert_cmpint (a->n_heads, ==, b->n_heads);
  g_assert_cmpint (a->n_layers, ==, b->n_layers);
  g_assert_cmpint (a->activation, ==, b->activation);
  g_assert_cmpfloat (a->layer_norm_eps, ==, b->layer_norm_eps);
}

static inline void
wp_assert_clip_config_equal (const WpClipConfig *a,
                             const WpClipConfig *b)
{
  g_assert_cmpint (a->family, ==, b->family);
  wp_assert_tower_config_equal (&a->text, &b->text);
  wp_assert_tower_config_equal (&a->vision, &b->vision);
  g_assert_cmpint (a->vocab_size, ==, b->vocab_size);
  g_assert_cmpint (a->context_length, ==, b->context_length);
  g_assert_cmpint (a->bos_token_id, ==, b->bos_token_id);
  g_assert_cmpint (a->eos_token_id, ==, b->eos_token_id);
  g_assert_cmpint (a->pad_token_id, ==, b->pad_token_id);
  g_assert_cmpint (a->image_size, ==, b->image_size);
  g_assert_cmpint (a->patch_size, ==, b->patch_size);
  g_assert_cmpint (a->projection_dim, ==, b->projection_dim);
  g_assert_cmpfloat (a->logit_scale_init, ==, b->logit_scale_init);
  g_assert_cmpint (a->text_pooling, ==, b->text_pooling);
  g_assert_cmpint (a->preprocess.resize_size, ==, b->preprocess.resize_size);
  g_assert_cmpint (a->preprocess.resize_mode, ==, b->preprocess.resize_mode);
  g_assert_cmpint (a->preprocess.interpolation, ==, b->preprocess.interpolation);
  g_assert_cmpint (a->preprocess.crop_offset, ==, b->preprocess.crop_offset);
  for (int c = 0; c < 3; c++) {
    g_assert_cmpfloat (a->image_mean[c], ==, b->image_mean[c]);
    g_assert_cmpfloat (a->image_std[c], ==, b->image_std[c]);
  }
}
