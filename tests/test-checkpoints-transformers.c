/* test-checkpoints-transformers.c: transformers folders beyond one model.safetensors and
 * config.json: sharded folders (an index and its shards, each broken index named),
 * preprocessor_config.json and the preprocessing it asks for (resize size, squash, bilinear,
 * torchvision's rounded crop offset), and the text pooling rules. Models are tiny
 * (model-fixtures.c), their vocabulary learnt from three captions. */
#include <math.h>
#include <string.h>

#include "assert-config.h"
#include "model-fixtures.h"

/* ---- sharded transformers folders ---- */

static void
test_sharded_load (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("checkpoints");
  g_autofree char *folder = g_build_filename (dir, "sharded", NULL);
  g_autoptr (WpModel) model = new_small_model (6);
  g_autoptr (WpModel) loaded = NULL;
  g_autofree char *summary = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (wp_model_save (model, folder, &error));
  wp_test_shard_folder (folder, 3);
  loaded = load_ok (folder);
  g_assert_cmpuint (loaded->n_weight_files, ==, 3);
  g_assert_cmpint (loaded->format, ==, WP_MODEL_FORMAT_TRANSFORMERS);
  assert_params_equal (loaded, model);
  summary = wp_model_dup_summary (loaded);
  g_assert_nonnull (strstr (summary, "3 shards"));
  remove_tree (dir);
}

typedef struct {
  const char *name;
  const char *from; /* replaced in the index by to */
  const char *to;
  int         code;
  const char *fragment;
} BadIndex;

static const BadIndex bad_indexes[] = {
  { "outside-folder", "\"model-00001-of-00002.safetensors\"",
    "\"../model-00001-of-00002.safetensors\"",
    WP_ERROR_FORMAT, "must name a .safetensors file in the same folder" },
  { "wrong-shard", "\"logit_scale\": \"model-00002-of-00002.safetensors\"",
    "\"logit_scale\": \"model-00001-of-00002.safetensors\"", WP_ERROR_MISSING,
    "tensor 'logit_scale' is not in model-00001-of-00002.safetensors" },
  { "missing-shard", "\"logit_scale\": \"model-00002-of-00002.safetensors\"",
    "\"logit_scale\": \"model-00003-of-00002.safetensors\"", -1,
    "model-00003-of-00002.safetensors" },
  { "no-weight-map", "\"weight_map\"", "\"weights\"", WP_ERROR_FORMAT, "no \"weight_map\" object" },
  { "not-json", "}}", "}", WP_ERROR_FORMAT, "JSON" },
};

static void
test_sharded_bad_index (gconstpointer data)
{
  const BadIndex  *c = data;
  g_autofree char *dir = wp_test_make_tmp_dir ("checkpoints");
  g_autofree char *folder = g_build_filename (dir, "sharded", NULL);
  g_autofree char *index_path = NULL;
  g_autofree char *text = NULL;
  g_autoptr (WpModel) model = new_small_model (7);
  g_autoptr (WpModel) loaded = NULL;
  g_autoptr (GError) error = NULL;
  char           **parts;
  g_autofree char *edited = NULL;

  g_assert_true (wp_model_save (model, folder, &error));
  wp_test_shard_folder (folder, 2);
  index_path = g_build_filename (folder, "model.safetensors.index.json", NULL);
  g_assert_true (g_file_get_contents (index_path, &text, NULL, NULL));
  parts = g_strsplit (text, c->from, 2);
  g_assert_cmpuint (g_strv_length (parts), ==, 2);
  edited = g_strjoinv (c->to, parts);
  g_strfreev (parts);
  wp_test_write_text (folder, "model.safetensors.index.json", edited);

  loaded = wp_model_load (folder, &error);
  g_assert_null (loaded);
  if (c->code >= 0)
    g_assert_error (error, WP_ERROR, c->code);
  else
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  assert_error_mentions (error, c->fragment);
  remove_tree (dir);
}

