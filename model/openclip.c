/* openclip.c: open_clip folders (openclip.h): open_clip_model.safetensors's tensor names and
 * layouts mapped onto ours, and loading and saving a folder. open_clip_config.json is read and
 * written in openclip_config.c. */
#include "wordpatch/openclip.h"

#include <string.h>

#include "model-private.h"
#include "wordpatch/error.h"

/* ---- open_clip_model.safetensors ---- */

/* How one open_clip tensor holds ours. */
typedef enum {
  OC_COPY,      /* the same numbers in the same order */
  OC_TRANSPOSE, /* (in, out) for our (out, in) */
  OC_IN_PROJ,   /* q, k, v stacked, for our k, v, q stacked (model.h) */
} OcKind;

typedef struct {
  char  *name;
  OcKind kind;
  guint  spec; /* our tensor; for OC_IN_PROJ the layer's k_proj weight or bias */
  int    ndim;
  gint64 shape[4];
  gsize  numel;
} OcTensor;

typedef struct {
  GArray     *tensors; /* OcTensor */
  GHashTable *specs;   /* our name -> index + 1 */
  const char *prefix;  /* before every name: "module." in a state dict saved from DDP */
} OcLayout;

static void
oc_layout_clear (OcLayout *layout)
{
  for (guint i = 0; layout->tensors != NULL && i < layout->tensors->len; i++)
    g_free (g_array_index (layout->tensors, OcTensor, i).name);
  g_clear_pointer (&layout->tensors, g_array_unref);
  g_clear_pointer (&layout->specs, g_hash_table_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (OcLayout, oc_layout_clear)

G_GNUC_PRINTF (5, 6)
static void
oc_add (OcLayout      *layout,
        const WpModel *model,
        OcKind         kind,
        const char    *ours,
        const char    *format,
        ...)
{
  OcTensor            t = { 0 };
  const WpTensorSpec *spec;
  va_list             args;
  g_autofree char    *name = NULL;

  va_start (args, format);
  name = g_strdup_vprintf (format, args);
  va_end (args);
  t.name = g_strconcat (layout->prefix, name, NULL);
  t.kind = kind;
  t.spec = GPOINTER_TO_UINT (g_hash_table_lookup (layout->specs, ours));
  g_assert (t.spec > 0);
  t.spec--;
  spec = &model->specs[t.spec];
  t.ndim = spec->ndim;
  t.numel = spec->numel;
  for (int d = 0; d < spec->ndim; d++)
    t.shape[d] = spec->shape[d];
  if (kind == OC_TRANSPOSE) {
    t.shape[0] = spec->shape[1];
    t.shape[1] = spec->shape[0];
  } else if (kind == OC_IN_PROJ) {
    t.shape[0] *= 3;
    t.numel *= 3;
  }
  g_array_append_val (layout->tensors, t);
}

static void
oc_add_blocks (OcLayout      *layout,
               const WpModel *model,
               const char    *oc_prefix,
               const char    *tower,
               int            n_layers)
{
  static const char *const pairs[][2] = {
    { "ln_1", "layer_norm1" },
    { "attn.out_proj", "self_attn.out_proj" },
    { "ln_2", "layer_norm2" },
    { "mlp.c_fc", "mlp.fc1" },
    { "mlp.c_proj", "mlp.fc2" },
  };

  for (int l = 0; l < n_layers; l++) {
    g_autofree char *ours = g_strdup_printf ("%s.encoder.layers.%d", tower, l);
    g_autofree char *k_w = g_strdup_printf ("%s.self_attn.k_proj.weight", ours);
    g_autofree char *k_b = g_strdup_printf ("%s.self_attn.k_proj.bias", ours);

    oc_add (layout, model, OC_IN_PROJ, k_w, "%sresblocks.%d.attn.in_proj_weight", oc_prefix, l);
    oc_add (layout, model, OC_IN_PROJ, k_b, "%sresblocks.%d.attn.in_proj_bias", oc_prefix, l);
    for (gsize i = 0; i < G_N_ELEMENTS (pairs); i++) {
      for (int bias = 0; bias < 2; bias++) {
        g_autofree char *name =
          g_strdup_printf ("%s.%s.%s", ours, pairs[i][1], bias ? "bias" : "weight");

        oc_add (layout, model, OC_COPY, name, "%sresblocks.%d.%s.%s", oc_prefix, l, pairs[i][0],
                bias ? "bias" : "weight");
      }
    }
  }
}

/* open_clip's tensors for the model's layout, in the order of open_clip's state_dict, each name
 * after prefix. */
static void
oc_layout_init (OcLayout      *layout,
                const WpModel *model,
                const char    *prefix)
{
  const WpClipConfig *c = &model->config;

  layout->prefix = prefix;
  layout->tensors = g_array_new (FALSE, FALSE, sizeof (OcTensor));
  layout->specs = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < model->n_specs; i++)
    g_hash_table_insert (layout->specs, model->specs[i].name, GUINT_TO_POINTER (i + 1));

  oc_add (layout, model, OC_COPY, "text_model.embeddings.position_embedding.weight",
          "positional_embedding");
  oc_add (layout, model, OC_TRANSPOSE, "text_projection.weight", "text_projection");
  oc_add (layout, model, OC_COPY, "logit_scale", "logit_scale");
  oc_add (layout, model, OC_COPY, "vision_model.embeddings.class_embedding",
          "visual.class_embedding");
  oc_add (layout, model, OC_COPY, "vision_model.embeddings.position_embedding.weight",
          "visual.positional_embedding");
  oc_add (layout, model, OC_TRANSPOSE, "visual_projection.weight", "visual.proj");
  oc_add (layout, model, OC_COPY, "vision_model.embeddings.patch_embedding.weight",
          "visual.conv1.weight");
  oc_add (layout, model, OC_COPY, "vision_model.pre_layrnorm.weight", "visual.ln_pre.weight");
  oc_add (layout, model, OC_COPY, "vision_model.pre_layrnorm.bias", "visual.ln_pre.bias");
  oc_add_blocks (layout, model, "visual.transformer.", "vision_model", c->vision.n_layers);
  oc_add (layout, model, OC_COPY, "vision_model.post_layernorm.weight", "visual.ln_post.weight");
  oc_add (layout, model, OC_COPY, "vision_model.post_layernorm.bias", "visual.ln_post.bias");
  oc_add_blocks (layout, model, "transformer.", "text_model", c->text.n_layers);
  oc_add (layout, model, OC_COPY, "text_model.embeddings.token_embedding.weight",
          "token_embedding.weight");
  oc_add (layout, model, OC_COPY, "text_model.final_layer_norm.weight", "ln_final.weight");
  oc_add (layout, model, OC_COPY, "text_model.final_layer_norm.bias", "ln_final.bias");
  g_assert (layout->tensors->len == model->n_specs - 4 * (guint) (c->vision.n_layers +
                                                                  c->text.n_layers));
}

static gboolean
oc_check_layout (const OcLayout  *layout,
                 const WpWeights *weights,
                 GError         **error)
{
  g_autoptr (GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < layout->tensors->len; i++) {
    const OcTensor *t = &g_array_index (layout->tensors, OcTensor, i);

    g_hash_table_add (names, t->name);
    if (!wp_model_check_tensor (weights, t->name, t->ndim, t->shape, error))
      return FALSE;
  }
  for (guint i = 0; i < wp_weights_get_n_tensors (weights); i++) {
    const WpWeightsTensor *entry = wp_weights_get_tensor (weights, i);
    const char            *name = entry->tensor->name;
    const char            *bare =
      g_str_has_prefix (name, layout->prefix) ? name + strlen (layout->prefix) : name;

    /* The causal mask, a buffer older open_clip versions saved. */
    if (g_hash_table_contains (names, name) || strcmp (bare, "attn_mask") == 0)
      continue;
    if (strcmp (bare, "logit_bias") == 0)
      g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                   "%s: tensor 'logit_bias' (a sigmoid-loss model) is not supported",
                   wp_safetensors_get_path (entry->file));
    else
      g_set_error (error, WP_ERROR, WP_ERROR_SHAPE,
                   "%s: unexpected tensor '%s' (open_clip_config.json describes a different "
                   "model)",
                   wp_safetensors_get_path (entry->file), name);
    return FALSE;
  }
  return TRUE;
}

