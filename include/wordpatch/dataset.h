/* dataset.h: image-caption datasets, in the project's own layout or as other tools ship them.
 *
 * wp_dataset_open_full() takes a folder, a file or a shard pattern and reads it as the first of
 * these layouts that fits (WpDatasetFormat names them):
 *
 * - The project's own folder: captions.jsonl (one JSON object a line: "image", a path relative
 *   to the folder, "caption", and optionally "boxes" and "objects", below) or, if that is absent,
 *   captions.tsv (image<TAB>caption a line, no header). Blank lines are ignored. Either file may
 *   also be given by its path.
 * - open_clip CSV: a .csv or .tsv file (or a folder holding exactly one besides captions.tsv)
 *   with a header row naming the image column (options->csv_img_key, "filepath") and the caption
 *   column (options->csv_caption_key, "title"), fields separated by options->csv_separator (tab,
 *   as open_clip's default). Fields follow RFC 4180: a quoted field may hold the separator,
 *   newlines and doubled quotes. Image paths are relative to the file's folder, or absolute.
 * - COCO captions: captions_*.json ("images": [{"id", "file_name"}], "annotations":
 *   [{"image_id", "caption"}]), or a folder holding exactly one (directly or in annotations/).
 *   Images are in options->images, or beside the JSON or its folder in the folder COCO names
 *   after the file (captions_val2017.json: val2017/). Every caption of an image is a pair. With
 *   options->instances (instances_*.json: "categories": [{"id", "name", "supercategory"}],
 *   "annotations": [{"image_id", "category_id", "bbox": [x, y, w, h], "iscrowd"}]), each run of
 *   caption words that names a category (its last word possibly in the plural) is a grounded
 *   phrase whose type is the category's supercategory, boxed by that category's instances in the
 *   image (crowd regions excepted). A captions file whose first annotation is an instance (a
 *   "bbox", no "caption"), or an instances file whose first is a caption, is an error.
 * - Flickr30k Entities: a folder holding Sentences/ID.txt (one caption a line, phrases marked
 *   "[/EN#chain/type words]"), Annotations/ID.xml (VOC-style boxes, 1-based, under each chain's
 *   "name") and the images as flickr30k-images/ID.jpg (or in options->images). options->split
 *   keeps the ids listed in NAME.txt of the folder (train, val, test) or in a file; otherwise
 *   every id of Sentences/, in numeric order. Each marked phrase whose chain has boxes is a
 *   grounded phrase of its caption, with its first type; chain 0 ("notvisual") is not.
 * - WebDataset: .tar shards (a folder of them, one .tar file, or a pattern such as
 *   train-{000000..000099}.tar with {A..B} numeric ranges and {x,y} lists), each sample the
 *   consecutive members KEY.jpg (or .jpeg, .png, .webp, ...), KEY.txt (the caption) and
 *   optionally KEY.json (an object whose "boxes" and "objects" are read as in captions.jsonl;
 *   other members ignored). Shards are read in place with libarchive, never unpacked: opening
 *   reads their headers and text members, images are read from the shard when needed.
 *
 * A box grounds one caption word: "word" as written in the caption, "occurrence" (default 0)
 * which of its whole-word occurrences, counted from 0 left to right. Several boxes may share a
 * word and occurrence ("two green squares"): together they are that word's region. A grounded
 * phrase (Flickr30k Entities, COCO categories) gives every one of its words the phrase's boxes,
 * each box also carrying "phrase", the phrase's number in its caption (from 1), and "type";
 * captions.jsonl may carry them too. Words are counted as the tokenizer splits them.
 *
 * Optionally "objects": [{"colour", "shape", "x", "y", "w", "h"}] lists every object drawn in
 * the image, captioned or not (as `wordpatch-cli shapes` writes it; other members are ignored).
 * Evaluation uses it to tell words whose object has a rival, an object of the same colour and
 * another shape, from the rest.
 *
 * Limits: a captions.jsonl or captions.tsv of at most WP_DATASET_MAX_BYTES (checked before it is
 * read; the other layouts are read as a stream), at most WP_DATASET_MAX_PAIRS pairs; beyond them
 * the dataset is an error.
 *
 * Unusable lines do not stop a dataset from opening: a line (CSV record, JSON array element,
 * shard sample) longer than WP_DATASET_MAX_LINE bytes, not valid JSON (or nested more than 64
 * deep), lacking its image or caption, with malformed boxes or objects (more than
 * WP_DATASET_MAX_BOXES of either), an empty caption (no character but spaces) or one longer than
 * WP_DATASET_MAX_CAPTION bytes, or naming an image file that does not exist, is skipped,
 * counted by reason and described in a warning naming the file and the line (the array element,
 * the shard member). A Flickr30k Entities caption whose annotation file is missing, malformed or
 * holds no box is skipped too; a COCO or shard file broken part way keeps the pairs before the
 * break; a shard that is not a tar archive, or holds no file, is a warning.
 * wp_dataset_check_images() also drops pairs whose image cannot be decoded. A dataset left with
 * no pair is an error naming it and its first problem. */
