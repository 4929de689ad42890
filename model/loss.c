#include "wordpatch/loss.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "layout-private.h"
#include "wordpatch/error.h"
#include "wordpatch/kernels.h"
#include "wordpatch/maps.h"
#include "wordpatch/text.h"
#include "wordpatch/vision.h"

struct _WpLossState {
  int               max_B;
  WpVisionState    *vision;
  WpTextState      *text;
  WpObjectiveCaches objectives;
  gpointer          buffer; /* the arrays below */
  /* Embeddings gathered per objective: P patches and K = context-length token slots per pair. */
  float *img_raw, *txt_raw, *img, *txt;              /* (B, E) pooled, raw and unit */
  float *img_norm, *txt_norm;                        /* (B) */
  float *patches, *patches_unit, *patches_norm;      /* (B, P, E), (B, P, E), (B, P) */
  float *tokens, *tokens_unit, *tokens_norm;         /* (B, K, E), (B, K, E), (B, K) */
  float *dimg, *dtxt, *dpatches_unit, *dtokens_unit; /* gradients of the unit embeddings */
  float *dpatches, *dtokens;                         /* gradients of the raw embeddings */
  float *dvision, *dtext;                            /* (B, P + 1, E), (B, K, E) */
};

static WpSparcVariant
sparc_variant (const WpLossOptions *options)
{
  const WpSparcFlags flags =
    (options->sparc_negatives == WP_SPARC_NEGATIVES_BATCH ? WP_SPARC_BATCH_NEGATIVES : 0) |
    (options->sparc_negatives == WP_SPARC_NEGATIVES_IMAGES ? WP_SPARC_IMAGE_NEGATIVES : 0) |
    (options->sparc_negatives == WP_SPARC_NEGATIVES_UNSHARED_IMAGES
       ? WP_SPARC_IMAGE_NEGATIVES | WP_SPARC_UNSHARED_IMAGES
       : 0) |
    (options->sparc_negatives == WP_SPARC_NEGATIVES_PAIRS ? WP_SPARC_PAIR_NEGATIVES : 0) |
    (options->sparc_stop_selection ? WP_SPARC_STOP_SELECTION : 0) |
    (options->sparc_centre_positions ? WP_SPARC_CENTRE_POSITIONS : 0) |
    (options->sparc_centre_images ? WP_SPARC_CENTRE_IMAGES : 0);

  return (WpSparcVariant){ flags, options->sparc_threshold, options->sparc_patch_side };
}

void
wp_loss_options_init (WpLossOptions *options,
                      WpObjective    objective)
{
  /* SPARC with pair negatives and no global term, the variant that localises
   * (docs/bundled-model.md, "SPARC pilots"); every other option is off. */
  *options = (WpLossOptions){ .objective = objective,
                              .lambda_global = 0.0f,
                              .lambda_fine = 1.0f,
                              .sparc_negatives = WP_SPARC_NEGATIVES_PAIRS,
                              .filip_patch_fraction = 1.0f,
                              .box_tau = 0.07f };
}

gboolean
wp_loss_options_check (const WpLossOptions *options,
                       GError             **error)
{
  if (options->sparc_patch_side > 0.0f &&
      options->sparc_negatives != WP_SPARC_NEGATIVES_PAIRS) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "--sparc-patch-side scores the pair negatives' images: it needs "
                 "--sparc-negatives pairs");
    return FALSE;
  }
  return TRUE;
}

const char *const wp_objective_names[] = { "clip", "filip", "sparc", "sigmoid", NULL };
const char *const wp_sparc_negatives_names[] = { "caption", "batch", "images", "unshared-images",
                                                 "pairs", NULL };

gboolean
wp_objective_from_string (const char  *name,
                          WpObjective *objective)
{
  for (int i = 0; wp_objective_names[i] != NULL; i++) {
    if (g_strcmp0 (name, wp_objective_names[i]) == 0) {
      *objective = (WpObjective) i;
      return TRUE;
    }
  }
  return FALSE;
}

const char *
wp_objective_to_string (WpObjective objective)
{
  return wp_objective_names[objective];
}

/* The state's own arrays: the batch's embeddings in each objective's layout, and their
 * gradients. The towers and the objectives' caches are laid out by their own lists. */
