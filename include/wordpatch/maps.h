/* maps.h: per-word alignment maps of one image and one caption, as the app shows them and the
 * evaluation scores them (docs/algorithms.md, "Maps").
 *
 * Shapes: P patches on a grid x grid raster (row-major: patch p is at row p / grid, column
 * p % grid), T valid tokens (start, caption, end), W caption words, E projection dim.
 *
 * - Token maps. FILIP: the cosines <v^_p, t^_l> over the patches (unit embeddings). SPARC: the
 *   alignment weights a_l of wp_sparc_weights() on the raw (un-normalised) embeddings, computed
 *   once for all T valid tokens as SPARC's loss does; each row sums to 1 and its patches below
 *   the threshold are exactly 0.
 * - Words. Tokens with the same word_of_token index (wp_tokenizer_encode()) form one word; the
 *   start and end tokens belong to none. A word's text is its tokens' texts concatenated
 *   (wp_tokenizer_dup_token_text(), so it is lowercase as the tokenizer cleans it; a character
 *   split across two tokens shows as U+FFFD). A word's map is the mean of its tokens' rows
 *   (ours): its SPARC map still sums to 1 and is zero where all its tokens are.
 * - Labels. FILIP label map: for each patch the valid token (0..T-1, start and end included)
 *   with the largest cosine, the first on ties. SPARC label map: for each patch the word with
 *   the largest SPARC weight, the first on ties, -1 where every word's weight is 0.
 * - Geometry. Patches map back to the original image through the crop of CLIP's preprocessing
 *   (WpImageCrop, in original pixels): patch p covers
 *   [crop.x + col * crop.width / grid, crop.x + (col + 1) * crop.width / grid) horizontally and
 *   likewise vertically. Regions the crop cut away have no values.
 *
 * Thread contract: wp_word_maps_new() reads the model and the embeddings only; the maps belong to
 * the caller and are not modified afterwards. */
#pragma once

#include <glib.h>

#include "wordpatch/embed.h"
#include "wordpatch/image.h"
#include "wordpatch/model.h"

G_BEGIN_DECLS

typedef struct {
  char  *text;        /* the word as the tokenizer cleaned it, e.g. "circles" */
  int    first_token; /* index of its first token among the T valid tokens (0 is the start) */
  int    n_tokens;    /* its tokens are first_token .. first_token + n_tokens - 1 */
  float *filip;       /* (P) mean of its tokens' FILIP maps */
  float *sparc;       /* (P) mean of its tokens' SPARC weights; sums to 1 */
} WpWordMap;

typedef struct {
  int         n_patches; /* P */
  int         grid;
  WpImageCrop crop;
  int         n_tokens;      /* T */
  float      *token_filip;   /* (T, P) cosines <v^_p, t^_l> */
  float      *token_sparc;   /* (T, P) SPARC weights a_lp, rows sum to 1 */
  int        *word_of_token; /* (T) index into words, -1 for the start and end tokens */
  int        *filip_labels;  /* (P) token with the largest cosine */
  int        *sparc_labels;  /* (P) word with the largest SPARC weight, -1 if none > 0 */
  int         n_words;       /* W */
  WpWordMap  *words;         /* (W) in caption order */
} WpWordMaps;

/* The maps of one image and one caption, embedded by the same model. */
WpWordMaps *wp_word_maps_new (const WpModel          *model,
                              const WpImageEmbedding *image,
                              const WpTextEmbedding  *text) G_GNUC_WARN_UNUSED_RESULT;
void        wp_word_maps_free (WpWordMaps *maps);

/* FILIP's two similarities of this image and caption (docs/algorithms.md, "FILIP"):
 * image-to-text, the mean over patches of the best valid token's cosine, and text-to-image, the
 * mean over valid tokens of the best patch's cosine. */
void wp_word_maps_get_filip_scores (const WpWordMaps *maps,
                                    double           *image_to_text,
                                    double           *text_to_image);

int              wp_word_maps_get_n_words (const WpWordMaps *maps);
const WpWordMap *wp_word_maps_get_word (const WpWordMaps *maps,
                                        int               word);
/* The word token (0..T-1) belongs to, or -1 for the start and end tokens (and out of range):
 * with filip_labels, colours patches by word. */
int wp_word_maps_get_word_of_token (const WpWordMaps *maps,
                                    int               token);
/* The index of the occurrence-th word (from 0, left to right) whose text equals word
 * lowercased (g_utf8_strdown()), or -1. */
int wp_word_maps_find_word (const WpWordMaps *maps,
                            const char       *word,
                            int               occurrence);

/* The region of patch p of a grid x grid map in original-image pixels. */
void wp_patch_rect (const WpImageCrop *crop,
                    int                grid,
                    int                p,
                    WpImageCrop       *rect);
/* The peak of a map of P values: the first index of the maximum (NaN values never win). */
int wp_map_peak (const float *map,
                 int          P);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpWordMaps, wp_word_maps_free)

G_END_DECLS
