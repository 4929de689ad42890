#include "wordpatch/model.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "model-private.h"
#include "wordpatch/error.h"
#include "wordpatch/rng.h"
#include "wordpatch/safetensors.h"

typedef struct {
  GArray *specs;
  gsize   offset;
} SpecBuilder;

static void
add_spec (SpecBuilder *b,
          gboolean     decay,
          int          ndim,
          const gint64 shape[],
          const char  *format,
          ...) G_GNUC_PRINTF (5, 6);

static void
add_spec (SpecBuilder *b,
          gboolean     decay,
          int          ndim,
          const gint64 shape[],
          const char  *format,
          ...)
{
  WpTensorSpec spec = { 0 };
  va_list      args;

  va_start (args, format);
  spec.name = g_strdup_vprintf (format, args);
  va_end (args);
  spec.offset = b->offset;
  spec.ndim = ndim;
  spec.numel = 1;
  spec.decay = decay;
  for (int d = 0; d < ndim; d++) {
    spec.shape[d] = shape[d];
    spec.numel *= (gsize) shape[d];
  }
  b->offset += spec.numel;
  g_array_append_val (b->specs, spec);
}

#define SHAPE(...) ((const gint64[]){ __VA_ARGS__ })

static void
add_encoder_layers (SpecBuilder         *b,
                    const char          *tower,
                    const WpTowerConfig *t)
{
  static const char *const projections[] = { "k_proj", "v_proj", "q_proj" };
  const gint64             C = t->width, I = t->mlp_width;

  for (int l = 0; l < t->n_layers; l++) {
    /* k, v and q weights one after the other, then their biases: one (3C, C) matrix and one (3C)
     * vector, so the encoder computes the three projections as one product (model.h). */
    for (gsize i = 0; i < G_N_ELEMENTS (projections); i++)
      add_spec (b, TRUE, 2, SHAPE (C, C), "%s.encoder.layers.%d.self_attn.%s.weight", tower, l,
                projections[i]);
    for (gsize i = 0; i < G_N_ELEMENTS (projections); i++)
      add_spec (b, FALSE, 1, SHAPE (C), "%s.encoder.layers.%d.self_attn.%s.bias", tower, l,
                projections[i]);
    add_spec (b, TRUE, 2, SHAPE (C, C), "%s.encoder.layers.%d.self_attn.out_proj.weight", tower, l);
    add_spec (b, FALSE, 1, SHAPE (C), "%s.encoder.layers.%d.self_attn.out_proj.bias", tower, l);
    add_spec (b, FALSE, 1, SHAPE (C), "%s.encoder.layers.%d.layer_norm1.weight", tower, l);
    add_spec (b, FALSE, 1, SHAPE (C), "%s.encoder.layers.%d.layer_norm1.bias", tower, l);
    add_spec (b, TRUE, 2, SHAPE (I, C), "%s.encoder.layers.%d.mlp.fc1.weight", tower, l);
    add_spec (b, FALSE, 1, SHAPE (I), "%s.encoder.layers.%d.mlp.fc1.bias", tower, l);
    add_spec (b, TRUE, 2, SHAPE (C, I), "%s.encoder.layers.%d.mlp.fc2.weight", tower, l);
    add_spec (b, FALSE, 1, SHAPE (C), "%s.encoder.layers.%d.mlp.fc2.bias", tower, l);
    add_spec (b, FALSE, 1, SHAPE (C), "%s.encoder.layers.%d.layer_norm2.weight", tower, l);
    add_spec (b, FALSE, 1, SHAPE (C), "%s.encoder.layers.%d.layer_norm2.bias", tower, l);
  }
}

/* SiglipModel's tensors, in its state_dict's order (but for self-attention, as above). */
static void
add_siglip_specs (SpecBuilder        *b,
                  const WpClipConfig *config)
{
  const gint64 Ct = config->text.width, Cv = config->vision.width, E = config->projection_dim;
  const gint64 p = config->patch_size, P = wp_clip_config_n_patches (config);
  const gint64 Iv = config->vision.mlp_width;

  add_spec (b, FALSE, 2, SHAPE (config->vocab_size, Ct),
            "text_model.embeddings.token_embedding.weight");
  add_spec (b, FALSE, 2, SHAPE (config->context_length, Ct),
            "text_model.embeddings.position_embedding.weight");
  add_encoder_layers (b, "text_model", &config->text);
  add_spec (b, FALSE, 1, SHAPE (Ct), "text_model.final_layer_norm.weight");
  add_spec (b, FALSE, 1, SHAPE (Ct), "text_model.final_layer_norm.bias");
  add_spec (b, TRUE, 2, SHAPE (E, Ct), "text_model.head.weight");
  add_spec (b, FALSE, 1, SHAPE (E), "text_model.head.bias");
  add_spec (b, FALSE, 4, SHAPE (Cv, 3, p, p), "vision_model.embeddings.patch_embedding.weight");
  add_spec (b, FALSE, 1, SHAPE (Cv), "vision_model.embeddings.patch_embedding.bias");
  add_spec (b, FALSE, 2, SHAPE (P, Cv), "vision_model.embeddings.position_embedding.weight");
  add_encoder_layers (b, "vision_model", &config->vision);
  add_spec (b, FALSE, 1, SHAPE (Cv), "vision_model.post_layernorm.weight");
  add_spec (b, FALSE, 1, SHAPE (Cv), "vision_model.post_layernorm.bias");
  add_spec (b, FALSE, 3, SHAPE (1, 1, Cv), "vision_model.head.probe");
  add_spec (b, TRUE, 2, SHAPE (3 * Cv, Cv), "vision_model.head.attention.in_proj_weight");
  add_spec (b, FALSE, 1, SHAPE (3 * Cv), "vision_model.head.attention.in_proj_bias");
  add_spec (b, TRUE, 2, SHAPE (Cv, Cv), "vision_model.head.attention.out_proj.weight");
  add_spec (b, FALSE, 1, SHAPE (Cv), "vision_model.head.attention.out_proj.bias");
  add_spec (b, FALSE, 1, SHAPE (Cv), "vision_model.head.layernorm.weight");
  add_spec (b, FALSE, 1, SHAPE (Cv), "vision_model.head.layernorm.bias");
  add_spec (b, TRUE, 2, SHAPE (Iv, Cv), "vision_model.head.mlp.fc1.weight");
  add_spec (b, FALSE, 1, SHAPE (Iv), "vision_model.head.mlp.fc1.bias");
  add_spec (b, TRUE, 2, SHAPE (Cv, Iv), "vision_model.head.mlp.fc2.weight");
  add_spec (b, FALSE, 1, SHAPE (Cv), "vision_model.head.mlp.fc2.bias");
  add_spec (b, FALSE, 1, SHAPE (1), "logit_scale");
  add_spec (b, FALSE, 1, SHAPE (1), "logit_bias");
}

