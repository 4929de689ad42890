/* wp-worker.h: where the app's background work runs. Training, evaluation, the dataset check and
 * the Explore page's embeddings run on worker threads that yield the processor to the GTK main
 * thread: each task gets a thread of its own, at a lower scheduling priority than the main
 * thread's (on Linux, where a nice value belongs to a thread), so that the window keeps answering
 * when the machine is busy. Threads a worker starts (the trainer's prefetch thread) inherit its
 * priority; the engine's shared helper threads and OpenBLAS's do not. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* How much nicer than the main thread a worker is (Linux nice values, 0..19). */
#define WP_WORKER_NICENESS 10

/* Like g_task_run_in_thread(): runs task_func on a new worker thread, which returns the task's
 * result (the callback runs on the task's context as usual). Unlike it, the callback may run as
 * soon as the result is returned, so task_func returns it last. The worker holds a reference to
 * the task until task_func returns and drops it on the task's context, never finalizing the
 * source object off the main thread. */
void wp_worker_run (GTask          *task,
                    GTaskThreadFunc task_func);

G_END_DECLS