/* dst (cols, rows) = src (rows, cols) transposed. */
static void
transpose (float       *dst,
           const float *src,
           gint64       rows,
           gint64       cols)
{
  for (gint64 r = 0; r < rows; r++) {
    for (gint64 c = 0; c < cols; c++)
      dst[c * rows + r] = src[r * cols + c];
  }
}

/* Ours (k, v, q blocks of n each) from open_clip's (q, k, v), or back. */
static void
qkv_to_kvq (float       *kvq,
            const float *qkv,
            gsize        n)
{
  memcpy (kvq, qkv + n, 2 * n * sizeof (float));
  memcpy (kvq + 2 * n, qkv, n * sizeof (float));
}

static void
kvq_to_qkv (float       *qkv,
            const float *kvq,
            gsize        n)
{
  memcpy (qkv, kvq + 2 * n, n * sizeof (float));
  memcpy (qkv + n, kvq, 2 * n * sizeof (float));
}

static gboolean
oc_read (const OcLayout  *layout,
         WpModel         *model,
         const WpWeights *weights,
         GError         **error)
{
  for (guint i = 0; i < layout->tensors->len; i++) {
    const OcTensor        *t = &g_array_index (layout->tensors, OcTensor, i);
    const WpWeightsTensor *found = wp_weights_lookup (weights, t->name);
    float                 *dst = model->params + model->specs[t->spec].offset;
    g_autofree float      *scratch = NULL;

    if (t->kind == OC_COPY) {
      if (!wp_safetensors_read_f32 (found->file, found->tensor, dst, TRUE, error))
        return FALSE;
    } else {
      scratch = g_new (float, t->numel);
      if (!wp_safetensors_read_f32 (found->file, found->tensor, scratch, TRUE, error))
        return FALSE;
      if (t->kind == OC_TRANSPOSE)
        transpose (dst, scratch, t->shape[0], t->shape[1]);
      else
        qkv_to_kvq (dst, scratch, t->numel / 3);
    }
    wp_model_note_stored_dtype (model, found->tensor->dtype, i == 0);
  }
  return TRUE;
}

