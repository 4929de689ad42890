#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "map-options.h"

/* ---- JSON ---- */

/* The scores of FILIP's and SPARC's maps, the two every result and word has. */
static void
add_filip_sparc_members (JsonBuilder       *builder,
                         const WpEvalScore *scores)
{
  wp_cli_add_number (builder, "pointing_filip", scores[WP_MAP_FILIP].pointing);
  wp_cli_add_number (builder, "pointing_sparc", scores[WP_MAP_SPARC].pointing);
  wp_cli_add_number (builder, "iou_filip", scores[WP_MAP_FILIP].iou);
  wp_cli_add_number (builder, "iou_sparc", scores[WP_MAP_SPARC].iou);
  wp_cli_add_number (builder, "iou_hit_filip", scores[WP_MAP_FILIP].iou_hit);
  wp_cli_add_number (builder, "iou_hit_sparc", scores[WP_MAP_SPARC].iou_hit);
}

static void
add_word_members (JsonBuilder      *builder,
                  const WpEvalWord *word)
{
  json_builder_set_member_name (builder, "count");
  json_builder_add_int_value (builder, word->count);
  add_filip_sparc_members (builder, word->scores);
}

static void
add_word_list (JsonBuilder  *builder,
               const char   *name,
               const GArray *words)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_object (builder);
  for (guint w = 0; w < words->len; w++) {
    const WpEvalWord *word = &g_array_index (words, WpEvalWord, w);

    json_builder_set_member_name (builder, word->word);
    json_builder_begin_object (builder);
    add_word_members (builder, word);
    json_builder_end_object (builder);
  }
  json_builder_end_object (builder);
}

static void
add_score_members (JsonBuilder       *builder,
                   const WpEvalScore *score)
{
  wp_cli_add_number (builder, "pointing", score->pointing);
  wp_cli_add_number (builder, "iou", score->iou);
  wp_cli_add_number (builder, "iou_hit", score->iou_hit);
}

/* "methods": {"legrad": {"pointing", "iou", "iou_hit", "classes": {"colour": {"count", ...}}}} */
static void
add_methods (JsonBuilder        *builder,
             const WpEvalResult *result)
{
  json_builder_set_member_name (builder, "methods");
  json_builder_begin_object (builder);
  for (int m = 0; m < WP_N_MAP_METHODS; m++) {
    if (!(result->methods & WP_MAP_BIT (m)))
      continue;
    json_builder_set_member_name (builder, wp_map_method_to_string ((WpMapMethod) m));
    json_builder_begin_object (builder);
    add_score_members (builder, &result->scores[m]);
    json_builder_set_member_name (builder, "classes");
    json_builder_begin_object (builder);
    for (int c = 0; c < WP_WORD_CLASS_N; c++) {
      json_builder_set_member_name (builder, result->classes[c].word);
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "count");
      json_builder_add_int_value (builder, result->classes[c].count);
      add_score_members (builder, &result->classes[c].scores[m]);
      json_builder_end_object (builder);
    }
    json_builder_end_object (builder);
    json_builder_end_object (builder);
  }
  json_builder_end_object (builder);
}

