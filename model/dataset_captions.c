/* dataset_captions.c: the project's own layout, captions.jsonl and captions.tsv, and the boxes
 * and objects of a JSON line (WebDataset's .json members carry the same). */
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "dataset-private.h"
#include "json-private.h"
#include "wordpatch/error.h"

static gboolean
number_member (JsonObject *obj,
               const char *key,
               double     *value)
{
  JsonNode *node = wp_json_typed_member (obj, key, G_TYPE_DOUBLE);

  if (node == NULL)
    return FALSE;
  *value = json_node_get_double (node);
  return isfinite (*value);
}

typedef enum {
  LIST_BOXES,
  LIST_OBJECTS,
} ListKind;

/* A box's or an object's "x", "y", "w" and "h", or a description of what is wrong. */
static const char *
parse_rectangle (JsonObject *obj,
                 ListKind    kind,
                 double     *x,
                 double     *y,
                 double     *w,
                 double     *h)
{
  static const char *const missing[] = {
    "every box needs numbers \"x\", \"y\", \"w\" and \"h\"",
    "every object needs numbers \"x\", \"y\", \"w\" and \"h\""
  };
  static const char *const empty[] = { "a box has a zero or negative size",
                                       "an object has a zero or negative size" };

  if (!number_member (obj, "x", x) || !number_member (obj, "y", y) ||
      !number_member (obj, "w", w) || !number_member (obj, "h", h))
    return missing[kind];
  if (!(*w > 0.0) || !(*h > 0.0))
    return empty[kind];
  return NULL;
}

/* The "boxes" or "objects" array of a line: NULL with *problem NULL when it is absent or null,
 * NULL with *problem describing what is wrong when it is malformed. */
static JsonArray *
list_member (JsonObject  *obj,
             ListKind     kind,
             const char **problem)
{
  static const char *const names[] = { "boxes", "objects" };
  static const char *const not_array[] = { "\"boxes\" must be an array",
                                           "\"objects\" must be an array" };
  static const char *const too_many[] = { "more than " G_STRINGIFY (WP_DATASET_MAX_BOXES) " boxes",
                                          "more than " G_STRINGIFY (
                                            WP_DATASET_MAX_BOXES) " objects" };
  JsonNode                *node = json_object_get_member (obj, names[kind]);

  *problem = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (node)) {
    *problem = not_array[kind];
    return NULL;
  }
  if (json_array_get_length (json_node_get_array (node)) > WP_DATASET_MAX_BOXES) {
    *problem = too_many[kind];
    return NULL;
  }
  return json_node_get_array (node);
}

/* A whole number from 0 to max in member key of obj (default when absent), or FALSE. */
static gboolean
whole_member (JsonObject *obj,
              const char *key,
              double      max,
              double     *value)
{
  if (!json_object_has_member (obj, key))
    return TRUE;
  return number_member (obj, key, value) && *value >= 0.0 && *value <= max &&
         *value == floor (*value);
}

/* Fills pair's boxes from the "boxes" member, or returns a description of what is wrong. */
static const char *
parse_boxes (JsonObject *obj,
             WpPair     *pair)
{
  const char *problem;
  JsonArray  *array = list_member (obj, LIST_BOXES, &problem);

  if (array == NULL)
    return problem;
  pair->boxes = g_new0 (WpBox, json_array_get_length (array));
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode   *element = json_array_get_element (array, i);
    JsonObject *box_obj;
    WpBox       box = { 0 };
    const char *word, *type = NULL;
    double      occurrence = 0.0, phrase = 0.0;

    if (!JSON_NODE_HOLDS_OBJECT (element))
      return "every box must be an object";
    box_obj = json_node_get_object (element);
    word = wp_json_string_member (box_obj, "word");
    if (word == NULL || word[0] == '\0')
      return "every box needs a non-empty string \"word\"";
    problem = parse_rectangle (box_obj, LIST_BOXES, &box.x, &box.y, &box.w, &box.h);
    if (problem != NULL)
      return problem;
    if (!whole_member (box_obj, "occurrence", 1000.0, &occurrence))
      return "a box's \"occurrence\" must be a whole number from 0";
    if (!whole_member (box_obj, "phrase", 1000.0, &phrase))
      return "a box's \"phrase\" must be a whole number from 0";
    if (json_object_has_member (box_obj, "type")) {
      type = wp_json_string_member (box_obj, "type");
      if (type == NULL || type[0] == '\0')
        return "a box's \"type\" must be a non-empty string";
    }
    box.occurrence = (int) occurrence;
    box.phrase = (guint) phrase;
    box.word = g_strdup (word);
    box.type = g_strdup (type);
    pair->boxes[pair->n_boxes++] = box;
  }
  return NULL;
}

