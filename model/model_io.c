/* model_io.c: loading a model: a transformers folder (sharded or not), a bare safetensors file
 * or, through openclip.c, an open_clip folder; its layout checked before anything is allocated.
 * Also copies, the formats' names, the summary, and finding the bundled data. */
#include "wordpatch/model.h"

#include <string.h>

#include "model-private.h"
#include "wordpatch/error.h"
#include "wordpatch/safetensors.h"

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

WpModel *
wp_model_new_folder_layout (const char         *dir,
                            const WpClipConfig *config,
                            gboolean            bundled_fallback,
                            GError            **error)
{
  g_autofree char *vocab_path = g_build_filename (dir, "vocab.json", NULL);
  g_autofree char *merges_path = g_build_filename (dir, "merges.txt", NULL);
  g_autofree char *bpe = NULL;
  WpTokenizer     *tokenizer;
  WpModel         *model;
  gboolean         bundled = FALSE;

  if (config->family == WP_MODEL_FAMILY_SIGLIP) {
    g_autofree char *spiece_path = g_build_filename (dir, WP_SPIECE_FILE, NULL);

    tokenizer = wp_tokenizer_new_sentencepiece_from_file (spiece_path, error);
  } else {
    if (bundled_fallback && !g_file_test (vocab_path, G_FILE_TEST_EXISTS) &&
        !g_file_test (merges_path, G_FILE_TEST_EXISTS)) {
      bpe = wp_data_find ("clip-bpe");
      if (bpe == NULL) {
        g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
                     "%s: no vocab.json and merges.txt, and OpenAI's vocabulary bundled with "
                     "wordpatch (data/clip-bpe) is not installed",
                     dir);
        return NULL;
      }
      g_free (vocab_path);
      g_free (merges_path);
      vocab_path = g_build_filename (bpe, "vocab.json", NULL);
      merges_path = g_build_filename (bpe, "merges.txt", NULL);
      bundled = TRUE;
    }
    tokenizer = wp_tokenizer_new_from_files (vocab_path, merges_path, error);
  }
  if (tokenizer == NULL)
    return NULL;
  model = wp_model_new_layout (config, tokenizer, error);
  if (model == NULL) {
    g_prefix_error (error, "%s: ", dir);
    return NULL;
  }
  model->bundled_vocabulary = bundled;
  return model;
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
  WpClipConfig config;

  if (!read_transformers_config (dir, &config, error) ||
      (weights = open_transformers_weights (dir, error)) == NULL ||
      (model = wp_model_new_folder_layout (dir, &config, FALSE, error)) == NULL ||
      !read_weights (model, weights, error))
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
  if (model->stored_dtype == WP_DTYPE_OTHER)
    g_string_append (s, ", mixed dtypes");
  else
    g_string_append_printf (s, ", %s", wp_dtype_name (model->stored_dtype));
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
