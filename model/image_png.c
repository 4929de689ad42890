/* image-png.c: writing 8-bit RGB PNG files through libpng.
 *
 * The file is written under a temporary name in the destination's folder and renamed into place,
 * as g_file_set_contents() does, so a reader never sees half an image. libpng reports errors by
 * longjmp(); the only function that calls setjmp() keeps no local state that changes after it. */
#include "wordpatch/image.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wordpatch/error.h"

#define PNG_TEXT_MAX_KEY 79

typedef struct {
  jmp_buf jump;
  char    message[256];
} PngFailure;

static void
png_error_cb (png_structp     png,
              png_const_charp message)
{
  PngFailure *failure = png_get_error_ptr (png);

  g_strlcpy (failure->message, message, sizeof failure->message);
  longjmp (failure->jump, 1);
}

static void
png_warning_cb (png_structp     png,
                png_const_charp message)
{
  /* Warnings (none are expected for the images written here) do not stop the write. */
}

static int
compare_keys (gconstpointer a,
              gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* A keyword is 1 to 79 printable Latin-1 characters without leading, trailing or double spaces;
 * this writer accepts the ASCII ones. Values are UTF-8 without control characters but newlines:
 * printable ASCII goes into a tEXt chunk, anything else into an iTXt chunk (*utf8 set). */
static gboolean
check_text (const char *key,
            const char *value,
            gboolean   *utf8,
            GError    **error)
{
  const gsize len = strlen (key);

  if (len == 0 || len > PNG_TEXT_MAX_KEY || key[0] == ' ' || key[len - 1] == ' ' ||
      strstr (key, "  ") != NULL) {
    g_set_error (
      error, WP_ERROR, WP_ERROR_INVALID,
      "PNG text key '%s' must be 1 to %d characters without leading, trailing or double spaces",
      key, PNG_TEXT_MAX_KEY);
    return FALSE;
  }
  for (const char *p = key; *p != '\0'; p++) {
    if (*p < 0x20 || *p > 0x7e) {
      g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                   "PNG text key '%s' holds a character that is not printable ASCII", key);
      return FALSE;
    }
  }
  if (!g_utf8_validate (value, -1, NULL)) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "PNG text '%s' is not valid UTF-8", key);
    return FALSE;
  }
  *utf8 = FALSE;
  for (const guchar *p = (const guchar *) value; *p != '\0'; p++) {
    if ((*p < 0x20 && *p != '\n') || *p == 0x7f) {
      g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "PNG text '%s' holds a control character",
                   key);
      return FALSE;
    }
    *utf8 = *utf8 || *p > 0x7f;
  }
  return TRUE;
}

/* Everything libpng does, under one setjmp(). Nothing declared here is modified after setjmp()
 * returns, so no variable needs to be volatile. rows and texts belong to the caller. */
static gboolean
write_png_stream (FILE          *fp,
                  const WpImage *image,
                  png_bytep     *rows,
                  png_textp      texts,
                  int            n_texts,
                  PngFailure    *failure)
{
  png_structp png =
    png_create_write_struct (PNG_LIBPNG_VER_STRING, failure, png_error_cb, png_warning_cb);
  png_infop info = png != NULL ? png_create_info_struct (png) : NULL;

  if (info == NULL) {
    png_destroy_write_struct (png != NULL ? &png : NULL, NULL);
    g_strlcpy (failure->message, "out of memory", sizeof failure->message);
    return FALSE;
  }
  if (setjmp (failure->jump)) {
    png_destroy_write_struct (&png, &info);
    return FALSE;
  }
  png_init_io (png, fp);
  png_set_IHDR (png, info, (png_uint_32) image->width, (png_uint_32) image->height, 8,
                PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                PNG_FILTER_TYPE_DEFAULT);
  if (n_texts > 0)
    png_set_text (png, info, texts, n_texts);
  png_write_info (png, info);
  png_write_image (png, rows);
  png_write_end (png, NULL);
  png_destroy_write_struct (&png, &info);
  return TRUE;
}

gboolean
wp_image_save_png (const WpImage *image,
                   const char    *path,
                   GHashTable    *text,
                   GError       **error)
{
  g_autofree png_bytep *rows = NULL;
  g_autofree png_textp  texts = NULL;
  g_autofree char      *tmp_path = NULL;
  g_autofree gpointer  *keys = NULL;
  guint                 n_keys = 0;
  PngFailure            failure = { 0 };
  gboolean              replacing;
  FILE                 *fp;
  int                   fd, saved_errno;

  g_return_val_if_fail (image != NULL && image->rgb != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* Text chunks in key order, so that the same table always gives the same bytes. */
  if (text != NULL) {
    keys = g_hash_table_get_keys_as_array (text, &n_keys);
    qsort (keys, n_keys, sizeof (gpointer), compare_keys);
    texts = g_new0 (png_text, MAX (n_keys, 1));
    for (guint i = 0; i < n_keys; i++) {
      const char *value = g_hash_table_lookup (text, keys[i]);
      gboolean    utf8;

      if (!check_text (keys[i], value, &utf8, error)) {
        g_prefix_error (error, "%s: ", path);
        return FALSE;
      }
      texts[i].compression = utf8 ? PNG_ITXT_COMPRESSION_NONE : PNG_TEXT_COMPRESSION_NONE;
      texts[i].key = keys[i];
      texts[i].text = (png_charp) value;
      if (utf8) {
        texts[i].itxt_length = strlen (value);
        texts[i].lang = (png_charp) "";
        texts[i].lang_key = (png_charp) "";
      } else {
        texts[i].text_length = strlen (value);
      }
    }
  }
  rows = g_new (png_bytep, image->height);
  for (int y = 0; y < image->height; y++)
    rows[y] = image->rgb + (gsize) y * image->width * 3;

  replacing = g_file_test (path, G_FILE_TEST_EXISTS);
  tmp_path = g_strdup_printf ("%s.XXXXXX", path);
  fd = g_mkstemp_full (tmp_path, O_WRONLY, 0666);
  if (fd < 0) {
    saved_errno = errno;
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                 "%s: cannot create a temporary file to write it: %s", path,
                 g_strerror (saved_errno));
    return FALSE;
  }
  fp = fdopen (fd, "wb");
  if (fp == NULL) {
    saved_errno = errno;
    close (fd);
    g_unlink (tmp_path);
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s: %s", path,
                 g_strerror (saved_errno));
    return FALSE;
  }
  if (!write_png_stream (fp, image, rows, texts, (int) n_keys, &failure)) {
    fclose (fp);
    g_unlink (tmp_path);
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO, "%s: cannot write PNG: %s", path,
                 failure.message);
    return FALSE;
  }
  /* Like g_file_set_contents(): the data reaches the disk before it replaces an existing file. */
  if (fflush (fp) != 0 || ferror (fp) || (replacing && fsync (fileno (fp)) != 0)) {
    saved_errno = errno;
    fclose (fp);
    g_unlink (tmp_path);
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                 "%s: cannot write PNG: %s", path, g_strerror (saved_errno));
    return FALSE;
  }
  if (fclose (fp) != 0) {
    saved_errno = errno;
    g_unlink (tmp_path);
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                 "%s: cannot write PNG: %s", path, g_strerror (saved_errno));
    return FALSE;
  }
  if (g_rename (tmp_path, path) != 0) {
    saved_errno = errno;
    g_unlink (tmp_path);
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                 "%s: cannot move the written file into place: %s", path, g_strerror (saved_errno));
    return FALSE;
  }
  return TRUE;
}
