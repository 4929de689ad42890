/* eval_retrieval.c: retrieval in wp_evaluate(): the similarities' names and the model's default,
 * every image against every caption by FILIP's or SPARC's similarity, and the recalls. */
#include "wordpatch/evaluate.h"

#include <string.h>

#include "evaluate-private.h"
#include "wordpatch/kernels.h"
#include "wordpatch/objectives.h"

/* Captions' tokens multiplied against one image's patches at a time. */
#define TOKEN_BLOCK 4096

const char *const wp_retrieval_names[] = { "global", "filip", "sparc", NULL };

const char *
wp_retrieval_to_string (WpRetrieval retrieval)
{
  return wp_retrieval_names[retrieval];
}

gboolean
wp_retrieval_from_string (const char  *name,
                          WpRetrieval *retrieval)
{
  for (int i = 0; wp_retrieval_names[i] != NULL; i++) {
    if (g_strcmp0 (name, wp_retrieval_names[i]) == 0) {
      *retrieval = (WpRetrieval) i;
      return TRUE;
    }
  }
  return FALSE;
}

WpRetrieval
wp_retrieval_for_model (const WpClipConfig *config,
                        char              **why)
{
  WpRetrieval retrieval = WP_RETRIEVAL_GLOBAL;
  char       *reason;

  if (config->similarity != NULL && wp_retrieval_from_string (config->similarity, &retrieval))
    reason = g_strdup ("the one the model's training trains, as its config.json says");
  else if (config->objective == NULL)
    reason = g_strdup ("the default; the model does not record the objective it was trained with");
  else {
    if (strcmp (config->objective, "filip") == 0)
      retrieval = WP_RETRIEVAL_FILIP;
    reason = g_strdup_printf ("the default for a model trained with %s", config->objective);
  }
  if (why != NULL)
    *why = reason;
  else
    g_free (reason);
  return retrieval;
}

/* The end of the block of captions from v0 whose tokens go through one matrix product: at least
 * one caption, and at most TOKEN_BLOCK tokens when there are more. */
static int
token_block_end (const guint *offsets,
                 int          v0,
                 int          V)
{
  int v1 = v0 + 1;

  while (v1 < V && offsets[v1 + 1] - offsets[v0] <= TOKEN_BLOCK)
    v1++;
  return v1;
}

gboolean
wp_eval_token_similarities (float        *i2t,
                            float        *t2i,
                            const float  *patches,
                            const float  *tokens,
                            const guint  *offsets,
                            int           U,
                            int           V,
                            int           P,
                            int           E,
                            WpRetrieval   retrieval,
                            GCancellable *cancellable,
                            GError      **error)
{
  g_autofree float *block = NULL;
  guint             max_tokens = 0;

  for (int v = 0; v < V; v++)
    max_tokens = MAX (max_tokens, offsets[v + 1] - offsets[v]);
  /* FILIP's token-patch products of a block of captions, or SPARC's scores of one. */
  block = retrieval == WP_RETRIEVAL_FILIP ? g_new (float, (gsize) P *MAX (max_tokens, TOKEN_BLOCK))
                                          : g_new (float, V);

  for (int v0 = 0; v0 < V;) {
    const int v1 = token_block_end (offsets, v0, V);
    const int NT = (int) (offsets[v1] - offsets[v0]);

    for (int u = 0; u < U; u++) {
      const float *patches_u = patches + (gsize) u * P * E;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      if (retrieval == WP_RETRIEVAL_SPARC) {
        wp_sparc_caption_scores (block, patches_u, tokens + (gsize) offsets[v0] * E, offsets + v0,
                                 v1 - v0, P, E);
        for (int v = v0; v < v1; v++)
          i2t[(gsize) u * V + v] = t2i[(gsize) v * U + u] = block[v - v0];
        continue;
      }
      /* block (P, NT) = patches_u (P, E) . tokens (NT, E)^T */
      wp_matmul_forward (block, patches_u, tokens + (gsize) offsets[v0] * E, NULL, P, E, NT);
      for (int v = v0; v < v1; v++) {
        const int first = (int) (offsets[v] - offsets[v0]), T = (int) (offsets[v + 1] - offsets[v]);
        double    s_image = 0.0, s_text = 0.0;

        for (int p = 0; p < P; p++) {
          const float *row = block + (gsize) p * NT + first;
          float        best = row[0];

          for (int l = 1; l < T; l++)
            best = MAX (best, row[l]);
          s_image += best;
        }
        for (int l = 0; l < T; l++) {
          float best = block[first + l];

          for (int p = 1; p < P; p++)
            best = MAX (best, block[(gsize) p * NT + first + l]);
          s_text += best;
        }
        i2t[(gsize) u * V + v] = (float) (s_image / P);
        t2i[(gsize) v * U + u] = (float) (s_text / T);
      }
    }
    v0 = v1;
  }
  return TRUE;
}

void
wp_eval_recalls (double      *r1,
                 double      *r5,
                 double      *r10,
                 const float *sim,
                 int          n_rows,
                 int          n_cols,
                 const guint *offsets,
                 const guint *members,
                 const guint *other_group)
{
  g_autofree guint8 *correct = g_new0 (guint8, n_cols);
  int                hits[3] = { 0, 0, 0 };

  for (int r = 0; r < n_rows; r++) {
    int rank;

    for (guint m = offsets[r]; m < offsets[r + 1]; m++)
      correct[other_group[members[m]]] = 1;
    rank = wp_retrieval_rank (sim + (gsize) r * n_cols, correct, n_cols);
    g_assert (rank >= 0);
    hits[0] += rank < 1;
    hits[1] += rank < 5;
    hits[2] += rank < 10;
    for (guint m = offsets[r]; m < offsets[r + 1]; m++)
      correct[other_group[members[m]]] = 0;
  }
  *r1 = (double) hits[0] / n_rows;
  *r5 = (double) hits[1] / n_rows;
  *r10 = (double) hits[2] / n_rows;
}
