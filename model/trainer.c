/* The trainer: construction, resume, the loop, pause and snapshots, evaluation. */
#include "wordpatch/trainer.h"

#include <math.h>
#include <string.h>

#include "wordpatch/error.h"
#include "wordpatch/evaluate.h"
#include "wordpatch/parallel.h"

#include "trainer-private.h"

struct _WpTrainer {
  WpTrainSettings settings;
  char           *fingerprint; /* of the dataset: captions file checksum and usable pairs */
  WpDataset      *dataset;
  WpModel        *model;
  WpAdamW        *adamw;
  WpAdamWOptions  adamw_options;
  WpTrainSplit    split;
  gint64          total_steps;
  char           *checkpoint_dir;
  gint64          checkpoint_step;

  GMutex   pause_lock;
  GCond    pause_cond;
  gboolean paused;

  gint   snapshot_wanted;
  GMutex snapshot_lock;
  float *snapshot;
  gint64 snapshot_step;
  guint  snapshot_generation;
};

/* ---- construction ---- */

static WpTrainer *
trainer_alloc (void)
{
  WpTrainer *trainer = g_new0 (WpTrainer, 1);

  g_mutex_init (&trainer->pause_lock);
  g_cond_init (&trainer->pause_cond);
  g_mutex_init (&trainer->snapshot_lock);
  return trainer;
}

void
wp_trainer_free (WpTrainer *trainer)
{
  if (trainer == NULL)
    return;
  wp_train_settings_clear (&trainer->settings);
  g_free (trainer->fingerprint);
  g_clear_pointer (&trainer->dataset, wp_dataset_free);
  g_clear_pointer (&trainer->model, wp_model_free);
  g_clear_pointer (&trainer->adamw, wp_adamw_free);
  wp_train_split_clear (&trainer->split);
  g_free (trainer->checkpoint_dir);
  g_free (trainer->snapshot);
  g_mutex_clear (&trainer->pause_lock);
  g_cond_clear (&trainer->pause_cond);
  g_mutex_clear (&trainer->snapshot_lock);
  g_free (trainer);
}

static gboolean
open_dataset (WpTrainer  *trainer,
              const char *expected_fingerprint,
              GError    **error)
{
  trainer->dataset =
    wp_dataset_open_full (trainer->settings.data_dir, &trainer->settings.dataset, error);
  if (trainer->dataset == NULL)
    return FALSE;
  if (!wp_dataset_check_images (trainer->dataset, (int) g_get_num_processors (), NULL, error))
    return FALSE;
  trainer->fingerprint =
    g_strdup_printf ("sha256:%s pairs:%u", wp_dataset_get_checksum (trainer->dataset),
                     wp_dataset_get_n_pairs (trainer->dataset));
  if (expected_fingerprint != NULL && strcmp (expected_fingerprint, trainer->fingerprint) != 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: the dataset is not the one the run started with (its captions file or usable "
                 "images changed)",
                 trainer->settings.data_dir);
    return FALSE;
  }
  return wp_train_split_init (&trainer->split, trainer->dataset, &trainer->settings, error);
}

static gint64
total_steps_of (const WpTrainer *trainer)
{
  const WpTrainSettings *s = &trainer->settings;

  if (s->steps > 0)
    return s->steps;
  return MAX (1, (gint64) ceil (s->epochs * (double) trainer->split.steps_per_epoch));
}

/* The retrieval similarity a loss trains: FILIP's token-wise one, SPARC's pair score when its
 * global term is off (only the fine-grained term trains then), else the pooled embeddings'. */
static WpRetrieval
trained_similarity (const WpLossOptions *loss)
{
  if (loss->objective == WP_OBJECTIVE_FILIP)
    return WP_RETRIEVAL_FILIP;
  if (loss->objective == WP_OBJECTIVE_SPARC && loss->lambda_global == 0.0f)
    return WP_RETRIEVAL_SPARC;
  return WP_RETRIEVAL_GLOBAL;
}

