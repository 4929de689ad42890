/* image.h: decoding images and CLIP's preprocessing.
 *
 * Decoding: PNG, JPEG, BMP, GIF (first frame), TGA, PNM through stb_image, converted to 8-bit RGB;
 * alpha is dropped. WebP, HEIC/HEIF, AVIF, TIFF, JPEG XL and JPEG 2000 are recognised by their
 * signature and refused by name (WP_ERROR_UNSUPPORTED). Images above WP_IMAGE_MAX_SIDE pixels on
 * a side or WP_IMAGE_MAX_PIXELS in all (their 8-bit RGB takes 300 MB) are rejected from the size
 * in their header, before decoding.
 *
 * Preprocessing as transformers' CLIPImageProcessor and open_clip's transform, by the config's
 * WpPreprocess (config.h): resize so the shorter side (or, squashing, both sides) is the resize
 * size R (bicubic or bilinear with antialiasing, as PIL, rounded to 8 bits), centre crop S x S
 * (offset floor((size - S) / 2), or rounded half to even as torchvision), scale to [0, 1],
 * subtract the mean and divide by the std per channel. An image already of the resized size is
 * not resampled. WpImageCrop records which region of the original image the crop covers, so
 * patch maps can be drawn back onto it. */
#pragma once

#include <glib.h>

#include "wordpatch/config.h"

G_BEGIN_DECLS

#define WP_IMAGE_MAX_SIDE 16384
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/* A few bytes of TGA may claim 38 Mpixel, seconds of work under the sanitizers; fuzzing explores
 * more with a lower limit, still on its boundary. */
#define WP_IMAGE_MAX_PIXELS 1000000
#else
#define WP_IMAGE_MAX_PIXELS 100000000
#endif

typedef struct {
  int     width;
  int     height;
  guint8 *rgb;         /* (height, width, 3), as stored in the file */
  int     orientation; /* a JPEG's EXIF orientation, 1 (none: as stored) to 8 */
} WpImage;

/* The region of the original image (in its pixels) that became the S x S model input. */
typedef struct {
  double x, y, width, height;
} WpImageCrop;

WpImage *wp_image_new (int width,
                       int height) G_GNUC_WARN_UNUSED_RESULT;
WpImage *wp_image_load (const char *path,
                        GError    **error) G_GNUC_WARN_UNUSED_RESULT;
/* data: an encoded image file in memory; name is used in error messages. */
WpImage *wp_image_load_from_memory (const guint8 *data,
                                    gsize         len,
                                    const char   *name,
                                    GError      **error) G_GNUC_WARN_UNUSED_RESULT;
void     wp_image_free (WpImage *image);

/* Turns the pixels as the image's EXIF orientation says (rotations by 90, 180 or 270 degrees and
 * mirrors, as image viewers, PIL's ImageOps.exif_transpose and transformers' load_image do) and
 * sets it to 1. Datasets keep the stored pixels, as open_clip's loaders (PIL's Image.open) do. */
void wp_image_make_upright (WpImage *image);
/* wp_image_load(), then wp_image_make_upright(): a photo as a person sees it. */
WpImage *wp_image_load_upright (const char *path,
                                GError    **error) G_GNUC_WARN_UNUSED_RESULT;

/* Resamples to width x height (bicubic, antialiased when shrinking). */
WpImage *wp_image_resize (const WpImage *image,
                          int            width,
                          int            height) G_GNUC_WARN_UNUSED_RESULT;

/* A copy of the width x height region at (x, y), which must lie inside the image. */
WpImage *wp_image_crop (const WpImage *image,
                        int            x,
                        int            y,
                        int            width,
                        int            height) G_GNUC_WARN_UNUSED_RESULT;
/* pixels (3, height, width) in [0, 1]. */
void wp_image_to_unit_pixels (const WpImage *image,
                              float         *pixels);
/* Subtracts the config's mean and divides by its std, per channel, over (3, S, S). */
void wp_image_normalise_pixels (const WpClipConfig *config,
                                float              *pixels);
/* pixels (3, S, S) with S = config->image_size; crop may be NULL. */
void wp_image_preprocess (const WpImage      *image,
                          const WpClipConfig *config,
                          float              *pixels,
                          WpImageCrop        *crop);

/* How an image is seen for word maps. */
typedef enum {
  WP_CROP_CENTER, /* shorter side resized to the resolution, then the centre square (CLIP's) */
  WP_CROP_NONE,   /* the whole image, its aspect kept: rows x cols patches */
} WpCropMode;

/* The largest resolution a view may ask for, in pixels of the shorter side. */
#define WP_IMAGE_MAX_VIEW 4096

typedef struct {
  WpCropMode crop;
  int        resolution; /* pixels of the shorter side; 0: the model's image size */
} WpViewOptions;

/* The image as the model sees it under view: *rows x *cols patches of the model's patch size;
 * returns pixels (3, rows * p, cols * p) normalised as wp_image_preprocess() does (free with
 * g_free()), and crop the region of the original they cover. The resolution is rounded to the
 * nearest multiple of the patch size. WP_CROP_CENTER: that square, centred, from the image resized
 * as the config says with the resize size scaled by resolution / image size (at the model's image
 * size exactly wp_image_preprocess()).
 * WP_CROP_NONE: the whole image resized so its shorter side has that size and each side is the
 * multiple of the patch size nearest to the aspect-preserving length (not resampled when it
 * already has those sides). NULL with an error for a resolution out of range or a view of more
 * than WP_MAX_PATCHES patches. */
float *wp_image_preprocess_view (const WpImage       *image,
                                 const WpClipConfig  *config,
                                 const WpViewOptions *view,
                                 int                 *rows,
                                 int                 *cols,
                                 WpImageCrop         *crop,
                                 GError             **error) G_GNUC_WARN_UNUSED_RESULT;

/* Writes an 8-bit RGB PNG under a temporary name in path's folder, then renames it into place.
 * text (may be NULL) maps tEXt keywords to values, printable ASCII, written in keyword order. */
gboolean wp_image_save_png (const WpImage *image,
                            const char    *path,
                            GHashTable    *text,
                            GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpImage, wp_image_free)

G_END_DECLS
