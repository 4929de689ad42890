#include "layout-private.h"

#define ALIGNMENT 64

gpointer
wp_layout_take (WpLayout *layout,
                guint64   n,
                gsize     size)
{
  const guint64 offset = (layout->used + ALIGNMENT - 1) & ~(guint64) (ALIGNMENT - 1);

  layout->used = offset + n * size;
  return layout->base != NULL ? layout->base + offset : NULL;
}

gpointer
wp_layout_alloc (WpLayout *layout)
{
  /* g_malloc0 rather than an aligned allocator: calloc leaves the pages of a large block
   * untouched until they are written, so a state costs resident memory only for what its
   * batches use. The slack is for aligning the start. */
  guint8 *block = g_malloc0 (layout->used + ALIGNMENT - 1);

  layout->base = (guint8 *) (((guintptr) block + ALIGNMENT - 1) & ~(guintptr) (ALIGNMENT - 1));
  layout->measured = layout->used;
  layout->used = 0;
  return block;
}

void
wp_layout_check (const WpLayout *layout)
{
  g_assert (layout->base != NULL && layout->used == layout->measured);
}