/* The optimiser for the run's total steps, and the record of what the model is trained with. */
static void
prepare_training (WpTrainer *trainer)
{
  const WpTrainSettings *s = &trainer->settings;

  wp_adamw_options_init (&trainer->adamw_options, trainer->total_steps);
  trainer->adamw_options.lr_max = (float) (s->lr > 0.0 ? s->lr : s->init_model != NULL ? 1e-5
                                                                                       : 5e-4);
  trainer->adamw_options.lr_min = trainer->adamw_options.lr_max / 10.0f;
  trainer->adamw_options.warmup_steps = (int) floor (s->warmup * (double) trainer->total_steps);
  trainer->adamw_options.weight_decay = (float) s->weight_decay;
  trainer->adamw_options.freeze_text = s->freeze_text;
  trainer->adamw_options.freeze_vision = s->freeze_vision;
  if (trainer->adamw == NULL)
    trainer->adamw = wp_adamw_new (trainer->model->n_params);
  trainer->model->config.objective = wp_objective_to_string (s->loss.objective);
  trainer->model->config.similarity = wp_retrieval_to_string (trained_similarity (&s->loss));
  trainer->settings.threads = wp_get_threads ();
}

static WpModel *
new_model_from_scratch (WpTrainer *trainer,
                        GError   **error)
{
  const WpTrainSplit     *split = &trainer->split;
  g_autofree const char **texts = g_new (const char *, split->n_train);
  WpTokenizer            *tokenizer;
  WpClipConfig            config;

  for (guint i = 0; i < split->n_train; i++)
    texts[i] = wp_dataset_get_pair (trainer->dataset, split->train_indices[i])->caption;
  tokenizer = wp_tokenizer_learn (texts, split->n_train, trainer->settings.vocab_size, error);
  if (tokenizer == NULL)
    return NULL;
  if (!wp_train_config_from_scratch (&trainer->settings, wp_tokenizer_get_n_vocab (tokenizer),
                                     &config, error)) {
    wp_tokenizer_free (tokenizer);
    return NULL;
  }
  return wp_model_new_random (
    &config, tokenizer, wp_train_derive_seed (trainer->settings.seed, WP_STREAM_INIT, 0), error);
}

static gboolean
save_checkpoint (WpTrainer *trainer,
                 GError   **error)
{
  g_auto (WpStreamPosition) position = { 0 };

  /* Where the shards are read from next: a resume checks it is where its order says. */
  if (trainer->split.streamed)
    wp_train_split_stream_position (&trainer->split, trainer->dataset, trainer->adamw->step,
                                    &position);
  if (!wp_run_save_checkpoint (trainer->settings.out_dir, trainer->model, trainer->adamw,
                               trainer->settings.seed, trainer->split.streamed ? &position : NULL,
                               trainer->settings.keep, &trainer->checkpoint_dir, error))
    return FALSE;
  trainer->checkpoint_step = trainer->adamw->step;
  return TRUE;
}

/* The stream position a checkpoint recorded is where this run's order puts its step, or the
 * shards are not the ones it was read from. */
static gboolean
check_stream_position (WpTrainer  *trainer,
                       const char *dir,
                       gint64      step,
                       GError    **error)
{
  g_auto (WpStreamPosition) recorded = { 0 };
  g_auto (WpStreamPosition) expected = { 0 };

  if (!trainer->split.streamed)
    return TRUE;
  if (!wp_run_read_stream_position (dir, &recorded, error))
    return FALSE;
  if (recorded.epoch < 0)
    return TRUE;
  wp_train_split_stream_position (&trainer->split, trainer->dataset, step, &expected);
  if (recorded.epoch != expected.epoch || recorded.shard != expected.shard ||
      recorded.sample != expected.sample || g_strcmp0 (recorded.file, expected.file) != 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: the checkpoint was to read epoch %" G_GINT64_FORMAT
                 " on from shard %u (%s) sample %u, where this run's order has shard %u (%s) "
                 "sample %u: the shards are not the ones the run started with",
                 dir, recorded.epoch, recorded.shard, recorded.file ? recorded.file : "none",
                 recorded.sample, expected.shard, expected.file ? expected.file : "none",
                 expected.sample);
    return FALSE;
  }
  return TRUE;
}

