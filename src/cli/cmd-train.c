#include <glib-unix.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

/* The run goes on a worker thread while the main thread's loop waits for it and for Ctrl-C, the
 * shape the app uses too. */
typedef struct {
  WpTrainer    *trainer;
  GCancellable *cancellable;
  GMainLoop    *loop;
  GError       *error;
  gboolean      ok;
  gboolean      tty;
  gboolean      line_open; /* a progress line without its newline is on the terminal */
  gint64        interrupted_step;
} TrainRun;

static void
format_duration (char  *out,
                 gsize  size,
                 double seconds)
{
  const gint64 s = (gint64) (seconds + 0.5);

  if (s >= 3600)
    g_snprintf (out, size, "%" G_GINT64_FORMAT "h%02" G_GINT64_FORMAT "m", s / 3600, s / 60 % 60);
  else if (s >= 60)
    g_snprintf (out, size, "%" G_GINT64_FORMAT "m%02" G_GINT64_FORMAT "s", s / 60, s % 60);
  else
    g_snprintf (out, size, "%" G_GINT64_FORMAT "s", s);
}

static void
end_progress_line (TrainRun *run)
{
  if (run->line_open)
    fputc ('\n', stderr);
  run->line_open = FALSE;
}

static void
print_step (TrainRun              *run,
            const WpTrainProgress *p)
{
  const WpLossOptions *loss = &wp_trainer_get_settings (run->trainer)->loss;
  char                 eta[32];
  char                 parts[96] = "";

  /* Off a terminal (logs, CI), one line every 10 steps is plenty. */
  if (!run->tty && p->step % 10 != 0 && p->step != p->total_steps)
    return;
  format_duration (eta, sizeof eta, p->eta_seconds);
  if (loss->objective == WP_OBJECTIVE_SPARC)
    g_snprintf (parts, sizeof parts, " [clip %.4f, fine %.4f]", p->loss.clip, p->loss.fine);
  else if (loss->objective == WP_OBJECTIVE_FILIP && loss->filip_global > 0.0f)
    g_snprintf (parts, sizeof parts, " [filip %.4f, clip %.4f]", p->loss.filip, p->loss.clip);
  fprintf (stderr,
           "%sstep %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT
           " (epoch %.2f)  loss %.4f%s  lr %.2e  %.1f pairs/s  ETA %s%s",
           run->tty ? "\r\033[K" : "", p->step, p->total_steps, p->epoch, p->loss.total, parts,
           p->lr, p->pairs_per_second, eta, run->tty ? "" : "\n");
  run->line_open = run->tty;
}

static void
progress_cb (const WpTrainProgress *p,
             gpointer               user_data)
{
  TrainRun *run = user_data;

  switch (p->event) {
  case WP_TRAIN_EVENT_STEP:
    print_step (run, p);
    break;
  case WP_TRAIN_EVENT_EVAL:
    end_progress_line (run);
    fprintf (stderr,
             "step %" G_GINT64_FORMAT ": held-out retrieval on %u pairs: image-to-text R@1 %.3f "
             "R@5 %.3f, text-to-image R@1 %.3f R@5 %.3f\n",
             p->step, p->eval_pairs, p->i2t_r1, p->i2t_r5, p->t2i_r1, p->t2i_r5);
    if (p->eval_boxed_words > 0)
      fprintf (stderr,
               "step %" G_GINT64_FORMAT
               ": held-out pointing game on %u boxed words: FILIP map %.3f, SPARC grouping %.3f\n",
               p->step, p->eval_boxed_words, p->pointing_filip, p->pointing_sparc);
    break;
  case WP_TRAIN_EVENT_CHECKPOINT:
    end_progress_line (run);
    fprintf (stderr, "step %" G_GINT64_FORMAT ": checkpoint %s\n", p->step, p->checkpoint_dir);
    break;
  case WP_TRAIN_EVENT_PAUSED: /* the command line never pauses */
    break;
  }
}

