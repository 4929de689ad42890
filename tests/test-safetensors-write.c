/* test-safetensors-write.c: the safetensors writer: round trips through wp_safetensors_write in
 * float and half precision, the file's layout, and how it replaces or refuses a file. */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "test-util.h"
#include "wordpatch/error.h"
#include "wordpatch/safetensors.h"

/* ---- writing and reading back ---- */

static void
test_write_round_trip (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  g_autofree char *path = g_build_filename (dir, "x.safetensors", NULL);
  g_autoptr (GHashTable) metadata = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (WpSafetensors) st = NULL;
  g_autoptr (GError) error = NULL;
  const gint64 shape_a[] = { 2, 3 }, shape_b[] = { 5 }, shape_empty[] = { 0, 4 },
               shape_4d[] = { 1, 2, 1, 2 };
  float   a[6], b[5], scalar = -1.5f, empty = 0.0f, four[4] = { 1, 2, 3, 4 };
  guint32 nan_payload = 0x7fc01234u;
  float   out[6];

  /* Values that a lossy path would change: -0, a subnormal, the extremes, NaN with a payload. */
  a[0] = -0.0f;
  a[1] = 1e-40f;
  a[2] = 3.4028235e38f;
  a[3] = -INFINITY;
  memcpy (&a[4], &nan_payload, 4);
  a[5] = 0.1f;
  for (int i = 0; i < 5; i++)
    b[i] = (float) i / 7.0f;
  {
    const WpSafetensorsEntry entries[] = {
      { "text_model.a.weight", 2, shape_a, a },
      { "b", 1, shape_b, b },
      { "scalar", 0, NULL, &scalar },
      { "empty", 2, shape_empty, &empty },
      { "four.d", 4, shape_4d, four },
    };

    g_hash_table_insert (metadata, "format", "pt");
    g_hash_table_insert (metadata, "text", "quote \" backslash \\ newline \n café");
    st = wp_test_write_safetensors (path, entries, G_N_ELEMENTS (entries), metadata);
  }

  g_assert_cmpstr (wp_safetensors_get_path (st), ==, path);
  g_assert_cmpuint (wp_safetensors_get_n_tensors (st), ==, 5);
  g_assert_cmpstr (wp_safetensors_get_metadata (st, "format"), ==, "pt");
  g_assert_cmpstr (wp_safetensors_get_metadata (st, "text"), ==,
                   "quote \" backslash \\ newline \n café");
  g_assert_null (wp_safetensors_get_metadata (st, "absent"));
  g_assert_null (wp_safetensors_lookup (st, "absent"));
  g_assert_null (wp_safetensors_lookup (st, "__metadata__"));

  {
    const WpSafetensorsTensor *t = wp_safetensors_lookup (st, "text_model.a.weight");

    g_assert_nonnull (t);
    g_assert_cmpstr (t->name, ==, "text_model.a.weight");
    g_assert_cmpstr (t->dtype_name, ==, "F32");
    g_assert_cmpint (t->dtype, ==, WP_DTYPE_F32);
    g_assert_cmpint (t->ndim, ==, 2);
    g_assert_cmpint (t->shape[0], ==, 2);
    g_assert_cmpint (t->shape[1], ==, 3);
    g_assert_cmpuint (t->numel, ==, 6);
    g_assert_cmpuint (t->n_bytes, ==, 24);
    wp_safetensors_read_f32 (st, t, out, FALSE, &error);
    g_assert_no_error (error);
    g_assert_cmpmem (out, sizeof a, a, sizeof a);
  }
  {
    const WpSafetensorsTensor *t = wp_safetensors_lookup (st, "b");

    g_assert_nonnull (t);
    g_assert_cmpint (t->ndim, ==, 1);
    g_assert_cmpint (t->shape[0], ==, 5);
    wp_safetensors_read_f32 (st, t, out, TRUE, &error);
    g_assert_no_error (error);
    g_assert_cmpmem (out, sizeof b, b, sizeof b);
  }
  {
    const WpSafetensorsTensor *t = wp_safetensors_lookup (st, "scalar");

    g_assert_nonnull (t);
    g_assert_cmpint (t->ndim, ==, 0);
    g_assert_cmpuint (t->numel, ==, 1);
    wp_safetensors_read_f32 (st, t, out, TRUE, &error);
    g_assert_no_error (error);
    g_assert_cmpfloat (out[0], ==, -1.5f);
  }
  {
    const WpSafetensorsTensor *t = wp_safetensors_lookup (st, "empty");

    g_assert_nonnull (t);
    g_assert_cmpint (t->ndim, ==, 2);
    g_assert_cmpint (t->shape[0], ==, 0);
    g_assert_cmpint (t->shape[1], ==, 4);
    g_assert_cmpuint (t->numel, ==, 0);
    g_assert_cmpuint (t->n_bytes, ==, 0);
  }
  {
    const WpSafetensorsTensor *t = wp_safetensors_lookup (st, "four.d");

    g_assert_nonnull (t);
    g_assert_cmpint (t->ndim, ==, 4);
    for (int d = 0; d < 4; d++)
      g_assert_cmpint (t->shape[d], ==, shape_4d[d]);
    wp_safetensors_read_f32 (st, t, out, TRUE, &error);
    g_assert_no_error (error);
    g_assert_cmpmem (out, sizeof four, four, sizeof four);
  }
  /* Every listed tensor is reachable by index too, and its name looks up to itself. */
  for (guint i = 0; i < wp_safetensors_get_n_tensors (st); i++) {
    const WpSafetensorsTensor *t = wp_safetensors_get_tensor (st, i);

    g_assert_true (wp_safetensors_lookup (st, t->name) == t);
  }

  g_clear_pointer (&st, wp_safetensors_free);
  remove_tree (dir);
}

