/* test-shapes-captions.c: the synthetic scenes' captions, boxes and colours.
 *
 * Captions are checked against their own grammar ("a|an|two|three [size] colour shape", joined by
 * "and" or a relation), independently of how the generator builds them: every colour, shape and
 * size word has one box per object its phrase counts, under its whole-word occurrence. Colours are
 * checked on the pixels: the most common exact colour among the box's pixels that a classifier
 * written here calls the word's colour is the object's fill, and its hue sits in the split's part
 * of the band documented in shapes.h. */
#include <math.h>
#include <string.h>

#include "shapes-words.h"
#include "shapes.h"
#include "test-util.h"

#define N_SCENES 400

/* shapes.h: hue centre and half width in degrees of each chromatic band; white's saturation
 * limit between train (below) and test (above). */
static const double hue_centre[] = { 0.0, 122.0, 222.0, 55.0, 280.0, 30.0, 330.0 };
static const double hue_half[] = { 8.0, 22.0, 16.0, 6.0, 12.0, 6.0, 10.0 };
#define WHITE_SPLIT_SATURATION 0.05

static int
index_of (const char *const *words,
          int                n,
          const char        *word)
{
  for (int i = 0; i < n; i++) {
    if (strcmp (words[i], word) == 0)
      return i;
  }
  return -1;
}

/* ---- captions and boxes ---- */

/* One phrase of a caption: token indices of its number word, size word (or -1), colour and shape
 * word, and how many objects it counts. */
typedef struct {
  int n;
  int size, colour, shape;
  int colour_id, shape_id;
} Phrase;

/* Parses "PHRASE ((and | above | below | left of | right of) PHRASE)?" with PHRASE "(a | an |
 * two | three) [small | big] COLOUR SHAPE(S)". Returns the number of phrases (0 on a grammar
 * error, reported); *relation is the relation word or NULL. */
static int
parse_caption (const char  *caption,
               char       **tokens,
               Phrase      *phrases,
               const char **relation)
{
  const int n_tokens = (int) g_strv_length (tokens);
  int       t = 0, n = 0;

  *relation = NULL;
  while (t < n_tokens) {
    Phrase *phrase = &phrases[n];

    if (n == 2) {
      g_test_fail_printf ("'%s': more than two phrases", caption);
      return 0;
    }
    if (n == 1) {
      if (strcmp (tokens[t], "and") == 0 || strcmp (tokens[t], "above") == 0 ||
          strcmp (tokens[t], "below") == 0) {
        *relation = tokens[t++];
      } else if (t + 1 < n_tokens &&
                 (strcmp (tokens[t], "left") == 0 || strcmp (tokens[t], "right") == 0) &&
                 strcmp (tokens[t + 1], "of") == 0) {
        *relation = tokens[t];
        t += 2;
      } else {
        g_test_fail_printf ("'%s': '%s' cannot join two phrases", caption, tokens[t]);
        return 0;
      }
    }
    if (t + 2 >= n_tokens) {
      g_test_fail_printf ("'%s': phrase cut short", caption);
      return 0;
    }
    if (strcmp (tokens[t], "a") == 0 || strcmp (tokens[t], "an") == 0)
      phrase->n = 1;
    else if (strcmp (tokens[t], "two") == 0)
      phrase->n = 2;
    else if (strcmp (tokens[t], "three") == 0)
      phrase->n = 3;
    else {
      g_test_fail_printf ("'%s': '%s' is not a number word", caption, tokens[t]);
      return 0;
    }
    if (phrase->n == 1 &&
        (strcmp (tokens[t], "an") == 0) != (strchr ("aeiou", tokens[t + 1][0]) != NULL)) {
      g_test_fail_printf ("'%s': '%s %s'", caption, tokens[t], tokens[t + 1]);
      return 0;
    }
    t++;
    phrase->size = -1;
    if (strcmp (tokens[t], "small") == 0 || strcmp (tokens[t], "big") == 0)
      phrase->size = t++;
    if (t + 1 >= n_tokens) {
      g_test_fail_printf ("'%s': phrase cut short", caption);
      return 0;
    }
    phrase->colour = t;
    phrase->colour_id = index_of (colours, G_N_ELEMENTS (colours), tokens[t++]);
    phrase->shape = t;
    phrase->shape_id =
      index_of (phrase->n == 1 ? shapes : plurals, G_N_ELEMENTS (shapes), tokens[t++]);
    if (phrase->colour_id < 0 || phrase->shape_id < 0) {
      g_test_fail_printf ("'%s': phrase %d is not COLOUR %s", caption, n,
                          phrase->n == 1 ? "SHAPE" : "SHAPES");
      return 0;
    }
    n++;
  }
  return n;
}

