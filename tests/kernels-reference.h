/* kernels-reference.h: what the kernel tests share: the activations to run through every
 * activation test, and the one activation whose reference formula is more than a line. */
#pragma once

#include <math.h>

#include "wordpatch/kernels.h"

#define N_ACTIVATIONS 3

static const WpActivation activations[N_ACTIVATIONS] = {
  WP_ACTIVATION_QUICK_GELU,
  WP_ACTIVATION_GELU,
  WP_ACTIVATION_GELU_TANH,
};

/* transformers' gelu_new as it is written there:
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
static inline double
gelu_tanh_reference (double x)
{
  return 0.5 * x * (1.0 + tanh (sqrt (2.0 / G_PI) * (x + 0.044715 * pow (x, 3.0))));
}
