/* test-safetensors.c: the safetensors reader (the writer is tested in test-safetensors-write.c).
 *
 * Half-precision files built byte by byte here (header JSON and little-endian data written by the
 * test, not by the engine), and one test per malformed input: each must fail with its WP_ERROR
 * code and a message naming the file and the problem. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "test-util.h"
#include "wordpatch/error.h"
#include "wordpatch/safetensors.h"

/* A safetensors file byte by byte: the 8-byte little-endian length field, the header text, then
 * data_len bytes of data (zeros when data is NULL). */
static char *
write_raw (const char   *dir,
           const char   *name,
           guint64       length_field,
           const char   *header,
           const guint8 *data,
           gsize         data_len)
{
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  g_autoptr (GError) error = NULL;
  char   *path = g_build_filename (dir, name, NULL);
  guint8  len_bytes[8];
  guint8 *zeros = g_malloc0 (data_len + 1);

  for (int i = 0; i < 8; i++)
    len_bytes[i] = (guint8) (length_field >> (8 * i));
  g_byte_array_append (bytes, len_bytes, 8);
  g_byte_array_append (bytes, (const guint8 *) header, (guint) strlen (header));
  g_byte_array_append (bytes, data != NULL ? data : zeros, (guint) data_len);
  g_free (zeros);
  g_file_set_contents (path, (const char *) bytes->data, (gssize) bytes->len, &error);
  g_assert_no_error (error);
  return path;
}

static char *
write_file (const char   *dir,
            const char   *header,
            const guint8 *data,
            gsize         data_len)
{
  return write_raw (dir, "t.safetensors", strlen (header), header, data, data_len);
}

static void
assert_same_bits (float       got,
                  float       want,
                  const char *what)
{
  guint32 got_bits, want_bits;

  memcpy (&got_bits, &got, 4);
  memcpy (&want_bits, &want, 4);
  if (isnan (want)) {
    if (!isnan (got))
      g_test_fail_printf ("%s: got %g, expected NaN", what, got);
  } else if (got_bits != want_bits) {
    g_test_fail_printf ("%s: got %.9g (0x%08x), expected %.9g (0x%08x)", what, got, got_bits,
                        want, want_bits);
  }
}

/* ---- half precision ---- */

typedef struct {
  guint16 bits;
  float   value;
} HalfCase;

static const HalfCase f16_cases[] = {
  { 0x0000, 0.0f },
  { 0x8000, -0.0f },
  { 0x3c00, 1.0f },
  { 0xbc00, -1.0f },
  { 0xc000, -2.0f },
  { 0x3555, 0.333251953125f },
  { 0x7bff, 65504.0f },
  { 0x0001, 5.9604644775390625e-08f }, /* 2^-24, the smallest subnormal */
  { 0x03ff, 6.097555160522461e-05f },  /* the largest subnormal, 1023 * 2^-24 */
  { 0x0400, 6.103515625e-05f },        /* the smallest normal, 2^-14 */
  { 0x8001, -5.9604644775390625e-08f },
  { 0x7c00, INFINITY },
  { 0xfc00, -INFINITY },
  { 0x7e00, NAN },
  { 0x7c01, NAN },
  { 0xfe00, NAN },
};

static const HalfCase bf16_cases[] = {
  { 0x0000, 0.0f },
  { 0x8000, -0.0f },
  { 0x3f80, 1.0f },
  { 0xc000, -2.0f },
  { 0x4049, 3.140625f },
  { 0x477f, 65280.0f },
  { 0x7f7f, 3.3895313892515355e38f },  /* the largest finite bfloat16 */
  { 0x0080, 1.1754943508222875e-38f }, /* the smallest normal, 2^-126 */
  { 0x0001, 9.183549615799121e-41f },  /* a subnormal, 2^-133 */
  { 0x7f80, INFINITY },
  { 0xff80, -INFINITY },
  { 0x7fc0, NAN },
  { 0xffc1, NAN },
};