/* The data's paths made absolute, so that a resume from another folder finds them. */
static void
canonicalize_paths (WpTrainSettings *settings)
{
  char **paths[] = { &settings->data_dir, &settings->dataset.images, &settings->dataset.instances,
                     &settings->dataset.split };

  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++) {
    g_autofree char *given = *paths[i];

    /* A split may be a name as well as a file. */
    if (given != NULL && (paths[i] != &settings->dataset.split ||
                          g_file_test (given, G_FILE_TEST_IS_REGULAR)))
      *paths[i] = g_canonicalize_filename (given, NULL);
    else
      *paths[i] = g_steal_pointer (&given);
  }
}

WpTrainer *
wp_trainer_new (const WpTrainSettings *settings,
                GError               **error)
{
  g_autoptr (WpTrainer) trainer = trainer_alloc ();
  g_autofree char *settings_path = NULL;

  if (!wp_train_settings_validate (settings, error))
    return NULL;
  wp_train_settings_copy (&trainer->settings, settings);
  canonicalize_paths (&trainer->settings);
  settings_path = g_build_filename (settings->out_dir, "settings.json", NULL);
  if (g_file_test (settings_path, G_FILE_TEST_EXISTS)) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "%s already holds a training run: resume it or choose another output folder",
                 settings->out_dir);
    return NULL;
  }
  if (!open_dataset (trainer, NULL, error))
    return NULL;
  trainer->total_steps = total_steps_of (trainer);
  trainer->model = settings->init_model != NULL ? wp_model_load (settings->init_model, error)
                                                : new_model_from_scratch (trainer, error);
  if (trainer->model == NULL ||
      !wp_loss_state_check_fits (&trainer->model->config, settings->batch, error))
    return NULL;
  /* A box term without boxed words would train nothing while looking switched on. */
  if (settings->loss.box_weight > 0.0f &&
      wp_box_words_count (trainer->dataset, trainer->model) == 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: box_weight is %g but no box of the dataset names a word of its caption "
                 "(within the model's context of %d tokens)",
                 trainer->settings.data_dir, settings->loss.box_weight,
                 trainer->model->config.context_length);
    return NULL;
  }
  trainer->model->step = 0;
  prepare_training (trainer);
  if (!wp_run_make_folder (settings->out_dir, error) ||
      !wp_train_settings_write (&trainer->settings, trainer->fingerprint, trainer->total_steps,
                                error) ||
      !save_checkpoint (trainer, error))
    return NULL;
  return g_steal_pointer (&trainer);
}

/* Takes the settings a resumed run may change from changes; any other that differs is refused. */
static gboolean
apply_changes (WpTrainer             *trainer,
               const WpTrainSettings *changes,
               GError               **error)
{
  g_auto (WpTrainSettings) asked = { 0 };
  const WpTrainSetting *table;
  guint                 n;

  wp_train_settings_copy (&asked, changes);
  canonicalize_paths (&asked);
  table = wp_train_settings_table (&n);
  for (guint i = 0; i < n; i++) {
    g_autofree char *theirs = NULL;
    g_autofree char *ours = NULL;

    if (table[i].flags & WP_SETTING_UNSAVED ||
        wp_train_setting_equal (&table[i], &trainer->settings, &asked))
      continue;
    if (table[i].flags & WP_SETTING_RESUMABLE) {
      wp_train_setting_copy (&table[i], &trainer->settings, &asked);
      continue;
    }
    ours = wp_train_setting_to_string (&table[i], &trainer->settings);
    theirs = wp_train_setting_to_string (&table[i], &asked);
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "%s: %s cannot change when the run resumes (the run's is %s, not %s)",
                 trainer->settings.out_dir, table[i].name, ours, theirs);
    return FALSE;
  }
  return TRUE;
}

