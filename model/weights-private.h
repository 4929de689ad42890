/* weights-private.h: the tensors of a checkpoint, in one safetensors file or in the shards an
 * index lists.
 *
 * An index is transformers' model.safetensors.index.json: {"metadata": {...}, "weight_map":
 * {tensor name: shard file name}}. Shards must be plain file names in the index's folder ending in
 * ".safetensors" (a path elsewhere is refused), every tensor the map lists must be in the shard it
 * names, and no tensor may be in two shards. Each shard is opened (memory-mapped) once. The index
 * is at most WP_WEIGHTS_MAX_INDEX bytes.
 *
 * Thread contract: read-only after opening. */
#pragma once

#include <glib.h>

#include "wordpatch/safetensors.h"

G_BEGIN_DECLS

#define WP_WEIGHTS_MAX_INDEX (64 * 1024 * 1024)

typedef struct _WpWeights WpWeights;

/* One tensor and the file it is in. */
typedef struct {
  const WpSafetensors       *file;
  const WpSafetensorsTensor *tensor;
} WpWeightsTensor;

WpWeights *wp_weights_open_file (const char *path,
                                 GError    **error) G_GNUC_WARN_UNUSED_RESULT;
WpWeights *wp_weights_open_index (const char *index_path,
                                  GError    **error) G_GNUC_WARN_UNUSED_RESULT;
void       wp_weights_free (WpWeights *weights);

/* The file, or the index, for messages about the whole checkpoint. */
const char *wp_weights_get_path (const WpWeights *weights);
guint       wp_weights_get_n_files (const WpWeights *weights);
/* Every tensor of every file, files in the index's order. */
guint                  wp_weights_get_n_tensors (const WpWeights *weights);
const WpWeightsTensor *wp_weights_get_tensor (const WpWeights *weights,
                                              guint            index);
/* NULL when no file holds name. */
const WpWeightsTensor *wp_weights_lookup (const WpWeights *weights,
                                          const char      *name);
/* A "__metadata__" value of the first file (an index's "metadata" is not read), or NULL. */
const char *wp_weights_get_metadata (const WpWeights *weights,
                                     const char      *key);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpWeights, wp_weights_free)

G_END_DECLS
