/* replay-main.c: runs a fuzz target's LLVMFuzzerTestOneInput() once on every file of the folders
 * (or files) given, for builds without libFuzzer. A crash or a failed assertion fails the test. */
#include <stdio.h>

#include "fuzz.h"

static int
replay_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  gsize            size;

  if (!g_file_get_contents (path, &data, &size, &error)) {
    fprintf (stderr, "%s\n", error->message);
    return 1;
  }
  LLVMFuzzerTestOneInput ((const uint8_t *) data, size);
  return 0;
}

int
main (int   argc,
      char *argv[])
{
  int failed = 0, n = 0;

  LLVMFuzzerInitialize (&argc, &argv);
  for (int i = 1; i < argc; i++) {
    g_autoptr (GDir) dir = NULL;
    const char *name;

    if (!g_file_test (argv[i], G_FILE_TEST_IS_DIR)) {
      failed |= replay_file (argv[i]);
      n++;
      continue;
    }
    dir = g_dir_open (argv[i], 0, NULL);
    while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
      g_autofree char *path = g_build_filename (argv[i], name, NULL);

      failed |= replay_file (path);
      n++;
    }
  }
  printf ("replayed %d inputs\n", n);
  return failed;
}
