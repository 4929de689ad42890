#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "figure.h"
#include "map-options.h"

/* --scale auto | fixed:LO,HI */
static gboolean
parse_scale (const char    *text,
             WpFigureStyle *style)
{
  char *end;

  if (text == NULL || strcmp (text, "auto") == 0)
    return TRUE;
  if (!g_str_has_prefix (text, "fixed:"))
    return FALSE;
  style->lo = g_ascii_strtod (text + 6, &end);
  if (end == text + 6 || *end != ',')
    return FALSE;
  text = end + 1;
  style->hi = g_ascii_strtod (text, &end);
  style->fixed_scale = TRUE;
  return end != text && *end == '\0' && isfinite (style->lo) && isfinite (style->hi) &&
         style->hi > style->lo;
}

/* The words named in --tokens (comma-separated, "word" or "word#occurrence" counted from 0). */
static gboolean
select_words (const WpWordMaps *maps,
              const char       *list,
              gboolean          skip_absent,
              GArray           *words,
              GError          **error)
{
  g_auto (GStrv) names = g_strsplit (list, ",", -1);

  for (guint i = 0; names[i] != NULL; i++) {
    char   *name = g_strstrip (names[i]);
    char   *hash = strchr (name, '#');
    guint64 occurrence = 0;
    int     word;

    if (hash != NULL) {
      *hash = '\0';
      if (!g_ascii_string_to_unsigned (hash + 1, 10, 0, 1000, &occurrence, NULL)) {
        g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "--tokens: '%s#%s' is not word#occurrence",
                     name, hash + 1);
        return FALSE;
      }
    }
    word = wp_word_maps_find_word (maps, name, (int) occurrence);
    if (word < 0 && skip_absent)
      continue;
    if (word < 0) {
      g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "--tokens: the caption has no word '%s'%s",
                   name, occurrence > 0 ? " that often" : "");
      return FALSE;
    }
    g_array_append_val (words, word);
  }
  return TRUE;
}

/* "name": b - a over P patches */
static void
add_difference (JsonBuilder *builder,
                const char  *name,
                const float *b,
                const float *a,
                int          P)
{
  g_autofree float *difference = g_new (float, P);

  for (int p = 0; p < P; p++)
    difference[p] = b[p] - a[p];
  json_builder_set_member_name (builder, name);
  wp_cli_add_float_array (builder, difference, P);
}

/* One model's maps as members of the object being built: the grid, the tokens, and per query
 * its text and one array per computed method. With compared (the other model's maps, against
 * compared->maps), each word the figure compares also gets its "difference", these maps minus
 * compared->maps (filip and sparc), when the two have the same patch grid. */