/* The order follows transformers' state_dict, so a listing of our tensors reads like theirs, except
 * within a layer's self-attention (add_encoder_layers()). */
WpTensorSpec *
wp_tensor_specs_new (const WpClipConfig *config,
                     guint              *n_specs,
                     gsize              *n_params)
{
  SpecBuilder  b = { g_array_new (FALSE, FALSE, sizeof (WpTensorSpec)), 0 };
  const gint64 Ct = config->text.width, Cv = config->vision.width, E = config->projection_dim;
  const gint64 p = config->patch_size, P = wp_clip_config_n_patches (config);

  if (config->family == WP_MODEL_FAMILY_SIGLIP) {
    add_siglip_specs (&b, config);
    *n_specs = b.specs->len;
    *n_params = b.offset;
    return (WpTensorSpec *) g_array_free (b.specs, FALSE);
  }

  add_spec (&b, FALSE, 2, SHAPE (config->vocab_size, Ct),
            "text_model.embeddings.token_embedding.weight");
  add_spec (&b, FALSE, 2, SHAPE (config->context_length, Ct),
            "text_model.embeddings.position_embedding.weight");
  add_encoder_layers (&b, "text_model", &config->text);
  add_spec (&b, FALSE, 1, SHAPE (Ct), "text_model.final_layer_norm.weight");
  add_spec (&b, FALSE, 1, SHAPE (Ct), "text_model.final_layer_norm.bias");
  add_spec (&b, FALSE, 1, SHAPE (Cv), "vision_model.embeddings.class_embedding");
  add_spec (&b, FALSE, 4, SHAPE (Cv, 3, p, p), "vision_model.embeddings.patch_embedding.weight");
  add_spec (&b, FALSE, 2, SHAPE (P + 1, Cv), "vision_model.embeddings.position_embedding.weight");
  add_spec (&b, FALSE, 1, SHAPE (Cv), "vision_model.pre_layrnorm.weight");
  add_spec (&b, FALSE, 1, SHAPE (Cv), "vision_model.pre_layrnorm.bias");
  add_encoder_layers (&b, "vision_model", &config->vision);
  add_spec (&b, FALSE, 1, SHAPE (Cv), "vision_model.post_layernorm.weight");
  add_spec (&b, FALSE, 1, SHAPE (Cv), "vision_model.post_layernorm.bias");
  add_spec (&b, TRUE, 2, SHAPE (E, Cv), "visual_projection.weight");
  add_spec (&b, TRUE, 2, SHAPE (E, Ct), "text_projection.weight");
  add_spec (&b, FALSE, 0, NULL, "logit_scale");

  *n_specs = b.specs->len;
  *n_params = b.offset;
  return (WpTensorSpec *) g_array_free (b.specs, FALSE);
}

void
wp_tensor_specs_free (WpTensorSpec *specs,
                      guint         n_specs)
{
  for (guint i = 0; i < n_specs; i++)
    g_free (specs[i].name);
  g_free (specs);
}

static void
init_layer_views (WpLayerParams      *layer,
                  const WpTensorSpec *specs,
                  float              *base,
                  guint              *i)
{
  float **order[] = { &layer->k_w, &layer->v_w, &layer->q_w, &layer->k_b,
                      &layer->v_b, &layer->q_b, &layer->out_w, &layer->out_b,
                      &layer->ln1_w, &layer->ln1_b, &layer->fc1_w, &layer->fc1_b,
                      &layer->fc2_w, &layer->fc2_b, &layer->ln2_w, &layer->ln2_b };

  for (gsize k = 0; k < G_N_ELEMENTS (order); k++)
    *order[k] = base + specs[(*i)++].offset;
}