static int
occurrence_of (char **tokens,
               int    t)
{
  int occurrence = 0;

  for (int j = 0; j < t; j++)
    occurrence += strcmp (tokens[j], tokens[t]) == 0;
  return occurrence;
}

/* The boxes for token t, in the scene's order; their number. */
static int
boxes_of (const WpShapesScene *scene,
          char               **tokens,
          int                  t,
          const WpShapesBox  **out)
{
  const int occurrence = occurrence_of (tokens, t);
  int       n = 0;

  for (guint b = 0; b < scene->n_boxes; b++) {
    if (strcmp (scene->boxes[b].word, tokens[t]) == 0 && scene->boxes[b].occurrence == occurrence) {
      if (n < WP_SHAPES_MAX_OBJECTS)
        out[n] = &scene->boxes[b];
      n++;
    }
  }
  return n;
}

static gboolean
same_place (const WpShapesBox *a,
            const WpShapesBox *b)
{
  return a->x == b->x && a->y == b->y && a->w == b->w && a->h == b->h;
}

/* Every rule a scene's caption and boxes obey; phrases_out (may be NULL) receives the parsed
 * phrases. Returns the number of phrases, 0 after reporting a failure. */
static int
check_scene (const WpShapesScene *scene,
             guint64              index,
             Phrase              *phrases_out,
             const char         **relation_out)
{
  const int S = scene->image->width;
  g_auto (GStrv) tokens = g_strsplit (scene->caption, " ", -1);
  Phrase      phrases[2];
  const char *relation;
  int         n_phrases, n_captioned = 0, n_counted = 0;

  n_phrases = parse_caption (scene->caption, tokens, phrases, &relation);
  if (n_phrases == 0)
    return 0;

  /* Each colour, shape and size word: as many boxes as its phrase counts, the same boxes for the
   * three words of a phrase. */
  for (int p = 0; p < n_phrases; p++) {
    const WpShapesBox *colour_boxes[WP_SHAPES_MAX_OBJECTS], *other[WP_SHAPES_MAX_OBJECTS];
    const int          words[] = { phrases[p].colour, phrases[p].shape, phrases[p].size };
    const int          n = boxes_of (scene, tokens, phrases[p].colour, colour_boxes);

    n_counted += phrases[p].n;
    if (n != phrases[p].n) {
      g_test_fail_printf ("scene %" G_GUINT64_FORMAT " '%s': %d boxes for '%s', expected %d", index,
                          scene->caption, n, tokens[phrases[p].colour], phrases[p].n);
      return 0;
    }
    for (int w = 1; w < 3; w++) {
      if (words[w] < 0)
        continue;
      if (boxes_of (scene, tokens, words[w], other) != n) {
        g_test_fail_printf ("scene %" G_GUINT64_FORMAT
                            " '%s': '%s' and '%s' have different numbers of boxes",
                            index, scene->caption, tokens[words[w]], tokens[phrases[p].colour]);
        return 0;
      }
      for (int k = 0; k < n; k++) {
        if (!same_place (colour_boxes[k], other[k])) {
          g_test_fail_printf ("scene %" G_GUINT64_FORMAT
                              " '%s': '%s' and '%s' have different boxes",
                              index, scene->caption, tokens[words[w]], tokens[phrases[p].colour]);
          return 0;
        }
      }
    }
  }

  /* Every box names a word of the caption, at an occurrence it has, and lies inside the image. */
  for (guint b = 0; b < scene->n_boxes; b++) {
    const WpShapesBox *box = &scene->boxes[b];
    gboolean           found = FALSE;

    for (int t = 0; tokens[t] != NULL && !found; t++)
      found = strcmp (tokens[t], box->word) == 0 && occurrence_of (tokens, t) == box->occurrence;
    if (!found)
      g_test_fail_printf ("scene %" G_GUINT64_FORMAT
                          " '%s': box for '%s' occurrence %d names no word",
                          index, scene->caption, box->word, box->occurrence);
    if (box->w < 1 || box->h < 1 || box->x < 0 || box->y < 0 || box->x + box->w > S ||
        box->y + box->h > S)
      g_test_fail_printf ("scene %" G_GUINT64_FORMAT
                          ": box %d,%d %dx%d for '%s' is empty or outside the image",
                          index, box->x, box->y, box->w, box->h, box->word);
  }

  /* Objects: the captioned ones are those the phrases count; a distractor shares the shape or the
   * colour of a phrase but is never what a phrase describes. */
  g_assert_cmpuint (scene->n_objects, >=, 1);
  g_assert_cmpuint (scene->n_objects, <=, WP_SHAPES_MAX_OBJECTS);
  for (guint k = 0; k < scene->n_objects; k++) {
    const WpShapesObject *object = &scene->objects[k];
    gboolean              described = FALSE, related = FALSE;

    for (int p = 0; p < n_phrases; p++) {
      described = described || (phrases[p].colour_id == (int) object->colour &&
                                phrases[p].shape_id == (int) object->shape);
      related = related || phrases[p].colour_id == (int) object->colour ||
                phrases[p].shape_id == (int) object->shape;
    }
    n_captioned += object->captioned;
    if (object->captioned != described || !related)
      g_test_fail_printf ("scene %" G_GUINT64_FORMAT " '%s': object %u (%s %s) %s", index,
                          scene->caption, k, colours[object->colour], shapes[object->shape],
                          object->captioned ? "is not described"
                                            : "is an unrelated or ambiguous distractor");
  }
  g_assert_cmpint (n_captioned, ==, n_counted);

  /* Objects of one colour do not touch: "two green squares" are two shapes, not one blob. */
  for (guint i = 0; i < scene->n_objects; i++) {
    for (guint j = i + 1; j < scene->n_objects; j++) {
      const WpShapesObject *a = &scene->objects[i], *b = &scene->objects[j];

      if (a->colour == b->colour && a->x < b->x + b->w && b->x < a->x + a->w &&
          a->y < b->y + b->h && b->y < a->y + a->h)
        g_test_fail_printf ("scene %" G_GUINT64_FORMAT " '%s': two %s objects overlap", index,
                            scene->caption, colours[a->colour]);
    }
  }

  /* A relation holds between the visible boxes: they do not even overlap along its axis. */
  if (relation != NULL && strcmp (relation, "and") != 0) {
    const WpShapesBox *a[WP_SHAPES_MAX_OBJECTS], *b[WP_SHAPES_MAX_OBJECTS];
    gboolean           holds = TRUE;

    boxes_of (scene, tokens, phrases[0].shape, a);
    boxes_of (scene, tokens, phrases[1].shape, b);
    if (strcmp (relation, "above") == 0)
      holds = a[0]->y + a[0]->h <= b[0]->y;
    else if (strcmp (relation, "below") == 0)
      holds = b[0]->y + b[0]->h <= a[0]->y;
    else if (strcmp (relation, "left") == 0)
      holds = a[0]->x + a[0]->w <= b[0]->x;
    else if (strcmp (relation, "right") == 0)
      holds = b[0]->x + b[0]->w <= a[0]->x;
    if (!holds)
      g_test_fail_printf ("scene %" G_GUINT64_FORMAT " '%s': the boxes do not show '%s'", index,
                          scene->caption, relation);
  }

  /* Size words against the box: small objects span at most 22% of the side (one pixel more
   * for anti-aliasing); big ones span at least 32%, of which a diamond hidden at both tips still
   * shows 20% (the averages are checked in test_vocabulary_covered). */
  for (int p = 0; p < n_phrases; p++) {
    const WpShapesBox *boxes[WP_SHAPES_MAX_OBJECTS];
    const int          n =
      phrases[p].size >= 0 ? boxes_of (scene, tokens, phrases[p].size, boxes) : 0;

    for (int k = 0; k < n && k < WP_SHAPES_MAX_OBJECTS; k++) {
      const int longer = MAX (boxes[k]->w, boxes[k]->h);

      if (strcmp (tokens[phrases[p].size], "small") == 0 ? longer > 0.22 * S + 1.0
                                                         : longer < 0.2 * S)
        g_test_fail_printf ("scene %" G_GUINT64_FORMAT " '%s': a '%s' box is %d x %d pixels", index,
                            scene->caption, tokens[phrases[p].size], boxes[k]->w, boxes[k]->h);
    }
  }
  if (phrases_out != NULL)
    memcpy (phrases_out, phrases, sizeof phrases);
  if (relation_out != NULL)
    *relation_out = relation != NULL ? g_intern_string (relation) : NULL;
  return n_phrases;
}