static void
add_maps_members (JsonBuilder           *builder,
                  const WpModel         *model,
                  const WpWordMaps      *maps,
                  const WpTextEmbedding *text,
                  const WpFigure        *compared)
{
  const int P = maps->n_patches;

  json_builder_set_member_name (builder, "rows");
  json_builder_add_int_value (builder, maps->rows);
  json_builder_set_member_name (builder, "cols");
  json_builder_add_int_value (builder, maps->cols);
  if (maps->rows == maps->cols) {
    json_builder_set_member_name (builder, "grid");
    json_builder_add_int_value (builder, maps->rows);
  }
  json_builder_set_member_name (builder, "crop");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "x");
  json_builder_add_double_value (builder, maps->crop.x);
  json_builder_set_member_name (builder, "y");
  json_builder_add_double_value (builder, maps->crop.y);
  json_builder_set_member_name (builder, "width");
  json_builder_add_double_value (builder, maps->crop.width);
  json_builder_set_member_name (builder, "height");
  json_builder_add_double_value (builder, maps->crop.height);
  json_builder_end_object (builder);
  wp_cli_add_tokens (builder, model, text);
  wp_cli_add_matrix (builder, "token_filip", maps->token_filip, maps->n_tokens, P);
  if (maps->token_values[WP_MAP_SPARC] != NULL)
    wp_cli_add_matrix (builder, "token_sparc", maps->token_values[WP_MAP_SPARC], maps->n_tokens,
                       P);
  json_builder_set_member_name (builder, "words");
  json_builder_begin_array (builder);
  for (int w = 0; w < maps->n_words; w++) {
    const WpWordMap *word = &maps->words[w];

    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "text");
    json_builder_add_string_value (builder, word->text);
    if (maps->query == WP_QUERY_TOKEN) {
      json_builder_set_member_name (builder, "first_token");
      json_builder_add_int_value (builder, word->first_token);
      json_builder_set_member_name (builder, "n_tokens");
      json_builder_add_int_value (builder, word->n_tokens);
    }
    for (int m = 0; m < WP_N_MAP_METHODS; m++) {
      if (word->values[m] == NULL)
        continue;
      json_builder_set_member_name (builder, wp_map_method_to_string ((WpMapMethod) m));
      wp_cli_add_float_array (builder, word->values[m], P);
    }
    if (compared != NULL && wp_figure_compares_word (compared, w) &&
        compared->maps->rows == maps->rows && compared->maps->cols == maps->cols) {
      const WpWordMap *base = &compared->maps->words[w];

      json_builder_set_member_name (builder, "difference");
      json_builder_begin_object (builder);
      add_difference (builder, "filip", word->values[WP_MAP_FILIP], base->values[WP_MAP_FILIP], P);
      add_difference (builder, "sparc", word->values[WP_MAP_SPARC], base->values[WP_MAP_SPARC], P);
      json_builder_end_object (builder);
    }
    json_builder_end_object (builder);
  }
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "labels");
  json_builder_begin_object (builder);
  for (int m = 0; m < WP_N_MAP_METHODS; m++) {
    if (maps->labels[m] == NULL)
      continue;
    json_builder_set_member_name (builder, wp_map_method_to_string ((WpMapMethod) m));
    json_builder_begin_array (builder);
    for (int p = 0; p < P; p++)
      json_builder_add_int_value (builder, maps->labels[m][p]);
    json_builder_end_array (builder);
  }
  json_builder_end_object (builder);
}

/* The maps of the figure (and of its comparison, other_path being the second model as given). */
static void
add_maps_json (const WpFigure        *figure,
               const WpModel         *model,
               const WpTextEmbedding *text,
               const WpModel         *other,
               const char            *other_path,
               const WpTextEmbedding *other_text,
               const char            *image_path,
               const WpCliMapArgs    *args,
               const char            *path,
               GError               **error)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *methods = wp_cli_map_args_to_string (args);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "image");
  json_builder_add_string_value (builder, image_path);
  json_builder_set_member_name (builder, "caption");
  json_builder_add_string_value (builder, figure->caption);
  json_builder_set_member_name (builder, "method");
  json_builder_add_string_value (builder, methods);
  json_builder_set_member_name (builder, "query");
  json_builder_add_string_value (builder,
                                 args->maps.query == WP_QUERY_PROMPT ? "prompt" : "token");
  if (args->maps.query == WP_QUERY_PROMPT) {
    json_builder_set_member_name (builder, "template");
    json_builder_add_string_value (builder, args->maps.template_text != NULL
                                              ? args->maps.template_text
                                              : WP_DEFAULT_TEMPLATE);
  }
  json_builder_set_member_name (builder, "surgery");
  json_builder_add_boolean_value (builder, args->maps.surgery);
  add_maps_members (builder, model, figure->maps, text, NULL);
  if (figure->other_maps != NULL) {
    json_builder_set_member_name (builder, "compare");
    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "model");
    json_builder_add_string_value (builder, other_path);
    add_maps_members (builder, other, figure->other_maps, other_text, figure);
    json_builder_end_object (builder);
  }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_to_file (generator, path, error);
}

/* What every figure of one invocation shares. */
typedef struct {
  WpModel    *model;
  const char *model_path; /* as given, NULL for the bundled model */
  char       *model_sha256;
  char       *label;
  /* --compare: the second model, NULL without */
  WpModel            *other;
  const char         *other_path;
  char               *other_sha256;
  char               *other_label;
  WpFigureStyle       style;
  const WpCliMapArgs *maps;
  const char         *tokens;
  int                 width, height;
  gboolean            stored_orientation;
} Job;

static char *
weights_sha256 (const WpModel *model)
{
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) model->params,
                                      model->n_params * sizeof (float));
}

/* A comparison's column title: the model as given on the command line, and its step when it is
 * a checkpoint. */
static char *
model_label (const char    *path,
             const WpModel *model)
{
  const char *name = path != NULL ? path : "bundled";

  return model->step > 0 ? g_strdup_printf ("%s, step %" G_GINT64_FORMAT, name, model->step)
                         : g_strdup (name);
}

