/* test-image.c: image decoding (resizing, preprocessing and augmentation are tested in
 * test-image-preprocess.c).
 *
 * Images are made here: PNG and JPEG through stb_image_write (wp_test_encode_image()), oversized
 * headers byte by byte. */
#include <string.h>

#include "test-util.h"
#include "wordpatch/error.h"
#include "wordpatch/image.h"

static char *
write_bytes (const char   *dir,
             const char   *name,
             const guint8 *data,
             gsize         len)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, (const char *) data, (gssize) len, &error);
  g_assert_no_error (error);
  return path;
}

/* ---- decoding ---- */

static void
test_load_png_rgb (void)
{
  g_autofree char   *dir = wp_test_make_tmp_dir ("image");
  g_autofree guint8 *pixels = wp_test_pattern_pixels (7, 5, 3);
  g_autoptr (GByteArray) png = wp_test_encode_image ("png", pixels, 7, 5, 3);
  g_autofree char *path = write_bytes (dir, "x.png", png->data, png->len);
  g_autoptr (WpImage) image = NULL;
  g_autoptr (GError) error = NULL;

  image = wp_image_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (image->width, ==, 7);
  g_assert_cmpint (image->height, ==, 5);
  g_assert_cmpmem (image->rgb, 7 * 5 * 3, pixels, 7 * 5 * 3);
  remove_tree (dir);
}

/* Alpha is dropped, grey is spread over the three channels. */
static void
test_load_png_rgba_and_grey (void)
{
  g_autofree guint8 *rgba = wp_test_pattern_pixels (4, 3, 4);
  g_autofree guint8 *grey = wp_test_pattern_pixels (4, 3, 1);
  g_autoptr (GByteArray) rgba_png = wp_test_encode_image ("png", rgba, 4, 3, 4);
  g_autoptr (GByteArray) grey_png = wp_test_encode_image ("png", grey, 4, 3, 1);
  g_autoptr (WpImage) image = NULL;
  g_autoptr (GError) error = NULL;

  image = wp_image_load_from_memory (rgba_png->data, rgba_png->len, "rgba.png", &error);
  g_assert_no_error (error);
  g_assert_cmpint (image->width, ==, 4);
  g_assert_cmpint (image->height, ==, 3);
  for (int i = 0; i < 4 * 3; i++)
    g_assert_cmpmem (image->rgb + 3 * i, 3, rgba + 4 * i, 3);
  g_clear_pointer (&image, wp_image_free);

  image = wp_image_load_from_memory (grey_png->data, grey_png->len, "grey.png", &error);
  g_assert_no_error (error);
  for (int i = 0; i < 4 * 3; i++) {
    g_assert_cmpuint (image->rgb[3 * i], ==, grey[i]);
    g_assert_cmpuint (image->rgb[3 * i + 1], ==, grey[i]);
    g_assert_cmpuint (image->rgb[3 * i + 2], ==, grey[i]);
  }
}

static void
test_load_jpeg (void)
{
  g_autofree char   *dir = wp_test_make_tmp_dir ("image");
  g_autofree guint8 *pixels = g_new (guint8, 16 * 16 * 3);
  g_autoptr (GByteArray) jpg = NULL;
  g_autofree char *path = NULL;
  g_autoptr (WpImage) image = NULL;
  g_autoptr (GError) error = NULL;

  /* Flat colour survives JPEG almost exactly. */
  for (int i = 0; i < 16 * 16; i++) {
    pixels[3 * i] = 200;
    pixels[3 * i + 1] = 40;
    pixels[3 * i + 2] = 90;
  }
  jpg = wp_test_encode_image ("jpg", pixels, 16, 16, 3);
  g_assert_cmpuint (jpg->data[0], ==, 0xff);
  g_assert_cmpuint (jpg->data[1], ==, 0xd8);
  path = write_bytes (dir, "x.jpg", jpg->data, jpg->len);
  image = wp_image_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (image->width, ==, 16);
  g_assert_cmpint (image->height, ==, 16);
  for (int i = 0; i < 16 * 16 * 3; i++)
    g_assert_cmpint (abs ((int) image->rgb[i] - (int) pixels[i]), <=, 3);
  remove_tree (dir);
}

