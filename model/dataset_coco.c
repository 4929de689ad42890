/* dataset_coco.c: COCO captions, and the boxes of a COCO instances file (dataset.h).
 *
 * COCO's files are one JSON object of up to hundreds of megabytes (instances_train2017.json:
 * 448 MB), which JSON-GLib would build into a tree many times larger. They are read as a stream
 * instead: a scanner walks the top-level object and hands each element of the arrays wanted,
 * as text, to JSON-GLib; the rest is skipped. An element that is not what COCO writes is skipped
 * with a warning naming its array and index; a file whose structure breaks keeps what came
 * before. */
#include <math.h>
#include <string.h>

#include "wordpatch/error.h"

#include "dataset-private.h"
#include "json-private.h"

/* ---- the scanner ---- */

/* Receives one array element: its text (NULL when it was longer than WP_DATASET_MAX_LINE) and the
 * line it starts on. FALSE stops the scan: the file is not what it was taken for. */
typedef gboolean (*ElementFunc) (const char *array,
                                 guint       index,
                                 const char *text,
                                 gsize       len,
                                 guint       line,
                                 gpointer    user_data);

static void
skip_space (WpByteReader *r)
{
  int c;

  while ((c = wp_byte_reader_peek (r)) == ' ' || c == '\t' || c == '\n' || c == '\r')
    wp_byte_reader_next (r);
}

/* Appends to out (when not NULL, and while it holds less than limit bytes; *too_long is set
 * beyond) the next byte. */
static void
keep (GString  *out,
      int       c,
      gsize     limit,
      gboolean *too_long)
{
  if (out == NULL)
    return;
  if (out->len >= limit)
    *too_long = TRUE;
  else
    g_string_append_c (out, (char) c);
}

/* Reads a string whose opening quote was read, into out. FALSE at the end of the file. */
static gboolean
scan_string (WpByteReader *r,
             GString      *out,
             gsize         limit,
             gboolean     *too_long)
{
  for (;;) {
    const int c = wp_byte_reader_next (r);

    if (c < 0)
      return FALSE;
    keep (out, c, limit, too_long);
    if (c == '"')
      return TRUE;
    if (c == '\\') {
      const int escaped = wp_byte_reader_next (r);

      if (escaped < 0)
        return FALSE;
      keep (out, escaped, limit, too_long);
    }
  }
}

/* Reads one JSON value into out (may be NULL): a string, a bracketed value up to its matching
 * closer (by count; JSON-GLib checks the rest), or a scalar up to what ends it. FALSE with
 * *problem when the file ends inside it or no value starts here. */
static gboolean
scan_value (WpByteReader *r,
            GString      *out,
            gsize         limit,
            gboolean     *too_long,
            const char  **problem)
{
  const int c = wp_byte_reader_peek (r);
  guint64   depth = 0;

  *problem = "the file ends inside a value";
  if (c < 0)
    return FALSE;
  if (c == ',' || c == ']' || c == '}' || c == ':') {
    *problem = "a value is missing";
    return FALSE;
  }
  if (c != '"' && c != '{' && c != '[') {
    int next;

    while ((next = wp_byte_reader_peek (r)) >= 0 && next != ',' && next != ']' && next != '}' &&
           next != ' ' && next != '\t' && next != '\n' && next != '\r')
      keep (out, wp_byte_reader_next (r), limit, too_long);
    return TRUE;
  }
  do {
    const int d = wp_byte_reader_next (r);

    if (d < 0)
      return FALSE;
    keep (out, d, limit, too_long);
    if (d == '"') {
      if (!scan_string (r, out, limit, too_long))
        return FALSE;
    } else if (d == '{' || d == '[') {
      depth++;
    } else if (d == '}' || d == ']') {
      depth--;
    }
  } while (depth > 0);
  return TRUE;
}

/* Expects c next (after spaces). */
static gboolean
expect (WpByteReader *r,
        int           c)
{
  skip_space (r);
  if (wp_byte_reader_peek (r) != c)
    return FALSE;
  wp_byte_reader_next (r);
  return TRUE;
}

