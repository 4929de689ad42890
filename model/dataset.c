#include "wordpatch/dataset.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "dataset-private.h"
#include "json-private.h"
#include "tokenizer-private.h"
#include "wordpatch/error.h"
#include "wordpatch/image.h"

/* ---- entries, skips, boxes ---- */

void
wp_dataset_entry_clear (WpDatasetEntry *entry)
{
  WpPair *pair = &entry->pair;

  g_free (pair->image_path);
  g_free (pair->caption);
  for (guint i = 0; i < pair->n_boxes; i++) {
    g_free (pair->boxes[i].word);
    g_free (pair->boxes[i].type);
  }
  g_free (pair->boxes);
  for (guint i = 0; i < pair->n_objects; i++) {
    g_free (pair->objects[i].colour);
    g_free (pair->objects[i].shape);
  }
  g_free (pair->objects);
  memset (pair, 0, sizeof *pair);
}

static void
entry_clear_cb (gpointer data)
{
  wp_dataset_entry_clear (data);
}

void
wp_dataset_skip (WpDataset   *dataset,
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

void
wp_dataset_warn (WpDataset  *dataset,
                 const char *format,
                 ...)
{
  va_list args;

  if (dataset->warnings->len >= WP_DATASET_MAX_WARNINGS)
    return;
  va_start (args, format);
  g_ptr_array_add (dataset->warnings, g_strdup_vprintf (format, args));
  va_end (args);
}

#define READ_CHUNK 65536

gboolean
wp_byte_reader_open (WpByteReader *reader,
                     const char   *path,
                     GChecksum    *checksum,
                     GError      **error)
{
  memset (reader, 0, sizeof *reader);
  reader->fp = fopen (path, "rb");
  if (reader->fp == NULL) {
    int saved_errno = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s: %s", path,
                 g_strerror (saved_errno));
    return FALSE;
  }
  reader->path = path;
  reader->buffer = g_malloc (READ_CHUNK);
  reader->checksum = checksum;
  reader->line = 1;
  return TRUE;
}

void
wp_byte_reader_fill (WpByteReader *reader)
{
  reader->len = fread (reader->buffer, 1, READ_CHUNK, reader->fp);
  reader->pos = 0;
  if (reader->len < READ_CHUNK) {
    reader->eof = TRUE;
    if (ferror (reader->fp))
      reader->read_errno = EIO;
  }
  if (reader->checksum != NULL)
    g_checksum_update (reader->checksum, reader->buffer, (gssize) reader->len);
}

gboolean
wp_byte_reader_close (WpByteReader *reader,
                      GError      **error)
{
  const int read_errno = reader->read_errno;

  g_clear_pointer (&reader->buffer, g_free);
  if (reader->fp != NULL)
    fclose (reader->fp);
  reader->fp = NULL;
  if (read_errno != 0) {
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (read_errno), "%s: %s",
                 reader->path, g_strerror (read_errno));
    return FALSE;
  }
  return TRUE;
}

const char *
wp_dataset_add_source (WpDataset  *dataset,
                       const char *name)
{
  const GPtrArray *sources = dataset->sources;

  if (sources->len == 0 || strcmp (sources->pdata[sources->len - 1], name) != 0)
    g_ptr_array_add (dataset->sources, g_strdup (name));
  return sources->pdata[sources->len - 1];
}

char *
wp_dataset_describe_entry (const WpDataset      *dataset,
                           const WpDatasetEntry *entry)
{
  switch (dataset->format) {
  case WP_DATASET_COCO:
    return g_strdup_printf ("%s line %u, annotations[%u]", entry->source, entry->pair.line,
                            entry->item);
  case WP_DATASET_WEBDATASET:
    /* image_path is SHARD/MEMBER. */
    return g_strdup_printf ("%s sample %u (%s)", entry->source, entry->pair.line,
                            entry->pair.image_path + strlen (entry->source) + 1);
  case WP_DATASET_JSONL:
  case WP_DATASET_TSV:
  case WP_DATASET_CSV:
  case WP_DATASET_FLICKR30K:
    break;
  }
  return g_strdup_printf ("%s line %u", entry->source, entry->pair.line);
}