/* The command line that draws this one figure again, for the PNG's metadata. */
static char *
figure_command (const Job  *job,
                const char *image_path,
                const char *caption,
                const char *out)
{
  GString         *command = g_string_new ("wordpatch-cli heatmap");
  g_autofree char *size = NULL;

  if (job->model_path != NULL)
    wp_figure_append_option (command, "--model", job->model_path);
  if (job->other_path != NULL)
    wp_figure_append_option (command, "--compare", job->other_path);
  wp_figure_append_option (command, "--image", image_path);
  if (job->stored_orientation)
    wp_figure_append_option (command, "--stored-orientation", NULL);
  wp_figure_append_option (command, "--text", caption);
  if (job->tokens != NULL)
    wp_figure_append_option (command, "--tokens", job->tokens);
  {
    g_autofree char *methods = wp_cli_map_args_to_string (job->maps);
    g_autofree char *number = NULL;

    wp_figure_append_option (command, "--method", methods);
    wp_figure_append_option (command, "--query",
                             job->maps->maps.query == WP_QUERY_PROMPT ? "prompt" : "token");
    if (job->maps->template_text != NULL)
      wp_figure_append_option (command, "--template", job->maps->template_text);
    if (job->maps->surgery)
      wp_figure_append_option (command, "--surgery", NULL);
    if (job->maps->legrad_layers > 0) {
      number = g_strdup_printf ("%d", job->maps->legrad_layers);
      wp_figure_append_option (command, "--legrad-layers", number);
      g_clear_pointer (&number, g_free);
    }
    wp_figure_append_option (command, "--crop",
                             job->maps->view.crop == WP_CROP_NONE ? "none" : "center");
    if (job->maps->resolution > 0) {
      number = g_strdup_printf ("%d", job->maps->resolution);
      wp_figure_append_option (command, "--resolution", number);
    }
  }
  wp_figure_append_option (command, "--colormap", wp_colormap_to_string (job->style.colormap));
  if (job->style.fixed_scale) {
    g_autofree char *scale = g_strdup_printf ("fixed:%.17g,%.17g", job->style.lo, job->style.hi);

    wp_figure_append_option (command, "--scale", scale);
  }
  size = g_strdup_printf ("%.6g", job->style.opacity);
  wp_figure_append_option (command, "--opacity", size);
  g_clear_pointer (&size, g_free);
  if (job->style.grid)
    wp_figure_append_option (command, "--grid", NULL);
  if (job->style.smooth)
    wp_figure_append_option (command, "--smooth", NULL);
  if (job->style.patch_grid)
    wp_figure_append_option (command, "--patch-grid", NULL);
  size = g_strdup_printf ("%d", job->width);
  wp_figure_append_option (command, "--width", size);
  g_clear_pointer (&size, g_free);
  size = g_strdup_printf ("%d", job->height);
  wp_figure_append_option (command, "--height", size);
  wp_figure_append_option (command, "--out", out);
  return g_string_free (command, FALSE);
}

/* The maps of image and caption under model as args ask, and the caption's embedding (for its
 * tokens); NULL with an error naming the image when it cannot be seen that way. */
static WpWordMaps *
embed_maps (const WpModel      *model,
            const WpImage      *image,
            const char         *image_path,
            const char         *caption,
            const WpCliMapArgs *args,
            WpTextEmbedding   **text,
            GError            **error)
{
  g_autoptr (WpImageEmbedding) image_embedding =
    wp_embed_image_view (model, image, &args->view, args->maps.methods, error);

  if (image_embedding == NULL) {
    g_prefix_error (error, "%s: ", image_path);
    return NULL;
  }
  *text = wp_embed_text (model, caption);
  return wp_word_maps_new_full (model, image_embedding, *text, &args->maps, NULL);
}

/* One image (pair index of dataset, or the file) and caption: the maps, the JSON (when
 * json_path is set), the figure (when out is). In batch mode words of --tokens the caption lacks
 * are skipped, and warnings start a new line under the progress bar. */