/* ---- EXIF orientation ---- */

/* A 3 x 2 image of pixels a b c / d e f (each pixel's bytes its letter) turned upright for each
 * EXIF orientation, as PIL's ImageOps.exif_transpose does: 2 mirrors left-right, 3 turns 180
 * degrees, 4 mirrors top-bottom, 5 transposes, 6 turns 90 degrees clockwise, 7 transposes across
 * the other diagonal, 8 turns 90 degrees anticlockwise. */
static void
test_orientation_upright (void)
{
  static const char *const upright[9] = { NULL, "abc/def", "cba/fed", "fed/cba", "def/abc",
                                          "ad/be/cf", "da/eb/fc", "fc/eb/da", "cf/be/ad" };

  for (int o = 1; o <= 8; o++) {
    g_autoptr (WpImage) image = wp_image_new (3, 2);
    g_auto (GStrv) rows = g_strsplit (upright[o], "/", -1);

    for (int i = 0; i < 6; i++)
      memset (image->rgb + 3 * i, 'a' + i, 3);
    image->orientation = o;
    wp_image_make_upright (image);
    g_assert_cmpint (image->orientation, ==, 1);
    g_assert_cmpint (image->height, ==, g_strv_length (rows));
    g_assert_cmpint (image->width, ==, strlen (rows[0]));
    for (int y = 0; y < image->height; y++) {
      for (int x = 0; x < image->width; x++) {
        const guint8 *px = image->rgb + ((gsize) y * image->width + x) * 3;

        if (px[0] != rows[y][x] || px[1] != rows[y][x] || px[2] != rows[y][x])
          g_test_fail_printf ("orientation %d: pixel (%d, %d) is '%c', expected '%c'", o, x, y,
                              px[0], rows[y][x]);
      }
    }
  }
}

/* A JPEG of the pattern with the EXIF block payload (NULL: none) in front of its frame. */
static GByteArray *
pattern_jpeg (const guint8 *payload,
              gsize         len)
{
  g_autofree guint8 *pixels = wp_test_pattern_pixels (12, 8, 3);
  GByteArray        *jpg = wp_test_encode_image ("jpg", pixels, 12, 8, 3);

  if (payload != NULL)
    wp_test_jpeg_insert_app1 (jpg, payload, len);
  return jpg;
}

/* Every orientation in either byte order is read from a camera's EXIF block; the pixels stay as
 * stored until wp_image_make_upright(), and wp_image_load_upright() turns them. */
static void
test_orientation_exif (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("image");
  g_autoptr (GByteArray) plain = pattern_jpeg (NULL, 0);
  g_autoptr (WpImage) stored = wp_image_load_from_memory (plain->data, plain->len, "plain", NULL);

  g_assert_nonnull (stored);
  g_assert_cmpint (stored->orientation, ==, 1);
  for (int big_endian = 0; big_endian <= 1; big_endian++) {
    for (int o = 1; o <= 8; o++) {
      g_autoptr (GByteArray) exif = wp_test_exif_orientation (o, big_endian);
      g_autoptr (GByteArray) jpg = pattern_jpeg (exif->data, exif->len);
      g_autofree char *path = write_bytes (dir, "photo.jpg", jpg->data, jpg->len);
      g_autoptr (WpImage) image = wp_image_load (path, NULL);
      g_autoptr (WpImage) upright = wp_image_load_upright (path, NULL);
      g_autoptr (WpImage) expected = wp_image_new (12, 8);

      g_assert_nonnull (image);
      g_assert_nonnull (upright);
      g_assert_cmpint (image->orientation, ==, o);
      g_assert_cmpmem (image->rgb, 12 * 8 * 3, stored->rgb, 12 * 8 * 3);
      memcpy (expected->rgb, stored->rgb, 12 * 8 * 3);
      expected->orientation = o;
      wp_image_make_upright (expected);
      g_assert_cmpint (upright->orientation, ==, 1);
      g_assert_cmpint (upright->width, ==, o >= 5 ? 8 : 12);
      g_assert_cmpint (upright->height, ==, o >= 5 ? 12 : 8);
      g_assert_cmpmem (upright->rgb, 12 * 8 * 3, expected->rgb, 12 * 8 * 3);
    }
  }
  remove_tree (dir);
}