gboolean
wp_dataset_pair_add_box (WpPair     *pair,
                         const char *word,
                         int         occurrence,
                         double      x,
                         double      y,
                         double      w,
                         double      h,
                         guint       phrase,
                         const char *type)
{
  WpBox *box;

  if (pair->n_boxes >= WP_DATASET_MAX_BOXES)
    return FALSE;
  pair->boxes = g_renew (WpBox, pair->boxes, pair->n_boxes + 1);
  box = &pair->boxes[pair->n_boxes++];
  box->word = g_strdup (word);
  box->occurrence = occurrence;
  box->x = x;
  box->y = y;
  box->w = w;
  box->h = h;
  box->phrase = phrase;
  box->type = g_strdup (type);
  return TRUE;
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

/* A whole number from 0 to max in member key of obj (default when absent), or FALSE. */
static gboolean
whole_member (JsonObject *obj,
              const char *key,
              double      max,
              double     *value)
{
  if (!json_object_has_member (obj, key))
    return TRUE;
  return number_member (obj, key, value) && *value >= 0.0 && *value <= max &&
         *value == floor (*value);
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
    const char *word, *type = NULL;
    double      occurrence = 0.0, phrase = 0.0;

    if (!JSON_NODE_HOLDS_OBJECT (element))
      return "every box must be an object";
    box_obj = json_node_get_object (element);
    word = string_member (box_obj, "word");
    if (word == NULL || word[0] == '\0')
      return "every box needs a non-empty string \"word\"";
    problem = parse_rectangle (box_obj, LIST_BOXES, &box.x, &box.y, &box.w, &box.h);
    if (problem != NULL)
      return problem;
    if (!whole_member (box_obj, "occurrence", 1000.0, &occurrence))
      return "a box's \"occurrence\" must be a whole number from 0";
    if (!whole_member (box_obj, "phrase", 1000.0, &phrase))
      return "a box's \"phrase\" must be a whole number from 0";
    if (json_object_has_member (box_obj, "type")) {
      type = string_member (box_obj, "type");
      if (type == NULL || type[0] == '\0')
        return "a box's \"type\" must be a non-empty string";
    }
    box.occurrence = (int) occurrence;
    box.phrase = (guint) phrase;
    box.word = g_strdup (word);
    box.type = g_strdup (type);
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

const char *
wp_dataset_parse_boxes_and_objects (JsonObject *obj,
                                    WpPair     *pair)
{
  const char *problem = parse_boxes (obj, pair);

  return problem != NULL ? problem : parse_objects (obj, pair);
}

void
wp_dataset_add_entry (WpDataset      *dataset,
                      WpDatasetEntry *entry,
                      const char     *image,
                      const char     *caption)
{
  WpPair          *pair = &entry->pair;
  g_autofree char *where = NULL;

  pair->image_path = g_path_is_absolute (image) || dataset->format == WP_DATASET_WEBDATASET
                       ? g_strdup (image)
                       : g_build_filename (dataset->base, image, NULL);
  pair->caption = g_strdup (caption);
  where = wp_dataset_describe_entry (dataset, entry);
  if (image[0] == '\0')
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s: empty image path", where);
  /* A caption without a word gives the text tower nothing but its start and end tokens. */
  else if (caption[strspn (caption, " \t\n\v\f\r")] == '\0')
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s: empty caption", where);
  else if (strlen (caption) > WP_DATASET_MAX_CAPTION)
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s: caption longer than %d bytes", where,
                     WP_DATASET_MAX_CAPTION);
  else if (dataset->format != WP_DATASET_WEBDATASET &&
           !g_file_test (pair->image_path, G_FILE_TEST_IS_REGULAR))
    wp_dataset_skip (dataset, WP_SKIP_MISSING_IMAGE, "%s: image %s does not exist", where,
                     pair->image_path);
  else {
    g_array_append_val (dataset->entries, *entry);
    return;
  }
  wp_dataset_entry_clear (entry);
}

/* ---- words, as the tokenizer splits them ---- */

static GRegex *
word_regex (void)
{
  static GRegex *regex;

  if (g_once_init_enter (&regex))
    g_once_init_leave (&regex, wp_tokenizer_word_regex_new ());
  return regex;
}

void
wp_word_counter_init (WpWordCounter *counter)
{
  counter->counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

void
wp_word_counter_clear (WpWordCounter *counter)
{
  g_clear_pointer (&counter->counts, g_hash_table_unref);
}

void
wp_word_counter_add (WpWordCounter *counter,
                     const char    *text,
                     GPtrArray     *words,
                     GArray        *occurrences)
{
  g_autofree char *clean = wp_tokenizer_clean_text (text);
  g_autoptr (GMatchInfo) match = NULL;

  g_regex_match (word_regex (), clean, 0, &match);
  for (; g_match_info_matches (match); g_match_info_next (match, NULL)) {
    char    *word = g_match_info_fetch (match, 0);
    gpointer value;
    int      seen = 0;

    if (g_hash_table_lookup_extended (counter->counts, word, NULL, &value))
      seen = GPOINTER_TO_INT (value);
    g_hash_table_replace (counter->counts, g_strdup (word), GINT_TO_POINTER (seen + 1));
    if (occurrences != NULL)
      g_array_append_val (occurrences, seen);
    g_ptr_array_add (words, word);
  }
}

/* ---- captions.jsonl and captions.tsv ---- */

static void
parse_jsonl_line (WpDataset  *dataset,
                  const char *text,
                  guint       line)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local_error = NULL;
  WpDatasetEntry entry = { { 0 } };
  JsonNode      *root;
  const char    *image, *caption, *problem;

  /* The line length limit bounds the tree. */
  if (!wp_json_parser_load (parser, text, strlen (text), G_MAXSIZE, &local_error)) {
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: %s", dataset->file, line,
                     local_error->message);
    return;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: not a JSON object", dataset->file,
                     line);
    return;
  }
  image = string_member (json_node_get_object (root), "image");
  caption = string_member (json_node_get_object (root), "caption");
  if (image == NULL || caption == NULL) {
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE,
                     "%s line %u: needs string members \"image\" and \"caption\"", dataset->file,
                     line);
    return;
  }
  problem = wp_dataset_parse_boxes_and_objects (json_node_get_object (root), &entry.pair);
  if (problem != NULL) {
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: %s", dataset->file, line, problem);
    wp_dataset_entry_clear (&entry);
    return;
  }
  entry.source = dataset->file;
  entry.pair.line = line;
  wp_dataset_add_entry (dataset, &entry, image, caption);
}

