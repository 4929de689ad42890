/* shapes.h: a deterministic generator of grounded synthetic scenes, for training and evaluating
 * word localisation: "a small red star above a blue circle" with a pixel box for every colour,
 * shape and size word of the caption.
 *
 * Vocabulary: colours red, green, blue, yellow, purple, orange, pink, white; shapes circle,
 * square, triangle, star, cross, diamond (plurals circles, squares, triangles, stars, crosses,
 * diamonds); sizes small (an extent of 14-22% of the image side) and big (32-45%).
 *
 * A scene is S x S pixels (S in WP_SHAPES_MIN_SIZE..WP_SHAPES_MAX_SIZE) holding 1 to 4 objects,
 * rendered with 4 x 4 supersampling, some with a darker or lighter rim, overlapping so that each
 * keeps at least 60% of its coverage visible; objects of one colour never touch. The caption
 * follows one of these templates, each size word present half of the time ("an" before "orange"):
 *   a [size] C S                                  "a red circle", "a big blue star"
 *   a [size] C S and a [size] C S                 "a red circle and a blue square"
 *   a [size] C S REL a [size] C S                 "a small red star above a blue circle"
 *   two [size] C Ss / three [size] C Ss           "two green squares"
 *   two [size] C Ss and a [size] C S, or reversed "a pink cross and two white circles"
 * REL is above, below, left of or right of, used only when the two objects' extents are apart
 * along that axis (by 3% of the side) and largely overlap across it (centres offset by less than
 * 60% of the sum of their half extents), so that no other relation holds. The
 * other objects are distractors, never mentioned: the same shape as a captioned object in another
 * colour (so the colour word matters) or the same colour in another shape. No distractor has the
 * colour and the shape of a phrase, and no two phrases share both, so a caption picks out its
 * objects.
 * Backgrounds are muted or dark (saturation <= 0.3, value <= 0.5, at a distance of at least 0.3
 * in RGB from every object's fill): plain, linear gradient, stripes at a random angle and period,
 * or noise texture.
 *
 * Boxes: for each colour, shape and size word of the caption, one box per object it describes
 * ("two green squares": two boxes for "green" and two for "squares"), the tight box of the
 * object's visible pixels (visible coverage >= 0.5), with the word's occurrence among the
 * caption's whole words counted from 0.
 *
 * Splits. Colours are bands in HSV (hue in degrees; saturation and value in [0, 1]):
 *   red    hue 352..8    s 0.80-0.95  v 0.80-0.95     purple hue 268..292  s 0.55-0.80  v 0.65-0.85
 *   orange hue  24..36   s 0.85-1.00  v 0.92-1.00     pink   hue 320..340  s 0.30-0.50  v 0.95-1.00
 *   yellow hue  49..61   s 0.75-0.95  v 0.92-1.00     white  any hue       s 0.00-0.10  v 0.90-1.00
 *   green  hue 100..144  s 0.65-0.90  v 0.65-0.85
 *   blue   hue 206..238  s 0.70-0.95  v 0.80-1.00
 * Train draws each object's hue from the inner half of its band (white: saturation 0-0.05), test
 * from the outer quarters on either side (white: saturation 0.05-0.10, a faint tint); saturation
 * and value span the whole band in both.
 * One colour-shape pair per colour is held out: red star, green cross, blue triangle, yellow
 * diamond, purple circle, orange square, pink diamond, white star. Train scenes never contain them
 * (neither captioned nor as distractors); 70% of test scenes are drawn to caption one of them
 * (a few more by chance). Test also draws backgrounds from two kinds train never uses:
 * checkerboard and radial gradient.
 *
 * Determinism: scene i depends only on (seed, split, i, S), through a WpRng seeded with a hash of
 * seed, split and i, so the first n scenes of a larger dataset equal a dataset of n scenes. */
#pragma once

#include <glib.h>

#include "wordpatch/image.h"

G_BEGIN_DECLS

