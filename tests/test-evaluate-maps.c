/* test-evaluate-maps.c: per-word maps against naive computations on a random tiny model (words,
 * repeated and truncated words, geometry, the methods' names, prompt queries and maps). */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "evaluate-fixtures.h"
#include "test-util.h"
#include "wordpatch/wordpatch.h"

/* ---- maps against naive computations ---- */

/* SPARC's weights as docs/algorithms.md ("SPARC") writes them, in double: row l of weights
 * (L, P). */
static void
naive_sparc_row (double      *row,
                 double      *normalised,
                 const float *token,
                 const float *patches,
                 int          P,
                 int          E)
{
  double min = INFINITY, max = -INFINITY, sum = 0.0;

  for (int p = 0; p < P; p++) {
    double s = 0.0;

    for (int e = 0; e < E; e++)
      s += (double) token[e] * patches[(gsize) p * E + e];
    row[p] = s;
    min = fmin (min, s);
    max = fmax (max, s);
  }
  if (max - min < 1e-8) {
    for (int p = 0; p < P; p++) {
      row[p] = 1.0 / P;
      normalised[p] = 1.0;
    }
    return;
  }
  for (int p = 0; p < P; p++) {
    normalised[p] = (row[p] - min) / (max - min);
    row[p] = normalised[p] >= 1.0 / P ? normalised[p] : 0.0;
    sum += row[p];
  }
  for (int p = 0; p < P; p++)
    row[p] /= sum;
}