static void
parse_tsv_line (WpDataset *dataset,
                char      *text,
                guint      line)
{
  char          *tab = strchr (text, '\t');
  WpDatasetEntry entry = { { 0 } };

  if (tab == NULL) {
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: expected image<TAB>caption",
                     dataset->file, line);
    return;
  }
  *tab = '\0';
  entry.source = dataset->file;
  entry.pair.line = line;
  wp_dataset_add_entry (dataset, &entry, text, tab + 1);
}

static gboolean
read_captions_file (WpDataset *dataset,
                    GError   **error)
{
  g_autoptr (GMappedFile) mapped = NULL;
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  const gboolean is_jsonl = dataset->format == WP_DATASET_JSONL;
  gsize          length;

  /* Mapped, so that the size limit applies before the text is copied. */
  mapped = g_mapped_file_new (dataset->file, FALSE, error);
  if (mapped == NULL)
    return FALSE;
  length = g_mapped_file_get_length (mapped);
  if (length > WP_DATASET_MAX_BYTES) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: %" G_GSIZE_FORMAT " bytes, more than the limit of %" G_GUINT64_FORMAT,
                 dataset->file, length, WP_DATASET_MAX_BYTES);
    return FALSE;
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
    return FALSE;
  }
  wp_dataset_add_source (dataset, dataset->file);
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    char *text = g_strchomp (lines[i]);

    if (text[0] == '\0')
      continue;
    if (strlen (text) > WP_DATASET_MAX_LINE) {
      wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: longer than %d bytes",
                       dataset->file, i + 1, WP_DATASET_MAX_LINE);
      continue;
    }
    if (dataset->entries->len >= WP_DATASET_MAX_PAIRS) {
      g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: more than %d pairs", dataset->file,
                   WP_DATASET_MAX_PAIRS);
      return FALSE;
    }
    if (is_jsonl)
      parse_jsonl_line (dataset, text, i + 1);
    else
      parse_tsv_line (dataset, text, i + 1);
  }
  return TRUE;
}

/* ---- which layout ---- */

static const char *const format_names[] = {
  "captions.jsonl",
  "captions.tsv",
  "open_clip CSV",
  "COCO captions",
  "Flickr30k Entities",
  "WebDataset",
};