static void
test_captions_and_boxes (gconstpointer data)
{
  const WpShapesOptions options = wp_test_shapes_options (GPOINTER_TO_INT (data), 21);

  for (guint64 i = 0; i < N_SCENES && !g_test_failed (); i++) {
    g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (&options, i);

    check_scene (scene, i, NULL, NULL);
  }
}

/* Other sizes keep the rules. */
static void
test_captions_other_sizes (void)
{
  const int sizes[] = { 32, 47, 128 };

  for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++) {
    WpShapesOptions options = wp_test_shapes_options (WP_SHAPES_SPLIT_TEST, 4);

    options.size = sizes[s];
    for (guint64 i = 0; i < 30; i++) {
      g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (&options, i);

      g_assert_cmpint (scene->image->width, ==, sizes[s]);
      g_assert_cmpint (scene->image->height, ==, sizes[s]);
      check_scene (scene, i, NULL, NULL);
    }
  }
}

/* ---- colours ---- */

static void
rgb_to_hsv (const guint8 *rgb,
            double       *h,
            double       *s,
            double       *v)
{
  const double r = rgb[0] / 255.0, g = rgb[1] / 255.0, b = rgb[2] / 255.0;
  const double max = MAX (r, MAX (g, b)), min = MIN (r, MIN (g, b)), delta = max - min;

  *v = max;
  *s = max > 0.0 ? delta / max : 0.0;
  if (delta <= 0.0)
    *h = 0.0;
  else if (max == r)
    *h = fmod (60.0 * (g - b) / delta + 360.0, 360.0);
  else if (max == g)
    *h = 60.0 * (b - r) / delta + 120.0;
  else
    *h = 60.0 * (r - g) / delta + 240.0;
}

