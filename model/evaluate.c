#include "wordpatch/evaluate.h"

#include "evaluate-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "wordpatch/embed.h"
#include "wordpatch/error.h"
#include "wordpatch/kernels.h"
#include "wordpatch/maps.h"

/* Shapes: U distinct images, V distinct captions, P patches, E projection dim. */

/* Bound on U x V, so that the two similarity matrices stay within 2 GB. */
#define MAX_SIMILARITIES ((gsize) 1 << 28)

void
wp_eval_options_init (WpEvalOptions *options)
{
  memset (options, 0, sizeof *options);
  options->retrieval = WP_RETRIEVAL_GLOBAL;
  wp_map_options_init (&options->maps);
  options->view.crop = WP_CROP_CENTER;
}

/* ---- accumulating results ---- */

static void
word_init (WpEvalWord *word,
           const char *name)
{
  memset (word, 0, sizeof *word);
  word->word = g_strdup (name);
}

/* Adds one boxed word's scores: pointing hits and IoUs (WP_N_MAP_METHODS) of the methods in
 * the mask. */
static void
word_add (WpEvalWord     *word,
          guint           methods,
          const gboolean *pointing,
          const double   *iou)
{
  word->count++;
  for (int m = 0; m < WP_N_MAP_METHODS; m++) {
    if (!(methods & WP_MAP_BIT (m)))
      continue;
    word->scores[m].pointing += pointing[m];
    word->scores[m].iou += iou[m];
    word->scores[m].iou_hit += iou[m] >= 0.5;
  }
}

/* Turns the sums into means, NAN for an empty set and for the methods not evaluated. */
static void
word_finish (WpEvalWord *word,
             guint       methods)
{
  for (int m = 0; m < WP_N_MAP_METHODS; m++) {
    WpEvalScore *score = &word->scores[m];
    const double n = word->count > 0 && (methods & WP_MAP_BIT (m)) ? word->count : NAN;

    score->pointing /= n;
    score->iou /= n;
    score->iou_hit /= n;
  }
}

static void
word_clear (gpointer data)
{
  WpEvalWord *word = data;

  g_clear_pointer (&word->word, g_free);
}

static int
compare_words (gconstpointer a,
               gconstpointer b)
{
  return strcmp (((const WpEvalWord *) a)->word, ((const WpEvalWord *) b)->word);
}

typedef struct {
  WpEvalWord  overall;
  WpEvalWord  classes[WP_WORD_CLASS_N];
  WpEvalWord  rivals[2][2]; /* as WpEvalResult's */
  GArray     *words;        /* of WpEvalWord */
  GHashTable *by_word;      /* word -> index in words + 1 */
  WpEvalWord  phrases;
  GArray     *phrase_types; /* of WpEvalWord */
  GHashTable *by_type;      /* phrase type -> index in phrase_types + 1 */
  guint       unmatched_phrases;
  guint       unmatched;
  guint       background;                        /* patches outside every box */
  guint       background_label[WP_WORD_CLASS_N]; /* ... whose FILIP label is a word of a class */
  guint       background_label_special;          /* ... whose FILIP label is the start or end */
} Localisation;

static void
localisation_init (Localisation *loc)
{
  word_init (&loc->overall, "all");
  for (int c = 0; c < WP_WORD_CLASS_N; c++)
    word_init (&loc->classes[c], wp_word_class_to_string ((WpWordClass) c));
  for (int c = 0; c < 2; c++) {
    for (int r = 0; r < 2; r++) {
      g_autofree char *name = g_strdup_printf (
        "%s, %s", wp_word_class_to_string ((WpWordClass) c), r ? "rival" : "no rival");

      word_init (&loc->rivals[c][r], name);
    }
  }
  loc->words = g_array_new (FALSE, FALSE, sizeof (WpEvalWord));
  g_array_set_clear_func (loc->words, word_clear);
  loc->by_word = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  word_init (&loc->phrases, "phrases");
  loc->phrase_types = g_array_new (FALSE, FALSE, sizeof (WpEvalWord));
  g_array_set_clear_func (loc->phrase_types, word_clear);
  loc->by_type = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  loc->unmatched_phrases = 0;
  loc->unmatched = 0;
  loc->background = 0;
  memset (loc->background_label, 0, sizeof loc->background_label);
  loc->background_label_special = 0;
}

