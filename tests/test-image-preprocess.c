/* test-image-preprocess.c: resizing, CLIP's preprocessing and augmentation.
 *
 * Preprocessing is checked against its definition: (x / 255 - mean) / std with no resampling at
 * S x S, PIL-style antialiased bicubic otherwise, and the centre crop's place in the original
 * image. */
#include <math.h>
#include <string.h>

#include "test-util.h"
#include "wordpatch/augment.h"
#include "wordpatch/config.h"
#include "wordpatch/error.h"
#include "wordpatch/image.h"

/* ---- resizing and preprocessing ---- */

static WpImage *
constant_image (int    width,
                int    height,
                guint8 r,
                guint8 g,
                guint8 b)
{
  WpImage *image = wp_image_new (width, height);

  for (int i = 0; i < width * height; i++) {
    image->rgb[3 * i] = r;
    image->rgb[3 * i + 1] = g;
    image->rgb[3 * i + 2] = b;
  }
  return image;
}

static void
test_resize_constant (void)
{
  g_autoptr (WpImage) image = constant_image (37, 23, 10, 128, 250);
  const int sizes[][2] = { { 16, 9 }, { 50, 40 }, { 37, 5 }, { 1, 1 }, { 100, 23 } };

  for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++) {
    g_autoptr (WpImage) resized = wp_image_resize (image, sizes[s][0], sizes[s][1]);

    g_assert_cmpint (resized->width, ==, sizes[s][0]);
    g_assert_cmpint (resized->height, ==, sizes[s][1]);
    for (int i = 0; i < resized->width * resized->height; i++) {
      const guint8 *p = resized->rgb + 3 * i;

      if (p[0] != 10 || p[1] != 128 || p[2] != 250) {
        g_test_fail_printf ("resize to %d x %d: pixel %d is (%d, %d, %d), expected (10, 128, 250)",
                            sizes[s][0], sizes[s][1], i, p[0], p[1], p[2]);
        return;
      }
    }
  }
}

/* Pillow 9.4's Image.resize (BICUBIC) of the 13 x 9 wp_test_pattern_pixels() image, as
 * transformers' CLIPImageProcessor calls it: downscaled to 6 x 4 (both axes shrink) and resized to
 * 5 x 12 (one shrinks, one grows). */
static const guint8 pil_6x4[6 * 4 * 3] = {
  30, 122, 200, 107, 199, 78, 197, 89, 109, 75, 96, 197, 87, 191, 64, 172, 137, 89,
  54, 151, 175, 133, 182, 58, 205, 48, 139, 82, 128, 201, 113, 202, 74, 197, 66, 115,
  80, 182, 106, 165, 115, 73, 174, 64, 172, 55, 162, 160, 145, 156, 58, 219, 52, 146,
  104, 207, 44, 190, 110, 103, 102, 85, 193, 78, 188, 88, 175, 157, 84, 154, 65, 170
};

static const guint8 pil_5x12[5 * 12 * 3] = {
  31, 126, 214, 132, 183, 97, 142, 64, 150, 54, 158, 104, 155, 160, 67, 38, 133, 176,
  139, 196, 70, 149, 73, 161, 61, 165, 111, 162, 174, 74, 47, 145, 156, 148, 169, 56,
  158, 73, 173, 70, 173, 120, 171, 140, 83, 55, 158, 170, 156, 116, 68, 167, 67, 181,
  78, 180, 129, 179, 74, 91, 64, 166, 183, 165, 128, 77, 179, 76, 190, 87, 189, 141,
  188, 87, 99, 72, 175, 117, 173, 144, 84, 119, 84, 184, 95, 201, 88, 196, 101, 112,
  80, 178, 81, 181, 113, 91, 86, 97, 184, 103, 188, 60, 204, 82, 124, 88, 177, 98,
  190, 57, 99, 102, 113, 194, 111, 161, 75, 213, 44, 131, 96, 186, 110, 199, 69, 107,
  113, 121, 205, 119, 171, 84, 225, 55, 139, 108, 194, 58, 180, 78, 125, 72, 129, 164,
  137, 180, 65, 173, 64, 151, 119, 203, 32, 173, 87, 140, 52, 138, 144, 152, 189, 58,
  147, 73, 162, 126, 210, 45, 183, 94, 146, 64, 145, 156, 158, 196, 68, 160, 80, 169
};