static gboolean
has_extension (const char *name,
               const char *extension)
{
  g_autofree char *lower = g_ascii_strdown (name, -1);

  return g_str_has_suffix (lower, extension);
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The regular files of folder whose name the function accepts, sorted, as paths. */
static GPtrArray *
list_files (const char *folder,
            gboolean (*accept) (const char *name))
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  GPtrArray  *paths = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = g_build_filename (folder, name, NULL);

    if (accept (name) && g_file_test (path, G_FILE_TEST_IS_REGULAR))
      g_ptr_array_add (paths, g_steal_pointer (&path));
  }
  g_ptr_array_sort (paths, compare_names);
  return paths;
}

static gboolean
is_shard_name (const char *name)
{
  return has_extension (name, ".tar");
}

static gboolean
is_csv_name (const char *name)
{
  return (has_extension (name, ".csv") || has_extension (name, ".tsv")) &&
         strcmp (name, "captions.tsv") != 0;
}

static gboolean
is_coco_name (const char *name)
{
  return g_str_has_prefix (name, "captions_") && has_extension (name, ".json");
}

/* The one file of a folder's candidates, or an error naming them all. */
static char *
only_file (const char *dir,
           GPtrArray  *candidates,
           const char *what,
           GError    **error)
{
  g_autoptr (GString) names = g_string_new (NULL);

  if (candidates->len == 1)
    return g_strdup (candidates->pdata[0]);
  for (guint i = 0; i < candidates->len; i++) {
    g_autofree char *base = g_path_get_basename (candidates->pdata[i]);

    g_string_append_printf (names, "%s%s", i > 0 ? ", " : "", base);
  }
  g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: holds %u %s (%s): give the one to read",
               dir, candidates->len, what, names->str);
  return NULL;
}

static gboolean
is_folder (const char *dir,
           const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  return g_file_test (path, G_FILE_TEST_IS_DIR);
}

/* Which layout a folder holds, and the file or shards to read. */
static gboolean
detect_in_folder (WpDataset  *dataset,
                  GPtrArray **shards,
                  GError    **error)
{
  const char      *dir = dataset->path;
  g_autofree char *jsonl = g_build_filename (dir, "captions.jsonl", NULL);
  g_autofree char *tsv = g_build_filename (dir, "captions.tsv", NULL);
  g_autofree char *annotations = g_build_filename (dir, "annotations", NULL);
  g_autoptr (GPtrArray) tars = NULL;
  g_autoptr (GPtrArray) csvs = NULL;
  g_autoptr (GPtrArray) cocos = NULL;

  dataset->base = g_strdup (dir);
  if (g_file_test (jsonl, G_FILE_TEST_EXISTS) || g_file_test (tsv, G_FILE_TEST_EXISTS)) {
    dataset->format = g_file_test (jsonl, G_FILE_TEST_EXISTS) ? WP_DATASET_JSONL : WP_DATASET_TSV;
    dataset->file = g_strdup (dataset->format == WP_DATASET_JSONL ? jsonl : tsv);
    return TRUE;
  }
  if (is_folder (dir, "Sentences") && is_folder (dir, "Annotations")) {
    dataset->format = WP_DATASET_FLICKR30K;
    dataset->file = g_strdup (dir);
    return TRUE;
  }
  tars = list_files (dir, is_shard_name);
  if (tars->len > 0) {
    dataset->format = WP_DATASET_WEBDATASET;
    dataset->file = g_strdup (dir);
    *shards = g_steal_pointer (&tars);
    return TRUE;
  }
  csvs = list_files (dir, is_csv_name);
  if (csvs->len > 0) {
    dataset->format = WP_DATASET_CSV;
    dataset->file = only_file (dir, csvs, "CSV or TSV files", error);
    return dataset->file != NULL;
  }
  cocos = list_files (dir, is_coco_name);
  if (cocos->len == 0) {
    g_ptr_array_unref (cocos);
    cocos = list_files (annotations, is_coco_name);
  }
  if (cocos->len > 0) {
    dataset->format = WP_DATASET_COCO;
    dataset->file = only_file (dir, cocos, "COCO captions files", error);
    if (dataset->file == NULL)
      return FALSE;
    g_free (dataset->base);
    dataset->base = g_path_get_dirname (dataset->file);
    return TRUE;
  }
  g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
               "%s: no dataset in this folder: it holds no captions.jsonl or captions.tsv, no "
               "open_clip .csv or .tsv, no COCO captions_*.json, no Flickr30k Entities "
               "Sentences/ and Annotations/ and no WebDataset .tar shards",
               dir);
  return FALSE;
}