static gboolean
load_checkpoint (WpTrainer *trainer,
                 GError   **error)
{
  g_autofree char *dir = wp_run_find_checkpoint (trainer->settings.out_dir, error);
  gint64           step;

  if (dir == NULL)
    return FALSE;
  trainer->model = wp_model_load (dir, error);
  if (trainer->model == NULL ||
      !wp_loss_state_check_fits (&trainer->model->config, trainer->settings.batch, error) ||
      !wp_run_read_checkpoint_step (dir, &step, error))
    return FALSE;
  if (step != trainer->model->step || step < 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%s: step %" G_GINT64_FORMAT " does not match the weights' step %" G_GINT64_FORMAT,
                 dir, step, trainer->model->step);
    return FALSE;
  }
  if (step > trainer->total_steps) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "%s: the run is at step %" G_GINT64_FORMAT ", past the %" G_GINT64_FORMAT
                 " steps it is to train",
                 trainer->settings.out_dir, step, trainer->total_steps);
    return FALSE;
  }
  prepare_training (trainer);
  if (!wp_run_read_moments (dir, trainer->model, trainer->adamw, error) ||
      !check_stream_position (trainer, dir, step, error))
    return FALSE;
  trainer->adamw->step = step;
  trainer->checkpoint_dir = g_steal_pointer (&dir);
  trainer->checkpoint_step = step;
  return TRUE;
}

/* Whether settings.json no longer says what the run is. */
static gboolean
settings_changed (const WpTrainSettings *before,
                  const WpTrainSettings *after)
{
  const WpTrainSetting *table;
  guint                 n;

  table = wp_train_settings_table (&n);
  for (guint i = 0; i < n; i++) {
    if (!wp_train_setting_equal (&table[i], before, after))
      return TRUE;
  }
  return FALSE;
}

WpTrainer *
wp_trainer_resume (const char            *out_dir,
                   const WpTrainSettings *changes,
                   GError               **error)
{
  g_autoptr (WpTrainer) trainer = trainer_alloc ();
  g_auto (WpTrainSettings) stored = { 0 };
  g_autofree char *settings_path = g_build_filename (out_dir, "settings.json", NULL);
  g_autofree char *fingerprint = NULL;
  gint64           stored_total = 0;

  if (!wp_train_settings_read (&stored, out_dir, &fingerprint, &stored_total, error))
    return NULL;
  wp_train_settings_copy (&trainer->settings, &stored);
  if (changes != NULL && !apply_changes (trainer, changes, error))
    return NULL;
  if (!wp_train_settings_validate (&trainer->settings, error)) {
    g_prefix_error (error, "%s: ", settings_path);
    return NULL;
  }
  if (!open_dataset (trainer, fingerprint, error))
    return NULL;
  trainer->total_steps = stored.steps == trainer->settings.steps &&
                             stored.epochs == trainer->settings.epochs
                           ? stored_total
                           : total_steps_of (trainer);
  if (!load_checkpoint (trainer, error) ||
      !wp_run_truncate_metrics (out_dir, trainer->checkpoint_step, error))
    return NULL;
  if ((settings_changed (&stored, &trainer->settings) || stored_total != trainer->total_steps) &&
      !wp_train_settings_write (&trainer->settings, trainer->fingerprint, trainer->total_steps,
                                error))
    return NULL;
  return g_steal_pointer (&trainer);
}

/* ---- pause and snapshots ---- */

static void
wake_paused (GCancellable *cancellable,
             gpointer      user_data)
{
  WpTrainer *trainer = user_data;

  g_mutex_lock (&trainer->pause_lock);
  g_cond_broadcast (&trainer->pause_cond);
  g_mutex_unlock (&trainer->pause_lock);
}

static void
take_snapshot (WpTrainer *trainer)
{
  g_mutex_lock (&trainer->snapshot_lock);
  if (trainer->snapshot == NULL)
    trainer->snapshot = g_new (float, trainer->model->n_params);
  memcpy (trainer->snapshot, trainer->model->params, trainer->model->n_params * sizeof (float));
  trainer->snapshot_step = trainer->adamw->step;
  trainer->snapshot_generation++;
  g_mutex_unlock (&trainer->snapshot_lock);
}