static void
test_maps_naive (void)
{
  const WpModel *model = get_model ();
  g_autoptr (WpImage) image = make_image (80, 60, 1);
  g_autoptr (WpImageEmbedding) iemb = wp_embed_image (model, image);
  g_autoptr (WpTextEmbedding) temb =
    wp_embed_text (model, "a red xylophonists circle, unbelievably");
  g_autoptr (WpWordMaps) maps = wp_word_maps_new (model, iemb, temb);
  const char *const  expected[] = { "a", "red", "xylophonists", "circle", ",", "unbelievably" };
  const int          P = iemb->n_patches, T = temb->n_tokens, E = iemb->dim;
  g_autofree double *sparc = g_new (double, (gsize) T *P);
  g_autofree double *normalised = g_new (double, (gsize) T *P);
  g_autofree double *cosine = g_new (double, (gsize) T *P);
  int                zeros = 0, near_threshold = 0;

  g_assert_cmpint (maps->n_patches, ==, 64);
  g_assert_cmpint (maps->rows, ==, 8);
  g_assert_cmpint (maps->cols, ==, 8);
  g_assert_cmpint (maps->n_tokens, ==, T);
  g_assert_cmpint (wp_word_maps_get_n_words (maps), ==, G_N_ELEMENTS (expected));
  g_assert_cmpint (wp_word_maps_get_word_of_token (maps, 0), ==, -1);
  g_assert_cmpint (wp_word_maps_get_word_of_token (maps, T - 1), ==, -1);
  g_assert_cmpint (wp_word_maps_get_word_of_token (maps, T), ==, -1);

  for (int t = 0; t < T; t++) {
    naive_sparc_row (sparc + (gsize) t * P, normalised + (gsize) t * P,
                     temb->tokens_raw + (gsize) t * E, iemb->patches_raw, P, E);
    for (int p = 0; p < P; p++)
      cosine[(gsize) t * P + p] =
        naive_cosine (temb->tokens_raw + (gsize) t * E, iemb->patches_raw + (gsize) p * E, E);
  }

  /* Token rows: FILIP cosines, SPARC weights summing to 1 with exact zeros below 1/P. */
  for (int t = 0; t < T; t++) {
    double sum = 0.0;

    for (int p = 0; p < P; p++) {
      const gsize  k = (gsize) t * P + p;
      const double margin = fabs (normalised[k] - 1.0 / P);

      g_assert_cmpfloat_with_epsilon (maps->token_filip[k], cosine[k], 1e-5);
      sum += maps->token_values[WP_MAP_SPARC][k];
      if (margin < 1e-5) {
        near_threshold++;
        continue;
      }
      if (normalised[k] < 1.0 / P) {
        g_assert_cmpfloat (maps->token_values[WP_MAP_SPARC][k], ==, 0.0f);
        zeros++;
      } else {
        g_assert_cmpfloat (maps->token_values[WP_MAP_SPARC][k], >, 0.0f);
        g_assert_cmpfloat_with_epsilon (maps->token_values[WP_MAP_SPARC][k], sparc[k], 1e-5);
      }
    }
    g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
  }
  g_assert_cmpint (zeros, >, 0);
  g_assert_cmpint (near_threshold, <, T);

  /* Words: text, token ranges, mean rows. */
  for (int w = 0, next_token = 1; w < maps->n_words; w++) {
    const WpWordMap *word = wp_word_maps_get_word (maps, w);
    double           sparc_sum = 0.0;

    g_assert_cmpstr (word->text, ==, expected[w]);
    g_assert_cmpint (word->first_token, ==, next_token);
    g_assert_cmpint (word->n_tokens, >=, 1);
    next_token += word->n_tokens;
    for (int t = word->first_token; t < word->first_token + word->n_tokens; t++)
      g_assert_cmpint (wp_word_maps_get_word_of_token (maps, t), ==, w);
    for (int p = 0; p < P; p++) {
      double filip = 0.0, weight = 0.0;

      for (int t = word->first_token; t < word->first_token + word->n_tokens; t++) {
        filip += maps->token_filip[(gsize) t * P + p];
        weight += maps->token_values[WP_MAP_SPARC][(gsize) t * P + p];
      }
      g_assert_cmpfloat_with_epsilon (word->values[WP_MAP_FILIP][p], filip / word->n_tokens, 1e-6);
      g_assert_cmpfloat_with_epsilon (word->values[WP_MAP_SPARC][p], weight / word->n_tokens, 1e-6);
      sparc_sum += word->values[WP_MAP_SPARC][p];
    }
    g_assert_cmpfloat_with_epsilon (sparc_sum, 1.0, 1e-5);
    if (w == maps->n_words - 1)
      g_assert_cmpint (next_token, ==, T - 1);
  }
  /* The split word: four BPE tokens ("xy", "lo", "ph", "onists") with different maps. */
  {
    const WpWordMap *split = wp_word_maps_get_word (maps, 2);
    double           diff = 0.0;

    g_assert_cmpint (split->n_tokens, ==, 4);
    for (int p = 0; p < P; p++)
      diff += fabs (maps->token_filip[(gsize) split->first_token * P + p] -
                    split->values[WP_MAP_FILIP][p]);
    g_assert_cmpfloat (diff, >, 1e-6);
  }

  /* Labels: the first most similar token per patch; the word with the largest SPARC weight. */
  for (int p = 0; p < P; p++) {
    int   best_token = 0, best_word = -1;
    float best_weight = 0.0f;

    for (int t = 1; t < T; t++) {
      if (maps->token_filip[(gsize) t * P + p] > maps->token_filip[(gsize) best_token * P + p])
        best_token = t;
    }
    g_assert_cmpint (maps->filip_labels[p], ==, best_token);
    for (int w = 0; w < maps->n_words; w++) {
      if (maps->words[w].values[WP_MAP_SPARC][p] > best_weight) {
        best_weight = maps->words[w].values[WP_MAP_SPARC][p];
        best_word = w;
      }
    }
    g_assert_cmpint (maps->labels[WP_MAP_SPARC][p], ==, best_word);
  }

  /* FILIP's pair similarities from the same cosines. */
  {
    double image_to_text = 0.0, text_to_image = 0.0, got_i2t, got_t2i;

    for (int p = 0; p < P; p++) {
      double best = -INFINITY;

      for (int t = 0; t < T; t++)
        best = MAX (best, cosine[(gsize) t * P + p]);
      image_to_text += best / P;
    }
    for (int t = 0; t < T; t++) {
      double best = -INFINITY;

      for (int p = 0; p < P; p++)
        best = MAX (best, cosine[(gsize) t * P + p]);
      text_to_image += best / T;
    }
    wp_word_maps_get_filip_scores (maps, &got_i2t, &got_t2i);
    g_assert_cmpfloat_with_epsilon (got_i2t, image_to_text, 1e-5);
    g_assert_cmpfloat_with_epsilon (got_t2i, text_to_image, 1e-5);
  }

  /* Finding words by text and occurrence, case-insensitively. */
  g_assert_cmpint (wp_word_maps_find_word (maps, "Circle", 0), ==, 3);
  g_assert_cmpint (wp_word_maps_find_word (maps, "xylophonists", 0), ==, 2);
  g_assert_cmpint (wp_word_maps_find_word (maps, "circle", 1), ==, -1);
  g_assert_cmpint (wp_word_maps_find_word (maps, "xylophone", 0), ==, -1);
  g_assert_cmpint (wp_word_maps_find_word (maps, "red circle", 0), ==, -1);
}