static gboolean
oc_write (const OcLayout *layout,
          const WpModel  *model,
          const char     *path,
          WpDtype         dtype,
          GError        **error)
{
  const guint                    n = layout->tensors->len;
  g_autofree WpSafetensorsEntry *entries = g_new0 (WpSafetensorsEntry, n);
  g_autoptr (GPtrArray) scratch = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) metadata = wp_model_new_metadata (model);

  for (guint i = 0; i < n; i++) {
    const OcTensor *t = &g_array_index (layout->tensors, OcTensor, i);
    const float    *src = model->params + model->specs[t->spec].offset;

    entries[i].name = t->name;
    entries[i].ndim = t->ndim;
    entries[i].shape = t->shape;
    entries[i].dtype = dtype;
    if (t->kind == OC_COPY) {
      entries[i].data = src;
    } else {
      float *data = g_new (float, t->numel);

      if (t->kind == OC_TRANSPOSE)
        transpose (data, src, t->shape[1], t->shape[0]);
      else
        kvq_to_qkv (data, src, t->numel / 3);
      g_ptr_array_add (scratch, data);
      entries[i].data = data;
    }
  }
  return wp_safetensors_write (path, entries, n, metadata, error);
}

/* ---- folders ---- */

/* open_clip's names for its safetensors weights, in the order create_model() prefers them. */
static const char *const weight_files[] = {
  "open_clip_model.safetensors",
  "open_clip_pytorch_model.safetensors",
};

