/* objectives.h: the contrastive objectives on embeddings (docs/algorithms.md: "CLIP", "FILIP",
 * "SPARC", and SigLIP's sigmoid loss) and the box term on word maps ("Box-supervised word
 * maps").
 *
 * Shapes: B image-text pairs (pair i is the positive of row i), E embedding dim, P patches per
 * image, K token slots per caption of which lengths[j] are valid (start, caption, end). Inputs
 * are unit vectors (L2-normalised by the caller, who also owns the chain rule through the
 * normalisation). lambda = exp(logit_scale).
 *
 * Each objective is a pair like the kernels': a forward that returns the loss and records in its
 * cache what the backward needs, and a backward through the last forward on that cache, given
 * the same inputs and dims, that ACCUMULATES the gradient with respect to each input and to
 * logit_scale. Neither allocates: the caches are sized once for the largest batch. Cross-entropies
 * use the log-sum-exp with the row maximum subtracted, in double precision.
 *
 * Thread contract: a cache belongs to one thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A batch's token-wise embeddings, what FILIP, SPARC and the box term read: pair b's image has
 * P patches at patches + b P E, its caption K token slots at tokens + b K E of which the first
 * lengths[b] are valid. */
typedef struct {
  const float *patches; /* (B, P, E) */
  const float *tokens;  /* (B, K, E) */
  const int   *lengths; /* (B), each in [1, K] */
  int          B, P, K, E;
} WpFineBatch;

/* What the CLIP forward records, for up to max_B pairs (rows of B at the current batch). */
typedef struct {
  float  *dots;                /* (B, B) img txt^T */
  double *logits, *logits_t;   /* (B, B) G = lambda dots (rows images) and its transpose */
  double *row_max, *row_sum;   /* (2B) each row's maximum and sum of exp(x - max): G's, G^T's */
  double *dlogits, *dlogits_t; /* (B, B) backward scratch: the gradients of G and G^T */
  float  *dscaled;             /* (B, B) backward scratch: lambda dG */
} WpClipCache;

/* What the sigmoid forward records. */
typedef struct {
  float  *dots;    /* (B, B) img txt^T */
  double *logits;  /* (B, B) t dots + b */
  float  *dscaled; /* (B, B) backward scratch: t dlogits */
} WpSigmoidCache;

/* What the FILIP forward records. */
typedef struct {
  float  *sim;               /* (P, K) one (image, text) block's similarities, forward scratch */
  float  *patch_best;        /* (B, P) one image's patch maxima over each text's valid tokens */
  double *score;             /* (P) one image's patch scores for the selection, forward scratch */
  int    *best_token;        /* (B, B, P) arg-max token of each patch, per (image, text) */
  int    *best_patch;        /* (B, B, K) arg-max patch of each valid token, per (image, text) */
  guint8 *keep;              /* (B, P) 1 for the patches sI keeps */
  double *a, *c;             /* (B, B) A = lambda sI (rows images), C = lambda sT^T (rows texts) */
  double *row_max, *row_sum; /* (2B) as CLIP's: A's rows, C's rows */
  double *da, *dc;           /* (B, B) backward scratch */
} WpFilipCache;

/* What the SPARC forward records: per pair b, arrays of K rows (the first lengths[b] used). */
typedef struct {
  double *a, *shat;          /* (B, K, P) alignment weights; min-max normalised similarities */
  int    *argmin, *argmax;   /* (B, K) each row's arg-min and arg-max similarity */
  double *range, *kept;      /* (B, K) each row's range (0: uniform row) and kept sum */
  double *chat, *that;       /* (B, K, E) unit grouped-vision and token embeddings */
  double *c_norm, *t_norm;   /* (B, K) their divisors */
  double *z, *zt;            /* (B, K, K) Z = lambda c^ t^^T over the valid block, and Z^T */
  double *row_max, *row_sum; /* (B, 2K) as CLIP's: Z's rows, Z^T's rows */
  /* The patches and tokens L_f sees, in double for the groupings' matrix products. */
  double *patches_d, *tokens_d; /* (B, P, E), (B, K, E) */
  /* One pair's scratch, forward: */
  double *s; /* (K, P) similarities */
  double *c; /* (K, E) grouped vision embeddings */
  /* and backward: */
  double *dz, *dzt;                 /* (K, K) */
  double *dchat, *dthat, *dc, *dtd; /* (K, E) */
  double *ds, *da;                  /* (K, P) */
  double *dshat;                    /* (P) */
  double *dv;                       /* (P, E) one image's patches' gradient */
  /* Batch negatives' backward: the whole batch's gradients of the unit embeddings, and the
   * (B, K) slots of its valid tokens. */
  double *dchat_all, *dthat_all; /* (B, K, E) */
  int    *slots;                 /* (B K) */
  /* Centred positions: the patches L_f sees and their gradient. */
  float *centred, *dcentred; /* (B, P, E) */
  /* Image negatives: each valid token's logits over the batch's images; pair negatives: the
   * caption side's scores, their transpose and the patch side's scores. */
  double *zimg; /* (B, max(K, 3), B) */
  /* Pair negatives' patch side: the patches it scores, and the embeddings' norms. */
  guint8 *patch_kept;              /* (B, P) */
  double *patch_norm, *token_norm; /* (B, P), (B, K) */
} WpSparcCache;

