/* test-train.c: training end to end, `wordpatch-cli train` as a user runs it: learning, resume
 * (bit for bit, after Ctrl-C and SIGKILL, with options it may or may not change), a full disk,
 * NaN, bad data, usage, held-out evaluation, the box term. The trainer's API is
 * test-trainer.c's. */
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli-harness.h"
#include "train-scenes.h"
#include "wordpatch/wordpatch.h"

static double
mean_loss (const Metrics *m,
           guint          first,
           guint          n)
{
  double sum = 0.0;

  for (guint i = first; i < first + n; i++)
    sum += g_array_index (m->losses, double, i);
  return sum / n;
}

static void
test_learns (void)
{
  g_autofree char *out = NULL;
  g_auto (Run) run = { 0 };
  g_auto (Run) info = { 0 };
  g_auto (Metrics) metrics = { 0 };
  double before, after;

  if (!ensure_data ())
    return;
  out = out_path ("learns");
  run_cli (&run, TRAIN_ARGS (data_dir, out, "50", "25"), "--loss", "sparc", NULL);
  g_assert_cmpint (run.status, ==, 0);
  assert_mentions (run.err, "128 training pairs, 32 held out; 50 steps");
  assert_mentions (run.err, "held-out retrieval on 32 pairs by sparc similarity");
  assert_mentions (run.out, "trained 50 steps");

  read_metrics (out, &metrics);
  g_assert_cmpuint (metrics.losses->len, ==, 50);
  g_assert_cmpfloat (mean_loss (&metrics, 0, 10), >, mean_loss (&metrics, 40, 10) + 0.3);
  g_assert_cmpuint (metrics.eval_steps->len, ==, 3);
  g_assert_cmpint (g_array_index (metrics.eval_steps, gint64, 0), ==, 0);
  before = g_array_index (metrics.eval_recall, double, 0);
  after = g_array_index (metrics.eval_recall, double, 2);
  g_test_message ("held-out i2t + t2i R@1: %.3f untrained, %.3f after 50 steps", before, after);
  g_assert_cmpfloat (after, >, before + 0.4);

  /* The output folder stands for its newest checkpoint, which is a model folder. */
  run_cli (&info, "info", "--model", out, NULL);
  g_assert_cmpint (info.status, ==, 0);
  assert_mentions (info.out, "50");
}

static void
test_resume_bit_exact (void)
{
  g_autofree char *straight = NULL;
  g_autofree char *interrupted = NULL;
  g_autofree char *killed = NULL;
  g_auto (Run) run = { 0 };
  g_auto (Run) resumed = { 0 };
  g_auto (Run) resumed_after_kill = { 0 };
  g_auto (Metrics) straight_metrics = { 0 };
  g_auto (Metrics) resumed_metrics = { 0 };

  if (!ensure_data ())
    return;
  straight = out_path ("straight");
  interrupted = out_path ("interrupted");
  killed = out_path ("killed");
  run_cli (&run, TRAIN_ARGS (data_dir, straight, "20", "10"), NULL);
  g_assert_cmpint (run.status, ==, 0);

  /* Ctrl-C: a checkpoint at the step reached, exit status 130, then --resume to the end. */
  {
    const char *args[] = { TRAIN_ARGS (data_dir, interrupted, "20", "10"), NULL };

    stop_run (args, interrupted, 3, 0, SIGINT);
  }
  run_cli (&resumed, "train", "--out", interrupted, "--resume", NULL);
  g_assert_cmpint (resumed.status, ==, 0);
  assert_mentions (resumed.err, "resuming at step");
  assert_same_latest (straight, interrupted, TRUE);
  read_metrics (straight, &straight_metrics);
  read_metrics (interrupted, &resumed_metrics);
  g_assert_cmpuint (resumed_metrics.losses->len, ==, 20);
  g_assert_cmpmem (straight_metrics.losses->data, 20 * sizeof (double),
                   resumed_metrics.losses->data, 20 * sizeof (double));

  /* SIGKILL three times at a random moment (while a step computes or a checkpoint is written),
   * resuming in between: each time what is left loads, and the run still ends where the
   * uninterrupted one did (checkpoint cadence does not change the arithmetic). */
  for (int trial = 0; trial < 3; trial++) {
    const char *fresh[] = { TRAIN_ARGS (data_dir, killed, "20", "1"), NULL };
    const char *resume[] = { "train", "--out", killed, "--resume", NULL };
    g_auto (Run) info = { 0 };

    stop_run (trial == 0 ? fresh : resume, killed, 4 + 5 * (guint) trial,
              (gulong) g_test_rand_int_range (0, 200000), SIGKILL);
    run_cli (&info, "info", "--model", killed, NULL);
    g_assert_cmpint (info.status, ==, 0);
  }
  run_cli (&resumed_after_kill, "train", "--out", killed, "--resume", NULL);
  g_assert_cmpint (resumed_after_kill.status, ==, 0);
  assert_same_latest (straight, killed, FALSE);
}

