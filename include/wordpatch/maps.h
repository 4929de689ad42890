/* maps.h: per-word maps of one image and one caption, by any map method, as the app shows them
 * and the evaluation scores them (docs/algorithms.md, "What the app shows" and "Maps for any
 * CLIP model").
 *
 * Shapes: P patches on a rows x cols raster (row-major: patch p is at row p / cols, column
 * p % cols), T valid tokens of the caption (start, caption, end), W queries, E projection dim.
 *
 * - Queries. Token queries: the caption's words; tokens with the same word_of_token index
 *   (wp_tokenizer_encode()) form one word, the start and end tokens belong to none, a word's
 *   text is its tokens' texts concatenated (lowercase as the tokenizer cleans it; a character
 *   split across two tokens shows as U+FFFD), and each token is a query vector: its unit
 *   embedding (its raw one for sparc). Prompt queries: the caption's comma-separated phrases, or
 *   its words, each put into the template and encoded alone; the vector is the pooled (end)
 *   embedding.
 * - Maps. filip and the other forward methods: <F^_p, e^> over their dense features (dense.h);
 *   sparc: the alignment weights of wp_sparc_weights() on the raw embeddings, computed for all
 *   vectors at once as SPARC's loss does (each row sums to 1, exactly 0 below the threshold);
 *   gradient methods: wp_dense_image_gradient_map(). A word of several tokens gets the mean of
 *   its tokens' maps (ours). Surgery, on forward methods: with two or more queries each map
 *   minus the queries' mean map at that patch; with one, minus the map of the empty query (the
 *   template filled with "", or the empty caption's pooled embedding for token queries).
 * - Labels: for each patch the query whose map is largest (see labels below); FILIP's token
 *   label map: the valid token (start and end included) with the largest cosine, first on ties.
 * - Geometry. Patches map back to the original image through the region the model saw
 *   (WpImageCrop, in original pixels): patch p covers
 *   [crop.x + col * crop.width / cols, crop.x + (col + 1) * crop.width / cols) horizontally and
 *   likewise vertically. Regions the crop cut away have no values.
 *
 * Thread contract: the constructors read the model and the embeddings only; the maps belong to
 * the caller and are not modified afterwards. */
#pragma once

#include <gio/gio.h>

#include "wordpatch/dense.h"
#include "wordpatch/embed.h"
#include "wordpatch/image.h"
#include "wordpatch/model.h"

G_BEGIN_DECLS

typedef enum {
  WP_QUERY_TOKEN,  /* a word's own token embeddings in the caption */
  WP_QUERY_PROMPT, /* each word or phrase encoded alone through a template, pooled */
} WpQueryKind;

#define WP_DEFAULT_TEMPLATE "a photo of a {}."

/* Pooled prompt embeddings of one model kept across calls: a caption edit changes one word at a
 * time, and an evaluation meets the same words again. Safe to share between threads; at most
 * WP_PROMPT_CACHE_MAX prompts (then it starts afresh). */
typedef struct _WpPromptCache WpPromptCache;

#define WP_PROMPT_CACHE_MAX 10000

WpPromptCache *wp_prompt_cache_new (const WpModel *model) G_GNUC_WARN_UNUSED_RESULT;
void           wp_prompt_cache_free (WpPromptCache *cache);

typedef struct {
  guint       methods; /* bit mask of WpMapMethod (dense.h); filip is always computed */
  WpQueryKind query;
  const char *template_text; /* prompt queries: "{}" stands for the word; NULL: the default */
  gboolean    surgery;       /* forward methods: subtract the queries' mean map */
  int         legrad_layers; /* legrad's last K blocks; 0: all */
  /* Prompt embeddings of the model the maps are made with, kept for the next call; NULL: none. */
  WpPromptCache *prompt_cache;
} WpMapOptions;

/* filip and sparc, token queries, no surgery, every legrad layer. */
void wp_map_options_init (WpMapOptions *options);

/* The query kind a model's maps default to: token queries for models that record a FILIP or
 * SPARC objective (config.h), prompt queries for CLIP-objective models and for models that record
 * none (checkpoints trained elsewhere). */
WpQueryKind wp_map_default_query (const WpModel *model);

typedef struct {
  /* Token queries: the word as the tokenizer cleaned it ("circles"), its first token among the T
   * valid tokens and their count. Prompt queries: the word or phrase as it reads, -1 and 0. */
  char  *text;
  int    first_token;
  int    n_tokens;
  float *values[WP_N_MAP_METHODS]; /* (P) each computed method's map, NULL for the others */
} WpWordMap;

typedef struct {
  int         n_patches; /* P = rows * cols */
  int         rows, cols;
  WpImageCrop crop;
  guint       methods; /* those computed */
  WpQueryKind query;
  int         n_tokens;    /* T, the caption's valid tokens */
  float      *token_filip; /* (T, P) their cosines <v^_p, t^_l>, for either query kind */
  /* (T, P) per computed method, token queries only (NULL for prompt queries): each token's map,
   * the rows a word's map is the mean of, surgery applied (NaN for the start and end tokens of
   * gradient methods, which no word holds). */
  float *token_values[WP_N_MAP_METHODS];
  int   *word_of_token; /* (T) index into words, -1 for the start and end tokens */
  int   *filip_labels;  /* (P) the caption token with the largest cosine */
  /* (P) per computed method: the word whose map is largest at each patch, the first on ties; -1
   * where no sparc weight is above 0, and for filip with token queries where the best token is
   * the start or end token (filip_labels' word). */
  int       *labels[WP_N_MAP_METHODS];
  int        n_words; /* W, the queries */
  WpWordMap *words;   /* (W) in caption order */
} WpWordMaps;

/* The filip and sparc maps of one image and one caption, embedded by the same model, with token
 * queries. */
WpWordMaps *wp_word_maps_new (const WpModel          *model,
                              const WpImageEmbedding *image,
                              const WpTextEmbedding  *text) G_GNUC_WARN_UNUSED_RESULT;
/* Every map options asks for (its methods must have been asked of image, see
 * wp_embed_image_view()). Gradient methods cost a backward pass per token or prompt; between them
 * cancellable is checked, and a cancelled computation returns NULL. */
WpWordMaps *wp_word_maps_new_full (const WpModel          *model,
                                   const WpImageEmbedding *image,
                                   const WpTextEmbedding  *text,
                                   const WpMapOptions     *options,
                                   GCancellable           *cancellable) G_GNUC_WARN_UNUSED_RESULT;
void        wp_word_maps_free (WpWordMaps *maps);

/* The queries of a caption for prompt queries: its comma-separated phrases when it has a comma,
 * otherwise its words as the tokenizer splits them. */
GPtrArray *wp_prompt_queries (const WpModel *model,
                              const char    *caption) G_GNUC_WARN_UNUSED_RESULT;

/* FILIP's two similarities of this image and caption (ALGORITHMS.md): image-to-text, the mean
 * over patches of the best valid token's cosine, and text-to-image, the mean over valid tokens of
 * the best patch's cosine. */
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

/* The region of patch p of a rows x cols map in original-image pixels. */
void wp_patch_rect (const WpImageCrop *crop,
                    int                rows,
                    int                cols,
                    int                p,
                    WpImageCrop       *rect);
/* The peak of a map of P values: the first index of the maximum (NaN values never win). */
int wp_map_peak (const float *map,
                 int          P);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpWordMaps, wp_word_maps_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpPromptCache, wp_prompt_cache_free)

G_END_DECLS
