/* dataset_flickr.c: Flickr30k Entities (dataset.h): Sentences/ID.txt with its phrases marked,
 * Annotations/ID.xml with the boxes of each coreference chain, flickr30k-images/ID.jpg.
 *
 * A sentence line reads "[/EN#18/people A child] in [/EN#19/clothing a pink dress] ..."; the
 * caption is the line without the marks. The XML is VOC's: each <object> has one or more <name>
 * (the chains it belongs to) and a <bndbox> of 1-based inclusive pixel coordinates, or
 * <nobndbox>/<scene> instead. GLib's GMarkup reads it. */
#include <stdlib.h>
#include <string.h>

#include "wordpatch/error.h"

#include "dataset-private.h"

/* Bound on one sentence or annotation file: Flickr30k's are a few kilobytes. */
#define MAX_FILE (1 << 20)

typedef struct {
  double x, y, w, h;
} Rect;

/* ---- Annotations/ID.xml ---- */

typedef struct {
  GHashTable *chains;  /* chain id -> GArray of Rect */
  guint       n_boxes; /* over every chain */
  /* the <object> being read */
  gboolean   in_object, in_box;
  GPtrArray *names;
  double     coords[4]; /* xmin, ymin, xmax, ymax */
  guint      have;      /* bit per coordinate read */
} Annotation;

static const char *const coord_names[] = { "xmin", "ymin", "xmax", "ymax" };

static void
start_element_cb (GMarkupParseContext *context,
                  const char          *element,
                  const char         **attribute_names,
                  const char         **attribute_values,
                  gpointer             user_data,
                  GError             **error)
{
  Annotation *a = user_data;

  if (strcmp (element, "object") == 0) {
    a->in_object = TRUE;
    a->in_box = FALSE;
    a->have = 0;
    g_ptr_array_set_size (a->names, 0);
  } else if (strcmp (element, "bndbox") == 0 && a->in_object) {
    a->in_box = TRUE;
  }
}

static void
markup_error (GMarkupParseContext *context,
              GError             **error,
              const char          *problem)
{
  int line;

  g_markup_parse_context_get_position (context, &line, NULL);
  g_set_error (error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "line %d: %s", line,
               problem);
}

static void
end_element_cb (GMarkupParseContext *context,
                const char          *element,
                gpointer             user_data,
                GError             **error)
{
  Annotation *a = user_data;
  Rect        rect;

  if (strcmp (element, "bndbox") == 0 && a->in_box) {
    if (a->have != 0xf) {
      markup_error (context, error, "a box needs xmin, ymin, xmax and ymax");
      return;
    }
    if (a->coords[2] < a->coords[0] || a->coords[3] < a->coords[1]) {
      markup_error (context, error, "a box ends before it starts");
      return;
    }
    a->in_box = FALSE;
    return;
  }
  if (strcmp (element, "object") != 0 || !a->in_object)
    return;
  a->in_object = FALSE;
  if (a->have != 0xf)
    return;
  /* 1-based inclusive pixels to the pixel edges they span. */
  rect = (Rect){ a->coords[0] - 1.0, a->coords[1] - 1.0, a->coords[2] - a->coords[0] + 1.0,
                 a->coords[3] - a->coords[1] + 1.0 };
  for (guint i = 0; i < a->names->len; i++) {
    GArray *boxes = g_hash_table_lookup (a->chains, a->names->pdata[i]);

    if (boxes == NULL) {
      boxes = g_array_new (FALSE, FALSE, sizeof (Rect));
      g_hash_table_insert (a->chains, g_strdup (a->names->pdata[i]), boxes);
    }
    if (boxes->len < WP_DATASET_MAX_BOXES) {
      g_array_append_val (boxes, rect);
      a->n_boxes++;
    }
  }
}

