#include "fuzz.h"

#include <glib/gstdio.h>
#include <stdlib.h>

#include "wordpatch/model.h"
#include "wordpatch/tokenizer.h"

static char *tmp_dir;

static void
remove_tmp_dir (void)
{
  g_autoptr (GDir) dir = g_dir_open (tmp_dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = g_build_filename (tmp_dir, name, NULL);

    g_remove (path);
  }
  g_rmdir (tmp_dir);
}

const char *
fuzz_init (void)
{
  g_autoptr (GError) error = NULL;

  g_log_set_always_fatal (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  tmp_dir = g_dir_make_tmp ("wp-fuzz-XXXXXX", &error);
  g_assert_no_error (error);
  atexit (remove_tmp_dir);
  return tmp_dir;
}

void
fuzz_write_file (const char    *path,
                 const uint8_t *data,
                 size_t         size)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, (const char *) data, (gssize) size, &error);
  g_assert_no_error (error);
}

WpTokenizer *
fuzz_clip_tokenizer (void)
{
  static WpTokenizer *tokenizer;

  if (tokenizer == NULL) {
    g_autofree char *dir = wp_data_find ("clip-bpe");
    g_autofree char *vocab = NULL;
    g_autofree char *merges = NULL;
    g_autoptr (GError) error = NULL;

    g_assert_nonnull (dir);
    vocab = g_build_filename (dir, "vocab.json", NULL);
    merges = g_build_filename (dir, "merges.txt", NULL);
    tokenizer = wp_tokenizer_new_from_files (vocab, merges, &error);
    g_assert_no_error (error);
  }
  return tokenizer;
}
