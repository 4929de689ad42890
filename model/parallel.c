#include "wordpatch/parallel.h"

#include <cblas.h>

/* OpenBLAS keeps the one count both use: setting it there keeps them equal. */
void
wp_set_threads (int n)
{
  g_return_if_fail (n >= 0 && n <= WP_MAX_THREADS);
  openblas_set_num_threads (n > 0 ? n : (int) g_get_num_processors ());
}

int
wp_get_threads (void)
{
  return MAX (openblas_get_num_threads (), 1);
}

typedef struct {
  WpParallelFunc func;
  gpointer       data;
  gsize          n, chunk;
  int            n_chunks;
  int            next; /* the next chunk to claim, atomic */
  int            done; /* chunks finished, under lock */
  GMutex         lock;
  GCond          cond;
} ParallelJob;

static void
parallel_job_clear (gpointer data)
{
  ParallelJob *job = data;

  g_mutex_clear (&job->lock);
  g_cond_clear (&job->cond);
}

/* Claims chunks until none is left; the caller and the helpers all run this, so a helper that
 * starts late (or never, on a busy machine) only means the others take its share. */
static void
parallel_run (ParallelJob *job)
{
  int finished = 0;

  for (;;) {
    const int   c = g_atomic_int_add (&job->next, 1);
    const gsize first = (gsize) c * job->chunk;

    if (c >= job->n_chunks)
      break;
    job->func (job->data, first, MIN (job->n, first + job->chunk));
    finished++;
  }
  if (finished > 0) {
    g_mutex_lock (&job->lock);
    job->done += finished;
    if (job->done == job->n_chunks)
      g_cond_signal (&job->cond);
    g_mutex_unlock (&job->lock);
  }
}

/* A helper holds a reference to the job, so one that starts after the caller returned finds no
 * chunk left and frees nothing the caller still uses. */
static void
parallel_helper (gpointer item,
                 gpointer user_data)
{
  ParallelJob *job = item;

  parallel_run (job);
  g_atomic_rc_box_release_full (job, parallel_job_clear);
}

static gpointer
parallel_pool_new (gpointer data)
{
  return g_thread_pool_new (parallel_helper, NULL, (int) g_get_num_processors (), FALSE, NULL);
}

/* Chunks a helper's wake-up is worth: with four a thread, a thread that another process delays
 * leaves its share to the others. */
#define CHUNKS_PER_THREAD 4

void
wp_parallel_for (gsize          n,
                 gsize          grain,
                 WpParallelFunc func,
                 gpointer       data)
{
  static GOnce pool_once = G_ONCE_INIT;
  const int    threads = wp_get_threads ();
  gsize        n_chunks = MIN ((gsize) threads * CHUNKS_PER_THREAD, n / MAX (grain, 1));
  ParallelJob *job;
  GThreadPool *pool;

  if (threads == 1 || n_chunks < 2) {
    if (n > 0)
      func (data, 0, n);
    return;
  }
  pool = g_once (&pool_once, parallel_pool_new, NULL);
  job = g_atomic_rc_box_new0 (ParallelJob);
  job->func = func;
  job->data = data;
  job->n = n;
  job->chunk = (n + n_chunks - 1) / n_chunks;
  job->n_chunks = (int) ((n + job->chunk - 1) / job->chunk);
  g_mutex_init (&job->lock);
  g_cond_init (&job->cond);
  for (int t = 1; t < MIN (threads, job->n_chunks); t++)
    g_thread_pool_push (pool, g_atomic_rc_box_acquire (job), NULL);
  parallel_run (job);
  g_mutex_lock (&job->lock);
  while (job->done < job->n_chunks)
    g_cond_wait (&job->cond, &job->lock);
  g_mutex_unlock (&job->lock);
  g_atomic_rc_box_release_full (job, parallel_job_clear);
}