static void
test_maps_repeated_and_truncated_words (void)
{
  const WpModel *model = get_model ();
  g_autoptr (WpImage) image = make_image (64, 64, 2);
  g_autoptr (WpImageEmbedding) iemb = wp_embed_image (model, image);
  g_autoptr (GString) caption = g_string_new ("red circle and red square");
  g_autoptr (WpTextEmbedding) short_text = NULL;
  g_autoptr (WpWordMaps) short_maps = NULL;
  g_autoptr (WpTextEmbedding) long_text = NULL;
  g_autoptr (WpWordMaps) long_maps = NULL;
  const int K = model->config.context_length;

  short_text = wp_embed_text (model, caption->str);
  short_maps = wp_word_maps_new (model, iemb, short_text);
  g_assert_cmpint (wp_word_maps_find_word (short_maps, "red", 0), ==, 0);
  g_assert_cmpint (wp_word_maps_find_word (short_maps, "red", 1), ==, 3);
  g_assert_cmpint (wp_word_maps_find_word (short_maps, "red", 2), ==, -1);

  /* Past the context length: "xylophonists" at the end is cut (entirely or in part). */
  for (int i = 0; i < K; i++)
    g_string_append (caption, " and");
  g_string_append (caption, " xylophonists");
  long_text = wp_embed_text (model, caption->str);
  long_maps = wp_word_maps_new (model, iemb, long_text);
  g_assert_cmpint (long_maps->n_tokens, ==, K);
  g_assert_cmpint (wp_word_maps_find_word (long_maps, "xylophonists", 0), ==, -1);
  g_assert_cmpint (wp_word_maps_get_word_of_token (long_maps, K - 1), ==, -1);
  g_assert_cmpint (long_maps->words[long_maps->n_words - 1].first_token +
                     long_maps->words[long_maps->n_words - 1].n_tokens,
                   ==, K - 1);
}

static void
test_maps_geometry (void)
{
  const WpImageCrop crop = { 10.0, 0.0, 60.0, 60.0 }; /* 80 x 60 image, centre crop */
  const float       map[4] = { 0.1f, 0.7f, 0.7f, NAN };
  const float       nan_first[3] = { NAN, -2.0f, -1.0f };
  WpImageCrop       rect;

  wp_patch_rect (&crop, 4, 4, 0, &rect);
  g_assert_cmpfloat (rect.x, ==, 10.0);
  g_assert_cmpfloat (rect.y, ==, 0.0);
  g_assert_cmpfloat (rect.width, ==, 15.0);
  g_assert_cmpfloat (rect.height, ==, 15.0);
  wp_patch_rect (&crop, 4, 4, 6, &rect); /* row 1, column 2 */
  g_assert_cmpfloat (rect.x, ==, 40.0);
  g_assert_cmpfloat (rect.y, ==, 15.0);
  wp_patch_rect (&crop, 4, 4, 15, &rect);
  g_assert_cmpfloat (rect.x + rect.width, ==, 70.0);
  g_assert_cmpfloat (rect.y + rect.height, ==, 60.0);

  g_assert_cmpint (wp_map_peak (map, 4), ==, 1);
  g_assert_cmpint (wp_map_peak (nan_first, 3), ==, 2);
}