static void
print_json (const WpEvalResult *result,
            WpRetrieval         retrieval,
            const char         *objective,
            const WpCliMapArgs *maps)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "pairs");
  json_builder_add_int_value (builder, result->pairs);
  json_builder_set_member_name (builder, "images");
  json_builder_add_int_value (builder, result->images);
  json_builder_set_member_name (builder, "texts");
  json_builder_add_int_value (builder, result->texts);
  json_builder_set_member_name (builder, "similarity");
  json_builder_add_string_value (builder, wp_retrieval_to_string (retrieval));
  json_builder_set_member_name (builder, "objective");
  if (objective != NULL)
    json_builder_add_string_value (builder, objective);
  else
    json_builder_add_null_value (builder);
  wp_cli_add_number (builder, "i2t_r1", result->i2t_r1);
  wp_cli_add_number (builder, "i2t_r5", result->i2t_r5);
  wp_cli_add_number (builder, "i2t_r10", result->i2t_r10);
  wp_cli_add_number (builder, "t2i_r1", result->t2i_r1);
  wp_cli_add_number (builder, "t2i_r5", result->t2i_r5);
  wp_cli_add_number (builder, "t2i_r10", result->t2i_r10);
  json_builder_set_member_name (builder, "boxed_words");
  json_builder_add_int_value (builder, result->boxed_words);
  json_builder_set_member_name (builder, "unmatched_boxes");
  json_builder_add_int_value (builder, result->unmatched_boxes);
  add_filip_sparc_members (builder, result->scores);
  json_builder_set_member_name (builder, "query");
  json_builder_add_string_value (builder,
                                 maps->maps.query == WP_QUERY_PROMPT ? "prompt" : "token");
  add_methods (builder, result);

  json_builder_set_member_name (builder, "classes");
  json_builder_begin_object (builder);
  for (int c = 0; c < WP_WORD_CLASS_N; c++) {
    json_builder_set_member_name (builder, result->classes[c].word);
    json_builder_begin_object (builder);
    add_word_members (builder, &result->classes[c]);
    json_builder_end_object (builder);
  }
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "rivals");
  json_builder_begin_object (builder);
  for (int c = 0; c < 2; c++) {
    json_builder_set_member_name (builder, result->classes[c].word);
    json_builder_begin_object (builder);
    for (int r = 1; r >= 0; r--) {
      json_builder_set_member_name (builder, r ? "rival" : "no_rival");
      json_builder_begin_object (builder);
      add_word_members (builder, &result->rivals[c][r]);
      json_builder_end_object (builder);
    }
    json_builder_end_object (builder);
  }
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "background");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "patches");
  json_builder_add_int_value (builder, result->background_patches);
  for (int c = 0; c < WP_WORD_CLASS_N; c++)
    wp_cli_add_number (builder, result->classes[c].word, result->background_label[c]);
  wp_cli_add_number (builder, "start_end", result->background_label_special);
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "patch_variance");
  json_builder_begin_object (builder);
  wp_cli_add_number (builder, "position", result->patch_position_share);
  wp_cli_add_number (builder, "image", result->patch_image_share);
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "phrases");
  json_builder_begin_object (builder);
  {
    WpEvalWord all = { NULL, result->phrases, { { 0 } } };

    memcpy (all.scores, result->phrase_scores, sizeof all.scores);
    add_word_members (builder, &all);
  }
  json_builder_set_member_name (builder, "unmatched");
  json_builder_add_int_value (builder, result->unmatched_phrases);
  add_word_list (builder, "types", result->phrase_types);
  json_builder_end_object (builder);

  add_word_list (builder, "words", result->words);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  wp_cli_print_json (root);
}

/* ---- text ---- */

/* A value in a 6-character column, "-" when undefined. */
static void
print_value (double value)
{
  if (isfinite (value))
    printf ("  %5.3f", value);
  else
    printf ("  %5s", "-");
}

static void
print_word_row (const char       *name,
                const WpEvalWord *word)
{
  const WpEvalScore *filip = &word->scores[WP_MAP_FILIP], *sparc = &word->scores[WP_MAP_SPARC];

  printf ("  %-16s %5u ", name, word->count);
  print_value (filip->pointing);
  print_value (sparc->pointing);
  printf (" ");
  print_value (filip->iou);
  print_value (sparc->iou);
  printf (" ");
  print_value (filip->iou_hit);
  print_value (sparc->iou_hit);
  printf ("\n");
}

/* value right-aligned in width characters, "-" when undefined. */
static void
print_cell (double value,
            int    width)
{
  if (isfinite (value))
    printf ("%*.3f", width, value);
  else
    printf ("%*s", width, "-");
}

/* One row a method: pointing, IoU and IoU >= 0.5 over all boxed words, then pointing per word
 * class. */
