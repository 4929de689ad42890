/* evaluate-fixtures.h: what the test-evaluate*.c programs share: a random tiny model, made once,
 * and test images. */
#pragma once

#include <glib.h>

#include "test-util.h"
#include "wordpatch/wordpatch.h"

G_BEGIN_DECLS

/* The "tiny" preset with OpenAI's vocabulary and random weights (seed 11), made on first use. */
const WpModel *get_model (void);
/* Frees the model get_model() made, if any. */
void clear_model (void);

/* A width x height image of smooth colour gradients and a disc, different per seed. */
WpImage *make_image (int width,
                     int height,
                     int seed);

/* The cosine of two E-vectors in double precision, norms floored at 1e-6. */
double naive_cosine (const float *a,
                     const float *b,
                     int          E);

G_END_DECLS