static void
text_cb (GMarkupParseContext *context,
         const char          *text,
         gsize                len,
         gpointer             user_data,
         GError             **error)
{
  Annotation      *a = user_data;
  const char      *element = g_markup_parse_context_get_element (context);
  g_autofree char *value = g_strstrip (g_strndup (text, len));

  if (!a->in_object || element == NULL || value[0] == '\0')
    return;
  if (strcmp (element, "name") == 0) {
    g_ptr_array_add (a->names, g_steal_pointer (&value));
    return;
  }
  for (int k = 0; a->in_box && k < 4; k++) {
    char  *end;
    double number;

    if (strcmp (element, coord_names[k]) != 0)
      continue;
    number = g_ascii_strtod (value, &end);
    if (*end != '\0' || !(number >= -1e6 && number <= 1e6)) {
      markup_error (context, error, "a box coordinate is not a number");
      return;
    }
    a->coords[k] = number;
    a->have |= 1u << k;
  }
}

static void
annotation_clear (Annotation *a)
{
  g_clear_pointer (&a->chains, g_hash_table_unref);
  g_clear_pointer (&a->names, g_ptr_array_unref);
}

/* Reads the XML into a; NULL, or what is wrong with it. */
static char *
read_annotation (const char *path,
                 GChecksum  *checksum,
                 Annotation *a)
{
  static const GMarkupParser parser = { start_element_cb, end_element_cb, text_cb, NULL, NULL };
  g_autoptr (GMarkupParseContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  gsize            len;

  a->chains = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify) g_array_unref);
  a->names = g_ptr_array_new_with_free_func (g_free);
  if (!g_file_get_contents (path, &text, &len, &error))
    return g_strdup (error->message);
  g_checksum_update (checksum, (const guchar *) text, (gssize) len);
  if (len > MAX_FILE)
    return g_strdup_printf ("%s: longer than %d bytes", path, MAX_FILE);
  context = g_markup_parse_context_new (&parser, 0, a, NULL);
  if (!g_markup_parse_context_parse (context, text, (gssize) len, &error) ||
      !g_markup_parse_context_end_parse (context, &error))
    return g_strdup_printf ("%s: %s", path, error->message);
  if (a->n_boxes == 0)
    return g_strdup_printf ("%s: holds no box", path);
  return NULL;
}

/* ---- Sentences/ID.txt ---- */

typedef struct {
  char *chain;
  char *type;
  char *text;
} Phrase;

static void
phrase_clear (gpointer data)
{
  Phrase *phrase = data;

  g_free (phrase->chain);
  g_free (phrase->type);
  g_free (phrase->text);
}

/* Splits a sentence line into pieces, alternately plain text and phrases: a phrase piece has its
 * chain set. NULL, or what is wrong. */
static const char *
parse_sentence (const char *line,
                GArray     *pieces)
{
  const char *p = line;

  for (;;) {
    const char *open = strstr (p, "[/EN#");
    const char *chain, *types, *text, *close;
    Phrase      plain = { NULL, NULL, NULL }, phrase;

    plain.text = open != NULL ? g_strndup (p, (gsize) (open - p)) : g_strdup (p);
    g_array_append_val (pieces, plain);
    if (open == NULL)
      return NULL;
    chain = open + strlen ("[/EN#");
    types = chain + strspn (chain, "0123456789");
    if (types == chain || *types != '/')
      return "a phrase's mark is not [/EN#CHAIN/TYPE";
    text = strchr (types, ' ');
    close = strchr (types, ']');
    if (close == NULL)
      return "a phrase is not closed by ']'";
    if (text == NULL || text > close)
      return "a phrase's mark is not followed by its words";
    if (g_strstr_len (text, close - text, "[/EN#") != NULL)
      return "a phrase holds another";
    phrase.chain = g_strndup (chain, (gsize) (types - chain));
    /* The first of the types ("people/other"). */
    phrase.type = g_strndup (types + 1, strcspn (types + 1, "/ "));
    phrase.text = g_strndup (text + 1, (gsize) (close - text - 1));
    g_array_append_val (pieces, phrase);
    p = close + 1;
  }
}

