/* fuzz-dataset.c: a dataset folder's captions file, captions.jsonl or (odd first byte)
 * captions.tsv, the rest of the input being its text. The folder holds a.png (a valid image) and
 * b.png (not an image); lines naming other files are skipped as missing. An opened dataset goes
 * through everything training does with it: image checks, vocabulary coverage, batches with and
 * without augmentation. */
#include "fuzz.h"

#include <glib/gstdio.h>
#include <string.h>

#include "wordpatch/dataset.h"

static char     *dir;
static char     *jsonl_path;
static char     *tsv_path;
static WpModel  *model;
static const int batch = 4;

/* An 8 x 8 RGB PNG: a red-green gradient. */
static void
write_png (const char *path)
{
  g_autoptr (WpImage) image = wp_image_new (8, 8);
  g_autoptr (GError) error = NULL;

  for (int i = 0; i < 8 * 8; i++) {
    image->rgb[3 * i] = (guint8) (i * 4);
    image->rgb[3 * i + 1] = (guint8) (255 - i * 4);
  }
  wp_image_save_png (image, path, NULL, &error);
  g_assert_no_error (error);
}

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  g_autofree char *png = NULL;
  g_autofree char *not_png = NULL;
  g_autoptr (GError) error = NULL;
  WpClipConfig config;

  dir = g_strdup (fuzz_init ());
  jsonl_path = g_build_filename (dir, "captions.jsonl", NULL);
  tsv_path = g_build_filename (dir, "captions.tsv", NULL);
  png = g_build_filename (dir, "a.png", NULL);
  not_png = g_build_filename (dir, "b.png", NULL);
  write_png (png);
  fuzz_write_file (not_png, (const uint8_t *) "not an image", 12);

  /* A small model with CLIP's vocabulary: a 16-pixel input, context of 8 tokens. */
  wp_clip_config_init_default (&config);
  config.text = config.vision = (WpTowerConfig){ 8, 16, 1, 1, WP_ACTIVATION_QUICK_GELU, 1e-5f };
  config.context_length = 8;
  config.image_size = 16;
  config.patch_size = 8;
  config.projection_dim = 8;
  model = wp_model_new_random (&config, fuzz_clip_tokenizer (), 0, &error);
  g_assert_no_error (error);
  return 0;
}

static void
load_batches (const WpDataset *dataset)
{
  const int         S = model->config.image_size, K = model->config.context_length;
  g_autofree float *pixels = g_new (float, (gsize) batch * 3 * S * S);
  g_autofree int   *ids = g_new (int, (gsize) batch *K);
  int               lengths[4], T;
  guint             indices[4];
  guint64           seeds[4];
  WpAugmentOptions  augment;
  const guint       n = wp_dataset_get_n_pairs (dataset);

  wp_augment_options_init (&augment);
  for (int b = 0; b < batch; b++) {
    indices[b] = (guint) b % n;
    seeds[b] = (guint64) b;
  }
  g_assert_true (wp_dataset_load_batch (dataset, model, indices, batch, NULL, NULL, pixels, ids,
                                        lengths, &T, NULL, NULL));
  g_assert_true (wp_dataset_load_batch (dataset, model, indices, batch, &augment, seeds, pixels,
                                        ids, lengths, &T, NULL, NULL));
  g_assert_cmpint (T, >=, 2);
  g_assert_cmpint (T, <=, K);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr (WpDataset) dataset = NULL;
  g_auto (WpVocabularyCoverage) coverage = { 0 };
  g_autofree char *skipped = NULL;
  const gboolean   tsv = size > 0 && (data[0] & 1) != 0;

  if (size == 0)
    return 0;
  g_remove (tsv ? jsonl_path : tsv_path);
  fuzz_write_file (tsv ? tsv_path : jsonl_path, data + 1, size - 1);
  dataset = wp_dataset_open (dir, NULL);
  if (dataset == NULL)
    return 0;
  for (guint i = 0; i < wp_dataset_get_n_pairs (dataset); i++) {
    const WpPair *pair = wp_dataset_get_pair (dataset, i);

    g_assert_true (g_utf8_validate (pair->caption, -1, NULL));
    g_assert_cmpuint (strlen (pair->caption), <=, WP_DATASET_MAX_CAPTION);
    g_assert_cmpuint (pair->n_boxes, <=, WP_DATASET_MAX_BOXES);
    wp_caption_has_sides (pair->caption);
  }
  skipped = wp_dataset_describe_skipped (dataset);
  wp_dataset_get_vocabulary_coverage (dataset, model, &coverage);
  g_assert_cmpuint (coverage.captions, ==, wp_dataset_get_n_pairs (dataset));
  if (wp_dataset_check_images (dataset, 1, NULL, NULL))
    load_batches (dataset);
  return 0;
}
