#include "weights-private.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "json-private.h"
#include "wordpatch/error.h"

struct _WpWeights {
  char       *path;
  GPtrArray  *files;   /* WpSafetensors, owned, in the order they were opened */
  GArray     *tensors; /* WpWeightsTensor, file by file */
  GHashTable *by_name; /* name (the file's) -> index into tensors */
};

void
wp_weights_free (WpWeights *weights)
{
  if (weights == NULL)
    return;
  g_clear_pointer (&weights->by_name, g_hash_table_unref);
  g_clear_pointer (&weights->tensors, g_array_unref);
  g_clear_pointer (&weights->files, g_ptr_array_unref);
  g_free (weights->path);
  g_free (weights);
}

static WpWeights *
weights_new (const char *path)
{
  WpWeights *weights = g_new0 (WpWeights, 1);

  weights->path = g_strdup (path);
  weights->files = g_ptr_array_new_with_free_func ((GDestroyNotify) wp_safetensors_free);
  weights->tensors = g_array_new (FALSE, FALSE, sizeof (WpWeightsTensor));
  weights->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  return weights;
}

/* Takes st over and lists its tensors; a tensor another file already holds is an error. */
static gboolean
add_file (WpWeights     *weights,
          WpSafetensors *st,
          GError       **error)
{
  g_ptr_array_add (weights->files, st);
  for (guint i = 0; i < wp_safetensors_get_n_tensors (st); i++) {
    const WpSafetensorsTensor *tensor = wp_safetensors_get_tensor (st, i);
    WpWeightsTensor            entry = { st, tensor };
    gpointer                   other;

    if (g_hash_table_lookup_extended (weights->by_name, tensor->name, NULL, &other)) {
      const WpWeightsTensor *first =
        &g_array_index (weights->tensors, WpWeightsTensor, GPOINTER_TO_UINT (other));

      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: tensor '%s' is also in %s",
                   wp_safetensors_get_path (st), tensor->name,
                   wp_safetensors_get_path (first->file));
      return FALSE;
    }
    g_hash_table_insert (weights->by_name, (gpointer) tensor->name,
                         GUINT_TO_POINTER (weights->tensors->len));
    g_array_append_val (weights->tensors, entry);
  }
  return TRUE;
}

WpWeights *
wp_weights_open_file (const char *path,
                      GError    **error)
{
  g_autoptr (WpWeights) weights = weights_new (path);
  WpSafetensors *st = wp_safetensors_open (path, error);

  if (st == NULL || !add_file (weights, st, error))
    return NULL;
  return g_steal_pointer (&weights);
}

/* A shard name from an index may only name a file beside it. */
static gboolean
shard_name_valid (const char *name)
{
  return name[0] != '\0' && strchr (name, '/') == NULL && strchr (name, '\\') == NULL &&
         strcmp (name, "..") != 0 && g_str_has_suffix (name, ".safetensors");
}

WpWeights *
wp_weights_open_index (const char *index_path,
                       GError    **error)
{
  g_autoptr (WpWeights) weights = weights_new (index_path);
  g_autoptr (GMappedFile) file = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GHashTable) opened = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *dir = g_path_get_dirname (index_path);
  JsonNode        *root, *map_node;
  JsonObjectIter   iter;
  const char      *name;
  JsonNode        *value;

  /* Mapped, so that the size limit applies before anything is allocated for the text. */
  file = g_mapped_file_new (index_path, FALSE, error);
  if (file == NULL)
    return NULL;
  if (g_mapped_file_get_length (file) > WP_WEIGHTS_MAX_INDEX) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: more than %d bytes for an index",
                 index_path, WP_WEIGHTS_MAX_INDEX);
    return NULL;
  }
  if (!wp_json_parser_load (parser, g_mapped_file_get_contents (file),
                            g_mapped_file_get_length (file), WP_SAFETENSORS_MAX_VALUES, error)) {
    g_prefix_error (error, "%s: ", index_path);
    return NULL;
  }
  root = json_parser_get_root (parser);
  map_node = root != NULL && JSON_NODE_HOLDS_OBJECT (root)
               ? json_object_get_member (json_node_get_object (root), "weight_map")
               : NULL;
  if (map_node == NULL || !JSON_NODE_HOLDS_OBJECT (map_node)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: no \"weight_map\" object", index_path);
    return NULL;
  }

  json_object_iter_init (&iter, json_node_get_object (map_node));
  while (json_object_iter_next (&iter, &name, &value)) {
    const char      *shard;
    WpSafetensors   *st;
    g_autofree char *shard_path = NULL;

    shard = JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_STRING
              ? json_node_get_string (value)
              : NULL;
    if (shard == NULL || !shard_name_valid (shard)) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                   "%s: weight_map['%s'] must name a .safetensors file in the same folder",
                   index_path, name);
      return NULL;
    }
    if (g_hash_table_contains (opened, shard))
      continue;
    shard_path = g_build_filename (dir, shard, NULL);
    st = wp_safetensors_open (shard_path, error);
    if (st == NULL)
      return NULL;
    g_hash_table_add (opened, (gpointer) shard);
    if (!add_file (weights, st, error))
      return NULL;
  }
  if (weights->files->len == 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING, "%s: weight_map lists no tensors", index_path);
    return NULL;
  }

  /* Every tensor where the map says it is. */
  json_object_iter_init (&iter, json_node_get_object (map_node));
  while (json_object_iter_next (&iter, &name, &value)) {
    const WpWeightsTensor *found = wp_weights_lookup (weights, name);
    g_autofree char       *base = NULL;

    if (found != NULL)
      base = g_path_get_basename (wp_safetensors_get_path (found->file));
    if (found == NULL || strcmp (base, json_node_get_string (value)) != 0) {
      g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
                   "%s: tensor '%s' is not in %s, as its index says",
                   index_path, name, json_node_get_string (value));
      return NULL;
    }
  }
  return g_steal_pointer (&weights);
}

const char *
wp_weights_get_path (const WpWeights *weights)
{
  return weights->path;
}

guint
wp_weights_get_n_files (const WpWeights *weights)
{
  return weights->files->len;
}

guint
wp_weights_get_n_tensors (const WpWeights *weights)
{
  return weights->tensors->len;
}

const WpWeightsTensor *
wp_weights_get_tensor (const WpWeights *weights,
                       guint            index)
{
  g_return_val_if_fail (index < weights->tensors->len, NULL);
  return &g_array_index (weights->tensors, WpWeightsTensor, index);
}

const WpWeightsTensor *
wp_weights_lookup (const WpWeights *weights,
                   const char      *name)
{
  gpointer index;

  if (!g_hash_table_lookup_extended (weights->by_name, name, NULL, &index))
    return NULL;
  return &g_array_index (weights->tensors, WpWeightsTensor, GPOINTER_TO_UINT (index));
}

const char *
wp_weights_get_metadata (const WpWeights *weights,
                         const char      *key)
{
  return wp_safetensors_get_metadata (g_ptr_array_index (weights->files, 0), key);
}