/* One caption line of an image: its pair, with the boxes of its phrases. */
static void
read_sentence (WpDataset        *dataset,
               const char       *source,
               guint             line,
               const char       *text,
               const Annotation *annotation,
               const char       *image)
{
  g_autoptr (GArray) pieces = g_array_new (FALSE, FALSE, sizeof (Phrase));
  g_autoptr (GString) caption = g_string_new (NULL);
  g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) occurrences = g_array_new (FALSE, FALSE, sizeof (int));
  WpDatasetEntry entry = { { 0 } };
  WpWordCounter  counter;
  const char    *problem;
  guint          phrase = 0;

  g_array_set_clear_func (pieces, phrase_clear);
  problem = parse_sentence (text, pieces);
  if (problem != NULL) {
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: %s", source, line, problem);
    return;
  }
  wp_word_counter_init (&counter);
  for (guint i = 0; i < pieces->len; i++) {
    const Phrase *piece = &g_array_index (pieces, Phrase, i);
    GArray       *boxes = NULL;

    g_string_append (caption, piece->text);
    g_ptr_array_set_size (words, 0);
    g_array_set_size (occurrences, 0);
    wp_word_counter_add (&counter, piece->text, words, occurrences);
    /* Chain 0 is what is not in the picture. */
    if (piece->chain != NULL && strcmp (piece->chain, "0") != 0 &&
        strcmp (piece->type, "notvisual") != 0)
      boxes = g_hash_table_lookup (annotation->chains, piece->chain);
    if (boxes == NULL || words->len == 0 ||
        entry.pair.n_boxes + (gsize) words->len * boxes->len > WP_DATASET_MAX_BOXES)
      continue;
    phrase++;
    for (guint w = 0; w < words->len; w++) {
      for (guint b = 0; b < boxes->len; b++) {
        const Rect *r = &g_array_index (boxes, Rect, b);

        wp_dataset_pair_add_box (&entry.pair, words->pdata[w],
                                 g_array_index (occurrences, int, w), r->x, r->y, r->w, r->h,
                                 phrase, piece->type);
      }
    }
  }
  wp_word_counter_clear (&counter);
  entry.source = source;
  entry.pair.line = line;
  wp_dataset_add_entry (dataset, &entry, image, g_strstrip (caption->str));
}

/* Every caption line of one image. */
static void
read_image (WpDataset  *dataset,
            const char *root,
            const char *id,
            GChecksum  *checksum)
{
  g_autofree char *name = g_strconcat (id, ".txt", NULL);
  g_autofree char *xml_name = g_strconcat (id, ".xml", NULL);
  g_autofree char *jpg_name = g_strconcat (id, ".jpg", NULL);
  g_autofree char *sentences = g_build_filename (root, "Sentences", name, NULL);
  g_autofree char *xml = g_build_filename (root, "Annotations", xml_name, NULL);
  g_autofree char *text = NULL;
  g_autofree char *problem = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) lines = NULL;
  Annotation  annotation = { 0 };
  const char *source;
  gsize       len;

  if (!g_file_get_contents (sentences, &text, &len, &error)) {
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s", error->message);
    return;
  }
  g_checksum_update (checksum, (const guchar *) text, (gssize) len);
  source = wp_dataset_add_source (dataset, sentences);
  if (len > MAX_FILE || memchr (text, '\0', len) != NULL) {
    wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s: %s", sentences,
                     len > MAX_FILE ? "longer than " G_STRINGIFY (MAX_FILE) " bytes"
                                    : "not text (it holds a NUL byte)");
    return;
  }
  problem = read_annotation (xml, checksum, &annotation);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    char *line = g_strstrip (lines[i]);

    if (line[0] == '\0')
      continue;
    if (dataset->entries->len >= WP_DATASET_MAX_PAIRS)
      break;
    if (problem != NULL)
      wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: %s", source, i + 1, problem);
    else if (!g_utf8_validate (line, -1, NULL))
      wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: not valid UTF-8 text", source,
                       i + 1);
    else
      read_sentence (dataset, source, i + 1, line, &annotation, jpg_name);
  }
  annotation_clear (&annotation);
}

