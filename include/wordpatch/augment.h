/* augment.h: training-time image augmentation.
 *
 * Random resized crop (area fraction in [crop_scale_min, 1], aspect ratio in [1/r, r] with
 * r = crop_ratio_max, resized to the model's input with the same bicubic resampling as CLIP's
 * preprocessing), colour jitter of brightness, contrast and saturation (never hue: colour words
 * must stay true), and an optional horizontal flip with probability 1/2. The result depends only
 * on the image, the options and the seed, so a resumed run sees the same pixels. */
#pragma once

#include <glib.h>

#include "wordpatch/config.h"
#include "wordpatch/image.h"

G_BEGIN_DECLS

typedef struct {
  double   crop_scale_min; /* default 0.6 */
  double   crop_ratio_max; /* default 4/3 */
  double   brightness;     /* factor drawn in [1 - a, 1 + a], default 0.2 */
  double   contrast;       /* default 0.2 */
  double   saturation;     /* default 0.2 */
  gboolean flip;           /* default TRUE; callers pass may_flip FALSE for left/right captions */
} WpAugmentOptions;

void wp_augment_options_init (WpAugmentOptions *options);

/* pixels (3, S, S), normalised like wp_image_preprocess(): wp_augment_draw() then
 * wp_augment_apply(). */
void wp_augment_image (const WpImage          *image,
                       const WpClipConfig     *config,
                       const WpAugmentOptions *options,
                       gboolean                may_flip,
                       guint64                 seed,
                       float                  *pixels);

/* What one sample's input shows: the region of the original image (in its pixels) that was
 * resized to S x S, the jitter factors and the flip. A sample without augmentation has the
 * preprocessing's crop (WpImageCrop), factors 1 and no flip. */
typedef struct {
  WpImageCrop crop;
  double      brightness, contrast, saturation;
  gboolean    flipped;
} WpAugmentation;

/* The draws of wp_augment_image() for an image of width x height: a crop in whole pixels. */
void wp_augment_draw (int                     width,
                      int                     height,
                      const WpAugmentOptions *options,
                      gboolean                may_flip,
                      guint64                 seed,
                      WpAugmentation         *augmentation);
/* pixels (3, S, S): the image under augmentation (from wp_augment_draw() for this image). */
void wp_augment_apply (const WpImage        *image,
                       const WpClipConfig   *config,
                       const WpAugmentation *augmentation,
                       float                *pixels);
/* The region of the original image, in its pixels, that patch p of a rows x cols input under
 * augmentation shows (wp_patch_rect() of the crop, mirrored by a flip): what a box is tested
 * against, so that boxes follow the crop and the flip exactly as the pixels do. */
void wp_augment_patch_rect (const WpAugmentation *augmentation,
                            int                   rows,
                            int                   cols,
                            int                   p,
                            WpImageCrop          *rect);

G_END_DECLS
