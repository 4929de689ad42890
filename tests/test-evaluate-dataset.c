/* test-evaluate-dataset.c: wp_evaluate() on small dataset folders against recomputations from its
 * parts: vocabulary coverage, retrieval, localisation, rival words, subsets and errors. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "evaluate-fixtures.h"
#include "test-util.h"
#include "wordpatch/wordpatch.h"

/* ---- wp_evaluate on dataset folders ---- */

static void
write_png (const char *path,
           WpImage    *image)
{
  g_autoptr (GByteArray) png =
    wp_test_encode_image ("png", image->rgb, image->width, image->height, 3);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, (const char *) png->data, png->len, &error);
  g_assert_no_error (error);
}

/* A dataset folder with images img0.png .. img{n_images-1}.png (sizes vary) and captions.jsonl. */
static char *
make_dataset (int         n_images,
              const char *jsonl)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *captions = NULL;
  char            *dir = wp_test_make_tmp_dir ("evaluate");

  for (int i = 0; i < n_images; i++) {
    g_autofree char *name = g_strdup_printf ("img%d.png", i);
    g_autofree char *path = g_build_filename (dir, name, NULL);
    g_autoptr (WpImage) image = make_image (64 + 16 * (i % 3), 64 + 8 * (i % 2), i);

    write_png (path, image);
  }
  captions = g_build_filename (dir, "captions.jsonl", NULL);
  g_file_set_contents (captions, jsonl, -1, &error);
  g_assert_no_error (error);
  return dir;
}

static const char dataset_lines[] =
  "{\"image\": \"img0.png\", \"caption\": \"a red circle\", \"boxes\": ["
  "{\"word\": \"red\", \"x\": 10, \"y\": 10, \"w\": 30, \"h\": 30}, {\"word\": \"Circle\", \"x\": "
  "10, \"y\": 10, \"w\": 30, \"h\": 30},"
  "{\"word\": \"dog\", \"x\": 0, \"y\": 0, \"w\": 5, \"h\": 5}, {\"word\": \"Dog\", \"x\": 50, "
  "\"y\": 0, \"w\": 5, \"h\": 5}]}\n"
  "{\"image\": \"img1.png\", \"caption\": \"two green squares\", \"boxes\": ["
  "{\"word\": \"squares\", \"x\": 0, \"y\": 0, \"w\": 20, \"h\": 20}, {\"word\": \"squares\", "
  "\"x\": 40, \"y\": 40, \"w\": 20, \"h\": 20},"
  "{\"word\": \"green\", \"x\": 0, \"y\": 0, \"w\": 20, \"h\": 20}, {\"word\": \"green\", "
  "\"occurrence\": 1, \"x\": 1, \"y\": 1, \"w\": 2, \"h\": 2}]}\n"
  "{\"image\": \"img2.png\", \"caption\": \"A  red circle\"}\n"
  "{\"image\": \"img3.png\", \"caption\": \"a small blue triangle\", \"boxes\": ["
  "{\"word\": \"small\", \"x\": 5, \"y\": 5, \"w\": 40, \"h\": 30}, {\"word\": \"triangle\", "
  "\"x\": 5, \"y\": 5, \"w\": 40, \"h\": 30}]}\n"
  "{\"image\": \"img1.png\", \"caption\": \"a picture\"}\n"
  "{\"image\": \"img4.png\", \"caption\": \"Two green squares\", \"boxes\": ["
  "{\"word\": \"two\", \"x\": 10, \"y\": 20, \"w\": 30, \"h\": 30}]}\n";

/* Words the vocabulary holds whole, words it splits, and a caption cut by the context. */
static void
test_vocabulary_coverage (void)
{
  const WpModel *model = get_model ();
  const int      K = model->config.context_length;
  g_autoptr (GString) jsonl =
    g_string_new ("{\"image\": \"img0.png\", \"caption\": \"a red circle\"}\n"
                  "{\"image\": \"img0.png\", \"caption\": \"a xylophonists circle\"}\n"
                  "{\"image\": \"img0.png\", \"caption\": \"a");
  g_autofree char *dir = NULL;
  g_autoptr (WpDataset) dataset = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (WpVocabularyCoverage) coverage = { 0 };

  for (int i = 0; i < K; i++)
    g_string_append (jsonl, " and");
  g_string_append (jsonl, " xylophonists\"}\n");
  dir = make_dataset (1, jsonl->str);
  dataset = wp_dataset_open (dir, &error);
  g_assert_no_error (error);
  wp_dataset_get_vocabulary_coverage (dataset, model, &coverage);
  g_assert_cmpuint (coverage.captions, ==, 3);
  g_assert_cmpuint (coverage.truncated, ==, 1);
  /* The cut caption counts the K - 2 words that fit, all whole ("a" and "and"). */
  g_assert_cmpuint (coverage.words, ==, 3 + 3 + (guint) (K - 2));
  g_assert_cmpuint (coverage.whole, ==, 3 + 2 + (guint) (K - 2));
  g_assert_cmpuint (coverage.distinct, ==, 5);
  g_assert_cmpuint (coverage.whole_distinct, ==, 4);
  g_assert_cmpuint (coverage.split->len, ==, 1);
  g_assert_cmpstr (coverage.split->pdata[0], ==, "xylophonists");
  remove_tree (dir);
}