static void
lay_out (WpLossState        *s,
         const WpClipConfig *config,
         WpLayout           *layout)
{
  const guint64 B = s->max_B, E = config->projection_dim, P = wp_clip_config_n_patches (config),
                K = config->context_length;

  WP_LAYOUT_ARRAY (layout, s->img_raw, B * E);
  WP_LAYOUT_ARRAY (layout, s->txt_raw, B * E);
  WP_LAYOUT_ARRAY (layout, s->img, B * E);
  WP_LAYOUT_ARRAY (layout, s->txt, B * E);
  WP_LAYOUT_ARRAY (layout, s->img_norm, B);
  WP_LAYOUT_ARRAY (layout, s->txt_norm, B);
  WP_LAYOUT_ARRAY (layout, s->patches, B * P * E);
  WP_LAYOUT_ARRAY (layout, s->patches_unit, B * P * E);
  WP_LAYOUT_ARRAY (layout, s->patches_norm, B * P);
  WP_LAYOUT_ARRAY (layout, s->tokens, B * K * E);
  WP_LAYOUT_ARRAY (layout, s->tokens_unit, B * K * E);
  WP_LAYOUT_ARRAY (layout, s->tokens_norm, B * K);
  WP_LAYOUT_ARRAY (layout, s->dimg, B * E);
  WP_LAYOUT_ARRAY (layout, s->dtxt, B * E);
  WP_LAYOUT_ARRAY (layout, s->dpatches_unit, B * P * E);
  WP_LAYOUT_ARRAY (layout, s->dtokens_unit, B * K * E);
  WP_LAYOUT_ARRAY (layout, s->dpatches, B * P * E);
  WP_LAYOUT_ARRAY (layout, s->dtokens, B * K * E);
  WP_LAYOUT_ARRAY (layout, s->dvision, B * (P + 1) * E);
  WP_LAYOUT_ARRAY (layout, s->dtext, B * K * E);
}

guint64
wp_loss_state_bytes (const WpClipConfig *config,
                     int                 max_B)
{
  WpLossState measure = { .max_B = max_B };
  WpLayout    layout = { 0 };

  lay_out (&measure, config, &layout);
  return layout.used + wp_vision_state_bytes (config, max_B) +
         wp_text_state_bytes (config, max_B) +
         wp_objective_caches_bytes (max_B, wp_clip_config_n_patches (config),
                                    config->context_length, config->projection_dim);
}

gboolean
wp_loss_state_check_fits (const WpClipConfig *config,
                          int                 max_B,
                          GError            **error)
{
  const long    pages = sysconf (_SC_PHYS_PAGES), page_size = sysconf (_SC_PAGESIZE);
  const guint64 needed = wp_loss_state_bytes (config, max_B);
  const guint64 physical =
    pages > 0 && page_size > 0 ? (guint64) pages * (guint64) page_size : G_MAXUINT64;

  if (needed <= physical)
    return TRUE;
  g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
               "a batch of %d pairs with %d patches an image needs about %.1f GiB for its "
               "activations, more than this "
               "machine's %.1f GiB of memory: lower the batch, or raise the patch size",
               max_B, wp_clip_config_n_patches (config), needed / 1073741824.0,
               physical / 1073741824.0);
  return FALSE;
}

WpLossState *
wp_loss_state_new (const WpClipConfig *config,
                   int                 max_B)
{
  WpLossState *s = g_new0 (WpLossState, 1);
  WpLayout     layout = { 0 };

  s->max_B = max_B;
  s->vision = wp_vision_state_new (config, max_B);
  s->text = wp_text_state_new (config, max_B);
  wp_objective_caches_init (&s->objectives, max_B, wp_clip_config_n_patches (config),
                            config->context_length, config->projection_dim);
  lay_out (s, config, &layout);
  s->buffer = wp_layout_alloc (&layout);
  lay_out (s, config, &layout);
  wp_layout_check (&layout);
  return s;
}

void
wp_loss_state_free (WpLossState *s)
{
  if (s == NULL)
    return;
  wp_vision_state_free (s->vision);
  wp_text_state_free (s->text);
  wp_objective_caches_clear (&s->objectives);
  g_free (s->buffer);
  g_free (s);
}

