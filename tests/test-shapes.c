/* test-shapes.c: the synthetic scene generator, its PNG writer and the "shapes" command.
 *
 * Captions are checked against their own grammar ("a|an|two|three [size] colour shape", joined by
 * "and" or a relation), independently of how the generator builds them: every colour, shape and
 * size word has one box per object its phrase counts, under its whole-word occurrence. Colours are
 * checked on the pixels: the most common exact colour among the box's pixels that a classifier
 * written here calls the word's colour is the object's fill, and its hue sits in the split's part
 * of the band documented in shapes.h. The command is run from $WORDPATCH_CLI when it is built. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include "cli-harness.h"
#include "shapes.h"
#include "test-util.h"
#include "wordpatch/dataset.h"
#include "wordpatch/error.h"
#include "wordpatch/image.h"

#define N_SCENES 400

static const char *const colours[] = { "red", "green", "blue", "yellow",
                                       "purple", "orange", "pink", "white" };
static const char *const shapes[] = { "circle", "square", "triangle", "star", "cross", "diamond" };
static const char *const plurals[] = { "circles", "squares", "triangles",
                                       "stars", "crosses", "diamonds" };

/* shapes.h: the held-out shape of each colour, in the order above. */
static const char *const held_out[] = { "star", "cross", "triangle", "diamond",
                                        "circle", "square", "diamond", "star" };

/* shapes.h: hue centre and half width in degrees of each chromatic band; white's saturation
 * limit between train (below) and test (above). */
static const double hue_centre[] = { 0.0, 122.0, 222.0, 55.0, 280.0, 30.0, 330.0 };
static const double hue_half[] = { 8.0, 22.0, 16.0, 6.0, 12.0, 6.0, 10.0 };
#define WHITE_SPLIT_SATURATION 0.05

