/* embed.h: one image or one caption through its tower, with the dense outputs FILIP and SPARC use.
 *
 * Shapes: P patches (row-major rows x cols), T valid tokens (start, caption, end), E projection
 * dim. "Unit" arrays are L2-normalised (x / max(||x||, 1e-6)); "raw" arrays are the projections
 * before normalisation (SPARC's similarities use them).
 *
 * Thread contract: reads the model only; results belong to the caller. */
#pragma once

#include <glib.h>

#include "wordpatch/dense.h"
#include "wordpatch/image.h"
#include "wordpatch/model.h"

G_BEGIN_DECLS

typedef struct {
  int           n_patches; /* P = rows * cols */
  int           rows, cols;
  int           dim;
  const float  *global;      /* (E) unit: CLIP's pooled image embedding */
  const float  *patches;     /* (P, E) unit, the standard last block's (filip) */
  const float  *patches_raw; /* (P, E) */
  WpImageCrop   crop;        /* the original image's region the patches cover */
  WpDenseImage *dense;       /* owns the arrays above and the other methods' features */
} WpImageEmbedding;

typedef struct {
  char  *text; /* the caption as given */
  int    n_tokens;
  int    dim;
  int   *ids;           /* (T) */
  int   *word_of_token; /* (T) as wp_tokenizer_encode(); -1 for start and end */
  float *global;        /* (E) unit: the pooled text embedding (CLIP's end token, SigLIP's last
                         * context position) */
  float *global_raw;    /* (E) the same before normalisation */
  float *tokens;        /* (T, E) unit */
  float *tokens_raw;    /* (T, E) */
} WpTextEmbedding;

/* CLIP's view (centre crop at the model's size), for the filip and sparc maps. */
WpImageEmbedding *wp_embed_image (const WpModel *model,
                                  const WpImage *image) G_GNUC_WARN_UNUSED_RESULT;
/* The image seen as view says (image.h), ready for the maps of methods (a WpMapMethod bit mask,
 * dense.h); NULL with an error when the view is out of range. */
WpImageEmbedding *wp_embed_image_view (const WpModel       *model,
                                       const WpImage       *image,
                                       const WpViewOptions *view,
                                       guint                methods,
                                       GError             **error) G_GNUC_WARN_UNUSED_RESULT;
void              wp_image_embedding_free (WpImageEmbedding *embedding);

/* The caption is truncated to the model's context length. */
WpTextEmbedding *wp_embed_text (const WpModel *model,
                                const char    *text) G_GNUC_WARN_UNUSED_RESULT;
void             wp_text_embedding_free (WpTextEmbedding *embedding);

/* unit and raw (n, E): the pooled (end-token) embeddings of n texts, each encoded alone as
 * wp_embed_text() would (truncated to the context length), through one batch of the text tower;
 * unit rows normalised, raw rows not. */
void wp_embed_pooled_texts (const WpModel     *model,
                            const char *const *texts,
                            int                n,
                            float             *unit,
                            float             *raw);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpImageEmbedding, wp_image_embedding_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpTextEmbedding, wp_text_embedding_free)

G_END_DECLS
