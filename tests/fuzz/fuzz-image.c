/* fuzz-image.c: an encoded image (PNG, JPEG, BMP, GIF, TGA, PNM, or anything stb_image tries),
 * decoded from memory with its EXIF orientation; a decoded image is then turned upright and goes
 * through CLIP's preprocessing, a resize and the training augmentation. */
#include "fuzz.h"

#include "wordpatch/augment.h"
#include "wordpatch/image.h"

static WpClipConfig config;

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  wp_clip_config_init_default (&config);
  config.image_size = 16;
  config.patch_size = 8;
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr (WpImage) image = wp_image_load_from_memory (data, size, "fuzz", NULL);
  g_autoptr (WpImage) resized = NULL;
  float            pixels[3 * 16 * 16];
  WpImageCrop      crop;
  WpAugmentOptions augment;

  if (image == NULL)
    return 0;
  g_assert_cmpint (image->width, >=, 1);
  g_assert_cmpint (image->height, >=, 1);
  g_assert_cmpint ((gint64) image->width * image->height, <=, WP_IMAGE_MAX_PIXELS);
  g_assert_cmpint (image->orientation, >=, 1);
  g_assert_cmpint (image->orientation, <=, 8);
  wp_image_make_upright (image);
  wp_image_preprocess (image, &config, pixels, &crop);
  g_assert_cmpfloat (crop.x + crop.width, <=, image->width + 1e-6);
  g_assert_cmpfloat (crop.y + crop.height, <=, image->height + 1e-6);
  resized = wp_image_resize (image, 7, 5);
  wp_augment_options_init (&augment);
  wp_augment_image (image, &config, &augment, TRUE, size, pixels);
  return 0;
}