static GBytes *
read_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &data, &len, &error)) {
    g_test_fail_printf ("cannot read %s: %s", path, error->message);
    return g_bytes_new (NULL, 0);
  }
  return g_bytes_new_take (data, len);
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The names in dir, sorted, joined by spaces. */
static char *
list_dir (const char *dir)
{
  g_autoptr (GDir) handle = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (handle == NULL)
    return g_strdup ("");
  while ((name = g_dir_read_name (handle)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

static int
index_of (const char *const *words,
          int                n,
          const char        *word)
{
  for (int i = 0; i < n; i++) {
    if (strcmp (words[i], word) == 0)
      return i;
  }
  return -1;
}

static WpShapesOptions
options_for (WpShapesSplit split,
             guint64       seed)
{
  WpShapesOptions options;

  wp_shapes_options_init (&options);
  options.split = split;
  options.seed = seed;
  return options;
}

/* ---- PNG writer ---- */

/* Where needle first occurs in the binary data, or NULL. */
static const char *
find_bytes (const char *data,
            gsize       len,
            const char *needle)
{
  const gsize n = strlen (needle);

  for (gsize i = 0; i + n <= len; i++) {
    if (memcmp (data + i, needle, n) == 0)
      return data + i;
  }
  return NULL;
}

static WpImage *
pattern_image (int width,
               int height)
{
  WpImage *image = wp_image_new (width, height);

  for (int i = 0; i < width * height * 3; i++)
    image->rgb[i] = (guint8) (i * 37 + i / 7);
  return image;
}

static void
test_png_round_trip (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("shapes");
  g_autofree char *path = g_build_filename (dir, "x.png", NULL);
  g_autoptr (WpImage) image = pattern_image (13, 7);
  g_autoptr (WpImage) other = pattern_image (5, 9);
  g_autoptr (WpImage) back = NULL;
  g_autoptr (GHashTable) text = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *names = NULL;
  const char      *data;
  gsize            len;

  g_hash_table_insert (text, "Title", "a red circle");
  g_hash_table_insert (text, "Comment", "second");
  g_assert_true (wp_image_save_png (image, path, text, &error));
  g_assert_no_error (error);
  back = wp_image_load (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  if (back == NULL)
    return;
  g_assert_cmpint (back->width, ==, 13);
  g_assert_cmpint (back->height, ==, 7);
  g_assert_cmpmem (back->rgb, 13 * 7 * 3, image->rgb, 13 * 7 * 3);

  /* An RGB image (colour type 2, 8 bits) with its text chunks, keys in sorted order. */
  bytes = read_file (path);
  data = g_bytes_get_data (bytes, &len);
  g_assert_cmpuint (len, >, 33);
  g_assert_cmpmem (data + 12, 4, "IHDR", 4);
  g_assert_cmpint (data[24], ==, 8);
  g_assert_cmpint (data[25], ==, 2);
  g_assert_nonnull (find_bytes (data, len, "tEXtComment"));
  g_assert_nonnull (find_bytes (data, len, "tEXtTitle"));
  g_assert_true (find_bytes (data, len, "tEXtComment") < find_bytes (data, len, "tEXtTitle"));
  g_assert_nonnull (find_bytes (data, len, "a red circle"));

  /* Replacing a file leaves no temporary file behind. */
  g_assert_true (wp_image_save_png (other, path, NULL, &error));
  g_assert_no_error (error);
  g_clear_pointer (&back, wp_image_free);
  back = wp_image_load (path, &error);
  g_assert_no_error (error);
  if (back != NULL) {
    g_assert_cmpint (back->width, ==, 5);
    g_assert_cmpmem (back->rgb, 5 * 9 * 3, other->rgb, 5 * 9 * 3);
  }
  names = list_dir (dir);
  g_assert_cmpstr (names, ==, "x.png");
  remove_tree (dir);
}

static void
test_png_unwritable (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("shapes");
  g_autofree char *path = g_build_filename (dir, "absent", "x.png", NULL);
  g_autoptr (WpImage) image = pattern_image (4, 4);
  g_autoptr (GError) error = NULL;

  g_assert_false (wp_image_save_png (image, path, NULL, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  if (error != NULL)
    assert_mentions (error->message, path);
  remove_tree (dir);
}

static void
test_png_bad_text (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("shapes");
  g_autofree char *path = g_build_filename (dir, "x.png", NULL);
  g_autoptr (WpImage) image = pattern_image (4, 4);
  g_autoptr (GHashTable) text = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;
  g_autofree char *names = NULL;

  g_hash_table_insert (text, " Title", "x");
  g_assert_false (wp_image_save_png (image, path, text, &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_INVALID);
  if (error != NULL)
    assert_mentions (error->message, path);
  g_clear_error (&error);
  g_hash_table_remove_all (text);
  g_hash_table_insert (text, "Title", "caf\xc3");
  g_assert_false (wp_image_save_png (image, path, text, &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_INVALID);
  g_clear_error (&error);
  g_hash_table_insert (text, "Title", "tab\there");
  g_assert_false (wp_image_save_png (image, path, text, &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_INVALID);
  names = list_dir (dir);
  g_assert_cmpstr (names, ==, "");
  remove_tree (dir);
}

/* Text beyond ASCII goes into an iTXt chunk, byte for byte. */
static void
test_png_utf8_text (void)
{
  g_autofree char *dir = wp_test_make_tmp_dir ("shapes");
  g_autofree char *path = g_build_filename (dir, "x.png", NULL);
  g_autoptr (WpImage) image = pattern_image (4, 4);
  g_autoptr (GHashTable) text = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = NULL;
  gsize       len;
  const char *data;
  gboolean    found = FALSE;

  g_hash_table_insert (text, "Title", "caf\xc3\xa9 \xe2\x86\x92 ok");
  g_assert_true (wp_image_save_png (image, path, text, &error));
  g_assert_no_error (error);
  bytes = read_file (path);
  data = g_bytes_get_data (bytes, &len);
  for (gsize i = 0; i + 4 <= len && !found; i++)
    found = memcmp (data + i, "iTXt", 4) == 0 && i + 4 + 6 + 3 + 10 <= len &&
            memcmp (data + i + 4, "Title", 5) == 0;
  g_assert_true (found);
  remove_tree (dir);
}

/* ---- determinism ---- */

static gboolean
scenes_equal (const WpShapesScene *a,
              const WpShapesScene *b)
{
  if (a->image->width != b->image->width ||
      memcmp (a->image->rgb, b->image->rgb, (gsize) a->image->width * a->image->height * 3) != 0)
    return FALSE;
  if (strcmp (a->caption, b->caption) != 0 || a->n_boxes != b->n_boxes ||
      a->n_objects != b->n_objects)
    return FALSE;
  for (guint i = 0; i < a->n_boxes; i++) {
    const WpShapesBox *p = &a->boxes[i], *q = &b->boxes[i];

    if (strcmp (p->word, q->word) != 0 || p->occurrence != q->occurrence || p->x != q->x ||
        p->y != q->y || p->w != q->w || p->h != q->h)
      return FALSE;
  }
  return TRUE;
}

static void
test_scene_deterministic (void)
{
  const WpShapesOptions train = options_for (WP_SHAPES_SPLIT_TRAIN, 5);
  const WpShapesOptions other_seed = options_for (WP_SHAPES_SPLIT_TRAIN, 6);
  const WpShapesOptions test = options_for (WP_SHAPES_SPLIT_TEST, 5);
  int                   differ_seed = 0, differ_split = 0, differ_index = 0;

  for (guint64 i = 0; i < 20; i++) {
    g_autoptr (WpShapesScene) a = wp_shapes_scene_new (&train, i);
    g_autoptr (WpShapesScene) b = wp_shapes_scene_new (&train, i);
    g_autoptr (WpShapesScene) c = wp_shapes_scene_new (&other_seed, i);
    g_autoptr (WpShapesScene) d = wp_shapes_scene_new (&test, i);
    g_autoptr (WpShapesScene) e = wp_shapes_scene_new (&train, i + 1);

    if (!scenes_equal (a, b))
      g_test_fail_printf ("scene %" G_GUINT64_FORMAT " differs between two calls", i);
    differ_seed += !scenes_equal (a, c);
    differ_split += !scenes_equal (a, d);
    differ_index += !scenes_equal (a, e);
  }
  g_assert_cmpint (differ_seed, ==, 20);
  g_assert_cmpint (differ_split, ==, 20);
  g_assert_cmpint (differ_index, ==, 20);
}

static void
assert_same_file (const char *a,
                  const char *b)
{
  g_autoptr (GBytes) x = read_file (a);
  g_autoptr (GBytes) y = read_file (b);

  if (!g_bytes_equal (x, y))
    g_test_fail_printf ("%s and %s differ", a, b);
}

static void
test_dataset_deterministic (void)
{
  const WpShapesOptions options = options_for (WP_SHAPES_SPLIT_TEST, 11);
  g_autofree char      *root = wp_test_make_tmp_dir ("shapes");
  g_autofree char      *a = g_build_filename (root, "a", NULL);
  g_autofree char      *b = g_build_filename (root, "b", NULL);
  g_autofree char      *c = g_build_filename (root, "c", NULL);
  g_autofree char      *a_captions = g_build_filename (a, "captions.jsonl", NULL);
  g_autofree char      *b_captions = g_build_filename (b, "captions.jsonl", NULL);
  g_autofree char      *c_captions = g_build_filename (c, "captions.jsonl", NULL);
  g_autofree char      *names = NULL;
  g_autoptr (GBytes) full = NULL;
  g_autoptr (GBytes) prefix = NULL;
  g_autoptr (GError) error = NULL;
  const char *full_data, *end;
  gsize       full_len, prefix_len;

  g_assert_true (wp_shapes_write_dataset (a, 12, &options, &error));
  g_assert_no_error (error);
  g_assert_true (wp_shapes_write_dataset (b, 12, &options, &error));
  g_assert_no_error (error);
  g_assert_true (wp_shapes_write_dataset (c, 5, &options, &error));
  g_assert_no_error (error);

  names = list_dir (a);
  g_assert_cmpstr (names, ==, "captions.jsonl images");
  assert_same_file (a_captions, b_captions);
  for (int i = 0; i < 12; i++) {
    g_autofree char *name = g_strdup_printf ("images/%06d.png", i);
    g_autofree char *pa = g_build_filename (a, name, NULL);
    g_autofree char *pb = g_build_filename (b, name, NULL);
    g_autofree char *pc = g_build_filename (c, name, NULL);

    assert_same_file (pa, pb);
    if (i < 5)
      assert_same_file (pa, pc);
    else
      g_assert_false (g_file_test (pc, G_FILE_TEST_EXISTS));
  }

  /* The 5-scene file is the first 5 lines of the 12-scene one. */
  full = read_file (a_captions);
  prefix = read_file (c_captions);
  full_data = g_bytes_get_data (full, &full_len);
  prefix_len = g_bytes_get_size (prefix);
  end = full_data;
  for (int line = 0; line < 5 && end != NULL; line++)
    end = memchr (end, '\n', full_len - (gsize) (end - full_data)),
    end = end != NULL ? end + 1 : NULL;
  g_assert_nonnull (end);
  if (end != NULL) {
    g_assert_cmpuint ((gsize) (end - full_data), ==, prefix_len);
    g_assert_cmpmem (full_data, prefix_len, g_bytes_get_data (prefix, NULL), prefix_len);
  }
  remove_tree (root);
}

/* "objects" lists the scene's objects in drawing order with their names; every box of the
 * caption is the box of a captioned object, and distractors are not captioned. Returns the
 * number of distractors. */
static guint
check_objects_member (const WpShapesScene *scene,
                      JsonArray           *objects)
{
  guint captioned = 0;

  g_assert_cmpuint (json_array_get_length (objects), ==, scene->n_objects);
  for (guint k = 0; k < scene->n_objects; k++) {
    JsonObject           *object = json_array_get_object_element (objects, k);
    const WpShapesObject *drawn = &scene->objects[k];

    g_assert_cmpstr (json_object_get_string_member (object, "colour"), ==, colours[drawn->colour]);
    g_assert_cmpstr (json_object_get_string_member (object, "shape"), ==, shapes[drawn->shape]);
    g_assert_cmpstr (json_object_get_string_member (object, "size"), ==,
                     drawn->big ? "big" : "small");
    g_assert_cmpint (json_object_get_boolean_member (object, "captioned"), ==, drawn->captioned);
    g_assert_cmpint (json_object_get_int_member (object, "x"), ==, drawn->x);
    g_assert_cmpint (json_object_get_int_member (object, "y"), ==, drawn->y);
    g_assert_cmpint (json_object_get_int_member (object, "w"), ==, drawn->w);
    g_assert_cmpint (json_object_get_int_member (object, "h"), ==, drawn->h);
    captioned += drawn->captioned;
  }
  g_assert_cmpuint (captioned, >=, 1);
  for (guint b = 0; b < scene->n_boxes; b++) {
    const WpShapesBox *box = &scene->boxes[b];
    gboolean           found = FALSE;

    for (guint k = 0; k < scene->n_objects && !found; k++) {
      const WpShapesObject *drawn = &scene->objects[k];

      found = drawn->captioned && drawn->x == box->x && drawn->y == box->y && drawn->w == box->w &&
              drawn->h == box->h;
    }
    g_assert_true (found);
  }
  return scene->n_objects - captioned;
}

/* The lines' layout, and the dataset reader's view of them. */
static void
test_dataset_format (void)
{
  const WpShapesOptions options = options_for (WP_SHAPES_SPLIT_TRAIN, 3);
  g_autofree char      *dir = wp_test_make_tmp_dir ("shapes");
  g_autofree char      *path = g_build_filename (dir, "captions.jsonl", NULL);
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (WpDataset) dataset = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) lines = NULL;
  guint distractors = 0;

  g_assert_true (wp_shapes_write_dataset (dir, 8, &options, &error));
  g_assert_no_error (error);
  bytes = read_file (path);
  lines = g_strsplit (g_bytes_get_data (bytes, NULL), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 9);
  g_assert_cmpstr (lines[8], ==, "");
  for (int i = 0; i < 8; i++) {
    g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (&options, (guint64) i);
    g_autofree char *start = g_strdup_printf (
      "{\"image\": \"images/%06d.png\", \"caption\": \"%s\", \"boxes\": [{\"word\": \"", i,
      scene->caption);
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *object;
    JsonArray  *boxes;
    GList      *members;

    g_assert_true (g_str_has_prefix (lines[i], start));
    g_assert_true (g_str_has_suffix (lines[i], "}]}"));
    json_parser_load_from_data (parser, lines[i], -1, &error);
    g_assert_no_error (error);
    object = json_node_get_object (json_parser_get_root (parser));
    members = json_object_get_members (object);
    g_assert_cmpuint (g_list_length (members), ==, 4);
    g_assert_cmpstr (members->data, ==, "image");
    g_assert_cmpstr (members->next->data, ==, "caption");
    g_assert_cmpstr (members->next->next->data, ==, "boxes");
    g_assert_cmpstr (members->next->next->next->data, ==, "objects");
    g_list_free (members);
    distractors += check_objects_member (scene, json_object_get_array_member (object, "objects"));
    boxes = json_object_get_array_member (object, "boxes");
    g_assert_cmpuint (json_array_get_length (boxes), ==, scene->n_boxes);
    for (guint b = 0; b < scene->n_boxes; b++) {
      JsonObject *box = json_array_get_object_element (boxes, b);

      g_assert_cmpstr (json_object_get_string_member (box, "word"), ==, scene->boxes[b].word);
      g_assert_cmpint (json_object_get_int_member (box, "occurrence"), ==,
                       scene->boxes[b].occurrence);
      g_assert_cmpint (json_object_get_int_member (box, "x"), ==, scene->boxes[b].x);
      g_assert_cmpint (json_object_get_int_member (box, "h"), ==, scene->boxes[b].h);
    }
  }
  g_assert_cmpuint (distractors, >, 0);

  dataset = wp_dataset_open (dir, &error);
  g_assert_no_error (error);
  if (dataset != NULL) {
    g_assert_cmpuint (wp_dataset_get_n_pairs (dataset), ==, 8);
    g_assert_cmpuint (wp_dataset_get_warnings (dataset)->len, ==, 0);
    for (guint i = 0; i < 8; i++) {
      g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (&options, i);
      const WpPair *pair = wp_dataset_get_pair (dataset, i);

      g_assert_cmpstr (pair->caption, ==, scene->caption);
      g_assert_cmpuint (pair->n_boxes, ==, scene->n_boxes);
    }
  }
  remove_tree (dir);
}

static void
test_dataset_refuses_overwrite (void)
{
  const WpShapesOptions options = options_for (WP_SHAPES_SPLIT_TRAIN, 1);
  const WpShapesOptions other = options_for (WP_SHAPES_SPLIT_TRAIN, 2);
  g_autofree char      *dir = wp_test_make_tmp_dir ("shapes");
  g_autofree char      *path = g_build_filename (dir, "captions.jsonl", NULL);
  g_autoptr (GBytes) before = NULL;
  g_autoptr (GBytes) after = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (wp_shapes_write_dataset (dir, 3, &options, &error));
  g_assert_no_error (error);
  before = read_file (path);
  g_assert_false (wp_shapes_write_dataset (dir, 3, &other, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST);
  if (error != NULL)
    assert_mentions (error->message, dir);
  after = read_file (path);
  g_assert_true (g_bytes_equal (before, after));
  remove_tree (dir);
}

/* ---- captions and boxes ---- */

/* One phrase of a caption: token indices of its number word, size word (or -1), colour and shape
 * word, and how many objects it counts. */
typedef struct {
  int n;
  int size, colour, shape;
  int colour_id, shape_id;
} Phrase;

/* Parses "PHRASE ((and | above | below | left of | right of) PHRASE)?" with PHRASE "(a | an |
 * two | three) [small | big] COLOUR SHAPE(S)". Returns the number of phrases (0 on a grammar
 * error, reported); *relation is the relation word or NULL. */
static int
parse_caption (const char  *caption,
               char       **tokens,
               Phrase      *phrases,
               const char **relation)
{
  const int n_tokens = (int) g_strv_length (tokens);
  int       t = 0, n = 0;

  *relation = NULL;
  while (t < n_tokens) {
    Phrase *phrase = &phrases[n];

    if (n == 2) {
      g_test_fail_printf ("'%s': more than two phrases", caption);
      return 0;
    }
    if (n == 1) {
      if (strcmp (tokens[t], "and") == 0 || strcmp (tokens[t], "above") == 0 ||
          strcmp (tokens[t], "below") == 0) {
        *relation = tokens[t++];
      } else if (t + 1 < n_tokens &&
                 (strcmp (tokens[t], "left") == 0 || strcmp (tokens[t], "right") == 0) &&
                 strcmp (tokens[t + 1], "of") == 0) {
        *relation = tokens[t];
        t += 2;
      } else {
        g_test_fail_printf ("'%s': '%s' cannot join two phrases", caption, tokens[t]);
        return 0;
      }
    }
    if (t + 2 >= n_tokens) {
      g_test_fail_printf ("'%s': phrase cut short", caption);
      return 0;
    }
    if (strcmp (tokens[t], "a") == 0 || strcmp (tokens[t], "an") == 0)
      phrase->n = 1;
    else if (strcmp (tokens[t], "two") == 0)
      phrase->n = 2;
    else if (strcmp (tokens[t], "three") == 0)
      phrase->n = 3;
    else {
      g_test_fail_printf ("'%s': '%s' is not a number word", caption, tokens[t]);
      return 0;
    }
    if (phrase->n == 1 &&
        (strcmp (tokens[t], "an") == 0) != (strchr ("aeiou", tokens[t + 1][0]) != NULL)) {
      g_test_fail_printf ("'%s': '%s %s'", caption, tokens[t], tokens[t + 1]);
      return 0;
    }
    t++;
    phrase->size = -1;
    if (strcmp (tokens[t], "small") == 0 || strcmp (tokens[t], "big") == 0)
      phrase->size = t++;
    if (t + 1 >= n_tokens) {
      g_test_fail_printf ("'%s': phrase cut short", caption);
      return 0;
    }
    phrase->colour = t;
    phrase->colour_id = index_of (colours, G_N_ELEMENTS (colours), tokens[t++]);
    phrase->shape = t;
    phrase->shape_id =
      index_of (phrase->n == 1 ? shapes : plurals, G_N_ELEMENTS (shapes), tokens[t++]);
    if (phrase->colour_id < 0 || phrase->shape_id < 0) {
      g_test_fail_printf ("'%s': phrase %d is not COLOUR %s", caption, n,
                          phrase->n == 1 ? "SHAPE" : "SHAPES");
      return 0;
    }
    n++;
  }
  return n;
}

static int
occurrence_of (char **tokens,
               int    t)
{
  int occurrence = 0;

  for (int j = 0; j < t; j++)
    occurrence += strcmp (tokens[j], tokens[t]) == 0;
  return occurrence;
}

/* The boxes for token t, in the scene's order; their number. */
static int
boxes_of (const WpShapesScene *scene,
          char               **tokens,
          int                  t,
          const WpShapesBox  **out)
{
  const int occurrence = occurrence_of (tokens, t);
  int       n = 0;

  for (guint b = 0; b < scene->n_boxes; b++) {
    if (strcmp (scene->boxes[b].word, tokens[t]) == 0 && scene->boxes[b].occurrence == occurrence) {
      if (n < WP_SHAPES_MAX_OBJECTS)
        out[n] = &scene->boxes[b];
      n++;
    }
  }
  return n;
}

static gboolean
same_place (const WpShapesBox *a,
            const WpShapesBox *b)
{
  return a->x == b->x && a->y == b->y && a->w == b->w && a->h == b->h;
}

/* Every rule a scene's caption and boxes obey; phrases_out (may be NULL) receives the parsed
 * phrases. Returns the number of phrases, 0 after reporting a failure. */
static int
check_scene (const WpShapesScene *scene,
             guint64              index,
             Phrase              *phrases_out,
             const char         **relation_out)
{
  const int S = scene->image->width;
  g_auto (GStrv) tokens = g_strsplit (scene->caption, " ", -1);
  Phrase      phrases[2];
  const char *relation;
  int         n_phrases, n_captioned = 0, n_counted = 0;

  n_phrases = parse_caption (scene->caption, tokens, phrases, &relation);
  if (n_phrases == 0)
    return 0;

  /* Each colour, shape and size word: as many boxes as its phrase counts, the same boxes for the
   * three words of a phrase. */
  for (int p = 0; p < n_phrases; p++) {
    const WpShapesBox *colour_boxes[WP_SHAPES_MAX_OBJECTS], *other[WP_SHAPES_MAX_OBJECTS];
    const int          words[] = { phrases[p].colour, phrases[p].shape, phrases[p].size };
    const int          n = boxes_of (scene, tokens, phrases[p].colour, colour_boxes);

    n_counted += phrases[p].n;
    if (n != phrases[p].n) {
      g_test_fail_printf ("scene %" G_GUINT64_FORMAT " '%s': %d boxes for '%s', expected %d", index,
                          scene->caption, n, tokens[phrases[p].colour], phrases[p].n);
      return 0;
    }
    for (int w = 1; w < 3; w++) {
      if (words[w] < 0)
        continue;
      if (boxes_of (scene, tokens, words[w], other) != n) {
        g_test_fail_printf ("scene %" G_GUINT64_FORMAT
                            " '%s': '%s' and '%s' have different numbers of boxes",
                            index, scene->caption, tokens[words[w]], tokens[phrases[p].colour]);
        return 0;
      }
      for (int k = 0; k < n; k++) {
        if (!same_place (colour_boxes[k], other[k])) {
          g_test_fail_printf ("scene %" G_GUINT64_FORMAT
                              " '%s': '%s' and '%s' have different boxes",
                              index, scene->caption, tokens[words[w]], tokens[phrases[p].colour]);
          return 0;
        }
      }
    }
  }

  /* Every box names a word of the caption, at an occurrence it has, and lies inside the image. */
  for (guint b = 0; b < scene->n_boxes; b++) {
    const WpShapesBox *box = &scene->boxes[b];
    gboolean           found = FALSE;

    for (int t = 0; tokens[t] != NULL && !found; t++)
      found = strcmp (tokens[t], box->word) == 0 && occurrence_of (tokens, t) == box->occurrence;
    if (!found)
      g_test_fail_printf ("scene %" G_GUINT64_FORMAT
                          " '%s': box for '%s' occurrence %d names no word",
                          index, scene->caption, box->word, box->occurrence);
    if (box->w < 1 || box->h < 1 || box->x < 0 || box->y < 0 || box->x + box->w > S ||
        box->y + box->h > S)
      g_test_fail_printf ("scene %" G_GUINT64_FORMAT
                          ": box %d,%d %dx%d for '%s' is empty or outside the image",
                          index, box->x, box->y, box->w, box->h, box->word);
  }

  /* Objects: the captioned ones are those the phrases count; a distractor shares the shape or the
   * colour of a phrase but is never what a phrase describes. */
  g_assert_cmpuint (scene->n_objects, >=, 1);
  g_assert_cmpuint (scene->n_objects, <=, WP_SHAPES_MAX_OBJECTS);
  for (guint k = 0; k < scene->n_objects; k++) {
    const WpShapesObject *object = &scene->objects[k];
    gboolean              described = FALSE, related = FALSE;

    for (int p = 0; p < n_phrases; p++) {
      described = described || (phrases[p].colour_id == (int) object->colour &&
                                phrases[p].shape_id == (int) object->shape);
      related = related || phrases[p].colour_id == (int) object->colour ||
                phrases[p].shape_id == (int) object->shape;
    }
    n_captioned += object->captioned;
    if (object->captioned != described || !related)
      g_test_fail_printf ("scene %" G_GUINT64_FORMAT " '%s': object %u (%s %s) %s", index,
                          scene->caption, k, colours[object->colour], shapes[object->shape],
                          object->captioned ? "is not described"
                                            : "is an unrelated or ambiguous distractor");
  }
  g_assert_cmpint (n_captioned, ==, n_counted);

  /* Objects of one colour do not touch: "two green squares" are two shapes, not one blob. */
  for (guint i = 0; i < scene->n_objects; i++) {
    for (guint j = i + 1; j < scene->n_objects; j++) {
      const WpShapesObject *a = &scene->objects[i], *b = &scene->objects[j];

      if (a->colour == b->colour && a->x < b->x + b->w && b->x < a->x + a->w &&
          a->y < b->y + b->h && b->y < a->y + a->h)
        g_test_fail_printf ("scene %" G_GUINT64_FORMAT " '%s': two %s objects overlap", index,
                            scene->caption, colours[a->colour]);
    }
  }

  /* A relation holds between the visible boxes: they do not even overlap along its axis. */
  if (relation != NULL && strcmp (relation, "and") != 0) {
    const WpShapesBox *a[WP_SHAPES_MAX_OBJECTS], *b[WP_SHAPES_MAX_OBJECTS];
    gboolean           holds = TRUE;

    boxes_of (scene, tokens, phrases[0].shape, a);
    boxes_of (scene, tokens, phrases[1].shape, b);
    if (strcmp (relation, "above") == 0)
      holds = a[0]->y + a[0]->h <= b[0]->y;
    else if (strcmp (relation, "below") == 0)
      holds = b[0]->y + b[0]->h <= a[0]->y;
    else if (strcmp (relation, "left") == 0)
      holds = a[0]->x + a[0]->w <= b[0]->x;
    else if (strcmp (relation, "right") == 0)
      holds = b[0]->x + b[0]->w <= a[0]->x;
    if (!holds)
      g_test_fail_printf ("scene %" G_GUINT64_FORMAT " '%s': the boxes do not show '%s'", index,
                          scene->caption, relation);
  }

  /* Size words against the box: small objects span at most 22% of the side (one pixel more
   * for anti-aliasing); big ones span at least 32%, of which a diamond hidden at both tips still
   * shows 20% (the averages are checked in test_vocabulary_covered). */
  for (int p = 0; p < n_phrases; p++) {
    const WpShapesBox *boxes[WP_SHAPES_MAX_OBJECTS];
    const int          n =
      phrases[p].size >= 0 ? boxes_of (scene, tokens, phrases[p].size, boxes) : 0;

    for (int k = 0; k < n && k < WP_SHAPES_MAX_OBJECTS; k++) {
      const int longer = MAX (boxes[k]->w, boxes[k]->h);

      if (strcmp (tokens[phrases[p].size], "small") == 0 ? longer > 0.22 * S + 1.0
                                                         : longer < 0.2 * S)
        g_test_fail_printf ("scene %" G_GUINT64_FORMAT " '%s': a '%s' box is %d x %d pixels", index,
                            scene->caption, tokens[phrases[p].size], boxes[k]->w, boxes[k]->h);
    }
  }
  if (phrases_out != NULL)
    memcpy (phrases_out, phrases, sizeof phrases);
  if (relation_out != NULL)
    *relation_out = relation != NULL ? g_intern_string (relation) : NULL;
  return n_phrases;
}

static void
test_captions_and_boxes (gconstpointer data)
{
  const WpShapesOptions options = options_for (GPOINTER_TO_INT (data), 21);

  for (guint64 i = 0; i < N_SCENES && !g_test_failed (); i++) {
    g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (&options, i);

    check_scene (scene, i, NULL, NULL);
  }
}

/* Other sizes keep the rules. */
static void
test_captions_other_sizes (void)
{
  const int sizes[] = { 32, 47, 128 };

  for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++) {
    WpShapesOptions options = options_for (WP_SHAPES_SPLIT_TEST, 4);

    options.size = sizes[s];
    for (guint64 i = 0; i < 30; i++) {
      g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (&options, i);

      g_assert_cmpint (scene->image->width, ==, sizes[s]);
      g_assert_cmpint (scene->image->height, ==, sizes[s]);
      check_scene (scene, i, NULL, NULL);
    }
  }
}

/* ---- colours ---- */

static void
rgb_to_hsv (const guint8 *rgb,
            double       *h,
            double       *s,
            double       *v)
{
  const double r = rgb[0] / 255.0, g = rgb[1] / 255.0, b = rgb[2] / 255.0;
  const double max = MAX (r, MAX (g, b)), min = MIN (r, MIN (g, b)), delta = max - min;

  *v = max;
  *s = max > 0.0 ? delta / max : 0.0;
  if (delta <= 0.0)
    *h = 0.0;
  else if (max == r)
    *h = fmod (60.0 * (g - b) / delta + 360.0, 360.0);
  else if (max == g)
    *h = 60.0 * (b - r) / delta + 120.0;
  else
    *h = 60.0 * (r - g) / delta + 240.0;
}

/* What a person would call the pixel, as an index into colours[], or -1 for background-like
 * (dark or greyish) pixels. Written from the colour names, not from the generator's bands. */
static int
classify (const guint8 *rgb)
{
  double h, s, v;

  rgb_to_hsv (rgb, &h, &s, &v);
  if (s < 0.2 && v > 0.8)
    return 7; /* white */
  if (s < 0.25 || v < 0.55)
    return -1;
  if (h >= 300.0 && h < 348.0 && s < 0.6 && v > 0.85)
    return 6; /* pink */
  if (h >= 345.0 || h < 16.0)
    return 0; /* red */
  if (h < 42.0)
    return 5; /* orange */
  if (h < 75.0)
    return 3; /* yellow */
  if (h < 170.0)
    return 1; /* green */
  if (h >= 185.0 && h < 250.0)
    return 2; /* blue */
  if (h >= 250.0 && h < 305.0)
    return 4; /* purple */
  return -1;
}

/* Signed distance in degrees from hue to centre, in (-180, 180]. */
static double
hue_offset (double hue,
            double centre)
{
  double d = fmod (hue - centre + 540.0, 360.0) - 180.0;

  return d;
}

/* In every colour word's box, pixels of that colour; the most common exact one (an object's flat
 * fill) lies in the split's part of the band. */
static void
test_box_colours (gconstpointer data)
{
  const WpShapesSplit   split = GPOINTER_TO_INT (data);
  const WpShapesOptions options = options_for (split, 33);
  int                   n_checked[8] = { 0 };

  for (guint64 i = 0; i < N_SCENES && !g_test_failed (); i++) {
    g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (&options, i);
    const WpImage *image = scene->image;

    for (guint b = 0; b < scene->n_boxes; b++) {
      const WpShapesBox *box = &scene->boxes[b];
      const int          colour = index_of (colours, G_N_ELEMENTS (colours), box->word);
      g_autoptr (GHashTable) counts = NULL;
      GHashTableIter iter;
      gpointer       key, value;
      guint32        mode = 0;
      int            n_match = 0, best = 0;
      double         h, s, v;
      guint8         fill[3];

      if (colour < 0)
        continue;
      counts = g_hash_table_new (NULL, NULL);
      for (int y = box->y; y < box->y + box->h; y++) {
        for (int x = box->x; x < box->x + box->w; x++) {
          const guint8 *p = image->rgb + ((gsize) y * image->width + x) * 3;
          const guint32 packed = (guint32) p[0] << 16 | (guint32) p[1] << 8 | p[2];

          if (classify (p) != colour)
            continue;
          n_match++;
          g_hash_table_insert (
            counts, GUINT_TO_POINTER (packed + 1),
            GINT_TO_POINTER (
              GPOINTER_TO_INT (g_hash_table_lookup (counts, GUINT_TO_POINTER (packed + 1))) + 1));
        }
      }
      if (n_match < MAX (2, box->w * box->h / 10)) {
        g_test_fail_printf ("scene %" G_GUINT64_FORMAT
                            " '%s': %d of the %d pixels in the box of '%s' are %s",
                            i, scene->caption, n_match, box->w * box->h, box->word, box->word);
        continue;
      }
      g_hash_table_iter_init (&iter, counts);
      while (g_hash_table_iter_next (&iter, &key, &value)) {
        const guint32 packed = GPOINTER_TO_UINT (key) - 1;

        /* Ties go to the smaller value, so the result does not depend on the table's order. */
        if (GPOINTER_TO_INT (value) > best || (GPOINTER_TO_INT (value) == best && packed < mode)) {
          best = GPOINTER_TO_INT (value);
          mode = packed;
        }
      }
      fill[0] = (guint8) (mode >> 16);
      fill[1] = (guint8) (mode >> 8);
      fill[2] = (guint8) mode;
      rgb_to_hsv (fill, &h, &s, &v);
      n_checked[colour]++;
      if (colour == 7) {
        const gboolean ok = split == WP_SHAPES_SPLIT_TRAIN ? s <= WHITE_SPLIT_SATURATION + 0.01
                                                           : s >= WHITE_SPLIT_SATURATION - 0.01;

        if (!ok)
          g_test_fail_printf ("scene %" G_GUINT64_FORMAT
                              " '%s': white fill (%d, %d, %d) has saturation %.3f",
                              i, scene->caption, fill[0], fill[1], fill[2], s);
      } else {
        const double   offset = fabs (hue_offset (h, hue_centre[colour])) / hue_half[colour];
        const double   slack = 1.0 / hue_half[colour]; /* a degree, for 8-bit rounding */
        const gboolean ok = split == WP_SHAPES_SPLIT_TRAIN
                              ? offset <= 0.5 + slack
                              : offset >= 0.5 - slack && offset <= 1.0 + slack;

        if (!ok)
          g_test_fail_printf (
            "scene %" G_GUINT64_FORMAT
            " '%s': %s fill (%d, %d, %d) has hue %.1f, %.2f half-bands from the centre",
            i, scene->caption, box->word, fill[0], fill[1], fill[2], h, offset);
      }
    }
  }
  for (int c = 0; c < 8; c++) {
    if (n_checked[c] < 10)
      g_test_fail_printf ("only %d '%s' boxes were checked", n_checked[c], colours[c]);
  }
}

/* ---- splits and vocabulary ---- */

static gboolean
phrase_is_held_out (const Phrase *phrase)
{
  return strcmp (held_out[phrase->colour_id], shapes[phrase->shape_id]) == 0;
}

static void
test_held_out_pairs (void)
{
  const WpShapesOptions train = options_for (WP_SHAPES_SPLIT_TRAIN, 8);
  const WpShapesOptions test = options_for (WP_SHAPES_SPLIT_TEST, 8);
  int                   n_test_held_out = 0;

  /* The API's list is the documented one. */
  for (int c = 0; c < WP_SHAPES_N_COLOURS; c++) {
    g_assert_cmpstr (wp_shapes_colour_name (c), ==, colours[c]);
    g_assert_cmpstr (wp_shapes_shape_name (wp_shapes_get_held_out_shape (c)), ==, held_out[c]);
  }
  for (guint64 i = 0; i < N_SCENES; i++) {
    g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (&train, i);
    Phrase phrases[2];
    int    n = check_scene (scene, i, phrases, NULL);

    for (int p = 0; p < n; p++) {
      if (phrase_is_held_out (&phrases[p]))
        g_test_fail_printf ("train scene %" G_GUINT64_FORMAT " captions a held-out pair: '%s'", i,
                            scene->caption);
    }
    for (guint k = 0; k < scene->n_objects; k++) {
      if (wp_shapes_get_held_out_shape (scene->objects[k].colour) == scene->objects[k].shape)
        g_test_fail_printf ("train scene %" G_GUINT64_FORMAT " ('%s') shows a held-out pair", i,
                            scene->caption);
    }
  }
  for (guint64 i = 0; i < N_SCENES; i++) {
    g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (&test, i);
    Phrase   phrases[2];
    int      n = check_scene (scene, i, phrases, NULL);
    gboolean any = FALSE;

    for (int p = 0; p < n; p++)
      any = any || phrase_is_held_out (&phrases[p]);
    n_test_held_out += any;
  }
  if (n_test_held_out < N_SCENES / 2)
    g_test_fail_printf ("only %d of %d test scenes caption a held-out pair", n_test_held_out,
                        N_SCENES);
}

/* Over 500 train scenes every word and template appears, and so do distractors and crowded
 * scenes. Every colour appears with each shape it is not held out with. */
static void
test_vocabulary_covered (void)
{
  const WpShapesOptions options = options_for (WP_SHAPES_SPLIT_TRAIN, 1);
  const char *const     others[] = { "small", "big", "two", "three", "and",
                                     "above", "below", "left", "right", "an" };
  gboolean              seen_pair[8][6] = { { FALSE } };
  int                   seen_other[G_N_ELEMENTS (others)] = { 0 };
  int                   n_distractors = 0, n_four = 0, n_single = 0, n_plural_and = 0;
  double                longer_sum[2] = { 0.0, 0.0 };
  int                   n_sized[2] = { 0, 0 };

  for (guint64 i = 0; i < 500; i++) {
    g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (&options, i);
    g_auto (GStrv) tokens = g_strsplit (scene->caption, " ", -1);
    Phrase phrases[2];
    int    n = check_scene (scene, i, phrases, NULL);

    for (int p = 0; p < n; p++)
      seen_pair[phrases[p].colour_id][phrases[p].shape_id] = TRUE;
    for (int t = 0; tokens[t] != NULL; t++) {
      const int o = index_of (others, G_N_ELEMENTS (others), tokens[t]);

      if (o >= 0)
        seen_other[o]++;
    }
    for (guint k = 0; k < scene->n_objects; k++)
      n_distractors += !scene->objects[k].captioned;
    for (guint b = 0; b < scene->n_boxes; b++) {
      const int big = strcmp (scene->boxes[b].word, "big") == 0;

      if (big || strcmp (scene->boxes[b].word, "small") == 0) {
        longer_sum[big] += MAX (scene->boxes[b].w, scene->boxes[b].h);
        n_sized[big]++;
      }
    }
    n_four += scene->n_objects == 4;
    n_single += n == 1 && phrases[0].n == 1;
    n_plural_and += n == 2 && (phrases[0].n > 1 || phrases[1].n > 1);
  }
  for (int c = 0; c < 8; c++) {
    for (int s = 0; s < 6; s++) {
      if (strcmp (held_out[c], shapes[s]) != 0 && !seen_pair[c][s])
        g_test_fail_printf ("no train caption has a %s %s", colours[c], shapes[s]);
    }
  }
  for (gsize o = 0; o < G_N_ELEMENTS (others); o++) {
    if (seen_other[o] < 5)
      g_test_fail_printf ("'%s' appears in %d of 500 captions", others[o], seen_other[o]);
  }
  /* Extents are drawn from 14-22% (small) and 32-45% (big) of the 64-pixel side. */
  g_assert_cmpint (n_sized[0], >=, 50);
  g_assert_cmpint (n_sized[1], >=, 50);
  g_assert_cmpfloat (longer_sum[0] / MAX (n_sized[0], 1), <=, 0.2 * 64);
  g_assert_cmpfloat (longer_sum[1] / MAX (n_sized[1], 1), >=, 0.3 * 64);
  g_assert_cmpint (n_distractors, >=, 50);
  g_assert_cmpint (n_four, >=, 10);
  g_assert_cmpint (n_single, >=, 50);
  g_assert_cmpint (n_plural_and, >=, 10);
}

/* ---- the command ---- */

/* The command under test, or NULL after marking the test skipped. */
static const char *
find_cli (void)
{
  const char *cli = g_getenv ("WORDPATCH_CLI");

  if (cli == NULL || !g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE)) {
    g_test_skip ("WORDPATCH_CLI is not set or not built");
    return NULL;
  }
  return cli;
}

/* Bad usage: status 2, one line on stderr naming the problem, nothing on stdout, nothing made. */
static void
expect_usage_error (const char *cli,
                    const char *dir,
                    const char *fragment,
                    Run        *run)
{
  g_assert_cmpint (run->status, ==, 2);
  g_assert_cmpstr (run->out, ==, "");
  g_assert_true (g_str_has_prefix (run->err, "wordpatch-cli shapes: "));
  assert_mentions (run->err, fragment);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  wp_test_run_clear (run);
}

static void
test_cli_arguments (void)
{
  const char      *cli = find_cli ();
  g_autofree char *root = NULL;
  g_autofree char *dir = NULL;
  g_auto (Run) run = { 0 };

  if (cli == NULL)
    return;
  root = wp_test_make_tmp_dir ("shapes");
  dir = g_build_filename (root, "out", NULL);
  run_cli (&run, "shapes", "--count", "3", "--seed", "1", NULL);
  expect_usage_error (cli, dir, "--out is required", &run);
  run_cli (&run, "shapes", "--out", dir, "--seed", "1", NULL);
  expect_usage_error (cli, dir, "--count is required", &run);
  run_cli (&run, "shapes", "--out", dir, "--count", "3", NULL);
  expect_usage_error (cli, dir, "--seed is required", &run);
  run_cli (&run, "shapes", "--out", dir, "--count", "0", "--seed", "1", NULL);
  expect_usage_error (cli, dir, "--count must be a whole number from 1 to 1000000, not '0'", &run);
  run_cli (&run, "shapes", "--out", dir, "--count", "1000001", "--seed", "1", NULL);
  expect_usage_error (cli, dir, "'1000001'", &run);
  run_cli (&run, "shapes", "--out", dir, "--count", "ten", "--seed", "1", NULL);
  expect_usage_error (cli, dir, "'ten'", &run);
  run_cli (&run, "shapes", "--out", dir, "--count", "3", "--seed", "-1", NULL);
  expect_usage_error (cli, dir, "--seed must be a whole number", &run);
  run_cli (&run, "shapes", "--out", dir, "--count", "3", "--seed", "1", "--size", "31", NULL);
  expect_usage_error (cli, dir, "--size must be a whole number from 32 to 512, not '31'", &run);
  run_cli (&run, "shapes", "--out", dir, "--count", "3", "--seed", "1", "--size", "513", NULL);
  expect_usage_error (cli, dir, "'513'", &run);
  run_cli (&run, "shapes", "--out", dir, "--count", "3", "--seed", "1", "--split", "valid", NULL);
  expect_usage_error (cli, dir, "unknown --split 'valid'", &run);
  run_cli (&run, "shapes", "--out", dir, "--count", "3", "--seed", "1", "extra", NULL);
  expect_usage_error (cli, dir, "unexpected argument 'extra'", &run);
  run_cli (&run, "shapes", "--out", dir, "--count", "3", "--seed", "1", "--bogus", NULL);
  expect_usage_error (cli, dir, "--bogus", &run);
  remove_tree (root);
}

/* A run writes what the library writes; a second run into the same folder fails with status 1
 * and leaves the first dataset alone. */
static void
test_cli_writes_and_refuses (void)
{
  const char      *cli = find_cli ();
  g_autofree char *root = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *reference = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *captions = NULL;
  g_autofree char *reference_captions = NULL;
  g_autoptr (GBytes) before = NULL;
  g_autoptr (GBytes) after = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (Run) run = { 0 };
  WpShapesOptions options = options_for (WP_SHAPES_SPLIT_TEST, 99);

  if (cli == NULL)
    return;
  root = wp_test_make_tmp_dir ("shapes");
  dir = g_build_filename (root, "out", NULL);
  reference = g_build_filename (root, "reference", NULL);
  captions = g_build_filename (dir, "captions.jsonl", NULL);
  reference_captions = g_build_filename (reference, "captions.jsonl", NULL);

  run_cli (&run, "shapes", "--out", dir, "--count", "4", "--seed", "99", "--split", "test",
           "--size", "48", NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_cmpstr (run.err, ==, "");
  expected = g_strdup_printf ("wrote 4 scenes to %s", dir);
  g_assert_true (g_str_has_prefix (run.out, expected));
  options.size = 48;
  g_assert_true (wp_shapes_write_dataset (reference, 4, &options, &error));
  g_assert_no_error (error);
  assert_same_file (captions, reference_captions);
  for (int i = 0; i < 4; i++) {
    g_autofree char *name = g_strdup_printf ("images/%06d.png", i);
    g_autofree char *a = g_build_filename (dir, name, NULL);
    g_autofree char *b = g_build_filename (reference, name, NULL);

    assert_same_file (a, b);
  }
  wp_test_run_clear (&run);

  before = read_file (captions);
  run_cli (&run, "shapes", "--out", dir, "--count", "2", "--seed", "5", NULL);
  g_assert_cmpint (run.status, ==, 1);
  g_assert_cmpstr (run.out, ==, "");
  g_assert_true (g_str_has_prefix (run.err, "wordpatch-cli: "));
  assert_mentions (run.err, dir);
  assert_mentions (run.err, "captions.jsonl");
  after = read_file (captions);
  g_assert_true (g_bytes_equal (before, after));
  remove_tree (root);
}

int
main (int   argc,
      char *argv[])
{
  wp_test_init (&argc, &argv);

  g_test_add_func ("/shapes/png/round-trip", test_png_round_trip);
  g_test_add_func ("/shapes/png/utf8-text", test_png_utf8_text);
  g_test_add_func ("/shapes/png/unwritable-path", test_png_unwritable);
  g_test_add_func ("/shapes/png/bad-text", test_png_bad_text);
  g_test_add_func ("/shapes/scene/deterministic", test_scene_deterministic);
  g_test_add_func ("/shapes/dataset/deterministic-and-prefix", test_dataset_deterministic);
  g_test_add_func ("/shapes/dataset/format", test_dataset_format);
  g_test_add_func ("/shapes/dataset/refuses-overwrite", test_dataset_refuses_overwrite);
  g_test_add_data_func ("/shapes/captions/boxes-train", GINT_TO_POINTER (WP_SHAPES_SPLIT_TRAIN),
                        test_captions_and_boxes);
  g_test_add_data_func ("/shapes/captions/boxes-test", GINT_TO_POINTER (WP_SHAPES_SPLIT_TEST),
                        test_captions_and_boxes);
  g_test_add_func ("/shapes/captions/other-sizes", test_captions_other_sizes);
  g_test_add_data_func ("/shapes/colours/train-inner-band", GINT_TO_POINTER (WP_SHAPES_SPLIT_TRAIN),
                        test_box_colours);
  g_test_add_data_func ("/shapes/colours/test-outer-band", GINT_TO_POINTER (WP_SHAPES_SPLIT_TEST),
                        test_box_colours);
  g_test_add_func ("/shapes/splits/held-out-pairs", test_held_out_pairs);
  g_test_add_func ("/shapes/vocabulary/covered", test_vocabulary_covered);
  g_test_add_func ("/shapes/cli/arguments", test_cli_arguments);
  g_test_add_func ("/shapes/cli/writes-and-refuses", test_cli_writes_and_refuses);
  return g_test_run ();
}