/* A tensor in two shards is an error naming both. */
static void
test_sharded_duplicate (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("checkpoints");
  g_autofree char *folder = g_build_filename (dir, "sharded", NULL);
  g_autofree char *first = NULL;
  g_autoptr (WpModel) model = new_small_model (8);
  g_autoptr (GError) error = NULL;
  static const gint64 shape[1] = { 1 };
  const float         one = 1.0f;
  WpSafetensorsEntry  entry = { "logit_scale", 0, shape, &one, WP_DTYPE_F32 };

  g_assert_true (wp_model_save (model, folder, &error));
  wp_test_shard_folder (folder, 2);
  /* logit_scale is in shard 2 (its index is odd); shard 1 gets one too. */
  first = g_build_filename (folder, "model-00001-of-00002.safetensors", NULL);
  g_assert_true (wp_safetensors_write (first, &entry, 1, NULL, &error));
  expect_load_error (folder, WP_ERROR, WP_ERROR_FORMAT, "tensor 'logit_scale' is also in", NULL);
  remove_tree (dir);
}

/* ---- preprocessor_config.json ---- */

static gboolean
parse_preprocessor (WpClipConfig *config,
                    const char   *json,
                    GError      **error)
{
  wp_clip_config_init_default (config);
  config->image_size = 336;
  config->patch_size = 14;
  return wp_preprocess_parse (config, json, strlen (json), error);
}

static void
test_preprocessor_forms (void)
{
  WpClipConfig config;
  g_autoptr (GError) error = NULL;

  /* Older folders: numbers. */
  g_assert_true (parse_preprocessor (
    &config, "{\"size\": 336, \"crop_size\": 336, \"image_mean\": [0.5, 0.5, 0.5]}", &error));
  g_assert_no_error (error);
  g_assert_cmpint (config.preprocess.resize_size, ==, 0);
  g_assert_cmpint (config.preprocess.resize_mode, ==, WP_RESIZE_SHORTEST);
  g_assert_cmpfloat (config.image_mean[0], ==, 0.5f);

  g_assert_true (parse_preprocessor (&config,
                                     "{\"size\": {\"shortest_edge\": 384}, \"crop_size\": "
                                     "{\"height\": 336, \"width\": 336}, \"resample\": 2}",
                                     &error));
  g_assert_cmpint (config.preprocess.resize_size, ==, 384);
  g_assert_cmpint (wp_clip_config_resize_size (&config), ==, 384);
  g_assert_cmpint (config.preprocess.interpolation, ==, WP_INTERPOLATION_BILINEAR);

  /* SigLIP-style: squash to the size, no crop. */
  g_assert_true (parse_preprocessor (
    &config, "{\"size\": {\"height\": 336, \"width\": 336}, \"do_center_crop\": false}", &error));
  g_assert_cmpint (config.preprocess.resize_mode, ==, WP_RESIZE_SQUASH);
  g_assert_cmpint (config.preprocess.resize_size, ==, 0);
}

static void
test_preprocessor_round_trip (void)
{
  WpClipConfig     config, parsed;
  g_autofree char *json = NULL;
  g_autoptr (GError) error = NULL;

  wp_clip_config_init_default (&config);
  config.image_size = 336;
  config.patch_size = 14;
  config.preprocess.resize_size = 384;
  config.preprocess.resize_mode = WP_RESIZE_SQUASH;
  config.preprocess.interpolation = WP_INTERPOLATION_BILINEAR;
  config.image_mean[0] = 0.5f;
  json = wp_preprocess_to_json (&config);
  g_assert_true (parse_preprocessor (&parsed, json, &error));
  g_assert_no_error (error);
  wp_assert_clip_config_equal (&parsed, &config);
}

typedef struct {
  const char *name;
  const char *json;
  int         code;
  const char *fragment;
} BadPreprocessor;