/* In the child: files may grow to this many bytes, and going past fails the write (EFBIG) instead
 * of killing the process, as a full disk fails it with ENOSPC. */
static void
limit_file_size_cb (gpointer user_data)
{
  const struct rlimit limit = { GPOINTER_TO_SIZE (user_data), GPOINTER_TO_SIZE (user_data) };

  signal (SIGXFSZ, SIG_IGN);
  setrlimit (RLIMIT_FSIZE, &limit);
}

/* A checkpoint that cannot be written (the disk is full): training stops with a message naming
 * the step and the newest complete checkpoint, leaves no partial folder, and that checkpoint still
 * loads and resumes. */
static void
test_disk_full (void)
{
  g_autofree char *out = NULL;
  g_autofree char *partial = NULL;
  g_autofree char *failed = NULL;
  g_autofree char *kept = NULL;
  g_auto (Run) full = { 0 };
  g_auto (Run) info = { 0 };
  g_auto (Run) resumed = { 0 };

  if (!ensure_data ())
    return;
  out = out_path ("disk-full");
  {
    const char *args[] = { TRAIN_ARGS (data_dir, out, "12", "10"), NULL };

    stop_run (args, out, 3, 0, SIGINT);
  }
  /* The run's small files fit, a checkpoint's weights do not. */
  {
    const char *args[] = { "train", "--out", out, "--resume", NULL };

    run_cli_argv (&full, args, limit_file_size_cb, GSIZE_TO_POINTER (256 * 1024));
  }
  g_assert_cmpint (full.status, ==, 1);
  assert_mentions (full.err, "the checkpoint of step 10 was not written");
  assert_mentions (full.err, "File too large");
  kept = g_build_filename (out, "checkpoints", NULL);
  assert_mentions (full.err, kept);
  partial = g_build_filename (out, "checkpoints", ".tmp-step-000000010", NULL);
  failed = g_build_filename (out, "checkpoints", "step-000000010", NULL);
  g_assert_false (g_file_test (partial, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (failed, G_FILE_TEST_EXISTS));
  run_cli (&info, "info", "--model", out, NULL);
  g_assert_cmpint (info.status, ==, 0);

  /* Space again: the run goes on from the kept checkpoint to the end. */
  run_cli (&resumed, "train", "--out", out, "--resume", NULL);
  g_assert_cmpint (resumed.status, ==, 0);
  assert_mentions (resumed.err, "resuming at step");
  assert_mentions (resumed.out, "trained");
}

static void
test_not_finite (void)
{
  g_autofree char *out = NULL;
  g_autofree char *step0 = NULL;
  g_auto (Run) run = { 0 };
  g_auto (Run) info = { 0 };

  if (!ensure_data ())
    return;
  out = out_path ("nan");
  run_cli (&run, TRAIN_ARGS (data_dir, out, "40", "100"), "--lr", "1e25", "--warmup", "0", NULL);
  g_assert_cmpint (run.status, ==, 1);
  assert_mentions (run.err, "not finite");
  assert_mentions (run.err, "training stopped, the weights of");
  step0 = g_build_filename (out, "checkpoints", "step-000000000", NULL);
  assert_mentions (run.err, step0);
  run_cli (&info, "info", "--model", out, NULL);
  g_assert_cmpint (info.status, ==, 0);
}

static void
test_bad_data (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *junk = NULL;
  g_autofree char *out = NULL;
  g_autofree char *empty = NULL;
  g_autofree char *empty_out = NULL;
  g_auto (Run) run = { 0 };
  g_auto (Run) run_empty = { 0 };

  if (!ensure_data ())
    return;
  dir = make_dataset ("bad-data", 40,
                      "{\"image\": \"images/0000.png\", \"caption\": \n"
                      "{\"image\": \"images/missing.png\", \"caption\": \"a red disc\"}\n"
                      "{\"image\": \"images/junk.png\", \"caption\": \"a red disc\"}\n");
  junk = g_build_filename (dir, "images", "junk.png", NULL);
  g_assert_true (g_file_set_contents (junk, "\x89PNG\r\n\x1a\n truncated", -1, NULL));
  out = out_path ("bad-data-run");
  run_cli (&run, "train", "--config", "tiny", "--data", dir, "--out", out, "--batch", "8",
           "--steps", "2", "--threads", "1", "--vocab-size", "600", NULL);
  g_assert_cmpint (run.status, ==, 0);
  assert_mentions (run.err, "captions.jsonl line 41: not valid JSON");
  assert_mentions (run.err, "missing.png does not exist");
  assert_mentions (run.err, "junk.png");
  assert_mentions (run.err, "3 pairs skipped: 1 bad line, 1 missing image, 1 undecodable image");
  assert_mentions (run.err, "36 training pairs, 4 held out");

  empty = make_dataset ("all-bad", 0,
                        "{\"image\": \"images/missing.png\", \"caption\": \"a red disc\"}\n");
  empty_out = out_path ("all-bad-run");
  run_cli (&run_empty, "train", "--config", "tiny", "--data", empty, "--out", empty_out, NULL);
  assert_failure (&run_empty, empty, "no usable pair", "missing.png");
}

static void
test_usage (void)
{
  g_autofree char *out = NULL;
  g_autofree char *nowhere = NULL;
  g_auto (Run) no_out = { 0 };
  g_auto (Run) both = { 0 };
  g_auto (Run) resume_options = { 0 };
  g_auto (Run) first = { 0 };
  g_auto (Run) again = { 0 };
  g_auto (Run) no_run = { 0 };
  g_auto (Run) loss = { 0 };
  g_auto (Run) big_batch = { 0 };
  g_auto (Run) bad_fraction = { 0 };
  g_auto (Run) selected = { 0 };
  g_auto (Run) bad_global = { 0 };
  g_auto (Run) bad_groups = { 0 };
  g_auto (Run) global = { 0 };
  g_auto (Run) bad_patch = { 0 };
  g_auto (Run) sized_init = { 0 };
  g_auto (Run) sized = { 0 };
  g_auto (Run) big_seed = { 0 };
  g_auto (Run) huge = { 0 };
  g_autofree char *selected_out = NULL;
  g_autofree char *sized_out = NULL;
  g_autofree char *sized_model = NULL;
  g_autoptr (WpModel) sized_trained = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *global_out = NULL;

  if (!ensure_data ())
    return;
  run_cli (&no_out, "train", "--config", "tiny", "--data", data_dir, NULL);
  assert_usage_error (&no_out, "train", "--out");
  out = out_path ("usage");
  run_cli (&both, "train", "--config", "tiny", "--init", out, "--data", data_dir, "--out", out,
           NULL);
  assert_usage_error (&both, "train", "--init");
  run_cli (&resume_options, "train", "--out", out, "--resume", "--config", "tiny", NULL);
  assert_usage_error (&resume_options, "train", "--resume");
  run_cli (&loss, "train", "--config", "tiny", "--data", data_dir, "--out", out, "--loss", "mse",
           NULL);
  assert_usage_error (&loss, "train", "'mse'");
  run_cli (&big_seed, "train", "--config", "tiny", "--data", data_dir, "--out", out, "--seed",
           "-1", NULL);
  assert_usage_error (&big_seed, "train", "--seed");
  run_cli (&huge, "train", "--config", "huge", "--data", data_dir, "--out", out, NULL);
  assert_usage_error (&huge, "train", "'huge'");

  run_cli (&first, TRAIN_ARGS (data_dir, out, "1", "1"), NULL);
  g_assert_cmpint (first.status, ==, 0);
  run_cli (&again, TRAIN_ARGS (data_dir, out, "1", "1"), NULL);
  assert_failure (&again, out, "already holds a training run", NULL);
  nowhere = out_path ("no-run-here");
  run_cli (&no_run, "train", "--out", nowhere, "--resume", NULL);
  assert_failure (&no_run, nowhere, "no training run to resume", NULL);
  run_cli (&big_batch, "train", "--config", "tiny", "--data", data_dir, "--out", nowhere, "--batch",
           "1000", NULL);
  assert_failure (&big_batch, "fewer than the batch of 1000", NULL, NULL);
  run_cli (&bad_fraction, "train", "--config", "tiny", "--data", data_dir, "--out", nowhere,
           "--loss", "filip", "--filip-patches", "1.5", NULL);
  assert_usage_error (&bad_fraction, "train", "--filip-patches must be in (0, 1], not 1.5");
  selected_out = out_path ("filip-patches");
  run_cli (&selected, TRAIN_ARGS (data_dir, selected_out, "1", "1"), "--loss", "filip",
           "--filip-patches", "0.25", NULL);
  g_assert_cmpint (selected.status, ==, 0);
  run_cli (&bad_groups, "train", "--config", "tiny", "--data", data_dir, "--out", nowhere,
           "--batch", "8", "--group-by-word", "9", NULL);
  assert_usage_error (&bad_groups, "train", "word groups must hold 0 (off) to a batch of pairs");
  run_cli (&bad_global, "train", "--config", "tiny", "--data", data_dir, "--out", nowhere, "--loss",
           "filip", "--filip-global", "-2", NULL);
  assert_usage_error (&bad_global, "train", "--filip-global must be in [0, 1000000], not -2");
  global_out = out_path ("filip-global");
  run_cli (&global, TRAIN_ARGS (data_dir, global_out, "1", "1"), "--loss", "filip",
           "--filip-global", "0.5", NULL);
  g_assert_cmpint (global.status, ==, 0);
  /* Both terms are reported, and the global one is really computed. */
  assert_mentions (global.err, "[filip ");
  g_assert_null (strstr (global.err, "clip 0.0000]"));

  run_cli (&bad_patch, "train", "--config", "tiny", "--data", data_dir, "--out", nowhere,
           "--image-size", "48", "--patch-size", "10", NULL);
  assert_usage_error (&bad_patch, "train", "image_size 48 is not a multiple of patch_size 10");
  run_cli (&sized_init, "train", "--init", out, "--data", data_dir, "--out", nowhere,
           "--patch-size", "16", NULL);
  assert_usage_error (&sized_init, "train", "chosen only from scratch");
  sized_out = out_path ("sized");
  run_cli (&sized, TRAIN_ARGS (data_dir, sized_out, "1", "1"), "--image-size", "48",
           "--patch-size", "12", NULL);
  g_assert_cmpint (sized.status, ==, 0);
  sized_model = g_build_filename (sized_out, "latest", NULL);
  sized_trained = wp_model_load (sized_model, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sized_trained->config.image_size, ==, 48);
  g_assert_cmpint (sized_trained->config.patch_size, ==, 12);
}

/* A value the option takes, the default where there is one: refusing it on --resume is about
 * giving the option, whatever its value. NULL for a flag. */
static char *
option_value (const WpTrainSetting *setting)
{
  g_auto (WpTrainSettings) defaults = { 0 };

  wp_train_settings_init (&defaults);
  switch (setting->type) {
  case WP_SETTING_BOOL:
    return NULL;
  case WP_SETTING_PATH:
    return g_strdup (data_dir);
  case WP_SETTING_STRING:
    return g_strdup ("tiny");
  case WP_SETTING_INT:
  case WP_SETTING_INT64:
  case WP_SETTING_UINT64:
  case WP_SETTING_FLOAT:
  case WP_SETTING_DOUBLE:
  case WP_SETTING_CHOICE:
    break;
  }
  return wp_train_setting_to_string (setting, &defaults);
}

static char *
read_text (const char *dir,
           const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  char *text = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return text;
}

/* train --resume: every option the run keeps is refused by name (from the settings table, so
 * none can be forgotten), and the ones it may change take effect and are recorded. */
static void
test_resume_options (void)
{
  static const char *const from_issue[] = {
    "--warmup",
    "--weight-decay",
    "--lambda-global",
    "--lambda-fine",
    "--filip-patches",
    "--filip-global",
    "--holdout",
    "--eval-max",
    "--freeze-text",
    "--freeze-vision",
  };
  g_autofree char *out = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *checkpoints = NULL;
  g_autoptr (GPtrArray) refused = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (Run) first = { 0 };
  g_auto (Run) extended = { 0 };
  g_auto (Run) by_epochs = { 0 };
  g_auto (Metrics) metrics = { 0 };
  g_auto (WpTrainSettings) recorded = { 0 };
  const WpTrainSetting *table;
  const gint64          eval_steps[] = { 0, 2, 4, 6, 8 };
  guint                 n, n_checkpoints = 0;

  if (!ensure_data ())
    return;
  out = out_path ("resume-options");
  run_cli (&first, TRAIN_ARGS (data_dir, out, "4", "2"), NULL);
  g_assert_cmpint (first.status, ==, 0);
  before = read_text (out, "settings.json");

  table = wp_train_settings_table (&n);
  for (guint i = 0; i < n; i++) {
    g_auto (Run) run = { 0 };
    g_autofree char *option = NULL;
    g_autofree char *value = NULL;

    if (table[i].option == NULL || table[i].flags & WP_SETTING_RESUMABLE)
      continue;
    option = g_strdup_printf ("--%s", table[i].option);
    value = option_value (&table[i]);
    run_cli (&run, "train", "--out", out, "--resume", option, value, NULL);
    assert_usage_error (&run, "train", option);
    assert_mentions (run.err, "cannot change on --resume");
    g_ptr_array_add (refused, g_steal_pointer (&option));
  }
  for (gsize i = 0; i < G_N_ELEMENTS (from_issue); i++) {
    if (!g_ptr_array_find_with_equal_func (refused, from_issue[i], g_str_equal, NULL))
      g_test_fail_printf ("%s is not refused on --resume", from_issue[i]);
  }
  g_test_message ("%u options refused on --resume", refused->len);
  after = read_text (out, "settings.json");
  g_assert_cmpstr (after, ==, before);

  /* Longer, saving and evaluating at other steps, keeping one checkpoint. */
  run_cli (&extended, "train", "--out", out, "--resume", "--steps", "8", "--save-every", "3",
           "--eval-every", "2", "--keep", "1", "--threads", "1", "--data", data_dir, NULL);
  g_assert_cmpint (extended.status, ==, 0);
  assert_mentions (extended.err, "resuming at step 4");
  assert_mentions (extended.out, "trained 8 steps");
  read_metrics (out, &metrics);
  g_assert_cmpuint (metrics.losses->len, ==, 8);
  g_assert_cmpmem (metrics.eval_steps->data, metrics.eval_steps->len * sizeof (gint64), eval_steps,
                   sizeof eval_steps);
  checkpoints = g_build_filename (out, "checkpoints", NULL);
  dir = g_dir_open (checkpoints, 0, &error);
  g_assert_no_error (error);
  while (dir != NULL && g_dir_read_name (dir) != NULL)
    n_checkpoints++;
  g_assert_cmpuint (n_checkpoints, ==, 2); /* step 0 and step 8 */
  wp_train_settings_load (&recorded, out, &error);
  g_assert_no_error (error);
  g_assert_cmpint (recorded.steps, ==, 8);
  g_assert_cmpint (recorded.save_every, ==, 3);
  g_assert_cmpint (recorded.eval_every, ==, 2);
  g_assert_cmpint (recorded.keep, ==, 1);

  /* --epochs alone replaces --steps: 128 training pairs in batches of 16 make 8 steps an epoch. */
  run_cli (&by_epochs, "train", "--out", out, "--resume", "--epochs", "1.5", NULL);
  g_assert_cmpint (by_epochs.status, ==, 0);
  assert_mentions (by_epochs.out, "trained 12 steps");
}

/* Eval lines during training carry the pointing game when the data has boxes, and
 * wp_trainer_evaluate() on the run's final model gives the same figures as its last eval line. */
static void
test_eval_pointing (void)
{
  g_autofree char *shapes = NULL;
  g_autofree char *out = NULL;
  g_autofree char *metrics_path = NULL;
  g_autofree char *text = NULL;
  g_auto (Run) generate = { 0 };
  g_auto (Run) run = { 0 };
  g_auto (WpEvalResult) result = { 0 };
  g_autoptr (WpTrainer) resumed = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) lines = NULL;
  JsonObject *eval = NULL;

  if (!ensure_data ())
    return;
  shapes = out_path ("boxed");
  out = out_path ("boxed-run");
  run_cli (&generate, "shapes", "--out", shapes, "--count", "48", "--seed", "3", "--size", "64",
           NULL);
  g_assert_cmpint (generate.status, ==, 0);
  run_cli (&run, "train", "--config", "tiny", "--data", shapes, "--out", out, "--batch", "8",
           "--threads", "1", "--seed", "2", "--holdout", "0.25", "--vocab-size", "600", "--steps",
           "4", "--save-every", "4", NULL);
  g_assert_cmpint (run.status, ==, 0);
  assert_mentions (run.err, "held-out pointing game on");
  /* Boxes alone do not switch the box term on. */
  g_assert_null (strstr (run.err, "[box "));

  metrics_path = g_build_filename (out, "metrics.jsonl", NULL);
  g_file_get_contents (metrics_path, &text, NULL, &error);
  g_assert_no_error (error);
  lines = g_strsplit (text != NULL ? text : "", "\n", -1);
  for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++) {
    JsonObject *obj;

    json_parser_load_from_data (parser, lines[i], -1, &error);
    g_assert_no_error (error);
    obj = json_node_get_object (json_parser_get_root (parser));
    g_assert_false (json_object_has_member (obj, "loss_box"));
    if (json_object_has_member (obj, "eval") && json_object_get_int_member (obj, "step") == 4)
      eval = json_object_ref (json_object_get_object_member (obj, "eval"));
  }
  g_assert_nonnull (eval);
  if (eval == NULL)
    return;
  g_assert_cmpstr (json_object_get_string_member (eval, "similarity"), ==, "sparc");
  g_assert_cmpint (json_object_get_int_member (eval, "boxed_words"), >, 0);
  g_assert_cmpfloat (json_object_get_double_member (eval, "pointing_filip"), >=, 0.0);
  g_assert_cmpfloat (json_object_get_double_member (eval, "pointing_sparc"), <=, 1.0);

  resumed = wp_trainer_resume (out, NULL, &error);
  g_assert_no_error (error);
  if (resumed != NULL) {
    /* The checkpoint records the objective it was trained with and, SPARC's default having no
     * global term, that its pair score is what ranks it; the run's evaluation ranks by it. */
    g_assert_cmpstr (wp_trainer_get_model (resumed)->config.objective, ==, "sparc");
    g_assert_cmpstr (wp_trainer_get_model (resumed)->config.similarity, ==, "sparc");
    g_assert_true (
      wp_trainer_evaluate (resumed, wp_trainer_get_model (resumed), NULL, &result, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (result.boxed_words, ==, json_object_get_int_member (eval, "boxed_words"));
    g_assert_cmpfloat_with_epsilon (result.scores[WP_MAP_FILIP].pointing,
                                    json_object_get_double_member (eval, "pointing_filip"), 1e-6);
    g_assert_cmpfloat_with_epsilon (result.scores[WP_MAP_SPARC].pointing,
                                    json_object_get_double_member (eval, "pointing_sparc"), 1e-6);
    g_assert_cmpfloat_with_epsilon (result.t2i_r1, json_object_get_double_member (eval, "t2i_r1"),
                                    1e-6);
  }
  json_object_unref (eval);
}

/* How many lines of OUT/metrics.jsonl are steps, and how many of those have a finite
 * "loss_box". */
static void
count_box_lines (const char *out,
                 guint      *steps,
                 guint      *with_box)
{
  g_autofree char *text = read_text (out, "metrics.jsonl");
  g_auto (GStrv) lines = g_strsplit (text != NULL ? text : "", "\n", -1);
  g_autoptr (JsonParser) parser = json_parser_new ();

  *steps = *with_box = 0;
  for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++) {
    JsonObject *obj = parse_object (parser, lines[i]);

    if (obj == NULL || !json_object_has_member (obj, "loss"))
      continue;
    (*steps)++;
    if (json_object_has_member (obj, "loss_box") &&
        json_object_get_double_member (obj, "loss_box") > 0.0)
      (*with_box)++;
  }
}