#pragma once

#include <gio/gio.h>

#include "wordpatch/augment.h"
#include "wordpatch/model.h"

G_BEGIN_DECLS

#define WP_DATASET_MAX_PAIRS   10000000
#define WP_DATASET_MAX_BYTES   (G_GUINT64_CONSTANT (2) << 30)
#define WP_DATASET_MAX_LINE    (1 << 20)
#define WP_DATASET_MAX_CAPTION 65536
#define WP_DATASET_MAX_BOXES   256

typedef struct {
  char  *word;
  int    occurrence;
  double x, y, w, h;
  /* Grounded phrases: the phrase's number in its caption, from 1 (0: the box grounds its word
   * alone), and its type ("people", "animal", ...; NULL: none). */
  guint phrase;
  char *type;
} WpBox;

typedef struct {
  char  *colour, *shape; /* as written */
  double x, y, w, h;
} WpObject;

typedef struct {
  /* Resolved against the dataset's folder; WebDataset: SHARD/MEMBER, the shard's path and the
   * image member's name, which is not a file (wp_dataset_load_image() reads it). */
  char     *image_path;
  char     *caption;
  WpBox    *boxes;
  guint     n_boxes;
  WpObject *objects;
  guint     n_objects;
  guint     line; /* in the file it was read from, from 1; WebDataset: the sample in its shard */
} WpPair;

typedef enum {
  WP_SKIP_BAD_LINE,      /* not valid JSON / TSV, or members missing or malformed */
  WP_SKIP_MISSING_IMAGE, /* the image file does not exist */
  WP_SKIP_BAD_IMAGE,     /* the image cannot be decoded (wp_dataset_check_images) */
  WP_SKIP_N_REASONS,
} WpSkipReason;

typedef enum {
  WP_DATASET_JSONL,      /* captions.jsonl */
  WP_DATASET_TSV,        /* captions.tsv */
  WP_DATASET_CSV,        /* open_clip CSV or TSV, with a header row */
  WP_DATASET_COCO,       /* COCO captions, with instances or not */
  WP_DATASET_FLICKR30K,  /* Flickr30k Entities */
  WP_DATASET_WEBDATASET, /* WebDataset .tar shards */
} WpDatasetFormat;

/* How to read the layouts that need more than a path; NULL members take the defaults. An option
 * given for a layout that has no use for it is an error. */
typedef struct {
  char *images;          /* COCO, Flickr30k Entities: the image folder */
  char *instances;       /* COCO: an instances_*.json whose boxes ground category words */
  char *split;           /* Flickr30k Entities: NAME (NAME.txt in the folder) or a file of ids */
  char *csv_img_key;     /* open_clip CSV: the image column; NULL: "filepath" */
  char *csv_caption_key; /* open_clip CSV: the caption column; NULL: "title" */
  char *csv_separator;   /* open_clip CSV: one character, or "\\t"; NULL: a tab */
} WpDatasetOptions;

void wp_dataset_options_clear (WpDatasetOptions *options);

typedef struct _WpDataset WpDataset;

/* wp_dataset_open_full() with the default options. */
WpDataset *wp_dataset_open (const char *path,
                            GError    **error) G_GNUC_WARN_UNUSED_RESULT;
/* options may be NULL. Errors are WP_ERROR_DATASET (WP_ERROR_INVALID for a bad option) naming
 * the path or file, or a G_FILE_ERROR from the file system. */
WpDataset *wp_dataset_open_full (const char             *path,
                                 const WpDatasetOptions *options,
                                 GError                **error) G_GNUC_WARN_UNUSED_RESULT;
void       wp_dataset_free (WpDataset *dataset);
/* The path it was opened from: a folder, a file or a shard pattern. */
const char     *wp_dataset_get_dir (const WpDataset *dataset);
WpDatasetFormat wp_dataset_get_format (const WpDataset *dataset);
/* "captions.jsonl", "captions.tsv", "open_clip CSV", "COCO captions", "COCO captions and
 * instances" (with boxes from an instances file), "Flickr30k Entities", "WebDataset": the layout
 * as a summary names it. */