/* Each case's bits through to_f32 (named name in messages) give its value, bit for bit. */
static void
check_cases (const char *name,
             float (*to_f32) (guint16),
             const HalfCase *cases,
             gsize           n_cases)
{
  for (gsize i = 0; i < n_cases; i++) {
    g_autofree char *what = g_strdup_printf ("%s (0x%04x)", name, cases[i].bits);

    assert_same_bits (to_f32 (cases[i].bits), cases[i].value, what);
  }
}

static void
test_f16_to_f32 (void)
{
  check_cases ("wp_f16_to_f32", wp_f16_to_f32, f16_cases, G_N_ELEMENTS (f16_cases));
}

/* Every half value against the IEEE formula, evaluated in double. */
static void
test_f16_to_f32_exhaustive (void)
{
  for (guint h = 0; h < 65536; h++) {
    const int sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    float     got = wp_f16_to_f32 ((guint16) h);
    double    want;

    if (exponent == 31)
      want = mantissa == 0 ? INFINITY : NAN;
    else if (exponent == 0)
      want = ldexp (mantissa, -24);
    else
      want = ldexp (1024 + mantissa, exponent - 25);
    if (sign)
      want = -want;
    if (isnan (want) ? !isnan (got) : (got != (float) want || !signbit (got) != !signbit (want))) {
      g_test_fail_printf ("wp_f16_to_f32 (0x%04x) = %.9g, expected %.9g", h, got, want);
      return;
    }
  }
}

static void
test_bf16_to_f32 (void)
{
  check_cases ("wp_bf16_to_f32", wp_bf16_to_f32, bf16_cases, G_N_ELEMENTS (bf16_cases));
}

