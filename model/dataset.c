#include "wordpatch/dataset.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "wordpatch/error.h"
#include "wordpatch/image.h"

struct _WpDataset {
  char   *dir;
  GArray *pairs; /* of WpPair */
};

static void
pair_clear (gpointer data)
{
  WpPair *pair = data;

  g_free (pair->image_path);
  g_free (pair->caption);
}

static gboolean
add_pair (WpDataset  *dataset,
          const char *image,
          const char *caption,
          const char *file,
          guint       line,
          GError    **error)
{
  WpPair pair;

  if (image[0] == '\0') {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s line %u: empty image path", file, line);
    return FALSE;
  }
  if (strlen (caption) > WP_DATASET_MAX_CAPTION) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s line %u: caption longer than %d bytes", file, line, WP_DATASET_MAX_CAPTION);
    return FALSE;
  }
  if (dataset->pairs->len >= WP_DATASET_MAX_PAIRS) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: more than %d pairs", file, WP_DATASET_MAX_PAIRS);
    return FALSE;
  }
  pair.image_path = g_path_is_absolute (image) ? g_strdup (image) : g_build_filename (dataset->dir, image, NULL);
  pair.caption = g_strdup (caption);
  g_array_append_val (dataset->pairs, pair);
  return TRUE;
}

static const char *
string_member (JsonObject *obj,
               const char *key)
{
  JsonNode *node = json_object_get_member (obj, key);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gboolean
parse_jsonl_line (WpDataset  *dataset,
                  const char *text,
                  const char *file,
                  guint       line,
                  GError    **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local_error = NULL;
  JsonNode   *root;
  const char *image, *caption;

  if (!json_parser_load_from_data (parser, text, -1, &local_error)) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s line %u: not valid JSON: %s", file, line, local_error->message);
    return FALSE;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s line %u: not a JSON object", file, line);
    return FALSE;
  }
  image = string_member (json_node_get_object (root), "image");
  caption = string_member (json_node_get_object (root), "caption");
  if (image == NULL || caption == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s line %u: needs string members \"image\" and \"caption\"", file, line);
    return FALSE;
  }
  return add_pair (dataset, image, caption, file, line, error);
}

static gboolean
parse_tsv_line (WpDataset  *dataset,
                char       *text,
                const char *file,
                guint       line,
                GError    **error)
{
  char *tab = strchr (text, '\t');

  if (tab == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s line %u: expected image<TAB>caption", file, line);
    return FALSE;
  }
  *tab = '\0';
  return add_pair (dataset, text, tab + 1, file, line, error);
}

WpDataset *
wp_dataset_open (const char *dir,
                 GError    **error)
{
  g_autoptr (WpDataset) dataset = g_new0 (WpDataset, 1);
  g_autofree char *jsonl = g_build_filename (dir, "captions.jsonl", NULL);
  g_autofree char *tsv = g_build_filename (dir, "captions.tsv", NULL);
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  gboolean    is_jsonl = g_file_test (jsonl, G_FILE_TEST_EXISTS);
  const char *file = is_jsonl ? jsonl : tsv;

  dataset->dir = g_strdup (dir);
  dataset->pairs = g_array_new (FALSE, FALSE, sizeof (WpPair));
  g_array_set_clear_func (dataset->pairs, pair_clear);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: not a dataset folder", dir);
    return NULL;
  }
  if (!is_jsonl && !g_file_test (tsv, G_FILE_TEST_EXISTS)) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: no captions.jsonl or captions.tsv", dir);
    return NULL;
  }
  if (!g_file_get_contents (file, &contents, NULL, error))
    return NULL;
  if (!g_utf8_validate (contents, -1, NULL)) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: not valid UTF-8 text", file);
    return NULL;
  }
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    char *text = g_strchomp (lines[i]);

    if (text[0] == '\0')
      continue;
    if (!(is_jsonl ? parse_jsonl_line (dataset, text, file, i + 1, error) : parse_tsv_line (dataset, text, file, i + 1, error)))
      return NULL;
  }
  if (dataset->pairs->len == 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: the dataset is empty", dir);
    return NULL;
  }
  return g_steal_pointer (&dataset);
}

void
wp_dataset_free (WpDataset *dataset)
{
  if (dataset == NULL)
    return;
  g_clear_pointer (&dataset->pairs, g_array_unref);
  g_free (dataset->dir);
  g_free (dataset);
}

guint
wp_dataset_get_n_pairs (const WpDataset *dataset)
{
  return dataset->pairs->len;
}

const WpPair *
wp_dataset_get_pair (const WpDataset *dataset,
                     guint            index)
{
  g_return_val_if_fail (index < dataset->pairs->len, NULL);
  return &g_array_index (dataset->pairs, WpPair, index);
}

gboolean
wp_dataset_load_batch (const WpDataset *dataset,
                       const WpModel   *model,
                       const guint     *indices,
                       int              B,
                       float           *pixels,
                       int             *ids,
                       int             *lengths,
                       int             *T,
                       GError         **error)
{
  const WpClipConfig *config = &model->config;
  const int           K = config->context_length, S = config->image_size;
  const int           pad = wp_tokenizer_get_eos_id (model->tokenizer);
  g_autofree int     *encoded = g_new (int, (gsize) B *K);
  int                 longest = 1;

  for (int b = 0; b < B; b++) {
    const WpPair *pair = wp_dataset_get_pair (dataset, indices[b]);
    g_autoptr (WpImage) image = wp_image_load (pair->image_path, error);

    if (image == NULL)
      return FALSE;
    wp_image_preprocess (image, config, pixels + (gsize) b * 3 * S * S, NULL);
    lengths[b] = wp_tokenizer_encode (model->tokenizer, pair->caption, encoded + (gsize) b * K, NULL, K);
    longest = MAX (longest, lengths[b]);
  }
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < longest; t++)
      ids[(gsize) b * longest + t] = t < lengths[b] ? encoded[(gsize) b * K + t] : pad;
  }
  *T = longest;
  return TRUE;
}
