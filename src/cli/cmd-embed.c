#include <stdio.h>

#include "cli.h"

static JsonNode *
build_output (const WpModel          *model,
              const WpImageEmbedding *image,
              const WpTextEmbedding  *text)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  const int E = image->dim;
  double    cosine = 0.0;

  for (int e = 0; e < E; e++)
    cosine += (double) image->global[e] * text->global[e];

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "model");
  json_builder_add_string_value (builder, model->path);
  wp_cli_add_tokens (builder, model, text);
  json_builder_set_member_name (builder, "grid");
  json_builder_begin_array (builder);
  json_builder_add_int_value (builder, image->rows);
  json_builder_add_int_value (builder, image->cols);
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "crop");
  json_builder_begin_array (builder);
  json_builder_add_double_value (builder, image->crop.x);
  json_builder_add_double_value (builder, image->crop.y);
  json_builder_add_double_value (builder, image->crop.width);
  json_builder_add_double_value (builder, image->crop.height);
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "cosine");
  json_builder_add_double_value (builder, cosine);
  json_builder_set_member_name (builder, "image_embedding");
  wp_cli_add_float_array (builder, image->global, E);
  json_builder_set_member_name (builder, "text_embedding");
  wp_cli_add_float_array (builder, text->global, E);
  wp_cli_add_matrix (builder, "patch_embeddings", image->patches, image->n_patches, E);
  wp_cli_add_matrix (builder, "token_embeddings", text->tokens, text->n_tokens, E);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

int
wp_cli_embed (int    argc,
              char **argv)
{
  g_autofree char *model_path = NULL;
  g_autofree char *image_path = NULL;
  g_autofree char *text = NULL;
  gboolean         stored_orientation = FALSE;
  GOptionEntry     entries[] = { { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
                                   "Model folder or .safetensors file (default: the bundled model)",
                                   "DIR" },
                                 { "image", 'i', 0, G_OPTION_ARG_FILENAME, &image_path,
                                   "Image file (PNG, JPEG, BMP, GIF, TGA, PNM)", "IMG" },
                                 { "text", 't', 0, G_OPTION_ARG_STRING, &text, "Caption", "TEXT" },
                                 WP_CLI_STORED_ORIENTATION_ENTRY (&stored_orientation),
                                 { NULL } };
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = NULL;
  g_autoptr (WpImage) image = NULL;
  g_autoptr (WpImageEmbedding) image_embedding = NULL;
  g_autoptr (WpTextEmbedding) text_embedding = NULL;
  g_autoptr (JsonNode) root = NULL;

  if (!wp_cli_parse (&argc, &argv, "embed", "embed an image and a caption", entries))
    return 2;
  if (image_path == NULL || text == NULL)
    return wp_cli_usage_error ("embed", "--image and --text are required");
  model = wp_cli_load_model (model_path, &error);
  if (model == NULL)
    return wp_cli_fail (error);
  image = wp_cli_load_image (image_path, stored_orientation, &error);
  if (image == NULL)
    return wp_cli_fail (error);
  image_embedding = wp_embed_image (model, image);
  text_embedding = wp_embed_text (model, text);
  root = build_output (model, image_embedding, text_embedding);
  wp_cli_print_json (root);
  return 0;
}
