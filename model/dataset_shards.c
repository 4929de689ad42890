/* dataset_shards.c: WebDataset .tar shards (dataset.h), read in place with libarchive.
 *
 * A sample is a run of consecutive members sharing a key, the member name up to the first dot of
 * its last path component ("a/000017.jpg", "a/000017.txt": key "a/000017"), as webdataset groups
 * them. Opening reads every header and the text members, and only notes where each image member
 * starts; images are read later, from that position. A tar's members can be read from any
 * header on, so a reader seeks to the header and lets libarchive read from there: in order along
 * a shard when training streams it, or one member alone for evaluation. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "wordpatch/error.h"

#include "dataset-private.h"
#include "json-private.h"

#define BLOCK 65536
/* Bound on an image member: its decoded pixels are bounded by image.h anyway. */
#define MAX_IMAGE_BYTES ((gint64) 1 << 28)

static const char *const image_extensions[] = {
  "jpg",
  "jpeg",
  "png",
  "webp",
  "bmp",
  "gif",
  "tga",
  "ppm",
  "pgm",
  "pnm",
};

/* ---- shard patterns ---- */

/* The alternatives of one brace group's contents: "000..009" or "a,b". */
static GPtrArray *
group_alternatives (const char *text,
                    GError    **error)
{
  GPtrArray  *alternatives = g_ptr_array_new_with_free_func (g_free);
  const char *dots = strstr (text, "..");

  if (strchr (text, ',') != NULL) {
    g_auto (GStrv) parts = g_strsplit (text, ",", -1);

    for (guint i = 0; parts[i] != NULL; i++)
      g_ptr_array_add (alternatives, g_strdup (parts[i]));
    return alternatives;
  }
  if (dots != NULL) {
    g_autofree char *first = g_strndup (text, (gsize) (dots - text));
    const char      *last = dots + 2;
    guint64          a, b;
    int              width = 0;

    if (first[0] != '\0' && last[0] != '\0' && strlen (first) <= 9 && strlen (last) <= 9 &&
        g_ascii_string_to_unsigned (first, 10, 0, G_MAXUINT64, &a, NULL) &&
        g_ascii_string_to_unsigned (last, 10, 0, G_MAXUINT64, &b, NULL)) {
      /* Zero-padded to the longer end when either end is written with leading zeros. */
      if ((first[0] == '0' && first[1] != '\0') || (last[0] == '0' && last[1] != '\0'))
        width = (int) MAX (strlen (first), strlen (last));
      if ((a > b ? a - b : b - a) >= WP_DATASET_MAX_SHARDS) {
        g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "{%s} stands for more than %d shards",
                     text, WP_DATASET_MAX_SHARDS);
        g_ptr_array_unref (alternatives);
        return NULL;
      }
      for (guint64 n = a;; n += a <= b ? 1 : (guint64) -1) {
        g_ptr_array_add (alternatives, g_strdup_printf ("%0*" G_GUINT64_FORMAT, width, n));
        if (n == b)
          break;
      }
      return alternatives;
    }
  }
  g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
               "{%s} is neither a range {A..B} of numbers nor a list {x,y}", text);
  g_ptr_array_unref (alternatives);
  return NULL;
}

GPtrArray *
wp_dataset_expand_pattern (const char *pattern,
                           GError    **error)
{
  g_autoptr (GPtrArray) results = g_ptr_array_new_with_free_func (g_free);
  const char *p = pattern;

  g_ptr_array_add (results, g_strdup (""));
  while (*p != '\0') {
    const char      *open = strchr (p, '{');
    g_autofree char *literal = open != NULL ? g_strndup (p, (gsize) (open - p)) : g_strdup (p);
    g_autofree char *inside = NULL;
    g_autoptr (GPtrArray) alternatives = NULL;
    g_autoptr (GPtrArray) next = NULL;
    const char *close;

    for (guint i = 0; i < results->len; i++) {
      char *joined = g_strconcat (results->pdata[i], literal, NULL);

      g_free (results->pdata[i]);
      results->pdata[i] = joined;
    }
    if (open == NULL)
      break;
    close = strchr (open, '}');
    if (close == NULL || memchr (open + 1, '{', (gsize) (close - open - 1)) != NULL) {
      g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: a '{' without its '}'", pattern);
      return NULL;
    }
    inside = g_strndup (open + 1, (gsize) (close - open - 1));
    alternatives = group_alternatives (inside, error);
    if (alternatives == NULL) {
      g_prefix_error (error, "%s: ", pattern);
      return NULL;
    }
    if ((guint64) results->len * alternatives->len > WP_DATASET_MAX_SHARDS) {
      g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: more than %d shards", pattern,
                   WP_DATASET_MAX_SHARDS);
      return NULL;
    }
    next = g_ptr_array_new_with_free_func (g_free);
    for (guint i = 0; i < results->len; i++) {
      for (guint k = 0; k < alternatives->len; k++)
        g_ptr_array_add (next, g_strconcat (results->pdata[i], alternatives->pdata[k], NULL));
    }
    g_ptr_array_unref (results);
    results = g_steal_pointer (&next);
    p = close + 1;
  }
  return g_steal_pointer (&results);
}