static void
localisation_clear (Localisation *loc)
{
  word_clear (&loc->overall);
  for (int c = 0; c < WP_WORD_CLASS_N; c++)
    word_clear (&loc->classes[c]);
  for (int c = 0; c < 2; c++) {
    for (int r = 0; r < 2; r++)
      word_clear (&loc->rivals[c][r]);
  }
  g_clear_pointer (&loc->words, g_array_unref);
  g_clear_pointer (&loc->by_word, g_hash_table_unref);
  word_clear (&loc->phrases);
  g_clear_pointer (&loc->phrase_types, g_array_unref);
  g_clear_pointer (&loc->by_type, g_hash_table_unref);
}

/* The entry of name in words, indexed by index (name -> position + 1), added when new. */
static WpEvalWord *
find_or_add (GArray     *words,
             GHashTable *index,
             const char *name)
{
  guint position = GPOINTER_TO_UINT (g_hash_table_lookup (index, name));

  if (position == 0) {
    WpEvalWord word;

    word_init (&word, name);
    g_array_append_val (words, word);
    position = words->len;
    g_hash_table_insert (index, g_strdup (name), GUINT_TO_POINTER (position));
  }
  return &g_array_index (words, WpEvalWord, position - 1);
}

static WpEvalWord *
localisation_word (Localisation *loc,
                   const char   *name)
{
  return find_or_add (loc->words, loc->by_word, name);
}

/* Tallies the FILIP labels of the pair's patches whose centre is outside every one of its boxes. */
static void
count_background_labels (Localisation     *loc,
                         const WpWordMaps *maps,
                         const WpPair     *pair)
{
  for (int p = 0; p < maps->n_patches; p++) {
    int word;

    if (wp_patch_centre_in_boxes (&maps->crop, maps->rows, maps->cols, p, pair->boxes,
                                  pair->n_boxes))
      continue;
    loc->background++;
    word = wp_word_maps_get_word_of_token (maps, maps->filip_labels[p]);
    if (word < 0) {
      loc->background_label_special++;
    } else {
      g_autofree char *lower = g_utf8_strdown (wp_word_maps_get_word (maps, word)->text, -1);

      loc->background_label[wp_word_class (lower)]++;
    }
  }
}

G_STATIC_ASSERT (WP_WORD_CLASS_COLOUR == 0 && WP_WORD_CLASS_SHAPE == 1); /* they index rivals */

static gboolean
same_rectangle (const WpObject *object,
                const WpBox    *box)
{
  return fabs (object->x - box->x) <= 0.5 && fabs (object->y - box->y) <= 0.5 &&
         fabs (object->w - box->w) <= 0.5 && fabs (object->h - box->h) <= 0.5;
}

/* 1 when an object of the word's (boxes, n_boxes) has a rival among the pair's objects, 0 when
 * none has, -1 when no object is the word's. */
static int
has_rival (const WpPair *pair,
           const WpBox  *boxes,
           guint         n_boxes)
{
  g_autofree gboolean *mine = g_new0 (gboolean, pair->n_objects + 1);
  gboolean             any = FALSE;

  for (guint o = 0; o < pair->n_objects; o++) {
    for (guint b = 0; b < n_boxes && !mine[o]; b++)
      mine[o] = same_rectangle (&pair->objects[o], &boxes[b]);
    any = any || mine[o];
  }
  if (!any)
    return -1;
  for (guint o = 0; o < pair->n_objects; o++) {
    if (!mine[o])
      continue;
    for (guint q = 0; q < pair->n_objects; q++) {
      if (!mine[q] && g_ascii_strcasecmp (pair->objects[q].colour, pair->objects[o].colour) == 0 &&
          g_ascii_strcasecmp (pair->objects[q].shape, pair->objects[o].shape) != 0)
        return 1;
    }
  }
  return 0;
}

static gboolean
same_word (const char *a,
           const char *b)
{
  g_autofree char *lower_a = g_utf8_strdown (a, -1);
  g_autofree char *lower_b = g_utf8_strdown (b, -1);

  return strcmp (lower_a, lower_b) == 0;
}