static void
scale (float *x,
       gsize  n,
       float  factor)
{
  for (gsize i = 0; i < n; i++)
    x[i] *= factor;
}

/* Copies the towers' outputs into per-objective layouts and normalises them. Padding token
 * slots keep zeros: no objective reads them. */
static void
gather (WpLossState *s,
        const int   *lengths,
        int          B,
        int          T,
        int          P,
        int          K,
        int          E)
{
  const float *vout = wp_vision_state_get_output (s->vision);
  const float *tout = wp_text_state_get_output (s->text);
  const int   *pooled = wp_text_state_get_pooled (s->text);

  for (int b = 0; b < B; b++) {
    memcpy (s->img_raw + (gsize) b * E, vout + (gsize) b * (P + 1) * E, (gsize) E * sizeof (float));
    memcpy (s->txt_raw + (gsize) b * E, tout + ((gsize) b * T + pooled[b]) * E,
            (gsize) E * sizeof (float));
    memcpy (s->patches + (gsize) b * P * E, vout + ((gsize) b * (P + 1) + 1) * E,
            (gsize) P * E * sizeof (float));
    memset (s->tokens + (gsize) b * K * E, 0, (gsize) K * E * sizeof (float));
    memcpy (s->tokens + (gsize) b * K * E, tout + (gsize) b * T * E,
            (gsize) lengths[b] * E * sizeof (float));
  }
  wp_l2_normalize_rows (s->img, s->img_norm, s->img_raw, B, E);
  wp_l2_normalize_rows (s->txt, s->txt_norm, s->txt_raw, B, E);
  wp_l2_normalize_rows (s->patches_unit, s->patches_norm, s->patches, B * P, E);
  wp_l2_normalize_rows (s->tokens_unit, s->tokens_norm, s->tokens, B * K, E);
}

/* Whether every word lies within the batch: its pair, its valid tokens, a patch of the model's
 * count inside its boxes. */
static gboolean
box_words_fit (const WpBoxWords *words,
               const int        *lengths,
               int               B,
               int               P,
               int               K)
{
  if (words->n_words == 0)
    return TRUE;
  if (words->P != P || words->n_words > B * K)
    return FALSE;
  for (int w = 0; w < words->n_words; w++) {
    const int b = words->pair[w];

    if (b < 0 || b >= B || words->n_tokens[w] < 1 || words->first[w] < 0 ||
        words->first[w] + words->n_tokens[w] > lengths[b])
      return FALSE;
  }
  return TRUE;
}