/* Recall@1, 5, 10 of naive similarities (rows: queries) with the dataset's groups. */
static void
naive_recalls (double      *r,
               const float *sim,
               const int   *row_group_of_pair,
               const int   *col_group_of_pair,
               int          n_pairs,
               int          n_rows,
               int          n_cols)
{
  g_autofree guint8 *correct = g_new0 (guint8, (gsize) n_rows * n_cols);
  const int          ks[3] = { 1, 5, 10 };

  for (int i = 0; i < n_pairs; i++)
    correct[(gsize) row_group_of_pair[i] * n_cols + col_group_of_pair[i]] = 1;
  for (int k = 0; k < 3; k++)
    r[k] = wp_recall_at_k (sim, correct, n_rows, n_cols, ks[k]);
}

/* SPARC's pair score as its definition reads: each token's similarities to the patches, min-max
 * normalised, those below 1/P dropped, renormalised; the grouping's cosine with the token,
 * averaged over the tokens. */
static double
naive_sparc_score (const WpImageEmbedding *im,
                   const WpTextEmbedding  *tx,
                   int                     E)
{
  const int          P = im->n_patches;
  g_autofree double *s = g_new (double, P);
  g_autofree double *c = g_new (double, E);
  double             total = 0.0;

  for (int l = 0; l < tx->n_tokens; l++) {
    const float *t = tx->tokens_raw + (gsize) l * E;
    double       lo = INFINITY, hi = -INFINITY, kept = 0.0, dot = 0.0, cc = 0.0, tt = 0.0;

    for (int p = 0; p < P; p++) {
      s[p] = 0.0;
      for (int e = 0; e < E; e++)
        s[p] += (double) t[e] * im->patches_raw[(gsize) p * E + e];
      lo = fmin (lo, s[p]);
      hi = fmax (hi, s[p]);
    }
    for (int p = 0; p < P; p++) {
      s[p] = (s[p] - lo) / (hi - lo);
      s[p] = s[p] >= 1.0 / P ? s[p] : 0.0;
      kept += s[p];
    }
    memset (c, 0, E * sizeof *c);
    for (int p = 0; p < P; p++) {
      for (int e = 0; e < E; e++)
        c[e] += s[p] / kept * im->patches_raw[(gsize) p * E + e];
    }
    for (int e = 0; e < E; e++) {
      dot += c[e] * t[e];
      cc += c[e] * c[e];
      tt += (double) t[e] * t[e];
    }
    total += dot / sqrt (cc * tt);
  }
  return total / tx->n_tokens;
}