/* The elements of an array whose "[" is next. */
static gboolean
scan_array (WpByteReader *r,
            const char   *name,
            ElementFunc   element_func,
            gpointer      user_data,
            const char  **problem)
{
  g_autoptr (GString) text = g_string_new (NULL);

  wp_byte_reader_next (r);
  skip_space (r);
  if (wp_byte_reader_peek (r) == ']') {
    wp_byte_reader_next (r);
    return TRUE;
  }
  for (guint index = 0;; index++) {
    gboolean too_long = FALSE;
    guint    line;

    skip_space (r);
    line = r->line;
    g_string_truncate (text, 0);
    if (!scan_value (r, text, WP_DATASET_MAX_LINE, &too_long, problem))
      return FALSE;
    if (!element_func (name, index, too_long ? NULL : text->str, text->len, line, user_data)) {
      *problem = NULL;
      return FALSE;
    }
    skip_space (r);
    switch (wp_byte_reader_next (r)) {
    case ',':
      continue;
    case ']':
      return TRUE;
    default:
      *problem = "expected ',' or ']' after an element";
      return FALSE;
    }
  }
}

/* Walks the top-level object, handing the elements of the arrays named in arrays to
 * element_func. FALSE with *problem (the reader's line says where) when the structure breaks,
 * or with *problem NULL when element_func stopped it. */
static gboolean
scan_object (WpByteReader      *r,
             const char *const *arrays,
             ElementFunc        element_func,
             gpointer           user_data,
             const char       **problem)
{
  g_autoptr (GString) key = g_string_new (NULL);

  /* A byte order mark is not JSON but some writers put one first. */
  if (wp_byte_reader_peek (r) == 0xEF) {
    wp_byte_reader_next (r);
    wp_byte_reader_next (r);
    wp_byte_reader_next (r);
  }
  *problem = "not a JSON object";
  if (!expect (r, '{'))
    return FALSE;
  skip_space (r);
  if (wp_byte_reader_peek (r) == '}')
    return TRUE;
  for (;;) {
    gboolean         too_long = FALSE;
    g_autofree char *name = NULL;

    *problem = "expected a member name";
    if (!expect (r, '"'))
      return FALSE;
    g_string_truncate (key, 0);
    if (!scan_string (r, key, 256, &too_long))
      return FALSE;
    name = g_strndup (key->str, key->len - 1);
    *problem = "expected ':' after a member name";
    if (!expect (r, ':'))
      return FALSE;
    skip_space (r);
    if (!too_long && g_strv_contains (arrays, name) && wp_byte_reader_peek (r) == '[') {
      if (!scan_array (r, name, element_func, user_data, problem))
        return FALSE;
    } else if (!scan_value (r, NULL, 0, &too_long, problem)) {
      return FALSE;
    }
    skip_space (r);
    switch (wp_byte_reader_next (r)) {
    case ',':
      continue;
    case '}':
      return TRUE;
    default:
      *problem = "expected ',' or '}' after a member";
      return FALSE;
    }
  }
}

/* Reads path's arrays; a broken structure is a warning, what was read before it is kept. FALSE
 * with no error when element_func stopped the scan. */
static gboolean
scan_file (WpDataset         *dataset,
           const char        *path,
           GChecksum         *checksum,
           const char *const *arrays,
           ElementFunc        element_func,
           gpointer           user_data,
           GError           **error)
{
  WpByteReader r;
  const char  *problem;

  if (!wp_byte_reader_open (&r, path, checksum, error))
    return FALSE;
  if (!scan_object (&r, arrays, element_func, user_data, &problem)) {
    if (problem == NULL) {
      wp_byte_reader_close (&r, NULL);
      return FALSE;
    }
    wp_dataset_warn (dataset, "%s line %u: %s; the rest of the file is not read", path, r.line,
                     problem);
  }
  /* The checksum covers the whole file. */
  while (!r.eof) {
    r.pos = r.len;
    wp_byte_reader_fill (&r);
  }
  return wp_byte_reader_close (&r, error);
}

/* ---- elements ---- */

/* The element's object, parsed into parser, or NULL with *problem. */
static JsonObject *
parse_element (JsonParser  *parser,
               const char  *text,
               gsize        len,
               GError     **json_error,
               const char **problem)
{
  JsonNode *root;

  if (text == NULL) {
    *problem = "longer than " G_STRINGIFY (WP_DATASET_MAX_LINE) " bytes";
    return NULL;
  }
  if (!wp_json_parser_load (parser, text, len, G_MAXSIZE, json_error)) {
    *problem = (*json_error)->message;
    return NULL;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    *problem = "not a JSON object";
    return NULL;
  }
  return json_node_get_object (root);
}