typedef struct {
  const char *name;
  int         at;    /* a byte of the little-endian EXIF block for orientation 6 to change, */
  guint8      value; /* to this, or -1: the block cut short there */
  int         orientation;
} ExifEdit;

/* Blocks that are not what they should be are ignored: the image loads as stored. */
static const ExifEdit exif_edits[] = {
  { "not-exif", 0, 'X', 1 },       /* an APP1 of something else (XMP, say) */
  { "not-tiff", 6, 'X', 1 },       /* no TIFF byte order */
  { "ifd-past-end", 13, 0x7F, 1 }, /* the IFD's offset past the block */
  { "long", 18, 4, 1 },            /* a LONG, not a SHORT */
  { "two-values", 20, 2, 1 },      /* a count of 2 */
  { "nine", 24, 9, 1 },            /* no orientation 9 */
  { "zero", 24, 0, 1 },            /* nor 0 */
  { "other-tag", 16, 0x13, 1 },    /* 0x0113, not Orientation */
  { "many-entries", 15, 0xFF, 6 }, /* 65281 entries claimed, the first one read */
  { "entry-cut-short", 26, 0, 1 }, /* the block ends inside the entry */
  { "ifd-cut-short", 15, 0, 1 },   /* the block ends inside the entry count */
};

static void
test_orientation_exif_edited (gconstpointer data)
{
  const ExifEdit *edit = data;
  g_autoptr (GByteArray) exif = wp_test_exif_orientation (6, FALSE);
  g_autoptr (GByteArray) plain = pattern_jpeg (NULL, 0);
  g_autoptr (GByteArray) jpg = NULL;
  g_autoptr (WpImage) stored = wp_image_load_from_memory (plain->data, plain->len, "plain", NULL);
  g_autoptr (WpImage) image = NULL;
  g_autoptr (GError) error = NULL;

  if (g_str_has_suffix (edit->name, "cut-short"))
    g_byte_array_set_size (exif, edit->at);
  else
    exif->data[edit->at] = edit->value;
  jpg = pattern_jpeg (exif->data, exif->len);
  image = wp_image_load_from_memory (jpg->data, jpg->len, edit->name, &error);
  g_assert_no_error (error);
  g_assert_cmpint (image->orientation, ==, edit->orientation);
  g_assert_cmpmem (image->rgb, 12 * 8 * 3, stored->rgb, 12 * 8 * 3);
}

/* A camera writes XMP and EXIF in APP1 segments of their own: the EXIF one counts. */
static void
test_orientation_after_xmp (void)
{
  static const char xmp[] = "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>";
  g_autoptr (GByteArray) exif = wp_test_exif_orientation (8, TRUE);
  g_autoptr (GByteArray) jpg = pattern_jpeg (exif->data, exif->len);
  g_autoptr (WpImage) image = NULL;

  wp_test_jpeg_insert_app1 (jpg, (const guint8 *) xmp, sizeof xmp - 1);
  image = wp_image_load_from_memory (jpg->data, jpg->len, "xmp", NULL);
  g_assert_nonnull (image);
  g_assert_cmpint (image->orientation, ==, 8);
}

/* Loading path fails with the error domain and code, naming the file. */
static void
expect_path_error (const char *path,
                   GQuark      domain,
                   int         code)
{
  g_autoptr (WpImage) image = NULL;
  g_autoptr (GError) error = NULL;

  image = wp_image_load (path, &error);
  g_assert_null (image);
  g_assert_error (error, domain, code);
  assert_error_mentions (error, path);
}