/* Scores each grounded phrase of the pair once: for each method, its map is the mean of the maps
 * of its words found in the caption, and its region the boxes of its first word (every word of a
 * phrase has the same). A phrase none of whose words is found is unmatched. */
static void
localise_phrases (Localisation           *loc,
                  const WpWordMaps       *maps,
                  const WpPair           *pair,
                  const WpImageEmbedding *image,
                  int                     image_width,
                  int                     image_height,
                  guint8                 *selected)
{
  const int            P = image->n_patches, rows = image->rows, cols = image->cols;
  g_autofree gboolean *done = g_new0 (gboolean, pair->n_boxes);
  g_autofree WpBox    *group = g_new (WpBox, pair->n_boxes);
  g_autofree int      *found = g_new (int, pair->n_boxes);
  g_autofree float    *mean = g_new (float, P);

  for (guint b = 0; b < pair->n_boxes; b++) {
    const WpBox *first = &pair->boxes[b];
    const char  *type = NULL;
    guint        n_group = 0, n_found = 0;
    gboolean     pointing[WP_N_MAP_METHODS] = { FALSE };
    double       iou[WP_N_MAP_METHODS] = { 0.0 };

    if (done[b] || first->phrase == 0)
      continue;
    for (guint c = b; c < pair->n_boxes; c++) {
      const WpBox *box = &pair->boxes[c];
      int          w;
      gboolean     seen = FALSE;

      if (box->phrase != first->phrase)
        continue;
      done[c] = TRUE;
      if (type == NULL)
        type = box->type;
      if (box->occurrence == first->occurrence && same_word (box->word, first->word))
        group[n_group++] = *box;
      w = wp_word_maps_find_word (maps, box->word, box->occurrence);
      for (guint k = 0; k < n_found && !seen; k++)
        seen = found[k] == w;
      if (w >= 0 && !seen)
        found[n_found++] = w;
    }
    if (n_found == 0) {
      loc->unmatched_phrases++;
      continue;
    }
    for (int m = 0; m < WP_N_MAP_METHODS; m++) {
      if (!(maps->methods & WP_MAP_BIT (m)))
        continue;
      for (int p = 0; p < P; p++) {
        double sum = 0.0;

        for (guint k = 0; k < n_found; k++)
          sum += wp_word_maps_get_word (maps, found[k])->values[m][p];
        mean[p] = (float) (sum / n_found);
      }
      pointing[m] = wp_pointing_hit (mean, rows, cols, &image->crop, group, n_group);
      if (m == WP_MAP_SPARC)
        wp_region_sparc (selected, mean, P);
      else
        wp_region_filip (selected, mean, P);
      iou[m] = wp_region_iou (selected, rows, cols, &image->crop, image_width, image_height, group,
                              n_group);
    }
    word_add (&loc->phrases, maps->methods, pointing, iou);
    word_add (find_or_add (loc->phrase_types, loc->by_type, type != NULL ? type : "untyped"),
              maps->methods, pointing, iou);
  }
}

/* Scores every boxed word of one pair by every method of options. image_width x image_height:
 * the original image. FALSE when cancelled. */
