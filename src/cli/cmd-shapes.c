#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "shapes.h"

#define MAX_COUNT 1000000

/* A whole number in min..max, or FALSE after printing what is wrong with option's value. */
static gboolean
parse_number (const char *option,
              const char *text,
              guint64     min,
              guint64     max,
              guint64    *value)
{
  if (text == NULL) {
    fprintf (stderr, "wordpatch-cli shapes: %s is required\n", option);
    return FALSE;
  }
  if (!g_ascii_string_to_unsigned (text, 10, min, max, value, NULL)) {
    fprintf (stderr,
             "wordpatch-cli shapes: %s must be a whole number from %" G_GUINT64_FORMAT
             " to %" G_GUINT64_FORMAT ", not '%s'\n",
             option, min, max, text);
    return FALSE;
  }
  return TRUE;
}

int
wp_cli_shapes (int    argc,
               char **argv)
{
  g_autofree char *out = NULL;
  g_autofree char *count_text = NULL;
  g_autofree char *seed_text = NULL;
  g_autofree char *size_text = NULL;
  g_autofree char *split = NULL;
  GOptionEntry     entries[] = {
        { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
          "Output dataset folder: images/ and captions.jsonl (must not hold a captions.jsonl yet)",
          "DIR" },
        { "count", 'n', 0, G_OPTION_ARG_STRING, &count_text, "Number of scenes, 1 to 1000000",
          "N" },
        { "seed", 's', 0, G_OPTION_ARG_STRING, &seed_text,
          "Random seed, a whole number from 0; scene i depends only on the seed, split, i and size",
          "S" },
        { "size", 0, 0, G_OPTION_ARG_STRING, &size_text,
          "Image side in pixels, 32 to 512 (default 64)",
          "PX" },
        { "split", 0, 0, G_OPTION_ARG_STRING, &split,
          "train or test: test holds the held-out colour-shape pairs, outer hues and new "
              "backgrounds "
              "(default train)",
          "SPLIT" },
        { NULL }
  };
  g_autoptr (GError) error = NULL;
  WpShapesOptions options;
  guint64         count, seed, size = 64;

  if (!wp_cli_parse (&argc, &argv, "shapes",
                     "write a synthetic dataset of coloured shapes with word boxes", entries))
    return 2;
  if (out == NULL) {
    fprintf (stderr, "wordpatch-cli shapes: --out is required\n");
    return 2;
  }
  if (!parse_number ("--count", count_text, 1, MAX_COUNT, &count) ||
      !parse_number ("--seed", seed_text, 0, G_MAXUINT64, &seed) ||
      (size_text != NULL &&
       !parse_number ("--size", size_text, WP_SHAPES_MIN_SIZE, WP_SHAPES_MAX_SIZE, &size)))
    return 2;
  wp_shapes_options_init (&options);
  if (split != NULL && strcmp (split, "test") == 0) {
    options.split = WP_SHAPES_SPLIT_TEST;
  } else if (split != NULL && strcmp (split, "train") != 0) {
    fprintf (stderr, "wordpatch-cli shapes: unknown --split '%s' (train or test)\n", split);
    return 2;
  }
  options.seed = seed;
  options.size = (int) size;
  if (!wp_shapes_write_dataset (out, (guint) count, &options, &error))
    return wp_cli_fail (error);
  printf ("wrote %" G_GUINT64_FORMAT
          " scenes to %s (%s split, %d x %d pixels, seed %" G_GUINT64_FORMAT ")\n",
          count, out, options.split == WP_SHAPES_SPLIT_TEST ? "test" : "train", options.size,
          options.size, seed);
  return 0;
}