/* The bytes as a file that does not decode. */
static void
expect_load_error (const char   *dir,
                   const char   *name,
                   const guint8 *data,
                   gsize         len)
{
  g_autofree char *path = write_bytes (dir, name, data, len);

  expect_path_error (path, WP_ERROR, WP_ERROR_FORMAT);
}

static void
test_load_random_bytes (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("image");
  g_autoptr (GRand) rand = g_rand_new_with_seed (42);
  guint8 bytes[1000];

  for (gsize i = 0; i < sizeof bytes; i++)
    bytes[i] = (guint8) g_rand_int_range (rand, 0, 256);
  expect_load_error (dir, "noise.png", bytes, sizeof bytes);
  remove_tree (dir);
}

/* The header survives, the pixel data does not: stb_image_info accepts it, decoding does not. */
static void
test_load_truncated_png (void)
{
  g_autofree char   *dir = wp_test_make_tmp_dir ("image");
  g_autofree guint8 *pixels = wp_test_pattern_pixels (64, 64, 3);
  g_autoptr (GByteArray) png = wp_test_encode_image ("png", pixels, 64, 64, 3);

  g_assert_cmpuint (png->len, >, 200);
  expect_load_error (dir, "cut.png", png->data, png->len / 2);
  expect_load_error (dir, "header-only.png", png->data, 40);
  remove_tree (dir);
}

static void
test_load_empty_file (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("image");

  expect_load_error (dir, "empty.png", (const guint8 *) "", 0);
  remove_tree (dir);
}

static void
test_load_missing_file (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("image");
  g_autofree char *path = g_build_filename (dir, "absent.png", NULL);

  expect_path_error (path, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  remove_tree (dir);
}

static void
put_be32 (guint8 *p,
          guint32 v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}

static void
put_le32 (guint8 *p,
          guint32 v)
{
  p[0] = (guint8) v;
  p[1] = (guint8) (v >> 8);
  p[2] = (guint8) (v >> 16);
  p[3] = (guint8) (v >> 24);
}

/* A PNG signature and IHDR chunk claiming width x height of 8-bit colour_type pixels, followed
 * by a few bytes of an IDAT chunk. No CRC is checked by stb_image; the decoder would fail on the
 * data long after allocating for the claimed size. */
static gsize
fake_png (guint8 *out,
          guint32 width,
          guint32 height,
          guint8  colour_type)
{
  static const guint8 signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  gsize               n = 0;

  memcpy (out, signature, 8);
  n += 8;
  put_be32 (out + n, 13);
  memcpy (out + n + 4, "IHDR", 4);
  n += 8;
  put_be32 (out + n, width);
  put_be32 (out + n + 4, height);
  out[n + 8] = 8;
  out[n + 9] = colour_type;
  out[n + 10] = 0;
  out[n + 11] = 0;
  out[n + 12] = 0;
  n += 13;
  put_be32 (out + n, 0); /* CRC */
  n += 4;
  put_be32 (out + n, 4);
  memcpy (out + n + 4, "IDAT", 4);
  memset (out + n + 8, 0, 8);
  n += 16;
  return n;
}

static void
expect_too_large (const guint8 *data,
                  gsize         len,
                  const char   *name)
{
  g_autoptr (WpImage) image = NULL;
  g_autoptr (GError) error = NULL;

  image = wp_image_load_from_memory (data, len, name, &error);
  g_assert_null (image);
  g_assert_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED);
  assert_error_mentions (error, name);
  assert_error_mentions (error, "20000");
}

/* PNG headers claiming too large an image, each a test of its own. */
typedef struct {
  const char *test;
  guint32     width, height;
  guint8      colour_type;
  const char *name;
} LargePng;

static const LargePng large_pngs[] = {
  { "/image/load/too-large-png-grey", 20000, 20000, 0, "huge-grey.png" },
  { "/image/load/too-large-png-rgb", 20000, 20000, 2, "huge-rgb.png" },
  /* Only one side too long. */
  { "/image/load/too-large-png-wide", 20000, 10, 2, "wide.png" },
};

