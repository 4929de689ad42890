/* dataset.h: image-caption datasets in a folder.
 *
 * A dataset folder holds captions.jsonl (one JSON object a line: "image", a path relative to the
 * folder, "caption", and optionally "boxes": [{"word", "occurrence", "x", "y", "w", "h"}] in
 * pixels of the original image) or, if that is absent, captions.tsv (image<TAB>caption a line).
 * Blank lines are ignored; pairs keep file order.
 *
 * A box grounds one caption word: "word" as written in the caption, "occurrence" (default 0)
 * which of its whole-word occurrences, counted from 0 left to right. Several boxes may share a
 * word and occurrence ("two green squares"): together they are that word's region.
 *
 * Optionally "objects": [{"colour", "shape", "x", "y", "w", "h"}] lists every object drawn in
 * the image, captioned or not (as `wordpatch-cli shapes` writes it; other members are ignored).
 * Evaluation uses it to tell words whose object has a rival, an object of the same colour and
 * another shape, from the rest.
 *
 * Limits: a captions file of at most WP_DATASET_MAX_BYTES (checked before it is read), at most
 * WP_DATASET_MAX_PAIRS pairs; beyond them the folder is an error.
 *
 * Unusable lines do not stop a dataset from opening: a line longer than WP_DATASET_MAX_LINE
 * bytes, not valid JSON (or nested more than 64 deep), lacking "image" or "caption", with
 * malformed boxes or objects (more than WP_DATASET_MAX_BOXES of either), an empty caption (no
 * character but spaces) or one longer than WP_DATASET_MAX_CAPTION bytes, or naming an image file
 * that does not exist, is skipped, counted by reason and described in a warning.
 * wp_dataset_check_images() also drops pairs whose image cannot be decoded. A folder left with
 * no pair is an error naming it. */
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
} WpBox;

typedef struct {
  char  *colour, *shape; /* as written */
  double x, y, w, h;
} WpObject;

typedef struct {
  char     *image_path; /* resolved against the folder */
  char     *caption;
  WpBox    *boxes;
  guint     n_boxes;
  WpObject *objects;
  guint     n_objects;
  guint     line; /* in the captions file, from 1 */
} WpPair;

typedef enum {
  WP_SKIP_BAD_LINE,      /* not valid JSON / TSV, or members missing or malformed */
  WP_SKIP_MISSING_IMAGE, /* the image file does not exist */
  WP_SKIP_BAD_IMAGE,     /* the image cannot be decoded (wp_dataset_check_images) */
  WP_SKIP_N_REASONS,
} WpSkipReason;

typedef struct _WpDataset WpDataset;

WpDataset  *wp_dataset_open (const char *dir,
                             GError    **error) G_GNUC_WARN_UNUSED_RESULT;
void        wp_dataset_free (WpDataset *dataset);
const char *wp_dataset_get_dir (const WpDataset *dataset);
/* The captions file it was read from. */
const char *wp_dataset_get_file (const WpDataset *dataset);
/* The SHA-256 (hex) of the captions file as it was read. */
const char   *wp_dataset_get_checksum (const WpDataset *dataset);
guint         wp_dataset_get_n_pairs (const WpDataset *dataset);
const WpPair *wp_dataset_get_pair (const WpDataset *dataset,
                                   guint            index);

/* Decodes every image on n_threads threads and drops the pairs whose image fails (keeping the
 * others' order). FALSE with an error when cancelled or when no pair is left. */
gboolean wp_dataset_check_images (WpDataset    *dataset,
                                  int           n_threads,
                                  GCancellable *cancellable,
                                  GError      **error);

guint wp_dataset_get_n_skipped (const WpDataset *dataset,
                                WpSkipReason     reason);
/* One message per skipped line, "FILE line N: problem", the first WP_DATASET_MAX_WARNINGS. */
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
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WpVocabularyCoverage, wp_vocabulary_coverage_clear)

G_END_DECLS