/* Mirrors the order of add_siglip_specs() exactly. */
static void
init_siglip_views (WpParams           *params,
                   const WpClipConfig *config,
                   const WpTensorSpec *specs,
                   float              *base)
{
  float **order[] = {
    &params->final_ln_w, &params->final_ln_b, &params->text_head_w, &params->text_head_b,
    &params->patch_embedding, &params->patch_bias, &params->vision_position
  };
  float **head[] = {
    &params->post_ln_w, &params->post_ln_b, &params->head_probe, &params->head_in_w,
    &params->head_in_b, &params->head_out_w, &params->head_out_b, &params->head_ln_w,
    &params->head_ln_b, &params->head_fc1_w, &params->head_fc1_b, &params->head_fc2_w,
    &params->head_fc2_b, &params->logit_scale, &params->logit_bias
  };
  guint i = 0;

  params->token_embedding = base + specs[i++].offset;
  params->text_position = base + specs[i++].offset;
  for (int l = 0; l < config->text.n_layers; l++)
    init_layer_views (&params->text_layers[l], specs, base, &i);
  for (gsize k = 0; k < G_N_ELEMENTS (order); k++)
    *order[k] = base + specs[i++].offset;
  for (int l = 0; l < config->vision.n_layers; l++)
    init_layer_views (&params->vision_layers[l], specs, base, &i);
  for (gsize k = 0; k < G_N_ELEMENTS (head); k++)
    *head[k] = base + specs[i++].offset;
}

/* Mirrors the order of wp_tensor_specs_new() exactly. */
void
wp_params_init_views (WpParams           *params,
                      const WpClipConfig *config,
                      const WpTensorSpec *specs,
                      float              *base)
{
  guint i = 0;

  memset (params, 0, sizeof *params);
  if (config->family == WP_MODEL_FAMILY_SIGLIP) {
    init_siglip_views (params, config, specs, base);
    return;
  }
  params->token_embedding = base + specs[i++].offset;
  params->text_position = base + specs[i++].offset;
  for (int l = 0; l < config->text.n_layers; l++)
    init_layer_views (&params->text_layers[l], specs, base, &i);
  params->final_ln_w = base + specs[i++].offset;
  params->final_ln_b = base + specs[i++].offset;
  params->class_embedding = base + specs[i++].offset;
  params->patch_embedding = base + specs[i++].offset;
  params->vision_position = base + specs[i++].offset;
  params->pre_ln_w = base + specs[i++].offset;
  params->pre_ln_b = base + specs[i++].offset;
  for (int l = 0; l < config->vision.n_layers; l++)
    init_layer_views (&params->vision_layers[l], specs, base, &i);
  params->post_ln_w = base + specs[i++].offset;
  params->post_ln_b = base + specs[i++].offset;
  params->visual_projection = base + specs[i++].offset;
  params->text_projection = base + specs[i++].offset;
  params->logit_scale = base + specs[i++].offset;
}

WpModel *
wp_model_new_layout (const WpClipConfig *config,
                     WpTokenizer        *tokenizer,
                     GError            **error)
{
  g_autoptr (WpModel) model = g_new0 (WpModel, 1);

  model->tokenizer = tokenizer;
  model->stored_dtype = WP_DTYPE_OTHER;
  if (!wp_clip_config_validate (config, error))
    return NULL;
  if (wp_tokenizer_get_n_vocab (tokenizer) > config->vocab_size) {
    g_set_error (error, WP_ERROR, WP_ERROR_SHAPE,
                 "the tokenizer has %d tokens but text_config.vocab_size is %d",
                 wp_tokenizer_get_n_vocab (tokenizer), config->vocab_size);
    return NULL;
  }
  model->config = *config;
  model->specs = wp_tensor_specs_new (config, &model->n_specs, &model->n_params);
  return g_steal_pointer (&model);
}

gboolean
wp_model_alloc_params (WpModel *model,
                       GError **error)
{
  model->params = g_try_new0 (float, model->n_params);
  if (model->params == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_SHAPE, "cannot allocate %" G_GSIZE_FORMAT " parameters",
                 model->n_params);
    return FALSE;
  }
  wp_params_init_views (&model->p, &model->config, model->specs, model->params);
  return TRUE;
}

static gboolean
is_layer_norm (const char *name)
{
  return strstr (name, "layer_norm") != NULL || strstr (name, "layrnorm") != NULL ||
         strstr (name, "layernorm") != NULL;
}

WpModel *
wp_model_new_random (const WpClipConfig *config,
                     WpTokenizer        *tokenizer,
                     guint64             seed,
                     GError            **error)
{
  g_autoptr (WpModel) model = wp_model_new_layout (config, tokenizer, error);
  WpRng rng;

  if (model == NULL || !wp_model_alloc_params (model, error))
    return NULL;
  /* The config names the tokenizer's own start and end tokens (a learnt vocabulary has them
   * elsewhere than OpenAI's), so that transformers pools the text where we do. */
  if (wp_tokenizer_is_sentencepiece (tokenizer))
    model->config.pad_token_id = wp_tokenizer_get_pad_id (tokenizer);
  else
    model->config.bos_token_id = wp_tokenizer_get_bos_id (tokenizer);
  model->config.eos_token_id = wp_tokenizer_get_eos_id (tokenizer);
  wp_rng_init (&rng, seed);
  for (guint i = 0; i < model->n_specs; i++) {
    const WpTensorSpec *spec = &model->specs[i];
    float              *data = model->params + spec->offset;
    gboolean            bias = g_str_has_suffix (spec->name, ".bias");

    if (is_layer_norm (spec->name)) {
      for (gsize k = 0; k < spec->numel; k++)
        data[k] = bias ? 0.0f : 1.0f;
    } else if (bias) {
      memset (data, 0, spec->numel * sizeof (float));
    } else {
      for (gsize k = 0; k < spec->numel; k++)
        data[k] = (float) (0.02 * wp_rng_normal (&rng));
    }
  }
  *model->p.logit_scale = config->logit_scale_init;
  if (model->p.logit_bias != NULL)
    *model->p.logit_bias = config->logit_bias_init;
  return g_steal_pointer (&model);
}

