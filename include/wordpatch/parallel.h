/* parallel.h: the engine's threads, one count for the whole process.
 *
 * The engine runs its element-wise, row-wise and per-head work on a pool of its own
 * (wp_parallel_for()) and its matrix products on OpenBLAS's threads; both use the count
 * wp_set_threads() sets. A front end sets it once, when it starts or before a command runs its
 * work (the command line's --threads, the app at start-up); the engine never changes it, so
 * a training run does not change how fast another thread's inference goes. Until it is set,
 * the count is OpenBLAS's own default (OPENBLAS_NUM_THREADS, or every processor). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The largest count wp_set_threads() accepts. */
#define WP_MAX_THREADS 256

/* Sets the threads of OpenBLAS and of wp_parallel_for()'s pool to n, 1 to WP_MAX_THREADS, or to
 * the number of processors when n is 0. Not while other threads run engine work: OpenBLAS's
 * count is a process-wide setting. */
void wp_set_threads (int n);
/* The count in effect. */
int wp_get_threads (void);

/* Work on items first .. end - 1 of a wp_parallel_for() range. */
typedef void (*WpParallelFunc) (gpointer data,
                                gsize    first,
                                gsize    end);

/* Runs func over items 0 .. n - 1 in contiguous chunks of at least grain items, on up to
 * wp_get_threads() threads of a process-wide pool, the calling thread included, and returns when
 * every chunk has run. With one thread, or n below two grains, func runs once over the whole
 * range on the calling thread. func must give each item the same result whichever chunk holds
 * it, and must not call wp_parallel_for() itself. May be called from several threads at once. */
void wp_parallel_for (gsize          n,
                      gsize          grain,
                      WpParallelFunc func,
                      gpointer       data);

G_END_DECLS
