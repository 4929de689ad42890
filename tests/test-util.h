/* test-util.h: what the test programs share: a start that makes engine warnings fail the running
 * test, random inputs, temporary folders and files, OpenAI's vocabulary, and error-message
 * checks. */
#pragma once

#include <glib.h>

#include "wordpatch/safetensors.h"
#include "wordpatch/tokenizer.h"

G_BEGIN_DECLS

/* g_test_init(), then every failed assertion reports and the next test runs, and a warning or
 * critical logged by the engine fails the running test with its message instead of aborting the
 * program without naming the test (the engine must not log them for any input). */
void wp_test_init (int    *argc,
                   char ***argv);

/* Adds func once per element of the array cases (n of size bytes each, every one starting with
 * its name, a const char *), at path prefix/name with the element as data. */
void wp_test_add_named_cases_full (const char   *prefix,
                                   gconstpointer cases,
                                   gsize         n,
                                   gsize         size,
                                   GTestDataFunc func);

/* wp_test_add_named_cases_full() over a whole array, whose elements must start with name. */
#define wp_test_add_named_cases(prefix, cases, func)                                          \
  G_STMT_START                                                                                \
  {                                                                                           \
    G_STATIC_ASSERT (G_STRUCT_OFFSET (__typeof__ ((cases)[0]), name) == 0);                   \
    wp_test_add_named_cases_full ((prefix), (cases), G_N_ELEMENTS (cases), sizeof (cases)[0], \
                                  (func));                                                    \
  }                                                                                           \
  G_STMT_END

/* n floats drawn uniformly from [-scale, scale), freed with g_free. */
float *wp_test_random_floats (GRand *rand,
                              gsize  n,
                              double scale) G_GNUC_WARN_UNUSED_RESULT;

/* A width x height image of comp-channel 8-bit pixels whose every byte depends on its place
 * ((x * 37 + y * 11 + c * 90) mod 256), freed with g_free. */
guint8 *wp_test_pattern_pixels (int width,
                                int height,
                                int comp) G_GNUC_WARN_UNUSED_RESULT;

/* width x height pixels of comp channels encoded in memory as "png" or "jpg" (quality 100), by
 * stb_image_write rather than the engine's own writer. */
GByteArray *wp_test_encode_image (const char   *format,
                                  const guint8 *pixels,
                                  int           width,
                                  int           height,
                                  int           comp) G_GNUC_WARN_UNUSED_RESULT;

/* Inserts an APP1 segment holding payload (len bytes) right after a JPEG's start-of-image
 * marker, where cameras put their EXIF block. */
void wp_test_jpeg_insert_app1 (GByteArray   *jpeg,
                               const guint8 *payload,
                               gsize         len);

/* A camera's EXIF block: "Exif\0\0", a TIFF header in big- or little-endian order and a first IFD
 * holding one entry, Orientation (0x0112, one SHORT) = orientation. */
GByteArray *wp_test_exif_orientation (int      orientation,
                                      gboolean big_endian) G_GNUC_WARN_UNUSED_RESULT;

/* Writes width x height RGB pixels to path as a JPEG whose EXIF block holds orientation. */
void wp_test_write_exif_jpeg (const char   *path,
                              const guint8 *pixels,
                              int           width,
                              int           height,
                              int           orientation,
                              gboolean      big_endian);

/* A new temporary folder wp-test-NAME-XXXXXX. */
char *wp_test_make_tmp_dir (const char *name) G_GNUC_WARN_UNUSED_RESULT;

/* Writes text to dir/name, failing the test if it cannot. */
void wp_test_write_text (const char *dir,
                         const char *name,
                         const char *text);

/* Deletes dir/name, which must exist. */
void wp_test_remove_file (const char *dir,
                          const char *name);

/* Writes the n entries and metadata (may be NULL) to path and opens the file, failing the test if
 * either step fails. */
WpSafetensors *wp_test_write_safetensors (const char               *path,
                                          const WpSafetensorsEntry *entries,
                                          guint                     n,
                                          GHashTable               *metadata)
  G_GNUC_WARN_UNUSED_RESULT;

/* Splits folder's model.safetensors into n shards, its tensors dealt out in turn, and writes
 * their model.safetensors.index.json, as transformers does for large models. */
void wp_test_shard_folder (const char *folder,
                           int         n);

/* OpenAI's vocabulary and merges from tests/data/clip-bpe, failing the test if they do not load;
 * reading them takes seconds under the sanitizers, so tests that need no real vocabulary learn a
 * small one instead. */
WpTokenizer *wp_test_clip_tokenizer (void) G_GNUC_WARN_UNUSED_RESULT;

/* Deletes a folder and everything in it (symbolic links are removed, not followed); a folder
 * that does not exist is left alone. */
void remove_tree (const char *dir);

/* Fails the running test (non-fatally) unless text holds fragment; what names the text in the
 * failure ("" or "error message "). */
void wp_test_check_mentions (const char *what,
                             const char *text,
                             const char *fragment,
                             const char *file,
                             int         line,
                             const char *func);

#define assert_mentions(text, fragment) \
  wp_test_check_mentions ("", (text), (fragment), __FILE__, __LINE__, G_STRFUNC)

/* Fails the running test unless error is unset (already reported by g_assert_error) or its
 * message holds fragment. */
#define assert_error_mentions(error, fragment)                                                 \
  G_STMT_START                                                                                 \
  {                                                                                            \
    const GError *wp_test_error_ = (error);                                                    \
    if (wp_test_error_ != NULL)                                                                \
      wp_test_check_mentions ("error message ", wp_test_error_->message, (fragment), __FILE__, \
                              __LINE__, G_STRFUNC);                                            \
  }                                                                                            \
  G_STMT_END

G_END_DECLS