/* "[d0,d1,...]", as error messages show shapes. */
static char *
shape_to_string (int           ndim,
                 const gint64 *shape)
{
  GString *s = g_string_new ("[");

  for (int d = 0; d < ndim; d++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, d ? "," : "", shape[d]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static gboolean
shape_matches (int                        ndim,
               const gint64              *shape,
               const WpSafetensorsTensor *tensor)
{
  /* A scalar may be stored as [] (transformers, open_clip) or [1] (open_clip's
   * nonscalar_logit_scale). */
  if (ndim == 0)
    return tensor->numel == 1 && tensor->ndim <= 1;
  if (ndim != tensor->ndim)
    return FALSE;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] != tensor->shape[d])
      return FALSE;
  }
  return TRUE;
}

gboolean
wp_model_check_tensor (const WpWeights *weights,
                       const char      *name,
                       int              ndim,
                       const gint64    *shape,
                       GError         **error)
{
  const WpWeightsTensor *found = wp_weights_lookup (weights, name);

  if (found == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING, "%s: tensor '%s' is missing",
                 wp_weights_get_path (weights), name);
    return FALSE;
  }
  if (!shape_matches (ndim, shape, found->tensor)) {
    const WpSafetensorsTensor *tensor = found->tensor;
    g_autofree char           *got = shape_to_string (tensor->ndim, tensor->shape);
    g_autofree char           *want = shape_to_string (ndim, shape);

    g_set_error (error, WP_ERROR, WP_ERROR_SHAPE, "%s: tensor '%s' has shape %s, expected %s",
                 wp_safetensors_get_path (found->file), name, got, want);
    return FALSE;
  }
  return TRUE;
}

/* Checks that the weights hold every tensor of the model's layout, by name and shape, and nothing
 * else. */
static gboolean
check_layout (const WpModel   *model,
              const WpWeights *weights,
              GError         **error)
{
  for (guint i = 0; i < model->n_specs; i++) {
    const WpTensorSpec *spec = &model->specs[i];

    if (!wp_model_check_tensor (weights, spec->name, spec->ndim, spec->shape, error))
      return FALSE;
  }
  /* Anything else means the file and config.json describe different models. transformers keeps
   * position_ids buffers in some files; they carry no weights. */
  for (guint i = 0; i < wp_weights_get_n_tensors (weights); i++) {
    const WpWeightsTensor *entry = wp_weights_get_tensor (weights, i);
    const char            *name = entry->tensor->name;
    gboolean               known = g_str_has_suffix (name, "embeddings.position_ids");

    for (guint k = 0; !known && k < model->n_specs; k++)
      known = strcmp (name, model->specs[k].name) == 0;
    if (!known) {
      g_set_error (error, WP_ERROR, WP_ERROR_SHAPE,
                   "%s: unexpected tensor '%s' (config.json describes a different model)",
                   wp_safetensors_get_path (entry->file), name);
      return FALSE;
    }
  }
  return TRUE;
}

void
wp_model_note_stored_dtype (WpModel *model,
                            WpDtype  dtype,
                            gboolean first)
{
  if (first)
    model->stored_dtype = dtype;
  else if (model->stored_dtype != dtype)
    model->stored_dtype = WP_DTYPE_OTHER;
}

/* Reads every tensor of the model's layout (checked by check_layout) into buffer; model, when not
 * NULL, notes their dtype. */
static gboolean
read_layout (const WpModel   *layout,
             WpModel         *model,
             const WpWeights *weights,
             float           *buffer,
             GError         **error)
{
  for (guint i = 0; i < layout->n_specs; i++) {
    const WpTensorSpec    *spec = &layout->specs[i];
    const WpWeightsTensor *found = wp_weights_lookup (weights, spec->name);

    if (!wp_safetensors_read_f32 (found->file, found->tensor, buffer + spec->offset, TRUE, error))
      return FALSE;
    if (model != NULL)
      wp_model_note_stored_dtype (model, found->tensor->dtype, i == 0);
  }
  return TRUE;
}

gboolean
wp_model_read_step (WpModel         *model,
                    const WpWeights *weights,
                    GError         **error)
{
  const char *step = wp_weights_get_metadata (weights, "wordpatch.step");
  guint64     value;

  if (step == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (step, 10, 0, G_MAXINT64, &value, NULL)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%s: metadata wordpatch.step '%s' is not a step number",
                 wp_weights_get_path (weights), step);
    return FALSE;
  }
  model->step = (gint64) value;
  return TRUE;
}

/* Checks the weights against the model's layout, then allocates and reads them. */
static gboolean
read_weights (WpModel         *model,
              const WpWeights *weights,
              GError         **error)
{
  /* The weights must hold every tensor before the parameters are allocated: a small file's
   * config may describe a model of gigabytes. */
  if (!check_layout (model, weights, error) || !wp_model_alloc_params (model, error) ||
      !read_layout (model, model, weights, model->params, error) ||
      !wp_model_read_step (model, weights, error))
    return FALSE;
  model->n_weight_files = wp_weights_get_n_files (weights);
  return TRUE;
}

