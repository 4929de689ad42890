/* test-evaluate.c: the evaluation's building blocks (ranks, recall, pointing game, regions, IoU)
 * against hand-computed values. Maps and wp_evaluate() on dataset folders have programs of their
 * own (test-evaluate-maps.c, test-evaluate-dataset.c). */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "test-util.h"
#include "wordpatch/wordpatch.h"

/* ---- building blocks ---- */

static void
test_rank (void)
{
  const float  scores[5] = { 0.9f, 0.5f, 0.5f, 0.7f, NAN };
  const guint8 own_mid[5] = { 0, 1, 0, 0, 0 };
  const guint8 two[5] = { 0, 1, 0, 1, 0 };
  const guint8 top[5] = { 1, 0, 0, 0, 0 };
  const guint8 tied[5] = { 0, 1, 1, 0, 0 };
  const guint8 none[5] = { 0 };
  const guint8 nan_only[5] = { 0, 0, 0, 0, 1 };

  /* 0.9, 0.7 above, 0.5 tied (against the query), NaN against: 4. */
  g_assert_cmpint (wp_retrieval_rank (scores, own_mid, 5), ==, 4);
  /* The best correct one (0.7) counts: only 0.9 and the NaN beat it. */
  g_assert_cmpint (wp_retrieval_rank (scores, two, 5), ==, 2);
  g_assert_cmpint (wp_retrieval_rank (scores, top, 5), ==, 1);
  /* Two correct candidates tied with each other do not hurt. */
  g_assert_cmpint (wp_retrieval_rank (scores, tied, 5), ==, 3);
  g_assert_cmpint (wp_retrieval_rank (scores, none, 5), ==, -1);
  /* A NaN correct score loses to every wrong candidate. */
  g_assert_cmpint (wp_retrieval_rank (scores, nan_only, 5), ==, 4);
}