static void
check_retrieval (const WpModel   *model,
                 const WpDataset *dataset,
                 WpRetrieval      retrieval)
{
  const guint n = wp_dataset_get_n_pairs (dataset);
  /* Groups by hand: images img0 img1 img2 img3 img1 img4 -> 0 1 2 3 1 4; captions "a red
   * circle" x 2, "two green squares" x 2, "a small blue triangle", "a picture" -> 0 1 0 2 3 1. */
  const int image_of[6] = { 0, 1, 2, 3, 1, 4 };
  const int text_of[6] = { 0, 1, 0, 2, 3, 1 };
  const int first_image[5] = { 0, 1, 2, 3, 5 };
  const int first_text[4] = { 0, 1, 3, 4 };
  const int U = 5, V = 4, E = model->config.projection_dim;
  g_autoptr (GPtrArray) images =
    g_ptr_array_new_with_free_func ((GDestroyNotify) wp_image_embedding_free);
  g_autoptr (GPtrArray) texts =
    g_ptr_array_new_with_free_func ((GDestroyNotify) wp_text_embedding_free);
  float  i2t[5 * 4], t2i[4 * 5];
  double expected_i2t[3], expected_t2i[3];
  g_auto (WpEvalResult) result = { 0 };
  g_autoptr (GError) error = NULL;
  WpEvalOptions options;

  g_assert_cmpuint (n, ==, 6);
  for (int u = 0; u < U; u++) {
    g_autoptr (WpImage) image =
      wp_image_load (wp_dataset_get_pair (dataset, first_image[u])->image_path, &error);

    g_assert_no_error (error);
    g_ptr_array_add (images, wp_embed_image (model, image));
  }
  for (int v = 0; v < V; v++)
    g_ptr_array_add (texts,
                     wp_embed_text (model, wp_dataset_get_pair (dataset, first_text[v])->caption));
  for (int u = 0; u < U; u++) {
    const WpImageEmbedding *im = images->pdata[u];

    for (int v = 0; v < V; v++) {
      const WpTextEmbedding *tx = texts->pdata[v];

      if (retrieval == WP_RETRIEVAL_GLOBAL) {
        i2t[u * V + v] = t2i[v * U + u] = (float) naive_cosine (im->global, tx->global, E);
      } else if (retrieval == WP_RETRIEVAL_SPARC) {
        i2t[u * V + v] = t2i[v * U + u] = (float) naive_sparc_score (im, tx, E);
      } else {
        /* FILIP: sI = mean over patches of the max over tokens; sT the other way. */
        double s_image = 0.0, s_text = 0.0;

        for (int p = 0; p < im->n_patches; p++) {
          double best = -INFINITY;

          for (int l = 0; l < tx->n_tokens; l++)
            best = fmax (best, naive_cosine (im->patches_raw + (gsize) p * E,
                                             tx->tokens_raw + (gsize) l * E, E));
          s_image += best;
        }
        for (int l = 0; l < tx->n_tokens; l++) {
          double best = -INFINITY;

          for (int p = 0; p < im->n_patches; p++)
            best = fmax (best, naive_cosine (im->patches_raw + (gsize) p * E,
                                             tx->tokens_raw + (gsize) l * E, E));
          s_text += best;
        }
        i2t[u * V + v] = (float) (s_image / im->n_patches);
        t2i[v * U + u] = (float) (s_text / tx->n_tokens);
      }
    }
  }
  if (retrieval == WP_RETRIEVAL_SPARC) {
    for (int u = 0; u < U; u++) {
      const WpImageEmbedding *im = images->pdata[u];
      g_autofree float       *tokens = NULL;
      guint                   offsets[4 + 1] = { 0 };
      float                   scores[4];

      for (int v = 0; v < V; v++)
        offsets[v + 1] = offsets[v] + (guint) ((WpTextEmbedding *) texts->pdata[v])->n_tokens;
      tokens = g_new (float, (gsize) offsets[V] * E);
      for (int v = 0; v < V; v++)
        memcpy (tokens + (gsize) offsets[v] * E, ((WpTextEmbedding *) texts->pdata[v])->tokens_raw,
                (gsize) (offsets[v + 1] - offsets[v]) * E * sizeof (float));
      wp_sparc_caption_scores (scores, im->patches_raw, tokens, offsets, V, im->n_patches, E);
      for (int v = 0; v < V; v++)
        g_assert_cmpfloat_with_epsilon (scores[v], i2t[u * V + v], 1e-5);
    }
  }
  naive_recalls (expected_i2t, i2t, image_of, text_of, 6, U, V);
  naive_recalls (expected_t2i, t2i, text_of, image_of, 6, V, U);

  wp_eval_options_init (&options);
  options.retrieval = retrieval;
  g_assert_true (wp_evaluate (model, dataset, NULL, 0, &options, NULL, &result, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (result.pairs, ==, 6);
  g_assert_cmpuint (result.images, ==, 5);
  g_assert_cmpuint (result.texts, ==, 4);
  g_assert_cmpfloat_with_epsilon (result.i2t_r1, expected_i2t[0], 1e-12);
  g_assert_cmpfloat_with_epsilon (result.i2t_r5, expected_i2t[1], 1e-12);
  g_assert_cmpfloat_with_epsilon (result.i2t_r10, expected_i2t[2], 1e-12);
  g_assert_cmpfloat_with_epsilon (result.t2i_r1, expected_t2i[0], 1e-12);
  g_assert_cmpfloat_with_epsilon (result.t2i_r5, expected_t2i[1], 1e-12);
  g_assert_cmpfloat_with_epsilon (result.t2i_r10, expected_t2i[2], 1e-12);
  /* Five or fewer candidates: everything is within the top 5. */
  g_assert_cmpfloat (result.i2t_r5, ==, 1.0);
  g_assert_cmpfloat (result.t2i_r5, ==, 1.0);
}

static void
test_evaluate_retrieval (void)
{
  const WpModel   *model = get_model ();
  g_autofree char *dir = make_dataset (5, dataset_lines);
  g_autoptr (GError) error = NULL;
  g_autoptr (WpDataset) dataset = wp_dataset_open (dir, &error);

  g_assert_no_error (error);
  check_retrieval (model, dataset, WP_RETRIEVAL_GLOBAL);
  check_retrieval (model, dataset, WP_RETRIEVAL_FILIP);
  check_retrieval (model, dataset, WP_RETRIEVAL_SPARC);
  remove_tree (dir);
}

/* Localisation of one word recomputed from the maps and the building blocks. */
static void
expected_word (WpEvalWord      *out,
               const WpModel   *model,
               const WpDataset *dataset,
               guint            pair_index,
               const char      *word,
               int              occurrence)
{
  const WpPair *pair = wp_dataset_get_pair (dataset, pair_index);
  g_autoptr (GError) error = NULL;
  g_autoptr (WpImage) image = wp_image_load (pair->image_path, &error);
  g_autoptr (WpImageEmbedding) iemb = wp_embed_image (model, image);
  g_autoptr (WpTextEmbedding) temb = wp_embed_text (model, pair->caption);
  g_autoptr (WpWordMaps) maps = wp_word_maps_new (model, iemb, temb);
  g_autofree WpBox  *boxes = g_new (WpBox, pair->n_boxes);
  g_autofree guint8 *selected = g_new (guint8, maps->n_patches);
  const WpWordMap   *map;
  guint              n_boxes = 0;

  for (guint b = 0; b < pair->n_boxes; b++) {
    if (g_ascii_strcasecmp (pair->boxes[b].word, word) == 0 &&
        pair->boxes[b].occurrence == occurrence)
      boxes[n_boxes++] = pair->boxes[b];
  }
  g_assert_cmpuint (n_boxes, >, 0);
  map = wp_word_maps_get_word (maps, wp_word_maps_find_word (maps, word, occurrence));
  out->count = 1;
  out->scores[WP_MAP_FILIP].pointing = wp_pointing_hit (map->values[WP_MAP_FILIP], maps->rows,
                                                        maps->cols, &maps->crop, boxes, n_boxes);
  out->scores[WP_MAP_SPARC].pointing = wp_pointing_hit (map->values[WP_MAP_SPARC], maps->rows,
                                                        maps->cols, &maps->crop, boxes, n_boxes);
  wp_region_filip (selected, map->values[WP_MAP_FILIP], maps->n_patches);
  out->scores[WP_MAP_FILIP].iou = wp_region_iou (selected, maps->rows, maps->cols, &maps->crop,
                                                 image->width, image->height, boxes, n_boxes);
  wp_region_sparc (selected, map->values[WP_MAP_SPARC], maps->n_patches);
  out->scores[WP_MAP_SPARC].iou = wp_region_iou (selected, maps->rows, maps->cols, &maps->crop,
                                                 image->width, image->height, boxes, n_boxes);
}

static void
add_expected (WpEvalWord       *sum,
              const WpEvalWord *word)
{
  sum->count++;
  sum->scores[WP_MAP_FILIP].pointing += word->scores[WP_MAP_FILIP].pointing;
  sum->scores[WP_MAP_SPARC].pointing += word->scores[WP_MAP_SPARC].pointing;
  sum->scores[WP_MAP_FILIP].iou += word->scores[WP_MAP_FILIP].iou;
  sum->scores[WP_MAP_SPARC].iou += word->scores[WP_MAP_SPARC].iou;
}

/* The background's FILIP labels recomputed from the token maps: counts[class] for words of each
 * class, counts[WP_WORD_CLASS_N] for the start and end tokens; returns the patches counted. */
static guint
expected_background (guint           *counts,
                     const WpModel   *model,
                     const WpDataset *dataset)
{
  guint patches = 0;

  memset (counts, 0, (WP_WORD_CLASS_N + 1) * sizeof *counts);
  for (guint i = 0; i < wp_dataset_get_n_pairs (dataset); i++) {
    const WpPair *pair = wp_dataset_get_pair (dataset, i);
    g_autoptr (WpImage) image = NULL;
    g_autoptr (WpImageEmbedding) iemb = NULL;
    g_autoptr (WpTextEmbedding) temb = NULL;
    g_autoptr (WpWordMaps) maps = NULL;

    if (pair->n_boxes == 0)
      continue;
    image = wp_image_load (pair->image_path, NULL);
    iemb = wp_embed_image (model, image);
    temb = wp_embed_text (model, pair->caption);
    maps = wp_word_maps_new (model, iemb, temb);
    for (int p = 0; p < maps->n_patches; p++) {
      const double x = maps->crop.x + (p % maps->cols + 0.5) * maps->crop.width / maps->cols;
      const double y = maps->crop.y + (p / maps->cols + 0.5) * maps->crop.height / maps->rows;
      gboolean     inside = FALSE;
      int          best = 0, word;

      for (guint b = 0; b < pair->n_boxes; b++) {
        const WpBox *box = &pair->boxes[b];

        inside |= x >= box->x && x <= box->x + box->w && y >= box->y && y <= box->y + box->h;
      }
      if (inside)
        continue;
      patches++;
      for (int l = 1; l < maps->n_tokens; l++) {
        if (maps->token_filip[(gsize) l * maps->n_patches + p] >
            maps->token_filip[(gsize) best * maps->n_patches + p])
          best = l;
      }
      word = maps->word_of_token[best];
      if (word < 0) {
        counts[WP_WORD_CLASS_N]++;
      } else {
        g_autofree char *lower = g_utf8_strdown (maps->words[word].text, -1);

        counts[wp_word_class (lower)]++;
      }
    }
  }
  return patches;
}

static void
test_evaluate_localisation (void)
{
  const WpModel   *model = get_model ();
  g_autofree char *dir = make_dataset (5, dataset_lines);
  g_autoptr (GError) error = NULL;
  g_autoptr (WpDataset) dataset = wp_dataset_open (dir, &error);
  /* The boxed words by hand: red, circle (pair 0; "dog" and "Dog" unmatched: 2 boxes), squares (2
   * boxes), green (pair 1; its occurrence 1 unmatched), small, triangle (pair 3), two (pair 5). */
  const struct {
    guint       pair;
    const char *word;
    WpWordClass word_class;
  } boxed[] = {
    { 0, "red", WP_WORD_CLASS_COLOUR },
    { 0, "circle", WP_WORD_CLASS_SHAPE },
    { 1, "squares", WP_WORD_CLASS_SHAPE },
    { 1, "green", WP_WORD_CLASS_COLOUR },
    { 3, "small", WP_WORD_CLASS_SIZE },
    { 3, "triangle", WP_WORD_CLASS_SHAPE },
    { 5, "two", WP_WORD_CLASS_OTHER },
  };
  const char *const sorted[] = { "circle", "green", "red", "small", "squares", "triangle", "two" };
  WpEvalWord        sum = { 0 }, class_sum[WP_WORD_CLASS_N] = { { 0 } };
  g_auto (WpEvalResult) result = { 0 };
  WpEvalOptions options;

  g_assert_no_error (error);
  wp_eval_options_init (&options);
  g_assert_true (wp_evaluate (model, dataset, NULL, 0, &options, NULL, &result, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (result.boxed_words, ==, G_N_ELEMENTS (boxed));
  g_assert_cmpuint (result.unmatched_boxes, ==, 3);
  g_assert_cmpuint (result.words->len, ==, G_N_ELEMENTS (sorted));

  for (gsize i = 0; i < G_N_ELEMENTS (boxed); i++) {
    WpEvalWord        expected = { 0 };
    const WpEvalWord *got = NULL;

    expected_word (&expected, model, dataset, boxed[i].pair, boxed[i].word, 0);
    for (guint w = 0; w < result.words->len; w++) {
      if (strcmp (g_array_index (result.words, WpEvalWord, w).word, boxed[i].word) == 0)
        got = &g_array_index (result.words, WpEvalWord, w);
    }
    g_assert_nonnull (got);
    g_assert_cmpuint (got->count, ==, 1);
    g_assert_cmpfloat (got->scores[WP_MAP_FILIP].pointing, ==,
                       expected.scores[WP_MAP_FILIP].pointing);
    g_assert_cmpfloat (got->scores[WP_MAP_SPARC].pointing, ==,
                       expected.scores[WP_MAP_SPARC].pointing);
    g_assert_cmpfloat_with_epsilon (got->scores[WP_MAP_FILIP].iou,
                                    expected.scores[WP_MAP_FILIP].iou, 1e-9);
    g_assert_cmpfloat_with_epsilon (got->scores[WP_MAP_SPARC].iou,
                                    expected.scores[WP_MAP_SPARC].iou, 1e-9);
    g_assert_cmpfloat (got->scores[WP_MAP_FILIP].iou_hit, ==,
                       expected.scores[WP_MAP_FILIP].iou >= 0.5);
    g_assert_cmpfloat (got->scores[WP_MAP_SPARC].iou_hit, ==,
                       expected.scores[WP_MAP_SPARC].iou >= 0.5);
    g_assert_cmpfloat (got->scores[WP_MAP_FILIP].iou, >=, 0.0);
    g_assert_cmpfloat (got->scores[WP_MAP_FILIP].iou, <=, 1.0);
    g_assert_cmpfloat (got->scores[WP_MAP_SPARC].iou, >=, 0.0);
    g_assert_cmpfloat (got->scores[WP_MAP_SPARC].iou, <=, 1.0);
    add_expected (&sum, &expected);
    add_expected (&class_sum[boxed[i].word_class], &expected);
  }
  for (guint w = 0; w < result.words->len; w++)
    g_assert_cmpstr (g_array_index (result.words, WpEvalWord, w).word, ==, sorted[w]);

  g_assert_cmpfloat_with_epsilon (result.scores[WP_MAP_FILIP].pointing,
                                  sum.scores[WP_MAP_FILIP].pointing / sum.count, 1e-12);
  g_assert_cmpfloat_with_epsilon (result.scores[WP_MAP_SPARC].pointing,
                                  sum.scores[WP_MAP_SPARC].pointing / sum.count, 1e-12);
  g_assert_cmpfloat_with_epsilon (result.scores[WP_MAP_FILIP].iou,
                                  sum.scores[WP_MAP_FILIP].iou / sum.count, 1e-9);
  g_assert_cmpfloat_with_epsilon (result.scores[WP_MAP_SPARC].iou,
                                  sum.scores[WP_MAP_SPARC].iou / sum.count, 1e-9);
  for (int c = 0; c < WP_WORD_CLASS_N; c++) {
    g_assert_cmpstr (result.classes[c].word, ==, wp_word_class_to_string (c));
    g_assert_cmpuint (result.classes[c].count, ==, class_sum[c].count);
    g_assert_cmpfloat_with_epsilon (result.classes[c].scores[WP_MAP_SPARC].iou,
                                    class_sum[c].scores[WP_MAP_SPARC].iou / class_sum[c].count,
                                    1e-9);
    g_assert_cmpfloat_with_epsilon (result.classes[c].scores[WP_MAP_FILIP].pointing,
                                    class_sum[c].scores[WP_MAP_FILIP].pointing / class_sum[c].count,
                                    1e-12);
  }

  {
    guint  counts[WP_WORD_CLASS_N + 1];
    guint  patches = expected_background (counts, model, dataset);
    double total = result.background_label_special;

    g_assert_cmpuint (patches, >, 0);
    g_assert_cmpuint (result.background_patches, ==, patches);
    for (int c = 0; c < WP_WORD_CLASS_N; c++) {
      g_assert_cmpfloat_with_epsilon (result.background_label[c], (double) counts[c] / patches,
                                      1e-12);
      total += result.background_label[c];
    }
    g_assert_cmpfloat_with_epsilon (result.background_label_special,
                                    (double) counts[WP_WORD_CLASS_N] / patches, 1e-12);
    g_assert_cmpfloat_with_epsilon (total, 1.0, 1e-12);
  }
  remove_tree (dir);
}

/* Pair 0: a red square is the red circle's rival, a blue circle is not; pair 1: another green
 * square is no rival of the two; pair 2: the triangle's rectangle is within half a pixel and a
 * "Blue" "Star" (case ignored) is its rival; pair 3: no object has the words' rectangle. Lines 5
 * to 8 list malformed objects and are skipped. */
static const char rival_lines[] =
  "{\"image\": \"img0.png\", \"caption\": \"a red circle\", \"boxes\": ["
  "{\"word\": \"red\", \"x\": 10, \"y\": 10, \"w\": 30, \"h\": 30}, {\"word\": \"circle\", \"x\": "
  "10, \"y\": 10, \"w\": 30, \"h\": 30}],"
  " \"objects\": [{\"colour\": \"red\", \"shape\": \"circle\", \"x\": 10, \"y\": 10, \"w\": 30, "
  "\"h\": 30},"
  " {\"colour\": \"red\", \"shape\": \"square\", \"x\": 44, \"y\": 40, \"w\": 16, \"h\": 16},"
  " {\"colour\": \"blue\", \"shape\": \"circle\", \"x\": 0, \"y\": 44, \"w\": 16, \"h\": 16}]}\n"
  "{\"image\": \"img1.png\", \"caption\": \"two green squares\", \"boxes\": ["
  "{\"word\": \"squares\", \"x\": 0, \"y\": 0, \"w\": 20, \"h\": 20}, {\"word\": \"squares\", "
  "\"x\": 40, \"y\": 40, \"w\": 20, \"h\": 20},"
  "{\"word\": \"green\", \"x\": 0, \"y\": 0, \"w\": 20, \"h\": 20}, {\"word\": \"green\", \"x\": "
  "40, \"y\": 40, \"w\": 20, \"h\": 20}],"
  " \"objects\": [{\"colour\": \"green\", \"shape\": \"square\", \"size\": \"big\", \"x\": 0, "
  "\"y\": 0, \"w\": 20, \"h\": 20},"
  " {\"colour\": \"green\", \"shape\": \"square\", \"x\": 40, \"y\": 40, \"w\": 20, \"h\": 20},"
  " {\"colour\": \"green\", \"shape\": \"square\", \"captioned\": false, \"x\": 22, \"y\": 0, "
  "\"w\": 10, \"h\": 10}]}\n"
  "{\"image\": \"img2.png\", \"caption\": \"a small blue triangle\", \"boxes\": ["
  "{\"word\": \"small\", \"x\": 5, \"y\": 5, \"w\": 40, \"h\": 30}, {\"word\": \"triangle\", "
  "\"x\": 5, \"y\": 5, \"w\": 40, \"h\": 30}],"
  " \"objects\": [{\"colour\": \"blue\", \"shape\": \"triangle\", \"x\": 5.4, \"y\": 4.6, \"w\": "
  "40, \"h\": 30.5},"
  " {\"colour\": \"Blue\", \"shape\": \"Star\", \"x\": 50, \"y\": 50, \"w\": 10, \"h\": 10}]}\n"
  "{\"image\": \"img3.png\", \"caption\": \"a red star\", \"boxes\": [{\"word\": \"red\", \"x\": "
  "5, \"y\": 5, \"w\": 20, \"h\": 20}],"
  " \"objects\": [{\"colour\": \"red\", \"shape\": \"star\", \"x\": 6, \"y\": 5, \"w\": 20, \"h\": "
  "20},"
  " {\"colour\": \"red\", \"shape\": \"cross\", \"x\": 40, \"y\": 40, \"w\": 20, \"h\": 20}]}\n"
  "{\"image\": \"img0.png\", \"caption\": \"x\", \"objects\": {\"colour\": \"red\"}}\n"
  "{\"image\": \"img0.png\", \"caption\": \"x\", \"objects\": [{\"colour\": \"red\", \"x\": 1, "
  "\"y\": 1, \"w\": 1, \"h\": 1}]}\n"
  "{\"image\": \"img0.png\", \"caption\": \"x\", \"objects\": [{\"colour\": \"red\", \"shape\": "
  "\"star\", \"x\": 1, \"y\": 1, \"w\": 0, \"h\": 1}]}\n"
  "{\"image\": \"img0.png\", \"caption\": \"x\", \"objects\": [{\"colour\": \"red\", \"shape\": "
  "\"star\", \"x\": \"1\", \"y\": 1, \"w\": 1, \"h\": 1}]}\n";

static void
test_evaluate_rivals (void)
{
  const WpModel   *model = get_model ();
  g_autofree char *dir = make_dataset (4, rival_lines);
  g_autoptr (GError) error = NULL;
  g_autoptr (WpDataset) dataset = wp_dataset_open (dir, &error);
  const char *const problems[] = { "line 5: \"objects\" must be an array",
                                   "line 6: every object needs non-empty strings",
                                   "line 7: an object has a zero or negative size",
                                   "line 8: every object needs numbers" };
  /* [class][rival]: the expected words, by pair and word. */
  WpEvalWord expected[2][2] = { { { 0 } } };
  const struct {
    guint       pair;
    const char *word;
    int         word_class, rival;
  } split[] = { { 0, "red", 0, 1 },
                { 0, "circle", 1, 1 },
                { 1, "green", 0, 0 },
                { 1, "squares", 1, 0 },
                { 2, "triangle", 1, 1 } };
  g_auto (WpEvalResult) result = { 0 };
  const GPtrArray *warnings;

  g_assert_no_error (error);
  g_assert_cmpuint (wp_dataset_get_n_pairs (dataset), ==, 4);
  warnings = wp_dataset_get_warnings (dataset);
  g_assert_cmpuint (warnings->len, ==, G_N_ELEMENTS (problems));
  for (guint i = 0; i < warnings->len; i++)
    g_assert_nonnull (strstr (g_ptr_array_index (warnings, i), problems[i]));
  g_assert_cmpuint (wp_dataset_get_pair (dataset, 2)->n_objects, ==, 2);
  g_assert_cmpstr (wp_dataset_get_pair (dataset, 2)->objects[1].shape, ==, "Star");

  for (gsize i = 0; i < G_N_ELEMENTS (split); i++) {
    WpEvalWord word = { 0 };

    expected_word (&word, model, dataset, split[i].pair, split[i].word, 0);
    add_expected (&expected[split[i].word_class][split[i].rival], &word);
  }
  g_assert_true (wp_evaluate (model, dataset, NULL, 0, NULL, NULL, &result, &error));
  g_assert_no_error (error);
  for (int c = 0; c < 2; c++) {
    for (int r = 0; r < 2; r++) {
      const WpEvalWord *got = &result.rivals[c][r];
      g_autofree char  *name =
        g_strdup_printf ("%s, %s", wp_word_class_to_string (c), r ? "rival" : "no rival");

      g_assert_cmpstr (got->word, ==, name);
      g_assert_cmpuint (got->count, ==, expected[c][r].count);
      g_assert_cmpfloat_with_epsilon (
        got->scores[WP_MAP_FILIP].pointing,
        expected[c][r].scores[WP_MAP_FILIP].pointing / expected[c][r].count, 1e-12);
      g_assert_cmpfloat_with_epsilon (
        got->scores[WP_MAP_SPARC].pointing,
        expected[c][r].scores[WP_MAP_SPARC].pointing / expected[c][r].count, 1e-12);
      g_assert_cmpfloat_with_epsilon (
        got->scores[WP_MAP_FILIP].iou,
        expected[c][r].scores[WP_MAP_FILIP].iou / expected[c][r].count, 1e-9);
    }
  }
  /* Pair 3's "red" (no object with its rectangle) and pair 2's "small" (a size word) are left out.
   */
  g_assert_cmpuint (result.classes[WP_WORD_CLASS_COLOUR].count, ==, 3);
  remove_tree (dir);
}

/* The patch variance shares against a two-pass computation over the images' raw patches: the
 * positions' and the images' sums of squares about the grand mean over the total. */
static void
test_evaluate_patch_variance (void)
{
  const WpModel   *model = get_model ();
  g_autofree char *dir = make_dataset (5, dataset_lines);
  g_autoptr (GError) error = NULL;
  g_autoptr (WpDataset) dataset = wp_dataset_open (dir, &error);
  const guint        indices[4] = { 0, 1, 2, 3 }; /* four distinct images */
  const int          U = G_N_ELEMENTS (indices), E = model->config.projection_dim;
  const int          P = wp_clip_config_n_patches (&model->config);
  g_autofree double *v = g_new (double, (gsize) U *P *E);
  g_autofree double *grand = g_new0 (double, E);
  double             total = 0.0, positions = 0.0, images = 0.0;
  g_auto (WpEvalResult) result = { 0 };

  g_assert_no_error (error);
  for (int u = 0; u < U; u++) {
    g_autoptr (WpImage) image =
      wp_image_load (wp_dataset_get_pair (dataset, indices[u])->image_path, &error);
    g_autoptr (WpImageEmbedding) embedding = wp_embed_image (model, image);

    g_assert_no_error (error);
    for (int k = 0; k < P * E; k++) {
      v[(gsize) u * P * E + k] = embedding->patches_raw[k];
      grand[k % E] += embedding->patches_raw[k] / (U * P);
    }
  }
  for (int e = 0; e < E; e++) {
    for (int p = 0; p < P; p++) {
      double position_mean = 0.0;

      for (int u = 0; u < U; u++)
        position_mean += v[((gsize) u * P + p) * E + e] / U;
      positions += U * (position_mean - grand[e]) * (position_mean - grand[e]);
    }
    for (int u = 0; u < U; u++) {
      double image_mean = 0.0;

      for (int p = 0; p < P; p++) {
        const double x = v[((gsize) u * P + p) * E + e];

        image_mean += x / P;
        total += (x - grand[e]) * (x - grand[e]);
      }
      images += P * (image_mean - grand[e]) * (image_mean - grand[e]);
    }
  }
  g_assert_true (wp_evaluate (model, dataset, indices, U, NULL, NULL, &result, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (result.images, ==, U);
  g_assert_cmpfloat_with_epsilon (result.patch_position_share, positions / total, 1e-6);
  g_assert_cmpfloat_with_epsilon (result.patch_image_share, images / total, 1e-6);
  g_assert_cmpfloat (result.patch_position_share, >, 0.0);
  g_assert_cmpfloat (result.patch_image_share, >, 0.0);
  g_assert_cmpfloat (result.patch_position_share + result.patch_image_share, <=, 1.0);
  wp_eval_result_clear (&result);

  /* Pairs 1 and 4 share their image: one image, no shares. */
  {
    const guint one[2] = { 1, 4 };

    g_assert_true (wp_evaluate (model, dataset, one, 2, NULL, NULL, &result, &error));
    g_assert_cmpuint (result.images, ==, 1);
    g_assert_true (isnan (result.patch_position_share));
    g_assert_true (isnan (result.patch_image_share));
  }
  remove_tree (dir);
}

static void
test_evaluate_subsets_and_errors (void)
{
  const WpModel   *model = get_model ();
  g_autofree char *dir = make_dataset (5, dataset_lines);
  g_autofree char *gone = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (WpDataset) dataset = wp_dataset_open (dir, &error);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  WpEvalOptions options;

  g_assert_no_error (error);
  wp_eval_options_init (&options);
  g_assert_cmpint (options.retrieval, ==, WP_RETRIEVAL_GLOBAL);

  /* Pairs 2 and 4: no boxes, distinct images and captions. */
  {
    const guint indices[2] = { 2, 4 };
    g_auto (WpEvalResult) result = { 0 };

    g_assert_true (wp_evaluate (model, dataset, indices, 2, &options, NULL, &result, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (result.pairs, ==, 2);
    g_assert_cmpuint (result.images, ==, 2);
    g_assert_cmpuint (result.boxed_words, ==, 0);
    g_assert_true (isnan (result.scores[WP_MAP_FILIP].pointing));
    g_assert_true (isnan (result.scores[WP_MAP_SPARC].iou_hit));
    g_assert_true (isnan (result.classes[WP_WORD_CLASS_COLOUR].scores[WP_MAP_FILIP].iou));
    g_assert_cmpuint (result.words->len, ==, 0);
    g_assert_cmpfloat (result.i2t_r5, ==, 1.0);
    g_assert_cmpfloat (result.i2t_r1, >=, 0.0);
    g_assert_cmpfloat (result.i2t_r1, <=, 1.0);
  }
  /* Pairs 0 and 2 share their caption ("a red circle", "A  red circle"): one text, so every
   * query has its answer first. */
  {
    const guint indices[2] = { 0, 2 };
    g_auto (WpEvalResult) result = { 0 };

    g_assert_true (wp_evaluate (model, dataset, indices, 2, &options, NULL, &result, &error));
    g_assert_cmpuint (result.texts, ==, 1);
    g_assert_cmpfloat (result.i2t_r1, ==, 1.0);
    g_assert_cmpfloat (result.t2i_r1, ==, 1.0);
  }
  /* Pairs 1 and 4 share their image: one image, every query right at rank 0. */
  {
    const guint indices[2] = { 1, 4 };
    g_auto (WpEvalResult) result = { 0 };

    g_assert_true (wp_evaluate (model, dataset, indices, 2, &options, NULL, &result, &error));
    g_assert_cmpuint (result.images, ==, 1);
    g_assert_cmpfloat (result.i2t_r1, ==, 1.0);
    g_assert_cmpfloat (result.t2i_r1, ==, 1.0);
    g_assert_cmpuint (result.boxed_words, ==, 2);
  }
  /* Cancelled. */
  {
    g_auto (WpEvalResult) result = { 0 };

    g_cancellable_cancel (cancellable);
    g_assert_false (wp_evaluate (model, dataset, NULL, 0, &options, cancellable, &result, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error (&error);
  }
  /* An image that became unreadable after the dataset was opened: the error names it. */
  {
    g_auto (WpEvalResult) result = { 0 };

    gone = g_build_filename (dir, "img3.png", NULL);
    g_assert_true (g_file_set_contents (gone, "not a png", -1, NULL));
    g_assert_false (wp_evaluate (model, dataset, NULL, 0, &options, NULL, &result, &error));
    g_assert_nonnull (error);
    g_assert_nonnull (strstr (error->message, gone));
    g_clear_error (&error);
  }
  remove_tree (dir);
}
int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/evaluate/localisation/rivals", test_evaluate_rivals);
  g_test_add_func ("/evaluate/dataset/vocabulary-coverage", test_vocabulary_coverage);
  g_test_add_func ("/evaluate/dataset/retrieval", test_evaluate_retrieval);
  g_test_add_func ("/evaluate/dataset/localisation", test_evaluate_localisation);
  g_test_add_func ("/evaluate/dataset/patch-variance", test_evaluate_patch_variance);
  g_test_add_func ("/evaluate/dataset/subsets-and-errors", test_evaluate_subsets_and_errors);
  status = g_test_run ();
  clear_model ();
  return status;
}
