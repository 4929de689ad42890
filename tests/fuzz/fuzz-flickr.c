/* fuzz-flickr.c: Flickr30k Entities' files of one image. Even first byte: the rest is
 * Sentences/1.txt, with a fixed Annotations/1.xml. Odd first byte: the rest is the XML, with
 * fixed sentences whose phrases name chains 1 to 4. The image is flickr30k-images/1.jpg. */
#include "fuzz.h"

static char *root;
static char *sentences_path;
static char *xml_path;

static const char fixed_sentences[] =
  "[/EN#1/people A young man] in [/EN#2/clothing a red shirt] holds [/EN#3/animals a dog] .\n"
  "[/EN#0/notvisual Someone] sees [/EN#4/people/other the man] .\n";

static const char fixed_xml[] =
  "<annotation><object><name>1</name><name>4</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
  "<xmax>6</xmax><ymax>7</ymax></bndbox></object><object><name>2</name><bndbox><xmin>2</xmin>"
  "<ymin>2</ymin><xmax>8</xmax><ymax>8</ymax></bndbox></object><object><name>3</name>"
  "<nobndbox>1</nobndbox></object></annotation>\n";

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  g_autofree char *png = NULL;
  g_autofree char *sentences_dir = NULL;
  g_autofree char *xml_dir = NULL;

  root = g_strdup (fuzz_init ());
  sentences_path = g_build_filename (root, "Sentences", "1.txt", NULL);
  xml_path = g_build_filename (root, "Annotations", "1.xml", NULL);
  png = g_build_filename (root, "flickr30k-images", "1.jpg", NULL);
  fuzz_write_png (png);
  sentences_dir = g_path_get_dirname (sentences_path);
  xml_dir = g_path_get_dirname (xml_path);
  g_assert_cmpint (g_mkdir_with_parents (sentences_dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (xml_dir, 0755), ==, 0);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  const gboolean xml = size > 0 && (data[0] & 1) != 0;

  if (size == 0)
    return 0;
  fuzz_write_file (xml ? sentences_path : xml_path,
                   (const uint8_t *) (xml ? fixed_sentences : fixed_xml),
                   (xml ? sizeof fixed_sentences : sizeof fixed_xml) - 1);
  fuzz_write_file (xml ? xml_path : sentences_path, data + 1, size - 1);
  fuzz_open_dataset (root, NULL);
  return 0;
}
