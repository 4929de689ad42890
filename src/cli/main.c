/* wordpatch-cli: the command-line front end of the engine. */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
  const char  *name;
  WpCliCommand run;
  const char  *summary;
} commands[] = {
  { "info", wp_cli_info, "describe a model: configuration, parameters, tokenizer, training step" },
  { "embed", wp_cli_embed,
    "embed an image and a caption; print tokens, global, patch and token embeddings as JSON" },
  { "loss", wp_cli_loss,
    "the loss (clip, filip, sparc or sigmoid) and every parameter's gradient on the first pairs "
    "of a dataset" },
  { "heatmap", wp_cli_heatmap,
    "draw a caption's word maps (FILIP, SPARC, labels) over an image as PNG, SVG or PDF" },
  { "train", wp_cli_train,
    "train or fine-tune with clip, filip, sparc or sigmoid; checkpoints, metrics, resume" },
  { "eval", wp_cli_eval,
    "retrieval recall and word localisation (pointing game, box IoU) of a model on a dataset" },
  { "init", wp_cli_init,
    "write a new model with random weights in the transformers CLIPModel layout" },
  { "convert", wp_cli_convert, "write a model again, its weights stored as F32, F16 or BF16" },
  { "shapes", wp_cli_shapes,
    "write a synthetic dataset of coloured shapes: PNG images, captions and a box for each word" },
  { "bench", wp_cli_bench,
    "time the towers, a training step and the word maps on this machine; sgemm peak, memory" },
};

static void
print_usage (FILE *out)
{
  fprintf (out, "Usage: wordpatch-cli COMMAND [OPTIONS]\n\nCommands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\n'wordpatch-cli COMMAND --help' describes a command's options.\n");
}

int
main (int    argc,
      char **argv)
{
  setlocale (LC_ALL, "");
  if (argc < 2) {
    print_usage (stderr);
    return 2;
  }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 ||
      strcmp (argv[1], "help") == 0) {
    print_usage (stdout);
    return 0;
  }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++) {
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  }
  fprintf (stderr, "wordpatch-cli: unknown command '%s'\n\n", argv[1]);
  print_usage (stderr);
  return 2;
}