/* What the box term's forward records, for up to max_B K words (a word holds at least one of
 * its pair's K token slots). */
typedef struct {
  double *word;  /* (W, E) each word's mean unit token */
  double *map;   /* (W, P) its map: <v_p, word> */
  double *lse;   /* (W) the log-sum-exp of map / tau */
  double *dword; /* (E) backward scratch */
} WpBoxCache;

/* The four caches in one buffer, for up to max_B pairs of P patches and K token slots of E
 * dims. FILIP's and SPARC's share their memory (a forward of one overwrites the other's
 * record); CLIP's and the box term's have their own, so they run beside either. */
typedef struct {
  WpClipCache    clip;
  WpSigmoidCache sigmoid;
  WpFilipCache   filip;
  WpSparcCache   sparc;
  WpBoxCache     box;
  int            max_B, P, K, E;
  gpointer       buffer;
} WpObjectiveCaches;

void wp_objective_caches_init (WpObjectiveCaches *caches,
                               int                max_B,
                               int                P,
                               int                K,
                               int                E);
void wp_objective_caches_clear (WpObjectiveCaches *caches);
/* Bytes wp_objective_caches_init() allocates, computed without allocating from the list it lays
 * the caches out by. */
guint64 wp_objective_caches_bytes (int max_B,
                                   int P,
                                   int K,
                                   int E);

/* CLIP: G = lambda img txt^T; loss = (CE over rows of G + CE over rows of G^T) / 2, diagonal
 * targets, each CE averaged over B. img, txt (B, E); dimg, dtxt (B, E). */
double wp_loss_clip_forward (WpClipCache *cache,
                             const float *img,
                             const float *txt,
                             float        logit_scale,
                             int          B,
                             int          E);
void   wp_loss_clip_backward (float       *dimg,
                              float       *dtxt,
                              float       *dlogit_scale,
                              WpClipCache *cache,
                              const float *img,
                              const float *txt,
                              float        logit_scale,
                              int          B,
                              int          E);

/* SigLIP's sigmoid loss (Zhai et al. 2023): every pair (i, j) a binary label z_ij (1 on the
 * diagonal, -1 elsewhere) on the logit l_ij = t <img_i, txt_j> + b with t = exp(logit_scale),
 * b = logit_bias; loss = -(1/B) sum_ij log sigmoid(z_ij l_ij). img, txt (B, E); dimg, dtxt
 * (B, E); the backward also accumulates into dlogit_scale and dlogit_bias. */
double wp_loss_sigmoid_forward (WpSigmoidCache *cache,
                                const float    *img,
                                const float    *txt,
                                float           logit_scale,
                                float           logit_bias,
                                int             B,
                                int             E);
void   wp_loss_sigmoid_backward (float          *dimg,
                                 float          *dtxt,
                                 float          *dlogit_scale,
                                 float          *dlogit_bias,
                                 WpSigmoidCache *cache,
                                 const float    *img,
                                 const float    *txt,
                                 float           logit_scale,
                                 float           logit_bias,
                                 int             B,
                                 int             E);

/* FILIP token-wise late interaction: sI_ij = mean over patches p of max over valid tokens l of
 * <v_ip, t_jl>; sT_ij = mean over valid tokens of max over patches. A = lambda sI (rows images),
 * C_ji = lambda sT_ij (rows texts); loss = (CE_rows(A) + CE_rows(C)) / 2. The gradient of a max
 * flows to its first arg-max. The batch's padding slots are never read nor given gradient.
 * dpatches (B, P, E), dtokens (B, K, E).
 *
 * patch_fraction below 1 applies FILIP's token selection on the image side: sI_ij averages only
 * over the wp_filip_kept_patches() patches of image i with the highest maximum similarity to any
 * valid token of the batch (ties to the lower index); the others get no gradient from sI. */
