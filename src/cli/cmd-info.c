#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static gsize
count_params (const WpModel *model,
              const char    *prefix)
{
  gsize n = 0;

  for (guint i = 0; i < model->n_specs; i++) {
    if (g_str_has_prefix (model->specs[i].name, prefix))
      n += model->specs[i].numel;
  }
  return n;
}

static void
print_tower (const char          *name,
             const WpTowerConfig *t)
{
  printf ("  %s tower: width %d, %d layers, %d heads, MLP %d, %s\n", name, t->width, t->n_layers,
          t->n_heads, t->mlp_width, wp_activation_to_string (t->activation));
}

static void
print_preprocessing (const WpClipConfig *c)
{
  const WpPreprocess *pre = &c->preprocess;
  const int           R = wp_clip_config_resize_size (c);

  printf ("preprocessing: %s to %d (%s), centre crop %d (offset %s), mean %.4g %.4g %.4g, std "
          "%.4g %.4g %.4g\n",
          pre->resize_mode == WP_RESIZE_SQUASH ? "both sides resized" : "shorter side resized", R,
          pre->interpolation == WP_INTERPOLATION_BILINEAR ? "bilinear" : "bicubic", c->image_size,
          pre->crop_offset == WP_CROP_OFFSET_ROUND ? "rounded" : "floored", c->image_mean[0],
          c->image_mean[1], c->image_mean[2], c->image_std[0], c->image_std[1], c->image_std[2]);
}

static void
print_text (const WpModel *model)
{
  const WpClipConfig *c = &model->config;
  const int           G = wp_clip_config_grid (c);

  printf ("model: %s\n", model->path);
  printf ("family: %s; format: %s", wp_model_family_to_string (c->family),
          wp_model_format_to_string (model->format));
  if (model->n_weight_files > 0)
    printf (", %u weight file%s, stored as %s", model->n_weight_files,
            model->n_weight_files == 1 ? "" : "s", wp_dtype_name (model->stored_dtype));
  printf ("\n");
  if (model->step > 0)
    printf ("training step: %" G_GINT64_FORMAT "\n", model->step);
  if (c->objective != NULL)
    printf ("trained with: %s\n", c->objective);
  printf (
    "parameters: %" G_GSIZE_FORMAT " (text %" G_GSIZE_FORMAT ", vision %" G_GSIZE_FORMAT ")\n",
    model->n_params, count_params (model, "text_model."), count_params (model, "vision_model."));
  printf ("images: %d x %d pixels, patch %d, %d x %d = %d patches\n", c->image_size, c->image_size,
          c->patch_size, G, G, G * G);
  print_tower ("vision", &c->vision);
  print_preprocessing (c);
  printf ("text: context %d tokens, vocabulary %d, pooled at %s\n", c->context_length,
          c->vocab_size,
          c->text_pooling == WP_TEXT_POOL_LAST     ? "the last context position (padded)"
          : c->text_pooling == WP_TEXT_POOL_ARGMAX ? "the largest id"
          : c->eos_token_id == wp_tokenizer_get_eos_id (model->tokenizer)
            ? "the first end token"
            : "the last token");
  print_tower ("text", &c->text);
  if (model->p.logit_bias != NULL)
    printf ("embedding: %d (the pooling head's and the text head's), logit scale %.4f "
            "(t = %.2f), logit bias %.4f\n",
            c->projection_dim, *model->p.logit_scale, exp (*model->p.logit_scale),
            *model->p.logit_bias);
  else
    printf ("projection: %d, logit scale %.4f (inverse temperature %.2f)\n", c->projection_dim,
            *model->p.logit_scale, exp (*model->p.logit_scale));
  if (wp_tokenizer_is_sentencepiece (model->tokenizer))
    printf ("tokenizer: SentencePiece, %d pieces\n", wp_tokenizer_get_n_vocab (model->tokenizer));
  else
    printf ("tokenizer: %d tokens, %d merges%s\n", wp_tokenizer_get_n_vocab (model->tokenizer),
            wp_tokenizer_get_n_merges (model->tokenizer),
            model->bundled_vocabulary ? " (OpenAI's, bundled: the folder has none)" : "");
}

static void
print_json (const WpModel *model)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *config = wp_clip_config_to_json (&model->config);
  g_autofree char *summary = wp_model_dup_summary (model);
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "path");
  json_builder_add_string_value (builder, model->path);
  json_builder_set_member_name (builder, "summary");
  json_builder_add_string_value (builder, summary);
  json_builder_set_member_name (builder, "family");
  json_builder_add_string_value (builder, wp_model_family_to_string (model->config.family));
  json_builder_set_member_name (builder, "format");
  json_builder_add_string_value (builder, wp_model_format_to_string (model->format));
  json_builder_set_member_name (builder, "weight_files");
  json_builder_add_int_value (builder, model->n_weight_files);
  json_builder_set_member_name (builder, "stored_dtype");
  json_builder_add_string_value (builder, wp_dtype_name (model->stored_dtype));
  json_builder_set_member_name (builder, "bundled_vocabulary");
  json_builder_add_boolean_value (builder, model->bundled_vocabulary);
  json_builder_set_member_name (builder, "step");
  json_builder_add_int_value (builder, model->step);
  json_builder_set_member_name (builder, "parameters");
  json_builder_add_int_value (builder, (gint64) model->n_params);
  json_builder_set_member_name (builder, "parameters_text");
  json_builder_add_int_value (builder, (gint64) count_params (model, "text_model."));
  json_builder_set_member_name (builder, "parameters_vision");
  json_builder_add_int_value (builder, (gint64) count_params (model, "vision_model."));
  json_builder_set_member_name (builder, "grid");
  json_builder_add_int_value (builder, wp_clip_config_grid (&model->config));
  json_builder_set_member_name (builder, "logit_scale");
  json_builder_add_double_value (builder, *model->p.logit_scale);
  if (model->p.logit_bias != NULL) {
    json_builder_set_member_name (builder, "logit_bias");
    json_builder_add_double_value (builder, *model->p.logit_bias);
  }
  json_builder_set_member_name (builder, "tokenizer");
  json_builder_add_string_value (
    builder, wp_tokenizer_is_sentencepiece (model->tokenizer) ? "sentencepiece" : "bpe");
  json_builder_set_member_name (builder, "tokenizer_vocab");
  json_builder_add_int_value (builder, wp_tokenizer_get_n_vocab (model->tokenizer));
  json_builder_set_member_name (builder, "tokenizer_merges");
  json_builder_add_int_value (builder, wp_tokenizer_get_n_merges (model->tokenizer));
  /* The configuration as config.json spells it, so scripts read one vocabulary of keys. */
  json_parser_load_from_data (parser, config, -1, NULL);
  json_builder_set_member_name (builder, "config");
  json_builder_add_value (builder, json_node_copy (json_parser_get_root (parser)));
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  wp_cli_print_json (root);
}

int
wp_cli_info (int    argc,
             char **argv)
{
  g_autofree char *model_path = NULL;
  gboolean         json = FALSE;
  GOptionEntry     entries[] = {
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
          "Model folder or .safetensors file (default: the bundled model)", "DIR" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object", NULL },
        { NULL }
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = NULL;

  if (!wp_cli_parse (&argc, &argv, "info", "describe a model", entries))
    return 2;
  model = wp_cli_load_model (model_path, &error);
  if (model == NULL)
    return wp_cli_fail (error);
  if (json)
    print_json (model);
  else
    print_text (model);
  return 0;
}
