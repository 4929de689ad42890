#include "wordpatch/dataset.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "json-private.h"
#include "wordpatch/error.h"
#include "wordpatch/image.h"
#include "wordpatch/text.h"

struct _WpDataset {
  char      *dir;
  char      *file;
  char      *checksum; /* SHA-256 of the captions file */
  GArray    *pairs;    /* of WpPair */
  guint      n_skipped[WP_SKIP_N_REASONS];
  GPtrArray *warnings;
};

static void
pair_clear (gpointer data)
{
  WpPair *pair = data;

  g_free (pair->image_path);
  g_free (pair->caption);
  for (guint i = 0; i < pair->n_boxes; i++)
    g_free (pair->boxes[i].word);
  g_free (pair->boxes);
  for (guint i = 0; i < pair->n_objects; i++) {
    g_free (pair->objects[i].colour);
    g_free (pair->objects[i].shape);
  }
  g_free (pair->objects);
}

G_GNUC_PRINTF (3, 4)
static void
skip (WpDataset   *dataset,
      WpSkipReason reason,
      const char  *format,
      ...)
{
  va_list args;

  dataset->n_skipped[reason]++;
  if (dataset->warnings->len >= WP_DATASET_MAX_WARNINGS)
    return;
  va_start (args, format);
  g_ptr_array_add (dataset->warnings, g_strdup_vprintf (format, args));
  va_end (args);
}

static gboolean
number_member (JsonObject *obj,
               const char *key,
               double     *value)
{
  JsonNode *node = json_object_get_member (obj, key);
  GType     type;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  type = json_node_get_value_type (node);
  if (type != G_TYPE_INT64 && type != G_TYPE_DOUBLE)
    return FALSE;
  *value = json_node_get_double (node);
  return isfinite (*value);
}

static const char *
string_member (JsonObject *obj,
               const char *key)
{
  JsonNode *node = json_object_get_member (obj, key);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

typedef enum {
  LIST_BOXES,
  LIST_OBJECTS,
} ListKind;

/* A box's or an object's "x", "y", "w" and "h", or a description of what is wrong. */
static const char *
parse_rectangle (JsonObject *obj,
                 ListKind    kind,
                 double     *x,
                 double     *y,
                 double     *w,
                 double     *h)
{
  static const char *const missing[] = {
    "every box needs numbers \"x\", \"y\", \"w\" and \"h\"",
    "every object needs numbers \"x\", \"y\", \"w\" and \"h\""
  };
  static const char *const empty[] = { "a box has a zero or negative size",
                                       "an object has a zero or negative size" };

  if (!number_member (obj, "x", x) || !number_member (obj, "y", y) ||
      !number_member (obj, "w", w) || !number_member (obj, "h", h))
    return missing[kind];
  if (!(*w > 0.0) || !(*h > 0.0))
    return empty[kind];
  return NULL;
}

/* The "boxes" or "objects" array of a line: NULL with *problem NULL when it is absent or null,
 * NULL with *problem describing what is wrong when it is malformed. */
static JsonArray *
list_member (JsonObject  *obj,
             ListKind     kind,
             const char **problem)
{
  static const char *const names[] = { "boxes", "objects" };
  static const char *const not_array[] = { "\"boxes\" must be an array",
                                           "\"objects\" must be an array" };
  static const char *const too_many[] = { "more than " G_STRINGIFY (WP_DATASET_MAX_BOXES) " boxes",
                                          "more than " G_STRINGIFY (
                                            WP_DATASET_MAX_BOXES) " objects" };
  JsonNode                *node = json_object_get_member (obj, names[kind]);

  *problem = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (node)) {
    *problem = not_array[kind];
    return NULL;
  }
  if (json_array_get_length (json_node_get_array (node)) > WP_DATASET_MAX_BOXES) {
    *problem = too_many[kind];
    return NULL;
  }
  return json_node_get_array (node);
}

