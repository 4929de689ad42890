/* dataset_csv.c: open_clip's CSV and TSV files (dataset.h), read as a stream: a header row
 * naming the columns, then one pair a record. Fields as RFC 4180 has them: separated by one
 * character, records by LF or CRLF; a field in double quotes may hold the separator, line breaks
 * and quotes written twice. Blank lines are skipped, as pandas does, and so is a UTF-8 byte order
 * mark before the header. */
#include <string.h>

#include "wordpatch/error.h"

#include "dataset-private.h"

typedef WpByteReader Reader;

#define peek_byte wp_byte_reader_peek
#define next_byte wp_byte_reader_next

typedef enum {
  RECORD_OK,
  RECORD_BLANK,
  RECORD_BAD, /* *problem says why; the reader is past it */
  RECORD_END,
} RecordResult;

typedef enum {
  FIELD_START,
  UNQUOTED,
  QUOTED,
  AFTER_QUOTE,
} FieldState;

/* A line break at c (already read): LF, or CR before LF. */
static gboolean
is_break (Reader *r,
          int     c)
{
  if (c == '\r' && peek_byte (r) == '\n') {
    next_byte (r);
    return TRUE;
  }
  return c == '\n';
}

/* Reads one record's fields (strings owned by fields). */
static RecordResult
read_record (Reader      *r,
             char         separator,
             GPtrArray   *fields,
             const char **problem)
{
  g_autoptr (GString) field = g_string_new (NULL);
  FieldState state = FIELD_START;
  gsize      bytes = 0;
  gboolean   any = FALSE;

  g_ptr_array_set_size (fields, 0);
  *problem = NULL;
  for (;;) {
    const int c = next_byte (r);

    if (c < 0) {
      if (state == QUOTED) {
        *problem = "a quoted field is not closed before the end of the file";
        return RECORD_BAD;
      }
      if (!any)
        return RECORD_END;
      g_ptr_array_add (fields, g_string_free (g_steal_pointer (&field), FALSE));
      return *problem != NULL ? RECORD_BAD : RECORD_OK;
    }
    any = TRUE;
    if (++bytes > WP_DATASET_MAX_LINE)
      *problem = "longer than " G_STRINGIFY (WP_DATASET_MAX_LINE) " bytes";
    switch (state) {
    case FIELD_START:
    case UNQUOTED:
      if (state == FIELD_START && c == '"') {
        state = QUOTED;
        continue;
      }
      if (c == separator || is_break (r, c)) {
        g_ptr_array_add (fields, g_strdup (field->str));
        g_string_truncate (field, 0);
        if (c == separator) {
          state = FIELD_START;
          continue;
        }
        if (*problem != NULL)
          return RECORD_BAD;
        /* A line break alone is a blank line. */
        return bytes == 1 ? RECORD_BLANK : RECORD_OK;
        continue;
      }
      state = UNQUOTED;
      break;
    case QUOTED:
      if (c == '"') {
        if (peek_byte (r) != '"') {
          state = AFTER_QUOTE;
          continue;
        }
        next_byte (r);
      }
      break;
    case AFTER_QUOTE:
      if (c == separator || is_break (r, c)) {
        g_ptr_array_add (fields, g_strdup (field->str));
        g_string_truncate (field, 0);
        if (c != separator)
          return *problem != NULL ? RECORD_BAD : RECORD_OK;
        state = FIELD_START;
        continue;
      }
      *problem = "text after a closing quote";
      /* The record's end is the next line break outside quotes; the rest is read as unquoted. */
      state = UNQUOTED;
      break;
    }
    if (*problem == NULL)
      g_string_append_c (field, (char) c);
  }
}

/* The separator option: one character, or "\t" written out; NULL: a tab, as open_clip's. */
static gboolean
parse_separator (const char *text,
                 char       *separator,
                 GError    **error)
{
  if (text == NULL || strcmp (text, "\\t") == 0 || strcmp (text, "tab") == 0) {
    *separator = '\t';
    return TRUE;
  }
  if (strlen (text) != 1 || text[0] == '"' || text[0] == '\n' || text[0] == '\r') {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "csv_separator must be one character other than a quote or a line break, not "
                 "'%s'",
                 text);
    return FALSE;
  }
  *separator = text[0];
  return TRUE;
}

static int
find_column (GPtrArray  *header,
             const char *name)
{
  for (guint i = 0; i < header->len; i++) {
    if (strcmp (header->pdata[i], name) == 0)
      return (int) i;
  }
  return -1;
}

