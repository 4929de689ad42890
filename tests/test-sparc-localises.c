/* test-sparc-localises.c: SPARC's default objective teaches a model where words are.
 *
 * `wordpatch-cli train` fine-tunes data/model-clip, the bundled CLIP-objective model, with the
 * default SPARC objective (pair negatives, no global term) for 100 steps of 16 generated scenes,
 * and `wordpatch-cli eval` scores the SPARC grouping's pointing game on 300 held-out scenes drawn
 * differently (the shapes test split), before and after: colour and shape words go from 0.28 and
 * 0.23 to 0.47 and 0.55. The same run with the paper's definition (`--sparc-negatives caption
 * --lambda-global 0.5`) ends at 0.40 and 0.20, which fails here; at 300 steps of 16 (lr 5e-4) it
 * ends at 0.21 and 0.13 (docs/bundled-model.md, "SPARC pilots"). */

#include "cli-harness.h"
#include "train-scenes.h"
#include "wordpatch/wordpatch.h"

/* The rise asked for, well under the 0.19 and 0.32 measured here and the 0.12 to 0.44 of other
 * seeds and lengths at learning rates 1e-3 and 2e-3 (at 5e-4, 150 steps are not enough: colour
 * fell by 0.07; 300 raised it by 0.09). A pointing rate over the 469 colour or shape words of
 * the 300 scenes has a standard error of about 0.02. */
#define MIN_RISE      0.06
#define MIN_LOSS_FINE 0.3

/* eval's JSON on the held-out scenes of checkpoint; its object is parser's. */
static JsonObject *
evaluate (JsonParser *parser,
          const char *checkpoint,
          const char *held_out)
{
  g_auto (Run) eval = { 0 };

  run_cli (&eval, "eval", "--model", checkpoint, "--data", held_out, "--json", NULL);
  g_assert_cmpint (eval.status, ==, 0);
  return parse_object (parser, eval.out);
}

static void
test_pointing_rises (void)
{
  g_autofree char *model_clip = wp_data_find ("model-clip");
  g_autofree char *train = NULL;
  g_autofree char *held_out = NULL;
  g_autofree char *out = NULL;
  g_autofree char *first = NULL;
  g_autofree char *last = NULL;
  g_autoptr (JsonParser) before_parser = json_parser_new ();
  g_autoptr (JsonParser) after_parser = json_parser_new ();
  g_auto (Run) shapes = { 0 };
  g_auto (Run) held_out_shapes = { 0 };
  g_auto (Run) run = { 0 };
  g_auto (Metrics) metrics = { 0 };
  JsonObject *before, *after;
  double      loss_fine = 0.0;

  if (!ensure_data ())
    return;
  g_assert_nonnull (model_clip);
  train = out_path ("sparc-train");
  held_out = out_path ("sparc-held-out");
  out = out_path ("sparc-run");
  run_cli (&shapes, "shapes", "--out", train, "--count", "1600", "--seed", "2", "--split", "train",
           NULL);
  g_assert_cmpint (shapes.status, ==, 0);
  run_cli (&held_out_shapes, "shapes", "--out", held_out, "--count", "300", "--seed", "7",
           "--split", "test", NULL);
  g_assert_cmpint (held_out_shapes.status, ==, 0);
  run_cli (&run, "train", "--init", model_clip, "--data", train, "--out", out, "--loss", "sparc",
           "--steps", "100", "--batch", "16", "--lr", "1e-3", "--seed", "1", "--holdout", "0",
           "--save-every", "100", "--threads", "1", NULL);
  g_assert_cmpint (run.status, ==, 0);

  /* Step 0 is data/model-clip recorded as a SPARC model, so both are scored alike. */
  first = g_build_filename (out, "checkpoints", "step-000000000", NULL);
  last = g_build_filename (out, "checkpoints", "step-000000100", NULL);
  before = evaluate (before_parser, first, held_out);
  after = evaluate (after_parser, last, held_out);
  if (before == NULL || after == NULL)
    return;
  for (int c = 0; c < 2; c++) {
    const char  *word_class = c == 0 ? "colour" : "shape";
    const double was = eval_class_value (before, "classes", word_class, NULL, "pointing_sparc");
    const double is = eval_class_value (after, "classes", word_class, NULL, "pointing_sparc");

    g_test_message ("%s words, SPARC grouping's pointing: %.3f before, %.3f after", word_class, was,
                    is);
    g_assert_cmpfloat (is, >=, was + MIN_RISE);
  }

  /* Without the global term the loss is the fine-grained one: it has not collapsed. */
  read_metrics (out, &metrics);
  g_assert_cmpuint (metrics.losses->len, ==, 100);
  for (guint i = 90; i < 100; i++)
    loss_fine += g_array_index (metrics.losses, double, i) / 10.0;
  g_test_message ("fine-grained loss over the last 10 steps: %.3f", loss_fine);
  g_assert_cmpfloat (loss_fine, >, MIN_LOSS_FINE);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sparc/default-localises", test_pointing_rises);
  status = g_test_run ();
  remove_scenes ();
  return status;
}