static const BadPreprocessor bad_preprocessors[] = {
  { "crop-not-image", "{\"crop_size\": 224}", WP_ERROR_SHAPE,
    "crop_size 224 is not the model's image size 336" },
  { "resize-below-crop", "{\"size\": {\"shortest_edge\": 300}}", WP_ERROR_SHAPE,
    "resize size 300 must be between the image size 336" },
  { "nearest", "{\"resample\": 0}", WP_ERROR_UNSUPPORTED, "resample 0 is not supported" },
  { "no-normalize", "{\"do_normalize\": false}", WP_ERROR_UNSUPPORTED, "do_normalize" },
  { "rescale", "{\"rescale_factor\": 1.0}", WP_ERROR_UNSUPPORTED, "rescale_factor 1/255" },
  { "no-crop-shortest", "{\"do_center_crop\": false}", WP_ERROR_UNSUPPORTED, "do_center_crop" },
  { "rectangle", "{\"size\": {\"height\": 336, \"width\": 400}}", WP_ERROR_UNSUPPORTED,
    "size: only" },
  { "mean-string", "{\"image_mean\": \"imagenet\"}", WP_ERROR_FORMAT, "image_mean" },
};

static void
test_preprocessor_bad (gconstpointer data)
{
  const BadPreprocessor *c = data;
  WpClipConfig           config;
  g_autoptr (GError) error = NULL;

  g_assert_false (parse_preprocessor (&config, c->json, &error));
  g_assert_error (error, WP_ERROR, c->code);
  assert_error_mentions (error, c->fragment);
}

/* A folder's preprocessor_config.json is read and written back; a broken one is named. */
static void
test_preprocessor_folder (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("checkpoints");
  g_autofree char *folder = g_build_filename (dir, "model", NULL);
  g_autofree char *path = g_build_filename (folder, "preprocessor_config.json", NULL);
  g_autoptr (WpModel) model = new_small_model (9);
  g_autoptr (WpModel) loaded = NULL;
  g_autoptr (GError) error = NULL;

  model->config.preprocess.resize_size = 18;
  g_assert_true (wp_model_save (model, folder, &error));
  loaded = load_ok (folder);
  g_assert_cmpint (loaded->config.preprocess.resize_size, ==, 18);
  wp_test_write_text (folder, "preprocessor_config.json", "{\"resample\": 1}");
  expect_load_error (folder, WP_ERROR, WP_ERROR_UNSUPPORTED, path, "resample 1");
  remove_tree (dir);
}

/* ---- preprocessing ---- */

/* A width x height image whose every pixel differs. */
static WpImage *
ramp_image (int width,
            int height)
{
  WpImage *image = wp_image_new (width, height);

  for (int y = 0; y < height; y++) {
    for (int x = 0; x < width; x++) {
      for (int c = 0; c < 3; c++)
        image->rgb[((gsize) y * width + x) * 3 + c] = (guint8) ((x * 7 + y * 13 + c * 50) % 256);
    }
  }
  return image;
}

/* pixels (3, S, S) must be the S x S window at (left, top) of image, normalised by config. */
static void
assert_window (const float        *pixels,
               const WpImage      *image,
               const WpClipConfig *config,
               int                 S,
               int                 left,
               int                 top)
{
  for (int c = 0; c < 3; c++) {
    for (int y = 0; y < S; y++) {
      for (int x = 0; x < S; x++) {
        const guint8 v = image->rgb[((gsize) (top + y) * image->width + left + x) * 3 + c];
        const float  want = (v / 255.0f - config->image_mean[c]) / config->image_std[c];
        const float  got = pixels[((gsize) c * S + y) * S + x];

        if (fabsf (got - want) > 1e-6f) {
          g_test_fail_printf ("pixel (%d, %d, %d): %g, expected %g (window at %d, %d)", c, y, x,
                              got, want, left, top);
          return;
        }
      }
    }
  }
}

/* An excess of 3 rows: transformers crops at 1, torchvision (open_clip) at round(1.5) = 2; 7
 * columns: 3 and round(3.5) = 4. The image's shorter side is the size: no resampling. */
