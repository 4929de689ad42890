/* test-trainer.c: the trainer's API as the app drives it (pause, snapshot, cancel, evaluation,
 * resume with changed settings), the batches' order, and the settings table. */
#include <math.h>
#include <string.h>

#include "cli-harness.h"
#include "train-scenes.h"
#include "wordpatch/wordpatch.h"

/* Sets the setting from text and checks the error: NULL for none, else a fragment of it. */
static void
check_parse (WpTrainSettings *settings,
             const char      *name,
             const char      *text,
             const char      *problem)
{
  const WpTrainSetting *setting = wp_train_settings_find (name);
  g_autoptr (GError) error = NULL;

  g_assert_nonnull (setting);
  wp_train_setting_parse (setting, settings, text, name, &error);
  if (problem == NULL) {
    g_assert_no_error (error);
  } else {
    g_assert_error (error, WP_ERROR, WP_ERROR_INVALID);
    if (error != NULL)
      assert_mentions (error->message, problem);
  }
}

/* The settings table: one row per setting and option, defaults that agree with the loss's and
 * the augmentation's own and pass validation, values parsed by type and range. */
static void
test_settings_table (void)
{
  g_auto (WpTrainSettings) settings = { 0 };
  g_autoptr (GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) options = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;
  const WpTrainSetting *table;
  WpLossOptions         loss;
  WpAugmentOptions      augment;
  guint                 n;

  wp_train_settings_init (&settings);
  wp_loss_options_init (&loss, WP_OBJECTIVE_SPARC);
  wp_augment_options_init (&augment);
  g_assert_cmpint (settings.loss.objective, ==, loss.objective);
  g_assert_cmpfloat (settings.loss.lambda_global, ==, loss.lambda_global);
  g_assert_cmpfloat (settings.loss.lambda_fine, ==, loss.lambda_fine);
  g_assert_cmpfloat (settings.loss.filip_patch_fraction, ==, loss.filip_patch_fraction);
  g_assert_cmpfloat (settings.loss.filip_global, ==, loss.filip_global);
  g_assert_cmpfloat (settings.loss.box_weight, ==, loss.box_weight);
  g_assert_cmpfloat (settings.loss.box_tau, ==, loss.box_tau);
  g_assert_cmpint (settings.loss.sparc_negatives, ==, loss.sparc_negatives);
  g_assert_cmpint (settings.loss.sparc_stop_selection, ==, loss.sparc_stop_selection);
  g_assert_cmpint (settings.loss.sparc_centre_positions, ==, loss.sparc_centre_positions);
  g_assert_cmpint (settings.loss.sparc_centre_images, ==, loss.sparc_centre_images);
  g_assert_cmpfloat (settings.loss.sparc_threshold, ==, loss.sparc_threshold);
  g_assert_cmpfloat (settings.loss.sparc_patch_side, ==, loss.sparc_patch_side);
  g_assert_cmpfloat (loss.box_weight, ==, 0.0f);
  g_assert_cmpfloat (settings.augment_options.crop_scale_min, ==, augment.crop_scale_min);
  g_assert_cmpfloat (settings.augment_options.crop_ratio_max, ==, augment.crop_ratio_max);
  g_assert_cmpfloat (settings.augment_options.brightness, ==, augment.brightness);
  g_assert_cmpfloat (settings.augment_options.contrast, ==, augment.contrast);
  g_assert_cmpfloat (settings.augment_options.saturation, ==, augment.saturation);
  g_assert_cmpint (settings.augment_options.flip, ==, augment.flip);

  table = wp_train_settings_table (&n);
  for (guint i = 0; i < n; i++) {
    g_autofree char *short_option = g_strdup_printf ("-%c", table[i].short_option);

    if (!g_hash_table_add (names, (gpointer) table[i].name))
      g_test_fail_printf ("setting \"%s\" twice", table[i].name);
    if (table[i].option != NULL && !g_hash_table_add (options, (gpointer) table[i].option))
      g_test_fail_printf ("option --%s twice", table[i].option);
    if (table[i].short_option != 0 &&
        !g_hash_table_add (options, (gpointer) g_intern_string (short_option)))
      g_test_fail_printf ("option %s twice", short_option);
  }
  settings.data_dir = g_strdup ("data");
  settings.out_dir = g_strdup ("out");
  settings.preset = g_strdup ("tiny");
  g_assert_true (wp_train_settings_validate (&settings, &error));
  g_assert_no_error (error);

  check_parse (&settings, "batch", "3", NULL);
  g_assert_cmpint (settings.batch, ==, 3);
  check_parse (&settings, "batch", "1", "batch must be in [2, 4096], not 1");
  check_parse (&settings, "batch", "3.5", "batch must be a whole number");
  check_parse (&settings, "holdout", "1", "holdout must be in [0, 1), not 1");
  check_parse (&settings, "holdout", "nan", "holdout must be in [0, 1)");
  check_parse (&settings, "loss", "filip", NULL);
  g_assert_cmpint (settings.loss.objective, ==, WP_OBJECTIVE_FILIP);
  check_parse (&settings, "loss", "mse", "clip, filip, sparc or sigmoid");
  check_parse (&settings, "seed", "18446744073709551615", NULL);
  g_assert_cmpuint (settings.seed, ==, G_MAXUINT64);
  check_parse (&settings, "freeze_text", "true", NULL);
  g_assert_true (settings.freeze_text);
  check_parse (&settings, "lr", "1e30", "lr must be in [0, 1e+30)");
  check_parse (&settings, "box_tau", "0", "box_tau must be in (0, 100]");
  check_parse (&settings, "box_weight", "-1", "box_weight must be in [0, 1000000]");
  check_parse (&settings, "box_weight", "2", NULL);
  g_assert_cmpfloat (settings.loss.box_weight, ==, 2.0f);
}