/* Fills pair's boxes from the "boxes" member, or returns a description of what is wrong. */
static const char *
parse_boxes (JsonObject *obj,
             WpPair     *pair)
{
  const char *problem;
  JsonArray  *array = list_member (obj, LIST_BOXES, &problem);

  if (array == NULL)
    return problem;
  pair->boxes = g_new0 (WpBox, json_array_get_length (array));
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode   *element = json_array_get_element (array, i);
    JsonObject *box_obj;
    WpBox       box = { 0 };
    const char *word;
    double      occurrence = 0.0;

    if (!JSON_NODE_HOLDS_OBJECT (element))
      return "every box must be an object";
    box_obj = json_node_get_object (element);
    word = string_member (box_obj, "word");
    if (word == NULL || word[0] == '\0')
      return "every box needs a non-empty string \"word\"";
    problem = parse_rectangle (box_obj, LIST_BOXES, &box.x, &box.y, &box.w, &box.h);
    if (problem != NULL)
      return problem;
    if (json_object_has_member (box_obj, "occurrence") &&
        (!number_member (box_obj, "occurrence", &occurrence) || occurrence < 0.0 ||
         occurrence > 1000.0 || occurrence != floor (occurrence)))
      return "a box's \"occurrence\" must be a whole number from 0";
    box.occurrence = (int) occurrence;
    box.word = g_strdup (word);
    pair->boxes[pair->n_boxes++] = box;
  }
  return NULL;
}

/* Fills pair's objects from the "objects" member, or returns a description of what is wrong. */
static const char *
parse_objects (JsonObject *obj,
               WpPair     *pair)
{
  const char *problem;
  JsonArray  *array = list_member (obj, LIST_OBJECTS, &problem);

  if (array == NULL)
    return problem;
  pair->objects = g_new0 (WpObject, json_array_get_length (array));
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode   *element = json_array_get_element (array, i);
    JsonObject *object_obj;
    WpObject    object = { 0 };
    const char *colour, *shape;

    if (!JSON_NODE_HOLDS_OBJECT (element))
      return "every object must be a JSON object";
    object_obj = json_node_get_object (element);
    colour = string_member (object_obj, "colour");
    shape = string_member (object_obj, "shape");
    if (colour == NULL || colour[0] == '\0' || shape == NULL || shape[0] == '\0')
      return "every object needs non-empty strings \"colour\" and \"shape\"";
    problem =
      parse_rectangle (object_obj, LIST_OBJECTS, &object.x, &object.y, &object.w, &object.h);
    if (problem != NULL)
      return problem;
    object.colour = g_strdup (colour);
    object.shape = g_strdup (shape);
    pair->objects[pair->n_objects++] = object;
  }
  return NULL;
}

static void
add_pair (WpDataset  *dataset,
          WpPair     *pair,
          const char *image,
          const char *caption,
          guint       line)
{
  if (image[0] == '\0') {
    skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: empty image path", dataset->file, line);
    pair_clear (pair);
    return;
  }
  /* A caption without a word gives the text tower nothing but its start and end tokens. */
  if (caption[strspn (caption, " \t\n\v\f\r")] == '\0') {
    skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: empty caption", dataset->file, line);
    pair_clear (pair);
    return;
  }
  if (strlen (caption) > WP_DATASET_MAX_CAPTION) {
    skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: caption longer than %d bytes", dataset->file,
          line, WP_DATASET_MAX_CAPTION);
    pair_clear (pair);
    return;
  }
  pair->image_path =
    g_path_is_absolute (image) ? g_strdup (image) : g_build_filename (dataset->dir, image, NULL);
  pair->caption = g_strdup (caption);
  pair->line = line;
  if (!g_file_test (pair->image_path, G_FILE_TEST_IS_REGULAR)) {
    skip (dataset, WP_SKIP_MISSING_IMAGE, "%s line %u: image %s does not exist", dataset->file,
          line, pair->image_path);
    pair_clear (pair);
    return;
  }
  g_array_append_val (dataset->pairs, *pair);
}

static void
parse_jsonl_line (WpDataset  *dataset,
                  const char *text,
                  guint       line)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local_error = NULL;
  WpPair      pair = { 0 };
  JsonNode   *root;
  const char *image, *caption, *problem;

  /* The line length limit bounds the tree. */
  if (!wp_json_parser_load (parser, text, strlen (text), G_MAXSIZE, &local_error)) {
    skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: %s", dataset->file, line, local_error->message);
    return;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: not a JSON object", dataset->file, line);
    return;
  }
  image = string_member (json_node_get_object (root), "image");
  caption = string_member (json_node_get_object (root), "caption");
  if (image == NULL || caption == NULL) {
    skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: needs string members \"image\" and \"caption\"",
          dataset->file, line);
    return;
  }
  problem = parse_boxes (json_node_get_object (root), &pair);
  if (problem == NULL)
    problem = parse_objects (json_node_get_object (root), &pair);
  if (problem != NULL) {
    skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: %s", dataset->file, line, problem);
    pair_clear (&pair);
    return;
  }
  add_pair (dataset, &pair, image, caption, line);
}