WpTokenizer *
wp_model_load_folder_tokenizer (const char *dir,
                                gboolean    bundled_fallback,
                                gboolean   *bundled,
                                GError    **error)
{
  g_autofree char *vocab_path = g_build_filename (dir, "vocab.json", NULL);
  g_autofree char *merges_path = g_build_filename (dir, "merges.txt", NULL);
  g_autofree char *bpe = NULL;

  *bundled = FALSE;
  if (!bundled_fallback || g_file_test (vocab_path, G_FILE_TEST_EXISTS) ||
      g_file_test (merges_path, G_FILE_TEST_EXISTS))
    return wp_tokenizer_new_from_files (vocab_path, merges_path, error);
  bpe = wp_data_find ("clip-bpe");
  if (bpe == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
                 "%s: no vocab.json and merges.txt, and OpenAI's vocabulary bundled with "
                 "wordpatch (data/clip-bpe) is not installed",
                 dir);
    return NULL;
  }
  g_clear_pointer (&vocab_path, g_free);
  g_clear_pointer (&merges_path, g_free);
  vocab_path = g_build_filename (bpe, "vocab.json", NULL);
  merges_path = g_build_filename (bpe, "merges.txt", NULL);
  *bundled = TRUE;
  return wp_tokenizer_new_from_files (vocab_path, merges_path, error);
}

/* Reads config.json and, when the folder has it, preprocessor_config.json into config. */
static gboolean
read_transformers_config (const char   *dir,
                          WpClipConfig *config,
                          GError      **error)
{
  g_autofree char *config_path = g_build_filename (dir, "config.json", NULL);
  g_autofree char *preprocessor_path = g_build_filename (dir, "preprocessor_config.json", NULL);
  /* Mapped, so that the size limit applies before anything is allocated for the text. */
  g_autoptr (GMappedFile) file = g_mapped_file_new (config_path, FALSE, error);

  if (file == NULL)
    return FALSE;
  if (!wp_clip_config_parse (config, g_mapped_file_get_contents (file),
                             g_mapped_file_get_length (file), error)) {
    g_prefix_error (error, "%s: ", config_path);
    return FALSE;
  }
  if (!g_file_test (preprocessor_path, G_FILE_TEST_EXISTS))
    return TRUE;
  g_clear_pointer (&file, g_mapped_file_unref);
  file = g_mapped_file_new (preprocessor_path, FALSE, error);
  if (file == NULL)
    return FALSE;
  if (!wp_preprocess_parse (config, g_mapped_file_get_contents (file),
                            g_mapped_file_get_length (file), error)) {
    g_prefix_error (error, "%s: ", preprocessor_path);
    return FALSE;
  }
  return TRUE;
}

/* model.safetensors, or the shards its index lists. */
static WpWeights *
open_transformers_weights (const char *dir,
                           GError    **error)
{
  g_autofree char *weights_path = g_build_filename (dir, "model.safetensors", NULL);
  g_autofree char *index_path = g_build_filename (dir, "model.safetensors.index.json", NULL);
  g_autofree char *bin_path = NULL;

  if (g_file_test (weights_path, G_FILE_TEST_EXISTS))
    return wp_weights_open_file (weights_path, error);
  if (g_file_test (index_path, G_FILE_TEST_EXISTS))
    return wp_weights_open_index (index_path, error);
  bin_path = g_build_filename (dir, "pytorch_model.bin", NULL);
  g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
               "%s: no model.safetensors or model.safetensors.index.json%s", dir,
               g_file_test (bin_path, G_FILE_TEST_EXISTS)
                 ? " (pytorch_model.bin is not read: save the model with safe_serialization=True)"
                 : "");
  return NULL;
}

static WpModel *
load_transformers_folder (const char *dir,
                          GError    **error)
{
  g_autoptr (WpWeights) weights = NULL;
  g_autoptr (WpModel) model = NULL;
  WpTokenizer *tokenizer;
  WpClipConfig config;
  gboolean     bundled;

  if (!read_transformers_config (dir, &config, error) ||
      (weights = open_transformers_weights (dir, error)) == NULL)
    return NULL;
  if (config.family == WP_MODEL_FAMILY_SIGLIP) {
    g_autofree char *spiece_path = g_build_filename (dir, WP_SPIECE_FILE, NULL);

    tokenizer = wp_tokenizer_new_sentencepiece_from_file (spiece_path, error);
  } else {
    tokenizer = wp_model_load_folder_tokenizer (dir, FALSE, &bundled, error);
  }
  if (tokenizer == NULL)
    return NULL;
  model = wp_model_new_layout (&config, tokenizer, error);
  if (model == NULL) {
    g_prefix_error (error, "%s: ", dir);
    return NULL;
  }
  if (!read_weights (model, weights, error))
    return NULL;
  model->format = WP_MODEL_FORMAT_TRANSFORMERS;
  return g_steal_pointer (&model);
}

static const char *
require_metadata (const WpWeights *weights,
                  const char      *key,
                  GError         **error)
{
  const char *value = wp_weights_get_metadata (weights, key);

  if (value == NULL)
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
                 "%s: a single-file model needs metadata \"%s\" (config, vocab and merges "
                 "embedded); or give the model's folder",
                 wp_weights_get_path (weights), key);
  return value;
}

