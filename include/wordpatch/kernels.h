/* kernels.h: the layers both towers are made of, as plain functions over float arrays.
 *
 * Shapes: N rows (batch x tokens), C input width, OC output width, B batch, T tokens, NH heads,
 * HS = C / NH head size. Arrays are row-major and contiguous unless a leading dimension says
 * otherwise. Kernels do not allocate and do not fail: shapes were validated when the model was
 * loaded. Forward kernels keep what backward needs in the caches their callers pass.
 *
 * Each *_backward sits next to its forward, takes the gradients first (d + the forward's name),
 * then the upstream gradient dout, then the forward's inputs and caches, and ACCUMULATES (+=) into
 * every gradient: the caller zeroes them once per step. Gradient arrays must not alias dout or
 * any input.
 *
 * Threads: the element-wise, row-wise and softmax work runs on wp_parallel_for()'s pool and the
 * matrix products on OpenBLAS's threads, as many as wp_set_threads() (parallel.h) says. Every
 * element's result is the same whatever the thread count. Kernels may be called from several
 * threads at once. */
#pragma once

#include <glib.h>

#include "wordpatch/config.h"
#include "wordpatch/parallel.h"

G_BEGIN_DECLS

/* out (N, OC) = inp (N, C) . weight (OC, C)^T + bias (OC); bias may be NULL. */
void wp_matmul_forward (float       *out,
                        const float *inp,
                        const float *weight,
                        const float *bias,
                        int          N,
                        int          C,
                        int          OC);

/* dinp (N, C) += dout (N, OC) . weight (OC, C); dweight (OC, C) += dout^T . inp (N, C);
 * dbias (OC) += the column sums of dout. dbias may be NULL (a layer without bias), dinp NULL
 * when the input needs no gradient (pixels), dweight NULL when the weights need none (maps). */
void wp_matmul_backward (float       *dinp,
                         float       *dweight,
                         float       *dbias,
                         const float *dout,
                         const float *inp,
                         const float *weight,
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

/* dinp, dweight, dbias += the gradients of wp_layernorm_forward. dinp, dout, inp (N, C);
 * weight, dweight, dbias (C); mean, rstd (N) as the forward left them. dweight and dbias may both
 * be NULL when only dinp is wanted. */
void wp_layernorm_backward (float       *dinp,
                            float       *dweight,
                            float       *dbias,
                            const float *dout,
                            const float *inp,
                            const float *weight,
                            const float *mean,
                            const float *rstd,
                            int          N,
                            int          C);

/* out, inp (n); quick_gelu, exact GELU or GELU's tanh approximation. */
void wp_activation_forward (float       *out,
                            const float *inp,
                            gsize        n,
                            WpActivation activation);

/* out (B, T, C); q, k, v (B, T) rows of C floats, ld >= C apart (C for arrays of their own, 3C
 * for the column blocks of one (B, T, 3C) array); heads side by side in C. att (B, NH, T, T)
 * receives the softmax probabilities (kept for backward). With causal set, token t attends to
 * tokens 0..t only. */
void wp_attention_forward (float       *out,
                           float       *att,
                           const float *q,
                           const float *k,
                           const float *v,
                           int          ld,
                           int          B,
                           int          T,
                           int          C,
                           int          NH,
                           gboolean     causal);

/* dinp (n) += dout (n) * activation'(inp (n)). inp is the forward's input (pre-activation). */
void wp_activation_backward (float       *dinp,
                             const float *dout,
                             const float *inp,
                             gsize        n,
                             WpActivation activation);

/* dq, dk, dv += the gradients of wp_attention_forward, laid out as q, k, v (rows ld apart); dout
 * (B, T, C), q, k, v and att (B, NH, T, T) as the forward used and left them. datt_scratch
 * (B, NH, T, T) is caller-provided scratch: it is overwritten (afterwards it holds the gradient
 * with respect to the unscaled scores q.k^T, zero where the causal mask applies) and may be reused
 * freely once the call returns. */
void wp_attention_backward (float       *dq,
                            float       *dk,
                            float       *dv,
                            int          ld,
                            float       *datt_scratch,
                            const float *dout,
                            const float *q,
                            const float *k,
                            const float *v,
                            const float *att,
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

/* dinp (N, C) += the gradient of wp_l2_normalize_rows; dout, inp (N, C); norms (N) as the
 * forward returned them (required here). Rows whose norm is below 1e-6 were divided by 1e-6, so
 * their gradient is dout / 1e-6. */
void wp_l2_normalize_rows_backward (float       *dinp,
                                    const float *dout,
                                    const float *inp,
                                    const float *norms,
                                    int          N,
                                    int          C);

G_END_DECLS