/* What a person would call the pixel, as an index into colours[], or -1 for background-like
 * (dark or greyish) pixels. Written from the colour names, not from the generator's bands. */
static int
classify (const guint8 *rgb)
{
  double h, s, v;

  rgb_to_hsv (rgb, &h, &s, &v);
  if (s < 0.2 && v > 0.8)
    return 7; /* white */
  if (s < 0.25 || v < 0.55)
    return -1;
  if (h >= 300.0 && h < 348.0 && s < 0.6 && v > 0.85)
    return 6; /* pink */
  if (h >= 345.0 || h < 16.0)
    return 0; /* red */
  if (h < 42.0)
    return 5; /* orange */
  if (h < 75.0)
    return 3; /* yellow */
  if (h < 170.0)
    return 1; /* green */
  if (h >= 185.0 && h < 250.0)
    return 2; /* blue */
  if (h >= 250.0 && h < 305.0)
    return 4; /* purple */
  return -1;
}

/* Signed distance in degrees from hue to centre, in (-180, 180]. */
static double
hue_offset (double hue,
            double centre)
{
  double d = fmod (hue - centre + 540.0, 360.0) - 180.0;

  return d;
}

/* In every colour word's box, pixels of that colour; the most common exact one (an object's flat
 * fill) lies in the split's part of the band. */
