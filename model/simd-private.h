/* simd-private.h: four lanes at a time for the engine's own loops (kernels.c, adamw.c).
 *
 * GCC's and clang's vector extensions: loops written with them run four floats (two doubles) a
 * step at every optimisation level and on any target, without -ffast-math (which would let the
 * compiler reorder sums) and without -march (the build runs on any x86-64). A lane does exactly
 * the operations a scalar loop would, so an element's result does not depend on where its row or
 * chunk starts; sums kept in double stay in double. */
#pragma once

#include <glib.h>
#include <math.h>
#include <string.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

typedef float  v4f __attribute__ ((vector_size (16)));
typedef int    v4i __attribute__ ((vector_size (16)));
typedef float  v2f __attribute__ ((vector_size (8)));
typedef double v2d __attribute__ ((vector_size (16)));

static inline v4f
splat (float x)
{
  return (v4f){ x, x, x, x };
}

static inline v4f
load4 (const float *p)
{
  v4f v;

  memcpy (&v, p, sizeof v);
  return v;
}

static inline void
store4 (float *p,
        v4f    v)
{
  memcpy (p, &v, sizeof v);
}

/* The first n < 4 lanes from p, the others 0; and their store. Row tails go through the same
 * lane code as the rest of the row. */
static inline v4f
load_tail (const float *p,
           int          n)
{
  v4f v = splat (0.0f);

  memcpy (&v, p, (gsize) n * sizeof (float));
  return v;
}

static inline void
store_tail (float *p,
            v4f    v,
            int    n)
{
  memcpy (p, &v, (gsize) n * sizeof (float));
}

static inline v4f
select4 (v4i mask,
         v4f if_true,
         v4f if_false)
{
  return (v4f) ((mask & (v4i) if_true) | (~mask & (v4i) if_false));
}

/* Adds the four lanes of x, widened to double, to acc. */
static inline v2d
add_wide (v2d acc,
          v4f x)
{
  const v2f lo = { x[0], x[1] }, hi = { x[2], x[3] };

  return acc + __builtin_convertvector(lo, v2d) + __builtin_convertvector(hi, v2d);
}

/* Two floats from p, widened to double. */
static inline v2d
load2_wide (const float *p)
{
  v2f x;

  memcpy (&x, p, sizeof x);
  return __builtin_convertvector(x, v2d);
}

static inline double
sum_wide (v2d acc)
{
  return acc[0] + acc[1];
}

static inline v4f
sqrt4 (v4f x)
{
#if defined(__SSE__)
  return (v4f) _mm_sqrt_ps ((__m128) x);
#else
  return (v4f){ sqrtf (x[0]), sqrtf (x[1]), sqrtf (x[2]), sqrtf (x[3]) };
#endif
}

/* e^x lane by lane, within 2 ulp of expf: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two so
 * n ln2 is exact), e^r by Cephes' expf polynomial, 2^n put into the exponent bits. The rounding of
 * x / ln2 adds and subtracts 1.5 * 2^23, which IEEE arithmetic (no -ffast-math) keeps. Below -87
 * the result is 0 and above 88 it is +inf (expf: denormals down to -103.9, +inf above 88.7); NaN
 * stays NaN. Softmax and the sigmoid, its users, see no difference. */
static inline v4f
exp4 (v4f x)
{
  const v4f lo = splat (-87.0f), hi = splat (88.0f), round = splat (12582912.0f);
  const v4f xc = select4 (x < lo, lo, select4 (x > hi, hi, x));
  const v4f n = (xc * splat (1.44269504088896341f) + round) - round;
  const v4f r = (xc - n * splat (0.693359375f)) - n * splat (-2.12194440e-4f);
  v4f       p = splat (1.9875691500e-4f);
  v4f       y;

  p = p * r + splat (1.3981999507e-3f);
  p = p * r + splat (8.3334519073e-3f);
  p = p * r + splat (4.1665795894e-2f);
  p = p * r + splat (1.6666665459e-1f);
  p = p * r + splat (5.0000001201e-1f);
  y = p * (r * r) + r + splat (1.0f);
  y *= (v4f) ((__builtin_convertvector(n, v4i) + 127) << 23);
  return select4 (x < lo, splat (0.0f), select4 (x > hi, splat (INFINITY), y));
}

/* x with the lanes from n on set to 0. */
static inline v4f
keep_lanes (v4f x,
            int n)
{
  return load_tail ((const float *) &x, n);
}
