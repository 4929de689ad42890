/* evaluate.h: retrieval and word localisation of a model on a dataset (docs/algorithms.md,
 * "Localisation metrics", "Retrieval", "The rival split", "The background statistic").
 *
 * Every image gets CLIP's preprocessing (no augmentation); captions are truncated to the
 * context length as in training.
 *
 * Retrieval. Pairs are grouped into distinct images (the same image file, by its canonical path)
 * and distinct captions (the same text after g_utf8_strdown() and collapsing runs of whitespace
 * into one space, ends stripped): synthetic data repeats captions ("a red circle" for many
 * images), and a repeated candidate would otherwise crowd the ranking with copies of itself.
 * Each distinct image is a query over the distinct captions (image-to-text) and each distinct
 * caption a query over the distinct images (text-to-image); a candidate is correct when some
 * pair joins it to the query, i.e. it is the query pair's own or its caption is the same text,
 * or its image the same file. Similarity: the cosine of the global embeddings
 * (WP_RETRIEVAL_GLOBAL), FILIP's sI for image-to-text and sT for text-to-image
 * (WP_RETRIEVAL_FILIP), or SPARC's pair score both ways (WP_RETRIEVAL_SPARC,
 * wp_sparc_caption_scores()), over all valid tokens (start and end included, as the losses do).
 * Rank (from 0) of a query = the number of WRONG candidates whose similarity is >= that of the
 * best correct candidate: ties count against the query, and NaN similarities always lose. Recall@K
 * = the fraction of queries with rank < K.
 *
 * Localisation. For each pair with boxes and each distinct (word lowercased, occurrence) among
 * them, the box word is looked up among the caption's words (wp_word_maps_find_word(): the
 * occurrence-th caption word whose text equals it lowercased, words as the tokenizer splits
 * them). Boxes whose word is not found (absent, written differently, several words, or cut by
 * the context length) are counted in unmatched_boxes and skipped. The word's region is the union
 * of its boxes; both maps of the word (maps.h) are scored:
 * - pointing game: a hit when the centre of the map's peak patch (first maximum), in original
 *   pixels, lies inside any of its boxes (edges included);
 * - IoU: the map is binarised (FILIP map: patches >= 0.5 x its maximum when the maximum is > 0,
 *   otherwise the peak patch alone, since cosines can all be negative; SPARC map: weights > 0),
 *   the union of the selected patches' rectangles and the union of the boxes, both clipped to
 *   the image, are compared by their exact areas (no raster: the rectangles' edges cut the image
 *   into cells that are wholly in or out of each union). An IoU >= 0.5 is a hit.
 * Averages are over boxed words overall, per word class (wp_word_class()) and per word.
 *
 * Phrases. Boxes that carry a phrase number (dataset.h: Flickr30k Entities' phrases, COCO's
 * category names) are also scored per phrase: the phrase's words are those of its boxes, its
 * region the boxes of its first word; each method's map of the phrase is the mean of the maps of
 * its words that are found in the caption, and is scored as a word's is (pointing game, IoU).
 * Averages are over phrases overall and per phrase type; phrases none of whose words is found
 * are counted in unmatched_phrases.
 *
 * Rivals. For pairs whose dataset line lists its objects (dataset.h), the colour and shape words
 * are also split by whether their object has a rival: the word's objects are those whose
 * rectangle equals one of its boxes (to within half a pixel), and a rival is another object of
 * the image with the same colour as one of them and another shape (names compared lowercased).
 * A colour word cannot tell its object from a rival by itself ("red" in "a red star" beside a red
 * square); a shape word, which follows its colour, can. Words none of whose boxes is an object's
 * are left out of the split.
 *
 * Thread contract: wp_evaluate() reads the model and the dataset only and runs in the calling
 * thread (matrix products use OpenBLAS's threads). */
#pragma once

#include <gio/gio.h>