static WpModel *
load_bare_file (const char *path,
                GError    **error)
{
  g_autoptr (WpWeights) weights = wp_weights_open_file (path, error);
  g_autoptr (WpModel) model = NULL;
  const char  *config_text, *vocab, *merges;
  WpTokenizer *tokenizer;
  WpClipConfig config;

  if (weights == NULL)
    return NULL;
  if ((config_text = require_metadata (weights, "wordpatch.config", error)) == NULL)
    return NULL;
  if (!wp_clip_config_parse (&config, config_text, strlen (config_text), error)) {
    g_prefix_error (error, "%s: metadata wordpatch.config: ", path);
    return NULL;
  }
  if (config.family == WP_MODEL_FAMILY_SIGLIP) {
    const char        *spiece = require_metadata (weights, "wordpatch.spiece", error);
    g_autofree guchar *bytes = NULL;
    gsize              len = 0;

    if (spiece == NULL)
      return NULL;
    bytes = g_base64_decode (spiece, &len);
    tokenizer = wp_tokenizer_new_sentencepiece ((const char *) bytes, len, error);
  } else {
    if ((vocab = require_metadata (weights, "wordpatch.vocab", error)) == NULL ||
        (merges = require_metadata (weights, "wordpatch.merges", error)) == NULL)
      return NULL;
    tokenizer = wp_tokenizer_new_from_data (vocab, strlen (vocab), merges, strlen (merges), error);
  }
  if (tokenizer == NULL) {
    g_prefix_error (error, "%s: embedded tokenizer: ", path);
    return NULL;
  }
  model = wp_model_new_layout (&config, tokenizer, error);
  if (model == NULL) {
    g_prefix_error (error, "%s: ", path);
    return NULL;
  }
  if (!read_weights (model, weights, error))
    return NULL;
  model->format = WP_MODEL_FORMAT_FILE;
  return g_steal_pointer (&model);
}

static gboolean
folder_has (const char *dir,
            const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* transformers' layout when the folder has its config and weights; open_clip's when it has
 * open_clip's config (hub folders often hold both); otherwise transformers', whose errors say
 * what is missing. */
static WpModel *
load_folder (const char *dir,
             GError    **error)
{
  const gboolean transformers_weights =
    folder_has (dir, "model.safetensors") || folder_has (dir, "model.safetensors.index.json");

  /* A folder with weights but no config is a transformers folder missing its config.json, which
   * the loader names. */
  if (!folder_has (dir, "config.json") && !folder_has (dir, "open_clip_config.json") &&
      !transformers_weights) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                 "%s: not a model folder: it has neither config.json (transformers' CLIPModel or "
                 "SiglipModel) nor open_clip_config.json (open_clip), nor a training run's latest",
                 dir);
    return NULL;
  }
  if (folder_has (dir, "open_clip_config.json") &&
      !(folder_has (dir, "config.json") && transformers_weights))
    return wp_openclip_load (dir, error);
  return load_transformers_folder (dir, error);
}

WpModel *
wp_model_load (const char *path,
               GError    **error)
{
  WpModel *model;

  g_return_val_if_fail (path != NULL, NULL);

  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    g_autofree char *latest = g_build_filename (path, "latest", NULL);

    /* A training run's folder stands for its latest checkpoint. */
    if (!folder_has (path, "config.json") && !folder_has (path, "open_clip_config.json") &&
        g_file_test (latest, G_FILE_TEST_IS_DIR))
      model = load_folder (latest, error);
    else
      model = load_folder (path, error);
  } else if (g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    model = load_bare_file (path, error);
  } else {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "%s: no such model folder or file", path);
    return NULL;
  }
  if (model != NULL)
    model->path = g_strdup (path);
  return model;
}

gboolean
wp_params_read (const WpModel *model,
                const char    *path,
                float         *buffer,
                GError       **error)
{
  g_autoptr (WpWeights) weights = wp_weights_open_file (path, error);

  return weights != NULL && check_layout (model, weights, error) &&
         read_layout (model, NULL, weights, buffer, error);
}

/* A tokenizer from the bytes tokenizer was built from, which it accepted. */
static WpTokenizer *
copy_tokenizer (const WpTokenizer *tokenizer)
{
  gsize       vocab_len, merges_len, len;
  const char *vocab, *merges, *sp;

  if (wp_tokenizer_is_sentencepiece (tokenizer)) {
    sp = wp_tokenizer_get_sentencepiece_model (tokenizer, &len);
    return wp_tokenizer_new_sentencepiece (sp, len, NULL);
  }
  vocab = wp_tokenizer_get_vocab_json (tokenizer, &vocab_len);
  merges = wp_tokenizer_get_merges_txt (tokenizer, &merges_len);
  return wp_tokenizer_new_from_data (vocab, vocab_len, merges, merges_len, NULL);
}

WpModel *
wp_model_copy (const WpModel *model)
{
  WpTokenizer *tokenizer = copy_tokenizer (model->tokenizer);
  WpModel     *copy;

  g_assert (tokenizer != NULL);
  copy = wp_model_new_layout (&model->config, tokenizer, NULL);
  if (copy == NULL || !wp_model_alloc_params (copy, NULL)) {
    wp_model_free (copy);
    return NULL;
  }
  memcpy (copy->params, model->params, model->n_params * sizeof (float));
  copy->step = model->step;
  copy->path = g_strdup (model->path);
  copy->format = model->format;
  copy->n_weight_files = model->n_weight_files;
  copy->stored_dtype = model->stored_dtype;
  copy->bundled_vocabulary = model->bundled_vocabulary;
  return copy;
}