static gboolean
localise_pair (Localisation           *loc,
               const WpModel          *model,
               const WpPair           *pair,
               const WpImageEmbedding *image,
               int                     image_width,
               int                     image_height,
               const WpTextEmbedding  *text,
               const WpMapOptions     *options,
               GCancellable           *cancellable)
{
  const int P = image->n_patches, rows = image->rows, cols = image->cols;
  g_autoptr (WpWordMaps) maps = wp_word_maps_new_full (model, image, text, options, cancellable);
  g_autofree gboolean *done = g_new0 (gboolean, pair->n_boxes);
  g_autofree WpBox    *group = g_new (WpBox, pair->n_boxes);
  g_autofree guint8   *selected = g_new (guint8, P);

  if (maps == NULL)
    return FALSE;
  for (guint b = 0; b < pair->n_boxes; b++) {
    g_autofree char *lower = NULL;
    const WpWordMap *word;
    guint            n_group;
    int              w;
    gboolean         pointing[WP_N_MAP_METHODS] = { FALSE };
    double           iou[WP_N_MAP_METHODS] = { 0.0 };
    WpWordClass      word_class;

    if (done[b])
      continue;
    /* The word's region: every box of the same word and occurrence. */
    lower = wp_pair_group_boxes (pair, b, done, group, &n_group);
    w = wp_word_maps_find_word (maps, lower, pair->boxes[b].occurrence);
    if (w < 0) {
      loc->unmatched += n_group;
      continue;
    }
    word = wp_word_maps_get_word (maps, w);
    for (int m = 0; m < WP_N_MAP_METHODS; m++) {
      if (!(maps->methods & WP_MAP_BIT (m)))
        continue;
      pointing[m] = wp_pointing_hit (word->values[m], rows, cols, &image->crop, group, n_group);
      if (m == WP_MAP_SPARC)
        wp_region_sparc (selected, word->values[m], P);
      else
        wp_region_filip (selected, word->values[m], P);
      iou[m] = wp_region_iou (selected, rows, cols, &image->crop, image_width, image_height, group,
                              n_group);
    }

    word_class = wp_word_class (lower);
    word_add (&loc->overall, maps->methods, pointing, iou);
    word_add (&loc->classes[word_class], maps->methods, pointing, iou);
    word_add (localisation_word (loc, lower), maps->methods, pointing, iou);
    if (pair->n_objects > 0 &&
        (word_class == WP_WORD_CLASS_COLOUR || word_class == WP_WORD_CLASS_SHAPE)) {
      const int rival = has_rival (pair, group, n_group);

      if (rival >= 0)
        word_add (&loc->rivals[word_class][rival], maps->methods, pointing, iou);
    }
  }
  localise_phrases (loc, maps, pair, image, image_width, image_height, selected);
  count_background_labels (loc, maps, pair);
  return TRUE;
}

/* ---- grouping pairs into distinct images and captions ---- */

/* Assigns each of the n keys a group, in order of first appearance; returns the number of
 * groups and, in first (n), the first item of each group. */
static guint
assign_groups (char *const *keys,
               guint        n,
               guint       *group,
               guint       *first)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  guint n_groups = 0;

  for (guint i = 0; i < n; i++) {
    gpointer value;

    if (g_hash_table_lookup_extended (seen, keys[i], NULL, &value)) {
      group[i] = GPOINTER_TO_UINT (value);
    } else {
      group[i] = n_groups;
      first[n_groups] = i;
      g_hash_table_insert (seen, keys[i], GUINT_TO_POINTER (n_groups));
      n_groups++;
    }
  }
  return n_groups;
}

/* The items 0..n-1 listed by group: those of group g are members[offsets[g] .. offsets[g+1]-1],
 * in increasing order. offsets (n_groups + 1), members (n). */
static void
list_groups (guint       *offsets,
             guint       *members,
             const guint *group,
             guint        n,
             guint        n_groups)
{
  g_autofree guint *fill = g_new0 (guint, n_groups);

  memset (offsets, 0, (n_groups + 1) * sizeof *offsets);
  for (guint i = 0; i < n; i++)
    offsets[group[i] + 1]++;
  for (guint g = 0; g < n_groups; g++)
    offsets[g + 1] += offsets[g];
  for (guint i = 0; i < n; i++)
    members[offsets[group[i]] + fill[group[i]]++] = i;
}

/* ---- the evaluation ---- */

typedef struct {
  guint             n;                             /* pairs */
  const WpPair    **pairs;                         /* (n) */
  guint            *indices;                       /* (n) in the dataset */
  guint             U, V;                          /* distinct images and captions */
  guint            *image_of;                      /* (n) */
  guint            *text_of;                       /* (n) */
  guint            *image_first;                   /* (U) first pair of each image */
  guint            *text_first;                    /* (V) first pair of each caption */
  guint            *image_offsets, *image_members; /* pairs by image: (U + 1), (n) */
  guint            *text_offsets, *text_members;   /* pairs by caption: (V + 1), (n) */
  WpTextEmbedding **texts;                         /* (V) */
} Eval;

static void
eval_clear (Eval *ev)
{
  if (ev->texts != NULL) {
    for (guint v = 0; v < ev->V; v++)
      wp_text_embedding_free (ev->texts[v]);
  }
  g_free (ev->texts);
  g_free (ev->pairs);
  g_free (ev->indices);
  g_free (ev->image_of);
  g_free (ev->text_of);
  g_free (ev->image_first);
  g_free (ev->text_first);
  g_free (ev->image_offsets);
  g_free (ev->image_members);
  g_free (ev->text_offsets);
  g_free (ev->text_members);
}