static void
check_against_pil (const WpImage *image,
                   int            width,
                   int            height,
                   const guint8  *want)
{
  g_autoptr (WpImage) resized = wp_image_resize (image, width, height);
  int max_diff = 0;

  for (int i = 0; i < width * height * 3; i++)
    max_diff = MAX (max_diff, abs ((int) resized->rgb[i] - (int) want[i]));
  /* Pillow works in fixed point; one level of rounding difference is allowed. */
  if (max_diff > 1)
    g_test_fail_printf ("resize to %d x %d differs from Pillow by up to %d levels", width, height,
                        max_diff);
}

static void
test_resize_matches_pil (void)
{
  g_autofree guint8 *pixels = wp_test_pattern_pixels (13, 9, 3);
  g_autoptr (WpImage) image = wp_image_new (13, 9);

  memcpy (image->rgb, pixels, 13 * 9 * 3);
  check_against_pil (image, 6, 4, pil_6x4);
  check_against_pil (image, 5, 12, pil_5x12);
}

/* A 1-pixel checkerboard halved: antialiasing averages it to grey; point sampling would keep one
 * colour of the two everywhere. */
static void
test_resize_antialiased (void)
{
  g_autoptr (WpImage) board = wp_image_new (32, 32);
  g_autoptr (WpImage) half = NULL;
  int min = 255, max = 0;

  for (int y = 0; y < 32; y++) {
    for (int x = 0; x < 32; x++)
      memset (board->rgb + ((gsize) y * 32 + x) * 3, (x + y) % 2 ? 255 : 0, 3);
  }
  half = wp_image_resize (board, 16, 16);
  for (int y = 0; y < 16; y++) {
    for (int x = 0; x < 16; x++) {
      const int v = half->rgb[((gsize) y * 16 + x) * 3];

      min = MIN (min, v);
      max = MAX (max, v);
      /* Away from the borders every output pixel sees the same mix. */
      if (x >= 2 && x < 14 && y >= 2 && y < 14 && abs (v - 128) > 2)
        g_test_fail_printf ("pixel (%d, %d) is %d, expected about 128", x, y, v);
    }
  }
  g_assert_cmpint (min, >=, 96);
  g_assert_cmpint (max, <=, 160);
}

/* Upscaling by 2 keeps the image's values where the kernel lands on source pixels' neighbourhood:
 * a horizontal ramp stays monotonic and within its range. */
static void
test_resize_upscale_ramp (void)
{
  g_autoptr (WpImage) ramp = wp_image_new (8, 2);
  g_autoptr (WpImage) big = NULL;

  for (int y = 0; y < 2; y++) {
    for (int x = 0; x < 8; x++)
      memset (ramp->rgb + ((gsize) y * 8 + x) * 3, 30 * x, 3);
  }
  big = wp_image_resize (ramp, 16, 4);
  for (int y = 0; y < 4; y++) {
    for (int x = 1; x < 16; x++)
      g_assert_cmpuint (big->rgb[((gsize) y * 16 + x) * 3], >=,
                        big->rgb[((gsize) y * 16 + x - 1) * 3]);
  }
  g_assert_cmpuint (big->rgb[0], <=, 10);
  g_assert_cmpuint (big->rgb[15 * 3], >=, 200);
}

static void
small_config (WpClipConfig *config,
              int           S)
{
  wp_clip_config_init_default (config);
  config->image_size = S;
  config->patch_size = S / 2;
}

/* The crop, in the original image's pixels, is x, y, width, height. */
static void
assert_crop (const WpImageCrop *crop,
             double             x,
             double             y,
             double             width,
             double             height)
{
  g_assert_cmpfloat_with_epsilon (crop->x, x, 1e-9);
  g_assert_cmpfloat_with_epsilon (crop->y, y, 1e-9);
  g_assert_cmpfloat_with_epsilon (crop->width, width, 1e-9);
  g_assert_cmpfloat_with_epsilon (crop->height, height, 1e-9);
}

/* Every pixel of the three S x S planes is the colour (r, g, b) normalised. */
static void
assert_constant (const float        *pixels,
                 int                 S,
                 const WpClipConfig *config,
                 int                 r,
                 int                 g,
                 int                 b)
{
  const int rgb[3] = { r, g, b };

  for (int c = 0; c < 3; c++) {
    const float want = (rgb[c] / 255.0f - config->image_mean[c]) / config->image_std[c];

    for (int i = 0; i < S * S; i++)
      g_assert_cmpfloat_with_epsilon (pixels[c * S * S + i], want, 1e-5);
  }
}

/* How a view sees an image: the grid, the region and the pixels. Centre crop at the model's own
 * size is exactly CLIP's preprocessing; the whole image keeps its aspect in multiples of the
 * patch; a view of too many patches or out of range is an error. */
