/* bench.h: the parts of `wordpatch-cli bench` in files of their own. */
#pragma once

#include "cli.h"
#include "map-options.h"

G_BEGIN_DECLS

/* The median of n values (sorted in place). */
double wp_bench_median (double *values,
                        int     n);

/* bench --maps: per method of args, image to first maps and caption edit to maps. */
int wp_cli_bench_maps (const WpModel      *model,
                       const char         *model_name,
                       const WpCliMapArgs *args,
                       int                 threads,
                       int                 iterations,
                       gboolean            json);

G_END_DECLS
