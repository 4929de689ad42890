/* objectives.h: the contrastive objectives on embeddings (docs/algorithms.md: "CLIP", "FILIP",
 * "SPARC").
 *
 * Shapes: B image-text pairs (pair i is the positive of row i), E embedding dim, P patches per
 * image, K token slots per caption of which lengths[j] are valid (start, caption, end). Inputs
 * are unit vectors (L2-normalised by the caller, who also owns the chain rule through the
 * normalisation). lambda = exp(logit_scale).
 *
 * Each function returns the loss and, when the gradient pointers are not NULL, ACCUMULATES the
 * gradient with respect to each input and to logit_scale. Cross-entropies use the log-sum-exp
 * with the row maximum subtracted, in double precision. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* CLIP: G = lambda img txt^T; loss = (CE over rows of G + CE over rows of G^T) / 2, diagonal
 * targets, each CE averaged over B. img, txt (B, E). */
double wp_loss_clip (const float *img,
                     const float *txt,
                     float        logit_scale,
                     int          B,
                     int          E,
                     float       *dimg,
                     float       *dtxt,
                     float       *dlogit_scale);

/* FILIP token-wise late interaction: sI_ij = mean over patches p of max over valid tokens l of
 * <v_ip, t_jl>; sT_ij = mean over valid tokens of max over patches. A = lambda sI (rows images),
 * C_ji = lambda sT_ij (rows texts); loss = (CE_rows(A) + CE_rows(C)) / 2. The gradient of a max
 * flows to its first arg-max. patches (B, P, E), tokens (B, K, E) with lengths (B) in [1, K];
 * padding slots are never read.
 *
 * patch_fraction below 1 applies FILIP's token selection on the image side: sI_ij averages only
 * over the wp_filip_kept_patches() patches of image i with the highest maximum similarity to any
 * valid token of the batch (ties to the lower index); the others get no gradient from sI. */
double wp_loss_filip (const float *patches,
                      const float *tokens,
                      const int   *lengths,
                      float        logit_scale,
                      double       patch_fraction,
                      int          B,
                      int          P,
                      int          K,
                      int          E,
                      float       *dpatches,
                      float       *dtokens,
                      float       *dlogit_scale);

/* How many of P patches FILIP's sI keeps for a patch fraction in (0, 1]: ceil(fraction P), at
 * least 1. */
int wp_filip_kept_patches (double patch_fraction,
                           int    P);

/* SPARC's alignment weights of one pair: s = tokens patches^T (L, P) on un-normalised embeddings;
 * each row min-max normalised, entries below 1/P set to 0, the row renormalised to sum to 1 (a
 * row whose range is below 1e-8 becomes uniform 1/P). tokens (L, E), patches (P, E),
 * weights (L, P). */
void wp_sparc_weights (float       *weights,
                       const float *tokens,
                       const float *patches,
                       int          L,
                       int          P,
                       int          E);

/* SPARC's fine-grained loss L_f: for each pair, language-grouped vision embeddings
 * c_l = sum_p a_lp v_p, logits Z = lambda c^ t^^T over the pair's valid L x L block, and
 * (CE over rows of Z + CE over rows of Z^T) / 2 with diagonal targets, each summed over the
 * batch's valid tokens and divided by their count. patches (B, P, E) and tokens (B, K, E) are
 * NOT normalised; the normalisation of c and t is part of the loss. Gradients flow through the
 * min and max (to their first arg-indices) and the renormalisation; the threshold has none. The
 * global part of SPARC is wp_loss_clip() on the pooled embeddings. */
double wp_loss_sparc_fine (const float *patches,
                           const float *tokens,
                           const int   *lengths,
                           float        logit_scale,
                           int          B,
                           int          P,
                           int          K,
                           int          E,
                           float       *dpatches,
                           float       *dtokens,
                           float       *dlogit_scale);

G_END_DECLS