/* Fills pair's objects from the "objects" member, or returns a description of what is wrong. */
static const char *
parse_objects (JsonObject *obj,
               WpPair     *pair)
{
  const char *problem;
  JsonArray  *array = list_member (obj, LIST_OBJECTS, &problem);

  if (array == NULL)
    return problem;
  pair->objects = g_new0 (WpObject, json_array_get_length (array));
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode   *element = json_array_get_element (array, i);
    JsonObject *object_obj;
    WpObject    object = { 0 };
    const char *colour, *shape;

    if (!JSON_NODE_HOLDS_OBJECT (element))
      return "every object must be a JSON object";
    object_obj = json_node_get_object (element);
    colour = wp_json_string_member (object_obj, "colour");
    shape = wp_json_string_member (object_obj, "shape");
    if (colour == NULL || colour[0] == '\0' || shape == NULL || shape[0] == '\0')
      return "every object needs non-empty strings \"colour\" and \"shape\"";
    problem =
      parse_rectangle (object_obj, LIST_OBJECTS, &object.x, &object.y, &object.w, &object.h);
    if (problem != NULL)
      return problem;
    object.colour = g_strdup (colour);
    object.shape = g_strdup (shape);
    pair->objects[pair->n_objects++] = object;
  }
  return NULL;
}

const char *
wp_dataset_parse_boxes_and_objects (JsonObject *obj,
                                    WpPair     *pair)
{
  const char *problem = parse_boxes (obj, pair);

  return problem != NULL ? problem : parse_objects (obj, pair);
}

/* ---- captions.jsonl and captions.tsv ---- */

static void
parse_jsonl_line (WpDataset  *dataset,
                  const char *text,
                  guint       line)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local_error = NULL;
  WpDatasetEntry entry = { { 0 } };
  JsonNode      *root;
  const char    *image, *caption, *problem;

  /* The line length limit bounds the tree. */
  if (!wp_json_parser_load (parser, text, strlen (text), G_MAXSIZE, &local_error)) {
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: %s", dataset->file, line,
                     local_error->message);
    return;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: not a JSON object", dataset->file,
                     line);
    return;
  }
  image = wp_json_string_member (json_node_get_object (root), "image");
  caption = wp_json_string_member (json_node_get_object (root), "caption");
  if (image == NULL || caption == NULL) {
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE,
                     "%s line %u: needs string members \"image\" and \"caption\"", dataset->file,
                     line);
    return;
  }
  problem = wp_dataset_parse_boxes_and_objects (json_node_get_object (root), &entry.pair);
  if (problem != NULL) {
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: %s", dataset->file, line, problem);
    wp_dataset_entry_clear (&entry);
    return;
  }
  entry.source = dataset->file;
  entry.pair.line = line;
  wp_dataset_add_entry (dataset, &entry, image, caption);
}

static void
parse_tsv_line (WpDataset *dataset,
                char      *text,
                guint      line)
{
  char          *tab = strchr (text, '\t');
  WpDatasetEntry entry = { { 0 } };

  if (tab == NULL) {
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: expected image<TAB>caption",
                     dataset->file, line);
    return;
  }
  *tab = '\0';
  entry.source = dataset->file;
  entry.pair.line = line;
  wp_dataset_add_entry (dataset, &entry, text, tab + 1);
}

gboolean
wp_dataset_read_captions (WpDataset *dataset,
                          GError   **error)
{
  g_autoptr (GMappedFile) mapped = NULL;
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  const gboolean is_jsonl = dataset->format == WP_DATASET_JSONL;
  gsize          length;

  /* Mapped, so that the size limit applies before the text is copied. */
  mapped = g_mapped_file_new (dataset->file, FALSE, error);
  if (mapped == NULL)
    return FALSE;
  length = g_mapped_file_get_length (mapped);
  if (length > WP_DATASET_MAX_BYTES) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: %" G_GSIZE_FORMAT " bytes, more than the limit of %" G_GUINT64_FORMAT,
                 dataset->file, length, WP_DATASET_MAX_BYTES);
    return FALSE;
  }
  contents = g_malloc (length + 1);
  if (length > 0)
    memcpy (contents, g_mapped_file_get_contents (mapped), length);
  contents[length] = '\0';
  dataset->checksum =
    g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, length);
  /* With the length given, a NUL byte is invalid too: the lines after it would vanish unseen. */
  if (!g_utf8_validate (contents, (gssize) length, NULL)) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: not valid UTF-8 text", dataset->file);
    return FALSE;
  }
  wp_dataset_add_source (dataset, dataset->file);
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    char *text = g_strchomp (lines[i]);

    if (text[0] == '\0')
      continue;
    if (strlen (text) > WP_DATASET_MAX_LINE) {
      wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: longer than %d bytes",
                       dataset->file, i + 1, WP_DATASET_MAX_LINE);
      continue;
    }
    if (dataset->entries->len >= WP_DATASET_MAX_PAIRS) {
      g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: more than %d pairs", dataset->file,
                   WP_DATASET_MAX_PAIRS);
      return FALSE;
    }
    if (is_jsonl)
      parse_jsonl_line (dataset, text, i + 1);
    else
      parse_tsv_line (dataset, text, i + 1);
  }
  return TRUE;
}