gboolean
wp_loss_compute (const WpModel       *model,
                 WpLossState         *s,
                 const WpLossOptions *options,
                 const float         *pixels,
                 const int           *ids,
                 const int           *lengths,
                 int                  B,
                 int                  T,
                 const WpBoxWords    *boxes,
                 WpParams            *grads,
                 WpLossParts         *parts,
                 GError             **error)
{
  const WpClipConfig *config = &model->config;
  const int           E = config->projection_dim, P = wp_clip_config_n_patches (config),
            K = config->context_length;
  const float          logit_scale = *model->p.logit_scale;
  const gboolean       backward = grads != NULL, boxed = options->box_weight > 0.0f;
  const WpBoxWords     no_words = { 0 };
  const WpSparcVariant sparc = sparc_variant (options);
  /* FILIP and the box term read the unit embeddings, SPARC's L_f the raw ones. */
  const WpFineBatch unit = { s->patches_unit, s->tokens_unit, lengths, B, P, K, E };
  const WpFineBatch raw = { s->patches, s->tokens, lengths, B, P, K, E };
  float             dscale_global = 0.0f, dscale_fine = 0.0f;
  float             weight_global = 1.0f, weight_fine = 1.0f;

  g_return_val_if_fail (B >= 1 && B <= s->max_B && T >= 1 && T <= K, FALSE);
  if (boxes == NULL || !boxed)
    boxes = &no_words;
  g_return_val_if_fail (box_words_fit (boxes, lengths, B, P, K), FALSE);

  memset (parts, 0, sizeof *parts);
  if (options->objective == WP_OBJECTIVE_SIGMOID && model->p.logit_bias == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "the sigmoid loss needs the model's logit_bias, which %s models have not "
                 "(SigLIP models have one)",
                 wp_model_family_to_string (config->family));
    return FALSE;
  }
  wp_vision_forward (model, s->vision, pixels, B);
  wp_text_forward (model, s->text, ids, lengths, B, T);
  gather (s, lengths, B, T, P, K, E);

  /* Forward: each objective records in its cache what its backward needs. */
  switch (options->objective) {
  case WP_OBJECTIVE_CLIP:
    parts->clip = wp_loss_clip_forward (&s->objectives.clip, s->img, s->txt, logit_scale, B, E);
    parts->total = parts->clip;
    break;
  case WP_OBJECTIVE_FILIP:
    parts->filip =
      wp_loss_filip_forward (&s->objectives.filip, &unit, logit_scale,
                             options->filip_patch_fraction);
    parts->total = parts->filip;
    if (options->filip_global > 0.0f) {
      weight_global = options->filip_global;
      parts->clip = wp_loss_clip_forward (&s->objectives.clip, s->img, s->txt, logit_scale, B, E);
      parts->total += weight_global * parts->clip;
    }
    break;
  case WP_OBJECTIVE_SIGMOID:
    parts->sigmoid = wp_loss_sigmoid_forward (&s->objectives.sigmoid, s->img, s->txt, logit_scale,
                                              *model->p.logit_bias, B, E);
    parts->total = parts->sigmoid;
    break;
  case WP_OBJECTIVE_SPARC:
  default:
    weight_global = options->lambda_global;
    weight_fine = options->lambda_fine;
    parts->clip = wp_loss_clip_forward (&s->objectives.clip, s->img, s->txt, logit_scale, B, E);
    parts->fine =
      wp_loss_sparc_fine_forward (&s->objectives.sparc, &raw, ids, T, logit_scale, &sparc);
    parts->total = weight_global * parts->clip + weight_fine * parts->fine;
    break;
  }
  parts->box = NAN;
  if (boxed) {
    parts->box_words = boxes->n_words;
    parts->box = wp_loss_box_forward (&s->objectives.box, &unit, boxes, options->box_tau);
    parts->total += options->box_weight * parts->box;
  }
  if (!isfinite (parts->total)) {
    g_set_error (error, WP_ERROR, WP_ERROR_NOT_FINITE, "the %s loss is not finite (%g)",
                 wp_objective_to_string (options->objective), parts->total);
    return FALSE;
  }
  if (!backward)
    return TRUE;

  /* Backward through the objectives that ran, each into its own gradient buffers. */
  memset (s->dimg, 0, (gsize) B * E * sizeof (float));
  memset (s->dtxt, 0, (gsize) B * E * sizeof (float));
  memset (s->dpatches_unit, 0, (gsize) B * P * E * sizeof (float));
  memset (s->dtokens_unit, 0, (gsize) B * K * E * sizeof (float));
  memset (s->dpatches, 0, (gsize) B * P * E * sizeof (float));
  memset (s->dtokens, 0, (gsize) B * K * E * sizeof (float));
  if (options->objective == WP_OBJECTIVE_SIGMOID)
    wp_loss_sigmoid_backward (s->dimg, s->dtxt, &dscale_global, grads->logit_bias,
                              &s->objectives.sigmoid, s->img, s->txt, logit_scale,
                              *model->p.logit_bias, B, E);
  else if (options->objective != WP_OBJECTIVE_FILIP || options->filip_global > 0.0f)
    wp_loss_clip_backward (s->dimg, s->dtxt, &dscale_global, &s->objectives.clip, s->img, s->txt,
                           logit_scale, B, E);
  /* The box term first, so that scaling its buffers by its weight leaves FILIP's alone. */
  if (boxed) {
    wp_loss_box_backward (s->dpatches_unit, s->dtokens_unit, &s->objectives.box, &unit, boxes,
                          options->box_tau);
    scale (s->dpatches_unit, (gsize) B * P * E, options->box_weight);
    scale (s->dtokens_unit, (gsize) B * K * E, options->box_weight);
  }
  if (options->objective == WP_OBJECTIVE_FILIP)
    wp_loss_filip_backward (s->dpatches_unit, s->dtokens_unit, &dscale_fine, &s->objectives.filip,
                            &unit, logit_scale, options->filip_patch_fraction);
  else if (options->objective == WP_OBJECTIVE_SPARC)
    wp_loss_sparc_fine_backward (s->dpatches, s->dtokens, &dscale_fine, &s->objectives.sparc, &raw,
                                 ids, T, logit_scale, &sparc);

  /* Each objective wrote into its own buffers, so weighting is a scaling of those. */
  scale (s->dimg, (gsize) B * E, weight_global);
  scale (s->dtxt, (gsize) B * E, weight_global);
  scale (s->dpatches, (gsize) B * P * E, weight_fine);
  scale (s->dtokens, (gsize) B * K * E, weight_fine);
  *grads->logit_scale += weight_global * dscale_global + weight_fine * dscale_fine;

  /* Back through the normalisations into the towers' outputs: raw gradients first, then the
   * unit ones accumulate on top. */
  memset (s->dvision, 0, (gsize) B * (P + 1) * E * sizeof (float));
  memset (s->dtext, 0, (gsize) B * T * E * sizeof (float));
  for (int b = 0; b < B; b++) {
    float *dv = s->dvision + (gsize) b * (P + 1) * E;
    float *dt = s->dtext + (gsize) b * T * E;
    float *dpatch = s->dpatches + (gsize) b * P * E;
    float *dtoken = s->dtokens + (gsize) b * K * E;

    wp_l2_normalize_rows_backward (dv, s->dimg + (gsize) b * E, s->img_raw + (gsize) b * E,
                                   s->img_norm + b, 1, E);
    wp_residual_forward (dv + E, dv + E, dpatch, (gsize) P * E);
    wp_l2_normalize_rows_backward (dv + E, s->dpatches_unit + (gsize) b * P * E,
                                   s->patches + (gsize) b * P * E, s->patches_norm + (gsize) b * P,
                                   P, E);
    wp_residual_forward (dt, dt, dtoken, (gsize) lengths[b] * E);
    wp_l2_normalize_rows_backward (dt, s->dtokens_unit + (gsize) b * K * E,
                                   s->tokens + (gsize) b * K * E, s->tokens_norm + (gsize) b * K,
                                   lengths[b], E);
    wp_l2_normalize_rows_backward (dt + (gsize) wp_text_state_get_pooled (s->text)[b] * E,
                                   s->dtxt + (gsize) b * E,
                                   s->txt_raw + (gsize) b * E, s->txt_norm + b, 1, E);
  }
  wp_vision_backward (model, s->vision, s->dvision, grads);
  wp_text_backward (model, s->text, s->dtext, grads);
  return TRUE;
}

