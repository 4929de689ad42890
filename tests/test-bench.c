/* test-bench.c: `wordpatch-cli bench` end to end: one quick run prints every figure as a positive,
 * finite number with the FLOP count of docs/performance.md's formula, and bad options get one
 * clear line. Nothing here depends on how fast the machine is. */
#include <math.h>
#include <string.h>

#include "cli-harness.h"

static void
test_json (void)
{
  static const char *const figures[] = {
    "image_fwd_ms", "image_fwd_per_s", "text_fwd_ms", "text_fwd_per_s", "train_step_ms",
    "train_pairs_per_s", "heatmap_ms", "train_gflop_per_step", "train_gflops", "sgemm_peak_gflops",
    "train_fraction_of_peak", "peak_rss_mb", "batch", "threads", "iterations", "caption_tokens",
    "parameters"
  };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_auto (Run) run = { 0 };
  JsonObject *root;

  if (!have_cli ())
    return;
  run_cli (&run, "bench", "--config", "tiny", "--batch", "4", "--iterations", "1", "--json", NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_cmpstr (run.err, ==, "");
  root = parse_object (parser, run.out);
  g_assert_nonnull (root);
  if (root == NULL)
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (figures); i++) {
    JsonNode *node = json_object_get_member (root, figures[i]);
    double    value;

    if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)) {
      g_test_fail_printf ("\"%s\" is missing or not a number in %s", figures[i], run.out);
      continue;
    }
    value = json_node_get_double (node);
    if (!(isfinite (value) && value > 0.0))
      g_test_fail_printf ("\"%s\" is %g, not a positive finite number", figures[i], value);
  }
  g_assert_cmpstr (json_object_get_string_member (root, "config"), ==, "tiny");
  g_assert_cmpstr (json_object_get_string_member (root, "loss"), ==, "sparc");
  g_assert_true (json_object_get_null_member (root, "model"));
  g_assert_cmpint (json_object_get_int_member (root, "batch"), ==, 4);
  g_assert_cmpint (json_object_get_int_member (root, "iterations"), ==, 1);
  /* The bench caption is 12 CLIP tokens. By docs/performance.md's formula, per pair: vision
   * 2*64*192*192 + 6*(2*65*(4*192^2 + 2*192*768) + 4*65^2*192) + 2*65*192*128 = 372,429,312;
   * text 4*(2*12*(4*192^2 + 2*192*768) + 4*12^2*192) + 2*12*192*128 = 43,499,520; SPARC with
   * its default pair negatives, every caption grouped over every image, for B = 4:
   * 2*4^2*128 + 4^2*(4*12*64*128 + 2*12*128) = 6,344,704; a step is three times
   * 4 * 415,928,832 + 6,344,704. */
  g_assert_cmpint (json_object_get_int_member (root, "caption_tokens"), ==, 12);
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (root, "train_gflop_per_step"),
                                  5.010180096, 1e-9);
}

/* The step's objective takes the training settings' options: the paper's caption negatives
 * group each caption over its own image alone, B (4 T P E + 2 T T E) instead of the default
 * pair negatives' B^2 4 T P E + B^2 2 T E. */
static void
test_sparc_options (void)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_auto (Run) run = { 0 };
  JsonObject *root;

  if (!have_cli ())
    return;
  run_cli (&run, "bench", "--config", "tiny", "--batch", "4", "--iterations", "1",
           "--sparc-negatives", "caption", "--sparc-threshold", "0.5", "--json", NULL);
  g_assert_cmpint (run.status, ==, 0);
  root = parse_object (parser, run.out);
  g_assert_nonnull (root);
  if (root == NULL)
    return;
  g_assert_cmpstr (json_object_get_string_member (root, "sparc_negatives"), ==, "caption");
  g_assert_cmpfloat (json_object_get_double_member (root, "sparc_threshold"), ==, 0.5);
  /* 5.010180096 GFLOP less 3 * 16 * (4 * 12 * 64 * 128 + 2 * 12 * 128), plus
   * 3 * 4 * (4 * 12 * 64 * 128 + 2 * 12^2 * 128). */
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (root, "train_gflop_per_step"),
                                  5.010180096 - 0.019021824 + 0.005160960, 1e-9);
}

static void
test_bad_options (void)
{
  if (!have_cli ())
    return;
  {
    g_auto (Run) run = { 0 };

    run_cli (&run, "bench", "--loss", "cosine", NULL);
    assert_usage_error (&run, "bench", "--loss");
    assert_mentions (run.err, "'cosine'");
  }
  {
    g_auto (Run) run = { 0 };

    run_cli (&run, "bench", "--batch", "0", NULL);
    assert_usage_error (&run, "bench", "bench");
    assert_mentions (run.err, "--batch");
  }
  {
    g_auto (Run) run = { 0 };

    run_cli (&run, "bench", "--iterations", "-3", NULL);
    assert_usage_error (&run, "bench", "bench");
    assert_mentions (run.err, "--iterations");
  }
  {
    g_auto (Run) run = { 0 };

    run_cli (&run, "bench", "--threads", "many", NULL);
    assert_usage_error (&run, "bench", "bench");
    assert_mentions (run.err, "--threads");
  }
  {
    g_auto (Run) run = { 0 };

    run_cli (&run, "bench", "--config", "tiny", "--model", "somewhere", NULL);
    assert_usage_error (&run, "bench", "--config");
    assert_mentions (run.err, "--model");
  }
  {
    g_auto (Run) run = { 0 };

    /* As `init --config huge`: bad usage naming the option and the size. */
    run_cli (&run, "bench", "--config", "huge", NULL);
    assert_usage_error (&run, "bench", "--config");
    assert_mentions (run.err, "'huge'");
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bench/json", test_json);
  g_test_add_func ("/bench/sparc-options", test_sparc_options);
  g_test_add_func ("/bench/bad-options", test_bad_options);
  return g_test_run ();
}