/* ---- the box term's words ---- */

static WpModel *
clip_bpe_model (void)
{
  g_autoptr (GError) error = NULL;
  WpTokenizer *tokenizer = wp_test_clip_tokenizer ();
  WpClipConfig config;
  WpModel     *model;

  wp_clip_config_init_preset (&config, "tiny", wp_tokenizer_get_n_vocab (tokenizer), &error);
  g_assert_no_error (error);
  model = wp_model_new_random (&config, tokenizer, 3, &error);
  g_assert_no_error (error);
  return model;
}

/* The patches set in inside (P) as a list "p,q,...". */
static char *
patch_list (const guint8 *inside,
            int           P)
{
  GString *list = g_string_new (NULL);

  for (int p = 0; p < P; p++) {
    if (inside[p])
      g_string_append_printf (list, "%s%d", list->len > 0 ? "," : "", p);
  }
  return g_string_free (list, FALSE);
}

/* Which words a pair's boxes give the box term, with which tokens and which patches: the
 * occurrence and case of a box's word, a word split into BPE pieces, boxes through a crop and a
 * flip (a box of zero size on a patch centre holds it: edges are inside), and the words skipped:
 * a box naming no word of the caption, boxes holding no patch centre, a word the context cuts. */
static void
test_box_words (void)
{
  g_autoptr (WpModel) model = clip_bpe_model ();
  const int       K = model->config.context_length, P = wp_clip_config_n_patches (&model->config);
  g_autofree int *ids = g_new (int, K);
  g_autofree int *word_of_token = g_new (int, K);
  g_autoptr (GString) long_caption = g_string_new (NULL);
  /* The tiny preset: 64 x 64 inputs of 8 x 8 patches. The crop's 32 x 32 pixels from (16, 8):
   * 4 x 4 pixels a patch, so input patch (row r, column c) is centred on (18 + 4 c, 10 + 4 r),
   * or flipped on (46 - 4 c, 10 + 4 r). */
  WpAugmentation augmentation = { { 16, 8, 32, 32 }, 1.0, 1.0, 1.0, TRUE };
  WpBox          boxes[] = {
             { "Red", 1, 16, 8, 8, 4 },          /* the second "red": centres x 18 and 22, y 10 */
             { "disc", 0, 26, 14, 0, 0 },        /* one centre, on the box's edges */
             { "disc", 0, 0, 60, 4, 4 },         /* outside the crop: adds nothing */
             { "flummoxing", 0, 40, 20, 12, 4 }, /* x 42..50: flipped columns 1, 0; y 22: row 3 */
             { "square", 0, 0, 0, 10, 10 },      /* outside the crop: no centre */
             { "blue", 0, 16, 8, 32, 32 },       /* not in the caption */
  };
  WpPair pair = { NULL, "a red disc, a red square, a flummoxing red", boxes, G_N_ELEMENTS (boxes) };
  g_auto (WpBoxWords) words = { 0 };
  g_autofree char *red = NULL;
  g_autofree char *disc = NULL;
  g_autofree char *split = NULL;
  int              n, split_first = -1, split_tokens = 0;

  /* Where the tokenizer puts the split word. */
  n = wp_tokenizer_encode (model->tokenizer, pair.caption, ids, word_of_token, K);
  for (int t = 1; t < n - 1; t++) {
    g_autofree char *text = wp_tokenizer_dup_token_text (model->tokenizer, ids[t]);

    if (split_first < 0 && g_str_has_prefix ("flummoxing", text) && text[0] == 'f')
      split_first = t;
    if (split_first >= 0 && word_of_token[t] == word_of_token[split_first])
      split_tokens++;
  }
  g_assert_cmpint (split_tokens, >=, 2);

  wp_box_words_init (&words, wp_box_words_capacity (&model->config, 2), P);
  g_assert_cmpint (wp_box_words_add_pair (&words, model, &pair, 1, &augmentation), ==, 3);
  g_assert_cmpint (words.n_words, ==, 3);
  for (int w = 0; w < words.n_words; w++)
    g_assert_cmpint (words.pair[w], ==, 1);
  /* In the boxes' order: "red" (token 6: start, a, red, disc, ",", a, red), "disc" (3), then the
   * split word. */
  g_assert_cmpint (words.first[0], ==, 6);
  g_assert_cmpint (words.n_tokens[0], ==, 1);
  g_assert_cmpint (words.first[1], ==, 3);
  g_assert_cmpint (words.n_tokens[1], ==, 1);
  g_assert_cmpint (words.first[2], ==, split_first);
  g_assert_cmpint (words.n_tokens[2], ==, split_tokens);
  red = patch_list (words.inside, P);
  disc = patch_list (words.inside + P, P);
  split = patch_list (words.inside + 2 * P, P);
  g_assert_cmpstr (red, ==, "6,7");
  g_assert_cmpstr (disc, ==, "13");
  g_assert_cmpstr (split, ==, "24,25");

  /* Unflipped, the same boxes hold the mirrored columns; words append after those there. */
  augmentation.flipped = FALSE;
  g_assert_cmpint (wp_box_words_add_pair (&words, model, &pair, 0, &augmentation), ==, 3);
  g_free (red);
  red = patch_list (words.inside + 3 * P, P);
  g_assert_cmpstr (red, ==, "0,1");
  g_assert_cmpint (words.pair[3], ==, 0);

  /* A word the context cuts: 29 words before it leave it slots 30 and 31, the last the end
   * token's. */
  for (int i = 0; i < 29; i++)
    g_string_append (long_caption, "a ");
  g_string_append (long_caption, "flummoxing disc");
  pair.caption = long_caption->str;
  words.n_words = 0;
  g_assert_cmpint (wp_box_words_add_pair (&words, model, &pair, 0, &augmentation), ==, 0);
  g_assert_cmpint (words.n_words, ==, 0);
}