static void
take_snapshot_if_wanted (WpTrainer *trainer)
{
  if (g_atomic_int_compare_and_exchange (&trainer->snapshot_wanted, 1, 0))
    take_snapshot (trainer);
}

/* A pause starts with a snapshot and a PAUSED event, so that what is explored while paused is
 * the weights training will go on from. */
static void
wait_while_paused (WpTrainer          *trainer,
                   WpTrainProgress    *progress,
                   WpTrainProgressFunc callback,
                   gpointer            user_data,
                   GCancellable       *cancellable,
                   GTimer             *timer)
{
  gboolean paused;

  g_mutex_lock (&trainer->pause_lock);
  paused = trainer->paused && !g_cancellable_is_cancelled (cancellable);
  g_mutex_unlock (&trainer->pause_lock);
  if (!paused)
    return;
  /* Time spent paused does not count in the throughput and ETA. */
  g_timer_stop (timer);
  take_snapshot (trainer);
  progress->event = WP_TRAIN_EVENT_PAUSED;
  progress->step = trainer->adamw->step;
  if (callback != NULL)
    callback (progress, user_data);
  g_mutex_lock (&trainer->pause_lock);
  while (trainer->paused && !g_cancellable_is_cancelled (cancellable))
    g_cond_wait (&trainer->pause_cond, &trainer->pause_lock);
  g_mutex_unlock (&trainer->pause_lock);
  g_timer_continue (timer);
}

void
wp_trainer_set_paused (WpTrainer *trainer,
                       gboolean   paused)
{
  g_mutex_lock (&trainer->pause_lock);
  trainer->paused = paused;
  g_cond_broadcast (&trainer->pause_cond);
  g_mutex_unlock (&trainer->pause_lock);
}

void
wp_trainer_request_snapshot (WpTrainer *trainer)
{
  g_atomic_int_set (&trainer->snapshot_wanted, 1);
}

guint
wp_trainer_copy_snapshot (WpTrainer *trainer,
                          WpModel   *model)
{
  guint generation;

  g_return_val_if_fail (model->n_params == trainer->model->n_params, 0);
  g_mutex_lock (&trainer->snapshot_lock);
  generation = trainer->snapshot_generation;
  if (generation > 0) {
    memcpy (model->params, trainer->snapshot, model->n_params * sizeof (float));
    model->step = trainer->snapshot_step;
  }
  g_mutex_unlock (&trainer->snapshot_lock);
  return generation;
}

/* ---- evaluation ---- */

gboolean
wp_trainer_evaluate (const WpTrainer *trainer,
                     const WpModel   *model,
                     GCancellable    *cancellable,
                     WpEvalResult    *result,
                     GError         **error)
{
  WpEvalOptions options;

  if (trainer->split.n_holdout == 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "%s: the run holds no pair out to evaluate on (holdout 0)",
                 trainer->settings.out_dir);
    return FALSE;
  }
  wp_eval_options_init (&options);
  /* The run's similarity, not the model's record: a step-0 model fine-tuned from another
   * objective is then ranked as its later checkpoints are. */
  options.retrieval = trained_similarity (&trainer->settings.loss);
  return wp_evaluate (model, trainer->dataset, trainer->split.holdout_indices,
                      MIN (trainer->split.n_holdout, (guint) trainer->settings.eval_max), &options,
                      cancellable, result, error);
}

static gboolean
evaluate_holdout (WpTrainer       *trainer,
                  WpTrainProgress *progress,
                  GCancellable    *cancellable,
                  GError         **error)
{
  g_auto (WpEvalResult) result = { 0 };

  if (!wp_trainer_evaluate (trainer, trainer->model, cancellable, &result, error))
    return FALSE;
  progress->event = WP_TRAIN_EVENT_EVAL;
  progress->eval_pairs = result.pairs;
  progress->eval_similarity = wp_retrieval_to_string (result.retrieval);
  progress->i2t_r1 = result.i2t_r1;
  progress->i2t_r5 = result.i2t_r5;
  progress->t2i_r1 = result.t2i_r1;
  progress->t2i_r5 = result.t2i_r5;
  progress->eval_boxed_words = result.boxed_words;
  progress->pointing_filip = result.scores[WP_MAP_FILIP].pointing;
  progress->pointing_sparc = result.scores[WP_MAP_SPARC].pointing;
  return wp_run_log_eval (trainer->settings.out_dir, trainer->adamw->step, &result, error);
}

