#include "test-util.h"

#include <glib/gstdio.h>
#include <stb_image_write.h>
#include <string.h>

#include "wordpatch/safetensors.h"

static void
log_cb (const char    *log_domain,
        GLogLevelFlags log_level,
        const char    *message,
        gpointer       user_data)
{
  if (log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    g_test_fail_printf ("unexpected log message (%s): %s", log_domain ? log_domain : "no domain",
                        message);
  g_log_default_handler (log_domain, log_level, message, user_data);
}

void
wp_test_init (int    *argc,
              char ***argv)
{
  g_test_init (argc, argv, NULL);
  g_test_set_nonfatal_assertions ();
  g_log_set_always_fatal (G_LOG_FATAL_MASK);
  g_log_set_default_handler (log_cb, NULL);
}

void
wp_test_add_named_cases_full (const char   *prefix,
                              gconstpointer cases,
                              gsize         n,
                              gsize         size,
                              GTestDataFunc func)
{
  for (gsize i = 0; i < n; i++) {
    gconstpointer    element = (const char *) cases + i * size;
    g_autofree char *path =
      g_strdup_printf ("%s/%s", prefix, *(const char *const *) element);

    g_test_add_data_func (path, element, func);
  }
}

float *
wp_test_random_floats (GRand *rand,
                       gsize  n,
                       double scale)
{
  float *a = g_new (float, n);

  for (gsize i = 0; i < n; i++)
    a[i] = (float) g_rand_double_range (rand, -scale, scale);
  return a;
}

guint8 *
wp_test_pattern_pixels (int width,
                        int height,
                        int comp)
{
  guint8 *pixels = g_new (guint8, (gsize) width * height * comp);

  for (int y = 0; y < height; y++) {
    for (int x = 0; x < width; x++) {
      for (int c = 0; c < comp; c++)
        pixels[((gsize) y * width + x) * comp + c] = (guint8) (x * 37 + y * 11 + c * 90);
    }
  }
  return pixels;
}

void
wp_test_jpeg_insert_app1 (GByteArray   *jpeg,
                          const guint8 *payload,
                          gsize         len)
{
  const guint8 header[] = { 0xFF, 0xE1, (guint8) ((len + 2) >> 8), (guint8) (len + 2) };

  g_assert_cmpuint (len + 2, <=, 0xFFFF);
  g_assert_cmpuint (jpeg->len, >=, 2);
  g_assert_cmpuint (jpeg->data[0], ==, 0xFF);
  g_assert_cmpuint (jpeg->data[1], ==, 0xD8);
  g_byte_array_remove_range (jpeg, 0, 2);
  g_byte_array_prepend (jpeg, payload, (guint) len);
  g_byte_array_prepend (jpeg, header, sizeof header);
  g_byte_array_prepend (jpeg, (const guint8[]){ 0xFF, 0xD8 }, 2);
}

GByteArray *
wp_test_exif_orientation (int      orientation,
                          gboolean big_endian)
{
  /* Little-endian; big-endian swaps each number's bytes. */
  guint8 exif[] = { 'E', 'x', 'i', 'f', 0, 0,
                    'I', 'I', 42, 0, 8, 0, 0, 0, /* TIFF header: the first IFD at 8 */
                    1, 0,                        /* one entry */
                    0x12, 0x01, 3, 0, 1, 0, 0, 0, (guint8) orientation, 0, 0, 0,
                    0, 0, 0, 0 }; /* no next IFD */
  if (big_endian) {
    static const struct {
      int at, bytes;
    } numbers[] = { { 8, 2 }, { 10, 4 }, { 14, 2 }, { 16, 2 }, { 18, 2 }, { 20, 4 }, { 24, 2 } };

    exif[6] = exif[7] = 'M';
    for (gsize i = 0; i < G_N_ELEMENTS (numbers); i++) {
      for (int k = 0; k < numbers[i].bytes / 2; k++) {
        const guint8 t = exif[numbers[i].at + k];

        exif[numbers[i].at + k] = exif[numbers[i].at + numbers[i].bytes - 1 - k];
        exif[numbers[i].at + numbers[i].bytes - 1 - k] = t;
      }
    }
  }
  return g_byte_array_append (g_byte_array_new (), exif, sizeof exif);
}

static void
append_cb (void *context,
           void *data,
           int   size)
{
  g_byte_array_append (context, data, (guint) size);
}

GByteArray *
wp_test_encode_image (const char   *format,
                      const guint8 *pixels,
                      int           width,
                      int           height,
                      int           comp)
{
  GByteArray *bytes = g_byte_array_new ();
  int         ok;

  if (strcmp (format, "png") == 0)
    ok = stbi_write_png_to_func (append_cb, bytes, width, height, comp, pixels, width * comp);
  else
    ok = stbi_write_jpg_to_func (append_cb, bytes, width, height, comp, pixels, 100);
  g_assert_true (ok);
  return bytes;
}

void
wp_test_write_exif_jpeg (const char   *path,
                         const guint8 *pixels,
                         int           width,
                         int           height,
                         int           orientation,
                         gboolean      big_endian)
{
  g_autoptr (GByteArray) jpg = wp_test_encode_image ("jpg", pixels, width, height, 3);
  g_autoptr (GByteArray) exif = wp_test_exif_orientation (orientation, big_endian);
  g_autoptr (GError) error = NULL;

  wp_test_jpeg_insert_app1 (jpg, exif->data, exif->len);
  g_file_set_contents (path, (const char *) jpg->data, jpg->len, &error);
  g_assert_no_error (error);
}

char *
wp_test_make_tmp_dir (const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *pattern = g_strdup_printf ("wp-test-%s-XXXXXX", name);
  char            *dir = g_dir_make_tmp (pattern, &error);

  g_assert_no_error (error);
  return dir;
}

void
wp_test_write_text (const char *dir,
                    const char *name,
                    const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

void
wp_test_remove_file (const char *dir,
                     const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  g_assert_cmpint (g_unlink (path), ==, 0);
}

WpSafetensors *
wp_test_write_safetensors (const char               *path,
                           const WpSafetensorsEntry *entries,
                           guint                     n,
                           GHashTable               *metadata)
{
  g_autoptr (GError) error = NULL;
  WpSafetensors *st;

  g_assert_true (wp_safetensors_write (path, entries, n, metadata, &error));
  g_assert_no_error (error);
  st = wp_safetensors_open (path, &error);
  g_assert_no_error (error);
  return st;
}

void
wp_test_shard_folder (const char *folder,
                      int         n)
{
  g_autofree char *path = g_build_filename (folder, "model.safetensors", NULL);
  g_autoptr (WpSafetensors) st = NULL;
  g_autoptr (GPtrArray) buffers = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) index =
    g_string_new ("{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
  g_autoptr (GError) error = NULL;

  st = wp_safetensors_open (path, &error);
  g_assert_no_error (error);
  for (int s = 0; s < n; s++) {
    g_autoptr (GArray) entries = g_array_new (FALSE, TRUE, sizeof (WpSafetensorsEntry));
    g_autofree char *name = g_strdup_printf ("model-%05d-of-%05d.safetensors", s + 1, n);
    g_autofree char *shard = g_build_filename (folder, name, NULL);
    g_autoptr (GHashTable) metadata = g_hash_table_new (g_str_hash, g_str_equal);

    g_hash_table_insert (metadata, "format", "pt");
    for (guint i = (guint) s; i < wp_safetensors_get_n_tensors (st); i += (guint) n) {
      const WpSafetensorsTensor *t = wp_safetensors_get_tensor (st, i);
      WpSafetensorsEntry         e = { t->name, t->ndim, t->shape, NULL, WP_DTYPE_F32 };
      float                     *data = g_new (float, MAX (t->numel, 1));

      g_assert_true (wp_safetensors_read_f32 (st, t, data, TRUE, NULL));
      g_ptr_array_add (buffers, data);
      e.data = data;
      g_array_append_val (entries, e);
      const char *separator = index->str[index->len - 1] == '{' ? "" : ", ";

      g_string_append_printf (index, "%s\"%s\": \"%s\"", separator, t->name, name);
    }
    g_assert_true (wp_safetensors_write (shard, (WpSafetensorsEntry *) (gpointer) entries->data,
                                         entries->len, metadata, &error));
    g_assert_no_error (error);
  }
  g_string_append (index, "}}");
  g_clear_pointer (&st, wp_safetensors_free);
  wp_test_remove_file (folder, "model.safetensors");
  wp_test_write_text (folder, "model.safetensors.index.json", index->str);
}

WpTokenizer *
wp_test_clip_tokenizer (void)
{
  g_autofree char *vocab =
    g_test_build_filename (G_TEST_DIST, "data", "clip-bpe", "vocab.json", NULL);
  g_autofree char *merges =
    g_test_build_filename (G_TEST_DIST, "data", "clip-bpe", "merges.txt", NULL);
  g_autoptr (GError) error = NULL;
  WpTokenizer *tokenizer = wp_tokenizer_new_from_files (vocab, merges, &error);

  g_assert_no_error (error);
  return tokenizer;
}

void
remove_tree (const char *dir)
{
  g_autoptr (GDir) handle = g_dir_open (dir, 0, NULL);
  const char *name;

  if (handle == NULL)
    return;
  while ((name = g_dir_read_name (handle)) != NULL) {
    g_autofree char *path = g_build_filename (dir, name, NULL);

    if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
      remove_tree (path);
    else
      g_unlink (path);
  }
  g_rmdir (dir);
}

void
wp_test_check_mentions (const char *what,
                        const char *text,
                        const char *fragment,
                        const char *file,
                        int         line,
                        const char *func)
{
  g_autofree char *message = NULL;

  if (text != NULL && strstr (text, fragment) != NULL)
    return;
  message = g_strdup_printf ("%s\"%s\" does not mention \"%s\"", what,
                             text != NULL ? text : "(null)", fragment);
  g_assertion_message (G_LOG_DOMAIN, file, line, func, message);
}
