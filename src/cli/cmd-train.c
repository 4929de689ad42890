#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
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
  char                 parts[128] = "";

  /* Off a terminal (logs, CI), one line every 10 steps is plenty. */
  if (!run->tty && p->step % 10 != 0 && p->step != p->total_steps)
    return;
  format_duration (eta, sizeof eta, p->eta_seconds);
  if (loss->objective == WP_OBJECTIVE_SPARC)
    g_snprintf (parts, sizeof parts, " [clip %.4f, fine %.4f]", p->loss.clip, p->loss.fine);
  else if (loss->objective == WP_OBJECTIVE_FILIP && loss->filip_global > 0.0f)
    g_snprintf (parts, sizeof parts, " [filip %.4f, clip %.4f]", p->loss.filip, p->loss.clip);
  if (loss->box_weight > 0.0f) {
    const gsize used = strlen (parts);

    g_snprintf (parts + used, sizeof parts - used, " [box %.4f]", p->loss.box);
  }
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
             "step %" G_GINT64_FORMAT ": held-out retrieval on %u pairs by %s similarity: "
             "image-to-text R@1 %.3f R@5 %.3f, text-to-image R@1 %.3f R@5 %.3f\n",
             p->step, p->eval_pairs, p->eval_similarity, p->i2t_r1, p->i2t_r5, p->t2i_r1,
             p->t2i_r5);
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

/* The options given that a resumed run keeps as they are, "--warmup, --lr", or NULL. */
static char *
refused_on_resume (const WpCliSettings *cs,
                   GString             *allowed)
{
  const WpTrainSetting *table;
  g_autoptr (GString) refused = g_string_new (NULL);
  guint n;

  table = wp_train_settings_table (&n);
  for (guint i = 0; i < n; i++) {
    g_autofree char *option = NULL;
    GString         *list;

    if (table[i].option == NULL || table[i].flags & WP_SETTING_UNSAVED)
      continue;
    list = table[i].flags & WP_SETTING_RESUMABLE ? allowed : cs->given[i] ? refused
                                                                          : NULL;
    if (list == NULL)
      continue;
    option = wp_cli_setting_option (&table[i]);
    g_string_append_printf (list, "%s%s", list->len > 0 ? ", " : "", option);
  }
  return refused->len > 0 ? g_string_free (g_steal_pointer (&refused), FALSE) : NULL;
}

/* Resumes with the run's own settings and the options given, once refused_on_resume() found
 * only options a resumed run may change (the trainer would refuse the others too, by their
 * settings.json names). */
static int
resume_run (WpCliSettings *cs)
{
  g_autoptr (GString) allowed = g_string_new (NULL);
  g_autofree char *refused = refused_on_resume (cs, allowed);
  g_auto (WpTrainSettings) run = { 0 };
  g_autoptr (WpTrainer) trainer = NULL;
  g_autoptr (GError) error = NULL;
  const WpTrainSetting *table;
  guint                 n;

  if (refused != NULL)
    return wp_cli_usage_error ("train",
                               "%s cannot change on --resume: the run keeps its own settings "
                               "(these may change: %s)",
                               refused, allowed->str);
  if (!wp_train_settings_load (&run, cs->settings.out_dir, &error))
    return wp_cli_fail (error);
  table = wp_train_settings_table (&n);
  for (guint i = 0; i < n; i++) {
    if (cs->given[i])
      wp_train_setting_copy (&table[i], &run, &cs->settings);
  }
  wp_set_threads (run.threads);
  trainer = wp_trainer_resume (run.out_dir, &run, &error);
  return trainer != NULL ? run_trainer (trainer) : wp_cli_fail (error);
}

/* Whether the setting's option was given; it can be set, as if it had been. */
static gboolean *
given (WpCliSettings *cs,
       const char    *name)
{
  guint n;

  return &cs->given[wp_train_settings_find (name) - wp_train_settings_table (&n)];
}

int
wp_cli_train (int    argc,
              char **argv)
{
  g_auto (WpCliSettings) cs = { 0 };
  g_autoptr (WpTrainer) trainer = NULL;
  g_autoptr (GError) error = NULL;
  gboolean           resume = FALSE;
  const GOptionEntry extra[] = {
    { "resume", 'r', 0, G_OPTION_ARG_NONE, &resume,
      "Continue the run in --out with its own settings; the options marked so may change", NULL },
    { NULL }
  };

  wp_cli_settings_init (&cs, TRUE);
  if (!wp_cli_parse_group (&argc, &argv, "train", "train or fine-tune a model on a dataset folder",
                           wp_cli_settings_group (&cs, NULL, extra)))
    return 2;
  if (cs.settings.out_dir == NULL)
    return wp_cli_usage_error ("train", "--out is required");
  /* --epochs alone sets the length, also for a run that started with --steps. */
  if (*given (&cs, "epochs") && !*given (&cs, "steps")) {
    cs.settings.steps = 0;
    *given (&cs, "steps") = TRUE;
  }
  if (resume)
    return resume_run (&cs);
  if (cs.settings.data_dir == NULL ||
      (cs.settings.init_model == NULL) == (cs.settings.preset == NULL))
    return wp_cli_usage_error (
      "train", "give --data and either --init MODEL or --config tiny|small|vit-b32");
  if (!wp_train_settings_validate (&cs.settings, &error))
    return wp_cli_usage_error ("train", "%s", error->message);
  wp_set_threads (cs.settings.threads);
  trainer = wp_trainer_new (&cs.settings, &error);
  return trainer != NULL ? run_trainer (trainer) : wp_cli_fail (error);
}
