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

/* pixels (3, S, S), normalised like wp_image_preprocess(). */
void wp_augment_image (const WpImage          *image,
                       const WpClipConfig     *config,
                       const WpAugmentOptions *options,
                       gboolean                may_flip,
                       guint64                 seed,
                       float                  *pixels);

G_END_DECLS