/* ---- the library as the app drives it ---- */

typedef struct {
  GCancellable *cancellable;
  gint64        cancel_at;
  gint64        last_step;
  gint64        checkpoints;
  gint          pauses; /* read by the test's thread while the worker runs */
} ApiRun;

static void
api_progress_cb (const WpTrainProgress *progress,
                 gpointer               user_data)
{
  ApiRun *run = user_data;

  if (progress->event == WP_TRAIN_EVENT_CHECKPOINT)
    run->checkpoints++;
  if (progress->event == WP_TRAIN_EVENT_PAUSED)
    g_atomic_int_inc (&run->pauses);
  if (progress->event != WP_TRAIN_EVENT_STEP)
    return;
  g_assert_cmpint (progress->step, ==, run->last_step + 1);
  g_assert_cmpint (progress->total_steps, ==, 6);
  g_assert_true (isfinite (progress->loss.total));
  run->last_step = progress->step;
  if (progress->step == run->cancel_at)
    g_cancellable_cancel (run->cancellable);
}

typedef struct {
  WpTrainer *trainer;
  ApiRun    *run;
  GError    *error;
  gboolean   ok;
} Worker;

static gpointer
api_worker (gpointer user_data)
{
  Worker *worker = user_data;

  worker->ok = wp_trainer_run (worker->trainer, api_progress_cb, worker->run,
                               worker->run->cancellable, &worker->error);
  return NULL;
}

