/* fuzz-shards.c: a WebDataset shard, the whole input being the tar file. An opened dataset reads
 * each image alone from its offset and all of them in order (the image checks), as evaluation
 * and training do. */
#include "fuzz.h"

static char *shard_path;

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  shard_path = g_build_filename (fuzz_init (), "shard.tar", NULL);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  fuzz_write_file (shard_path, data, size);
  fuzz_open_dataset (shard_path, NULL);
  return 0;
}