static void
test_box_colours (gconstpointer data)
{
  const WpShapesSplit   split = GPOINTER_TO_INT (data);
  const WpShapesOptions options = wp_test_shapes_options (split, 33);
  int                   n_checked[8] = { 0 };

  for (guint64 i = 0; i < N_SCENES && !g_test_failed (); i++) {
    g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (&options, i);
    const WpImage *image = scene->image;

    for (guint b = 0; b < scene->n_boxes; b++) {
      const WpShapesBox *box = &scene->boxes[b];
      const int          colour = index_of (colours, G_N_ELEMENTS (colours), box->word);
      g_autoptr (GHashTable) counts = NULL;
      GHashTableIter iter;
      gpointer       key, value;
      guint32        mode = 0;
      int            n_match = 0, best = 0;
      double         h, s, v;
      guint8         fill[3];

      if (colour < 0)
        continue;
      counts = g_hash_table_new (NULL, NULL);
      for (int y = box->y; y < box->y + box->h; y++) {
        for (int x = box->x; x < box->x + box->w; x++) {
          const guint8 *p = image->rgb + ((gsize) y * image->width + x) * 3;
          const guint32 packed = (guint32) p[0] << 16 | (guint32) p[1] << 8 | p[2];

          if (classify (p) != colour)
            continue;
          n_match++;
          g_hash_table_insert (
            counts, GUINT_TO_POINTER (packed + 1),
            GINT_TO_POINTER (
              GPOINTER_TO_INT (g_hash_table_lookup (counts, GUINT_TO_POINTER (packed + 1))) + 1));
        }
      }
      if (n_match < MAX (2, box->w * box->h / 10)) {
        g_test_fail_printf ("scene %" G_GUINT64_FORMAT
                            " '%s': %d of the %d pixels in the box of '%s' are %s",
                            i, scene->caption, n_match, box->w * box->h, box->word, box->word);
        continue;
      }
      g_hash_table_iter_init (&iter, counts);
      while (g_hash_table_iter_next (&iter, &key, &value)) {
        const guint32 packed = GPOINTER_TO_UINT (key) - 1;

        /* Ties go to the smaller value, so the result does not depend on the table's order. */
        if (GPOINTER_TO_INT (value) > best || (GPOINTER_TO_INT (value) == best && packed < mode)) {
          best = GPOINTER_TO_INT (value);
          mode = packed;
        }
      }
      fill[0] = (guint8) (mode >> 16);
      fill[1] = (guint8) (mode >> 8);
      fill[2] = (guint8) mode;
      rgb_to_hsv (fill, &h, &s, &v);
      n_checked[colour]++;
      if (colour == 7) {
        const gboolean ok = split == WP_SHAPES_SPLIT_TRAIN ? s <= WHITE_SPLIT_SATURATION + 0.01
                                                           : s >= WHITE_SPLIT_SATURATION - 0.01;

        if (!ok)
          g_test_fail_printf ("scene %" G_GUINT64_FORMAT
                              " '%s': white fill (%d, %d, %d) has saturation %.3f",
                              i, scene->caption, fill[0], fill[1], fill[2], s);
      } else {
        const double   offset = fabs (hue_offset (h, hue_centre[colour])) / hue_half[colour];
        const double   slack = 1.0 / hue_half[colour]; /* a degree, for 8-bit rounding */
        const gboolean ok = split == WP_SHAPES_SPLIT_TRAIN
                              ? offset <= 0.5 + slack
                              : offset >= 0.5 - slack && offset <= 1.0 + slack;

        if (!ok)
          g_test_fail_printf (
            "scene %" G_GUINT64_FORMAT
            " '%s': %s fill (%d, %d, %d) has hue %.1f, %.2f half-bands from the centre",
            i, scene->caption, box->word, fill[0], fill[1], fill[2], h, offset);
      }
    }
  }
  for (int c = 0; c < 8; c++) {
    if (n_checked[c] < 10)
      g_test_fail_printf ("only %d '%s' boxes were checked", n_checked[c], colours[c]);
  }
}

/* ---- splits and vocabulary ---- */

static gboolean
phrase_is_held_out (const Phrase *phrase)
{
  return strcmp (held_out[phrase->colour_id], shapes[phrase->shape_id]) == 0;
}

static void
test_held_out_pairs (void)
{
  const WpShapesOptions train = wp_test_shapes_options (WP_SHAPES_SPLIT_TRAIN, 8);
  const WpShapesOptions test = wp_test_shapes_options (WP_SHAPES_SPLIT_TEST, 8);
  int                   n_test_held_out = 0;

  /* The API's list is the documented one. */
  for (int c = 0; c < WP_SHAPES_N_COLOURS; c++) {
    g_assert_cmpstr (wp_shapes_colour_name (c), ==, colours[c]);
    g_assert_cmpstr (wp_shapes_shape_name (wp_shapes_get_held_out_shape (c)), ==, held_out[c]);
  }
  for (guint64 i = 0; i < N_SCENES; i++) {
    g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (&train, i);
    Phrase phrases[2];
    int    n = check_scene (scene, i, phrases, NULL);

    for (int p = 0; p < n; p++) {
      if (phrase_is_held_out (&phrases[p]))
        g_test_fail_printf ("train scene %" G_GUINT64_FORMAT " captions a held-out pair: '%s'", i,
                            scene->caption);
    }
    for (guint k = 0; k < scene->n_objects; k++) {
      if (wp_shapes_get_held_out_shape (scene->objects[k].colour) == scene->objects[k].shape)
        g_test_fail_printf ("train scene %" G_GUINT64_FORMAT " ('%s') shows a held-out pair", i,
                            scene->caption);
    }
  }
  for (guint64 i = 0; i < N_SCENES; i++) {
    g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (&test, i);
    Phrase   phrases[2];
    int      n = check_scene (scene, i, phrases, NULL);
    gboolean any = FALSE;

    for (int p = 0; p < n; p++)
      any = any || phrase_is_held_out (&phrases[p]);
    n_test_held_out += any;
  }
  if (n_test_held_out < N_SCENES / 2)
    g_test_fail_printf ("only %d of %d test scenes caption a held-out pair", n_test_held_out,
                        N_SCENES);
}