static gboolean
integer_member (JsonObject *obj,
                const char *key,
                gint64     *value)
{
  JsonNode *node = wp_json_typed_member (obj, key, G_TYPE_INT64);

  if (node == NULL)
    return FALSE;
  *value = json_node_get_int (node);
  return TRUE;
}

typedef struct {
  gint64 image_id;
  char  *caption;
  guint  line, index;
} Caption;

typedef struct {
  char      *name;
  char      *supercategory;
  GPtrArray *singular; /* the name's words */
  GPtrArray *plural;   /* the same with the last word in the plural; NULL when it is the same */
} Category;

typedef struct {
  gint64 category_id;
  double x, y, w, h;
} Instance;

typedef struct {
  WpDataset  *dataset;
  const char *path;
  GHashTable *file_names;  /* image id -> file name */
  GArray     *captions;    /* of Caption */
  GHashTable *categories;  /* category id -> Category */
  GHashTable *instances;   /* image id -> GArray of Instance */
  GHashTable *first_words; /* a category form's first word -> GPtrArray of (Category, form) */
  gboolean    too_many;    /* more captions than WP_DATASET_MAX_PAIRS */
  GError     *wrong_kind;  /* the file is of the other kind: what stopped its scan */
} Coco;

static void
caption_clear (gpointer data)
{
  g_free (((Caption *) data)->caption);
}

static void
category_free (gpointer data)
{
  Category *category = data;

  g_free (category->name);
  g_free (category->supercategory);
  g_ptr_array_unref (category->singular);
  if (category->plural != NULL)
    g_ptr_array_unref (category->plural);
  g_free (category);
}

static gboolean
captions_element_cb (const char *array,
                     guint       index,
                     const char *text,
                     gsize       len,
                     guint       line,
                     gpointer    user_data)
{
  Coco *coco = user_data;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) json_error = NULL;
  const char *problem = NULL;
  JsonObject *obj = parse_element (parser, text, len, &json_error, &problem);
  gint64      id;
  const char *name = NULL;

  if (strcmp (array, "images") == 0) {
    /* A malformed image shows in the warnings of its captions, which cannot find it. */
    if (obj != NULL && integer_member (obj, "id", &id) &&
        (name = wp_json_string_member (obj, "file_name")) != NULL && name[0] != '\0' &&
        !g_hash_table_contains (coco->file_names, &id))
      g_hash_table_insert (coco->file_names, g_memdup2 (&id, sizeof id), g_strdup (name));
    return TRUE;
  }
  /* Instances and keypoints files share the captions file's arrays; the first annotation tells
   * them apart, before every line of a file hundreds of megabytes long is skipped. */
  if (index == 0 && obj != NULL && !json_object_has_member (obj, "caption") &&
      (json_object_has_member (obj, "bbox") || json_object_has_member (obj, "category_id"))) {
    g_set_error (&coco->wrong_kind, WP_ERROR, WP_ERROR_DATASET,
                 "%s: COCO instances, not captions (annotations[0] on line %u has a \"bbox\" "
                 "and no \"caption\"): give it as instances, beside its captions_*.json",
                 coco->path, line);
    return FALSE;
  }
  if (obj != NULL && (!integer_member (obj, "image_id", &id) ||
                      (name = wp_json_string_member (obj, "caption")) == NULL))
    problem = "needs an integer \"image_id\" and a string \"caption\"";
  if (problem != NULL) {
    wp_dataset_skip (coco->dataset, WP_SKIP_BAD_LINE, "%s line %u, annotations[%u]: %s",
                     coco->path, line, index, problem);
    return TRUE;
  }
  if (coco->captions->len >= WP_DATASET_MAX_PAIRS) {
    coco->too_many = TRUE;
    return TRUE;
  }
  g_array_append_val (coco->captions,
                      ((Caption){ id, g_strstrip (g_strdup (name)), line, index }));
  return TRUE;
}

/* The plural of a category name's last word, as captions write it. */
static char *
plural_of (const char *word)
{
  static const char *const irregular[][2] = {
    { "person", "people" },
    { "mouse", "mice" },
    { "knife", "knives" },
    { "sheep", "sheep" },
    { "skis", "skis" },
    { "scissors", "scissors" },
    { "broccoli", "broccoli" },
  };
  const gsize n = strlen (word);

  for (gsize i = 0; i < G_N_ELEMENTS (irregular); i++) {
    if (strcmp (word, irregular[i][0]) == 0)
      return g_strdup (irregular[i][1]);
  }
  if (g_str_has_suffix (word, "s") || g_str_has_suffix (word, "x") ||
      g_str_has_suffix (word, "z") || g_str_has_suffix (word, "ch") ||
      g_str_has_suffix (word, "sh"))
    return g_strconcat (word, "es", NULL);
  if (n >= 2 && word[n - 1] == 'y' && strchr ("aeiou", word[n - 2]) == NULL)
    return g_strdup_printf ("%.*sies", (int) n - 1, word);
  return g_strconcat (word, "s", NULL);
}