static void
parse_tsv_line (WpDataset *dataset,
                char      *text,
                guint      line)
{
  char  *tab = strchr (text, '\t');
  WpPair pair = { 0 };

  if (tab == NULL) {
    skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: expected image<TAB>caption", dataset->file, line);
    return;
  }
  *tab = '\0';
  add_pair (dataset, &pair, text, tab + 1, line);
}

static gboolean
check_not_empty (const WpDataset *dataset,
                 GError         **error)
{
  g_autofree char *skipped = NULL;

  if (dataset->pairs->len > 0)
    return TRUE;
  skipped = wp_dataset_describe_skipped (dataset);
  if (skipped == NULL)
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: the dataset is empty", dataset->dir);
  else
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: the dataset has no usable pair (%s; the first: %s)", dataset->dir, skipped,
                 (const char *) dataset->warnings->pdata[0]);
  return FALSE;
}

WpDataset *
wp_dataset_open (const char *dir,
                 GError    **error)
{
  g_autoptr (WpDataset) dataset = g_new0 (WpDataset, 1);
  g_autofree char *jsonl = g_build_filename (dir, "captions.jsonl", NULL);
  g_autofree char *tsv = g_build_filename (dir, "captions.tsv", NULL);
  g_autoptr (GMappedFile) mapped = NULL;
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  gboolean is_jsonl = g_file_test (jsonl, G_FILE_TEST_EXISTS);
  gsize    length;

  dataset->dir = g_strdup (dir);
  dataset->file = g_strdup (is_jsonl ? jsonl : tsv);
  dataset->pairs = g_array_new (FALSE, FALSE, sizeof (WpPair));
  g_array_set_clear_func (dataset->pairs, pair_clear);
  dataset->warnings = g_ptr_array_new_with_free_func (g_free);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: not a dataset folder", dir);
    return NULL;
  }
  if (!is_jsonl && !g_file_test (tsv, G_FILE_TEST_EXISTS)) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: no captions.jsonl or captions.tsv", dir);
    return NULL;
  }
  /* Mapped, so that the size limit applies before the text is copied. */
  mapped = g_mapped_file_new (dataset->file, FALSE, error);
  if (mapped == NULL)
    return NULL;
  length = g_mapped_file_get_length (mapped);
  if (length > WP_DATASET_MAX_BYTES) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: %" G_GSIZE_FORMAT " bytes, more than the limit of %" G_GUINT64_FORMAT,
                 dataset->file, length, WP_DATASET_MAX_BYTES);
    return NULL;
  }
  contents = g_malloc (length + 1);
  if (length > 0)
    memcpy (contents, g_mapped_file_get_contents (mapped), length);
  contents[length] = '\0';
  dataset->checksum =
    g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, length);
  /* With the length given, a NUL byte is invalid too: the lines after it would vanish unseen. */
  if (!g_utf8_validate (contents, (gssize) length, NULL)) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: not valid UTF-8 text", dataset->file);
    return NULL;
  }
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    char *text = g_strchomp (lines[i]);

    if (text[0] == '\0')
      continue;
    if (strlen (text) > WP_DATASET_MAX_LINE) {
      skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: longer than %d bytes", dataset->file, i + 1,
            WP_DATASET_MAX_LINE);
      continue;
    }
    if (dataset->pairs->len >= WP_DATASET_MAX_PAIRS) {
      g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: more than %d pairs", dataset->file,
                   WP_DATASET_MAX_PAIRS);
      return NULL;
    }
    if (is_jsonl)
      parse_jsonl_line (dataset, text, i + 1);
    else
      parse_tsv_line (dataset, text, i + 1);
  }
  if (!check_not_empty (dataset, error))
    return NULL;
  return g_steal_pointer (&dataset);
}

void
wp_dataset_free (WpDataset *dataset)
{
  if (dataset == NULL)
    return;
  g_clear_pointer (&dataset->pairs, g_array_unref);
  g_clear_pointer (&dataset->warnings, g_ptr_array_unref);
  g_free (dataset->dir);
  g_free (dataset->file);
  g_free (dataset->checksum);
  g_free (dataset);
}

const char *
wp_dataset_get_dir (const WpDataset *dataset)
{
  return dataset->dir;
}

const char *
wp_dataset_get_file (const WpDataset *dataset)
{
  return dataset->file;
}

const char *
wp_dataset_get_checksum (const WpDataset *dataset)
{
  return dataset->checksum;
}

guint
wp_dataset_get_n_pairs (const WpDataset *dataset)
{
  return dataset->pairs->len;
}