static void
test_preprocess_crop_offset (void)
{
  WpClipConfig config;
  g_autoptr (WpImage) tall = ramp_image (16, 19);
  g_autoptr (WpImage) wide = ramp_image (23, 16);
  float       pixels[3 * 16 * 16];
  WpImageCrop crop;

  openclip_tiny_config (&config);
  wp_image_preprocess (tall, &config, pixels, &crop);
  assert_window (pixels, tall, &config, 16, 0, 1);
  g_assert_cmpfloat (crop.y, ==, 1.0);
  wp_image_preprocess (wide, &config, pixels, &crop);
  assert_window (pixels, wide, &config, 16, 3, 0);

  config.preprocess.crop_offset = WP_CROP_OFFSET_ROUND;
  wp_image_preprocess (tall, &config, pixels, &crop);
  assert_window (pixels, tall, &config, 16, 0, 2);
  g_assert_cmpfloat (crop.y, ==, 2.0);
  wp_image_preprocess (wide, &config, pixels, &crop);
  assert_window (pixels, wide, &config, 16, 4, 0);
}

/* Resize size 20 before a crop of 16: an image with a shorter side of 20 is only cropped (at
 * (20 - 16) / 2 and floor((31 - 16) / 2)), and a view at the model's size is the same. */
static void
test_preprocess_resize_size (void)
{
  WpClipConfig config;
  g_autoptr (WpImage) image = ramp_image (20, 31);
  g_autofree float *view = NULL;
  float             pixels[3 * 16 * 16];
  WpImageCrop       crop, view_crop;
  WpViewOptions     options = { WP_CROP_CENTER, 0 };
  int               rows, cols;
  g_autoptr (GError) error = NULL;

  openclip_tiny_config (&config);
  config.preprocess.resize_size = 20;
  g_assert_true (wp_clip_config_validate (&config, NULL));
  wp_image_preprocess (image, &config, pixels, &crop);
  assert_window (pixels, image, &config, 16, 2, 7);
  g_assert_cmpfloat (crop.x, ==, 2.0);
  g_assert_cmpfloat (crop.width, ==, 16.0);

  view = wp_image_preprocess_view (image, &config, &options, &rows, &cols, &view_crop, &error);
  g_assert_no_error (error);
  g_assert_cmpint (rows, ==, 2);
  g_assert_cmpmem (view, sizeof pixels, pixels, sizeof pixels);
  g_assert_cmpfloat (view_crop.y, ==, crop.y);
}

/* Squash: the whole image to S x S, aspect lost, nothing cropped away. */
static void
test_preprocess_squash (void)
{
  WpClipConfig config;
  g_autoptr (WpImage) image = ramp_image (40, 20);
  g_autoptr (WpImage) squashed = NULL;
  float       pixels[3 * 16 * 16];
  WpImageCrop crop;

  openclip_tiny_config (&config);
  config.preprocess.resize_mode = WP_RESIZE_SQUASH;
  wp_image_preprocess (image, &config, pixels, &crop);
  squashed = wp_image_resize (image, 16, 16);
  assert_window (pixels, squashed, &config, 16, 0, 0);
  g_assert_cmpfloat (crop.x, ==, 0.0);
  g_assert_cmpfloat (crop.width, ==, 40.0);
  g_assert_cmpfloat (crop.height, ==, 20.0);
}

/* PIL's bilinear filter halving a row 0, 100, 200, 250: its triangle stretched to support 2
 * weighs samples 0, 1, 2 by 0.75, 0.75, 0.25 for the first output, so (75 + 50) / 1.75 = 71.4,
 * and 1, 2, 3 by 0.25, 0.75, 0.75 for the second, (25 + 150 + 187.5) / 1.75 = 207.1. Bicubic
 * gives other values. */
static void
test_preprocess_bilinear (void)
{
  static const guint8 row[4] = { 0, 100, 200, 250 };
  WpClipConfig        config;
  g_autoptr (WpImage) image = wp_image_new (4, 2);
  float       pixels[3 * 2 * 2];
  WpImageCrop crop;

  for (int y = 0; y < 2; y++) {
    for (int x = 0; x < 4; x++)
      memset (image->rgb + ((gsize) y * 4 + x) * 3, row[x], 3);
  }
  wp_clip_config_init_default (&config);
  config.image_size = 2;
  config.patch_size = 1;
  config.image_mean[0] = 0.0f;
  config.image_std[0] = 1.0f;
  config.preprocess.resize_mode = WP_RESIZE_SQUASH;
  config.preprocess.interpolation = WP_INTERPOLATION_BILINEAR;
  wp_image_preprocess (image, &config, pixels, &crop);
  g_assert_cmpfloat_with_epsilon (pixels[0] * 255.0f, 71.0f, 1e-3);
  g_assert_cmpfloat_with_epsilon (pixels[1] * 255.0f, 207.0f, 1e-3);
  config.preprocess.interpolation = WP_INTERPOLATION_BICUBIC;
  wp_image_preprocess (image, &config, pixels, &crop);
  g_assert_cmpfloat (fabsf (pixels[0] * 255.0f - 71.0f), >, 0.5f);
}