static void
add_first_word (Coco      *coco,
                Category  *category,
                GPtrArray *form)
{
  GPtrArray *list = g_hash_table_lookup (coco->first_words, form->pdata[0]);

  if (list == NULL) {
    list = g_ptr_array_new ();
    g_hash_table_insert (coco->first_words, g_strdup (form->pdata[0]), list);
  }
  g_ptr_array_add (list, category);
  g_ptr_array_add (list, form);
}

static void
add_category (Coco       *coco,
              JsonObject *obj)
{
  Category        *category;
  gint64           id;
  const char      *name = wp_json_string_member (obj, "name");
  g_autofree char *plural = NULL;
  WpWordCounter    counter;

  if (!integer_member (obj, "id", &id) || name == NULL ||
      g_hash_table_contains (coco->categories, &id))
    return;
  category = g_new0 (Category, 1);
  category->name = g_strdup (name);
  category->supercategory = g_strdup (wp_json_string_member (obj, "supercategory"));
  category->singular = g_ptr_array_new_with_free_func (g_free);
  wp_word_counter_init (&counter);
  wp_word_counter_add (&counter, name, category->singular, NULL);
  wp_word_counter_clear (&counter);
  g_hash_table_insert (coco->categories, g_memdup2 (&id, sizeof id), category);
  if (category->singular->len == 0)
    return;
  plural = plural_of (category->singular->pdata[category->singular->len - 1]);
  if (strcmp (plural, category->singular->pdata[category->singular->len - 1]) != 0) {
    category->plural = g_ptr_array_new_with_free_func (g_free);
    for (guint i = 0; i + 1 < category->singular->len; i++)
      g_ptr_array_add (category->plural, g_strdup (category->singular->pdata[i]));
    g_ptr_array_add (category->plural, g_steal_pointer (&plural));
  }
  add_first_word (coco, category, category->singular);
  if (category->plural != NULL)
    add_first_word (coco, category, category->plural);
}

static gboolean
instances_element_cb (const char *array,
                      guint       index,
                      const char *text,
                      gsize       len,
                      guint       line,
                      gpointer    user_data)
{
  Coco *coco = user_data;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) json_error = NULL;
  const char *problem = NULL;
  JsonObject *obj = parse_element (parser, text, len, &json_error, &problem);
  JsonArray  *bbox = NULL;
  Instance    instance;
  gint64      image_id, crowd = 0;
  double      xywh[4] = { 0.0 };
  GArray     *list;

  if (strcmp (array, "categories") == 0) {
    /* A malformed category leaves its instances without a name to be found by. */
    if (obj != NULL)
      add_category (coco, obj);
    return TRUE;
  }
  if (index == 0 && obj != NULL && json_object_has_member (obj, "caption") &&
      !json_object_has_member (obj, "bbox")) {
    g_set_error (&coco->wrong_kind, WP_ERROR, WP_ERROR_DATASET,
                 "%s: COCO captions, not instances (annotations[0] on line %u has a \"caption\" "
                 "and no \"bbox\"): instances takes an instances_*.json",
                 coco->path, line);
    return FALSE;
  }
  if (obj != NULL) {
    if (json_object_has_member (obj, "bbox") &&
        JSON_NODE_HOLDS_ARRAY (json_object_get_member (obj, "bbox")))
      bbox = json_object_get_array_member (obj, "bbox");
    if (!integer_member (obj, "image_id", &image_id) ||
        !integer_member (obj, "category_id", &instance.category_id) || bbox == NULL ||
        json_array_get_length (bbox) != 4)
      problem = "needs integers \"image_id\" and \"category_id\" and a \"bbox\" of 4 numbers";
    else if (json_object_has_member (obj, "iscrowd") && !integer_member (obj, "iscrowd", &crowd))
      problem = "\"iscrowd\" must be an integer";
  }
  for (guint i = 0; problem == NULL && i < 4; i++) {
    JsonNode *node = json_array_get_element (bbox, i);
    double    value;

    if (!JSON_NODE_HOLDS_VALUE (node) || (json_node_get_value_type (node) != G_TYPE_INT64 &&
                                          json_node_get_value_type (node) != G_TYPE_DOUBLE)) {
      problem = "a \"bbox\" holds numbers";
      break;
    }
    value = json_node_get_double (node);
    if (!isfinite (value))
      problem = "a \"bbox\" holds numbers";
    xywh[i] = value;
  }
  instance.x = xywh[0];
  instance.y = xywh[1];
  instance.w = xywh[2];
  instance.h = xywh[3];
  if (problem == NULL && !(instance.w > 0.0 && instance.h > 0.0))
    problem = "a box has a zero or negative size";
  if (problem != NULL) {
    wp_dataset_warn (coco->dataset, "%s line %u, annotations[%u]: %s; the box is not used",
                     coco->path, line, index, problem);
    return TRUE;
  }
  /* A crowd's region holds many objects, none of which it outlines. */
  if (crowd != 0)
    return TRUE;
  list = g_hash_table_lookup (coco->instances, &image_id);
  if (list == NULL) {
    list = g_array_new (FALSE, FALSE, sizeof (Instance));
    g_hash_table_insert (coco->instances, g_memdup2 (&image_id, sizeof image_id), list);
  }
  g_array_append_val (list, instance);
  return TRUE;
}