static void
test_too_large_png (gconstpointer data)
{
  const LargePng *c = data;
  guint8          png[64];
  gsize           len = fake_png (png, c->width, c->height, c->colour_type);

  expect_too_large (png, len, c->name);
}

static void
test_too_large_bmp (void)
{
  guint8 bmp[54] = { 'B', 'M' };

  put_le32 (bmp + 2, sizeof bmp);
  put_le32 (bmp + 10, 54); /* pixel data offset */
  put_le32 (bmp + 14, 40); /* BITMAPINFOHEADER */
  put_le32 (bmp + 18, 20000);
  put_le32 (bmp + 22, 20000);
  bmp[26] = 1;  /* planes */
  bmp[28] = 24; /* bits per pixel */
  expect_too_large (bmp, sizeof bmp, "huge.bmp");
}

/* Within the limit per side but 256 million pixels in all. */
static void
test_too_many_pixels (void)
{
  g_autoptr (WpImage) image = NULL;
  g_autoptr (GError) error = NULL;
  guint8 png[64];
  gsize  len = fake_png (png, 16000, 16000, 2);

  image = wp_image_load_from_memory (png, len, "huge.png", &error);
  g_assert_null (image);
  g_assert_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED);
  assert_error_mentions (
    error, "huge.png: image of 16000 x 16000 pixels exceeds the limit of 100 million pixels");
}

typedef struct {
  const char   *name;
  const guint8 *data;
  gsize         len;
  int           code;
  const char   *fragment;
} BadImage;

/* Inputs on which Debian 12's stb_image 2.27 writes or reads out of bounds, or overflows an int
 * (tests/fuzz/regressions/image holds the files the fuzzer found): refused before stb reads
 * them. */
static const guint8 jpeg_huffman_300_codes[] = { 0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x13, 0x00, 0,
                                                 0, 0, 0, 0, 0, 0, 0, 0,
                                                 0, 0, 0, 0, 0, 0xFF, 45 };
static const guint8 jpeg_undefined_table[] = { 0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08, 0x01,
                                               0x01, 0x11, 0x00, 0x3F, 0x00, 0xFF, 0xD9 };
static const guint8 pnm_16_bit[] = "P5 2 1 65535\n\1\2\3\4";
static const guint8 pnm_huge_number[] = "P6\v2 1 99999999999\n\1\2\3\4\5\6";
/* Common formats stb_image cannot read, refused by name from their first bytes. */
static const guint8   webp[] = "RIFF\x1a\0\0\0WEBPVP8 \x0e\0\0\0";
static const guint8   heic[] = "\0\0\0\x18"
                               "ftypheic\0\0\0\0mif1heic";
static const guint8   heif[] = "\0\0\0\x18"
                               "ftypmif1\0\0\0\0mif1heic";
static const guint8   avif[] = "\0\0\0\x1c"
                               "ftypavif\0\0\0\0avifmif1miaf";
static const guint8   tiff_le[] = "II*\0\x08\0\0\0";
static const guint8   tiff_be[] = "MM\0*\0\0\0\x08";
static const guint8   jxl_codestream[] = { 0xFF, 0x0A, 0xFA, 0x7F };
static const guint8   jxl_container[] = { 0, 0, 0, 12, 'J', 'X', 'L', ' ', '\r', '\n', 0x87, '\n' };
static const guint8   jp2[] = { 0, 0, 0, 12, 'j', 'P', ' ', ' ', '\r', '\n', 0x87, '\n' };
static const guint8   mp4[] = "\0\0\0\x18"
                              "ftypisom\0\0\0\0isomiso2";