/* ---- opening: the index ---- */

typedef struct {
  char  *key;
  guint  number; /* in its shard, from 1 */
  char  *image;  /* the image member's name */
  gint64 offset, size;
  char  *caption;
  char  *json;
  gsize  json_len;
  char  *problem;
} Sample;

static void
sample_clear (Sample *sample)
{
  g_clear_pointer (&sample->key, g_free);
  g_clear_pointer (&sample->image, g_free);
  g_clear_pointer (&sample->caption, g_free);
  g_clear_pointer (&sample->json, g_free);
  g_clear_pointer (&sample->problem, g_free);
}

/* "a/000017.JPG" -> key "a/000017", extension "jpg". */
static void
split_name (const char *name,
            char      **key,
            char      **extension)
{
  const char *base = strrchr (name, '/');
  const char *dot = strchr (base != NULL ? base + 1 : name, '.');

  *key = dot != NULL ? g_strndup (name, (gsize) (dot - name)) : g_strdup (name);
  *extension = g_ascii_strdown (dot != NULL ? dot + 1 : "", -1);
}

static gboolean
is_image_extension (const char *extension)
{
  for (gsize i = 0; i < G_N_ELEMENTS (image_extensions); i++) {
    if (strcmp (extension, image_extensions[i]) == 0)
      return TRUE;
  }
  return FALSE;
}

/* Reads the current member's data (at most limit bytes; more is *problem) into a string. NULL
 * with *broken (libarchive's message) when the shard cannot be read on. */
static char *
read_member_text (struct archive *a,
                  gint64          size,
                  gsize           limit,
                  gsize          *len,
                  char          **problem,
                  char          **broken)
{
  g_autofree char *data = NULL;
  la_ssize_t       n;

  if (size < 0 || (guint64) size > limit) {
    *problem = g_strdup_printf ("a text member longer than %" G_GSIZE_FORMAT " bytes", limit);
    return NULL;
  }
  data = g_malloc ((gsize) size + 1);
  n = archive_read_data (a, data, (size_t) size);
  if (n < 0 || n != size) {
    *broken = g_strdup (n < 0 ? archive_error_string (a) : "a member is cut short");
    return NULL;
  }
  data[size] = '\0';
  *len = (gsize) size;
  return g_steal_pointer (&data);
}

/* Turns a complete sample into a pair, or a warning. */
static void
finish_sample (WpDataset  *dataset,
               const char *shard,
               guint       shard_index,
               Sample     *sample)
{
  WpDatasetEntry   entry = { { 0 } };
  g_autofree char *image = NULL;
  const char      *problem = sample->problem;

  if (sample->key == NULL)
    return;
  if (problem == NULL && sample->image == NULL)
    problem = "no image member (.jpg, .jpeg, .png, .webp, ...)";
  else if (problem == NULL && sample->caption == NULL)
    problem = "no .txt caption member";
  else if (problem == NULL && !g_utf8_validate (sample->caption, -1, NULL))
    problem = "the caption is not valid UTF-8 text";
  if (problem == NULL && sample->json != NULL) {
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_autoptr (GError) error = NULL;
    JsonNode *root;

    if (!wp_json_parser_load (parser, sample->json, sample->json_len, G_MAXSIZE, &error)) {
      g_clear_pointer (&sample->problem, g_free);
      sample->problem = g_strdup_printf (".json: %s", error->message);
      problem = sample->problem;
    } else if ((root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
      problem = ".json: not a JSON object";
    } else {
      problem = wp_dataset_parse_boxes_and_objects (json_node_get_object (root), &entry.pair);
    }
  }
  if (problem != NULL) {
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s sample %u (%s): %s", shard, sample->number,
                     sample->key, problem);
    wp_dataset_entry_clear (&entry);
    return;
  }
  entry.source = wp_dataset_add_source (dataset, shard);
  entry.pair.line = sample->number;
  entry.item = sample->number - 1;
  entry.shard = shard_index;
  entry.offset = sample->offset;
  entry.size = sample->size;
  image = g_build_filename (shard, sample->image, NULL);
  wp_dataset_add_entry (dataset, &entry, image, g_strstrip (sample->caption));
}

