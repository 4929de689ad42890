/* dense-private.h: what the forward maps (dense.c: one image at any grid, the last-block
 * variants) and the gradient maps (dense_gradient.c) share: the image's state. */
#pragma once

#include <glib.h>

#include "wordpatch/dense.h"
#include "wordpatch/encoder.h"

G_BEGIN_DECLS

/* Shapes as dense.h: P patches, T = P + 1 tokens, C width, M MLP width (dense.h's I, a name
 * complex.h takes), E projection, NH heads. */

struct _WpDenseImage {
  int    rows, cols, P, T, C, E;
  guint  methods;
  float *pooled_raw, *pooled; /* (E) */
  float *features_raw[WP_N_MAP_METHODS];
  float *features[WP_N_MAP_METHODS]; /* (P, E), forward methods asked for */
  /* The encoder's activations, kept for gradient methods: every layer's for LeGrad, the last
   * two layers' (encoder.h's forward-only state) for the others. */
  WpEncoderState encoder;
  gboolean       has_activations;
};

G_END_DECLS