/* ---- the loop ---- */

static gboolean
checkpoint_and_report (WpTrainer          *trainer,
                       WpTrainProgress    *progress,
                       WpTrainProgressFunc callback,
                       gpointer            user_data,
                       GError            **error)
{
  if (trainer->checkpoint_step == trainer->adamw->step)
    return TRUE;
  if (!save_checkpoint (trainer, error))
    return FALSE;
  progress->event = WP_TRAIN_EVENT_CHECKPOINT;
  progress->checkpoint_dir = trainer->checkpoint_dir;
  if (callback != NULL)
    callback (progress, user_data);
  return TRUE;
}

static gboolean
train_steps (WpTrainer          *trainer,
             WpPrefetch         *prefetch,
             WpTrainProgressFunc callback,
             gpointer            user_data,
             GCancellable       *cancellable,
             GError            **error)
{
  WpModel     *model = trainer->model;
  const int    B = trainer->settings.batch;
  const gint64 first = trainer->adamw->step;
  const gint64 eval_every =
    trainer->settings.eval_every > 0 ? trainer->settings.eval_every : trainer->settings.save_every;
  g_autoptr (WpLossState) state = wp_loss_state_new (&model->config, B);
  g_autofree float *grads = g_new (float, model->n_params);
  g_autoptr (GTimer) timer = g_timer_new ();
  WpParams        grad_views;
  WpTrainProgress progress = { 0 };

  wp_params_init_views (&grad_views, &model->config, model->specs, grads);
  progress.total_steps = trainer->total_steps;
  if (first == 0 && trainer->split.n_holdout > 0) {
    progress.step = 0;
    if (!evaluate_holdout (trainer, &progress, cancellable, error))
      return FALSE;
    if (callback != NULL)
      callback (&progress, user_data);
  }
  while (trainer->adamw->step < trainer->total_steps) {
    const gint64  step = trainer->adamw->step;
    WpTrainBatch *batch;
    double        elapsed, done;

    wait_while_paused (trainer, &progress, callback, user_data, cancellable, timer);
    if (g_cancellable_is_cancelled (cancellable)) {
      if (!checkpoint_and_report (trainer, &progress, callback, user_data, error))
        return FALSE;
      return !g_cancellable_set_error_if_cancelled (cancellable, error);
    }
    batch = wp_prefetch_next (prefetch);
    g_assert (batch->step == step);
    if (batch->error != NULL) {
      g_propagate_prefixed_error (error, g_steal_pointer (&batch->error),
                                  "step %" G_GINT64_FORMAT ": ", step + 1);
      wp_prefetch_release (prefetch, batch);
      return FALSE;
    }
    memset (grads, 0, model->n_params * sizeof (float));
    if (!wp_loss_compute (model, state, &trainer->settings.loss, batch->pixels, batch->ids,
                          batch->lengths, B, batch->T, &batch->boxes, &grad_views, &progress.loss,
                          error)) {
      g_prefix_error (error, "step %" G_GINT64_FORMAT ": ", step + 1);
      wp_prefetch_release (prefetch, batch);
      goto not_finite;
    }
    wp_prefetch_release (prefetch, batch);
    progress.lr = wp_adamw_learning_rate (&trainer->adamw_options, step);
    progress.grad_norm = wp_adamw_update (trainer->adamw, model, grads, &trainer->adamw_options);
    if (!isfinite (progress.grad_norm)) {
      g_set_error (error, WP_ERROR, WP_ERROR_NOT_FINITE,
                   "step %" G_GINT64_FORMAT ": the gradient is not finite (norm %g)", step + 1,
                   progress.grad_norm);
      goto not_finite;
    }
    take_snapshot_if_wanted (trainer);

    elapsed = g_timer_elapsed (timer, NULL);
    done = (double) (trainer->adamw->step - first);
    progress.event = WP_TRAIN_EVENT_STEP;
    progress.step = trainer->adamw->step;
    progress.epoch = (double) progress.step / (double) trainer->split.steps_per_epoch;
    progress.logit_scale = expf (*model->p.logit_scale);
    progress.elapsed_seconds = elapsed;
    progress.pairs_per_second = elapsed > 0.0 ? done * B / elapsed : 0.0;
    progress.eta_seconds =
      done > 0.0 ? elapsed / done * (double) (trainer->total_steps - progress.step) : 0.0;
    if (!wp_run_log_step (trainer->settings.out_dir, &progress, error))
      return FALSE;
    if (callback != NULL)
      callback (&progress, user_data);
    if (trainer->split.n_holdout > 0 &&
        (progress.step % eval_every == 0 || progress.step == trainer->total_steps)) {
      if (!evaluate_holdout (trainer, &progress, NULL, error))
        return FALSE;
      if (callback != NULL)
        callback (&progress, user_data);
    }
    if ((progress.step % trainer->settings.save_every == 0 ||
         progress.step == trainer->total_steps) &&
        !checkpoint_and_report (trainer, &progress, callback, user_data, error))
      return FALSE;
  }
  return TRUE;

not_finite:
  g_prefix_error (error, "training stopped, the weights of %s are kept: ", trainer->checkpoint_dir);
  return FALSE;
}

