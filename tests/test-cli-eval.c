/* test-cli-eval.c: wordpatch-cli eval end to end ($WORDPATCH_CLI, run with g_spawn_sync).
 *
 * A tiny random model is made with "init" and a dataset folder of PNGs and a captions.jsonl with
 * boxes (one with a word the caption lacks, one pair without boxes) in a temporary folder shared
 * by the tests and deleted at the end. Assertions are non-fatal so that the cleanup runs. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "cli-harness.h"
#include "wordpatch/wordpatch.h"

static char    *tmp_dir;
static char    *model_dir;
static char    *data_dir;
static char    *vocab_dir;
static gboolean made;

static const char captions[] =
  "{\"image\": \"red.png\", \"caption\": \"a red circle\", \"boxes\": ["
  "{\"word\": \"red\", \"x\": 20, \"y\": 10, \"w\": 40, \"h\": 40}, {\"word\": \"circle\", \"x\": "
  "20, \"y\": 10, \"w\": 40, \"h\": 40},"
  "{\"word\": \"dog\", \"x\": 0, \"y\": 0, \"w\": 10, \"h\": 10}], \"objects\": ["
  "{\"colour\": \"red\", \"shape\": \"circle\", \"x\": 20, \"y\": 10, \"w\": 40, \"h\": 40},"
  "{\"colour\": \"red\", \"shape\": \"square\", \"x\": 62, \"y\": 2, \"w\": 10, \"h\": 10}]}\n"
  "{\"image\": \"blue.png\", \"caption\": \"a small blue circle\", \"boxes\": ["
  "{\"word\": \"small\", \"x\": 16, \"y\": 16, \"w\": 32, \"h\": 32}, {\"word\": \"Blue\", \"x\": "
  "16, \"y\": 16, \"w\": 32, \"h\": 32}]}\n"
  "{\"image\": \"green.png\", \"caption\": \"a green circle\"}\n"
  "{\"image\": \"red.png\", \"caption\": \"A red circle\"}\n";

/* Makes the model and the dataset once. FALSE when the test cannot go on. */
static gboolean
ensure_setup (void)
{
  g_auto (Run) run = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *file = NULL;
  const struct {
    const char *name;
    int         W, H;
    guint32     rgb;
  } images[] = { { "red.png", 80, 60, 0xff0000 },
                 { "blue.png", 64, 64, 0x0000ff },
                 { "green.png", 50, 90, 0x00c000 } };

  if (made)
    return TRUE;
  if (!have_cli ())
    return FALSE;
  tmp_dir = wp_test_make_tmp_dir ("cli-eval");
  if (tmp_dir == NULL)
    return FALSE;
  model_dir = g_build_filename (tmp_dir, "model", NULL);
  data_dir = g_build_filename (tmp_dir, "data", NULL);
  g_mkdir (data_dir, 0755);
  for (gsize i = 0; i < G_N_ELEMENTS (images); i++) {
    g_autofree char *path = g_build_filename (data_dir, images[i].name, NULL);

    if (!write_disc_image (path, images[i].W, images[i].H, images[i].rgb))
      return FALSE;
  }
  file = g_build_filename (data_dir, "captions.jsonl", NULL);
  g_file_set_contents (file, captions, -1, &error);
  g_assert_no_error (error);

  run_cli (&run, "init", "--config", "tiny", "--out", model_dir, "--vocab", vocab_dir, NULL);
  if (run.status != 0) {
    g_test_fail_printf ("wordpatch-cli init failed with status %d: %s", run.status, run.err);
    return FALSE;
  }
  made = TRUE;
  return !g_test_failed ();
}

/* The object member key of obj, or NULL when it is missing or not an object. */
static JsonObject *
object_member (JsonObject *obj,
               const char *key)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, key) : NULL;

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

