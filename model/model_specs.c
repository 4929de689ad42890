/* model_specs.c: the tensor layout of a configuration (transformers' names, shapes, which decay),
 * the named views into a buffer of that layout, and new models (laid out, or with random weights
 * drawn from a seed). */
#include "wordpatch/model.h"

#include <string.h>

#include "model-private.h"
#include "wordpatch/error.h"
#include "wordpatch/rng.h"

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
