/* fuzz-safetensors.c: a safetensors file (header length, header JSON, dtypes, shapes, data
 * offsets, data bounds), every tensor read as float; a file whose metadata embeds a config also
 * goes through the single-file model loader (config, tokenizer, layout check, weights). */
#include "fuzz.h"

#include <math.h>

#include "wordpatch/model.h"
#include "wordpatch/safetensors.h"

static char *path;

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  path = g_build_filename (fuzz_init (), "fuzz.safetensors", NULL);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr (WpSafetensors) st = NULL;

  /* The reader maps files; there is no in-memory entry point to call instead. */
  fuzz_write_file (path, data, size);
  st = wp_safetensors_open (path, NULL);
  if (st == NULL)
    return 0;
  for (guint i = 0; i < wp_safetensors_get_n_tensors (st); i++) {
    const WpSafetensorsTensor *tensor = wp_safetensors_get_tensor (st, i);
    g_autofree float          *values = g_new (float, MAX (tensor->numel, 1));

    g_assert_true (wp_safetensors_lookup (st, tensor->name) == tensor);
    g_assert_cmpuint (tensor->begin + tensor->n_bytes, >=, tensor->n_bytes);
    wp_safetensors_read_f32 (st, tensor, values, i % 2 == 0, NULL);
  }
  if (wp_safetensors_get_metadata (st, "wordpatch.config") != NULL) {
    g_autoptr (WpModel) model = wp_model_load (path, NULL);

    /* The loader requires finite weights. */
    for (gsize i = 0; model != NULL && i < model->n_params; i++)
      g_assert_true (isfinite (model->params[i]));
  }
  return 0;
}