/* An integer member, or -1000 when missing or not an integer. */
static gint64
int_member (JsonObject *obj,
            const char *key)
{
  JsonNode *node = json_object_get_member (obj, key);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64) {
    g_test_fail_printf ("\"%s\" is not an integer", key);
    return -1000;
  }
  return json_node_get_int (node);
}

/* A member that is a number in [0, 1], or null when null_ok; NAN for null. */
static double
fraction_member (JsonObject *obj,
                 const char *key,
                 gboolean    null_ok)
{
  JsonNode *node = json_object_get_member (obj, key);
  double    value;

  if (node != NULL && JSON_NODE_HOLDS_NULL (node) && null_ok)
    return NAN;
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      (json_node_get_value_type (node) != G_TYPE_DOUBLE &&
       json_node_get_value_type (node) != G_TYPE_INT64)) {
    g_test_fail_printf ("\"%s\" is not a number", key);
    return NAN;
  }
  value = json_node_get_double (node);
  if (!(value >= 0.0 && value <= 1.0))
    g_test_fail_printf ("\"%s\" = %g is outside [0, 1]", key, value);
  return value;
}

static void
check_word_object (JsonObject *obj,
                   const char *name,
                   gint64      count)
{
  const char *const keys[] = { "pointing_filip", "pointing_sparc", "iou_filip",
                               "iou_sparc", "iou_hit_filip", "iou_hit_sparc" };

  if (obj == NULL) {
    g_test_fail_printf ("no object for \"%s\"", name);
    return;
  }
  /* count < 0: the top level, which has "boxed_words" instead. */
  if (count >= 0 && int_member (obj, "count") != count)
    g_test_fail_printf ("\"%s\" has count %" G_GINT64_FORMAT ", expected %" G_GINT64_FORMAT, name,
                        int_member (obj, "count"), count);
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++) {
    const double value = fraction_member (obj, keys[i], count == 0);

    if (count == 0 && !isnan (value))
      g_test_fail_printf ("\"%s\".%s should be null without words", name, keys[i]);
  }
}