/* Method lists: names in the order given, "all", and an error naming a repeated or unknown name. */
static void
test_map_methods_parse (void)
{
  g_autoptr (GError) error = NULL;
  WpMapMethod order[WP_N_MAP_METHODS];
  guint       methods;
  int         n;

  g_assert_true (wp_map_methods_parse ("legrad, maskclip", &methods, order, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 2);
  g_assert_cmpint (order[0], ==, WP_MAP_LEGRAD);
  g_assert_cmpint (order[1], ==, WP_MAP_MASKCLIP);
  g_assert_cmpuint (methods, ==, WP_MAP_BIT (WP_MAP_LEGRAD) | WP_MAP_BIT (WP_MAP_MASKCLIP));
  g_assert_true (wp_map_methods_parse ("all", &methods, order, &n, &error));
  g_assert_cmpint (n, ==, WP_N_MAP_METHODS);
  g_assert_cmpuint (methods, ==, WP_MAP_ALL);
  for (int m = 0; m < WP_N_MAP_METHODS; m++)
    g_assert_cmpint (order[m], ==, m);
  g_assert_false (wp_map_methods_parse ("filip,filip", &methods, order, &n, &error));
  g_assert_nonnull (strstr (error->message, "twice"));
  g_clear_error (&error);
  g_assert_false (wp_map_methods_parse ("filip,gradient", &methods, order, &n, &error));
  g_assert_nonnull (strstr (error->message, "'gradient'"));
}

/* Prompt queries: a caption's words as the tokenizer splits them, or with a comma its phrases,
 * stripped, the empty ones left out. */
static void
test_prompt_queries (void)
{
  const WpModel *model = get_model ();
  g_autoptr (GPtrArray) words = wp_prompt_queries (model, "A red circle.");
  g_autoptr (GPtrArray) phrases = wp_prompt_queries (model, " a red circle ,, a Blue square,");

  g_assert_cmpuint (words->len, ==, 4);
  g_assert_cmpstr (words->pdata[0], ==, "a");
  g_assert_cmpstr (words->pdata[1], ==, "red");
  g_assert_cmpstr (words->pdata[2], ==, "circle");
  g_assert_cmpstr (words->pdata[3], ==, ".");
  g_assert_cmpuint (phrases->len, ==, 2);
  g_assert_cmpstr (phrases->pdata[0], ==, "a red circle");
  g_assert_cmpstr (phrases->pdata[1], ==, "a Blue square");
}

/* Prompt queries' maps are their pooled embeddings' cosines with the patches, through the
 * template; surgery subtracts the queries' mean map; gradient maps are computed for every
 * query and never negative. */
static void
test_prompt_maps (void)
{
  const WpModel *model = get_model ();
  g_autoptr (WpImage) image = make_image (64, 64, 5);
  g_autoptr (WpImageEmbedding) embedding = NULL;
  g_autoptr (WpTextEmbedding) text = wp_embed_text (model, "red, a blue square");
  g_autoptr (WpWordMaps) plain = NULL;
  g_autoptr (WpWordMaps) surgery = NULL;
  const WpViewOptions view = { WP_CROP_CENTER, 0 };
  WpMapOptions        options;
  const int           E = model->config.projection_dim;

  embedding = wp_embed_image_view (model, image, &view,
                                   WP_MAP_BIT (WP_MAP_FILIP) | WP_MAP_BIT (WP_MAP_LEGRAD), NULL);
  wp_map_options_init (&options);
  options.methods = WP_MAP_BIT (WP_MAP_FILIP) | WP_MAP_BIT (WP_MAP_LEGRAD);
  options.query = WP_QUERY_PROMPT;
  options.template_text = "{} here";
  plain = wp_word_maps_new_full (model, embedding, text, &options, NULL);
  options.surgery = TRUE;
  surgery = wp_word_maps_new_full (model, embedding, text, &options, NULL);
  g_assert_cmpint (plain->n_words, ==, 2);
  g_assert_null (plain->token_values[WP_MAP_FILIP]);
  for (int w = 0; w < 2; w++) {
    const char *prompt = w == 0 ? "red here" : "a blue square here";
    g_autoptr (WpTextEmbedding) alone = wp_embed_text (model, prompt);

    g_assert_cmpint (plain->words[w].first_token, ==, -1);
    for (int p = 0; p < plain->n_patches; p++) {
      double cosine = 0.0;

      for (int e = 0; e < E; e++)
        cosine += (double) alone->global[e] * embedding->patches[(gsize) p * E + e];
      g_assert_cmpfloat_with_epsilon (plain->words[w].values[WP_MAP_FILIP][p], cosine, 1e-5);
      g_assert_cmpfloat (plain->words[w].values[WP_MAP_LEGRAD][p], >=, 0.0f);
      g_assert_cmpfloat (surgery->words[w].values[WP_MAP_LEGRAD][p], ==,
                         plain->words[w].values[WP_MAP_LEGRAD][p]);
    }
  }
  for (int p = 0; p < plain->n_patches; p++) {
    const float *a = plain->words[0].values[WP_MAP_FILIP],
                *b = plain->words[1].values[WP_MAP_FILIP];

    g_assert_cmpfloat_with_epsilon (surgery->words[0].values[WP_MAP_FILIP][p],
                                    (a[p] - b[p]) / 2.0, 1e-6);
  }
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/maps/words/naive", test_maps_naive);
  g_test_add_func ("/maps/words/repeated-and-truncated", test_maps_repeated_and_truncated_words);
  g_test_add_func ("/maps/geometry/patch-rect-and-peak", test_maps_geometry);
  g_test_add_func ("/maps/methods/parse", test_map_methods_parse);
  g_test_add_func ("/maps/prompt/queries", test_prompt_queries);
  g_test_add_func ("/maps/prompt/maps", test_prompt_maps);
  status = g_test_run ();
  clear_model ();
  return status;
}