/* The header's columns of images and captions, or an error naming the file and the columns. */
static gboolean
find_columns (const char *path,
              GPtrArray  *header,
              char        separator,
              const char *img_key,
              const char *caption_key,
              int        *img_column,
              int        *caption_column,
              GError    **error)
{
  const char *missing;

  /* A byte order mark, as spreadsheets write it, is not part of the first name. */
  if (header->len > 0 && g_str_has_prefix (header->pdata[0], "\xEF\xBB\xBF"))
    memmove (header->pdata[0], (char *) header->pdata[0] + 3,
             strlen (header->pdata[0]) - 2);
  *img_column = find_column (header, img_key);
  *caption_column = find_column (header, caption_key);
  missing = *img_column < 0 ? img_key : *caption_column < 0 ? caption_key
                                                            : NULL;
  if (missing != NULL) {
    g_autofree char *names = NULL;

    g_ptr_array_add (header, NULL);
    names = g_strjoinv ("', '", (char **) header->pdata);
    g_ptr_array_remove_index (header, header->len - 1);
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: the header has no column '%s' (its columns split at %s: '%s'; "
                 "csv_separator and the csv keys say which)",
                 path, missing, separator == '\t' ? "tabs" : "that separator", names);
    return FALSE;
  }
  return TRUE;
}

/* Reads the records after the header into pairs. */
static void
read_rows (WpDataset *dataset,
           Reader    *r,
           char       separator,
           guint      n_columns,
           int        img_column,
           int        caption_column)
{
  g_autoptr (GPtrArray) fields = g_ptr_array_new_with_free_func (g_free);
  const char *problem;

  for (;;) {
    const guint    line = r->line;
    RecordResult   result = read_record (r, separator, fields, &problem);
    WpDatasetEntry entry = { { 0 } };

    if (result == RECORD_END || dataset->entries->len >= WP_DATASET_MAX_PAIRS)
      return;
    if (result == RECORD_BLANK)
      continue;
    if (result == RECORD_BAD) {
      wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: %s", dataset->file, line, problem);
      continue;
    }
    if (fields->len != n_columns) {
      wp_dataset_skip (dataset, WP_SKIP_BAD_LINE,
                       "%s line %u: %u %s where the header has %u columns", dataset->file, line,
                       fields->len, fields->len == 1 ? "field" : "fields", n_columns);
      continue;
    }
    if (!g_utf8_validate (fields->pdata[img_column], -1, NULL) ||
        !g_utf8_validate (fields->pdata[caption_column], -1, NULL)) {
      wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: not valid UTF-8 text",
                       dataset->file, line);
      continue;
    }
    entry.source = dataset->file;
    entry.pair.line = line;
    wp_dataset_add_entry (dataset, &entry, fields->pdata[img_column],
                          fields->pdata[caption_column]);
  }
}

gboolean
wp_dataset_read_csv (WpDataset              *dataset,
                     const WpDatasetOptions *options,
                     GError                **error)
{
  g_autoptr (GPtrArray) header = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  const char  *img_key = options->csv_img_key != NULL ? options->csv_img_key : "filepath";
  const char  *caption_key = options->csv_caption_key != NULL ? options->csv_caption_key : "title";
  const char  *problem;
  Reader       r;
  RecordResult result;
  char         separator;
  int          img_column, caption_column;
  gboolean     ok = FALSE;

  if (!parse_separator (options->csv_separator, &separator, error) ||
      !wp_byte_reader_open (&r, dataset->file, checksum, error))
    return FALSE;
  wp_dataset_add_source (dataset, dataset->file);
  do
    result = read_record (&r, separator, header, &problem);
  while (result == RECORD_BLANK);
  if (result == RECORD_END) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: empty, not even a header row",
                 dataset->file);
  } else if (result == RECORD_BAD) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: the header row: %s", dataset->file,
                 problem);
  } else if (find_columns (dataset->file, header, separator, img_key, caption_key, &img_column,
                           &caption_column, error)) {
    read_rows (dataset, &r, separator, header->len, img_column, caption_column);
    ok = TRUE;
  }
  if (ok && dataset->entries->len >= WP_DATASET_MAX_PAIRS && peek_byte (&r) >= 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: more than %d pairs", dataset->file,
                 WP_DATASET_MAX_PAIRS);
    ok = FALSE;
  }
  dataset->checksum = g_strdup (g_checksum_get_string (checksum));
  return wp_byte_reader_close (&r, ok ? error : NULL) && ok;
}