/* The header is padded so the data section starts 8-byte aligned, and tensors follow each other. */
static void
test_write_layout (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  g_autofree char *path = g_build_filename (dir, "x.safetensors", NULL);
  g_autofree char *contents = NULL;
  g_autoptr (WpSafetensors) st = NULL;
  g_autoptr (GError) error = NULL;
  const gint64             shape_a[] = { 3 }, shape_b[] = { 2 };
  const float              a[] = { 1, 2, 3 }, b[] = { 4, 5 };
  const WpSafetensorsEntry entries[] = { { "a", 1, shape_a, a }, { "b", 1, shape_b, b } };
  gsize                    len;
  guint64                  header_len = 0;

  wp_safetensors_write (path, entries, 2, NULL, &error);
  g_assert_no_error (error);
  g_file_get_contents (path, &contents, &len, &error);
  g_assert_no_error (error);
  for (int i = 7; i >= 0; i--)
    header_len = (header_len << 8) | (guint8) contents[i];
  g_assert_cmpuint ((8 + header_len) % 8, ==, 0);
  g_assert_cmpuint (len, ==, 8 + header_len + sizeof a + sizeof b);
  g_assert_cmpmem (contents + 8 + header_len, sizeof a, a, sizeof a);
  g_assert_cmpmem (contents + 8 + header_len + sizeof a, sizeof b, b, sizeof b);

  st = wp_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_null (wp_safetensors_get_metadata (st, "format"));
  g_assert_cmpuint (wp_safetensors_lookup (st, "a")->begin, ==, 0);
  g_assert_cmpuint (wp_safetensors_lookup (st, "b")->begin, ==, sizeof a);
  g_clear_pointer (&st, wp_safetensors_free);
  remove_tree (dir);
}

static void
test_write_no_tensors (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  g_autofree char *path = g_build_filename (dir, "x.safetensors", NULL);
  g_autoptr (WpSafetensors) st = wp_test_write_safetensors (path, NULL, 0, NULL);

  g_assert_cmpuint (wp_safetensors_get_n_tensors (st), ==, 0);
  g_clear_pointer (&st, wp_safetensors_free);
  remove_tree (dir);
}

static void
test_write_no_temp_file (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  g_autofree char *path = g_build_filename (dir, "x.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) handle = NULL;
  const gint64             shape[] = { 4 };
  const float              data[] = { 1, 2, 3, 4 };
  const WpSafetensorsEntry entry = { "a", 1, shape, data };
  const char              *name;
  int                      n_files = 0;

  wp_safetensors_write (path, &entry, 1, NULL, &error);
  g_assert_no_error (error);
  handle = g_dir_open (dir, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (handle)) != NULL) {
    g_assert_cmpstr (name, ==, "x.safetensors");
    n_files++;
  }
  g_assert_cmpint (n_files, ==, 1);
  g_clear_pointer (&handle, g_dir_close);
  remove_tree (dir);
}

