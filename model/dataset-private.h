/* dataset-private.h: what the dataset readers share: dataset.c (the dataset, the format's
 * detection), one file per layout (dataset_captions.c, dataset_csv.c, dataset_coco.c,
 * dataset_flickr.c, dataset_shards.c), dataset_batch.c (batches, vocabulary coverage), and the
 * shard reader training streams with. */
#pragma once

#include <json-glib/json-glib.h>
#include <stdio.h>

#include "wordpatch/dataset.h"

G_BEGIN_DECLS

/* A pair and where it came from. The pair comes first, so a WpPair pointer is its entry's. */
typedef struct {
  WpPair      pair;
  const char *source; /* the file it was read from (the shard's path), owned by the dataset */
  guint       item;   /* COCO: the annotation's index in its array; WebDataset: the sample's */
  guint       shard;  /* WebDataset: the shard, an index into the dataset's shards */
  gint64      offset; /* WebDataset: where the image member's first header starts */
  gint64      size;   /* WebDataset: the image member's bytes */
} WpDatasetEntry;

struct _WpDataset {
  char           *path; /* as opened */
  char           *base; /* relative image paths are resolved against it */
  char           *file;
  WpDatasetFormat format;
  gboolean        with_instances; /* COCO: boxes from an instances file */
  char           *checksum;
  GArray         *entries; /* of WpDatasetEntry */
  GPtrArray      *sources; /* the files entries name, owned */
  GPtrArray      *shards;  /* WebDataset: the shards' paths, in order */
  guint           n_skipped[WP_SKIP_N_REASONS];
  GPtrArray      *warnings;
};

/* A file read byte by byte through a buffer, its lines counted and its bytes checksummed. */
typedef struct {
  FILE       *fp;
  const char *path;
  guint8     *buffer;
  gsize       pos, len;
  gboolean    eof;
  int         read_errno; /* 0, or the error that stopped reading */
  GChecksum  *checksum;   /* borrowed; may be NULL */
  guint       line;       /* of the next byte, from 1 */
} WpByteReader;

/* A G_FILE_ERROR naming path when it cannot be opened. */
gboolean wp_byte_reader_open (WpByteReader *reader,
                              const char   *path,
                              GChecksum    *checksum,
                              GError      **error);
/* Closes the file; FALSE with a G_FILE_ERROR naming it when reading failed. */
gboolean wp_byte_reader_close (WpByteReader *reader,
                               GError      **error);
void     wp_byte_reader_fill (WpByteReader *reader);

/* The next byte, or -1 at the end (or at a read error). */
static inline int
wp_byte_reader_peek (WpByteReader *reader)
{
  if (reader->pos == reader->len && !reader->eof)
    wp_byte_reader_fill (reader);
  return reader->pos < reader->len ? reader->buffer[reader->pos] : -1;
}

static inline int
wp_byte_reader_next (WpByteReader *reader)
{
  const int c = wp_byte_reader_peek (reader);

  if (c >= 0)
    reader->pos++;
  if (c == '\n')
    reader->line++;
  return c;
}

/* Records a skipped line: counted under reason, described by the message (the first
 * WP_DATASET_MAX_WARNINGS). */
void wp_dataset_skip (WpDataset   *dataset,
                      WpSkipReason reason,
                      const char  *format,
                      ...) G_GNUC_PRINTF (3, 4);
/* A warning that skips no pair: a problem in a file that pairs are not read from one a line. */
void wp_dataset_warn (WpDataset  *dataset,
                      const char *format,
                      ...) G_GNUC_PRINTF (2, 3);
/* The dataset's copy of a file name for entries' source (the last one added is reused). */
const char *wp_dataset_add_source (WpDataset  *dataset,
                                   const char *name);
/* "FILE line N", "FILE line N, annotations[I]" or "SHARD sample N (MEMBER)". */
char *wp_dataset_describe_entry (const WpDataset      *dataset,
                                 const WpDatasetEntry *entry) G_GNUC_WARN_UNUSED_RESULT;
/* Completes entry (its boxes and objects set, source, line and item too) with the image and
 * caption and appends it, or skips it with a warning and clears it: an empty image path, a
 * caption too long, or (but for shards) an image file that does not exist. A relative image
 * path is resolved against the dataset's base; WebDataset passes SHARD/MEMBER. */
