/* fuzz-csv.c: an open_clip CSV file, separated by tabs or (odd first byte) commas, the rest of
 * the input being its text. Its folder holds a.png (an image) and b.png (not one). */
#include "fuzz.h"

static char *dir;
static char *csv_path;

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  dir = g_strdup (fuzz_init ());
  csv_path = g_build_filename (dir, "pairs.csv", NULL);
  fuzz_write_images (dir);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  WpDatasetOptions options = { 0 };

  if (size == 0)
    return 0;
  options.csv_separator = (data[0] & 1) != 0 ? "," : NULL;
  fuzz_write_file (csv_path, data + 1, size - 1);
  fuzz_open_dataset (csv_path, &options);
  return 0;
}