#define WP_SHAPES_MIN_SIZE    32
#define WP_SHAPES_MAX_SIZE    512
#define WP_SHAPES_MAX_OBJECTS 4

typedef enum {
  WP_SHAPES_SPLIT_TRAIN,
  WP_SHAPES_SPLIT_TEST,
} WpShapesSplit;

typedef enum {
  WP_SHAPES_RED,
  WP_SHAPES_GREEN,
  WP_SHAPES_BLUE,
  WP_SHAPES_YELLOW,
  WP_SHAPES_PURPLE,
  WP_SHAPES_ORANGE,
  WP_SHAPES_PINK,
  WP_SHAPES_WHITE,
  WP_SHAPES_N_COLOURS,
} WpShapesColour;

typedef enum {
  WP_SHAPES_CIRCLE,
  WP_SHAPES_SQUARE,
  WP_SHAPES_TRIANGLE,
  WP_SHAPES_STAR,
  WP_SHAPES_CROSS,
  WP_SHAPES_DIAMOND,
  WP_SHAPES_N_SHAPES,
} WpShapesShape;

typedef struct {
  int           size; /* S, default 64 */
  guint64       seed; /* default 1 */
  WpShapesSplit split;
} WpShapesOptions;

/* One drawn object; x, y, w, h is the tight box of its visible pixels. */
typedef struct {
  WpShapesColour colour;
  WpShapesShape  shape;
  gboolean       big;
  gboolean       captioned; /* FALSE for a distractor */
  int            x, y, w, h;
} WpShapesObject;

/* The box of one object for one caption word. */
typedef struct {
  char *word;
  int   occurrence;
  int   x, y, w, h;
} WpShapesBox;

typedef struct {
  WpImage       *image;
  char          *caption;
  WpShapesObject objects[WP_SHAPES_MAX_OBJECTS]; /* in drawing order, bottom first */
  guint          n_objects;
  WpShapesBox   *boxes; /* in caption order */
  guint          n_boxes;
} WpShapesScene;

void wp_shapes_options_init (WpShapesOptions *options);

const char *wp_shapes_colour_name (WpShapesColour colour);
/* The singular noun: "cross". */
const char *wp_shapes_shape_name (WpShapesShape shape);
/* The shape that train scenes never show in colour. */
WpShapesShape wp_shapes_get_held_out_shape (WpShapesColour colour);

/* Scene index of the options' seed and split; options->size must be in range. */
WpShapesScene *wp_shapes_scene_new (const WpShapesOptions *options,
                                    guint64                index) G_GNUC_WARN_UNUSED_RESULT;
void           wp_shapes_scene_free (WpShapesScene *scene);

/* The scene's captions.jsonl line, without a newline, its image saved as image_name:
 * {"image": "images/000123.png", "caption": "...", "boxes": [{"word": "red", "occurrence": 0,
 * "x": 3, "y": 5, "w": 12, "h": 11}, ...], "objects": [{"colour": "red", "shape": "star", "size":
 * "small", "captioned": true, "x": 3, "y": 5, "w": 12, "h": 11}, ...]}; "objects" lists every
 * drawn object, distractors too, in drawing order, so that a map's peak can be traced to what it
 * landed on. */
char *wp_shapes_scene_to_json (const WpShapesScene *scene,
                               const char          *image_name) G_GNUC_WARN_UNUSED_RESULT;

/* Writes scenes 0..count-1 as dir/images/NNNNNN.png (6 digits, more when count needs them; each
 * with its caption as a PNG text chunk) and dir/captions.jsonl, which is written under a
 * temporary name and renamed at the end. Creates dir if needed; refuses a dir that already holds
 * a captions.jsonl. On failure the images written so far stay. */
gboolean wp_shapes_write_dataset (const char            *dir,
                                  guint                  count,
                                  const WpShapesOptions *options,
                                  GError               **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpShapesScene, wp_shapes_scene_free)

G_END_DECLS
