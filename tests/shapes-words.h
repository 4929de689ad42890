/* shapes-words.h: what the scene generator's tests share: the vocabulary shapes.h documents,
 * written out here so that the tests check the generator against its documentation rather than
 * against itself, and the generator's options for a split and seed. */
#pragma once

#include <glib.h>

#include "shapes.h"

G_BEGIN_DECLS

extern const char *const colours[8];
extern const char *const shapes[6];
extern const char *const plurals[6];
/* The held-out shape of each colour, in the order of colours[]. */
extern const char *const held_out[8];

/* The default options with split and seed set. */
WpShapesOptions wp_test_shapes_options (WpShapesSplit split,
                                        guint64       seed);

G_END_DECLS