/* Feeds a member's name and size to the checksum. */
static void
checksum_member (GChecksum  *checksum,
                 const char *name,
                 gint64      size)
{
  g_autofree char *text = g_strdup_printf ("%s\n%" G_GINT64_FORMAT "\n", name, size);

  g_checksum_update (checksum, (const guchar *) text, -1);
}

/* One member of the current sample. FALSE when the shard cannot be read on (*broken says why). */
static gboolean
read_member (struct archive       *a,
             struct archive_entry *member,
             const char           *extension,
             Sample               *sample,
             GChecksum            *checksum,
             char                **broken)
{
  const char      *name = archive_entry_pathname (member);
  const gint64     size = archive_entry_size (member);
  char           **text = NULL;
  g_autofree char *problem = NULL;
  gsize            limit = 0, len = 0;

  checksum_member (checksum, name, size);
  if (is_image_extension (extension)) {
    if (sample->image != NULL)
      return TRUE;
    if (size > MAX_IMAGE_BYTES && sample->problem == NULL)
      sample->problem = g_strdup_printf ("%s: an image member of more than %" G_GINT64_FORMAT
                                         " bytes",
                                         name, MAX_IMAGE_BYTES);
    sample->image = g_strdup (name);
    sample->offset = archive_read_header_position (a);
    sample->size = size;
    return TRUE;
  }
  if (strcmp (extension, "txt") == 0 && sample->caption == NULL) {
    text = &sample->caption;
    limit = WP_DATASET_MAX_CAPTION;
  } else if (strcmp (extension, "json") == 0 && sample->json == NULL) {
    text = &sample->json;
    limit = WP_DATASET_MAX_LINE;
  } else {
    return TRUE;
  }
  *text = read_member_text (a, size, limit, &len, &problem, broken);
  if (problem != NULL && sample->problem == NULL)
    sample->problem = g_steal_pointer (&problem);
  if (*broken != NULL)
    return FALSE;
  if (*text == NULL)
    return TRUE;
  g_checksum_update (checksum, (const guchar *) *text, (gssize) len);
  if (text == &sample->json)
    sample->json_len = len;
  else if (memchr (*text, '\0', len) != NULL && sample->problem == NULL)
    sample->problem = g_strdup ("the caption holds a NUL byte");
  return TRUE;
}

/* Indexes one shard's samples into dataset. */
static void
read_shard (WpDataset  *dataset,
            const char *shard,
            guint       shard_index,
            GChecksum  *checksum)
{
  struct archive  *a = archive_read_new ();
  g_autofree char *name = g_path_get_basename (shard);
  g_autofree char *broken = NULL;
  Sample           sample = { 0 };
  guint            number = 0;
  GStatBuf         st;

  g_checksum_update (checksum, (const guchar *) name, -1);
  archive_read_support_format_tar (a);
  if (archive_read_open_filename (a, shard, BLOCK) != ARCHIVE_OK)
    broken = g_strdup (archive_error_string (a));
  while (broken == NULL && dataset->entries->len < WP_DATASET_MAX_PAIRS) {
    struct archive_entry *member;
    const int             status = archive_read_next_header (a, &member);
    g_autofree char      *key = NULL;
    g_autofree char      *extension = NULL;

    if (status == ARCHIVE_EOF)
      break;
    if (status < ARCHIVE_WARN) {
      broken = g_strdup (archive_error_string (a));
      break;
    }
    if (archive_entry_filetype (member) != AE_IFREG || archive_entry_pathname (member) == NULL)
      continue;
    split_name (archive_entry_pathname (member), &key, &extension);
    if (g_strcmp0 (key, sample.key) != 0) {
      finish_sample (dataset, shard, shard_index, &sample);
      sample_clear (&sample);
      sample.key = g_steal_pointer (&key);
      sample.number = ++number;
    }
    read_member (a, member, extension, &sample, checksum, &broken);
  }
  if (broken != NULL) {
    /* The sample being read may have lost members to the break. */
    if (sample.key != NULL)
      wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s sample %u (%s): %s", shard, sample.number,
                       sample.key, broken);
    else if (archive_read_header_position (a) <= 0 && g_stat (shard, &st) == 0 && st.st_size == 0)
      wp_dataset_warn (dataset, "%s: an empty file, not a tar archive", shard);
    else if (archive_read_header_position (a) <= 0)
      wp_dataset_warn (dataset, "%s: not a tar archive (%s)", shard, broken);
    else
      wp_dataset_warn (dataset, "%s: %s", shard, broken);
  } else if (number == 0) {
    wp_dataset_warn (dataset, "%s: an empty tar archive: no file in it", shard);
  } else {
    finish_sample (dataset, shard, shard_index, &sample);
  }
  sample_clear (&sample);
  archive_read_free (a);
}