#include "wordpatch/dataset.h"
#include "wordpatch/image.h"
#include "wordpatch/maps.h"
#include "wordpatch/model.h"

G_BEGIN_DECLS

typedef enum {
  WP_RETRIEVAL_GLOBAL, /* cosine of the pooled embeddings */
  WP_RETRIEVAL_FILIP,  /* FILIP's sI (image-to-text) and sT (text-to-image) */
  WP_RETRIEVAL_SPARC,  /* the mean cosine of the caption's tokens and their groupings */
} WpRetrieval;

typedef enum {
  WP_WORD_CLASS_COLOUR,
  WP_WORD_CLASS_SHAPE,
  WP_WORD_CLASS_SIZE,
  WP_WORD_CLASS_OTHER,
  WP_WORD_CLASS_N,
} WpWordClass;

typedef struct {
  WpRetrieval   retrieval;
  WpMapOptions  maps; /* the methods scored, their queries and options */
  WpViewOptions view; /* how localisation sees the images */
} WpEvalOptions;

/* One method's localisation of a set of boxed words; NAN when there are none. */
typedef struct {
  double pointing; /* hit fraction of the pointing game */
  double iou;      /* mean IoU */
  double iou_hit;  /* fraction with IoU >= 0.5 */
} WpEvalScore;

typedef struct {
  char       *word; /* the word (lowercase), or the class name */
  guint       count;
  WpEvalScore scores[WP_N_MAP_METHODS]; /* NAN for the methods not evaluated */
} WpEvalWord;

typedef struct {
  guint       pairs;
  guint       images;    /* distinct images: the image-to-text queries */
  guint       texts;     /* distinct captions: the text-to-image queries */
  WpRetrieval retrieval; /* the similarity the recalls rank by */
  double      i2t_r1, i2t_r5, i2t_r10;
  double      t2i_r1, t2i_r5, t2i_r10;
  guint       boxed_words;
  guint       unmatched_boxes;
  guint       methods;                  /* those scored: the options' and filip */
  WpEvalScore scores[WP_N_MAP_METHODS]; /* over every boxed word */
  WpEvalWord  classes[WP_WORD_CLASS_N]; /* word: "colour", "shape", "size", "other" */
  /* rivals[c][r], c WP_WORD_CLASS_COLOUR or WP_WORD_CLASS_SHAPE, r 1 for the words whose object
   * has a rival and 0 for the others; word: "colour, rival", "colour, no rival", ... All counts
   * are 0 when no pair lists its objects. */
  WpEvalWord rivals[2][2];
  GArray    *words; /* of WpEvalWord, sorted by word (strcmp) */
  /* Grounded phrases (boxes with a phrase number, dataset.h), each scored once; phrase_types
   * holds them by type ("untyped" for those without), sorted by type (strcmp). */
  guint       phrases;
  guint       unmatched_phrases; /* none of their words is in the caption */
  WpEvalScore phrase_scores[WP_N_MAP_METHODS];
  GArray     *phrase_types; /* of WpEvalWord: word = the type, count = its phrases */
  /* Where the background goes in the FILIP label map: of the patches whose centre lies outside
   * every box of their boxed pair, the share whose most similar token is a word of each class,
   * and the start or end token (NAN when there are none). A word class that collects the
   * background here has its maps pulled there too. */
  guint  background_patches;
  double background_label[WP_WORD_CLASS_N];
  double background_label_special;
  /* What the raw patch embeddings (CLIP's own view) vary with: of their total variance over the
   * images' patches, the share of the positions' means over the images (what every image holds
   * at a position) and of the images' means over their patches (what every patch of an image
   * holds). NAN below two images. A large position share is the SPARC shortcut's signature
   * (docs/algorithms.md, "The patch variance shares"). */
  double patch_position_share;
  double patch_image_share;
} WpEvalResult;

/* retrieval = WP_RETRIEVAL_GLOBAL; maps as wp_map_options_init(); CLIP's own view. */
void wp_eval_options_init (WpEvalOptions *options);