/* A file holding one half-precision tensor "h" of the cases' bit patterns, read back as float. */
static void
check_half_file (const char     *dtype,
                 const HalfCase *cases,
                 gsize           n_cases)
{
  g_autofree char   *dir = wp_test_make_tmp_dir ("safetensors");
  g_autofree guint8 *data = g_new (guint8, 2 * n_cases);
  g_autofree char   *header = g_strdup_printf ("{\"h\":{\"dtype\":\"%s\","
                                                 "\"shape\":[%" G_GSIZE_FORMAT "],"
                                                 "\"data_offsets\":[0,%" G_GSIZE_FORMAT "]}}",
                                               dtype, n_cases, 2 * n_cases);
  g_autofree float  *out = g_new (float, n_cases);
  g_autofree char   *path = NULL;
  g_autoptr (WpSafetensors) st = NULL;
  g_autoptr (GError) error = NULL;
  const WpSafetensorsTensor *t;
  gsize                      first_non_finite = n_cases;

  for (gsize i = 0; i < n_cases; i++) {
    data[2 * i] = (guint8) (cases[i].bits & 0xff);
    data[2 * i + 1] = (guint8) (cases[i].bits >> 8);
    if (!isfinite (cases[i].value) && first_non_finite == n_cases)
      first_non_finite = i;
  }
  path = write_file (dir, header, data, 2 * n_cases);
  st = wp_safetensors_open (path, &error);
  g_assert_no_error (error);
  t = wp_safetensors_lookup (st, "h");
  g_assert_nonnull (t);
  g_assert_cmpstr (t->dtype_name, ==, dtype);
  g_assert_cmpint (t->dtype, ==, strcmp (dtype, "F16") == 0 ? WP_DTYPE_F16 : WP_DTYPE_BF16);
  g_assert_cmpuint (t->numel, ==, n_cases);
  g_assert_cmpuint (t->n_bytes, ==, 2 * n_cases);
  wp_safetensors_read_f32 (st, t, out, FALSE, &error);
  g_assert_no_error (error);
  for (gsize i = 0; i < n_cases; i++) {
    g_autofree char *what = g_strdup_printf ("%s element %" G_GSIZE_FORMAT " (0x%04x)", dtype, i,
                                             cases[i].bits);

    assert_same_bits (out[i], cases[i].value, what);
  }

  /* The same file with non-finite values refused. */
  g_assert_false (wp_safetensors_read_f32 (st, t, out, TRUE, &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_NOT_FINITE);
  assert_error_mentions (error, path);
  assert_error_mentions (error, "'h'");
  {
    g_autofree char *element = g_strdup_printf ("%" G_GSIZE_FORMAT, first_non_finite);

    assert_error_mentions (error, element);
  }
  g_clear_pointer (&st, wp_safetensors_free);
  remove_tree (dir);
}

static void
test_read_f16 (void)
{
  check_half_file ("F16", f16_cases, G_N_ELEMENTS (f16_cases));
}

static void
test_read_bf16 (void)
{
  check_half_file ("BF16", bf16_cases, G_N_ELEMENTS (bf16_cases));
}

/* Tensors need not be aligned: a 3-byte U8 tensor puts the F32 one at an odd offset. */
static void
test_read_unaligned (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  const char      *header = "{\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
                            "\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[3,11]},"
                            "\"h\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[11,13]}}";
  const float      values[2] = { 1.25f, -3.5f };
  guint8           data[13] = { 1, 2, 3 };
  float            out[2];
  g_autofree char *path = NULL;
  g_autoptr (WpSafetensors) st = NULL;
  g_autoptr (GError) error = NULL;

  memcpy (data + 3, values, sizeof values);
  data[11] = 0x00;
  data[12] = 0x3c;
  path = write_file (dir, header, data, sizeof data);
  st = wp_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (wp_safetensors_get_n_tensors (st), ==, 3);
  g_assert_cmpint (wp_safetensors_lookup (st, "u")->dtype, ==, WP_DTYPE_OTHER);
  wp_safetensors_read_f32 (st, wp_safetensors_lookup (st, "f"), out, TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (out, sizeof out, values, sizeof values);
  wp_safetensors_read_f32 (st, wp_safetensors_lookup (st, "h"), out, TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (out[0], ==, 1.0f);
  g_clear_pointer (&st, wp_safetensors_free);
  remove_tree (dir);
}

/* An I64 buffer (transformers' position_ids) is listed but cannot be read as float. */
static void
test_read_other_dtype (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  g_autofree char *path = write_file (dir,
                                      "{\"text_model.embeddings.position_ids\":"
                                      "{\"dtype\":\"I64\",\"shape\":[1,4],"
                                      "\"data_offsets\":[0,32]}}",
                                      NULL, 32);
  g_autoptr (WpSafetensors) st = NULL;
  g_autoptr (GError) error = NULL;
  const WpSafetensorsTensor *t;
  float                      out[4];

  st = wp_safetensors_open (path, &error);
  g_assert_no_error (error);
  t = wp_safetensors_lookup (st, "text_model.embeddings.position_ids");
  g_assert_nonnull (t);
  g_assert_cmpint (t->dtype, ==, WP_DTYPE_OTHER);
  g_assert_cmpstr (t->dtype_name, ==, "I64");
  g_assert_cmpuint (t->numel, ==, 4);
  g_assert_false (wp_safetensors_read_f32 (st, t, out, FALSE, &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED);
  assert_error_mentions (error, path);
  assert_error_mentions (error, "text_model.embeddings.position_ids");
  assert_error_mentions (error, "I64");
  g_clear_pointer (&st, wp_safetensors_free);
  remove_tree (dir);
}

static void
test_read_non_finite (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  g_autofree char *path = g_build_filename (dir, "x.safetensors", NULL);
  g_autoptr (WpSafetensors) st = NULL;
  g_autoptr (GError) error = NULL;
  const gint64             shape[] = { 3 };
  const float              with_nan[] = { 1, NAN, 2 }, with_inf[] = { 1, 2, -INFINITY };
  const WpSafetensorsEntry entries[] = { { "nan", 1, shape, with_nan },
                                         { "inf", 1, shape, with_inf } };
  float                    out[3];

  st = wp_test_write_safetensors (path, entries, 2, NULL);

  g_assert_false (wp_safetensors_read_f32 (st, wp_safetensors_lookup (st, "nan"), out, TRUE,
                                           &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_NOT_FINITE);
  assert_error_mentions (error, path);
  assert_error_mentions (error, "'nan'");
  assert_error_mentions (error, "element 1");
  g_clear_error (&error);

  g_assert_false (wp_safetensors_read_f32 (st, wp_safetensors_lookup (st, "inf"), out, TRUE,
                                           &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_NOT_FINITE);
  assert_error_mentions (error, "'inf'");
  assert_error_mentions (error, "element 2");
  g_clear_error (&error);

  /* Without the check the values arrive as they are. */
  g_assert_true (wp_safetensors_read_f32 (st, wp_safetensors_lookup (st, "nan"), out, FALSE,
                                          &error));
  g_assert_no_error (error);
  g_assert_true (isnan (out[1]));
  g_assert_true (wp_safetensors_read_f32 (st, wp_safetensors_lookup (st, "inf"), out, FALSE,
                                          &error));
  g_assert_no_error (error);
  g_assert_true (isinf (out[2]) && out[2] < 0);
  g_clear_pointer (&st, wp_safetensors_free);
  remove_tree (dir);
}

/* ---- malformed files ---- */

static void
expect_open_error (const char *path,
                   GQuark      domain,
                   int         code,
                   const char *fragment)
{
  g_autoptr (WpSafetensors) st = NULL;
  g_autoptr (GError) error = NULL;

  st = wp_safetensors_open (path, &error);
  g_assert_null (st);
  g_assert_error (error, domain, code);
  assert_error_mentions (error, path);
  assert_error_mentions (error, fragment);
}

static void
test_open_missing_file (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  g_autofree char *path = g_build_filename (dir, "absent.safetensors", NULL);

  expect_open_error (path, G_FILE_ERROR, G_FILE_ERROR_NOENT, "absent.safetensors");
  remove_tree (dir);
}

/* A file of exactly these bytes, too short for what its length field promises. */
static void
expect_short_file (const char *name,
                   const char *bytes,
                   gsize       len,
                   const char *fragment)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  g_autofree char *path = g_build_filename (dir, name, NULL);

  g_file_set_contents (path, bytes, (gssize) len, NULL);
  expect_open_error (path, WP_ERROR, WP_ERROR_FORMAT, fragment);
  remove_tree (dir);
}

static void
test_header_too_short (void)
{
  expect_short_file ("short.safetensors", "\x02\0\0\0\0", 5, "too short");
}

static void
test_header_empty_file (void)
{
  expect_short_file ("empty.safetensors", "", 0, "too short");
}

/* The length field says length, the header is "{}" and no data follows. */
static void
expect_length_error (guint64     length,
                     const char *fragment)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  g_autofree char *path = write_raw (dir, "t.safetensors", length, "{}", NULL, 0);

  expect_open_error (path, WP_ERROR, WP_ERROR_FORMAT, fragment);
  remove_tree (dir);
}

static void
test_header_beyond_file (void)
{
  expect_length_error (1000, "1000");
}

static void
test_header_length_huge (void)
{
  expect_length_error (G_MAXUINT64, "header length");
}

/* A header length above the limit in a file long enough to hold it: only the limit can refuse it.
 * The file is sparse, so this costs no disk space. */
static void
test_header_too_large (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  const guint64    length = (guint64) WP_SAFETENSORS_MAX_HEADER + 1;
  g_autofree char *path = write_raw (dir, "t.safetensors", length, "{}", NULL, 0);
  g_autofree char *number = g_strdup_printf ("%" G_GUINT64_FORMAT, length);

  g_assert_cmpint (truncate (path, (off_t) (8 + length + 64)), ==, 0);
  expect_open_error (path, WP_ERROR, WP_ERROR_FORMAT, number);
  remove_tree (dir);
}

typedef struct {
  const char *name;
  const char *header;
  gsize       data_len;
  int         code;
  const char *fragment; /* the message holds it besides the file's path */
} BadCase;

/* Every header here is otherwise valid: one tensor "t" of 4 F32 values over 16 data bytes. */
static const BadCase bad_cases[] = {
  { "header/not-json", "{\"t\": {\"dtype\": ", 16, WP_ERROR_FORMAT, "JSON" },
  { "header/blank", "        ", 16, WP_ERROR_FORMAT, "JSON" },
  { "header/not-object", "[1, 2, 3]", 16, WP_ERROR_FORMAT, "not a JSON object" },
  { "header/string", "\"model\"", 16, WP_ERROR_FORMAT, "not a JSON object" },
  { "tensor/not-object", "{\"t\": [4]}", 16, WP_ERROR_FORMAT, "'t'" },
  { "dtype/missing", "{\"t\": {\"shape\": [4], \"data_offsets\": [0, 16]}}",
    16, WP_ERROR_FORMAT, "dtype" },
  { "dtype/not-string", "{\"t\": {\"dtype\": 32, \"shape\": [4], \"data_offsets\": [0, 16]}}",
    16, WP_ERROR_FORMAT, "dtype" },
  { "dtype/array", "{\"t\": {\"dtype\": [\"F32\"], \"shape\": [4], \"data_offsets\": [0, 16]}}",
    16, WP_ERROR_FORMAT, "dtype" },
  { "dtype/unknown", "{\"t\": {\"dtype\": \"Q4_K\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
    16, WP_ERROR_UNSUPPORTED, "Q4_K" },
  { "shape/missing", "{\"t\": {\"dtype\": \"F32\", \"data_offsets\": [0, 16]}}",
    16, WP_ERROR_FORMAT, "shape" },
  { "shape/not-array", "{\"t\": {\"dtype\": \"F32\", \"shape\": 4, \"data_offsets\": [0, 16]}}",
    16, WP_ERROR_FORMAT, "shape" },
  { "shape/negative", "{\"t\": {\"dtype\": \"F32\", \"shape\": [-4], \"data_offsets\": [0, 16]}}",
    16, WP_ERROR_FORMAT, "shape" },
  { "shape/fraction", "{\"t\": {\"dtype\": \"F32\", \"shape\": [4.0], \"data_offsets\": [0, 16]}}",
    16, WP_ERROR_FORMAT, "shape" },
  { "shape/string", "{\"t\": {\"dtype\": \"F32\", \"shape\": [\"4\"], \"data_offsets\": [0, 16]}}",
    16, WP_ERROR_FORMAT, "shape" },
  { "shape/too-many-dims",
    "{\"t\": {\"dtype\": \"F32\", \"shape\": [1, 1, 1, 1, 1, 1, 1, 1, 4], "
    "\"data_offsets\": [0, 16]}}",
    16, WP_ERROR_FORMAT, "shape" },
  /* 2^32 * 2^32 elements: the element count wraps past 2^64. */
  { "shape/overflow",
    "{\"t\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4], "
    "\"data_offsets\": [0, 16]}}",
    16, WP_ERROR_FORMAT, "shape" },
  /* 2^62 elements of 4 bytes: the count fits, the byte count wraps. */
  { "shape/byte-overflow",
    "{\"t\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 0]}}",
    16, WP_ERROR_FORMAT, "'t'" },
  { "offsets/missing", "{\"t\": {\"dtype\": \"F32\", \"shape\": [4]}}",
    16, WP_ERROR_FORMAT, "data_offsets" },
  { "offsets/not-array", "{\"t\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": 16}}",
    16, WP_ERROR_FORMAT, "data_offsets" },
  { "offsets/one-value", "{\"t\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [16]}}",
    16, WP_ERROR_FORMAT, "data_offsets" },
  { "offsets/negative", "{\"t\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [-16, 0]}}",
    16, WP_ERROR_FORMAT, "data_offsets" },
  { "offsets/reversed", "{\"t\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [16, 0]}}",
    32, WP_ERROR_FORMAT, "data_offsets" },
  { "offsets/beyond-data",
    "{\"t\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
    12, WP_ERROR_FORMAT, "truncated" },
  { "offsets/size-mismatch",
    "{\"t\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 12]}}",
    16, WP_ERROR_FORMAT, "do not match" },
  { "offsets/size-mismatch-f16",
    "{\"t\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
    16, WP_ERROR_FORMAT, "do not match" },
  { "metadata/not-string",
    "{\"__metadata__\": {\"format\": \"pt\", \"step\": 12}, \"t\": {\"dtype\": \"F32\", "
    "\"shape\": [4], \"data_offsets\": [0, 16]}}",
    16, WP_ERROR_FORMAT, "'step'" },
  { "metadata/not-object",
    "{\"__metadata__\": [\"pt\"], \"t\": {\"dtype\": \"F32\", \"shape\": [4], "
    "\"data_offsets\": [0, 16]}}",
    16, WP_ERROR_FORMAT, "__metadata__" },
};

static void
test_bad_header (gconstpointer data)
{
  const BadCase   *c = data;
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  g_autofree char *path = write_file (dir, c->header, NULL, c->data_len);

  expect_open_error (path, WP_ERROR, c->code, c->fragment);
  remove_tree (dir);
}

/* The header length counted as header when there is no data: an empty header is not an object. */
static void
test_header_zero_length (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  g_autofree char *path = write_raw (dir, "t.safetensors", 0, "", NULL, 0);

  expect_open_error (path, WP_ERROR, WP_ERROR_FORMAT, "JSON");
  remove_tree (dir);
}

/* JSON-GLib would recurse once per level (100,000 levels overflow the stack) and build a tree
 * far larger than the text: both are refused from a scan of the text first. */
static void
test_header_json_limits (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("safetensors");
  g_autoptr (GString) deep = g_string_new ("{\"t\": ");
  g_autoptr (GString) wide = g_string_new ("{\"__metadata__\": {}, \"t\": [0");
  g_autofree char *deep_path = NULL;
  g_autofree char *wide_path = NULL;
  g_autofree char *comment_path = NULL;

  for (int i = 0; i < 100000; i++)
    g_string_append_c (deep, '[');
  deep_path = write_raw (dir, "deep.safetensors", deep->len, deep->str, NULL, 0);
  expect_open_error (deep_path, WP_ERROR, WP_ERROR_FORMAT,
                     "header: JSON nested more than 64 levels deep");
  for (int i = 0; i < WP_SAFETENSORS_MAX_VALUES; i++)
    g_string_append (wide, ",0");
  g_string_append (wide, "]}");
  wide_path = write_raw (dir, "wide.safetensors", wide->len, wide->str, NULL, 0);
  expect_open_error (wide_path, WP_ERROR, WP_ERROR_FORMAT, "header: more than 1048576 JSON values");
  comment_path =
    write_raw (dir, "comment.safetensors", strlen ("{/* [ */ }"), "{/* [ */ }", NULL, 0);
  expect_open_error (comment_path, WP_ERROR, WP_ERROR_FORMAT,
                     "comments and single quotes are not JSON");
  remove_tree (dir);
}

int
main (int   argc,
      char *argv[])
{
  wp_test_init (&argc, &argv);

  g_test_add_func ("/safetensors/convert/f16", test_f16_to_f32);
  g_test_add_func ("/safetensors/convert/f16-exhaustive", test_f16_to_f32_exhaustive);
  g_test_add_func ("/safetensors/convert/bf16", test_bf16_to_f32);
  g_test_add_func ("/safetensors/read/f16", test_read_f16);
  g_test_add_func ("/safetensors/read/bf16", test_read_bf16);
  g_test_add_func ("/safetensors/read/unaligned", test_read_unaligned);
  g_test_add_func ("/safetensors/read/other-dtype", test_read_other_dtype);
  g_test_add_func ("/safetensors/read/non-finite", test_read_non_finite);
  g_test_add_func ("/safetensors/open/missing-file", test_open_missing_file);
  g_test_add_func ("/safetensors/header/too-short", test_header_too_short);
  g_test_add_func ("/safetensors/header/empty-file", test_header_empty_file);
  g_test_add_func ("/safetensors/header/beyond-file", test_header_beyond_file);
  g_test_add_func ("/safetensors/header/length-huge", test_header_length_huge);
  g_test_add_func ("/safetensors/header/too-large", test_header_too_large);
  g_test_add_func ("/safetensors/header/zero-length", test_header_zero_length);
  g_test_add_func ("/safetensors/header/json-limits", test_header_json_limits);
  wp_test_add_named_cases ("/safetensors", bad_cases, test_bad_header);
  return g_test_run ();
}