/* Which layout a file is, by its name. */
static gboolean
detect_file (WpDataset  *dataset,
             GPtrArray **shards,
             GError    **error)
{
  g_autofree char *name = g_path_get_basename (dataset->path);

  dataset->base = g_path_get_dirname (dataset->path);
  dataset->file = g_strdup (dataset->path);
  if (strcmp (name, "captions.tsv") == 0)
    dataset->format = WP_DATASET_TSV;
  else if (has_extension (name, ".jsonl"))
    dataset->format = WP_DATASET_JSONL;
  else if (is_csv_name (name))
    dataset->format = WP_DATASET_CSV;
  else if (has_extension (name, ".json"))
    dataset->format = WP_DATASET_COCO;
  else if (is_shard_name (name))
    dataset->format = WP_DATASET_WEBDATASET;
  else {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: not a dataset file (captions .jsonl, open_clip .csv or .tsv, COCO "
                 "captions .json or a WebDataset .tar shard)",
                 dataset->path);
    return FALSE;
  }
  if (dataset->format == WP_DATASET_WEBDATASET) {
    *shards = g_ptr_array_new_with_free_func (g_free);
    g_ptr_array_add (*shards, g_strdup (dataset->path));
  }
  return TRUE;
}

static gboolean
is_pattern (const char *path)
{
  return strchr (path, '{') != NULL;
}

/* An option the layout has no use for is an error: it would be silently ignored otherwise. */
static gboolean
check_options (const WpDataset        *dataset,
               const WpDatasetOptions *options,
               GError                **error)
{
  const WpDatasetFormat f = dataset->format;
  const struct {
    const char *name, *value;
    gboolean    used;
  } checks[] = {
    { "images", options->images, f == WP_DATASET_COCO || f == WP_DATASET_FLICKR30K },
    { "instances", options->instances, f == WP_DATASET_COCO },
    { "split", options->split, f == WP_DATASET_FLICKR30K },
    { "csv_img_key", options->csv_img_key, f == WP_DATASET_CSV },
    { "csv_caption_key", options->csv_caption_key, f == WP_DATASET_CSV },
    { "csv_separator", options->csv_separator, f == WP_DATASET_CSV },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (checks); i++) {
    if (checks[i].value != NULL && !checks[i].used) {
      g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "%s: a %s dataset has no use for %s",
                   dataset->path, format_names[f], checks[i].name);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
check_not_empty (const WpDataset *dataset,
                 GError         **error)
{
  g_autofree char *skipped = NULL;

  if (dataset->entries->len > 0)
    return TRUE;
  skipped = wp_dataset_describe_skipped (dataset);
  if (dataset->warnings->len == 0)
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: the dataset is empty", dataset->path);
  else if (skipped == NULL)
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: the dataset has no pair (%s)",
                 dataset->path, (const char *) dataset->warnings->pdata[0]);
  else
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: the dataset has no usable pair (%s; the first: %s)", dataset->path,
                 skipped, (const char *) dataset->warnings->pdata[0]);
  return FALSE;
}

WpDataset *
wp_dataset_open (const char *path,
                 GError    **error)
{
  return wp_dataset_open_full (path, NULL, error);
}

