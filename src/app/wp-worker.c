#define G_LOG_DOMAIN "wp-worker"

#include "wp-worker.h"

#ifdef __linux__
#include <errno.h>
#include <sys/resource.h>
#endif

typedef struct {
  GTask          *task;
  GTaskThreadFunc task_func;
  GThread        *thread; /* until joined; under workers_lock */
} Job;

/* The jobs whose thread is not joined yet, and whether wp_worker_shutdown() is running. */
static GMutex     workers_lock;
static GPtrArray *workers;
static gboolean   shutting_down;

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

/* The thread has nothing left to do but return, so joining it does not wait for long. */
static gboolean
release_cb (gpointer data)
{
  Job     *job = data;
  GThread *thread;

  g_mutex_lock (&workers_lock);
  thread = g_steal_pointer (&job->thread);
  g_ptr_array_remove_fast (workers, job);
  g_mutex_unlock (&workers_lock);
  if (thread != NULL)
    g_thread_join (thread);
  return G_SOURCE_REMOVE;
}

static void
job_free (gpointer data)
{
  Job *job = data;

  /* Ours may be the last reference: the task (and with it its source object, a widget) goes on
   * the context it belongs to, where this runs. */
  g_object_unref (job->task);
  g_free (job);
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
  source = g_idle_source_new ();
  g_source_set_callback (source, release_cb, job, job_free);
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
  Job     *job;
  GError  *error = NULL;
  GThread *thread;

  g_mutex_lock (&workers_lock);
  if (shutting_down) {
    g_mutex_unlock (&workers_lock);
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the app is closing");
    return;
  }
  if (workers == NULL)
    workers = g_ptr_array_new ();
  job = g_new0 (Job, 1);
  job->task = g_object_ref (task);
  job->task_func = task_func;
  /* Registered before the thread starts, so that the thread cannot finish unregistered. */
  g_ptr_array_add (workers, job);
  thread = g_thread_try_new ("wp-worker", job_thread, job, &error);
  if (thread == NULL) {
    g_ptr_array_remove_fast (workers, job);
    g_mutex_unlock (&workers_lock);
    job_free (job);
    g_task_return_error (task, error);
    return;
  }
  job->thread = thread;
  g_mutex_unlock (&workers_lock);
}

void
wp_worker_shutdown (void)
{
  g_autoptr (GPtrArray) threads = g_ptr_array_new ();

  g_mutex_lock (&workers_lock);
  shutting_down = TRUE;
  for (guint i = 0; workers != NULL && i < workers->len; i++) {
    Job          *job = workers->pdata[i];
    GCancellable *cancellable = g_task_get_cancellable (job->task);

    if (job->thread != NULL)
      g_ptr_array_add (threads, g_steal_pointer (&job->thread));
    if (cancellable != NULL)
      g_cancellable_cancel (cancellable);
  }
  g_mutex_unlock (&workers_lock);

  for (guint i = 0; i < threads->len; i++)
    g_thread_join (threads->pdata[i]);
  /* Results and releases of the joined workers; a worker asked for meanwhile fails at once. */
  while (g_main_context_iteration (NULL, FALSE))
    ;

  g_mutex_lock (&workers_lock);
  shutting_down = FALSE;
  g_mutex_unlock (&workers_lock);
}

guint
wp_worker_get_n_running (void)
{
  guint n = 0;

  g_mutex_lock (&workers_lock);
  for (guint i = 0; workers != NULL && i < workers->len; i++)
    n += ((Job *) workers->pdata[i])->thread != NULL;
  g_mutex_unlock (&workers_lock);
  return n;
}
