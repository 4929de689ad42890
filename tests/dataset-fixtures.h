/* dataset-fixtures.h: what the dataset tests share to write datasets in other tools' layouts:
 * files with their folders, PNG images, tar shards (written with libarchive, as ustar). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Writes text (or len bytes of data) to path, creating its folders. */
void fixture_write (const char *path,
                    const char *text);
void fixture_write_data (const char *path,
                         const void *data,
                         gsize       len);
/* A w x h PNG filled with one colour. */
GBytes *fixture_png (int    w,
                     int    h,
                     guint8 r,
                     guint8 g,
                     guint8 b) G_GNUC_WARN_UNUSED_RESULT;

typedef struct _FixtureTar FixtureTar;

FixtureTar *fixture_tar_new (const char *path) G_GNUC_WARN_UNUSED_RESULT;
void        fixture_tar_add (FixtureTar *tar,
                             const char *name,
                             const void *data,
                             gsize       len);
void        fixture_tar_add_text (FixtureTar *tar,
                                  const char *name,
                                  const char *text);
/* Writes the end of the archive and closes it. */
void fixture_tar_close (FixtureTar *tar);

G_END_DECLS