static gboolean
params_write_as (const WpModel *model,
                 const float   *buffer,
                 const char    *path,
                 GHashTable    *metadata,
                 WpDtype        dtype,
                 GError       **error)
{
  g_autofree WpSafetensorsEntry *entries = g_new0 (WpSafetensorsEntry, model->n_specs);

  for (guint i = 0; i < model->n_specs; i++) {
    entries[i].name = model->specs[i].name;
    entries[i].ndim = model->specs[i].ndim;
    entries[i].shape = model->specs[i].shape;
    entries[i].data = buffer + model->specs[i].offset;
    entries[i].dtype = dtype;
  }
  return wp_safetensors_write (path, entries, model->n_specs, metadata, error);
}

gboolean
wp_params_write (const WpModel *model,
                 const float   *buffer,
                 const char    *path,
                 GHashTable    *metadata,
                 GError       **error)
{
  return params_write_as (model, buffer, path, metadata, WP_DTYPE_F32, error);
}

/* A weight F16 would store as infinity, which no loader accepts. */
gboolean
wp_model_check_dtype (const WpModel *model,
                      WpDtype        dtype,
                      GError       **error)
{
  if (dtype != WP_DTYPE_F16)
    return TRUE;
  for (guint i = 0; i < model->n_specs; i++) {
    const WpTensorSpec *spec = &model->specs[i];

    for (gsize k = 0; k < spec->numel; k++) {
      const float value = model->params[spec->offset + k];

      if (isinf (wp_f16_to_f32 (wp_f32_to_f16 (value)))) {
        g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                     "tensor '%s' holds %g, beyond F16's range (65504): save it as F32 or BF16",
                     spec->name, value);
        return FALSE;
      }
    }
  }
  return TRUE;
}

gboolean
wp_model_make_folder (const char *dir,
                      GError    **error)
{
  if (g_mkdir_with_parents (dir, 0755) != 0) {
    int saved_errno = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                 "%s: cannot create folder: %s", dir, g_strerror (saved_errno));
    return FALSE;
  }
  return TRUE;
}

GHashTable *
wp_model_new_metadata (const WpModel *model)
{
  GHashTable *metadata = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);

  g_hash_table_insert (metadata, "format", g_strdup ("pt"));
  if (model->step > 0)
    g_hash_table_insert (metadata, "wordpatch.step",
                         g_strdup_printf ("%" G_GINT64_FORMAT, model->step));
  return metadata;
}

gboolean
wp_model_write_vocabulary (const WpModel *model,
                           const char    *dir,
                           GError       **error)
{
  g_autofree char *vocab_path = g_build_filename (dir, "vocab.json", NULL);
  g_autofree char *merges_path = g_build_filename (dir, "merges.txt", NULL);
  gsize            vocab_len, merges_len;
  const char      *vocab = wp_tokenizer_get_vocab_json (model->tokenizer, &vocab_len);
  const char      *merges = wp_tokenizer_get_merges_txt (model->tokenizer, &merges_len);

  if (wp_tokenizer_is_sentencepiece (model->tokenizer)) {
    g_autofree char *spiece_path = g_build_filename (dir, WP_SPIECE_FILE, NULL);
    gsize            len;
    const char      *spiece = wp_tokenizer_get_sentencepiece_model (model->tokenizer, &len);

    return g_file_set_contents (spiece_path, spiece, (gssize) len, error);
  }

  /* g_file_set_contents writes a temporary file and renames it, so each file is whole. */
  return g_file_set_contents (vocab_path, vocab, (gssize) vocab_len, error) &&
         g_file_set_contents (merges_path, merges, (gssize) merges_len, error);
}

gboolean
wp_model_save (const WpModel *model,
               const char    *path,
               GError       **error)
{
  return wp_model_save_as (model, path, WP_DTYPE_F32, error);
}

gboolean
wp_model_save_as (const WpModel *model,
                  const char    *path,
                  WpDtype        dtype,
                  GError       **error)
{
  return wp_model_save_format (model, path,
                               g_str_has_suffix (path, ".safetensors")
                                 ? WP_MODEL_FORMAT_FILE
                                 : WP_MODEL_FORMAT_TRANSFORMERS,
                               dtype, error);
}

static gboolean
save_bare_file (const WpModel *model,
                const char    *path,
                WpDtype        dtype,
                GError       **error)
{
  g_autoptr (GHashTable) metadata = wp_model_new_metadata (model);
  gsize       vocab_len, merges_len;
  const char *vocab = wp_tokenizer_get_vocab_json (model->tokenizer, &vocab_len);
  const char *merges = wp_tokenizer_get_merges_txt (model->tokenizer, &merges_len);

  g_hash_table_insert (metadata, "wordpatch.config", wp_clip_config_to_json (&model->config));
  if (wp_tokenizer_is_sentencepiece (model->tokenizer)) {
    gsize       len;
    const char *spiece = wp_tokenizer_get_sentencepiece_model (model->tokenizer, &len);

    g_hash_table_insert (metadata, "wordpatch.spiece",
                         g_base64_encode ((const guchar *) spiece, len));
  } else {
    g_hash_table_insert (metadata, "wordpatch.vocab", g_strndup (vocab, vocab_len));
    g_hash_table_insert (metadata, "wordpatch.merges", g_strndup (merges, merges_len));
  }
  return params_write_as (model, model->params, path, metadata, dtype, error);
}