static void
print_methods (const WpEvalResult *result,
               const WpCliMapArgs *maps)
{
  printf ("\nmaps by method (%s queries%s%s%s, %s view%s):\n",
          maps->maps.query == WP_QUERY_PROMPT ? "prompt" : "token",
          maps->maps.query == WP_QUERY_PROMPT ? " through \"" : "",
          maps->maps.query == WP_QUERY_PROMPT
            ? (maps->maps.template_text != NULL ? maps->maps.template_text : WP_DEFAULT_TEMPLATE)
            : "",
          maps->maps.query == WP_QUERY_PROMPT ? "\"" : "",
          maps->view.crop == WP_CROP_NONE ? "whole-image" : "centre-crop",
          maps->maps.surgery ? ", surgery" : "");
  printf ("  %-10s %8s %8s %8s  |  pointing:", "method", "pointing", "IoU", "IoU>=0.5");
  for (int c = 0; c < WP_WORD_CLASS_N; c++)
    printf (" %7.7s", result->classes[c].word);
  printf ("\n");
  for (int i = 0; i < maps->n_order; i++) {
    const WpMapMethod  m = maps->order[i];
    const WpEvalScore *score = &result->scores[m];

    printf ("  %-10s", wp_map_method_to_string (m));
    print_cell (score->pointing, 9);
    print_cell (score->iou, 9);
    print_cell (score->iou_hit, 9);
    printf ("  |  %9s", "");
    for (int c = 0; c < WP_WORD_CLASS_N; c++)
      print_cell (result->classes[c].scores[m].pointing, 8);
    printf ("\n");
  }
}

static void
print_text (const WpEvalResult *result,
            WpRetrieval         retrieval,
            const char         *why,
            const WpCliMapArgs *maps)
{
  WpEvalWord overall = { NULL, result->boxed_words, { { 0 } } };

  memcpy (overall.scores, result->scores, sizeof overall.scores);

  printf ("pairs: %u (%u distinct images, %u distinct captions)\n\n", result->pairs, result->images,
          result->texts);
  printf ("retrieval by %s similarity (%s; %s)\n", wp_retrieval_to_string (retrieval),
          retrieval == WP_RETRIEVAL_FILIP   ? "FILIP's sI image -> text, sT text -> image"
          : retrieval == WP_RETRIEVAL_SPARC ? "SPARC's mean cosine of tokens and their groupings"
                                            : "cosine of the pooled embeddings",
          why);
  printf ("  %-14s  %5s  %5s  %5s\n", "", "R@1", "R@5", "R@10");
  printf ("  %-14s", "image -> text");
  print_value (result->i2t_r1);
  print_value (result->i2t_r5);
  print_value (result->i2t_r10);
  printf ("\n  %-14s", "text -> image");
  print_value (result->t2i_r1);
  print_value (result->t2i_r5);
  print_value (result->t2i_r10);
  printf ("\n\n");

  printf ("localisation: %u boxed %s, %u unmatched %s; FILIP map vs SPARC grouping\n",
          result->boxed_words, result->boxed_words == 1 ? "word" : "words", result->unmatched_boxes,
          result->unmatched_boxes == 1 ? "box" : "boxes");
  printf ("  %-16s %5s %14s %14s %14s\n", "", "", "pointing game", "mean IoU", "IoU >= 0.5");
  printf ("  %-16s %5s %14s %14s %14s\n", "", "count", "FILIP  SPARC", "FILIP  SPARC",
          "FILIP  SPARC");
  print_word_row ("all", &overall);
  for (int c = 0; c < WP_WORD_CLASS_N; c++) {
    g_autofree char *name = g_strdup_printf ("class %s", result->classes[c].word);

    print_word_row (name, &result->classes[c]);
  }
  if (result->rivals[0][0].count + result->rivals[0][1].count + result->rivals[1][0].count +
        result->rivals[1][1].count >
      0) {
    printf (
      "  by rival (an object of the same colour and another shape; from the dataset's objects):\n");
    for (int c = 0; c < 2; c++) {
      for (int r = 1; r >= 0; r--)
        print_word_row (result->rivals[c][r].word, &result->rivals[c][r]);
    }
  }
  if (result->background_patches > 0) {
    printf (
      "  background: %u patches outside every box; their most similar token (FILIP label) is a\n ",
      result->background_patches);
    for (int c = 0; c < WP_WORD_CLASS_N; c++)
      printf (" %s word %.3f,", result->classes[c].word, result->background_label[c]);
    printf (" start/end token %.3f\n", result->background_label_special);
  }
  if (!isnan (result->patch_position_share))
    printf ("  patch embeddings' variance: position %.3f, image %.3f (the rest: both)\n",
            result->patch_position_share, result->patch_image_share);
  if (result->phrases + result->unmatched_phrases > 0) {
    WpEvalWord all = { NULL, result->phrases, { { 0 } } };

    memcpy (all.scores, result->phrase_scores, sizeof all.scores);
    printf ("  grounded phrases (each by the mean of its words' maps), %u unmatched:\n",
            result->unmatched_phrases);
    print_word_row ("all phrases", &all);
    for (guint t = 0; t < result->phrase_types->len; t++) {
      const WpEvalWord *type = &g_array_index (result->phrase_types, WpEvalWord, t);
      g_autofree char  *name = g_strdup_printf ("type %s", type->word);

      print_word_row (name, type);
    }
  }
  if (result->words->len > 0)
    printf ("per word:\n");
  for (guint w = 0; w < result->words->len; w++) {
    const WpEvalWord *word = &g_array_index (result->words, WpEvalWord, w);

    print_word_row (word->word, word);
  }
  if (maps->method != NULL)
    print_methods (result, maps);
}