/* A small run from scratch on the test scenes, on one thread, into OUT/name. */
static void
api_settings (WpTrainSettings *settings,
              const char      *name,
              int              batch,
              gint64           steps,
              double           holdout)
{
  wp_train_settings_init (settings);
  settings->data_dir = g_strdup (data_dir);
  settings->out_dir = out_path (name);
  settings->preset = g_strdup ("tiny");
  settings->vocab_size = 600;
  settings->batch = batch;
  settings->steps = steps;
  settings->holdout = holdout;
}

/* Runs of n consecutive pairs in the epoch's batches whose captions share a word other than "a". */
static guint
runs_sharing_a_word (WpTrainer *trainer,
                     int        n)
{
  const WpTrainSettings *settings = wp_trainer_get_settings (trainer);
  const gint64           steps_per_epoch =
    wp_trainer_get_n_train (trainer) / (guint) settings->batch;
  g_autofree guint *indices = g_new (guint, settings->batch);
  g_autoptr (GHashTable) seen = g_hash_table_new (NULL, NULL);
  guint sharing = 0;

  for (gint64 step = 0; step < steps_per_epoch; step++) {
    wp_trainer_get_batch (trainer, step, indices);
    for (int first = 0; first + n <= settings->batch; first += n) {
      g_auto (GStrv) words = g_strsplit (
        wp_dataset_get_pair (wp_trainer_get_dataset (trainer), indices[first])->caption, " ", -1);
      gboolean shared = FALSE;

      for (int w = 0; words[w] != NULL && !shared; w++) {
        gboolean all = g_strcmp0 (words[w], "a") != 0;

        for (int k = first + 1; k < first + n && all; k++) {
          g_auto (GStrv) other = g_strsplit (
            wp_dataset_get_pair (wp_trainer_get_dataset (trainer), indices[k])->caption, " ", -1);

          all = g_strv_contains ((const char *const *) other, words[w]);
        }
        shared = all;
      }
      sharing += shared;
    }
    /* Every training pair once an epoch. */
    for (int b = 0; b < settings->batch; b++) {
      g_assert_false (g_hash_table_contains (seen, GUINT_TO_POINTER (indices[b] + 1)));
      g_hash_table_add (seen, GUINT_TO_POINTER (indices[b] + 1));
    }
  }
  g_assert_cmpuint (g_hash_table_size (seen), ==, steps_per_epoch * settings->batch);
  return sharing;
}