WpModel *
wp_openclip_load (const char *dir,
                  GError    **error)
{
  g_autofree char *config_path = g_build_filename (dir, "open_clip_config.json", NULL);
  g_autofree char *weights_path = NULL;
  g_autoptr (GMappedFile) file = NULL;
  g_autoptr (WpWeights) weights = NULL;
  g_autoptr (WpModel) model = NULL;
  g_auto (OcLayout) layout = { 0 };
  WpClipConfig config;

  /* Mapped, so that the size limit applies before anything is allocated for the text. */
  file = g_mapped_file_new (config_path, FALSE, error);
  if (file == NULL)
    return NULL;
  if (!wp_openclip_config_parse (&config, g_mapped_file_get_contents (file),
                                 g_mapped_file_get_length (file), error)) {
    g_prefix_error (error, "%s: ", config_path);
    return NULL;
  }
  for (gsize i = 0; weights_path == NULL && i < G_N_ELEMENTS (weight_files); i++) {
    g_autofree char *path = g_build_filename (dir, weight_files[i], NULL);

    if (g_file_test (path, G_FILE_TEST_EXISTS))
      weights_path = g_steal_pointer (&path);
  }
  if (weights_path == NULL) {
    g_autofree char *bin = g_build_filename (dir, "open_clip_pytorch_model.bin", NULL);

    g_set_error (error, WP_ERROR, WP_ERROR_MISSING, "%s: no open_clip_model.safetensors%s", dir,
                 g_file_test (bin, G_FILE_TEST_EXISTS)
                   ? " (open_clip_pytorch_model.bin is a pickle, not read: convert it with "
                     "safetensors.torch.save_file)"
                   : "");
    return NULL;
  }
  weights = wp_weights_open_file (weights_path, error);
  if (weights == NULL)
    return NULL;
  model = wp_model_new_folder_layout (dir, &config, TRUE, error);
  if (model == NULL)
    return NULL;
  /* open_clip's training script saves the state dict of its DistributedDataParallel wrapper. */
  oc_layout_init (&layout, model,
                  wp_weights_lookup (weights, "logit_scale") == NULL &&
                      wp_weights_lookup (weights, "module.logit_scale") != NULL
                    ? "module."
                    : "");
  /* Every tensor checked before the parameters are allocated, as for transformers' folders. */
  if (!oc_check_layout (&layout, weights, error) || !wp_model_alloc_params (model, error) ||
      !oc_read (&layout, model, weights, error) || !wp_model_read_step (model, weights, error))
    return NULL;
  model->format = WP_MODEL_FORMAT_OPEN_CLIP;
  model->n_weight_files = 1;
  return g_steal_pointer (&model);
}

gboolean
wp_openclip_save (const WpModel *model,
                  const char    *dir,
                  WpDtype        dtype,
                  GError       **error)
{
  g_autofree char *config_json = wp_openclip_config_to_json (&model->config, error);
  g_autofree char *config_path = g_build_filename (dir, "open_clip_config.json", NULL);
  g_autofree char *weights_path = g_build_filename (dir, weight_files[0], NULL);
  g_auto (OcLayout) layout = { 0 };

  if (config_json == NULL) {
    g_prefix_error (error, "%s: ", dir);
    return FALSE;
  }
  oc_layout_init (&layout, model, "");
  return wp_model_make_folder (dir, error) &&
         oc_write (&layout, model, weights_path, dtype, error) &&
         g_file_set_contents (config_path, config_json, -1, error) &&
         wp_model_write_vocabulary (model, dir, error);
}