static gboolean
render_one (const Job       *job,
            const WpDataset *dataset,
            guint            index,
            const char      *image_path,
            const char      *caption,
            gboolean         batch,
            const char      *out,
            const char      *json_path,
            GError         **error)
{
  const WpModel *model = job->model;
  /* A dataset's image may be in a shard rather than in the file its path names. */
  g_autoptr (WpImage) image =
    dataset != NULL ? wp_dataset_load_image (dataset, index, error)
                    : wp_cli_load_image (image_path, job->stored_orientation, error);
  g_autoptr (WpTextEmbedding) text = NULL;
  g_autoptr (WpTextEmbedding) other_text = NULL;
  g_autoptr (WpWordMaps) maps = NULL;
  g_autoptr (WpWordMaps) other_maps = NULL;
  g_autoptr (GArray) words = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GHashTable) png_text = NULL;
  g_autofree char *command = NULL;
  WpFigure         figure = { 0 };

  if (image == NULL)
    return FALSE;
  maps = embed_maps (model, image, image_path, caption, job->maps, &text, error);
  if (maps == NULL)
    return FALSE;
  if (job->tokens != NULL && !select_words (maps, job->tokens, batch, words, error))
    return FALSE;
  figure.image = image;
  figure.maps = maps;
  figure.caption = caption;
  figure.style = job->style;
  figure.style.method = job->maps->order[0];
  figure.style.labels = job->maps->labels;
  if (job->maps->n_order >= 2) {
    figure.methods = job->maps->order;
    figure.n_methods = job->maps->n_order;
  }
  figure.words = words->len > 0 ? (const int *) words->data : NULL;
  figure.n_words = (int) words->len;
  if (job->other != NULL) {
    other_maps =
      embed_maps (job->other, image, image_path, caption, job->maps, &other_text, error);
    if (other_maps == NULL)
      return FALSE;
    figure.other_maps = other_maps;
    figure.label = job->label;
    figure.other_label = job->other_label;
    for (int i = 0; i < (figure.words != NULL ? figure.n_words : maps->n_words); i++) {
      const int word = figure.words != NULL ? figure.words[i] : i;

      if (!wp_figure_compares_word (&figure, word))
        fprintf (stderr,
                 "%swordpatch-cli: warning: %s: %s splits the caption's word '%s' differently: "
                 "left out of the comparison\n",
                 batch ? "\n" : "", image_path, job->other_path, maps->words[word].text);
    }
  }
  if (json_path != NULL) {
    add_maps_json (&figure, model, text, job->other, job->other_path, other_text, image_path,
                   job->maps, json_path, error);
    if (error != NULL && *error != NULL)
      return FALSE;
  }
  if (out == NULL)
    return TRUE;

  command = figure_command (job, image_path, caption, out);
  png_text = wp_figure_new_png_text (&figure, model, job->model_sha256, image_path, command);
  if (job->other != NULL) {
    g_hash_table_insert (png_text, "wordpatch.compare_model", g_strdup (job->other->path));
    g_hash_table_insert (png_text, "wordpatch.compare_model_sha256", g_strdup (job->other_sha256));
  }
  return wp_figure_export (&figure, out, job->width, job->height, png_text, error);
}

static void
print_progress (guint done,
                guint total)
{
  const int width = 30, filled = (int) ((guint64) done * width / MAX (total, 1));

  fprintf (stderr, "\r[%.*s%*s] %u/%u", filled, "##############################", width - filled,
           "", done, total);
  if (done == total)
    fputc ('\n', stderr);
}

/* Every pair of a dataset (or every image with one caption): one figure each in out_dir. */
static int
render_dataset (const Job              *job,
                const char             *data_dir,
                const WpDatasetOptions *options,
                const char             *caption,
                const char             *out_dir,
                const char             *format)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (WpDataset) dataset = wp_cli_open_dataset (data_dir, options, &error);
  guint n, failed = 0;

  if (dataset == NULL)
    return wp_cli_fail (error);
  if (g_mkdir_with_parents (out_dir, 0755) != 0) {
    g_set_error (&error, G_FILE_ERROR, g_file_error_from_errno (errno),
                 "%s: cannot create folder: %s", out_dir, g_strerror (errno));
    return wp_cli_fail (error);
  }
  n = wp_dataset_get_n_pairs (dataset);
  for (guint i = 0; i < n; i++) {
    const WpPair    *pair = wp_dataset_get_pair (dataset, i);
    g_autofree char *base = g_path_get_basename (pair->image_path);
    g_autofree char *dot = strrchr (base, '.') != NULL
                             ? g_strndup (base, (gsize) (strrchr (base, '.') - base))
                             : g_strdup (base);
    g_autofree char *name = g_strdup_printf ("%06u-%s.%s", i, dot, format);
    g_autofree char *out = g_build_filename (out_dir, name, NULL);

    if (!render_one (job, dataset, i, pair->image_path,
                     caption != NULL ? caption : pair->caption, TRUE, out, NULL, &error)) {
      fprintf (stderr, "\nwordpatch-cli: warning: %s\n", error->message);
      g_clear_error (&error);
      failed++;
    }
    print_progress (i + 1, n);
  }
  printf ("wrote %u figures to %s\n", n - failed, out_dir);
  return failed == 0 ? 0 : 1;
}

