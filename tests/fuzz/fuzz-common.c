#include "fuzz.h"

#include <glib/gstdio.h>
#include <stdlib.h>

#include <string.h>

#include "wordpatch/dataset.h"
#include "wordpatch/model.h"
#include "wordpatch/tokenizer.h"

static char *tmp_dir;

/* Removes path and, when it is a folder (not a link to one), everything in it. */
static void
remove_path (const char *path)
{
  g_autoptr (GDir) dir = NULL;
  const char *name;

  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    dir = g_dir_open (path, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *child = g_build_filename (path, name, NULL);

    remove_path (child);
  }
  g_remove (path);
}

static void
remove_tmp_dir (void)
{
  remove_path (tmp_dir);
}

const char *
fuzz_init (void)
{
  g_autoptr (GError) error = NULL;

  g_log_set_always_fatal (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  tmp_dir = g_dir_make_tmp ("wp-fuzz-XXXXXX", &error);
  g_assert_no_error (error);
  atexit (remove_tmp_dir);
  return tmp_dir;
}

void
fuzz_write_file (const char    *path,
                 const uint8_t *data,
                 size_t         size)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, (const char *) data, (gssize) size, &error);
  g_assert_no_error (error);
}

void
fuzz_assert_within_limits (const WpClipConfig *config)
{
  WpTensorSpec *specs;
  guint         n_specs;
  gsize         n_params;

  specs = wp_tensor_specs_new (config, &n_specs, &n_params);
  g_assert_cmpuint (n_params, <=, WP_MAX_PARAMETERS);
  wp_tensor_specs_free (specs, n_specs);
}

WpTokenizer *
fuzz_clip_tokenizer (void)
{
  static WpTokenizer *tokenizer;

  if (tokenizer == NULL) {
    g_autofree char *dir = wp_data_find ("clip-bpe");
    g_autofree char *vocab = NULL;
    g_autofree char *merges = NULL;
    g_autoptr (GError) error = NULL;

    g_assert_nonnull (dir);
    vocab = g_build_filename (dir, "vocab.json", NULL);
    merges = g_build_filename (dir, "merges.txt", NULL);
    tokenizer = wp_tokenizer_new_from_files (vocab, merges, &error);
    g_assert_no_error (error);
  }
  return tokenizer;
}

void
fuzz_write_png (const char *path)
{
  g_autoptr (WpImage) image = wp_image_new (8, 8);
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  for (int i = 0; i < 8 * 8; i++) {
    image->rgb[3 * i] = (guint8) (i * 4);
    image->rgb[3 * i + 1] = (guint8) (255 - i * 4);
  }
  wp_image_save_png (image, path, NULL, &error);
  g_assert_no_error (error);
}

void
fuzz_write_images (const char *dir)
{
  g_autofree char *png = g_build_filename (dir, "a.png", NULL);
  g_autofree char *not_png = g_build_filename (dir, "b.png", NULL);

  fuzz_write_png (png);
  fuzz_write_file (not_png, (const uint8_t *) "not an image", 12);
}

/* A small model with CLIP's vocabulary: a 16-pixel input, a context of 8 tokens. */
static WpModel *
small_model (void)
{
  static WpModel *model;

  if (model == NULL) {
    g_autoptr (GError) error = NULL;
    WpClipConfig config;

    wp_clip_config_init_default (&config);
    config.text = config.vision = (WpTowerConfig){ 8, 16, 1, 1, WP_ACTIVATION_QUICK_GELU, 1e-5f };
    config.context_length = 8;
    config.image_size = 16;
    config.patch_size = 8;
    config.projection_dim = 8;
    model = wp_model_new_random (&config, fuzz_clip_tokenizer (), 0, &error);
    g_assert_no_error (error);
  }
  return model;
}

static void
use_dataset (WpDataset *dataset)
{
  const WpModel    *model = small_model ();
  const int         B = 4, S = model->config.image_size, K = model->config.context_length;
  g_autofree float *pixels = g_new (float, (gsize) B * 3 * S * S);
  g_autofree int   *ids = g_new (int, (gsize) B *K);
  g_auto (WpVocabularyCoverage) coverage = { 0 };
  g_autofree char *skipped = NULL;
  int              lengths[4], T;
  guint            indices[4];
  guint64          seeds[4];
  WpAugmentOptions augment;

  for (guint i = 0; i < wp_dataset_get_n_pairs (dataset); i++) {
    const WpPair *pair = wp_dataset_get_pair (dataset, i);
    g_autoptr (WpImage) image = wp_dataset_load_image (dataset, i, NULL);

    if (image != NULL)
      g_assert_true (image->width > 0 && image->height > 0);
    g_assert_true (g_utf8_validate (pair->caption, -1, NULL));
    g_assert_cmpuint (strlen (pair->caption), <=, WP_DATASET_MAX_CAPTION);
    g_assert_cmpuint (pair->n_boxes, <=, WP_DATASET_MAX_BOXES);
    wp_caption_has_sides (pair->caption);
    for (guint b = 0; b < pair->n_boxes; b++)
      g_assert_true (pair->boxes[b].w > 0.0 && pair->boxes[b].h > 0.0);
  }
  skipped = wp_dataset_describe_skipped (dataset);
  wp_dataset_get_vocabulary_coverage (dataset, model, &coverage);
  g_assert_cmpuint (coverage.captions, ==, wp_dataset_get_n_pairs (dataset));
  if (!wp_dataset_check_images (dataset, 2, NULL, NULL))
    return;
  wp_augment_options_init (&augment);
  for (int b = 0; b < B; b++) {
    indices[b] = (guint) b % wp_dataset_get_n_pairs (dataset);
    seeds[b] = (guint64) b;
  }
  g_assert_true (wp_dataset_load_batch (dataset, model, indices, B, NULL, NULL, pixels, ids,
                                        lengths, &T, NULL, NULL));
  g_assert_true (wp_dataset_load_batch (dataset, model, indices, B, &augment, seeds, pixels, ids,
                                        lengths, &T, NULL, NULL));
  g_assert_cmpint (T, >=, 2);
  g_assert_cmpint (T, <=, K);
}

void
fuzz_open_dataset (const char             *path,
                   const WpDatasetOptions *options)
{
  g_autoptr (WpDataset) dataset = wp_dataset_open_full (path, options, NULL);

  if (dataset != NULL)
    use_dataset (dataset);
}
