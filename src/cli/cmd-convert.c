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
  GOptionEntry     entries[] = {
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
          "Model folder, .safetensors or training run (default: the bundled model)", "DIR" },
        { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
          "Output model folder, or FILE.safetensors for one self-contained file", "DIR" },
        { "dtype", 0, 0, G_OPTION_ARG_STRING, &dtype_name,
          "How the weights are stored: f32 (default), f16 or bf16", "TYPE" },
        { NULL }
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = NULL;
  WpDtype dtype = WP_DTYPE_F32;

  if (!wp_cli_parse (&argc, &argv, "convert",
                     "write a model again, its weights in F32, F16 or BF16", entries))
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
  model = wp_cli_load_model (model_path, &error);
  if (model == NULL || !wp_model_save_as (model, out, dtype, &error))
    return wp_cli_fail (error);
  printf ("wrote %s (%" G_GSIZE_FORMAT " parameters, %s)\n", out, model->n_params,
          dtype == WP_DTYPE_F16 ? "F16" : dtype == WP_DTYPE_BF16 ? "BF16"
                                                                 : "F32");
  return 0;
}
