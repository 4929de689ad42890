#include <math.h>
#include <stdio.h>

#include "cli.h"

static void
add_augmentations (JsonBuilder          *builder,
                   const WpAugmentation *augmentations,
                   int                   B)
{
  json_builder_set_member_name (builder, "augmentations");
  json_builder_begin_array (builder);
  for (int b = 0; b < B; b++) {
    const WpAugmentation *a = &augmentations[b];
    const double          crop[] = { a->crop.x, a->crop.y, a->crop.width, a->crop.height };

    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "crop");
    json_builder_begin_array (builder);
    for (gsize i = 0; i < G_N_ELEMENTS (crop); i++)
      json_builder_add_double_value (builder, crop[i]);
    json_builder_end_array (builder);
    wp_cli_add_number (builder, "brightness", a->brightness);
    wp_cli_add_number (builder, "contrast", a->contrast);
    wp_cli_add_number (builder, "saturation", a->saturation);
    json_builder_set_member_name (builder, "flipped");
    json_builder_add_boolean_value (builder, a->flipped);
    json_builder_end_object (builder);
  }
  json_builder_end_array (builder);
}

/* augmentations: NULL when the batch was not augmented. */
static void
print_parts (const WpLossParts    *parts,
             int                   B,
             const WpAugmentation *augmentations,
             gboolean              json)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  const gboolean box = !isnan (parts->box);
  const char    *names[] = { "loss", "loss_clip", "loss_filip",
                             "loss_fine", "loss_sigmoid", "loss_box" };
  /* Like the parts no objective computed, an unused box term is 0. */
  const double values[] = { parts->total, parts->clip, parts->filip,
                            parts->fine, parts->sigmoid, box ? parts->box : 0.0 };

  if (!json) {
    printf ("pairs %d: loss %.6f (clip %.6f, filip %.6f, sparc fine %.6f, sigmoid %.6f", B,
            parts->total, parts->clip, parts->filip, parts->fine, parts->sigmoid);
    if (box)
      printf (", box %.6f over %d boxed words", parts->box, parts->box_words);
    printf (")\n");
    return;
  }
  json_builder_begin_object (builder);
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++) {
    json_builder_set_member_name (builder, names[i]);
    json_builder_add_double_value (builder, values[i]);
  }
  json_builder_set_member_name (builder, "box_words");
  json_builder_add_int_value (builder, parts->box_words);
  json_builder_set_member_name (builder, "pairs");
  json_builder_add_int_value (builder, B);
  if (augmentations != NULL)
    add_augmentations (builder, augmentations, B);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  wp_cli_print_json (root);
}

int
wp_cli_loss (int    argc,
             char **argv)
{
  static const char *const settings[] = { "loss", WP_CLI_OBJECTIVE_SETTINGS,
                                          "box_weight", "box_tau", "augment", "seed",
                                          WP_CLI_DATASET_SETTINGS, NULL };
  g_autofree char         *model_path = NULL;
  g_autofree char         *data_dir = NULL;
  g_autofree char         *grads_path = NULL;
  gint                     B = 8;
  gboolean                 json = FALSE;
  const GOptionEntry       entries[] = {
          { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
            "Model folder or .safetensors file (default: the bundled model)", "DIR" },
          { "data", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir,
            "Dataset: a folder, a file or shards (captions.jsonl, open_clip CSV, COCO, Flickr30k "
                  "Entities, WebDataset)",
            "PATH" },
          { "batch", 'b', 0, G_OPTION_ARG_INT, &B,
            "Number of pairs, the first ones in file order (default 8)", "B" },
          { "grads", 'g', 0, G_OPTION_ARG_FILENAME, &grads_path,
            "Write every parameter's gradient here, under its tensor name", "OUT.safetensors" },
          { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object", NULL },
          { NULL }
  };
  g_auto (WpCliSettings) cs = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = NULL;
  g_autoptr (WpDataset) dataset = NULL;
  g_autoptr (WpLossState) state = NULL;
  g_autofree guint          *indices = NULL;
  g_autofree float          *pixels = NULL;
  g_autofree int            *ids = NULL;
  g_autofree int            *lengths = NULL;
  g_autofree float          *grads = NULL;
  g_autofree guint64        *seeds = NULL;
  g_autofree WpAugmentation *augmentations = NULL;
  g_auto (WpBoxWords) boxes = { 0 };
  WpLossParts parts;
  WpParams    views;
  int         T, S;

  /* The objective's options are the training settings' own, so the loss is the one train
   * would differentiate. */
  wp_cli_settings_init (&cs, FALSE);
  if (!wp_cli_parse_group (&argc, &argv, "loss",
                           "the loss and its gradients on the first pairs of a dataset",
                           wp_cli_settings_group (&cs, settings, entries)))
    return 2;
  if (data_dir == NULL)
    return wp_cli_usage_error ("loss", "--data is required");
  if (B < 1 || B > 4096)
    return wp_cli_usage_error ("loss", "--batch must be in 1..4096, not %d", B);
  if (!wp_loss_options_check (&cs.settings.loss, &error))
    return wp_cli_usage_error ("loss", "%s", error->message);
  model = wp_cli_load_model (model_path, &error);
  if (model == NULL)
    return wp_cli_fail (error);
  dataset = wp_cli_open_dataset (data_dir, &cs.settings.dataset, &error);
  if (dataset == NULL)
    return wp_cli_fail (error);
  if ((guint) B > wp_dataset_get_n_pairs (dataset)) {
    g_set_error (&error, WP_ERROR, WP_ERROR_DATASET, "%s: --batch %d but the dataset has %u pairs",
                 data_dir, B, wp_dataset_get_n_pairs (dataset));
    return wp_cli_fail (error);
  }
  if (!wp_loss_state_check_fits (&model->config, B, &error))
    return wp_cli_fail (error);
  S = model->config.image_size;
  indices = g_new (guint, B);
  for (int b = 0; b < B; b++)
    indices[b] = (guint) b;
  pixels = g_new (float, (gsize) B * 3 * S * S);
  ids = g_new (int, (gsize) B * model->config.context_length);
  lengths = g_new (int, B);
  seeds = g_new (guint64, B);
  augmentations = g_new (WpAugmentation, B);
  /* Pair b's augmentation is the stream of seed + b: a batch anyone can reproduce. */
  for (int b = 0; b < B; b++)
    seeds[b] = cs.settings.seed + (guint64) b;
  if (!wp_dataset_load_batch (dataset, model, indices, B,
                              cs.settings.augment ? &cs.settings.augment_options : NULL, seeds,
                              pixels, ids, lengths, &T, augmentations, &error))
    return wp_cli_fail (error);
  wp_box_words_init (&boxes, wp_box_words_capacity (&model->config, B),
                     wp_clip_config_n_patches (&model->config));
  for (int b = 0; b < B; b++)
    wp_box_words_add_pair (&boxes, model, wp_dataset_get_pair (dataset, indices[b]), b,
                           &augmentations[b]);

  state = wp_loss_state_new (&model->config, B);
  grads = g_new0 (float, model->n_params);
  wp_params_init_views (&views, &model->config, model->specs, grads);
  if (!wp_loss_compute (model, state, &cs.settings.loss, pixels, ids, lengths, B, T, &boxes,
                        &views, &parts, &error))
    return wp_cli_fail (error);
  if (grads_path != NULL && !wp_params_write (model, grads, grads_path, NULL, &error))
    return wp_cli_fail (error);
  print_parts (&parts, B, cs.settings.augment ? augmentations : NULL, json);
  return 0;
}