/* ---- the boxed words of a batch ---- */

int
wp_box_words_capacity (const WpClipConfig *config,
                       int                 B)
{
  return B * config->context_length;
}

/* A caption word as the tokenizer splits words: its text (tokens' texts joined), its tokens,
 * and whether the context cuts it (a batch then holds part of it, or none). */
typedef struct {
  char    *text;
  int      first, n_tokens;
  gboolean cut;
} CaptionWord;

static void
caption_word_clear (gpointer data)
{
  g_free (((CaptionWord *) data)->text);
}

static GArray *
caption_words (const WpModel *model,
               const char    *caption)
{
  const int K = model->config.context_length;
  /* One slot more than the context tells a word that fits from one that was cut. */
  g_autofree int *ids = g_new (int, K + 1);
  g_autofree int *word_of_token = g_new (int, K + 1);
  const int       n = wp_tokenizer_encode (model->tokenizer, caption, ids, word_of_token, K + 1);
  /* A batch encodes with K slots: its end token is at the smaller of n and K, minus one. */
  const int limit = MIN (n, K) - 1;
  GArray   *words = g_array_new (FALSE, FALSE, sizeof (CaptionWord));

  g_array_set_clear_func (words, caption_word_clear);
  for (int t = 1; t < n - 1;) {
    CaptionWord word;
    int         end = t + 1;

    while (end < n - 1 && word_of_token[end] == word_of_token[t])
      end++;
    word.text = wp_tokenizer_dup_tokens_text (model->tokenizer, ids + t, end - t);
    word.first = t;
    word.n_tokens = end - t;
    word.cut = end > limit;
    g_array_append_val (words, word);
    t = end;
  }
  return words;
}