gboolean
wp_trainer_run (WpTrainer          *trainer,
                WpTrainProgressFunc progress,
                gpointer            user_data,
                GCancellable       *cancellable,
                GError            **error)
{
  WpPrefetch prefetch;
  gulong     handler = 0;
  gboolean   ok;

  if (trainer->adamw->step >= trainer->total_steps)
    return TRUE;
  if (cancellable != NULL)
    handler = g_cancellable_connect (cancellable, G_CALLBACK (wake_paused), trainer, NULL);
  wp_prefetch_start (&prefetch, &trainer->split, trainer->dataset, trainer->model,
                     trainer->settings.augment ? &trainer->settings.augment_options : NULL,
                     trainer->settings.loss.box_weight > 0.0f, trainer->adamw->step,
                     trainer->total_steps);
  ok = train_steps (trainer, &prefetch, progress, user_data, cancellable, error);
  wp_prefetch_stop (&prefetch);
  if (cancellable != NULL)
    g_cancellable_disconnect (cancellable, handler);
  return ok;
}

/* ---- getters ---- */

const WpModel *
wp_trainer_get_model (const WpTrainer *trainer)
{
  return trainer->model;
}

const WpDataset *
wp_trainer_get_dataset (const WpTrainer *trainer)
{
  return trainer->dataset;
}

const WpTrainSettings *
wp_trainer_get_settings (const WpTrainer *trainer)
{
  return &trainer->settings;
}

gint64
wp_trainer_get_step (const WpTrainer *trainer)
{
  return trainer->adamw->step;
}

gint64
wp_trainer_get_total_steps (const WpTrainer *trainer)
{
  return trainer->total_steps;
}

guint
wp_trainer_get_n_train (const WpTrainer *trainer)
{
  return trainer->split.n_train;
}

guint
wp_trainer_get_n_holdout (const WpTrainer *trainer)
{
  return trainer->split.n_holdout;
}

void
wp_trainer_get_batch (const WpTrainer *trainer,
                      gint64           step,
                      guint           *indices)
{
  g_autofree guint64 *seeds = g_new (guint64, trainer->settings.batch);
  WpEpochOrder        order;

  g_return_if_fail (step >= 0);
  wp_epoch_order_init (&order, &trainer->split);
  wp_train_split_batch (&trainer->split, step, &order, indices, seeds);
  wp_epoch_order_clear (&order);
}

const char *
wp_trainer_get_checkpoint_dir (const WpTrainer *trainer)
{
  return trainer->checkpoint_dir;
}
