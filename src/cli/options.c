#include "cli.h"

#include <math.h>
#include <stdio.h>

gboolean
wp_cli_parse_group (int          *argc,
                    char       ***argv,
                    const char   *command,
                    const char   *summary,
                    GOptionGroup *group)
{
  g_autofree char *parameter = g_strdup_printf ("%s - %s", command, summary);
  g_autoptr (GOptionContext) context = g_option_context_new (parameter);
  g_autoptr (GError) error = NULL;

  g_option_context_set_main_group (context, group);
  if (!g_option_context_parse (context, argc, argv, &error)) {
    wp_cli_usage_error (command, "%s (see --help)", error->message);
    return FALSE;
  }
  if (*argc > 1) {
    wp_cli_usage_error (command, "unexpected argument '%s' (see --help)", (*argv)[1]);
    return FALSE;
  }
  return TRUE;
}

gboolean
wp_cli_parse (int          *argc,
              char       ***argv,
              const char   *command,
              const char   *summary,
              GOptionEntry *entries)
{
  GOptionGroup *group = g_option_group_new (command, summary, summary, NULL, NULL);

  g_option_group_add_entries (group, entries);
  return wp_cli_parse_group (argc, argv, command, summary, group);
}

int
wp_cli_usage_error (const char *command,
                    const char *format,
                    ...)
{
  g_autofree char *message = NULL;
  va_list          ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  fprintf (stderr, "wordpatch-cli %s: %s\n", command, message);
  return 2;
}

gboolean
wp_cli_config_init_preset (WpClipConfig *config,
                           const char   *name,
                           int           vocab_size,
                           GError      **error)
{
  if (g_str_has_prefix (name, "siglip-")) {
    const char *size = name + strlen ("siglip-");

    return wp_siglip_config_init_preset (config, strcmp (size, "b16") == 0 ? "base" : size,
                                         vocab_size, error);
  }
  return wp_clip_config_init_preset (config, name, vocab_size, error);
}

gboolean
wp_cli_check_size (const char *command,
                   const char *name)
{
  g_autoptr (GError) error = NULL;
  WpClipConfig config;

  /* Any vocabulary: only the name is in question. */
  if (wp_cli_config_init_preset (&config, name, 1024, &error))
    return TRUE;
  wp_cli_usage_error (command, "--config: %s", error->message);
  return FALSE;
}

WpModel *
wp_cli_load_model (const char *path,
                   GError    **error)
{
  g_autofree char *bundled = NULL;

  if (path == NULL) {
    bundled = wp_model_find_default ();
    if (bundled == NULL) {
      g_set_error (
        error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
        "no --model given and no bundled model found (set WORDPATCH_DATADIR or pass --model DIR)");
      return NULL;
    }
    path = bundled;
  }
  return wp_model_load (path, error);
}

WpImage *
wp_cli_load_image (const char *path,
                   gboolean    stored_orientation,
                   GError    **error)
{
  return stored_orientation ? wp_image_load (path, error) : wp_image_load_upright (path, error);
}

WpDataset *
wp_cli_open_dataset (const char             *path,
                     const WpDatasetOptions *options,
                     GError                **error)
{
  g_autoptr (WpDataset) dataset = wp_dataset_open_full (path, options, error);

  if (dataset == NULL ||
      !wp_dataset_check_images (dataset, (int) g_get_num_processors (), NULL, error))
    return NULL;
  wp_cli_print_dataset_warnings (dataset);
  return g_steal_pointer (&dataset);
}

void
wp_cli_print_dataset_warnings (const WpDataset *dataset)
{
  const GPtrArray *warnings = wp_dataset_get_warnings (dataset);
  g_autofree char *summary = wp_dataset_describe_skipped (dataset);

  for (guint i = 0; i < warnings->len; i++)
    fprintf (stderr, "wordpatch-cli: warning: %s\n", (const char *) warnings->pdata[i]);
  if (summary != NULL)
    fprintf (stderr, "wordpatch-cli: warning: %s; using the other %u\n", summary,
             wp_dataset_get_n_pairs (dataset));
}

int
wp_cli_fail (const GError *error)
{
  fprintf (stderr, "wordpatch-cli: %s\n", error->message);
  return 1;
}

void
wp_cli_print_json (JsonNode *root)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  text = json_generator_to_data (generator, NULL);
  printf ("%s\n", text);
}

void
wp_cli_add_number (JsonBuilder *builder,
                   const char  *name,
                   double       value)
{
  json_builder_set_member_name (builder, name);
  if (isfinite (value))
    json_builder_add_double_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

void
wp_cli_add_float_array (JsonBuilder *builder,
                        const float *values,
                        int          n)
{
  json_builder_begin_array (builder);
  for (int i = 0; i < n; i++)
    json_builder_add_double_value (builder, values[i]);
  json_builder_end_array (builder);
}

void
wp_cli_add_matrix (JsonBuilder *builder,
                   const char  *name,
                   const float *values,
                   int          rows,
                   int          cols)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_array (builder);
  for (int r = 0; r < rows; r++)
    wp_cli_add_float_array (builder, values + (gsize) r * cols, cols);
  json_builder_end_array (builder);
}

void
wp_cli_add_tokens (JsonBuilder           *builder,
                   const WpModel         *model,
                   const WpTextEmbedding *text)
{
  json_builder_set_member_name (builder, "tokens");
  json_builder_begin_array (builder);
  for (int t = 0; t < text->n_tokens; t++) {
    g_autofree char *token_text = wp_tokenizer_dup_token_text (model->tokenizer, text->ids[t]);

    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "id");
    json_builder_add_int_value (builder, text->ids[t]);
    json_builder_set_member_name (builder, "text");
    json_builder_add_string_value (builder, token_text);
    json_builder_set_member_name (builder, "word");
    json_builder_add_int_value (builder, text->word_of_token[t]);
    json_builder_end_object (builder);
  }
  json_builder_end_array (builder);
}