double wp_loss_filip_forward (WpFilipCache      *cache,
                              const WpFineBatch *batch,
                              float              logit_scale,
                              double             patch_fraction);
void   wp_loss_filip_backward (float             *dpatches,
                               float             *dtokens,
                               float             *dlogit_scale,
                               WpFilipCache      *cache,
                               const WpFineBatch *batch,
                               float              logit_scale,
                               double             patch_fraction);

/* How many of P patches FILIP's sI keeps for a patch fraction in (0, 1]: ceil(fraction P), at
 * least 1. */
int wp_filip_kept_patches (double patch_fraction,
                           int    P);

/* SPARC's alignment weights of one pair: s = tokens patches^T (L, P) on un-normalised embeddings;
 * each row min-max normalised, entries below 1/P set to 0, the row renormalised to sum to 1 (a
 * row whose range is below 1e-8 becomes uniform 1/P). tokens (L, E), patches (P, E),
 * weights (L, P). For the maps: it allocates its own scratch. */
void wp_sparc_weights (float       *weights,
                       const float *tokens,
                       const float *patches,
                       int          L,
                       int          P,
                       int          E);

/* SPARC's retrieval score of V captions against one image (docs/algorithms.md, "Retrieval"):
 * caption v's is the mean over its tokens l of cos(c_l, t_l), c_l = sum_p a_lp v_p the token's
 * grouping of the image's patches with wp_sparc_weights()'s weights: the score SPARC's pair
 * negatives train, without the logit scale. patches (P, E) and tokens (N, E) not normalised,
 * N = offsets[V] - offsets[0]; caption v's tokens are the rows offsets[v] - offsets[0] to
 * offsets[v + 1] - offsets[0] - 1 of tokens, at least one each; scores (V). */
void wp_sparc_caption_scores (float       *scores,
                              const float *patches,
                              const float *tokens,
                              const guint *offsets,
                              int          V,
                              int          P,
                              int          E);

/* SPARC's variants of its fine-grained loss (ours, docs/algorithms.md "SPARC"); 0 is the paper's
 * definition. */
typedef enum {
  WP_SPARC_BATCH_NEGATIVES = 1 << 0,  /* Z over every valid token of the batch */
  WP_SPARC_STOP_SELECTION = 1 << 1,   /* the alignment weights pass no gradient */
  WP_SPARC_CENTRE_POSITIONS = 1 << 2, /* each patch position's batch mean taken out first */
  WP_SPARC_IMAGE_NEGATIVES = 1 << 3,  /* each token grouped over every image, its own the target */
  WP_SPARC_CENTRE_IMAGES = 1 << 4,    /* each image's mean patch taken out first */
  WP_SPARC_UNSHARED_IMAGES = 1 << 5,  /* image negatives: not those whose captions hold the token */
  WP_SPARC_PAIR_NEGATIVES = 1 << 6,   /* each caption grouped over every image, CE over pairs */
} WpSparcFlags;

/* A SPARC fine-grained loss: its flags, and the sparsity threshold of its alignment weights on
 * the min-max normalised similarities (0 for the paper's 1/P; 1 keeps each token's most similar
 * patch alone). */
typedef struct {
  WpSparcFlags flags;
  double       threshold;
  double       patch_side; /* pair negatives' patch side: the share of patches it scores, or 0 */
} WpSparcVariant;

