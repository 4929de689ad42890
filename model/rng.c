#include "wordpatch/rng.h"

#include <math.h>

static guint64
splitmix64 (guint64 *x)
{
  guint64 z = (*x += 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void
wp_rng_init (WpRng  *rng,
             guint64 seed)
{
  for (int i = 0; i < 4; i++)
    rng->s[i] = splitmix64 (&seed);
}

static inline guint64
rotl (guint64 x,
      int     k)
{
  return (x << k) | (x >> (64 - k));
}

guint64
wp_rng_next (WpRng *rng)
{
  guint64 *s = rng->s;
  guint64  result = rotl (s[1] * 5, 7) * 9;
  guint64  t = s[1] << 17;

  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

double
wp_rng_uniform (WpRng *rng)
{
  return (double) (wp_rng_next (rng) >> 11) * 0x1.0p-53;
}

double
wp_rng_normal (WpRng *rng)
{
  /* 1 - u keeps the logarithm's argument in (0, 1]. */
  double u = 1.0 - wp_rng_uniform (rng);
  double v = wp_rng_uniform (rng);

  return sqrt (-2.0 * log (u)) * cos (2.0 * G_PI * v);
}