static void
test_preprocess_view (void)
{
  WpClipConfig config;
  g_autoptr (WpImage) image = wp_image_new (80, 60);
  g_autoptr (GRand) rand = g_rand_new_with_seed (3);
  g_autofree float *clip = NULL, *centre = NULL, *whole = NULL, *bigger = NULL;
  g_autoptr (GError) error = NULL;
  const WpViewOptions own = { WP_CROP_CENTER, 0 }, none = { WP_CROP_NONE, 0 };
  const WpViewOptions twice = { WP_CROP_CENTER, 33 }, huge = { WP_CROP_NONE, 4000 };
  const WpViewOptions negative = { WP_CROP_NONE, -1 };
  WpImageCrop         clip_crop, crop;
  int                 rows, cols;

  small_config (&config, 16);
  config.patch_size = 4;
  for (int i = 0; i < 80 * 60 * 3; i++)
    image->rgb[i] = (guint8) g_rand_int_range (rand, 0, 256);
  clip = g_new (float, 3 * 16 * 16);
  wp_image_preprocess (image, &config, clip, &clip_crop);

  centre = wp_image_preprocess_view (image, &config, &own, &rows, &cols, &crop, &error);
  g_assert_no_error (error);
  g_assert_cmpint (rows, ==, 4);
  g_assert_cmpint (cols, ==, 4);
  g_assert_cmpmem (centre, 3 * 16 * 16 * sizeof (float), clip, 3 * 16 * 16 * sizeof (float));
  g_assert_cmpmem (&crop, sizeof crop, &clip_crop, sizeof clip_crop);

  /* 60 pixels become 16, 80 become 21.3: 20, the nearest multiple of 4. */
  whole = wp_image_preprocess_view (image, &config, &none, &rows, &cols, &crop, &error);
  g_assert_no_error (error);
  g_assert_cmpint (rows, ==, 4);
  g_assert_cmpint (cols, ==, 5);
  g_assert_cmpfloat (crop.x, ==, 0.0);
  g_assert_cmpfloat (crop.y, ==, 0.0);
  g_assert_cmpfloat (crop.width, ==, 80.0);
  g_assert_cmpfloat (crop.height, ==, 60.0);

  /* 33 pixels round to 32: an 8 x 8 centre square of the image resized to 42 x 32 (transformers
   * truncates the longer side), in original pixels 32 x 80 / 42 wide. */
  bigger = wp_image_preprocess_view (image, &config, &twice, &rows, &cols, &crop, &error);
  g_assert_no_error (error);
  g_assert_cmpint (rows, ==, 8);
  g_assert_cmpint (cols, ==, 8);
  g_assert_cmpfloat_with_epsilon (crop.height, 60.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (crop.width, 32.0 * 80.0 / 42.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (crop.x, 5.0 * 80.0 / 42.0, 1e-9);

  g_assert_null (wp_image_preprocess_view (image, &config, &huge, &rows, &cols, &crop, &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "at most"));
  g_clear_error (&error);
  g_assert_null (
    wp_image_preprocess_view (image, &config, &negative, &rows, &cols, &crop, &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_INVALID);
}

/* An image already S x S is only normalised: (x / 255 - mean) / std, channel-major. */
static void
test_preprocess_exact_size (void)
{
  const int    S = 8;
  WpClipConfig config;
  g_autoptr (WpImage) image = wp_image_new (S, S);
  g_autofree float *pixels = g_new (float, 3 * S * S);
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  WpImageCrop crop;

  small_config (&config, S);
  config.image_mean[1] = 0.25f;
  config.image_std[2] = 0.125f;
  for (int i = 0; i < S * S * 3; i++)
    image->rgb[i] = (guint8) g_rand_int_range (rand, 0, 256);
  image->rgb[0] = 0;
  image->rgb[1] = 255;
  wp_image_preprocess (image, &config, pixels, &crop);
  for (int c = 0; c < 3; c++) {
    for (int y = 0; y < S; y++) {
      for (int x = 0; x < S; x++) {
        const double value = image->rgb[(y * S + x) * 3 + c] / 255.0;
        const double want = (value - config.image_mean[c]) / config.image_std[c];
        const float  got = pixels[(c * S + y) * S + x];

        if (fabs (got - want) > 1e-5 * (1.0 + fabs (want))) {
          g_test_fail_printf ("pixel (c %d, y %d, x %d) is %.9g, expected %.9g", c, y, x, got,
                              want);
          return;
        }
      }
    }
  }
  g_assert_cmpfloat (crop.x, ==, 0.0);
  g_assert_cmpfloat (crop.y, ==, 0.0);
  g_assert_cmpfloat (crop.width, ==, S);
  g_assert_cmpfloat (crop.height, ==, S);
}

/* The crop of a 300 x 200 image at S = 100: shorter side 200 -> 100, width 150, crop left 25 in
 * the resized image, so x = 50 and width = 200 in the original. */
static void
test_preprocess_crop_landscape (void)
{
  WpClipConfig config;
  g_autoptr (WpImage) image = constant_image (300, 200, 255, 255, 255);
  g_autofree float *pixels = g_new (float, 3 * 100 * 100);
  WpImageCrop       crop;

  small_config (&config, 100);
  /* Black outside the columns the crop keeps: only the borders of the crop may see it. */
  for (int y = 0; y < 200; y++) {
    memset (image->rgb + (gsize) y * 300 * 3, 0, 50 * 3);
    memset (image->rgb + ((gsize) y * 300 + 250) * 3, 0, 50 * 3);
  }
  wp_image_preprocess (image, &config, pixels, &crop);
  assert_crop (&crop, 50.0, 0.0, 200.0, 200.0);
  for (int c = 0; c < 3; c++) {
    const float white = (1.0f - config.image_mean[c]) / config.image_std[c];

    for (int y = 0; y < 100; y++) {
      for (int x = 4; x < 96; x++)
        g_assert_cmpfloat_with_epsilon (pixels[(c * 100 + y) * 100 + x], white, 1e-4);
    }
  }
}

/* A constant image of any shape: the centre crop's place in the original (x, y, width, height)
 * and a result that stays the constant colour through resize and crop. */
typedef struct {
  const char *name;
  int         width, height;
  guint8      r, g, b;
  int         S;
  double      crop[4];
} ConstantCrop;

static const ConstantCrop constant_crops[] = {
  { "crop-portrait", 200, 300, 1, 2, 3, 100, { 0.0, 50.0, 200.0, 200.0 } },
  /* A square image of another size is resized whole: the crop is the entire image. */
  { "square-resized", 33, 33, 0, 0, 0, 16, { 0.0, 0.0, 33.0, 33.0 } },
  /* A very thin image: the shorter side (3) becomes S, the longer one grows to match: 90 * 16 / 3
   * = 480 rows, crop top (480 - 16) / 2 = 232, that is 232 * 90 / 480 = 43.5. */
  { "thin", 3, 90, 255, 0, 0, 16, { 0.0, 43.5, 3.0, 3.0 } },
  /* A banner 10 x 1000 pixels: the shorter side becomes S = 224, so the resized image would be
   * 224 x 22400, taller than WP_IMAGE_MAX_SIDE. Preprocessing cannot fail; it must still give the
   * centre crop: rows 495 to 505 of the original. */
  { "extreme-aspect", 10, 1000, 10, 20, 30, 224, { 0.0, 495.0, 10.0, 10.0 } },
};

static void
test_preprocess_constant_crop (gconstpointer data)
{
  const ConstantCrop *c = data;
  WpClipConfig        config;
  g_autoptr (WpImage) image = constant_image (c->width, c->height, c->r, c->g, c->b);
  g_autofree float *pixels = g_new (float, 3 * c->S * c->S);
  WpImageCrop       crop;

  small_config (&config, c->S);
  wp_image_preprocess (image, &config, pixels, &crop);
  assert_crop (&crop, c->crop[0], c->crop[1], c->crop[2], c->crop[3]);
  assert_constant (pixels, c->S, &config, c->r, c->g, c->b);
}

/* ---- augmentation ---- */

static WpImage *
gradient_image (int width,
                int height)
{
  WpImage *image = wp_image_new (width, height);

  for (int y = 0; y < height; y++) {
    for (int x = 0; x < width; x++) {
      guint8 *px = image->rgb + ((gsize) y * width + x) * 3;

      px[0] = (guint8) (x * 255 / (width - 1));
      px[1] = (guint8) (y * 255 / (height - 1));
      px[2] = (guint8) ((x * 7 + y * 13) % 256);
    }
  }
  return image;
}

static void
test_augment_identity (void)
{
  WpClipConfig config;
  g_autoptr (WpImage) image = gradient_image (16, 16);
  g_autofree float *expected = g_new (float, 3 * 16 * 16);
  g_autofree float *got = g_new (float, 3 * 16 * 16);
  WpAugmentOptions  options = { 1.0, 1.0, 0.0, 0.0, 0.0, FALSE };

  wp_clip_config_init_default (&config);
  config.image_size = 16;
  wp_image_preprocess (image, &config, expected, NULL);
  wp_augment_image (image, &config, &options, TRUE, 42, got);
  for (int i = 0; i < 3 * 16 * 16; i++)
    g_assert_cmpfloat_with_epsilon (got[i], expected[i], 1e-5);
}

static void
test_augment_flip_and_determinism (void)
{
  WpClipConfig config;
  g_autoptr (WpImage) image = gradient_image (16, 16);
  g_autofree float *plain = g_new (float, 3 * 16 * 16);
  g_autofree float *again = g_new (float, 3 * 16 * 16);
  g_autofree float *other = g_new (float, 3 * 16 * 16);
  WpAugmentOptions  options = { 1.0, 1.0, 0.0, 0.0, 0.0, TRUE };
  int               flipped = 0, unflipped = 0;

  wp_clip_config_init_default (&config);
  config.image_size = 16;
  wp_image_preprocess (image, &config, plain, NULL);
  for (guint64 seed = 0; seed < 40; seed++) {
    gboolean same = TRUE, mirrored = TRUE;

    wp_augment_image (image, &config, &options, TRUE, seed, other);
    for (int c = 0; c < 3; c++) {
      for (int y = 0; y < 16; y++) {
        for (int x = 0; x < 16; x++) {
          const float v = other[(c * 16 + y) * 16 + x];

          same = same && fabsf (v - plain[(c * 16 + y) * 16 + x]) < 1e-5f;
          mirrored = mirrored && fabsf (v - plain[(c * 16 + y) * 16 + 15 - x]) < 1e-5f;
        }
      }
    }
    g_assert_true (same != mirrored);
    flipped += mirrored;
    unflipped += same;
    /* A caption with "left" or "right" is never flipped. */
    wp_augment_image (image, &config, &options, FALSE, seed, other);
    g_assert_cmpmem (other, 3 * 16 * 16 * sizeof (float), plain, 3 * 16 * 16 * sizeof (float));
  }
  g_assert_cmpint (flipped, >, 5);
  g_assert_cmpint (unflipped, >, 5);

  wp_augment_options_init (&options);
  wp_augment_image (image, &config, &options, TRUE, 7, other);
  wp_augment_image (image, &config, &options, TRUE, 7, again);
  g_assert_cmpmem (other, 3 * 16 * 16 * sizeof (float), again, 3 * 16 * 16 * sizeof (float));
  wp_augment_image (image, &config, &options, TRUE, 8, again);
  g_assert_true (memcmp (other, again, 3 * 16 * 16 * sizeof (float)) != 0);
}

/* Jitter changes brightness, contrast and saturation but never turns one hue into another. */
static void
test_augment_keeps_hue (void)
{
  WpClipConfig config;
  g_autoptr (WpImage) image = constant_image (20, 20, 200, 40, 30);
  g_autofree float *pixels = g_new (float, 3 * 16 * 16);
  WpAugmentOptions  options;

  wp_clip_config_init_default (&config);
  config.image_size = 16;
  wp_augment_options_init (&options);
  for (guint64 seed = 0; seed < 50; seed++) {
    float rgb[3];

    wp_augment_image (image, &config, &options, TRUE, seed, pixels);
    for (int c = 0; c < 3; c++)
      rgb[c] = pixels[c * 256 + 100] * config.image_std[c] + config.image_mean[c];
    g_assert_cmpfloat (rgb[0], >, rgb[1] + 0.3f);
    g_assert_cmpfloat (rgb[0], >, rgb[2] + 0.3f);
  }
}

int
main (int   argc,
      char *argv[])
{
  wp_test_init (&argc, &argv);

  g_test_add_func ("/image/resize/constant", test_resize_constant);
  g_test_add_func ("/image/resize/antialiased", test_resize_antialiased);
  g_test_add_func ("/image/resize/matches-pil", test_resize_matches_pil);
  g_test_add_func ("/image/resize/upscale-ramp", test_resize_upscale_ramp);
  g_test_add_func ("/image/preprocess/exact-size", test_preprocess_exact_size);
  g_test_add_func ("/image/preprocess/crop-landscape", test_preprocess_crop_landscape);
  wp_test_add_named_cases ("/image/preprocess", constant_crops, test_preprocess_constant_crop);
  g_test_add_func ("/image/preprocess/view", test_preprocess_view);
  g_test_add_func ("/image/augment/identity", test_augment_identity);
  g_test_add_func ("/image/augment/flip-and-determinism", test_augment_flip_and_determinism);
  g_test_add_func ("/image/augment/keeps-hue", test_augment_keeps_hue);
  return g_test_run ();
}
