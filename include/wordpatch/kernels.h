/* kernels.h: the layers both towers are made of, as plain functions over float arrays.
 *
 * Shapes: N rows (batch x tokens), C input width, OC output width, B batch, T tokens, NH heads,
 * HS = C / NH head size. Arrays are row-major and contiguous unless a leading dimension says
 * otherwise. Kernels do not allocate and do not fail: shapes were validated when the model was
 * loaded. Forward kernels keep what backward needs in the caches their callers pass. */
#pragma once

#include <glib.h>

#include "wordpatch/config.h"

G_BEGIN_DECLS

/* out (N, OC) = inp (N, C) . weight (OC, C)^T + bias (OC); bias may be NULL. */
void wp_matmul_forward (float       *out,
                        const float *inp,
                        const float *weight,
                        const float *bias,
                        int          N,
                        int          C,
                        int          OC);

/* out, inp (N, C); mean, rstd (N) kept for backward; weight, bias (C). */
void wp_layernorm_forward (float       *out,
                           float       *mean,
                           float       *rstd,
                           const float *inp,
                           const float *weight,
                           const float *bias,
                           int          N,
                           int          C,
                           float        eps);

/* out, inp (n); quick_gelu or exact GELU. */
void wp_activation_forward (float       *out,
                            const float *inp,
                            gsize        n,
                            WpActivation activation);

/* out, q, k, v (B, T, C) with heads side by side in C; att (B, NH, T, T) receives the softmax
 * probabilities (kept for backward). With causal set, token t attends to tokens 0..t only. */
void wp_attention_forward (float       *out,
                           float       *att,
                           const float *q,
                           const float *k,
                           const float *v,
                           int          B,
                           int          T,
                           int          C,
                           int          NH,
                           gboolean     causal);

/* out (n) = a (n) + b (n); out may alias a. */
void wp_residual_forward (float       *out,
                          const float *a,
                          const float *b,
                          gsize        n);

/* out (N, C) = inp / max(||inp||, 1e-6) row by row; norms (N) receives the norms and may be NULL.
 * out may alias inp. */
void wp_l2_normalize_rows (float       *out,
                           float       *norms,
                           const float *inp,
                           int          N,
                           int          C);

G_END_DECLS