/* A figure format, as the name's extension too (any case, as wp_figure_export() takes it). */
static gboolean
known_format (const char *name)
{
  return g_ascii_strcasecmp (name, "png") == 0 || g_ascii_strcasecmp (name, "svg") == 0 ||
         g_ascii_strcasecmp (name, "pdf") == 0;
}

int
wp_cli_heatmap (int    argc,
                char **argv)
{
  g_autofree char *model_path = NULL;
  g_autofree char *compare_path = NULL;
  g_autofree char *image_path = NULL;
  g_autofree char *caption = NULL;
  g_autofree char *tokens = NULL;
  g_autofree char *scale = NULL;
  g_autofree char *colormap_name = NULL;
  g_autofree char *out = NULL;
  g_autofree char *json_path = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *out_dir = NULL;
  g_autofree char *format = NULL;
  gint             width = 900, height = 600;
  gdouble          opacity = -1.0;
  gboolean         grid = FALSE, smooth = FALSE, patch_grid = FALSE, stored_orientation = FALSE;
  GOptionEntry     entries[] = {
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
          "Model folder, .safetensors or training run (default: the bundled model)", "DIR" },
        { "compare", 0, 0, G_OPTION_ARG_FILENAME, &compare_path,
          "Compare with a second model (model folder, .safetensors or training run): per word both "
              "maps and their difference",
          "DIR2" },
        { "image", 'i', 0, G_OPTION_ARG_FILENAME, &image_path, "Image file", "IMG" },
        { "text", 't', 0, G_OPTION_ARG_STRING, &caption, "Caption", "TEXT" },
        WP_CLI_STORED_ORIENTATION_ENTRY (&stored_orientation),
        { "tokens", 'w', 0, G_OPTION_ARG_STRING, &tokens,
          "Words to show, comma-separated, word#N for its N-th occurrence (default: all)", "a,b" },
        { "grid", 0, 0, G_OPTION_ARG_NONE, &grid, "One small view per word", NULL },
        { "scale", 0, 0, G_OPTION_ARG_STRING, &scale,
          "auto (per map, default) or fixed:LO,HI shared by every map", "SCALE" },
        { "colormap", 0, 0, G_OPTION_ARG_STRING, &colormap_name,
          "viridis (default), magma or coolwarm",
          "NAME" },
        { "opacity", 0, 0, G_OPTION_ARG_DOUBLE, &opacity, "Overlay opacity, 0 to 1 (default 0.65)",
          "A" },
        { "smooth", 0, 0, G_OPTION_ARG_NONE, &smooth,
          "Bilinear between patch centres instead of blocks", NULL },
        { "patch-grid", 0, 0, G_OPTION_ARG_NONE, &patch_grid, "Draw the patch boundaries", NULL },
        { "width", 0, 0, G_OPTION_ARG_INT, &width, "Figure width in pixels (default 900)", "W" },
        { "height", 0, 0, G_OPTION_ARG_INT, &height, "Figure height in pixels (default 600)", "H" },
        { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Figure file: .png, .svg or .pdf", "FIG" },
        { "json", 0, 0, G_OPTION_ARG_FILENAME, &json_path,
          "Also write every token's and word's maps as JSON", "MAPS.json" },
        { "data", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir,
          "Batch: every image of a dataset (a folder, a file or shards), with its caption or "
              "--text",
          "PATH" },
        { "out-dir", 0, 0, G_OPTION_ARG_FILENAME, &out_dir,
          "Batch: folder for the figures, NNNNNN-IMAGE.FORMAT", "DIR" },
        { "format", 0, 0, G_OPTION_ARG_STRING, &format, "Batch: png (default), svg or pdf", "FMT" },
        { NULL }
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = NULL;
  g_autoptr (WpModel) other = NULL;
  g_auto (WpCliMapArgs) map_args;
  g_autofree GOptionEntry *all_entries = NULL;
  g_auto (WpCliSettings) cs = { 0 };
  static const char *const dataset_settings[] = { WP_CLI_DATASET_SETTINGS, NULL };
  const WpDatasetOptions  *dataset = &cs.settings.dataset;
  Job                      job = { 0 };
  int                      status = 0;

  wp_figure_style_init (&job.style);
  wp_cli_map_args_init (&map_args);
  all_entries = wp_cli_map_args_entries (&map_args, entries);
  wp_cli_settings_init (&cs, FALSE);
  if (!wp_cli_parse_group (&argc, &argv, "heatmap",
                           "draw a caption's word maps over an image as a PNG, SVG or PDF figure",
                           wp_cli_settings_group (&cs, dataset_settings, all_entries)))
    return 2;
  if (data_dir == NULL &&
      (dataset->images != NULL || dataset->instances != NULL || dataset->split != NULL ||
       dataset->csv_img_key != NULL || dataset->csv_caption_key != NULL ||
       dataset->csv_separator != NULL))
    return wp_cli_usage_error ("heatmap", "the dataset options need --data");
  if (data_dir != NULL
        ? (out_dir == NULL || image_path != NULL || out != NULL || json_path != NULL)
        : (image_path == NULL || caption == NULL || (out == NULL && json_path == NULL)))
    return wp_cli_usage_error ("heatmap", "give --image, --text and --out (or --json), or --data "
                                          "and --out-dir");
  if (data_dir != NULL && stored_orientation)
    return wp_cli_usage_error ("heatmap", "--stored-orientation goes with --image (a dataset's "
                                          "images are always read as stored)");
  if (format != NULL && !known_format (format))
    return wp_cli_usage_error ("heatmap", "unknown --format '%s' (png, svg or pdf)", format);
  if (out != NULL && (strrchr (out, '.') == NULL || !known_format (strrchr (out, '.') + 1)))
    return wp_cli_usage_error ("heatmap", "--out %s must end in .png, .svg or .pdf", out);
  if (colormap_name != NULL && !wp_colormap_from_string (colormap_name, &job.style.colormap))
    return wp_cli_usage_error ("heatmap", "unknown --colormap '%s' (viridis, magma or coolwarm)",
                               colormap_name);
  if (!parse_scale (scale, &job.style))
    return wp_cli_usage_error ("heatmap", "--scale must be auto or fixed:LO,HI with LO < HI");
  if (opacity > 1.0 || (opacity < 0.0 && opacity != -1.0))
    return wp_cli_usage_error ("heatmap", "--opacity must be between 0 and 1");
  if (opacity >= 0.0)
    job.style.opacity = opacity;
  job.style.grid = grid;
  job.style.smooth = smooth;
  job.style.patch_grid = patch_grid;

  model = wp_cli_load_model (model_path, &error);
  if (model == NULL)
    return wp_cli_fail (error);
  if (!wp_cli_map_args_finish (&map_args, model, &error))
    return wp_cli_usage_error ("heatmap", "%s", error->message);
  if (compare_path != NULL && map_args.n_order > 1)
    return wp_cli_usage_error ("heatmap", "--compare shows one method; --method names %d",
                               map_args.n_order);
  job.maps = &map_args;
  if (compare_path != NULL && (other = wp_model_load (compare_path, &error)) == NULL)
    return wp_cli_fail (error);
  job.model = model;
  job.model_path = model_path;
  job.model_sha256 = weights_sha256 (model);
  job.label = model_label (model_path, model);
  if (other != NULL) {
    job.other = other;
    job.other_path = compare_path;
    job.other_sha256 = weights_sha256 (other);
    job.other_label = model_label (compare_path, other);
  }
  job.tokens = tokens;
  job.width = width;
  job.height = height;
  job.stored_orientation = stored_orientation;
  if (data_dir != NULL)
    status = render_dataset (&job, data_dir, &cs.settings.dataset, caption, out_dir,
                             format != NULL ? format : "png");
  else if (!render_one (&job, NULL, 0, image_path, caption, FALSE, out, json_path, &error))
    status = wp_cli_fail (error);
  else if (out != NULL)
    printf ("wrote %s\n", out);
  g_free (job.model_sha256);
  g_free (job.label);
  g_free (job.other_sha256);
  g_free (job.other_label);
  return status;
}