/* ---- grounding ---- */

/* Whether the caption's words from position i on are the form's. */
static gboolean
matches (GPtrArray *words,
         guint      i,
         GPtrArray *form)
{
  if (i + form->len > words->len)
    return FALSE;
  for (guint k = 0; k < form->len; k++) {
    if (strcmp (words->pdata[i + k], form->pdata[k]) != 0)
      return FALSE;
  }
  return TRUE;
}

/* Gives every category named in the caption (the longest name at each word, "teddy bear" before
 * "bear") the boxes of that category's instances in the image, as a phrase. */
static void
ground_caption (Coco       *coco,
                WpPair     *pair,
                const char *caption,
                GArray     *instances)
{
  g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) occurrences = g_array_new (FALSE, FALSE, sizeof (int));
  WpWordCounter counter;
  guint         phrase = 0;

  wp_word_counter_init (&counter);
  wp_word_counter_add (&counter, caption, words, occurrences);
  wp_word_counter_clear (&counter);
  for (guint i = 0; i < words->len;) {
    GPtrArray *list = g_hash_table_lookup (coco->first_words, words->pdata[i]);
    Category  *best = NULL;
    GPtrArray *best_form = NULL;
    guint      n_boxes = 0;

    for (guint k = 0; list != NULL && k < list->len; k += 2) {
      GPtrArray *form = list->pdata[k + 1];

      if (matches (words, i, form) && (best_form == NULL || form->len > best_form->len)) {
        best = list->pdata[k];
        best_form = form;
      }
    }
    if (best == NULL) {
      i++;
      continue;
    }
    for (guint b = 0; b < instances->len; b++)
      n_boxes += g_hash_table_lookup (coco->categories,
                                      &g_array_index (instances, Instance, b).category_id) == best;
    /* A phrase is boxed whole or not at all. */
    if (n_boxes > 0 && pair->n_boxes + (gsize) n_boxes * best_form->len <= WP_DATASET_MAX_BOXES) {
      phrase++;
      for (guint k = 0; k < best_form->len; k++) {
        for (guint b = 0; b < instances->len; b++) {
          const Instance *box = &g_array_index (instances, Instance, b);

          if (g_hash_table_lookup (coco->categories, &box->category_id) == best)
            wp_dataset_pair_add_box (pair, words->pdata[i + k],
                                     g_array_index (occurrences, int, i + k), box->x, box->y,
                                     box->w, box->h, phrase, best->supercategory);
        }
      }
    }
    i += best_form->len;
  }
}

/* ---- the image folder ---- */

/* COCO's own layout: captions_val2017.json beside or in annotations/, the images in val2017/
 * (or images/val2017/) beside that. */