static void
check_json (const char *similarity,
            const char *limit)
{
  const char *const recalls[] = { "i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10" };
  g_auto (Run) run = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root, *classes, *rivals, *words, *background;

  if (limit != NULL)
    run_cli (&run, "eval", "--model", model_dir, "--data", data_dir, "--json", "--similarity",
             similarity, "--limit", limit, NULL);
  else
    run_cli (&run, "eval", "--model", model_dir, "--data", data_dir, "--json", "--similarity",
             similarity, NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_cmpstr (run.err, ==, "");
  root = parse_object (parser, run.out);
  if (root == NULL)
    return;

  g_assert_true (json_object_has_member (root, "similarity"));
  g_assert_cmpstr (json_object_get_string_member (root, "similarity"), ==, similarity);
  for (gsize i = 0; i < G_N_ELEMENTS (recalls); i++)
    fraction_member (root, recalls[i], FALSE);
  g_assert_cmpfloat (json_object_get_double_member (root, "i2t_r1"), <=,
                     json_object_get_double_member (root, "i2t_r5"));
  g_assert_cmpfloat (json_object_get_double_member (root, "t2i_r5"), <=,
                     json_object_get_double_member (root, "t2i_r10"));

  if (limit != NULL) {
    /* The first pair alone: one image, one caption, its two boxed words and "dog". */
    g_assert_cmpint (int_member (root, "pairs"), ==, 1);
    g_assert_cmpfloat (json_object_get_double_member (root, "i2t_r1"), ==, 1.0);
    g_assert_cmpint (int_member (root, "boxed_words"), ==, 2);
    g_assert_cmpint (int_member (root, "unmatched_boxes"), ==, 1);
    return;
  }
  /* Four pairs; red.png twice with the same caption (case aside): 3 images, 3 captions. */
  g_assert_cmpint (int_member (root, "pairs"), ==, 4);
  g_assert_cmpint (int_member (root, "images"), ==, 3);
  g_assert_cmpint (int_member (root, "texts"), ==, 3);
  g_assert_cmpint (int_member (root, "boxed_words"), ==, 4);
  g_assert_cmpint (int_member (root, "unmatched_boxes"), ==, 1);
  check_word_object (root, "overall", -1);

  classes = object_member (root, "classes");
  if (classes == NULL) {
    g_test_fail_printf ("no \"classes\" object");
    return;
  }
  check_word_object (object_member (classes, "colour"), "colour", 2);
  check_word_object (object_member (classes, "shape"), "shape", 1);
  check_word_object (object_member (classes, "size"), "size", 1);
  check_word_object (object_member (classes, "other"), "other", 0);

  /* Only red.png lists its objects: its red circle has a red square for a rival. */
  rivals = object_member (root, "rivals");
  if (rivals == NULL) {
    g_test_fail_printf ("no \"rivals\" object");
    return;
  }
  check_word_object (object_member (object_member (rivals, "colour"), "rival"), "colour, rival", 1);
  check_word_object (object_member (object_member (rivals, "colour"), "no_rival"),
                     "colour, no rival", 0);
  check_word_object (object_member (object_member (rivals, "shape"), "rival"), "shape, rival", 1);
  check_word_object (object_member (object_member (rivals, "shape"), "no_rival"), "shape, no rival",
                     0);

  background = object_member (root, "background");
  if (background == NULL) {
    g_test_fail_printf ("no \"background\" object");
    return;
  }
  g_assert_cmpint (int_member (background, "patches"), >, 0);
  {
    const char *const shares[] = { "colour", "shape", "size", "other", "start_end" };
    double            total = 0.0;

    for (gsize i = 0; i < G_N_ELEMENTS (shares); i++)
      total += fraction_member (background, shares[i], FALSE);
    g_assert_cmpfloat_with_epsilon (total, 1.0, 1e-9);
  }
  {
    JsonObject *variance = object_member (root, "patch_variance");

    g_assert_nonnull (variance);
    g_assert_cmpfloat (fraction_member (variance, "position", FALSE) +
                         fraction_member (variance, "image", FALSE),
                       <=, 1.0);
  }

  words = object_member (root, "words");
  if (words == NULL) {
    g_test_fail_printf ("no \"words\" object");
    return;
  }
  g_assert_cmpuint (json_object_get_size (words), ==, 4);
  check_word_object (object_member (words, "red"), "red", 1);
  check_word_object (object_member (words, "circle"), "circle", 1);
  check_word_object (object_member (words, "small"), "small", 1);
  check_word_object (object_member (words, "blue"), "blue", 1);
  g_assert_false (json_object_has_member (words, "dog"));
}

static void
test_json_global (void)
{
  if (ensure_setup ())
    check_json ("global", NULL);
}

static void
test_json_filip (void)
{
  if (ensure_setup ())
    check_json ("filip", NULL);
}

static void
test_json_sparc (void)
{
  if (ensure_setup ())
    check_json ("sparc", NULL);
}

static void
test_json_limit (void)
{
  if (ensure_setup ())
    check_json ("global", "1");
}

static void
test_text (void)
{
  g_auto (Run) run = { 0 };
  g_auto (Run) filip = { 0 };

  if (!ensure_setup ())
    return;
  run_cli (&run, "eval", "--model", model_dir, "--data", data_dir, NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_cmpstr (run.err, ==, "");
  assert_mentions (run.out, "pairs: 4");
  assert_mentions (run.out, "global similarity");
  assert_mentions (run.out, "R@10");
  assert_mentions (run.out, "pointing");
  assert_mentions (run.out, "IoU");
  assert_mentions (run.out, "FILIP");
  assert_mentions (run.out, "SPARC");
  assert_mentions (run.out, "4 boxed words, 1 unmatched box");
  assert_mentions (run.out, "class colour");
  assert_mentions (run.out, "by rival");
  assert_mentions (run.out, "shape, rival");
  assert_mentions (run.out, "blue");
  run_cli (&filip, "eval", "--model", model_dir, "--data", data_dir, "--similarity", "filip", NULL);
  g_assert_cmpint (filip.status, ==, 0);
  assert_mentions (filip.out, "filip similarity");
}

/* A copy of the shared model under tmp_dir that records objective and similarity (NULL: none). */
static char *
model_trained_with (const char *objective,
                    const char *similarity)
{
  g_autofree char *name = g_strdup_printf ("model-%s-%s", objective != NULL ? objective : "none",
                                           similarity != NULL ? similarity : "none");
  char            *dir = g_build_filename (tmp_dir, name, NULL);
  g_autoptr (WpModel) model = NULL;
  g_autoptr (GError) error = NULL;

  model = wp_model_load (model_dir, &error);
  g_assert_no_error (error);
  if (model == NULL)
    return dir;
  model->config.objective = objective;
  model->config.similarity = similarity;
  wp_model_save (model, dir, &error);
  g_assert_no_error (error);
  return dir;
}

/* Without --similarity, eval ranks by the similarity the model's training trains, and says so:
 * the one config.json records, else FILIP's for a FILIP model, the global one for SPARC and for
 * a model that does not say. */
static void
test_default_similarity (void)
{
  static const struct {
    const char *objective;
    const char *recorded;
    const char *similarity;
    const char *why;
  } cases[] = {
    { "filip", NULL, "filip", "the default for a model trained with filip" },
    { "sparc", NULL, "global", "the default for a model trained with sparc" },
    { "sparc", "sparc", "sparc", "as its config.json says" },
    { "filip", "global", "global", "as its config.json says" },
    { NULL, NULL, "global", "does not record the objective" },
  };

  if (!ensure_setup ())
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *dir = model_trained_with (cases[i].objective, cases[i].recorded);
    g_autofree char *said = g_strdup_printf ("retrieval by %s similarity", cases[i].similarity);
    g_auto (Run) text = { 0 };
    g_auto (Run) json = { 0 };
    g_auto (Run) asked = { 0 };

    run_cli (&text, "eval", "--model", dir, "--data", data_dir, NULL);
    g_assert_cmpint (text.status, ==, 0);
    assert_mentions (text.out, said);
    assert_mentions (text.out, cases[i].why);
    /* The same figures as asking for that similarity. */
    run_cli (&json, "eval", "--model", dir, "--data", data_dir, "--json", NULL);
    run_cli (&asked, "eval", "--model", dir, "--data", data_dir, "--json", "--similarity",
             cases[i].similarity, NULL);
    g_assert_cmpint (json.status, ==, 0);
    g_assert_cmpstr (json.out, ==, asked.out);
  }
}

/* config.json's record of the objective: written back, and refused when it is not one. */
static void
test_objective_record (void)
{
  static const char head[] = "{\"text_config\": {}, \"vision_config\": {}, \"wordpatch\": ";
  g_autoptr (GError) error = NULL;
  g_autofree char *written = NULL;
  g_autofree char *good = g_strdup_printf ("%s{\"objective\": \"clip\"}}", head);
  g_autofree char *unknown = g_strdup_printf ("%s{\"objective\": \"mse\"}}", head);
  g_autofree char *number = g_strdup_printf ("%s{\"objective\": 3}}", head);
  WpClipConfig     config;

  g_assert_true (wp_clip_config_parse (&config, good, strlen (good), &error));
  g_assert_no_error (error);
  g_assert_cmpstr (config.objective, ==, "clip");
  written = wp_clip_config_to_json (&config);
  assert_mentions (written, "\"objective\" : \"clip\"");
  g_assert_false (wp_clip_config_parse (&config, unknown, strlen (unknown), &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED);
  if (error != NULL)
    assert_mentions (error->message, "wordpatch.objective 'mse'");
  g_clear_error (&error);
  g_assert_false (wp_clip_config_parse (&config, number, strlen (number), &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_FORMAT);
  g_clear_error (&error);

  /* The similarity the training trains, likewise. */
  {
    g_autofree char *sparc =
      g_strdup_printf ("%s{\"objective\": \"sparc\", \"similarity\": \"sparc\"}}", head);
    g_autofree char *dot = g_strdup_printf ("%s{\"similarity\": \"dot\"}}", head);
    g_autofree char *back = NULL;

    g_assert_true (wp_clip_config_parse (&config, sparc, strlen (sparc), &error));
    g_assert_no_error (error);
    g_assert_cmpstr (config.similarity, ==, "sparc");
    back = wp_clip_config_to_json (&config);
    assert_mentions (back, "\"similarity\" : \"sparc\"");
    g_assert_false (wp_clip_config_parse (&config, dot, strlen (dot), &error));
    g_assert_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED);
    if (error != NULL)
      assert_mentions (error->message, "wordpatch.similarity 'dot'");
  }
}

static void
test_usage (void)
{
  if (!ensure_setup ())
    return;
  {
    g_auto (Run) run = { 0 };

    run_cli (&run, "eval", "--model", model_dir, "--data", data_dir, "--similarity", "dot", NULL);
    assert_usage_error (&run, "eval", "'dot'");
  }
  {
    g_auto (Run) run = { 0 };

    run_cli (&run, "eval", "--model", model_dir, "--data", data_dir, "--limit", "0", NULL);
    assert_usage_error (&run, "eval", "--limit");
  }
  {
    g_auto (Run) run = { 0 };

    run_cli (&run, "eval", "--model", model_dir, "--data", data_dir, "--bogus", NULL);
    assert_usage_error (&run, "eval", "--bogus");
  }
  {
    g_auto (Run) run = { 0 };

    run_cli (&run, "eval", "--model", model_dir, "--data", data_dir, "stray", NULL);
    assert_usage_error (&run, "eval", "stray");
  }
  {
    g_auto (Run) run = { 0 };

    run_cli (&run, "eval", "--model", model_dir, NULL);
    assert_usage_error (&run, "eval", "--data");
  }
}

static void
test_failures (void)
{
  g_autofree char *absent = NULL;

  if (!ensure_setup ())
    return;
  {
    g_auto (Run) run = { 0 };

    absent = g_build_filename (tmp_dir, "no-such-data", NULL);
    run_cli (&run, "eval", "--model", model_dir, "--data", absent, NULL);
    assert_failure (&run, absent, NULL, NULL);
  }
  {
    g_auto (Run) run = { 0 };

    run_cli (&run, "eval", "--model", absent, "--data", data_dir, NULL);
    assert_failure (&run, absent, NULL, NULL);
  }
}

int
main (int   argc,
      char *argv[])
{
  int status;

  wp_test_init (&argc, &argv);
  vocab_dir = g_test_build_filename (G_TEST_DIST, "data", "clip-bpe", NULL);

  g_test_add_func ("/cli/eval/json-global", test_json_global);
  g_test_add_func ("/cli/eval/json-filip", test_json_filip);
  g_test_add_func ("/cli/eval/json-sparc", test_json_sparc);
  g_test_add_func ("/cli/eval/json-limit", test_json_limit);
  g_test_add_func ("/cli/eval/text", test_text);
  g_test_add_func ("/cli/eval/default-similarity", test_default_similarity);
  g_test_add_func ("/cli/eval/objective-record", test_objective_record);
  g_test_add_func ("/cli/eval/usage", test_usage);
  g_test_add_func ("/cli/eval/failures", test_failures);

  status = g_test_run ();
  if (tmp_dir != NULL)
    remove_tree (tmp_dir);
  g_free (tmp_dir);
  g_free (model_dir);
  g_free (data_dir);
  g_free (vocab_dir);
  return status;
}
