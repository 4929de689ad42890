/* layout-private.h: a state's arrays in one buffer, listed once.
 *
 * A state lists its arrays in one function that calls WP_LAYOUT_ARRAY for each. Run on an empty
 * WpLayout, the function only measures: the bytes a memory estimate reports, before anything is
 * allocated. wp_layout_alloc() then allocates that many and the same function, run again, points
 * every array into the buffer; wp_layout_check() asserts it laid out what it measured. One list
 * serves the estimate and the allocation, so the two cannot drift apart (llm.c's activation
 * tensors, filled from one table of sizes). Arrays start on 64-byte boundaries, a cache line, and
 * the buffer starts zeroed. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  guint8 *base;     /* NULL while measuring */
  guint64 used;     /* bytes laid out so far */
  guint64 measured; /* what the measuring run needed, once allocated */
} WpLayout;

/* The next n elements of size bytes: their address, or NULL while measuring. */
gpointer wp_layout_take (WpLayout *layout,
                         guint64   n,
                         gsize     size);
/* Points array at the next n elements of its own type. */
#define WP_LAYOUT_ARRAY(layout, array, n) \
  ((array) = wp_layout_take ((layout), (n), sizeof *(array)))

/* Allocates a zeroed buffer for what layout measured and rewinds layout to lay out into it.
 * Returns the block to g_free(). */
gpointer wp_layout_alloc (WpLayout *layout) G_GNUC_WARN_UNUSED_RESULT;
/* Asserts the second run laid out exactly what the first measured. */
void wp_layout_check (const WpLayout *layout);

G_END_DECLS