const char *wp_dataset_get_format_name (const WpDataset *dataset);
/* The captions file it was read from (COCO: the captions JSON); for Flickr30k Entities and
 * WebDataset, the path it was opened from. */
const char *wp_dataset_get_file (const WpDataset *dataset);
/* The SHA-256 (hex) of what was read: the captions file; COCO: the captions and instances JSON;
 * Flickr30k Entities: the split file, each caption and annotation file; WebDataset: each shard's
 * name and members' names and sizes, and its text members (not the image bytes). */
const char   *wp_dataset_get_checksum (const WpDataset *dataset);
guint         wp_dataset_get_n_pairs (const WpDataset *dataset);
const WpPair *wp_dataset_get_pair (const WpDataset *dataset,
                                   guint            index);

/* The image of pair index, decoded: from its file, or from its shard. */
WpImage *wp_dataset_load_image (const WpDataset *dataset,
                                guint            index,
                                GError         **error) G_GNUC_WARN_UNUSED_RESULT;

/* Decodes every image on n_threads threads (a shard's images on one thread, read in order) and
 * drops the pairs whose image fails (keeping the others' order). FALSE with an error when
 * cancelled or when no pair is left. */
gboolean wp_dataset_check_images (WpDataset    *dataset,
                                  int           n_threads,
                                  GCancellable *cancellable,
                                  GError      **error);

guint wp_dataset_get_n_skipped (const WpDataset *dataset,
                                WpSkipReason     reason);
/* One message per skipped line, "FILE line N: problem" (COCO: "FILE line N, annotations[I]:";
 * WebDataset: "SHARD sample N (MEMBER):"), the first WP_DATASET_MAX_WARNINGS. */
#define WP_DATASET_MAX_WARNINGS 100
const GPtrArray *wp_dataset_get_warnings (const WpDataset *dataset);
/* "3 pairs skipped: 1 bad line, 1 missing image, 1 undecodable image", or NULL when none was. */
char *wp_dataset_describe_skipped (const WpDataset *dataset) G_GNUC_WARN_UNUSED_RESULT;

/* How well a model's vocabulary knows a dataset's captions, as the tokenizer splits them into
 * words: a word is "whole" when the vocabulary has it as one token; split words are learnt from
 * pieces, which is slower and what a from-scratch vocabulary would avoid. */
typedef struct {
  guint      captions;
  guint      truncated;      /* captions longer than the context, cut */
  guint      words;          /* word occurrences */
  guint      whole;          /* occurrences that are one token */
  guint      distinct;       /* distinct words */
  guint      whole_distinct; /* distinct words that are one token */
  GPtrArray *split;          /* the most frequent split words (at most 5), most frequent first */
} WpVocabularyCoverage;

void wp_dataset_get_vocabulary_coverage (const WpDataset      *dataset,
                                         const WpModel        *model,
                                         WpVocabularyCoverage *coverage);
void wp_vocabulary_coverage_clear (WpVocabularyCoverage *coverage);

/* Whether the caption holds "left" or "right" as a word, so that a horizontal flip would make it
 * false. */
gboolean wp_caption_has_sides (const char *caption);

/* The boxes of pair from box b on that name b's word (lowercased) at b's occurrence and are not
 * done (pair->n_boxes flags): copied to group (room for pair->n_boxes), marked done, counted in
 * *n_group. Returns b's word, lowercased. */
char *wp_pair_group_boxes (const WpPair *pair,
                           guint         b,
                           gboolean     *done,
                           WpBox        *group,
                           guint        *n_group) G_GNUC_WARN_UNUSED_RESULT;

/* Decodes and preprocesses the images and tokenizes the captions of pairs indices[0..B-1] for
 * model: pixels (B, 3, S, S); ids (B, K) with K the context length, each caption padded with the
 * end token after its lengths[b] valid tokens; *T receives the longest length, and rows are laid
 * out with stride T, ready for wp_loss_compute(). With augment not NULL, pair b is augmented with
 * the random stream seeded by seeds[b] (see augment.h), otherwise it gets CLIP's preprocessing;
 * augmentations (B), when not NULL, receives what each input shows (the preprocessing's crop
 * when not augmented). An unreadable image is an error naming it. */
gboolean wp_dataset_load_batch (const WpDataset        *dataset,
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
                                GError                **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpDataset, wp_dataset_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WpDatasetOptions, wp_dataset_options_clear)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WpVocabularyCoverage, wp_vocabulary_coverage_clear)

G_END_DECLS