static void
test_recall (void)
{
  /* Three queries over four candidates; candidates 2 and 3 are the same caption (both correct for
   * query 2). */
  const float sim[12] = {
    0.9f, 0.1f, 0.2f, 0.2f, /* query 0: own (0) first */
    0.8f, 0.8f, 0.3f, 0.3f, /* query 1: own (1) tied with 0: rank 1 */
    0.9f, 0.6f, 0.5f, 0.7f, /* query 2: best correct (3) behind 0: rank 1 */
  };
  const guint8 correct[12] = {
    1,
    0,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    1,
    1,
  };

  g_assert_cmpfloat_with_epsilon (wp_recall_at_k (sim, correct, 3, 4, 1), 1.0 / 3, 1e-12);
  g_assert_cmpfloat_with_epsilon (wp_recall_at_k (sim, correct, 3, 4, 2), 1.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (wp_recall_at_k (sim, correct, 3, 4, 10), 1.0, 1e-12);
}

static void
test_caption_key_and_classes (void)
{
  g_autofree char *a = wp_caption_key ("  A red\t\tCircle \n");
  g_autofree char *b = wp_caption_key ("a red circle");
  g_autofree char *c = wp_caption_key ("a red circles");

  g_assert_cmpstr (a, ==, "a red circle");
  g_assert_cmpstr (a, ==, b);
  g_assert_cmpstr (b, !=, c);

  g_assert_cmpint (wp_word_class ("red"), ==, WP_WORD_CLASS_COLOUR);
  g_assert_cmpint (wp_word_class ("Grey"), ==, WP_WORD_CLASS_COLOUR);
  g_assert_cmpint (wp_word_class ("gray"), ==, WP_WORD_CLASS_COLOUR);
  g_assert_cmpint (wp_word_class ("crosses"), ==, WP_WORD_CLASS_SHAPE);
  g_assert_cmpint (wp_word_class ("diamond"), ==, WP_WORD_CLASS_SHAPE);
  g_assert_cmpint (wp_word_class ("tiny"), ==, WP_WORD_CLASS_SIZE);
  g_assert_cmpint (wp_word_class ("reddish"), ==, WP_WORD_CLASS_OTHER);
  g_assert_cmpint (wp_word_class ("cat"), ==, WP_WORD_CLASS_OTHER);
  g_assert_cmpstr (wp_word_class_to_string (WP_WORD_CLASS_COLOUR), ==, "colour");
  g_assert_cmpstr (wp_word_class_to_string (WP_WORD_CLASS_OTHER), ==, "other");
}

static void
test_pointing (void)
{
  /* An 80 x 60 image, centre crop x 10..70, grid 2: patches 30 x 30, centres (25, 15), (55, 15),
   * (25, 45), (55, 45). */
  const WpImageCrop crop = { 10.0, 0.0, 60.0, 60.0 };
  const float       top_right[4] = { 0.1f, 0.9f, 0.2f, 0.3f };
  const float       negative[4] = { -0.5f, -0.4f, -0.1f, -0.3f };
  const float       tie[4] = { 0.5f, 0.2f, 0.5f, 0.1f };
  const WpBox       right_half = { NULL, 0, 40.0, 0.0, 40.0, 60.0 };
  const WpBox       edge = { NULL, 0, 55.0, 15.0, 5.0, 5.0 }; /* the centre on its corner */
  const WpBox       two[2] = {
          { NULL, 0, 0.0, 0.0, 20.0, 20.0 },
          { NULL, 0, 20.0, 40.0, 10.0, 10.0 },
  };
  const WpBox uncropped_only = { NULL, 0, 0.0, 0.0, 10.0, 60.0 };

  g_assert_true (wp_pointing_hit (top_right, 2, 2, &crop, &right_half, 1));
  g_assert_true (wp_pointing_hit (top_right, 2, 2, &crop, &edge, 1));
  g_assert_false (wp_pointing_hit (top_right, 2, 2, &crop, two, 2));
  /* Negative cosines: the peak is still the maximum (-0.1, bottom left, centre (25, 45)). */
  g_assert_true (wp_pointing_hit (negative, 2, 2, &crop, two, 2));
  g_assert_false (wp_pointing_hit (negative, 2, 2, &crop, two, 1));
  /* Ties go to the first patch (top left, centre (25, 15)). */
  g_assert_false (wp_pointing_hit (tie, 2, 2, &crop, two, 2));
  /* Nothing can point into the part the crop cut away. */
  g_assert_false (wp_pointing_hit (top_right, 2, 2, &crop, &uncropped_only, 1));
  g_assert_false (wp_pointing_hit (negative, 2, 2, &crop, &uncropped_only, 1));
}

static void
test_regions (void)
{
  const float positive[4] = { 1.0f, 0.5f, 0.49f, -1.0f };
  const float negative[4] = { -0.5f, -0.1f, -0.1f, -0.3f };
  const float sparse[4] = { 0.0f, 0.75f, 0.25f, 0.0f };
  guint8      selected[4];

  g_assert_cmpint (wp_region_filip (selected, positive, 4), ==, 2);
  g_assert_cmpint (selected[0], ==, 1);
  g_assert_cmpint (selected[1], ==, 1); /* >= 0.5 x max, the edge included */
  g_assert_cmpint (selected[2], ==, 0);
  g_assert_cmpint (selected[3], ==, 0);
  /* All cosines negative: the peak alone (the first maximum). */
  g_assert_cmpint (wp_region_filip (selected, negative, 4), ==, 1);
  g_assert_cmpint (selected[1], ==, 1);
  g_assert_cmpint (wp_region_sparc (selected, sparse, 4), ==, 2);
  g_assert_cmpint (selected[0], ==, 0);
  g_assert_cmpint (selected[1], ==, 1);
  g_assert_cmpint (selected[2], ==, 1);
}

static void
test_iou (void)
{
  /* 80 x 60 image, crop x 10..70, grid 2 (30 x 30 patches). */
  const WpImageCrop crop = { 10.0, 0.0, 60.0, 60.0 };
  const guint8      top_left[4] = { 1, 0, 0, 0 };
  const guint8      top_row[4] = { 1, 1, 0, 0 };
  const guint8      none[4] = { 0, 0, 0, 0 };
  const WpBox       same = { NULL, 0, 10.0, 0.0, 30.0, 30.0 };
  const WpBox       shifted = { NULL, 0, 25.0, 0.0, 30.0, 30.0 };
  const WpBox       halves[2] = { { NULL, 0, 10.0, 0.0, 30.0, 15.0 },
                                  { NULL, 0, 40.0, 0.0, 30.0, 15.0 } };
  const WpBox       overlapping[2] = { { NULL, 0, 10.0, 0.0, 20.0, 30.0 },
                                       { NULL, 0, 20.0, 0.0, 20.0, 30.0 } };
  const WpBox       outside = { NULL, 0, -20.0, -10.0, 30.0, 20.0 };
  const WpBox       beyond = { NULL, 0, 60.0, 40.0, 100.0, 100.0 };
  const WpImageCrop wide = { 0.0, 15.0, 60.0, 60.0 }; /* 60 x 90 image, crop y 15..75 */
  const WpBox       tall = { NULL, 0, 0.0, 0.0, 30.0, 45.0 };

  g_assert_cmpfloat_with_epsilon (wp_region_iou (top_left, 2, 2, &crop, 80, 60, &same, 1), 1.0,
                                  1e-12);
  /* Intersection 15 x 30, union 2 x 900 - 450. */
  g_assert_cmpfloat_with_epsilon (wp_region_iou (top_left, 2, 2, &crop, 80, 60, &shifted, 1),
                                  450.0 / 1350.0, 1e-12);
  /* Two boxes, the top halves of both patches: 900 / 1800. */
  g_assert_cmpfloat_with_epsilon (wp_region_iou (top_row, 2, 2, &crop, 80, 60, halves, 2), 0.5,
                                  1e-12);
  /* Overlapping boxes count their overlap once: union x 10..40 = the patch. */
  g_assert_cmpfloat_with_epsilon (wp_region_iou (top_left, 2, 2, &crop, 80, 60, overlapping, 2),
                                  1.0, 1e-12);
  /* A box partly outside the image is clipped to 10 x 10 at the origin, in the cut-away part. */
  g_assert_cmpfloat_with_epsilon (wp_region_iou (top_left, 2, 2, &crop, 80, 60, &outside, 1), 0.0,
                                  1e-12);
  /* Clipped to 20 x 20 at (60, 40) (the rest is past the image); the bottom-right patch covers
   * 40..70 x 30..60: intersection 10 x 20, union 900 + 400 - 200. */
  {
    const guint8 bottom_right[4] = { 0, 0, 0, 1 };

    g_assert_cmpfloat_with_epsilon (wp_region_iou (bottom_right, 2, 2, &crop, 80, 60, &beyond, 1),
                                    200.0 / 1100.0, 1e-12);
  }
  /* Nothing selected: intersection 0. */
  g_assert_cmpfloat_with_epsilon (wp_region_iou (none, 2, 2, &crop, 80, 60, &same, 1), 0.0, 1e-12);
  /* A tall image cropped vertically: the top-left patch is 0..30 x 15..45. */
  g_assert_cmpfloat_with_epsilon (wp_region_iou (top_left, 2, 2, &wide, 60, 90, &tall, 1),
                                  900.0 / 1350.0, 1e-12);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/evaluate/rank/ties-against-the-query", test_rank);
  g_test_add_func ("/evaluate/recall/duplicates", test_recall);
  g_test_add_func ("/evaluate/words/caption-key-and-classes", test_caption_key_and_classes);
  g_test_add_func ("/evaluate/pointing/crop-and-boxes", test_pointing);
  g_test_add_func ("/evaluate/regions/threshold", test_regions);
  g_test_add_func ("/evaluate/iou/exact-areas", test_iou);
  status = g_test_run ();
  return status;
}