gboolean
wp_dataset_read_shards (WpDataset *dataset,
                        GPtrArray *shards,
                        GError   **error)
{
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);

  const char *missing = NULL;
  guint       n_missing = 0;

  dataset->shards = shards;
  for (guint i = 0; i < shards->len; i++) {
    if (!g_file_test (shards->pdata[i], G_FILE_TEST_IS_REGULAR)) {
      missing = missing != NULL ? missing : shards->pdata[i];
      n_missing++;
    }
  }
  /* Only a pattern names shards that may not exist: a folder's and a file's were found. */
  if (n_missing == shards->len && shards->len > 1) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: no shard matches the pattern: none of the %u it stands for exists (%s to "
                 "%s)",
                 dataset->path, shards->len, (const char *) shards->pdata[0],
                 (const char *) shards->pdata[shards->len - 1]);
    return FALSE;
  }
  if (n_missing > 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: no such shard (%u of the %u shards of %s missing)", missing, n_missing,
                 shards->len, dataset->path);
    return FALSE;
  }
  for (guint i = 0; i < shards->len && dataset->entries->len < WP_DATASET_MAX_PAIRS; i++)
    read_shard (dataset, shards->pdata[i], i, checksum);
  dataset->checksum = g_strdup (g_checksum_get_string (checksum));
  return TRUE;
}

/* ---- reading images ---- */

struct _WpShardReader {
  const WpDataset *dataset;
  struct archive  *archive;
  int              fd;
  guint            shard; /* the open one */
  gint64           base;  /* where in it the archive was opened */
  gint64           last;  /* the last header read, absolute */
};

WpShardReader *
wp_shard_reader_new (const WpDataset *dataset)
{
  WpShardReader *reader = g_new0 (WpShardReader, 1);

  reader->dataset = dataset;
  reader->fd = -1;
  return reader;
}

static void
reader_close (WpShardReader *reader)
{
  g_clear_pointer (&reader->archive, archive_read_free);
  if (reader->fd >= 0)
    close (reader->fd);
  reader->fd = -1;
}

void
wp_shard_reader_free (WpShardReader *reader)
{
  if (reader == NULL)
    return;
  reader_close (reader);
  g_free (reader);
}

/* Opens the shard with the archive starting at offset, a header. */
static gboolean
reader_open (WpShardReader *reader,
             guint          shard,
             gint64         offset,
             GError       **error)
{
  const char *path = reader->dataset->shards->pdata[shard];

  reader_close (reader);
  reader->fd = g_open (path, O_RDONLY, 0);
  if (reader->fd < 0 || lseek (reader->fd, offset, SEEK_SET) != offset) {
    int saved_errno = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s: %s", path,
                 g_strerror (saved_errno));
    reader_close (reader);
    return FALSE;
  }
  reader->archive = archive_read_new ();
  /* Named, not detected: detection from a member's header rejects some headers (a mode field
   * with a stray digit) that the tar reader accepts when it reads on from the start, so a member
   * read alone would fail where the index and the image checks, reading on, read it. */
  archive_read_support_format_tar (reader->archive);
  if (archive_read_set_format (reader->archive, ARCHIVE_FORMAT_TAR) != ARCHIVE_OK ||
      archive_read_open_fd (reader->archive, reader->fd, BLOCK) != ARCHIVE_OK) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: %s", path,
                 archive_error_string (reader->archive));
    reader_close (reader);
    return FALSE;
  }
  reader->shard = shard;
  reader->base = offset;
  reader->last = -1;
  return TRUE;
}