static gboolean
quit_cb (gpointer user_data)
{
  TrainRun *run = user_data;

  g_main_loop_quit (run->loop);
  return G_SOURCE_REMOVE;
}

static gpointer
train_worker (gpointer user_data)
{
  TrainRun *run = user_data;

  run->ok = wp_trainer_run (run->trainer, progress_cb, run, run->cancellable, &run->error);
  g_idle_add (quit_cb, run);
  return NULL;
}

static gboolean
sigint_cb (gpointer user_data)
{
  TrainRun *run = user_data;

  g_cancellable_cancel (run->cancellable);
  return G_SOURCE_CONTINUE;
}

static void
print_dataset_summary (const WpTrainer *trainer)
{
  wp_cli_print_dataset_warnings (wp_trainer_get_dataset (trainer));
  fprintf (stderr,
           "%u training pairs, %u held out; %" G_GINT64_FORMAT
           " steps of %d pairs; %" G_GSIZE_FORMAT " parameters\n",
           wp_trainer_get_n_train (trainer), wp_trainer_get_n_holdout (trainer),
           wp_trainer_get_total_steps (trainer), wp_trainer_get_settings (trainer)->batch,
           wp_trainer_get_model (trainer)->n_params);
}

static int
run_trainer (WpTrainer *trainer)
{
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  TrainRun run = { trainer, cancellable, loop, NULL, FALSE, isatty (STDERR_FILENO), FALSE, 0 };
  GThread *thread;
  guint    sigint;

  print_dataset_summary (trainer);
  if (wp_trainer_get_step (trainer) > 0)
    fprintf (stderr, "resuming at step %" G_GINT64_FORMAT " from %s\n",
             wp_trainer_get_step (trainer), wp_trainer_get_checkpoint_dir (trainer));
  sigint = g_unix_signal_add (SIGINT, sigint_cb, &run);
  thread = g_thread_new ("wp-train", train_worker, &run);
  g_main_loop_run (loop);
  g_thread_join (thread);
  g_source_remove (sigint);
  end_progress_line (&run);

  if (!run.ok && g_error_matches (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    fprintf (stderr,
             "wordpatch-cli: interrupted at step %" G_GINT64_FORMAT
             "; checkpoint %s; continue with --resume\n",
             wp_trainer_get_step (trainer), wp_trainer_get_checkpoint_dir (trainer));
    g_error_free (run.error);
    return 130;
  }
  if (!run.ok) {
    int status = wp_cli_fail (run.error);

    g_error_free (run.error);
    return status;
  }
  printf ("trained %" G_GINT64_FORMAT " steps; model in %s\n", wp_trainer_get_step (trainer),
          wp_trainer_get_checkpoint_dir (trainer));
  return 0;
}

int
wp_cli_train (int    argc,
              char **argv)
{
  g_auto (WpTrainSettings) settings;
  g_autofree char *objective_name = NULL;
  g_autoptr (WpTrainer) trainer = NULL;
  g_autoptr (GError) error = NULL;
  gint steps = 0, threads = 0, save_every = 0, eval_every = 0, eval_max = 0, keep = 0,
       vocab_size = 0, batch = 0, group_by_word = 0, image_size = 0, patch_size = 0;
  gint64  seed = 0;
  gdouble epochs = 0.0, lr = 0.0, warmup = -1.0, weight_decay = -1.0, holdout = -1.0,
          lambda_global = -1.0, lambda_fine = -1.0, filip_patches = -1.0, filip_global = -1.0;
  gboolean     resume = FALSE, augment = FALSE, freeze_text = FALSE, freeze_vision = FALSE;
  GOptionEntry entries[] = {
    { "data", 'd', 0, G_OPTION_ARG_FILENAME, NULL,
      "Dataset folder (captions.jsonl or captions.tsv)", "DIR" },
    { "init", 'i', 0, G_OPTION_ARG_FILENAME, NULL, "Fine-tune this model (folder or .safetensors)",
      "MODEL" },
    { "config", 'c', 0, G_OPTION_ARG_STRING, NULL,
      "Train from scratch at this size: tiny, small or vit-b32", "SIZE" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, NULL,
      "Output folder: checkpoints, metrics.jsonl, settings.json", "DIR" },
    { "loss", 'l', 0, G_OPTION_ARG_STRING, &objective_name,
      "Objective: clip, filip or sparc (default sparc)", "NAME" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "Total updates (default: from --epochs)", "N" },
    { "epochs", 0, 0, G_OPTION_ARG_DOUBLE, &epochs, "Passes over the training pairs (default 10)",
      "N" },
    { "batch", 'b', 0, G_OPTION_ARG_INT, &batch, "Pairs a step (default 32)", "B" },
    { "group-by-word", 0, 0, G_OPTION_ARG_INT, &group_by_word,
      "Build batches from runs of N pairs whose captions share a word, as hard negatives (default "
      "0: off)",
      "N" },
    { "lr", 0, 0, G_OPTION_ARG_DOUBLE, &lr,
      "Peak learning rate (default 5e-4 from scratch, 1e-5 fine-tuning)", "LR" },
    { "warmup", 0, 0, G_OPTION_ARG_DOUBLE, &warmup,
      "Fraction of the steps warming up (default 0.05)", "F" },
    { "weight-decay", 0, 0, G_OPTION_ARG_DOUBLE, &weight_decay, "AdamW weight decay (default 0.1)",
      "W" },
    { "lambda-global", 0, 0, G_OPTION_ARG_DOUBLE, &lambda_global,
      "SPARC's weight of the global loss (default 0.5)", "W" },
    { "lambda-fine", 0, 0, G_OPTION_ARG_DOUBLE, &lambda_fine,
      "SPARC's weight of the fine-grained loss (default 1.0)", "W" },
    { "filip-patches", 0, 0, G_OPTION_ARG_DOUBLE, &filip_patches,
      "FILIP: share of each image's patches in the image-to-text similarity, the most similar ones "
      "(default 1)",
      "F" },
    { "filip-global", 0, 0, G_OPTION_ARG_DOUBLE, &filip_global,
      "FILIP: weight of an added global contrastive loss on the pooled embeddings (default 0)",
      "W" },
    { "freeze-text", 0, 0, G_OPTION_ARG_NONE, &freeze_text, "Keep the text tower as it is", NULL },
    { "freeze-vision", 0, 0, G_OPTION_ARG_NONE, &freeze_vision, "Keep the image tower as it is",
      NULL },
    { "augment", 'a', 0, G_OPTION_ARG_NONE, &augment,
      "Random resized crops, colour jitter and flips (not for left/right captions)", NULL },
    { "vocab-size", 0, 0, G_OPTION_ARG_INT, &vocab_size,
      "Tokens of the vocabulary learnt from scratch (default 1024)", "N" },
    { "image-size", 0, 0, G_OPTION_ARG_INT, &image_size,
      "From scratch: image side in pixels (default: the size's; tiny 64, small 96, vit-b32 224)",
      "PX" },
    { "patch-size", 0, 0, G_OPTION_ARG_INT, &patch_size,
      "From scratch: patch side in pixels, dividing the image side (tiny 8, small 12, vit-b32 32)",
      "PX" },
    { "holdout", 0, 0, G_OPTION_ARG_DOUBLE, &holdout,
      "Fraction of pairs held out for evaluation (default 0.1)", "F" },
    { "eval-every", 0, 0, G_OPTION_ARG_INT, &eval_every,
      "Steps between held-out evaluations (default: at checkpoints)", "N" },
    { "eval-max", 0, 0, G_OPTION_ARG_INT, &eval_max,
      "Held-out pairs evaluated at most (default 500)", "N" },
    { "save-every", 0, 0, G_OPTION_ARG_INT, &save_every, "Steps between checkpoints (default 200)",
      "N" },
    { "keep", 0, 0, G_OPTION_ARG_INT, &keep, "Checkpoints kept besides step 0 (default 2)", "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads,
      "Threads of the engine: OpenBLAS's and its own pool's (default: all processors)", "T" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed,
      "Seed of the split, order, augmentation and initial weights (default 0)", "S" },
    { "resume", 'r', 0, G_OPTION_ARG_NONE, &resume,
      "Continue the run in --out with its own settings", NULL },
    { NULL }
  };
  WpObjective objective = WP_OBJECTIVE_SPARC;

  wp_train_settings_init (&settings);
  entries[0].arg_data = &settings.data_dir;
  entries[1].arg_data = &settings.init_model;
  entries[2].arg_data = &settings.preset;
  entries[3].arg_data = &settings.out_dir;
  if (!wp_cli_parse (&argc, &argv, "train", "train or fine-tune a model on a dataset folder",
                     entries))
    return 2;
  if (settings.out_dir == NULL) {
    fprintf (stderr, "wordpatch-cli train: --out is required\n");
    return 2;
  }
  if (resume) {
    if (settings.init_model != NULL || settings.preset != NULL || objective_name != NULL ||
        steps != 0 || epochs != 0.0 || batch != 0 || lr != 0.0 || seed != 0 || augment ||
        group_by_word != 0 || image_size != 0 || patch_size != 0) {
      fprintf (stderr, "wordpatch-cli train: --resume continues with the run's own settings; only "
                       "--out, --data and --threads may be given\n");
      return 2;
    }
    trainer = wp_trainer_resume (settings.out_dir, settings.data_dir, threads, &error);
    return trainer != NULL ? run_trainer (trainer) : wp_cli_fail (error);
  }
  if (settings.data_dir == NULL || (settings.init_model == NULL) == (settings.preset == NULL)) {
    fprintf (
      stderr,
      "wordpatch-cli train: give --data and either --init MODEL or --config tiny|small|vit-b32\n");
    return 2;
  }
  if (objective_name != NULL && !wp_objective_from_string (objective_name, &objective)) {
    fprintf (stderr, "wordpatch-cli train: unknown --loss '%s' (clip, filip or sparc)\n",
             objective_name);
    return 2;
  }
  if (steps < 0 || epochs < 0.0 || batch < 0 || lr < 0.0 || threads < 0 || save_every < 0 ||
      eval_every < 0 || eval_max < 0 || keep < 0 || vocab_size < 0 || seed < 0 ||
      group_by_word < 0 || image_size < 0 || patch_size < 0) {
    fprintf (stderr, "wordpatch-cli train: counts, rates and the seed cannot be negative\n");
    return 2;
  }
  wp_loss_options_init (&settings.loss, objective);
  settings.steps = steps;
  if (epochs > 0.0)
    settings.epochs = epochs;
  if (batch > 0)
    settings.batch = batch;
  settings.group_by_word = group_by_word;
  settings.lr = lr;
  if (warmup >= 0.0)
    settings.warmup = warmup;
  if (weight_decay >= 0.0)
    settings.weight_decay = weight_decay;
  if (lambda_global >= 0.0)
    settings.loss.lambda_global = (float) lambda_global;
  if (lambda_fine >= 0.0)
    settings.loss.lambda_fine = (float) lambda_fine;
  if (filip_patches != -1.0)
    settings.loss.filip_patch_fraction = (float) filip_patches;
  if (filip_global != -1.0)
    settings.loss.filip_global = (float) filip_global;
  if (holdout >= 0.0)
    settings.holdout = holdout;
  if (save_every > 0)
    settings.save_every = save_every;
  if (eval_max > 0)
    settings.eval_max = eval_max;
  if (keep > 0)
    settings.keep = keep;
  if (vocab_size > 0)
    settings.vocab_size = vocab_size;
  settings.image_size = image_size;
  settings.patch_size = patch_size;
  settings.eval_every = eval_every;
  settings.threads = threads;
  settings.seed = (guint64) seed;
  settings.augment = augment;
  settings.freeze_text = freeze_text;
  settings.freeze_vision = freeze_vision;

  trainer = wp_trainer_new (&settings, &error);
  return trainer != NULL ? run_trainer (trainer) : wp_cli_fail (error);
}