static const BadImage bad_images[] = {
  { "jpeg-huffman-300-codes", jpeg_huffman_300_codes, sizeof jpeg_huffman_300_codes,
    WP_ERROR_FORMAT, "more than 256 codes" },
  { "jpeg-undefined-table", jpeg_undefined_table, sizeof jpeg_undefined_table, WP_ERROR_FORMAT,
    "undefined Huffman table" },
  { "pnm-16-bit", pnm_16_bit, sizeof pnm_16_bit - 1, WP_ERROR_UNSUPPORTED, "16-bit PNM" },
  { "pnm-huge-number", pnm_huge_number, sizeof pnm_huge_number - 1, WP_ERROR_FORMAT,
    "more than 9 digits" },
  { "webp", webp, sizeof webp - 1, WP_ERROR_UNSUPPORTED,
    "WebP images are not supported (PNG, JPEG, BMP, GIF, TGA and PNM are)" },
  { "heic", heic, sizeof heic - 1, WP_ERROR_UNSUPPORTED, "HEIC images are not supported" },
  { "heif", heif, sizeof heif - 1, WP_ERROR_UNSUPPORTED, "HEIF images are not supported" },
  { "avif", avif, sizeof avif - 1, WP_ERROR_UNSUPPORTED, "AVIF images are not supported" },
  { "tiff-le", tiff_le, sizeof tiff_le - 1, WP_ERROR_UNSUPPORTED, "TIFF images are not supported" },
  { "tiff-be", tiff_be, sizeof tiff_be - 1, WP_ERROR_UNSUPPORTED, "TIFF images are not supported" },
  { "jpeg-xl", jxl_codestream, sizeof jxl_codestream, WP_ERROR_UNSUPPORTED,
    "JPEG XL images are not supported" },
  { "jpeg-xl-container", jxl_container, sizeof jxl_container, WP_ERROR_UNSUPPORTED,
    "JPEG XL images are not supported" },
  { "jpeg-2000", jp2, sizeof jp2, WP_ERROR_UNSUPPORTED, "JPEG 2000 images are not supported" },
  /* An ISO media file that is not an image keeps stb's own reason. */
  { "mp4", mp4, sizeof mp4 - 1, WP_ERROR_FORMAT, "not a readable image (unknown image type)" },
};

static void
test_load_bad_image (gconstpointer data)
{
  const BadImage *bad = data;
  g_autoptr (WpImage) image = NULL;
  g_autoptr (GError) error = NULL;

  image = wp_image_load_from_memory (bad->data, bad->len, bad->name, &error);
  g_assert_null (image);
  g_assert_error (error, WP_ERROR, bad->code);
  assert_error_mentions (error, bad->name);
  assert_error_mentions (error, bad->fragment);
}

int
main (int   argc,
      char *argv[])
{
  wp_test_init (&argc, &argv);

  g_test_add_func ("/image/load/png-rgb", test_load_png_rgb);
  g_test_add_func ("/image/load/png-rgba-and-grey", test_load_png_rgba_and_grey);
  g_test_add_func ("/image/load/jpeg", test_load_jpeg);
  g_test_add_func ("/image/load/random-bytes", test_load_random_bytes);
  g_test_add_func ("/image/load/truncated-png", test_load_truncated_png);
  g_test_add_func ("/image/load/empty-file", test_load_empty_file);
  g_test_add_func ("/image/load/missing-file", test_load_missing_file);
  for (gsize i = 0; i < G_N_ELEMENTS (large_pngs); i++)
    g_test_add_data_func (large_pngs[i].test, &large_pngs[i], test_too_large_png);
  g_test_add_func ("/image/load/too-large-bmp", test_too_large_bmp);
  g_test_add_func ("/image/load/too-many-pixels", test_too_many_pixels);
  wp_test_add_named_cases ("/image/load/bad", bad_images, test_load_bad_image);
  g_test_add_func ("/image/orientation/upright", test_orientation_upright);
  g_test_add_func ("/image/orientation/exif", test_orientation_exif);
  wp_test_add_named_cases ("/image/orientation/exif-edited", exif_edits,
                           test_orientation_exif_edited);
  g_test_add_func ("/image/orientation/after-xmp", test_orientation_after_xmp);
  return g_test_run ();
}
