/* fuzz-dataset.c: a dataset folder's captions file, captions.jsonl or (odd first byte)
 * captions.tsv, the rest of the input being its text. The folder holds a.png (a valid image) and
 * b.png (not an image); lines naming other files are skipped as missing. An opened dataset goes
 * through everything training does with it (fuzz_open_dataset()). */
#include "fuzz.h"

#include <glib/gstdio.h>

static char *dir;
static char *jsonl_path;
static char *tsv_path;

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  dir = g_strdup (fuzz_init ());
  jsonl_path = g_build_filename (dir, "captions.jsonl", NULL);
  tsv_path = g_build_filename (dir, "captions.tsv", NULL);
  fuzz_write_images (dir);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  const gboolean tsv = size > 0 && (data[0] & 1) != 0;

  if (size == 0)
    return 0;
  g_remove (tsv ? jsonl_path : tsv_path);
  fuzz_write_file (tsv ? tsv_path : jsonl_path, data + 1, size - 1);
  fuzz_open_dataset (dir, NULL);
  return 0;
}
