/* fuzz-coco.c: COCO's JSON files. Even first byte: the rest is captions_val2017.json, read alone.
 * Odd first byte: the rest is instances_val2017.json, read with a fixed captions file whose
 * captions name categories. The images are val2017/1.jpg (an image) and val2017/2.jpg (not one). */
#include "fuzz.h"

static char *root;
static char *captions_path;
static char *instances_path;

static const char fixed_captions[] =
  "{\"images\": [{\"id\": 1, \"file_name\": \"1.jpg\"}, {\"id\": 2, \"file_name\": \"2.jpg\"}],"
  " \"annotations\": [{\"image_id\": 1, \"caption\": \"a dog and two dogs near a teddy bear\"},"
  " {\"image_id\": 1, \"caption\": \"people at a hot dog stand\"},"
  " {\"image_id\": 2, \"caption\": \"a person\"}]}";

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  g_autofree char *png = NULL;
  g_autofree char *not_png = NULL;
  g_autofree char *annotations = NULL;

  root = g_strdup (fuzz_init ());
  annotations = g_build_filename (root, "annotations", NULL);
  g_assert_cmpint (g_mkdir_with_parents (annotations, 0755), ==, 0);
  captions_path = g_build_filename (root, "annotations", "captions_val2017.json", NULL);
  instances_path = g_build_filename (root, "annotations", "instances_val2017.json", NULL);
  png = g_build_filename (root, "val2017", "1.jpg", NULL);
  not_png = g_build_filename (root, "val2017", "2.jpg", NULL);
  fuzz_write_png (png);
  fuzz_write_file (not_png, (const uint8_t *) "not an image", 12);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  WpDatasetOptions options = { 0 };
  const gboolean   instances = size > 0 && (data[0] & 1) != 0;

  if (size == 0)
    return 0;
  if (instances) {
    fuzz_write_file (captions_path, (const uint8_t *) fixed_captions, sizeof fixed_captions - 1);
    fuzz_write_file (instances_path, data + 1, size - 1);
    options.instances = instances_path;
  } else {
    fuzz_write_file (captions_path, data + 1, size - 1);
  }
  fuzz_open_dataset (captions_path, &options);
  return 0;
}