typedef void (*BoxWordFunc) (const CaptionWord *word,
                             const WpBox       *boxes,
                             guint              n_boxes,
                             gpointer           user_data);

/* Calls func for each word of the caption that boxes of the pair name and the context holds
 * whole, with those boxes: every box of the same text (lowercased) and occurrence. */
static void
for_each_box_word (const WpModel *model,
                   const WpPair  *pair,
                   BoxWordFunc    func,
                   gpointer       user_data)
{
  g_autoptr (GArray) words = NULL;
  g_autofree gboolean *done = NULL;
  g_autofree WpBox    *group = NULL;

  if (pair->n_boxes == 0)
    return;
  words = caption_words (model, pair->caption);
  done = g_new0 (gboolean, pair->n_boxes);
  group = g_new (WpBox, pair->n_boxes);
  for (guint b = 0; b < pair->n_boxes; b++) {
    g_autofree char *lower = NULL;
    guint            n_group;
    int              occurrence = pair->boxes[b].occurrence;

    if (done[b])
      continue;
    lower = wp_pair_group_boxes (pair, b, done, group, &n_group);
    for (guint w = 0; w < words->len; w++) {
      const CaptionWord *word = &g_array_index (words, CaptionWord, w);

      if (strcmp (word->text, lower) != 0 || occurrence-- > 0)
        continue;
      if (!word->cut)
        func (word, group, n_group, user_data);
      break;
    }
  }
}

typedef struct {
  WpBoxWords           *words;
  const WpAugmentation *augmentation;
  int                   b, rows, cols;
  int                   added;
} AddPair;

static void
add_word (const CaptionWord *word,
          const WpBox       *boxes,
          guint              n_boxes,
          gpointer           user_data)
{
  AddPair    *add = user_data;
  WpBoxWords *words = add->words;
  const int   P = add->rows * add->cols;
  guint8     *inside;
  int         n_inside = 0;

  g_return_if_fail (words->n_words < words->max_words);
  inside = words->inside + (gsize) words->n_words * P;
  for (int p = 0; p < P; p++) {
    WpImageCrop rect;
    double      x, y;

    wp_augment_patch_rect (add->augmentation, add->rows, add->cols, p, &rect);
    x = rect.x + rect.width / 2.0;
    y = rect.y + rect.height / 2.0;
    inside[p] = 0;
    for (guint k = 0; k < n_boxes && !inside[p]; k++) {
      inside[p] = x >= boxes[k].x && x <= boxes[k].x + boxes[k].w && y >= boxes[k].y &&
                  y <= boxes[k].y + boxes[k].h;
    }
    n_inside += inside[p];
  }
  if (n_inside == 0)
    return;
  words->pair[words->n_words] = add->b;
  words->first[words->n_words] = word->first;
  words->n_tokens[words->n_words] = word->n_tokens;
  words->n_words++;
  add->added++;
}

int
wp_box_words_add_pair (WpBoxWords           *words,
                       const WpModel        *model,
                       const WpPair         *pair,
                       int                   b,
                       const WpAugmentation *augmentation)
{
  const int side = wp_clip_config_grid (&model->config);
  AddPair   add = { words, augmentation, b, side, side, 0 };

  g_return_val_if_fail (words->P == wp_clip_config_n_patches (&model->config), 0);
  for_each_box_word (model, pair, add_word, &add);
  return add.added;
}

static void
count_word (const CaptionWord *word,
            const WpBox       *boxes,
            guint              n_boxes,
            gpointer           user_data)
{
  (*(guint *) user_data)++;
}

guint
wp_box_words_count (const WpDataset *dataset,
                    const WpModel   *model)
{
  guint n = 0;

  for (guint i = 0; i < wp_dataset_get_n_pairs (dataset); i++)
    for_each_box_word (model, wp_dataset_get_pair (dataset, i), count_word, &n);
  return n;
}