static gboolean
save_transformers_folder (const WpModel *model,
                          const char    *dir,
                          WpDtype        dtype,
                          GError       **error)
{
  g_autoptr (GHashTable) metadata = wp_model_new_metadata (model);
  g_autofree char *weights_path = g_build_filename (dir, "model.safetensors", NULL);
  g_autofree char *config_path = g_build_filename (dir, "config.json", NULL);
  g_autofree char *preprocessor_path = g_build_filename (dir, "preprocessor_config.json", NULL);
  g_autofree char *config_json = wp_clip_config_to_json (&model->config);
  g_autofree char *preprocessor_json = wp_preprocess_to_json (&model->config);

  return wp_model_make_folder (dir, error) &&
         params_write_as (model, model->params, weights_path, metadata, dtype, error) &&
         g_file_set_contents (config_path, config_json, -1, error) &&
         g_file_set_contents (preprocessor_path, preprocessor_json, -1, error) &&
         wp_model_write_vocabulary (model, dir, error);
}

gboolean
wp_model_save_format (const WpModel *model,
                      const char    *path,
                      WpModelFormat  format,
                      WpDtype        dtype,
                      GError       **error)
{
  g_return_val_if_fail (model != NULL && path != NULL && dtype != WP_DTYPE_OTHER, FALSE);

  if (!wp_model_check_dtype (model, dtype, error)) {
    g_prefix_error (error, "%s: ", path);
    return FALSE;
  }
  switch (format) {
  case WP_MODEL_FORMAT_FILE:
    return save_bare_file (model, path, dtype, error);
  case WP_MODEL_FORMAT_OPEN_CLIP:
    return wp_openclip_save (model, path, dtype, error);
  case WP_MODEL_FORMAT_TRANSFORMERS:
  default:
    return save_transformers_folder (model, path, dtype, error);
  }
}

const char *
wp_model_format_to_string (WpModelFormat format)
{
  switch (format) {
  case WP_MODEL_FORMAT_OPEN_CLIP:
    return "open_clip";
  case WP_MODEL_FORMAT_FILE:
    return "file";
  case WP_MODEL_FORMAT_TRANSFORMERS:
  default:
    return "transformers";
  }
}

gboolean
wp_model_format_from_string (const char    *name,
                             WpModelFormat *format)
{
  static const WpModelFormat formats[] = { WP_MODEL_FORMAT_TRANSFORMERS, WP_MODEL_FORMAT_OPEN_CLIP,
                                           WP_MODEL_FORMAT_FILE };

  for (gsize i = 0; i < G_N_ELEMENTS (formats); i++) {
    if (g_strcmp0 (name, wp_model_format_to_string (formats[i])) == 0) {
      *format = formats[i];
      return TRUE;
    }
  }
  return FALSE;
}

static const char *
dtype_to_string (WpDtype dtype)
{
  switch (dtype) {
  case WP_DTYPE_F32:
    return "F32";
  case WP_DTYPE_F16:
    return "F16";
  case WP_DTYPE_BF16:
    return "BF16";
  case WP_DTYPE_OTHER:
  default:
    return "mixed dtypes";
  }
}

char *
wp_model_dup_summary (const WpModel *model)
{
  const WpClipConfig *c = &model->config;
  GString            *s = g_string_new (wp_model_family_to_string (c->family));
  const char         *where[] = { "transformers folder", "open_clip folder", "single file" };

  /* OpenAI's names for the standard widths, the sizes otherwise. */
  if (c->vision.width == 768 && c->vision.n_layers == 12)
    g_string_append_printf (s, " ViT-B/%d", c->patch_size);
  else if (c->vision.width == 1024 && c->vision.n_layers == 24)
    g_string_append_printf (s, " ViT-L/%d", c->patch_size);
  else
    g_string_append_printf (s, " ViT (width %d, %d layers, patch %d)", c->vision.width,
                            c->vision.n_layers, c->patch_size);
  if (c->image_size != 224)
    g_string_append_printf (s, " at %d px", c->image_size);
  g_string_append_printf (s, ", %.1f M parameters", model->n_params / 1e6);
  if (model->n_weight_files == 0) {
    g_string_append (s, " (new)");
    return g_string_free (s, FALSE);
  }
  g_string_append_printf (s, " (%s", where[model->format]);
  if (model->n_weight_files > 1)
    g_string_append_printf (s, ", %u shards", model->n_weight_files);
  g_string_append_printf (s, ", %s", dtype_to_string (model->stored_dtype));
  if (model->bundled_vocabulary)
    g_string_append (s, ", OpenAI's vocabulary");
  g_string_append_c (s, ')');
  return g_string_free (s, FALSE);
}

void
wp_model_free (WpModel *model)
{
  if (model == NULL)
    return;
  g_clear_pointer (&model->tokenizer, wp_tokenizer_free);
  if (model->specs != NULL)
    wp_tensor_specs_free (model->specs, model->n_specs);
  g_free (model->params);
  g_free (model->path);
  g_free (model);
}

char *
wp_data_find (const char *relative)
{
  const char *candidates[] = { g_getenv ("WORDPATCH_DATADIR"), WP_DATADIR, WP_SOURCE_DATADIR };

  for (gsize i = 0; i < G_N_ELEMENTS (candidates); i++) {
    g_autofree char *path = NULL;

    if (candidates[i] == NULL)
      continue;
    path = g_build_filename (candidates[i], relative, NULL);
    if (g_file_test (path, G_FILE_TEST_EXISTS))
      return g_steal_pointer (&path);
  }
  return NULL;
}

char *
wp_model_find_default (void)
{
  g_autofree char *config = wp_data_find ("model/config.json");

  return config != NULL ? g_path_get_dirname (config) : NULL;
}
