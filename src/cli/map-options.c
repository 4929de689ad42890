#include "map-options.h"

#include <string.h>

void
wp_cli_map_args_init (WpCliMapArgs *args)
{
  memset (args, 0, sizeof *args);
  args->legrad_layers = 0;
}

void
wp_cli_map_args_clear (WpCliMapArgs *args)
{
  g_clear_pointer (&args->method, g_free);
  g_clear_pointer (&args->query, g_free);
  g_clear_pointer (&args->template_text, g_free);
  g_clear_pointer (&args->crop, g_free);
}

GOptionEntry *
wp_cli_map_args_entries (WpCliMapArgs       *args,
                         const GOptionEntry *entries)
{
  const GOptionEntry map_entries[] = {
    { "method", 0, 0, G_OPTION_ARG_STRING, &args->method,
      "Map methods, comma-separated: filip (default), sparc, maskclip, sclip, clearclip, naclip, "
      "gradcam, chefer, legrad, or all; add labels for their label maps",
      "M[,M...]" },
    { "query", 0, 0, G_OPTION_ARG_STRING, &args->query,
      "token (each word's own tokens in the caption) or prompt (each word, or comma-separated "
      "phrase, alone through --template); default: prompt for CLIP-objective models, token for "
      "FILIP and SPARC ones",
      "KIND" },
    { "template", 0, 0, G_OPTION_ARG_STRING, &args->template_text,
      "Prompt queries' template, {} standing for the word (default \"" WP_DEFAULT_TEMPLATE "\")",
      "TEXT" },
    { "surgery", 0, 0, G_OPTION_ARG_NONE, &args->surgery,
      "Forward methods: subtract the queries' mean map (one query: the empty query's)", NULL },
    { "legrad-layers", 0, 0, G_OPTION_ARG_INT, &args->legrad_layers,
      "LeGrad over the last K blocks (default: all)", "K" },
    { "crop", 0, 0, G_OPTION_ARG_STRING, &args->crop,
      "center (CLIP's square, default) or none (the whole image, its aspect kept)", "MODE" },
    { "resolution", 0, 0, G_OPTION_ARG_INT, &args->resolution,
      "Pixels of the image's shorter side as the model sees it (default: the model's size)",
      "PX" },
  };
  gsize         n = 0;
  GOptionEntry *all;

  while (entries[n].long_name != NULL)
    n++;
  all = g_new0 (GOptionEntry, n + G_N_ELEMENTS (map_entries) + 1);
  memcpy (all, entries, n * sizeof *all);
  memcpy (all + n, map_entries, sizeof map_entries);
  return all;
}

/* A usage error naming the option. */
static gboolean
usage (GError    **error,
       const char *format,
       ...) G_GNUC_PRINTF (2, 3);

static gboolean
usage (GError    **error,
       const char *format,
       ...)
{
  g_autofree char *message = NULL;
  va_list          args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, WP_ERROR, WP_ERROR_INVALID, message);
  return FALSE;
}

gboolean
wp_cli_map_args_finish (WpCliMapArgs  *args,
                        const WpModel *model,
                        GError       **error)
{
  g_autofree char *methods = NULL;
  g_auto (GStrv) names = NULL;
  GString *list = g_string_new (NULL);

  wp_map_options_init (&args->maps);
  args->view.crop = WP_CROP_CENTER;
  args->labels = FALSE;
  /* "labels" is not a method but the way to show the methods named with it. */
  names = g_strsplit (args->method != NULL ? args->method : "filip", ",", -1);
  for (int i = 0; names[i] != NULL; i++) {
    if (strcmp (g_strstrip (names[i]), "labels") == 0)
      args->labels = TRUE;
    else
      g_string_append_printf (list, "%s%s", list->len > 0 ? "," : "", names[i]);
  }
  methods = g_string_free (list, list->len == 0);
  if (methods == NULL)
    methods = g_strdup ("filip");
  if (!wp_map_methods_parse (methods, &args->maps.methods, args->order, &args->n_order, error)) {
    g_prefix_error (error, "--method: ");
    return FALSE;
  }
  args->maps.methods |= WP_MAP_BIT (WP_MAP_FILIP) | WP_MAP_BIT (WP_MAP_SPARC);

  if (args->query == NULL)
    args->maps.query = wp_map_default_query (model);
  else if (strcmp (args->query, "token") == 0)
    args->maps.query = WP_QUERY_TOKEN;
  else if (strcmp (args->query, "prompt") == 0)
    args->maps.query = WP_QUERY_PROMPT;
  else
    return usage (error, "--query: unknown kind '%s' (token or prompt)", args->query);
  if (args->template_text != NULL && strstr (args->template_text, "{}") == NULL)
    return usage (error, "--template: '%s' has no {} for the word", args->template_text);
  args->maps.template_text = args->template_text;
  args->maps.surgery = args->surgery;
  if (args->legrad_layers < 0)
    return usage (error, "--legrad-layers must be 0 (all) or more, not %d", args->legrad_layers);
  args->maps.legrad_layers = args->legrad_layers;

  if (args->crop == NULL || strcmp (args->crop, "center") == 0)
    args->view.crop = WP_CROP_CENTER;
  else if (strcmp (args->crop, "none") == 0)
    args->view.crop = WP_CROP_NONE;
  else
    return usage (error, "--crop: unknown mode '%s' (center or none)", args->crop);
  if (args->resolution < 0 || args->resolution > WP_IMAGE_MAX_VIEW)
    return usage (error, "--resolution must be 1 to %d pixels, not %d", WP_IMAGE_MAX_VIEW,
                  args->resolution);
  args->view.resolution = args->resolution;
  return TRUE;
}

char *
wp_cli_map_args_to_string (const WpCliMapArgs *args)
{
  GString *out = g_string_new (NULL);

  for (int i = 0; i < args->n_order; i++)
    g_string_append_printf (out, "%s%s", i > 0 ? "," : "",
                            wp_map_method_to_string (args->order[i]));
  if (args->labels)
    g_string_append (out, ",labels");
  return g_string_free (out, FALSE);
}
