/* rng.h: a small deterministic random generator (xoshiro256**, seeded by splitmix64).
 *
 * Its whole state is the struct, so a training run saves and restores it for bit-exact resume. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  guint64 s[4];
} WpRng;

void    wp_rng_init (WpRng  *rng,
                     guint64 seed);
guint64 wp_rng_next (WpRng *rng);
/* Uniform in [0, 1). */
double wp_rng_uniform (WpRng *rng);
/* Standard normal (Box-Muller). */
double wp_rng_normal (WpRng *rng);

G_END_DECLS
