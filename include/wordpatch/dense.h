/* dense.h: one image through the vision tower at any size, and the word-map methods that read
 * its dense features (docs/algorithms.md, "Maps for any CLIP model").
 *
 * Shapes: rows x cols patches (P = rows * cols, row-major), T = P + 1 tokens (class token first),
 * C the vision width, I its MLP width, E the projection dim, NH heads, L layers.
 *
 * Positions: the model's grid x grid patch rows of the position embedding are resized to
 * rows x cols by torch's bicubic interpolation (align_corners false, a = -0.75, indices clamped
 * at the border), the class row kept, as transformers' interpolate_pos_encoding; at the model's
 * own grid they are used as stored.
 *
 * Methods. Forward-only methods replace the last block and give dense features F (P, E), computed
 * once per image: filip (the standard block), maskclip, sclip, clearclip, naclip. sparc reads
 * filip's un-normalised features. Gradient methods (gradcam, chefer, legrad) differentiate a
 * pooled score S = <normalize(visual_projection(post_layernorm(y))), e^> for each query e, through
 * the blocks they read: every query costs a backward pass, so they keep every layer's
 * activations.
 *
 * Thread contract: a WpDenseImage is read-only once made; maps of one image may be computed on
 * several threads at once. */
#pragma once

#include <glib.h>

#include "wordpatch/model.h"

G_BEGIN_DECLS

typedef enum {
  WP_MAP_FILIP,     /* raw patch-query cosines: the standard last block */
  WP_MAP_SPARC,     /* SPARC's alignment weights on filip's raw features */
  WP_MAP_MASKCLIP,  /* last block's attention replaced by the identity */
  WP_MAP_SCLIP,     /* softmax(q q^T) + softmax(k k^T) */
  WP_MAP_CLEARCLIP, /* softmax(q q^T), no residual, no MLP */
  WP_MAP_NACLIP,    /* softmax(k k^T + Gaussian neighbourhood), no residual, no MLP */
  WP_MAP_GRADCAM,   /* Grad-CAM on the last block's layer_norm1 output */
  WP_MAP_CHEFER,    /* Chefer et al.: gradient x attention of the class row, last block */
  WP_MAP_LEGRAD,    /* LeGrad: positive gradients of the attention maps of the last K blocks */
  WP_N_MAP_METHODS,
} WpMapMethod;

/* A set of methods as a bit mask. */
#define WP_MAP_BIT(method)      (1u << (method))
#define WP_MAP_ALL              ((1u << WP_N_MAP_METHODS) - 1)
#define WP_MAP_GRADIENT_METHODS (WP_MAP_BIT (WP_MAP_GRADCAM) | WP_MAP_BIT (WP_MAP_CHEFER) | \
                                 WP_MAP_BIT (WP_MAP_LEGRAD))
#define WP_MAP_SURGERY_METHODS (WP_MAP_BIT (WP_MAP_FILIP) | WP_MAP_BIT (WP_MAP_MASKCLIP) |  \
                                WP_MAP_BIT (WP_MAP_SCLIP) | WP_MAP_BIT (WP_MAP_CLEARCLIP) | \
                                WP_MAP_BIT (WP_MAP_NACLIP))

/* "filip", "sparc", "maskclip", ... as the command line and JSON name them. */
const char *wp_map_method_to_string (WpMapMethod method);
gboolean    wp_map_method_from_string (const char  *name,
                                       WpMapMethod *method);
/* Parses a comma-separated list ("maskclip,legrad") or "all" into a bit mask; the order the
 * methods were named in goes to order (at most WP_N_MAP_METHODS entries; may be NULL), their
 * count to n_order. A name given twice or unknown is an error naming it. */
gboolean wp_map_methods_parse (const char  *list,
                               guint       *methods,
                               WpMapMethod *order,
                               int         *n_order,
                               GError     **error);

typedef struct _WpDenseImage WpDenseImage;

/* pixels (3, rows * p, cols * p) as wp_image_preprocess_view() returns them; methods the bit mask
 * of the methods whose maps will be asked of this image. */
WpDenseImage *wp_dense_image_new (const WpModel *model,
                                  const float   *pixels,
                                  int            rows,
                                  int            cols,
                                  guint          methods) G_GNUC_WARN_UNUSED_RESULT;
void          wp_dense_image_free (WpDenseImage *image);

guint wp_dense_image_get_methods (const WpDenseImage *image);
/* (E) CLIP's pooled image embedding (the class token's), unit or un-normalised. */
const float *wp_dense_image_get_pooled (const WpDenseImage *image,
                                        gboolean            unit);
/* (P, E) the dense features of a forward method (filip, maskclip, sclip, clearclip, naclip) that
 * was asked for, unit or un-normalised; NULL otherwise. */
const float *wp_dense_image_get_features (const WpDenseImage *image,
                                          WpMapMethod         method,
                                          gboolean            unit);

/* out (Q, P): a gradient method's maps (gradcam, chefer or legrad, asked for at creation) for Q
 * unit queries (Q, E), which go through the backward pass together. legrad_layers: legrad's last
 * K blocks (0, or more than L: all of them). Allocates its own scratch (about Q T (3C + 2I) +
 * (Q + 1) NH T T floats), so several threads may call it on one image. */
void wp_dense_image_gradient_maps (const WpDenseImage *image,
                                   const WpModel      *model,
                                   WpMapMethod         method,
                                   const float        *queries,
                                   int                 Q,
                                   int                 legrad_layers,
                                   float              *out);

/* out (1 + rows * cols, C): pos (1 + grid * grid, C) with its patch rows resized to rows x cols
 * as described above. */
void wp_position_interpolate (float       *out,
                              const float *pos,
                              int          grid,
                              int          rows,
                              int          cols,
                              int          C);
/* As wp_position_interpolate() for positions without a class row (SigLIP's): out
 * (rows * cols, C) from pos (grid * grid, C). */
void wp_position_interpolate_patches (float       *out,
                                      const float *pos,
                                      int          grid,
                                      int          rows,
                                      int          cols,
                                      int          C);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpDenseImage, wp_dense_image_free)

G_END_DECLS