/* Over 500 train scenes every word and template appears, and so do distractors and crowded
 * scenes. Every colour appears with each shape it is not held out with. */
static void
test_vocabulary_covered (void)
{
  const WpShapesOptions options = wp_test_shapes_options (WP_SHAPES_SPLIT_TRAIN, 1);
  const char *const     others[] = { "small", "big", "two", "three", "and",
                                     "above", "below", "left", "right", "an" };
  gboolean              seen_pair[8][6] = { { FALSE } };
  int                   seen_other[G_N_ELEMENTS (others)] = { 0 };
  int                   n_distractors = 0, n_four = 0, n_single = 0, n_plural_and = 0;
  double                longer_sum[2] = { 0.0, 0.0 };
  int                   n_sized[2] = { 0, 0 };

  for (guint64 i = 0; i < 500; i++) {
    g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (&options, i);
    g_auto (GStrv) tokens = g_strsplit (scene->caption, " ", -1);
    Phrase phrases[2];
    int    n = check_scene (scene, i, phrases, NULL);

    for (int p = 0; p < n; p++)
      seen_pair[phrases[p].colour_id][phrases[p].shape_id] = TRUE;
    for (int t = 0; tokens[t] != NULL; t++) {
      const int o = index_of (others, G_N_ELEMENTS (others), tokens[t]);

      if (o >= 0)
        seen_other[o]++;
    }
    for (guint k = 0; k < scene->n_objects; k++)
      n_distractors += !scene->objects[k].captioned;
    for (guint b = 0; b < scene->n_boxes; b++) {
      const int big = strcmp (scene->boxes[b].word, "big") == 0;

      if (big || strcmp (scene->boxes[b].word, "small") == 0) {
        longer_sum[big] += MAX (scene->boxes[b].w, scene->boxes[b].h);
        n_sized[big]++;
      }
    }
    n_four += scene->n_objects == 4;
    n_single += n == 1 && phrases[0].n == 1;
    n_plural_and += n == 2 && (phrases[0].n > 1 || phrases[1].n > 1);
  }
  for (int c = 0; c < 8; c++) {
    for (int s = 0; s < 6; s++) {
      if (strcmp (held_out[c], shapes[s]) != 0 && !seen_pair[c][s])
        g_test_fail_printf ("no train caption has a %s %s", colours[c], shapes[s]);
    }
  }
  for (gsize o = 0; o < G_N_ELEMENTS (others); o++) {
    if (seen_other[o] < 5)
      g_test_fail_printf ("'%s' appears in %d of 500 captions", others[o], seen_other[o]);
  }
  /* Extents are drawn from 14-22% (small) and 32-45% (big) of the 64-pixel side. */
  g_assert_cmpint (n_sized[0], >=, 50);
  g_assert_cmpint (n_sized[1], >=, 50);
  g_assert_cmpfloat (longer_sum[0] / MAX (n_sized[0], 1), <=, 0.2 * 64);
  g_assert_cmpfloat (longer_sum[1] / MAX (n_sized[1], 1), >=, 0.3 * 64);
  g_assert_cmpint (n_distractors, >=, 50);
  g_assert_cmpint (n_four, >=, 10);
  g_assert_cmpint (n_single, >=, 50);
  g_assert_cmpint (n_plural_and, >=, 10);
}

int
main (int   argc,
      char *argv[])
{
  wp_test_init (&argc, &argv);

  g_test_add_data_func ("/shapes/captions/boxes-train", GINT_TO_POINTER (WP_SHAPES_SPLIT_TRAIN),
                        test_captions_and_boxes);
  g_test_add_data_func ("/shapes/captions/boxes-test", GINT_TO_POINTER (WP_SHAPES_SPLIT_TEST),
                        test_captions_and_boxes);
  g_test_add_func ("/shapes/captions/other-sizes", test_captions_other_sizes);
  g_test_add_data_func ("/shapes/colours/train-inner-band", GINT_TO_POINTER (WP_SHAPES_SPLIT_TRAIN),
                        test_box_colours);
  g_test_add_data_func ("/shapes/colours/test-outer-band", GINT_TO_POINTER (WP_SHAPES_SPLIT_TEST),
                        test_box_colours);
  g_test_add_func ("/shapes/splits/held-out-pairs", test_held_out_pairs);
  g_test_add_func ("/shapes/vocabulary/covered", test_vocabulary_covered);
  return g_test_run ();
}