/* ---- text pooling ---- */

static void
test_pooling_rules (void)
{
  WpClipConfig config;
  const int    ids[] = { 49406, 320, 49407, 539, 49407 };
  const int    small[] = { 606, 12, 607, 30, 607 };

  wp_clip_config_init_default (&config);
  g_assert_cmpint (config.text_pooling, ==, WP_TEXT_POOL_EOS);
  g_assert_cmpint (wp_text_pooled_position (&config, ids, 5), ==, 2);
  /* A vocabulary whose end token is not the config's: the last token. */
  g_assert_cmpint (wp_text_pooled_position (&config, small, 5), ==, 4);
  config.text_pooling = WP_TEXT_POOL_ARGMAX;
  g_assert_cmpint (wp_text_pooled_position (&config, ids, 5), ==, 2);
  g_assert_cmpint (wp_text_pooled_position (&config, small, 5), ==, 2);
  g_assert_cmpint (wp_text_pooled_position (&config, ids, 2), ==, 0);
}

/* A caption that spells the end token is pooled there, as transformers and open_clip do. */
static void
test_pooling_embed (void)
{
  g_autoptr (WpModel) model = new_small_model (10);
  g_autoptr (WpTextEmbedding) text = wp_embed_text (model, "a <|endoftext|> cat");
  const int eos = wp_tokenizer_get_eos_id (model->tokenizer);
  float     pooled[8];
  int       first = 0;

  while (text->ids[first] != eos)
    first++;
  g_assert_cmpint (first, <, text->n_tokens - 2);
  g_assert_cmpint (text->ids[text->n_tokens - 1], ==, eos);
  wp_embed_pooled_texts (model, (const char *const[]){ "a <|endoftext|> cat" }, 1, pooled,
                         (float[8]){ 0 });
  g_assert_cmpmem (text->global, 8 * sizeof (float), text->tokens + first * 8, 8 * sizeof (float));
  g_assert_cmpmem (pooled, sizeof pooled, text->global, sizeof pooled);
}

int
main (int    argc,
      char **argv)
{
  int status;

  wp_test_init (&argc, &argv);

  g_test_add_func ("/checkpoints/sharded/load", test_sharded_load);
  wp_test_add_named_cases ("/checkpoints/sharded/bad-index", bad_indexes, test_sharded_bad_index);
  g_test_add_func ("/checkpoints/sharded/duplicate-tensor", test_sharded_duplicate);
  g_test_add_func ("/checkpoints/preprocessor/forms", test_preprocessor_forms);
  g_test_add_func ("/checkpoints/preprocessor/round-trip", test_preprocessor_round_trip);
  wp_test_add_named_cases ("/checkpoints/preprocessor/bad", bad_preprocessors,
                           test_preprocessor_bad);
  g_test_add_func ("/checkpoints/preprocessor/folder", test_preprocessor_folder);
  g_test_add_func ("/checkpoints/preprocess/crop-offset", test_preprocess_crop_offset);
  g_test_add_func ("/checkpoints/preprocess/resize-size", test_preprocess_resize_size);
  g_test_add_func ("/checkpoints/preprocess/squash", test_preprocess_squash);
  g_test_add_func ("/checkpoints/preprocess/bilinear", test_preprocess_bilinear);
  g_test_add_func ("/checkpoints/pooling/rules", test_pooling_rules);
  g_test_add_func ("/checkpoints/pooling/embed", test_pooling_embed);
  status = g_test_run ();
  learnt_tokenizer_clear ();
  return status;
}
