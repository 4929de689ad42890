#include "dataset-fixtures.h"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>

#include "test-util.h"

void
fixture_write_data (const char *path,
                    const void *data,
                    gsize       len)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_file_set_contents (path, data, (gssize) len, &error);
  g_assert_no_error (error);
}

void
fixture_write (const char *path,
               const char *text)
{
  fixture_write_data (path, text, strlen (text));
}

GBytes *
fixture_png (int    w,
             int    h,
             guint8 r,
             guint8 g,
             guint8 b)
{
  g_autofree guint8 *pixels = g_new (guint8, (gsize) w * h * 3);

  for (int i = 0; i < w * h; i++) {
    pixels[3 * i] = r;
    pixels[3 * i + 1] = g;
    pixels[3 * i + 2] = b;
  }
  return g_byte_array_free_to_bytes (wp_test_encode_image ("png", pixels, w, h, 3));
}

struct _FixtureTar {
  struct archive *archive;
};

FixtureTar *
fixture_tar_new (const char *path)
{
  FixtureTar      *tar = g_new0 (FixtureTar, 1);
  g_autofree char *dir = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  tar->archive = archive_write_new ();
  archive_write_set_format_ustar (tar->archive);
  g_assert_cmpint (archive_write_open_filename (tar->archive, path), ==, ARCHIVE_OK);
  return tar;
}

void
fixture_tar_add (FixtureTar *tar,
                 const char *name,
                 const void *data,
                 gsize       len)
{
  struct archive_entry *entry = archive_entry_new ();

  archive_entry_set_pathname (entry, name);
  archive_entry_set_size (entry, (la_int64_t) len);
  archive_entry_set_filetype (entry, AE_IFREG);
  archive_entry_set_perm (entry, 0644);
  g_assert_cmpint (archive_write_header (tar->archive, entry), ==, ARCHIVE_OK);
  if (len > 0)
    g_assert_cmpint (archive_write_data (tar->archive, data, len), ==, (la_ssize_t) len);
  archive_entry_free (entry);
}

void
fixture_tar_add_text (FixtureTar *tar,
                      const char *name,
                      const char *text)
{
  fixture_tar_add (tar, name, text, strlen (text));
}

void
fixture_tar_close (FixtureTar *tar)
{
  g_assert_cmpint (archive_write_close (tar->archive), ==, ARCHIVE_OK);
  archive_write_free (tar->archive);
  g_free (tar);
}