static void
eval_group (Eval *ev)
{
  const guint n = ev->n;
  char      **image_keys = g_new (char *, n);
  char      **text_keys = g_new (char *, n);

  for (guint i = 0; i < n; i++) {
    image_keys[i] = g_canonicalize_filename (ev->pairs[i]->image_path, NULL);
    text_keys[i] = wp_caption_key (ev->pairs[i]->caption);
  }
  ev->image_of = g_new (guint, n);
  ev->text_of = g_new (guint, n);
  ev->image_first = g_new (guint, n);
  ev->text_first = g_new (guint, n);
  ev->U = assign_groups (image_keys, n, ev->image_of, ev->image_first);
  ev->V = assign_groups (text_keys, n, ev->text_of, ev->text_first);
  ev->image_offsets = g_new (guint, ev->U + 1);
  ev->image_members = g_new (guint, n);
  ev->text_offsets = g_new (guint, ev->V + 1);
  ev->text_members = g_new (guint, n);
  list_groups (ev->image_offsets, ev->image_members, ev->image_of, n, ev->U);
  list_groups (ev->text_offsets, ev->text_members, ev->text_of, n, ev->V);
  for (guint i = 0; i < n; i++) {
    g_free (image_keys[i]);
    g_free (text_keys[i]);
  }
  g_free (image_keys);
  g_free (text_keys);
}

static void
fill_localisation (WpEvalResult *result,
                   Localisation *loc,
                   guint         methods)
{
  word_finish (&loc->overall, methods);
  result->methods = methods;
  result->boxed_words = loc->overall.count;
  result->unmatched_boxes = loc->unmatched;
  memcpy (result->scores, loc->overall.scores, sizeof result->scores);
  for (int c = 0; c < WP_WORD_CLASS_N; c++) {
    word_finish (&loc->classes[c], methods);
    result->classes[c] = loc->classes[c];
    loc->classes[c].word = NULL; /* moved into result */
  }
  for (int c = 0; c < 2; c++) {
    for (int r = 0; r < 2; r++) {
      word_finish (&loc->rivals[c][r], methods);
      result->rivals[c][r] = loc->rivals[c][r];
      loc->rivals[c][r].word = NULL;
    }
  }
  for (guint w = 0; w < loc->words->len; w++)
    word_finish (&g_array_index (loc->words, WpEvalWord, w), methods);
  g_array_sort (loc->words, compare_words);
  result->words = g_steal_pointer (&loc->words);
  word_finish (&loc->phrases, methods);
  result->phrases = loc->phrases.count;
  result->unmatched_phrases = loc->unmatched_phrases;
  memcpy (result->phrase_scores, loc->phrases.scores, sizeof result->phrase_scores);
  for (guint t = 0; t < loc->phrase_types->len; t++)
    word_finish (&g_array_index (loc->phrase_types, WpEvalWord, t), methods);
  g_array_sort (loc->phrase_types, compare_words);
  result->phrase_types = g_steal_pointer (&loc->phrase_types);
  result->background_patches = loc->background;
  for (int c = 0; c < WP_WORD_CLASS_N; c++)
    result->background_label[c] =
      loc->background > 0 ? (double) loc->background_label[c] / loc->background : NAN;
  result->background_label_special =
    loc->background > 0 ? (double) loc->background_label_special / loc->background : NAN;
}

