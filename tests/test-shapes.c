/* test-shapes.c: the synthetic scene generator's determinism, its PNG writer, the dataset it writes
 * and the "shapes" command (run from $WORDPATCH_CLI when it is built). Captions, boxes and colours
 * are checked in test-shapes-captions.c. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli-harness.h"
#include "shapes-words.h"
#include "shapes.h"
#include "test-util.h"
#include "wordpatch/dataset.h"
#include "wordpatch/error.h"
#include "wordpatch/image.h"

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
  const WpShapesOptions train = wp_test_shapes_options (WP_SHAPES_SPLIT_TRAIN, 5);
  const WpShapesOptions other_seed = wp_test_shapes_options (WP_SHAPES_SPLIT_TRAIN, 6);
  const WpShapesOptions test = wp_test_shapes_options (WP_SHAPES_SPLIT_TEST, 5);
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
  const WpShapesOptions options = wp_test_shapes_options (WP_SHAPES_SPLIT_TEST, 11);
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
  const WpShapesOptions options = wp_test_shapes_options (WP_SHAPES_SPLIT_TRAIN, 3);
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
  const WpShapesOptions options = wp_test_shapes_options (WP_SHAPES_SPLIT_TRAIN, 1);
  const WpShapesOptions other = wp_test_shapes_options (WP_SHAPES_SPLIT_TRAIN, 2);
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
  WpShapesOptions options = wp_test_shapes_options (WP_SHAPES_SPLIT_TEST, 99);

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
  g_test_add_func ("/shapes/cli/arguments", test_cli_arguments);
  g_test_add_func ("/shapes/cli/writes-and-refuses", test_cli_writes_and_refuses);
  return g_test_run ();
}