/* Evaluates pairs indices[0..n-1] of dataset (all pairs when indices is NULL; n is then
 * ignored); options may be NULL for the defaults. result is overwritten, so it must not hold
 * anything yet; clear it with wp_eval_result_clear(). Fails with an error naming
 * the file for an unreadable image, with G_IO_ERROR_CANCELLED when cancelled (checked between
 * images and captions), and when there is no pair to evaluate. */
gboolean wp_evaluate (const WpModel       *model,
                      const WpDataset     *dataset,
                      const guint         *indices,
                      guint                n,
                      const WpEvalOptions *options,
                      GCancellable        *cancellable,
                      WpEvalResult        *result,
                      GError             **error);
/* Frees what result holds and zeroes it; harmless on a zeroed result. */
void wp_eval_result_clear (WpEvalResult *result);

/* Built-in lists, compared lowercased: colours red green blue yellow purple orange pink white
 * black grey gray brown; shapes circle square triangle star cross diamond and their plurals;
 * sizes small big large tiny; anything else is WP_WORD_CLASS_OTHER. */
WpWordClass wp_word_class (const char *word);
/* "colour", "shape", "size", "other". */
const char *wp_word_class_to_string (WpWordClass word_class);
/* The similarities' names in WpRetrieval's order, NULL-terminated: "global", "filip", "sparc". */
extern const char *const wp_retrieval_names[];

const char *wp_retrieval_to_string (WpRetrieval retrieval);
gboolean    wp_retrieval_from_string (const char  *name,
                                      WpRetrieval *retrieval);
/* The similarity the model's training trains, which ranks it best: the one its config.json
 * records (config.h, "similarity"), else FILIP's for a FILIP model and the pooled embeddings'
 * cosine for the others and for models that do not say. why, when not NULL, receives the
 * reason, to be freed. */
WpRetrieval wp_retrieval_for_model (const WpClipConfig *config,
                                    char              **why);

/* ---- Building blocks, public for tests and the app ---- */

/* The caption key of the retrieval grouping: lowercased, whitespace runs collapsed to one
 * space, ends stripped. */
char *wp_caption_key (const char *caption) G_GNUC_WARN_UNUSED_RESULT;

/* The rank of one query (see above): scores (n) over the candidates, correct (n) non-zero for
 * the right answers. -1 when no candidate is correct. */
int wp_retrieval_rank (const float  *scores,
                       const guint8 *correct,
                       int           n);
/* The fraction of the n_rows queries with rank < k: sim and correct (n_rows, n_cols). Queries
 * without a correct candidate count as misses. */
double wp_recall_at_k (const float  *sim,
                       const guint8 *correct,
                       int           n_rows,
                       int           n_cols,
                       int           k);

/* Whether the centre of map's peak patch lies inside one of the boxes (edges included). map
 * (rows x cols) in patch order; crop and boxes in original-image pixels. */
gboolean wp_pointing_hit (const float       *map,
                          int                rows,
                          int                cols,
                          const WpImageCrop *crop,
                          const WpBox       *boxes,
                          guint              n_boxes);
/* Binarise a map of P values into selected (P, 0 or 1) and return how many were selected.
 * FILIP: values >= 0.5 x max when max > 0, else the peak patch alone. SPARC: values > 0. */
int wp_region_filip (guint8      *selected,
                     const float *map,
                     int          P);
int wp_region_sparc (guint8      *selected,
                     const float *map,
                     int          P);
/* The IoU of the union of the selected patches' rectangles and the union of the boxes, both
 * clipped to the width x height image; 0 when both are empty. */
double wp_region_iou (const guint8      *selected,
                      int                rows,
                      int                cols,
                      const WpImageCrop *crop,
                      int                width,
                      int                height,
                      const WpBox       *boxes,
                      guint              n_boxes);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WpEvalResult, wp_eval_result_clear)

G_END_DECLS