void wp_dataset_add_entry (WpDataset      *dataset,
                           WpDatasetEntry *entry,
                           const char     *image,
                           const char     *caption);
void wp_dataset_entry_clear (WpDatasetEntry *entry);
/* Fills pair's boxes and objects from obj's "boxes" and "objects" members (captions.jsonl's), or
 * returns what is wrong with them. */
const char *wp_dataset_parse_boxes_and_objects (JsonObject *obj,
                                                WpPair     *pair);
/* Appends a box of word to pair; FALSE (and nothing added) when it has WP_DATASET_MAX_BOXES. */
gboolean wp_dataset_pair_add_box (WpPair     *pair,
                                  const char *word,
                                  int         occurrence,
                                  double      x,
                                  double      y,
                                  double      w,
                                  double      h,
                                  guint       phrase,
                                  const char *type);

/* An image of the dataset, decoded; NULL with an error naming it. */
typedef WpImage *(*WpDatasetImageFunc) (const WpDataset *dataset,
                                        guint            index,
                                        gpointer         user_data,
                                        GError         **error);

/* wp_dataset_load_batch() with the images from load_image. */
gboolean wp_dataset_load_batch_with (const WpDataset        *dataset,
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
                                     GError                **error);

/* Counts the words of a caption as the tokenizer splits them (cleaned, so lower case), to give
 * a phrase's words their occurrences. */
typedef struct {
  GHashTable *counts; /* word -> occurrences so far */
} WpWordCounter;

void wp_word_counter_init (WpWordCounter *counter);
void wp_word_counter_clear (WpWordCounter *counter);
/* Appends text's words to words (cleaned strings, owned by the array) and, when occurrences is
 * not NULL, each one's occurrence counted over all the text the counter saw. */
void wp_word_counter_add (WpWordCounter *counter,
                          const char    *text,
                          GPtrArray     *words,
                          GArray        *occurrences);

/* ---- the readers: each fills dataset (its path and options set) or fails ---- */

/* captions.jsonl or captions.tsv, as dataset->format says. */
gboolean wp_dataset_read_captions (WpDataset *dataset,
                                   GError   **error);
gboolean wp_dataset_read_csv (WpDataset              *dataset,
                              const WpDatasetOptions *options,
                              GError                **error);
gboolean wp_dataset_read_coco (WpDataset              *dataset,
                               const WpDatasetOptions *options,
                               GError                **error);
gboolean wp_dataset_read_flickr30k (WpDataset              *dataset,
                                    const WpDatasetOptions *options,
                                    GError                **error);
/* shards: the shard paths (taken). */
gboolean wp_dataset_read_shards (WpDataset *dataset,
                                 GPtrArray *shards,
                                 GError   **error);
/* The shard paths a pattern stands for ("a-{000..009}.tar", "{x,y}"), in order, at most
 * WP_DATASET_MAX_SHARDS; NULL with an error for a malformed pattern. */
#define WP_DATASET_MAX_SHARDS 1000000
GPtrArray *wp_dataset_expand_pattern (const char *pattern,
                                      GError    **error) G_GNUC_WARN_UNUSED_RESULT;

/* ---- shards, read in order ---- */

typedef struct _WpShardReader WpShardReader;

WpShardReader *wp_shard_reader_new (const WpDataset *dataset) G_GNUC_WARN_UNUSED_RESULT;
void           wp_shard_reader_free (WpShardReader *reader);
/* The image member of entry index. A pair further on in the shard the reader is in is reached by
 * reading on through the members between; any other is read from its own shard at its own
 * position. Errors name the shard and the member. */
GBytes *wp_shard_reader_read (WpShardReader *reader,
                              guint          index,
                              GError       **error) G_GNUC_WARN_UNUSED_RESULT;
/* Decodes each pair's image of the shards, one shard at a time on each of n_threads threads, and
 * sets problems[i] (n_pairs) to what is wrong with pair i's. FALSE when cancelled. */
gboolean wp_shards_check_images (const WpDataset *dataset,
                                 int              n_threads,
                                 GCancellable    *cancellable,
                                 char           **problems);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpShardReader, wp_shard_reader_free)

G_END_DECLS