GBytes *
wp_shard_reader_read (WpShardReader *reader,
                      guint          index,
                      GError       **error)
{
  const WpDatasetEntry *entry = &g_array_index (reader->dataset->entries, WpDatasetEntry, index);
  const char           *path = entry->source;
  const char           *member = entry->pair.image_path + strlen (path) + 1;
  g_autofree guint8    *data = NULL;
  la_ssize_t            n;

  /* Behind the reader, or in another shard: read from the member's own header. */
  if ((reader->archive == NULL || reader->shard != entry->shard || entry->offset <= reader->last) &&
      !reader_open (reader, entry->shard, entry->offset, error))
    return NULL;
  for (;;) {
    struct archive_entry *header;
    const int             status = archive_read_next_header (reader->archive, &header);

    if (status < ARCHIVE_WARN || status == ARCHIVE_EOF) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: reading %s: %s", path, member,
                   status == ARCHIVE_EOF ? "the shard ends before it: the shard changed"
                                         : archive_error_string (reader->archive));
      reader_close (reader);
      return NULL;
    }
    reader->last = reader->base + archive_read_header_position (reader->archive);
    if (reader->last == entry->offset)
      break;
    if (reader->last > entry->offset) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                   "%s: reading %s: no member starts where the shard had it: the shard changed",
                   path, member);
      reader_close (reader);
      return NULL;
    }
  }
  data = g_malloc (MAX (entry->size, 1));
  n = archive_read_data (reader->archive, data, (size_t) entry->size);
  if (n != entry->size) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: reading %s: %s", path, member,
                 n < 0 ? archive_error_string (reader->archive) : "the member is cut short");
    reader_close (reader);
    return NULL;
  }
  return g_bytes_new_take (g_steal_pointer (&data), (gsize) entry->size);
}

/* ---- decoding every image ---- */

typedef struct {
  const WpDataset *dataset;
  GCancellable    *cancellable;
  char           **problems;
  const guint     *starts; /* (n_shards + 1) each shard's first entry */
  gint             next;   /* shard */
} CheckJob;

static gpointer
check_worker (gpointer user_data)
{
  CheckJob *job = user_data;
  g_autoptr (WpShardReader) reader = wp_shard_reader_new (job->dataset);
  gint shard;

  while ((shard = g_atomic_int_add (&job->next, 1)) < (gint) job->dataset->shards->len) {
    for (guint i = job->starts[shard]; i < job->starts[shard + 1]; i++) {
      const WpPair *pair = wp_dataset_get_pair (job->dataset, i);
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) bytes = NULL;
      g_autoptr (WpImage) image = NULL;

      if (g_cancellable_is_cancelled (job->cancellable))
        return NULL;
      bytes = wp_shard_reader_read (reader, i, &error);
      if (bytes != NULL)
        image = wp_image_load_from_memory (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                           pair->image_path, &error);
      if (image == NULL)
        job->problems[i] = g_strdup (error->message);
    }
  }
  return NULL;
}

gboolean
wp_shards_check_images (const WpDataset *dataset,
                        int              n_threads,
                        GCancellable    *cancellable,
                        char           **problems)
{
  const guint          n_shards = dataset->shards->len;
  g_autofree guint    *starts = g_new0 (guint, n_shards + 1);
  g_autofree GThread **threads = g_new (GThread *, MAX (n_threads, 1));
  CheckJob             job = { dataset, cancellable, problems, starts, 0 };

  /* Entries are in shard order. */
  for (guint i = 0; i < dataset->entries->len; i++)
    starts[g_array_index (dataset->entries, WpDatasetEntry, i).shard + 1]++;
  for (guint s = 0; s < n_shards; s++)
    starts[s + 1] += starts[s];
  for (int t = 0; t < MAX (n_threads, 1); t++)
    threads[t] = g_thread_new ("wp-check-shards", check_worker, &job);
  for (int t = 0; t < MAX (n_threads, 1); t++)
    g_thread_join (threads[t]);
  return !g_cancellable_is_cancelled (cancellable);
}