/* A larger file under the same name is replaced whole, not overwritten in place. */
static void
test_write_replaces_existing (void)
{
  g_autofree char  *dir = wp_test_make_tmp_dir ("safetensors");
  g_autofree char  *path = g_build_filename (dir, "x.safetensors", NULL);
  g_autofree float *big = g_new (float, 1000);
  g_autoptr (WpSafetensors) st = NULL;
  g_autoptr (GError) error = NULL;
  const gint64 big_shape[] = { 1000 }, small_shape[] = { 2 };
  const float  small[] = { 7, 8 };
  float        out[2];
  GStatBuf     buf;

  for (int i = 0; i < 1000; i++)
    big[i] = (float) i;
  {
    const WpSafetensorsEntry entry = { "big", 1, big_shape, big };

    wp_safetensors_write (path, &entry, 1, NULL, &error);
    g_assert_no_error (error);
  }
  {
    const WpSafetensorsEntry entry = { "small", 1, small_shape, small };

    st = wp_test_write_safetensors (path, &entry, 1, NULL);
  }
  g_assert_cmpuint (wp_safetensors_get_n_tensors (st), ==, 1);
  g_assert_null (wp_safetensors_lookup (st, "big"));
  g_assert_nonnull (wp_safetensors_lookup (st, "small"));
  wp_safetensors_read_f32 (st, wp_safetensors_lookup (st, "small"), out, TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (out, sizeof out, small, sizeof small);
  g_assert_cmpint (g_stat (path, &buf), ==, 0);
  g_assert_cmpint (buf.st_size, <, 1000);
  g_clear_pointer (&st, wp_safetensors_free);
  remove_tree (dir);
}

static void
test_write_missing_folder (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  g_autofree char *path = g_build_filename (dir, "no-such-folder", "x.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  const gint64             shape[] = { 1 };
  const float              data[] = { 1 };
  const WpSafetensorsEntry entry = { "a", 1, shape, data };

  g_assert_false (wp_safetensors_write (path, &entry, 1, NULL, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  assert_error_mentions (error, path);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  remove_tree (dir);
}

/* ---- writing half precision ---- */

/* Writing half precision: every finite F16 and BF16 value comes back as itself, a value halfway
 * between two neighbours goes to the one with an even mantissa, values past F16's range become
 * infinite, and NaN stays NaN. */
static void
test_f32_to_half (void)
{
  for (guint32 h = 0; h < 0x10000; h++) {
    const float f16 = wp_f16_to_f32 ((guint16) h), bf16 = wp_bf16_to_f32 ((guint16) h);

    if (!isnan (f16))
      g_assert_cmphex (wp_f32_to_f16 (f16), ==, h);
    else
      g_assert_true (isnan (wp_f16_to_f32 (wp_f32_to_f16 (f16))));
    if (!isnan (bf16))
      g_assert_cmphex (wp_f32_to_bf16 (bf16), ==, h);
    else
      g_assert_true (isnan (wp_bf16_to_f32 (wp_f32_to_bf16 (bf16))));
  }
  for (guint32 h = 1; h < 0x7bff; h++) {
    const double lo = wp_f16_to_f32 ((guint16) h), hi = wp_f16_to_f32 ((guint16) (h + 1));
    const float  mid = (float) ((lo + hi) / 2.0);

    g_assert_cmphex (wp_f32_to_f16 (mid), ==, h % 2 == 0 ? h : h + 1);
    g_assert_cmphex (wp_f32_to_f16 (nextafterf (mid, 0.0f)), ==, h);
    g_assert_cmphex (wp_f32_to_f16 (nextafterf (mid, INFINITY)), ==, h + 1);
  }
  g_assert_cmphex (wp_f32_to_f16 (65520.0f), ==, 0x7c00);
  g_assert_cmphex (wp_f32_to_f16 (-1e30f), ==, 0xfc00);
  g_assert_cmphex (wp_f32_to_f16 (1e-9f), ==, 0x0000);
  g_assert_true (isnan (wp_f16_to_f32 (wp_f32_to_f16 (NAN))));
}

/* Tensors written as F16 and BF16 read back as the rounded values, with their dtype named. */
static void
test_write_half (void)
{
  static const float   values[] = { 1.0f, -2.5f, 0.1f, 3e-6f, 70000.0f };
  static const gint64  shape[] = { 5 };
  static const WpDtype dtypes[] = { WP_DTYPE_F16, WP_DTYPE_BF16 };
  g_autofree char     *dir = g_dir_make_tmp ("wp-test-half-XXXXXX", NULL);

  for (gsize d = 0; d < G_N_ELEMENTS (dtypes); d++) {
    g_autofree char         *path = g_build_filename (dir, "half.safetensors", NULL);
    const WpSafetensorsEntry entry = { "w", 1, shape, values, dtypes[d] };
    g_autoptr (GError) error = NULL;
    g_autoptr (WpSafetensors) st = NULL;
    const WpSafetensorsTensor *tensor;
    float                      back[5];

    st = wp_test_write_safetensors (path, &entry, 1, NULL);
    tensor = wp_safetensors_lookup (st, "w");
    g_assert_cmpint (tensor->dtype, ==, dtypes[d]);
    g_assert_cmpuint (tensor->n_bytes, ==, 10);
    g_assert_true (wp_safetensors_read_f32 (st, tensor, back, FALSE, &error));
    for (int i = 0; i < 5; i++) {
      const float want = dtypes[d] == WP_DTYPE_F16 ? wp_f16_to_f32 (wp_f32_to_f16 (values[i]))
                                                   : wp_bf16_to_f32 (wp_f32_to_bf16 (values[i]));

      g_assert_cmpfloat (back[i], ==, want);
    }
    g_unlink (path);
  }
  g_rmdir (dir);
}

int
main (int   argc,
      char *argv[])
{
  wp_test_init (&argc, &argv);

  g_test_add_func ("/safetensors/write/round-trip", test_write_round_trip);
  g_test_add_func ("/safetensors/write/layout", test_write_layout);
  g_test_add_func ("/safetensors/write/no-tensors", test_write_no_tensors);
  g_test_add_func ("/safetensors/write/no-temp-file", test_write_no_temp_file);
  g_test_add_func ("/safetensors/write/replaces-existing", test_write_replaces_existing);
  g_test_add_func ("/safetensors/write/missing-folder", test_write_missing_folder);
  g_test_add_func ("/safetensors/half/from-f32", test_f32_to_half);
  g_test_add_func ("/safetensors/half/write", test_write_half);
  return g_test_run ();
}