static void
test_group_by_word (void)
{
  g_autoptr (GError) error = NULL;
  guint sharing[2];

  if (!ensure_data ())
    return;
  /* 128 training pairs, 8 batches of 16 an epoch, so 32 runs of 4. */
  for (int grouped = 0; grouped < 2; grouped++) {
    g_auto (WpTrainSettings) settings;
    g_autoptr (WpTrainer) trainer = NULL;
    g_autoptr (WpTrainer) resumed = NULL;
    g_autofree guint *batch = g_new (guint, 16);
    g_autofree guint *again = g_new (guint, 16);

    api_settings (&settings, grouped ? "grouped" : "ungrouped", 16, 1, 0.2);
    settings.group_by_word = grouped ? 4 : 0;
    trainer = wp_trainer_new (&settings, &error);
    g_assert_no_error (error);
    if (trainer == NULL)
      return;
    sharing[grouped] = runs_sharing_a_word (trainer, 4);
    /* A resumed run draws the same batches. */
    resumed = wp_trainer_resume (settings.out_dir, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpint (wp_trainer_get_settings (resumed)->group_by_word, ==, settings.group_by_word);
    for (gint64 step = 0; step < 20; step += 7) {
      wp_trainer_get_batch (trainer, step, batch);
      wp_trainer_get_batch (resumed, step, again);
      g_assert_cmpmem (batch, 16 * sizeof (guint), again, 16 * sizeof (guint));
    }
  }
  g_test_message ("runs of 4 sharing a word: %u grouped, %u shuffled (of 32)", sharing[1],
                  sharing[0]);
  /* 6 words ("red" ... "square") cut at most 6 runs; shuffled pairs rarely share a word. */
  g_assert_cmpuint (sharing[1], >=, 26);
  g_assert_cmpuint (sharing[0], <, 16);
}

static void
test_api_pause_snapshot_cancel (void)
{
  g_auto (WpTrainSettings) settings;
  g_autoptr (WpTrainer) trainer = NULL;
  g_autoptr (WpModel) snapshot = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *step3 = NULL;
  ApiRun           run = { cancellable, 3, 0, 0, 0 };
  Worker           worker = { NULL, &run, NULL, FALSE };
  GThread         *thread;

  if (!ensure_data ())
    return;
  api_settings (&settings, "api", 8, 6, 0.0);
  settings.augment = TRUE;
  settings.augment_options.crop_scale_min = 0.8;
  settings.augment_options.brightness = 0.1;
  settings.augment_options.flip = FALSE;
  settings.loss.lambda_global = 0.5f;
  settings.loss.lambda_fine = 0.25f;
  settings.loss.filip_patch_fraction = 0.5f;
  settings.loss.filip_global = 0.75f;
  settings.eval_every = 7;
  trainer = wp_trainer_new (&settings, &error);
  g_assert_no_error (error);
  if (trainer == NULL)
    return;
  g_assert_cmpint (wp_trainer_get_step (trainer), ==, 0);
  snapshot = wp_model_copy (wp_trainer_get_model (trainer));
  g_assert_cmpuint (wp_trainer_copy_snapshot (trainer, snapshot), ==, 0);

  /* Paused before it starts: no step happens until it is resumed. */
  wp_trainer_set_paused (trainer, TRUE);
  wp_trainer_request_snapshot (trainer);
  worker.trainer = trainer;
  thread = g_thread_new ("test-train", api_worker, &worker);
  /* The loop says when it has paused; a while later it still has not stepped. */
  while (g_atomic_int_get (&run.pauses) == 0)
    g_usleep (10000);
  g_usleep (200000);
  g_assert_cmpint (run.last_step, ==, 0);
  wp_trainer_set_paused (trainer, FALSE);
  g_thread_join (thread);

  /* Cancelled from the progress callback after step 3: a checkpoint there, CANCELLED. */
  g_assert_false (worker.ok);
  g_assert_error (worker.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&worker.error);
  g_assert_cmpint (wp_trainer_get_step (trainer), ==, 3);
  g_assert_cmpint (run.checkpoints, ==, 1);
  step3 = g_build_filename (settings.out_dir, "checkpoints", "step-000000003", "state.json", NULL);
  g_assert_true (g_file_test (step3, G_FILE_TEST_EXISTS));
  g_assert_cmpstr (wp_trainer_get_checkpoint_dir (trainer), !=, NULL);

  /* The pause took a snapshot of the weights it stopped at (step 0) and said so once; the one
   * asked for while paused was taken after the first step. */
  g_assert_cmpint (run.pauses, ==, 1);
  g_assert_cmpuint (wp_trainer_copy_snapshot (trainer, snapshot), ==, 2);
  g_assert_cmpint (snapshot->step, ==, 1);
  wp_trainer_request_snapshot (trainer);

  /* Running again goes on to the end, and the new snapshot is the final weights. */
  g_cancellable_reset (cancellable);
  run.cancel_at = -1;
  g_assert_true (wp_trainer_run (trainer, api_progress_cb, &run, cancellable, &error));
  g_assert_no_error (error);
  g_assert_cmpint (run.last_step, ==, 6);
  g_assert_cmpuint (wp_trainer_copy_snapshot (trainer, snapshot), ==, 3);
  g_assert_cmpint (snapshot->step, ==, 4);

  /* Nothing held out: nothing to evaluate, said plainly. */
  {
    WpEvalResult result = { 0 };

    g_assert_false (wp_trainer_evaluate (trainer, snapshot, NULL, &result, &error));
    g_assert_error (error, WP_ERROR, WP_ERROR_INVALID);
    g_clear_error (&error);
  }

  /* settings.json gives back every setting the run started with. */
  {
    g_autoptr (WpTrainer) resumed = wp_trainer_resume (settings.out_dir, NULL, &error);
    const WpTrainSettings *back;

    g_assert_no_error (error);
    if (resumed == NULL)
      return;
    back = wp_trainer_get_settings (resumed);
    g_assert_cmpint (wp_trainer_get_step (resumed), ==, 6);
    g_assert_cmpint (wp_trainer_get_total_steps (resumed), ==, 6);
    g_assert_cmpint (back->batch, ==, 8);
    g_assert_cmpint (back->vocab_size, ==, 600);
    g_assert_cmpint (back->threads, ==, 1);
    g_assert_cmpint (back->eval_every, ==, 7);
    g_assert_cmpint (back->save_every, ==, settings.save_every);
    g_assert_true (back->augment);
    g_assert_false (back->augment_options.flip);
    g_assert_cmpfloat (back->augment_options.crop_scale_min, ==, 0.8);
    g_assert_cmpfloat (back->augment_options.brightness, ==, 0.1);
    g_assert_cmpfloat (back->augment_options.saturation, ==, settings.augment_options.saturation);
    g_assert_cmpfloat (back->loss.lambda_fine, ==, 0.25f);
    g_assert_cmpfloat (back->loss.filip_patch_fraction, ==, 0.5f);
    g_assert_cmpfloat (back->loss.filip_global, ==, 0.75f);
    g_assert_cmpfloat (back->loss.lambda_global, ==, 0.5f);
    g_assert_cmpfloat (back->holdout, ==, 0.0);
    g_assert_cmpstr (back->preset, ==, "tiny");
    g_assert_null (back->init_model);
    g_assert_cmpint (back->loss.objective, ==, WP_OBJECTIVE_SPARC);
    /* SPARC with its global term trains the pooled embeddings: the model says so. */
    g_assert_cmpstr (wp_trainer_get_model (resumed)->config.similarity, ==, "global");
  }

  /* A resume may change what the run's arithmetic does not depend on, nothing else. */
  {
    g_auto (WpTrainSettings) changed = { 0 };
    g_autoptr (WpTrainer) longer = NULL;
    g_autoptr (WpTrainer) refused = NULL;

    wp_train_settings_load (&changed, settings.out_dir, &error);
    g_assert_no_error (error);
    changed.steps = 7;
    changed.keep = 5;
    longer = wp_trainer_resume (settings.out_dir, &changed, &error);
    g_assert_no_error (error);
    if (longer != NULL) {
      g_assert_cmpint (wp_trainer_get_total_steps (longer), ==, 7);
      g_assert_cmpint (wp_trainer_get_settings (longer)->keep, ==, 5);
    }
    changed.warmup = 0.5;
    refused = wp_trainer_resume (settings.out_dir, &changed, &error);
    g_assert_null (refused);
    g_assert_error (error, WP_ERROR, WP_ERROR_INVALID);
    if (error != NULL)
      assert_mentions (error->message, "warmup cannot change when the run resumes");
    g_clear_error (&error);
  }

  /* Resuming on other data is refused, naming the folder. */
  {
    g_autofree char *other = make_dataset ("changed", 20, "");
    g_auto (WpTrainSettings) moved = { 0 };
    g_autoptr (WpTrainer) refused = NULL;

    wp_train_settings_load (&moved, settings.out_dir, &error);
    g_assert_no_error (error);
    g_free (moved.data_dir);
    moved.data_dir = g_strdup (other);
    refused = wp_trainer_resume (settings.out_dir, &moved, &error);

    g_assert_null (refused);
    g_assert_error (error, WP_ERROR, WP_ERROR_DATASET);
    if (error != NULL)
      g_assert_nonnull (strstr (error->message, "not the one the run started with"));
    g_clear_error (&error);
  }

  /* A settings.json written before SPARC's negatives were a setting ran with the paper's, not
   * with today's default; a later optional setting it lacks takes its default. */
  {
    g_autofree char *path = g_build_filename (settings.out_dir, "settings.json", NULL);
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_autoptr (JsonGenerator) generator = json_generator_new ();
    g_auto (WpTrainSettings) older = { 0 };
    JsonObject *root;

    json_parser_load_from_file (parser, path, &error);
    g_assert_no_error (error);
    root = json_node_get_object (json_parser_get_root (parser));
    g_assert_cmpstr (json_object_get_string_member (root, "sparc_negatives"), ==, "pairs");
    json_object_remove_member (root, "sparc_negatives");
    json_object_remove_member (root, "sparc_threshold");
    json_generator_set_root (generator, json_parser_get_root (parser));
    json_generator_to_file (generator, path, &error);
    g_assert_no_error (error);
    wp_train_settings_load (&older, settings.out_dir, &error);
    g_assert_no_error (error);
    g_assert_cmpint (older.loss.sparc_negatives, ==, WP_SPARC_NEGATIVES_CAPTION);
    g_assert_cmpfloat (older.loss.sparc_threshold, ==, 0.0f);
  }
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  /* The runs record the thread count this sets. */
  wp_set_threads (1);
  g_test_add_func ("/trainer/settings-table", test_settings_table);
  g_test_add_func ("/trainer/api", test_api_pause_snapshot_cancel);
  g_test_add_func ("/trainer/group-by-word", test_group_by_word);
  g_test_add_func ("/trainer/box-words", test_box_words);
  status = g_test_run ();
  remove_scenes ();
  return status;
}