int
wp_cli_eval (int    argc,
             char **argv)
{
  g_autofree char *model_path = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *similarity = NULL;
  g_autofree char *why = NULL;
  gint             limit = G_MININT; /* not given */
  gboolean         json = FALSE;
  GOptionEntry     entries[] = {
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
          "Model folder or .safetensors file (default: the bundled model)", "DIR" },
        { "data", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir,
          "Dataset: a folder, a file or shards (captions.jsonl, open_clip CSV, COCO, Flickr30k "
              "Entities, WebDataset); boxes for localisation",
          "PATH" },
        { "similarity", 's', 0, G_OPTION_ARG_STRING, &similarity,
          "Retrieval similarity: global (cosine of the pooled embeddings), filip (sI / sT) or "
              "sparc (tokens against their groupings); default: the one the model's training "
              "trains (filip for FILIP models, sparc for SPARC models without the global term, "
              "else global)",
          "NAME" },
        { "limit", 'n', 0, G_OPTION_ARG_INT, &limit,
          "Evaluate only the first N pairs, in file order",
          "N" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object", NULL },
        { NULL }
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (WpModel) model = NULL;
  g_autoptr (WpDataset) dataset = NULL;
  g_autofree guint *indices = NULL;
  g_auto (WpEvalResult) result = { 0 };
  g_auto (WpCliMapArgs) map_args;
  g_autofree GOptionEntry *all_entries = NULL;
  g_auto (WpCliSettings) cs = { 0 };
  static const char *const dataset_settings[] = { WP_CLI_DATASET_SETTINGS, NULL };
  WpEvalOptions            options;
  guint                    n;

  wp_cli_map_args_init (&map_args);
  all_entries = wp_cli_map_args_entries (&map_args, entries);
  wp_cli_settings_init (&cs, FALSE);
  if (!wp_cli_parse_group (&argc, &argv, "eval",
                           "retrieval and word localisation of a model on a dataset",
                           wp_cli_settings_group (&cs, dataset_settings, all_entries)))
    return 2;
  wp_eval_options_init (&options);
  if (similarity != NULL && !wp_retrieval_from_string (similarity, &options.retrieval))
    return wp_cli_usage_error ("eval", "unknown --similarity '%s' (global, filip or sparc)",
                               similarity);
  if (limit != G_MININT && limit < 1)
    return wp_cli_usage_error ("eval", "--limit must be at least 1");
  if (data_dir == NULL)
    return wp_cli_usage_error ("eval", "--data PATH is required, a dataset");
  model = wp_cli_load_model (model_path, &error);
  if (model == NULL)
    return wp_cli_fail (error);
  if (!wp_cli_map_args_finish (&map_args, model, &error))
    return wp_cli_usage_error ("eval", "%s", error->message);
  options.maps = map_args.maps;
  options.view = map_args.view;
  if (similarity == NULL)
    options.retrieval = wp_retrieval_for_model (&model->config, &why);
  else
    why = g_strdup ("as --similarity asked");
  dataset = wp_cli_open_dataset (data_dir, &cs.settings.dataset, &error);
  if (dataset == NULL)
    return wp_cli_fail (error);

  n = wp_dataset_get_n_pairs (dataset);
  if (limit != G_MININT && (guint) limit < n)
    n = (guint) limit;
  indices = g_new (guint, n);
  for (guint i = 0; i < n; i++)
    indices[i] = i;
  if (!wp_evaluate (model, dataset, indices, n, &options, NULL, &result, &error))
    return wp_cli_fail (error);
  if (json)
    print_json (&result, options.retrieval, model->config.objective, &map_args);
  else
    print_text (&result, options.retrieval, why, &map_args);
  return 0;
}