/* SPARC's fine-grained loss L_f: for each pair, language-grouped vision embeddings
 * c_l = sum_p a_lp v_p, logits Z = lambda c^ t^^T over the pair's valid L x L block, and
 * (CE over rows of Z + CE over rows of Z^T) / 2 with diagonal targets, each summed over the
 * batch's valid tokens and divided by their count. The batch's patches and tokens are
 * NOT normalised; the normalisation of c and t is part of the loss. Gradients flow through the
 * min and max (to their first arg-indices) and the renormalisation; the threshold has none;
 * padding slots get none. The global part of SPARC is CLIP's loss on the pooled embeddings.
 *
 * WP_SPARC_BATCH_NEGATIVES: Z spans every valid token of the batch (N x N, N the batch's token
 * count) instead of each pair's own block, so a token's grouped embedding must also tell its own
 * token from the other captions' tokens: where it picks patches no longer identifies it, what
 * the patches show must. WP_SPARC_STOP_SELECTION: the backward takes the alignment weights as
 * constants, so L_f trains what the chosen patches hold, never which patches are chosen (the
 * loss itself is the same). WP_SPARC_CENTRE_POSITIONS: L_f sees v_bp minus the mean of v_.p over
 * the batch's B images, so what every image holds at a position (the position's own code, which
 * the paper's L_f grows until it dominates the patches) cannot pick or tell tokens apart; the
 * gradient flows back through the mean. WP_SPARC_CENTRE_IMAGES: likewise less the mean of each
 * image's P patches, so what every patch of an image holds (the whole image) cannot either; the
 * alignment weights do not change (a constant shift of a row of similarities), the grouped
 * embeddings do. Both centrings may be on. WP_SPARC_IMAGE_NEGATIVES (not with batch negatives):
 * each valid token t_il is grouped over the patches of every image j of the batch, with logits
 * z_il,j = lambda <c^(ij)_l^, t_il^> and one cross-entropy over j whose target is its own image
 * i, averaged over the batch's valid tokens. A token's grouping always resembles it (it picks
 * the patches most like it), so it can only win in its own image by what that image shows.
 * WP_SPARC_UNSHARED_IMAGES, with image negatives: an image j != i whose caption holds the
 * token's id is not among its negatives (its logit is left out), so a word is not pushed away
 * from the other images it names. WP_SPARC_PAIR_NEGATIVES (alone of the negatives): caption i's
 * tokens are grouped over every image j, the pair's score z_ij = lambda mean_l
 * <c^(ij)_l^, t_il^>, and L_f = (CE over the rows of z + CE over its columns) / 2, each the mean
 * over the B pairs with diagonal targets: FILIP's late interaction with SPARC's groupings in
 * place of its maxima. With a patch side (patch_side > 0, pair negatives only), the columns'
 * CE reads instead the patch side's scores, FILIP's s^I: z'_ji = lambda mean over the kept
 * patches p of image j of max_l <v_jp^, t_il^>, the kept patches being the
 * wp_filip_kept_patches (patch_side, P) of image j most similar (raw dot product) to any valid
 * token of the batch. The variant's threshold replaces the paper's 1/P in every grouping; the
 * alignment weights the maps draw (wp_sparc_weights) keep 1/P. ids (B, T) are the captions'
 * token ids, pair b's valid tokens first; they may be NULL without this flag. */
double wp_loss_sparc_fine_forward (WpSparcCache         *cache,
                                   const WpFineBatch    *batch,
                                   const int            *ids,
                                   int                   T,
                                   float                 logit_scale,
                                   const WpSparcVariant *variant);
void   wp_loss_sparc_fine_backward (float                *dpatches,
                                    float                *dtokens,
                                    float                *dlogit_scale,
                                    WpSparcCache         *cache,
                                    const WpFineBatch    *batch,
                                    const int            *ids,
                                    int                   T,
                                    float                 logit_scale,
                                    const WpSparcVariant *variant);

/* The boxed words of a batch, the box term's targets: word w is the n_tokens[w] valid tokens
 * from first[w] of pair pair[w], and its boxes hold the patches p with inside[w * P + p] = 1
 * (at least one). Sized once for max_words words of P patches. */
typedef struct {
  int     max_words, P;
  int     n_words;
  int    *pair, *first, *n_tokens; /* (max_words) */
  guint8 *inside;                  /* (max_words, P) */
} WpBoxWords;

/* Empty, for up to max_words words. */
void wp_box_words_init (WpBoxWords *words,
                        int         max_words,
                        int         P);
void wp_box_words_clear (WpBoxWords *words);

/* The box term (ours): for each word w, its map m_p = (1/n) sum_l <v_p, t_l> over its n tokens,
 * pi = softmax_p (m / tau) and q uniform on the patches its boxes hold; L_w = -sum_p q_p log pi_p
 * and the loss is the mean of L_w over the words (0 without words); the batch's lengths are not
 * read (the words name their tokens). dpatches (B, P, E), dtokens (B, K, E); only the words'
 * tokens get gradient. */
double wp_loss_box_forward (WpBoxCache        *cache,
                            const WpFineBatch *batch,
                            const WpBoxWords  *words,
                            double             tau);
void   wp_loss_box_backward (float             *dpatches,
                             float             *dtokens,
                             WpBoxCache        *cache,
                             const WpFineBatch *batch,
                             const WpBoxWords  *words,
                             double             tau);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WpBoxWords, wp_box_words_clear)

G_END_DECLS