WpDataset *
wp_dataset_open_full (const char             *path,
                      const WpDatasetOptions *options,
                      GError                **error)
{
  g_autoptr (WpDataset) dataset = g_new0 (WpDataset, 1);
  g_autoptr (GPtrArray) shards = NULL;
  const WpDatasetOptions defaults = { 0 };
  gboolean               ok;

  g_return_val_if_fail (path != NULL, NULL);
  if (options == NULL)
    options = &defaults;
  dataset->path = g_strdup (path);
  dataset->entries = g_array_new (FALSE, FALSE, sizeof (WpDatasetEntry));
  g_array_set_clear_func (dataset->entries, entry_clear_cb);
  dataset->sources = g_ptr_array_new_with_free_func (g_free);
  dataset->warnings = g_ptr_array_new_with_free_func (g_free);
  if (is_pattern (path) && !g_file_test (path, G_FILE_TEST_EXISTS)) {
    dataset->format = WP_DATASET_WEBDATASET;
    dataset->file = g_strdup (path);
    dataset->base = g_path_get_dirname (path);
    shards = wp_dataset_expand_pattern (path, error);
    ok = shards != NULL;
  } else if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    ok = detect_in_folder (dataset, &shards, error);
  } else if (g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    ok = detect_file (dataset, &shards, error);
  } else {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: no such dataset folder or file", path);
    return NULL;
  }
  if (!ok || !check_options (dataset, options, error))
    return NULL;
  switch (dataset->format) {
  case WP_DATASET_JSONL:
  case WP_DATASET_TSV:
    ok = read_captions_file (dataset, error);
    break;
  case WP_DATASET_CSV:
    ok = wp_dataset_read_csv (dataset, options, error);
    break;
  case WP_DATASET_COCO:
    ok = wp_dataset_read_coco (dataset, options, error);
    break;
  case WP_DATASET_FLICKR30K:
    ok = wp_dataset_read_flickr30k (dataset, options, error);
    break;
  case WP_DATASET_WEBDATASET:
    ok = wp_dataset_read_shards (dataset, g_steal_pointer (&shards), error);
    break;
  }
  if (!ok || !check_not_empty (dataset, error))
    return NULL;
  return g_steal_pointer (&dataset);
}

void
wp_dataset_free (WpDataset *dataset)
{
  if (dataset == NULL)
    return;
  g_clear_pointer (&dataset->entries, g_array_unref);
  g_clear_pointer (&dataset->warnings, g_ptr_array_unref);
  g_clear_pointer (&dataset->sources, g_ptr_array_unref);
  g_clear_pointer (&dataset->shards, g_ptr_array_unref);
  g_free (dataset->path);
  g_free (dataset->base);
  g_free (dataset->file);
  g_free (dataset->checksum);
  g_free (dataset);
}

void
wp_dataset_options_clear (WpDatasetOptions *options)
{
  g_clear_pointer (&options->images, g_free);
  g_clear_pointer (&options->instances, g_free);
  g_clear_pointer (&options->split, g_free);
  g_clear_pointer (&options->csv_img_key, g_free);
  g_clear_pointer (&options->csv_caption_key, g_free);
  g_clear_pointer (&options->csv_separator, g_free);
}

const char *
wp_dataset_get_dir (const WpDataset *dataset)
{
  return dataset->path;
}

WpDatasetFormat
wp_dataset_get_format (const WpDataset *dataset)
{
  return dataset->format;
}

const char *
wp_dataset_get_format_name (const WpDataset *dataset)
{
  if (dataset->format == WP_DATASET_COCO && dataset->with_instances)
    return "COCO captions and instances";
  return format_names[dataset->format];
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
  return dataset->entries->len;
}

const WpPair *
wp_dataset_get_pair (const WpDataset *dataset,
                     guint            index)
{
  g_return_val_if_fail (index < dataset->entries->len, NULL);
  return &g_array_index (dataset->entries, WpDatasetEntry, index).pair;
}

