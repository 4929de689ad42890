/* train-scenes.h: what test-train.c, test-train-datasets.c and test-trainer.c share: a dataset of
 * 64 x 64 scenes of one coloured disc or square at a random place on grey, captioned "a red disc",
 * so that a few dozen steps of a tiny model learn something, in a temporary folder; the CLI's
 * training runs on it, followed and compared; and a run's metrics.jsonl. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The temporary folder and the dataset in it, made by ensure_data(). */
extern char *tmp_dir;
extern char *data_dir;

/* n scenes in tmp_dir/name/images and their captions.jsonl, with extra lines appended. */
char *make_dataset (const char *name,
                    int         n,
                    const char *extra_lines) G_GNUC_WARN_UNUSED_RESULT;
/* Makes the 160-scene dataset once; FALSE (test skipped) without $WORDPATCH_CLI. */
gboolean ensure_data (void);
/* tmp_dir/name */
char *out_path (const char *name) G_GNUC_WARN_UNUSED_RESULT;
/* Deletes tmp_dir and everything in it. */
void remove_scenes (void);

typedef struct {
  GArray *losses;      /* of double, index step - 1 */
  GArray *eval_steps;  /* of gint64 */
  GArray *eval_recall; /* of double: i2t_r1 + t2i_r1 */
} Metrics;

void metrics_clear (Metrics *m);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Metrics, metrics_clear)

/* Reads OUT/metrics.jsonl: a loss for each step in order, and the evaluations. */
void read_metrics (const char *out,
                   Metrics    *m);

/* `wordpatch-cli train`'s arguments for a tiny model on data: 16-pair batches, one thread, seed 5,
 * a fifth held out, a 600-token vocabulary learnt from the captions. */
#define TRAIN_ARGS(data, out, steps, save_every)                                               \
  "train", "--config", "tiny", "--data", (data), "--out", (out), "--batch", "16", "--threads", \
    "1", "--seed", "5", "--holdout", "0.2", "--vocab-size", "600", "--steps", (steps),         \
    "--save-every", (save_every)

/* Fails the test unless dir_a/name and dir_b/name hold the same bytes. */
void assert_same_files (const char *dir_a,
                        const char *dir_b,
                        const char *name);
/* Waits until the run in out has logged at least min_step steps (or stopped). */
void wait_for_step (const char *out,
                    guint       min_step,
                    GPid        pid);
/* Waits for the child pid to end; its wait status. */
int reap (GPid pid);
/* The latest checkpoints of runs a and b hold the same weights, and with optimizer the same
 * AdamW moments. */
void assert_same_latest (const char *run_a,
                         const char *run_b,
                         gboolean    optimizer);
/* Runs the CLI with args, waits until the run in out has logged min_step steps, delay_us more,
 * and sends it signal: after SIGINT it must exit with status 130 (stopped at a checkpoint),
 * after another signal be killed by it. */
void stop_run (const char *const *args,
               const char        *out,
               guint              min_step,
               gulong             delay_us,
               int                signal);

G_END_DECLS