gboolean
wp_evaluate (const WpModel       *model,
             const WpDataset     *dataset,
             const guint         *indices,
             guint                n,
             const WpEvalOptions *options,
             GCancellable        *cancellable,
             WpEvalResult        *result,
             GError             **error)
{
  const int     E = model->config.projection_dim, P = wp_clip_config_n_patches (&model->config);
  WpEvalOptions defaults;
  WpMapOptions  maps;
  g_autoptr (WpPromptCache) prompt_cache = NULL;
  gboolean           filip, sparc, default_view;
  const guint        n_dataset = wp_dataset_get_n_pairs (dataset);
  Eval               ev = { 0 };
  Localisation       loc;
  g_autofree float  *image_global = NULL;
  g_autofree float  *image_patches = NULL;
  g_autofree float  *text_global = NULL;
  g_autofree float  *text_tokens = NULL;
  g_autofree guint  *token_offsets = NULL;
  g_autofree float  *i2t = NULL;
  g_autofree float  *t2i = NULL;
  g_autofree double *position_sum = g_new0 (double, (gsize) P *E);
  WpPatchVariance    variance = { position_sum, 0.0, 0.0, 0 };
  gboolean           ok = FALSE;

  g_return_val_if_fail (model != NULL && dataset != NULL && result != NULL, FALSE);
  memset (result, 0, sizeof *result);
  if (options == NULL) {
    wp_eval_options_init (&defaults);
    options = &defaults;
  }
  filip = options->retrieval == WP_RETRIEVAL_FILIP;
  sparc = options->retrieval == WP_RETRIEVAL_SPARC;
  /* Captions repeat their words: each prompt goes through the text tower once. */
  maps = options->maps;
  if (maps.query == WP_QUERY_PROMPT && maps.prompt_cache == NULL)
    maps.prompt_cache = prompt_cache = wp_prompt_cache_new (model);
  /* Retrieval compares every image with every caption in CLIP's own view; localisation sees the
   * images as options->view says, which needs a second pass when that view is another. */
  default_view = options->view.crop == WP_CROP_CENTER &&
                 (options->view.resolution == 0 ||
                  options->view.resolution == model->config.image_size);
  ev.n = indices != NULL ? n : n_dataset;
  if (ev.n == 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "%s: no pair to evaluate",
                 wp_dataset_get_dir (dataset));
    return FALSE;
  }
  ev.pairs = g_new (const WpPair *, ev.n);
  ev.indices = g_new (guint, ev.n);
  for (guint i = 0; i < ev.n; i++) {
    const guint index = indices != NULL ? indices[i] : i;

    if (index >= n_dataset) {
      g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "%s: pair %u out of range (%u pairs)",
                   wp_dataset_get_dir (dataset), index, n_dataset);
      g_free (ev.pairs);
      g_free (ev.indices);
      return FALSE;
    }
    ev.pairs[i] = wp_dataset_get_pair (dataset, index);
    ev.indices[i] = index;
  }
  eval_group (&ev);
  localisation_init (&loc);
  if ((gsize) ev.U * ev.V > MAX_SIMILARITIES) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "%s: %u images x %u captions are too many to rank (at most %" G_GSIZE_FORMAT
                 " pairs of them)",
                 wp_dataset_get_dir (dataset), ev.U, ev.V, MAX_SIMILARITIES);
    goto out;
  }

  /* Captions: each distinct one embedded once. */
  ev.texts = g_new0 (WpTextEmbedding *, ev.V);
  token_offsets = g_new (guint, ev.V + 1);
  token_offsets[0] = 0;
  for (guint v = 0; v < ev.V; v++) {
    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      goto out;
    ev.texts[v] = wp_embed_text (model, ev.pairs[ev.text_first[v]]->caption);
    token_offsets[v + 1] = token_offsets[v] + (guint) ev.texts[v]->n_tokens;
  }
  text_global = g_new (float, (gsize) ev.V *E);
  for (guint v = 0; v < ev.V; v++)
    memcpy (text_global + (gsize) v * E, ev.texts[v]->global, E * sizeof (float));
  /* FILIP compares unit embeddings; SPARC's weights need the raw ones. */
  if (filip || sparc) {
    text_tokens = g_new (float, (gsize) token_offsets[ev.V] * E);
    for (guint v = 0; v < ev.V; v++)
      memcpy (text_tokens + (gsize) token_offsets[v] * E,
              filip ? ev.texts[v]->tokens : ev.texts[v]->tokens_raw,
              (gsize) ev.texts[v]->n_tokens * E * sizeof (float));
  }

  /* Images: each distinct one embedded once, its boxed pairs localised right away, and only
   * what retrieval needs kept. */
  image_global = g_new (float, (gsize) ev.U *E);
  if (filip || sparc)
    image_patches = g_new (float, (gsize) ev.U *P *E);
  for (guint u = 0; u < ev.U; u++) {
    g_autoptr (WpImage) image = NULL;
    g_autoptr (WpImageEmbedding) embedding = NULL;
    g_autoptr (WpImageEmbedding) clip_view = NULL;

    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      goto out;
    image = wp_dataset_load_image (dataset, ev.indices[ev.image_first[u]], error);
    if (image == NULL)
      goto out;
    embedding = wp_embed_image_view (model, image, &options->view, options->maps.methods, error);
    if (embedding == NULL) {
      g_prefix_error (error, "%s: ", ev.pairs[ev.image_first[u]]->image_path);
      goto out;
    }
    if (!default_view)
      clip_view = wp_embed_image (model, image);
    for (guint m = ev.image_offsets[u]; m < ev.image_offsets[u + 1]; m++) {
      const guint   i = ev.image_members[m];
      const WpPair *pair = ev.pairs[i];
      const guint   v = ev.text_of[i];
      g_autoptr (WpTextEmbedding) own = NULL;

      if (pair->n_boxes == 0)
        continue;
      /* Same key, different text ("A red circle"): the maps need this caption's own words. */
      if (strcmp (pair->caption, ev.pairs[ev.text_first[v]]->caption) != 0)
        own = wp_embed_text (model, pair->caption);
      if (!localise_pair (&loc, model, pair, embedding, image->width, image->height,
                          own != NULL ? own : ev.texts[v], &maps, cancellable)) {
        g_cancellable_set_error_if_cancelled (cancellable, error);
        goto out;
      }
    }
    memcpy (image_global + (gsize) u * E, (clip_view ? clip_view : embedding)->global,
            E * sizeof (float));
    if (filip || sparc) {
      const WpImageEmbedding *own_view = clip_view ? clip_view : embedding;

      memcpy (image_patches + (gsize) u * P * E, filip ? own_view->patches : own_view->patches_raw,
              (gsize) P * E * sizeof (float));
    }
    wp_patch_variance_add (&variance, (clip_view ? clip_view : embedding)->patches_raw, P, E);
  }

  /* Similarities: i2t (U, V), t2i (V, U). */
  i2t = g_new (float, (gsize) ev.U *ev.V);
  t2i = g_new (float, (gsize) ev.V *ev.U);
  if (filip || sparc) {
    if (!wp_eval_token_similarities (i2t, t2i, image_patches, text_tokens, token_offsets,
                                     (int) ev.U, (int) ev.V, P, E, options->retrieval,
                                     cancellable, error))
      goto out;
  } else {
    wp_matmul_forward (i2t, image_global, text_global, NULL, (int) ev.U, E, (int) ev.V);
    for (guint u = 0; u < ev.U; u++) {
      for (guint v = 0; v < ev.V; v++)
        t2i[(gsize) v * ev.U + u] = i2t[(gsize) u * ev.V + v];
    }
  }

  result->pairs = ev.n;
  result->images = ev.U;
  result->texts = ev.V;
  result->retrieval = options->retrieval;
  wp_eval_recalls (&result->i2t_r1, &result->i2t_r5, &result->i2t_r10, i2t, (int) ev.U, (int) ev.V,
                   ev.image_offsets, ev.image_members, ev.text_of);
  wp_eval_recalls (&result->t2i_r1, &result->t2i_r5, &result->t2i_r10, t2i, (int) ev.V, (int) ev.U,
                   ev.text_offsets, ev.text_members, ev.image_of);
  fill_localisation (result, &loc, options->maps.methods | WP_MAP_BIT (WP_MAP_FILIP));
  wp_patch_variance_shares (&result->patch_position_share, &result->patch_image_share, &variance, P,
                            E);
  ok = TRUE;

out:
  localisation_clear (&loc);
  eval_clear (&ev);
  return ok;
}

void
wp_eval_result_clear (WpEvalResult *result)
{
  if (result == NULL)
    return;
  for (int c = 0; c < WP_WORD_CLASS_N; c++)
    g_free (result->classes[c].word);
  for (int c = 0; c < 2; c++) {
    for (int r = 0; r < 2; r++)
      g_free (result->rivals[c][r].word);
  }
  g_clear_pointer (&result->words, g_array_unref);
  g_clear_pointer (&result->phrase_types, g_array_unref);
  memset (result, 0, sizeof *result);
}