static char *
find_images (const char *path,
             GError    **error)
{
  g_autofree char *name = g_path_get_basename (path);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *parent = g_path_get_dirname (dir);
  g_autofree char *split = NULL;
  g_autoptr (GPtrArray) tried = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *list = NULL;

  if (!g_str_has_prefix (name, "captions_") || !g_str_has_suffix (name, ".json") ||
      strlen (name) <= strlen ("captions_.json")) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: its name is not COCO's captions_SPLIT.json: give the image folder as "
                 "images",
                 path);
    return NULL;
  }
  split = g_strndup (name + strlen ("captions_"), strlen (name) - strlen ("captions_.json"));
  g_ptr_array_add (tried, g_build_filename (dir, split, NULL));
  g_ptr_array_add (tried, g_build_filename (parent, split, NULL));
  g_ptr_array_add (tried, g_build_filename (dir, "images", split, NULL));
  g_ptr_array_add (tried, g_build_filename (parent, "images", split, NULL));
  for (guint i = 0; i < tried->len; i++) {
    if (g_file_test (tried->pdata[i], G_FILE_TEST_IS_DIR))
      return g_strdup (tried->pdata[i]);
  }
  g_ptr_array_add (tried, NULL);
  list = g_strjoinv (", ", (char **) tried->pdata);
  g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
               "%s: no image folder %s beside it (looked for %s): give it as images", path, split,
               list);
  return NULL;
}

/* ---- the whole ---- */

static void
coco_clear (Coco *coco)
{
  g_clear_pointer (&coco->file_names, g_hash_table_unref);
  g_clear_pointer (&coco->captions, g_array_unref);
  g_clear_pointer (&coco->first_words, g_hash_table_unref);
  g_clear_pointer (&coco->instances, g_hash_table_unref);
  g_clear_pointer (&coco->categories, g_hash_table_unref);
}

gboolean
wp_dataset_read_coco (WpDataset              *dataset,
                      const WpDatasetOptions *options,
                      GError                **error)
{
  static const char *const caption_arrays[] = { "images", "annotations", NULL };
  static const char *const instance_arrays[] = { "categories", "annotations", NULL };
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree char *images = NULL;
  GArray          *empty = g_array_new (FALSE, FALSE, sizeof (Instance));
  Coco             coco = { dataset, dataset->file };
  gboolean         ok = FALSE;

  if (options->images != NULL && !g_file_test (options->images, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: no such image folder", options->images);
    g_array_unref (empty);
    return FALSE;
  }
  images =
    options->images != NULL ? g_strdup (options->images) : find_images (dataset->file, error);
  if (images == NULL) {
    g_array_unref (empty);
    return FALSE;
  }
  g_free (dataset->base);
  dataset->base = g_steal_pointer (&images);
  coco.file_names = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  coco.captions = g_array_new (FALSE, FALSE, sizeof (Caption));
  g_array_set_clear_func (coco.captions, caption_clear);
  coco.categories = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, category_free);
  coco.instances =
    g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, (GDestroyNotify) g_array_unref);
  coco.first_words =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  if (!scan_file (dataset, dataset->file, checksum, caption_arrays, captions_element_cb, &coco,
                  error))
    goto out;
  if (options->instances != NULL) {
    coco.path = options->instances;
    dataset->with_instances = TRUE;
    if (!scan_file (dataset, options->instances, checksum, instance_arrays, instances_element_cb,
                    &coco, error))
      goto out;
  }
  if (coco.too_many) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: more than %d pairs", dataset->file,
                 WP_DATASET_MAX_PAIRS);
    goto out;
  }
  wp_dataset_add_source (dataset, dataset->file);
  for (guint i = 0; i < coco.captions->len; i++) {
    const Caption *caption = &g_array_index (coco.captions, Caption, i);
    const char    *file_name = g_hash_table_lookup (coco.file_names, &caption->image_id);
    GArray        *instances = g_hash_table_lookup (coco.instances, &caption->image_id);
    WpDatasetEntry entry = { { 0 } };

    if (file_name == NULL) {
      wp_dataset_skip (dataset, WP_SKIP_BAD_LINE,
                       "%s line %u, annotations[%u]: image_id %" G_GINT64_FORMAT
                       " is not among the images",
                       dataset->file, caption->line, caption->index, caption->image_id);
      continue;
    }
    entry.source = dataset->file;
    entry.pair.line = caption->line;
    entry.item = caption->index;
    ground_caption (&coco, &entry.pair, caption->caption, instances != NULL ? instances : empty);
    wp_dataset_add_entry (dataset, &entry, file_name, caption->caption);
  }
  ok = TRUE;

out:
  if (coco.wrong_kind != NULL)
    g_propagate_error (error, g_steal_pointer (&coco.wrong_kind));
  dataset->checksum = g_strdup (g_checksum_get_string (checksum));
  g_array_unref (empty);
  coco_clear (&coco);
  return ok;
}