const WpPair *
wp_dataset_get_pair (const WpDataset *dataset,
                     guint            index)
{
  g_return_val_if_fail (index < dataset->pairs->len, NULL);
  return &g_array_index (dataset->pairs, WpPair, index);
}

guint
wp_dataset_get_n_skipped (const WpDataset *dataset,
                          WpSkipReason     reason)
{
  g_return_val_if_fail (reason < WP_SKIP_N_REASONS, 0);
  return dataset->n_skipped[reason];
}

const GPtrArray *
wp_dataset_get_warnings (const WpDataset *dataset)
{
  return dataset->warnings;
}

char *
wp_dataset_describe_skipped (const WpDataset *dataset)
{
  static const char *const names[WP_SKIP_N_REASONS][2] = {
    { "bad line", "bad lines" },
    { "missing image", "missing images" },
    { "undecodable image", "undecodable images" },
  };
  GString *text;
  guint    total = 0;

  for (int r = 0; r < WP_SKIP_N_REASONS; r++)
    total += dataset->n_skipped[r];
  if (total == 0)
    return NULL;
  text = g_string_new (NULL);
  g_string_append_printf (text, "%u %s skipped:", total, total == 1 ? "pair" : "pairs");
  for (int r = 0, listed = 0; r < WP_SKIP_N_REASONS; r++) {
    if (dataset->n_skipped[r] == 0)
      continue;
    g_string_append_printf (text, "%s %u %s", listed++ > 0 ? "," : "", dataset->n_skipped[r],
                            names[r][dataset->n_skipped[r] != 1]);
  }
  return g_string_free (text, FALSE);
}

typedef struct {
  const WpDataset *dataset;
  GCancellable    *cancellable;
  char           **problems; /* (n_pairs) NULL for a good image */
  gint             next;
} CheckJob;

static gpointer
check_worker (gpointer user_data)
{
  CheckJob *job = user_data;
  gint      i;

  while ((i = g_atomic_int_add (&job->next, 1)) < (gint) job->dataset->pairs->len) {
    const WpPair *pair = &g_array_index (job->dataset->pairs, WpPair, i);
    g_autoptr (GError) error = NULL;
    g_autoptr (WpImage) image = NULL;

    if (g_cancellable_is_cancelled (job->cancellable))
      break;
    image = wp_image_load (pair->image_path, &error);
    if (image == NULL)
      job->problems[i] = g_strdup (error->message);
  }
  return NULL;
}

gboolean
wp_dataset_check_images (WpDataset    *dataset,
                         int           n_threads,
                         GCancellable *cancellable,
                         GError      **error)
{
  const guint n = dataset->pairs->len;
  CheckJob    job = { dataset, cancellable, g_new0 (char *, n), 0 };
  GThread    *threads[64];
  const int   n_workers = CLAMP (n_threads, 1, (int) G_N_ELEMENTS (threads));
  guint       kept = 0;

  for (int t = 0; t < n_workers; t++)
    threads[t] = g_thread_new ("wp-check-images", check_worker, &job);
  for (int t = 0; t < n_workers; t++)
    g_thread_join (threads[t]);
  if (g_cancellable_set_error_if_cancelled (cancellable, error)) {
    for (guint i = 0; i < n; i++)
      g_free (job.problems[i]);
    g_free (job.problems);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    WpPair *pair = &g_array_index (dataset->pairs, WpPair, i);

    if (job.problems[i] != NULL) {
      skip (dataset, WP_SKIP_BAD_IMAGE, "%s line %u: %s", dataset->file, pair->line,
            job.problems[i]);
      pair_clear (pair);
      g_free (job.problems[i]);
    } else {
      g_array_index (dataset->pairs, WpPair, kept++) = *pair;
    }
  }
  g_free (job.problems);
  /* The dropped pairs were cleared above; shrinking must not clear the moved ones again. */
  g_array_set_clear_func (dataset->pairs, NULL);
  g_array_set_size (dataset->pairs, kept);
  g_array_set_clear_func (dataset->pairs, pair_clear);
  return check_not_empty (dataset, error);
}

gboolean
wp_caption_has_sides (const char *caption)
{
  g_autofree char *lower = g_utf8_strdown (caption, -1);
  g_auto (GStrv) words = g_regex_split_simple ("[^a-z]+", lower, 0, 0);

  for (guint i = 0; words[i] != NULL; i++) {
    if (strcmp (words[i], "left") == 0 || strcmp (words[i], "right") == 0)
      return TRUE;
  }
  return FALSE;
}

