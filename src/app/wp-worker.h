/* wp-worker.h: where the app's background work runs. Training, evaluation, the dataset check and
 * the Explore page's embeddings run on worker threads that yield the processor to the GTK main
 * thread: each task gets a thread of its own, at a lower scheduling priority than the main
 * thread's (on Linux, where a nice value belongs to a thread), so that the window keeps answering
 * when the machine is busy. Threads a worker starts (the trainer's prefetch thread) inherit its
 * priority; the engine's shared helper threads and OpenBLAS's do not.
 *
 * Every worker thread is joined: on the main thread once its task has returned, or by
 * wp_worker_shutdown() when the app ends. A process must not exit while a worker computes:
 * OpenBLAS's exit handler stops its threads, and a matrix product started meanwhile hands one of
 * them work after it was told to stop, so that exit() waits for it forever. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* How much nicer than the main thread a worker is (Linux nice values, 0..19). */
#define WP_WORKER_NICENESS 10

/* Like g_task_run_in_thread(): runs task_func on a new worker thread, which returns the task's
 * result (the callback runs on the task's context as usual). Unlike it, the callback may run as
 * soon as the result is returned, so task_func returns it last. The worker holds a reference to
 * the task until task_func returns and drops it on the task's context, never finalizing the
 * source object off the main thread; that is also where its thread is joined. While
 * wp_worker_shutdown() runs, the task returns G_IO_ERROR_CANCELLED at once instead. */
void wp_worker_run (GTask          *task,
                    GTaskThreadFunc task_func);

/* The app's last call before it returns from main(), on the main thread: cancels the tasks of
 * the workers still running (a training run stops at its next step and writes a checkpoint),
 * joins their threads, and dispatches what they left for the main context (their results and
 * the release of their tasks), so that no thread of the app's is left computing at exit. */
void wp_worker_shutdown (void);

/* Worker threads started and not yet joined. */
guint wp_worker_get_n_running (void);

G_END_DECLS
