#define G_LOG_DOMAIN "wp-worker"

#include "wp-worker.h"

#ifdef __linux__
#include <errno.h>
#include <sys/resource.h>
#endif

typedef struct {
  GTask          *task;
  GTaskThreadFunc task_func;
} Job;

static void
lower_priority (void)
{
#ifdef __linux__
  int nice;

  /* On Linux, PRIO_PROCESS with 0 names the calling thread alone, not the whole process. */
  errno = 0;
  nice = getpriority (PRIO_PROCESS, 0);
  if (errno == 0 && setpriority (PRIO_PROCESS, 0, MIN (nice + WP_WORKER_NICENESS, 19)) != 0)
    g_debug ("worker keeps the main thread's priority: %s", g_strerror (errno));
#endif
}

static gboolean
release_cb (gpointer task)
{
  return G_SOURCE_REMOVE;
}

static gpointer
job_thread (gpointer data)
{
  Job     *job = data;
  GTask   *task = job->task;
  GSource *source;

  lower_priority ();
  job->task_func (task, g_task_get_source_object (task), g_task_get_task_data (task),
                  g_task_get_cancellable (task));
  g_free (job);
  /* Ours may be the last reference: the task (and with it its source object, a widget) goes on
   * the context it belongs to. */
  source = g_idle_source_new ();
  g_source_set_callback (source, release_cb, task, g_object_unref);
  g_source_set_static_name (source, "[wp] release task");
  g_source_attach (source, g_task_get_context (task));
  g_source_unref (source);
  return NULL;
}

/* A thread of its own rather than GTask's shared pool: an unprivileged thread cannot take its
 * priority back, so a pool thread lowered for one task would stay low for every later one. */
void
wp_worker_run (GTask          *task,
               GTaskThreadFunc task_func)
{
  Job     *job = g_new (Job, 1);
  GError  *error = NULL;
  GThread *thread;

  job->task = g_object_ref (task);
  job->task_func = task_func;
  thread = g_thread_try_new ("wp-worker", job_thread, job, &error);
  if (thread == NULL) {
    g_object_unref (job->task);
    g_free (job);
    g_task_return_error (task, error);
    return;
  }
  g_thread_unref (thread);
}