gboolean
wp_dataset_load_batch (const WpDataset        *dataset,
                       const WpModel          *model,
                       const guint            *indices,
                       int                     B,
                       const WpAugmentOptions *augment,
                       const guint64          *seeds,
                       float                  *pixels,
                       int                    *ids,
                       int                    *lengths,
                       int                    *T,
                       GError                **error)
{
  const WpClipConfig *config = &model->config;
  const int           K = config->context_length, S = config->image_size;
  const int           pad = wp_tokenizer_get_pad_id (model->tokenizer);
  g_autofree int     *encoded = g_new (int, (gsize) B *K);
  int                 longest = 1;

  for (int b = 0; b < B; b++) {
    const WpPair *pair = wp_dataset_get_pair (dataset, indices[b]);
    g_autoptr (WpImage) image = wp_image_load (pair->image_path, error);
    float *out = pixels + (gsize) b * 3 * S * S;

    if (image == NULL)
      return FALSE;
    if (augment != NULL)
      wp_augment_image (image, config, augment, !wp_caption_has_sides (pair->caption), seeds[b],
                        out);
    else
      wp_image_preprocess (image, config, out, NULL);
    lengths[b] =
      wp_tokenizer_encode (model->tokenizer, pair->caption, encoded + (gsize) b * K, NULL, K);
    longest = MAX (longest, lengths[b]);
  }
  longest = wp_text_run_length (config, longest);
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < longest; t++)
      ids[(gsize) b * longest + t] = t < lengths[b] ? encoded[(gsize) b * K + t] : pad;
  }
  *T = longest;
  return TRUE;
}

typedef struct {
  guint    count;
  gboolean whole;
} WordCount;

static int
compare_split_words (gconstpointer a,
                     gconstpointer b,
                     gpointer      user_data)
{
  GHashTable      *counts = user_data;
  const WordCount *ca = g_hash_table_lookup (counts, *(const char *const *) a);
  const WordCount *cb = g_hash_table_lookup (counts, *(const char *const *) b);

  if (ca->count != cb->count)
    return ca->count > cb->count ? -1 : 1;
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

void
wp_dataset_get_vocabulary_coverage (const WpDataset      *dataset,
                                    const WpModel        *model,
                                    WpVocabularyCoverage *coverage)
{
  const int K = model->config.context_length;
  /* One slot more than the context tells a caption that fits from one that was cut. */
  g_autofree int *ids = g_new (int, K + 1);
  g_autofree int *word_of_token = g_new (int, K + 1);
  g_autoptr (GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GPtrArray) split = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer       key, value;

  memset (coverage, 0, sizeof *coverage);
  coverage->split = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < dataset->pairs->len; i++) {
    const WpPair *pair = wp_dataset_get_pair (dataset, i);
    const int     n =
      wp_tokenizer_encode (model->tokenizer, pair->caption, ids, word_of_token, K + 1);
    const gboolean truncated = n > K;
    const int      limit = truncated ? K - 1 : n - 1;

    coverage->captions++;
    coverage->truncated += truncated;
    /* From the first piece: after the start token when the tokenizer has one. */
    for (int t = wp_tokenizer_get_bos_id (model->tokenizer) >= 0 ? 1 : 0; t < limit;) {
      const int  word = word_of_token[t];
      int        end = t;
      char      *text;
      WordCount *count;

      while (end < n - 1 && word_of_token[end] == word)
        end++;
      /* The word cut by the context is not what the caption says. */
      if (end > limit)
        break;
      text = wp_tokenizer_dup_tokens_text (model->tokenizer, ids + t, end - t);
      count = g_hash_table_lookup (counts, text);
      if (count == NULL) {
        count = g_new0 (WordCount, 1);
        count->whole = end - t == 1;
        g_hash_table_insert (counts, text, count);
      } else {
        g_free (text);
      }
      count->count++;
      coverage->words++;
      coverage->whole += end - t == 1;
      t = end;
    }
  }
  g_hash_table_iter_init (&iter, counts);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    const WordCount *count = value;

    coverage->distinct++;
    coverage->whole_distinct += count->whole;
    if (!count->whole)
      g_ptr_array_add (split, key);
  }
  g_ptr_array_sort_with_data (split, compare_split_words, counts);
  for (guint i = 0; i < MIN (split->len, 5); i++)
    g_ptr_array_add (coverage->split, g_strdup (split->pdata[i]));
}

void
wp_vocabulary_coverage_clear (WpVocabularyCoverage *coverage)
{
  g_clear_pointer (&coverage->split, g_ptr_array_unref);
  memset (coverage, 0, sizeof *coverage);
}
