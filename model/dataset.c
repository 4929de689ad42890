#include "wordpatch/dataset.h"

#include <errno.h>
#include <string.h>

#include "dataset-private.h"
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
    ok = wp_dataset_read_captions (dataset, error);
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
