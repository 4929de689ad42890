/* model_save.c: writing a model as a transformers folder or a bare safetensors file (its
 * configuration and vocabulary in the metadata), in float32 or a half type. */
#include "wordpatch/model.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>

#include "model-private.h"
#include "wordpatch/error.h"
#include "wordpatch/safetensors.h"

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
