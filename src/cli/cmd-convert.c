#include <stdio.h>
#include <string.h>

#include "cli.h"

int
wp_cli_convert (int    argc,
                char **argv)
{
  g_autofree char *model_path = NULL;
  g_autofree char *out = NULL;
  g_autofree char *dtype_name = NULL;
  g_autofree char *format_name = NULL;
  GOptionEntry     entries[] = {
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
          "Model folder (transformers or open_clip), .safetensors or training run (default: the "
              "bundled model)",
          "DIR" },
        { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
          "Output model folder, or FILE.safetensors for one self-contained file", "DIR" },
        { "format", 0, 0, G_OPTION_ARG_STRING, &format_name,
          "Folder layout: transformers or open_clip (default: the model's own)", "FORMAT" },
        { "dtype", 0, 0, G_OPTION_ARG_STRING, &dtype_name,
          "How the weights are stored: f32 (default), f16 or bf16", "TYPE" },
        { NULL }
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = NULL;
  WpDtype       dtype = WP_DTYPE_F32;
  WpModelFormat format = WP_MODEL_FORMAT_TRANSFORMERS;
  const char   *dtype_label;

  if (!wp_cli_parse (&argc, &argv, "convert",
                     "write a model again: transformers or open_clip layout, F32, F16 or BF16",
                     entries))
    return 2;
  if (out == NULL)
    return wp_cli_usage_error ("convert", "--out is required");
  if (dtype_name == NULL || strcmp (dtype_name, "f32") == 0) {
    dtype = WP_DTYPE_F32;
  } else if (strcmp (dtype_name, "f16") == 0) {
    dtype = WP_DTYPE_F16;
  } else if (strcmp (dtype_name, "bf16") == 0) {
    dtype = WP_DTYPE_BF16;
  } else {
    return wp_cli_usage_error ("convert", "unknown --dtype '%s' (f32, f16 or bf16)", dtype_name);
  }
  if (format_name != NULL &&
      (!wp_model_format_from_string (format_name, &format) || format == WP_MODEL_FORMAT_FILE))
    return wp_cli_usage_error ("convert", "unknown --format '%s' (transformers or open_clip)",
                               format_name);
  if (g_str_has_suffix (out, ".safetensors")) {
    if (format == WP_MODEL_FORMAT_OPEN_CLIP)
      return wp_cli_usage_error ("convert",
                                 "--format open_clip writes a folder; --out %s names a file", out);
    format = WP_MODEL_FORMAT_FILE;
  }
  model = wp_cli_load_model (model_path, &error);
  if (model == NULL)
    return wp_cli_fail (error);
  /* Without --format a folder keeps the layout the model came in. */
  if (format_name == NULL && format != WP_MODEL_FORMAT_FILE &&
      model->format == WP_MODEL_FORMAT_OPEN_CLIP)
    format = WP_MODEL_FORMAT_OPEN_CLIP;
  if (!wp_model_save_format (model, out, format, dtype, &error))
    return wp_cli_fail (error);
  dtype_label = dtype == WP_DTYPE_F16 ? "F16" : dtype == WP_DTYPE_BF16 ? "BF16"
                                                                       : "F32";
  printf ("wrote %s (%" G_GSIZE_FORMAT " parameters, %s, %s)\n", out, model->n_params, dtype_label,
          format == WP_MODEL_FORMAT_FILE ? "one file" : wp_model_format_to_string (format));
  return 0;
}
