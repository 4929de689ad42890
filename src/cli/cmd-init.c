#include <stdio.h>

#include "cli.h"

int
wp_cli_init (int    argc,
             char **argv)
{
  g_autofree char *size = NULL;
  g_autofree char *out = NULL;
  g_autofree char *vocab_dir = NULL;
  g_autofree char *format_name = NULL;
  gint64           seed = 1;
  GOptionEntry     entries[] = {
        { "config", 'c', 0, G_OPTION_ARG_STRING, &size,
          "Model size: tiny, small, vit-b16 or vit-b32 (default tiny)", "SIZE" },
        { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
          "Output model folder, or FILE.safetensors for one self-contained file", "DIR" },
        { "vocab", 0, 0, G_OPTION_ARG_FILENAME, &vocab_dir,
          "Folder with vocab.json and merges.txt (default: OpenAI's CLIP vocabulary)", "DIR" },
        { "format", 0, 0, G_OPTION_ARG_STRING, &format_name,
          "Folder layout: transformers (default) or open_clip", "FORMAT" },
        { "seed", 's', 0, G_OPTION_ARG_INT64, &seed, "Random seed (default 1)", "S" },
        { NULL }
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = NULL;
  g_autofree char *vocab_path = NULL;
  g_autofree char *merges_path = NULL;
  WpTokenizer     *tokenizer;
  WpClipConfig     config;
  WpModelFormat    format = WP_MODEL_FORMAT_TRANSFORMERS;

  if (!wp_cli_parse (&argc, &argv, "init", "write a model with random weights", entries))
    return 2;
  if (out == NULL)
    return wp_cli_usage_error ("init", "--out is required");
  if (size != NULL && !wp_cli_check_size ("init", size))
    return 2;
  if (format_name != NULL &&
      (!wp_model_format_from_string (format_name, &format) || format == WP_MODEL_FORMAT_FILE))
    return wp_cli_usage_error ("init", "unknown --format '%s' (transformers or open_clip)",
                               format_name);
  if (g_str_has_suffix (out, ".safetensors")) {
    if (format == WP_MODEL_FORMAT_OPEN_CLIP)
      return wp_cli_usage_error ("init",
                                 "--format open_clip writes a folder; --out %s names a file",
                                 out);
    format = WP_MODEL_FORMAT_FILE;
  }
  if (vocab_dir == NULL && (vocab_dir = wp_data_find ("clip-bpe")) == NULL) {
    g_set_error (&error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                 "the bundled CLIP vocabulary (data/clip-bpe) is missing; pass --vocab DIR");
    return wp_cli_fail (error);
  }
  vocab_path = g_build_filename (vocab_dir, "vocab.json", NULL);
  merges_path = g_build_filename (vocab_dir, "merges.txt", NULL);
  tokenizer = wp_tokenizer_new_from_files (vocab_path, merges_path, &error);
  if (tokenizer == NULL ||
      !wp_clip_config_init_preset (&config, size ? size : "tiny",
                                   wp_tokenizer_get_n_vocab (tokenizer), &error)) {
    g_clear_pointer (&tokenizer, wp_tokenizer_free);
    return wp_cli_fail (error);
  }
  model = wp_model_new_random (&config, tokenizer, (guint64) seed, &error);
  if (model == NULL || !wp_model_save_format (model, out, format, WP_DTYPE_F32, &error))
    return wp_cli_fail (error);
  printf ("wrote a %s model with random weights (%" G_GSIZE_FORMAT " parameters) to %s\n",
          size ? size : "tiny", model->n_params, out);
  return 0;
}