/* ---- which images ---- */

static gboolean
is_id (const char *text)
{
  return text[0] != '\0' && text[0] != '.' &&
         strspn (text, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-.") ==
           strlen (text);
}

/* Numbers in numeric order, before any other name. */
static int
compare_ids (gconstpointer a,
             gconstpointer b)
{
  const char *x = *(const char *const *) a, *y = *(const char *const *) b;
  const gsize nx = strspn (x, "0123456789"), ny = strspn (y, "0123456789");

  if (x[nx] == '\0' && y[ny] == '\0' && nx != ny)
    return nx < ny ? -1 : 1;
  return strcmp (x, y);
}

/* The ids of the split file (its path, or NAME.txt in the folder), or every id of Sentences/. */
static GPtrArray *
list_ids (WpDataset  *dataset,
          const char *root,
          const char *split,
          GChecksum  *checksum,
          GError    **error)
{
  GPtrArray       *ids = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  gsize len;

  if (split == NULL) {
    g_autofree char *sentences = g_build_filename (root, "Sentences", NULL);
    g_autoptr (GDir) dir = g_dir_open (sentences, 0, error);
    const char *name;

    if (dir == NULL) {
      g_ptr_array_unref (ids);
      return NULL;
    }
    while ((name = g_dir_read_name (dir)) != NULL) {
      if (g_str_has_suffix (name, ".txt"))
        g_ptr_array_add (ids, g_strndup (name, strlen (name) - 4));
    }
    g_ptr_array_sort (ids, compare_ids);
    return ids;
  }
  if (g_file_test (split, G_FILE_TEST_IS_REGULAR)) {
    path = g_strdup (split);
  } else {
    g_autofree char *name = g_strconcat (split, ".txt", NULL);

    path = g_build_filename (root, name, NULL);
  }
  if (!g_file_get_contents (path, &text, &len, error) ||
      !g_utf8_validate (text, (gssize) len, NULL)) {
    if (text != NULL)
      g_set_error (error, WP_ERROR, WP_ERROR_DATASET, "%s: not a split file of image ids", path);
    g_ptr_array_unref (ids);
    return NULL;
  }
  g_checksum_update (checksum, (const guchar *) text, (gssize) len);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    const char *id = g_strstrip (lines[i]);

    if (id[0] == '\0')
      continue;
    if (!is_id (id))
      wp_dataset_skip (dataset, WP_SKIP_BAD_LINE, "%s line %u: '%s' is not an image id", path,
                       i + 1, id);
    else
      g_ptr_array_add (ids, g_strdup (id));
  }
  return ids;
}

gboolean
wp_dataset_read_flickr30k (WpDataset              *dataset,
                           const WpDatasetOptions *options,
                           GError                **error)
{
  const char *root = dataset->path;
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr (GPtrArray) ids = NULL;
  g_autofree char *images = NULL;

  if (options->images != NULL) {
    images = g_strdup (options->images);
  } else {
    images = g_build_filename (root, "flickr30k-images", NULL);
    if (!g_file_test (images, G_FILE_TEST_IS_DIR)) {
      g_free (images);
      images = g_build_filename (root, "flickr30k_images", NULL);
    }
  }
  if (!g_file_test (images, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: no image folder %s: give the folder of the Flickr30k images as images", root,
                 options->images != NULL ? options->images : "flickr30k-images");
    return FALSE;
  }
  ids = list_ids (dataset, root, options->split, checksum, error);
  if (ids == NULL)
    return FALSE;
  /* Each image is ID.jpg in that folder. */
  g_free (dataset->base);
  dataset->base = g_steal_pointer (&images);
  for (guint i = 0; i < ids->len && dataset->entries->len < WP_DATASET_MAX_PAIRS; i++)
    read_image (dataset, root, ids->pdata[i], checksum);
  dataset->checksum = g_strdup (g_checksum_get_string (checksum));
  return TRUE;
}