WpImage *
wp_dataset_load_image (const WpDataset *dataset,
                       guint            index,
                       GError         **error)
{
  const WpPair *pair = wp_dataset_get_pair (dataset, index);
  g_autoptr (WpShardReader) reader = NULL;
  g_autoptr (GBytes) bytes = NULL;

  g_return_val_if_fail (pair != NULL, NULL);
  if (dataset->format != WP_DATASET_WEBDATASET)
    return wp_image_load (pair->image_path, error);
  reader = wp_shard_reader_new (dataset);
  bytes = wp_shard_reader_read (reader, index, error);
  if (bytes == NULL)
    return NULL;
  return wp_image_load_from_memory (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                    pair->image_path, error);
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

  while ((i = g_atomic_int_add (&job->next, 1)) < (gint) job->dataset->entries->len) {
    const WpPair *pair = wp_dataset_get_pair (job->dataset, (guint) i);
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

static void
free_problems (char **problems,
               guint  n)
{
  for (guint i = 0; i < n; i++)
    g_free (problems[i]);
  g_free (problems);
}

gboolean
wp_dataset_check_images (WpDataset    *dataset,
                         int           n_threads,
                         GCancellable *cancellable,
                         GError      **error)
{
  const guint n = dataset->entries->len;
  CheckJob    job = { dataset, cancellable, g_new0 (char *, n), 0 };
  GThread    *threads[64];
  const int   n_workers = CLAMP (n_threads, 1, (int) G_N_ELEMENTS (threads));
  guint       kept = 0;

  if (dataset->format == WP_DATASET_WEBDATASET) {
    wp_shards_check_images (dataset, n_workers, cancellable, job.problems);
  } else {
    for (int t = 0; t < n_workers; t++)
      threads[t] = g_thread_new ("wp-check-images", check_worker, &job);
    for (int t = 0; t < n_workers; t++)
      g_thread_join (threads[t]);
  }
  if (g_cancellable_set_error_if_cancelled (cancellable, error)) {
    free_problems (job.problems, n);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    WpDatasetEntry *entry = &g_array_index (dataset->entries, WpDatasetEntry, i);

    if (job.problems[i] != NULL) {
      g_autofree char *where = wp_dataset_describe_entry (dataset, entry);

      wp_dataset_skip (dataset, WP_SKIP_BAD_IMAGE, "%s: %s", where, job.problems[i]);
      wp_dataset_entry_clear (entry);
    } else {
      g_array_index (dataset->entries, WpDatasetEntry, kept++) = *entry;
    }
  }
  free_problems (job.problems, n);
  /* The dropped entries were cleared above; shrinking must not clear the moved ones again. */
  g_array_set_clear_func (dataset->entries, NULL);
  g_array_set_size (dataset->entries, kept);
  g_array_set_clear_func (dataset->entries, entry_clear_cb);
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

static WpImage *
load_image_cb (const WpDataset *dataset,
               guint            index,
               gpointer         user_data,
               GError         **error)
{
  return wp_dataset_load_image (dataset, index, error);
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
                       WpAugmentation         *augmentations,
                       GError                **error)
{
  return wp_dataset_load_batch_with (dataset, model, indices, B, load_image_cb, NULL, augment,
                                     seeds, pixels, ids, lengths, T, augmentations, error);
}

gboolean
wp_dataset_load_batch_with (const WpDataset        *dataset,
                            const WpModel          *model,
                            const guint            *indices,
                            int                     B,
                            WpDatasetImageFunc      load_image,
                            gpointer                user_data,
                            const WpAugmentOptions *augment,
                            const guint64          *seeds,
                            float                  *pixels,
                            int                    *ids,
                            int                    *lengths,
                            int                    *T,
                            WpAugmentation         *augmentations,
                            GError                **error)
{
  const WpClipConfig *config = &model->config;
  const int           K = config->context_length, S = config->image_size;
  const int           pad = wp_tokenizer_get_eos_id (model->tokenizer);
  g_autofree int     *encoded = g_new (int, (gsize) B *K);
  int                 longest = 1;

  for (int b = 0; b < B; b++) {
    const WpPair *pair = wp_dataset_get_pair (dataset, indices[b]);
    g_autoptr (WpImage) image = load_image (dataset, indices[b], user_data, error);
    float         *out = pixels + (gsize) b * 3 * S * S;
    WpAugmentation augmentation = { .brightness = 1.0, .contrast = 1.0, .saturation = 1.0 };

    if (image == NULL)
      return FALSE;
    if (augment != NULL) {
      wp_augment_draw (image->width, image->height, augment,
                       !wp_caption_has_sides (pair->caption), seeds[b], &augmentation);
      wp_augment_apply (image, config, &augmentation, out);
    } else {
      wp_image_preprocess (image, config, out, &augmentation.crop);
    }
    if (augmentations != NULL)
      augmentations[b] = augmentation;
    lengths[b] =
      wp_tokenizer_encode (model->tokenizer, pair->caption, encoded + (gsize) b * K, NULL, K);
    longest = MAX (longest, lengths[b]);
  }
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
  for (guint i = 0; i < dataset->entries->len; i++) {
    const WpPair *pair = wp_dataset_get_pair (dataset, i);
    const int     n =
      wp_tokenizer_encode (model->tokenizer, pair->caption, ids, word_of_token, K + 1);
    const gboolean truncated = n > K;
    const int      limit = truncated ? K - 1 : n - 1;

    coverage->captions++;
    coverage->truncated += truncated;
    for (int t = 1; t < limit;) {
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