/* train --box-weight: the term's part on the progress line and in every step's metrics line,
 * with augmentation (the boxes follow the crops and flips); Ctrl-C and --resume end bit for bit
 * where the uninterrupted run did, and the resumed run keeps the term. A dataset without boxes
 * is refused. */
static void
test_box_term (void)
{
  g_autofree char *shapes = NULL;
  g_autofree char *straight = NULL;
  g_autofree char *interrupted = NULL;
  g_autofree char *unboxed = NULL;
  g_autofree char *settings = NULL;
  g_auto (Run) generate = { 0 };
  g_auto (Run) run = { 0 };
  g_auto (Run) resumed = { 0 };
  g_auto (Run) refused = { 0 };
  guint steps, with_box;

#define BOX_ARGS(data, out)                                                                   \
  "train", "--config", "tiny", "--data", (data), "--out", (out), "--batch", "8", "--threads", \
    "1", "--seed", "4", "--holdout", "0.25", "--vocab-size", "600", "--steps", "12",          \
    "--save-every", "6", "--box-weight", "0.5", "--box-tau", "0.1", "--augment"

  if (!ensure_data ())
    return;
  shapes = out_path ("box-shapes");
  straight = out_path ("box-straight");
  interrupted = out_path ("box-interrupted");
  unboxed = out_path ("box-unboxed");
  run_cli (&generate, "shapes", "--out", shapes, "--count", "48", "--seed", "9", "--size", "64",
           NULL);
  g_assert_cmpint (generate.status, ==, 0);

  run_cli (&run, BOX_ARGS (shapes, straight), NULL);
  g_assert_cmpint (run.status, ==, 0);
  assert_mentions (run.err, "[box ");
  count_box_lines (straight, &steps, &with_box);
  g_assert_cmpuint (steps, ==, 12);
  g_assert_cmpuint (with_box, ==, 12);
  settings = read_text (straight, "settings.json");
  assert_mentions (settings, "\"box_weight\" : 0.5");
  assert_mentions (settings, "\"box_tau\" : 0.1");

  {
    const char *args[] = { BOX_ARGS (shapes, interrupted), NULL };

    stop_run (args, interrupted, 7, 0, SIGINT);
  }
  run_cli (&resumed, "train", "--out", interrupted, "--resume", NULL);
  g_assert_cmpint (resumed.status, ==, 0);
  assert_mentions (resumed.err, "[box ");
  assert_same_latest (straight, interrupted, TRUE);

  run_cli (&refused, BOX_ARGS (data_dir, unboxed), NULL);
  assert_failure (&refused, data_dir, "box_weight is 0.5", "no box of the dataset");
#undef BOX_ARGS
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/train/learns", test_learns);
  g_test_add_func ("/train/resume-bit-exact", test_resume_bit_exact);
  g_test_add_func ("/train/not-finite", test_not_finite);
  g_test_add_func ("/train/disk-full", test_disk_full);
  g_test_add_func ("/train/bad-data", test_bad_data);
  g_test_add_func ("/train/usage", test_usage);
  g_test_add_func ("/train/resume-options", test_resume_options);
  g_test_add_func ("/train/eval-pointing", test_eval_pointing);
  g_test_add_func ("/train/box-term", test_box_term);
  status = g_test_run ();
  remove_scenes ();
  return status;
}
