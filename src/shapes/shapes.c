/* shapes.c: the synthetic scene generator (shapes.h says what scenes hold): scenes, their
 * captions and boxes, and dataset files.
 *
 * A scene is planned, coloured and placed (shapes_plan.c), drawn over its background
 * (shapes_background.c) in drawing order, fill and rim composited by their coverage, and
 * captioned. Everything random comes from one WpRng per scene. */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shapes-private.h"
#include "wordpatch/error.h"

#define DEFAULT_SIZE     64
#define DEFAULT_SEED     1
#define MIN_IMAGE_DIGITS 6

static const char *const colour_names[WP_SHAPES_N_COLOURS] = {
  "red", "green", "blue", "yellow", "purple", "orange", "pink", "white"
};

static const char *const shape_names[WP_SHAPES_N_SHAPES] = { "circle", "square", "triangle",
                                                             "star", "cross", "diamond" };

static const char *const shape_plurals[WP_SHAPES_N_SHAPES] = { "circles", "squares", "triangles",
                                                               "stars", "crosses", "diamonds" };

static const char *const relation_words[N_RELATIONS][2] = {
  { NULL, NULL },
  { "above", NULL },
  { "below", NULL },
  { "left", "of" },
  { "right", "of" },
};

const char *
wp_shapes_colour_name (WpShapesColour colour)
{
  g_return_val_if_fail (colour < WP_SHAPES_N_COLOURS, NULL);
  return colour_names[colour];
}

const char *
wp_shapes_shape_name (WpShapesShape shape)
{
  g_return_val_if_fail (shape < WP_SHAPES_N_SHAPES, NULL);
  return shape_names[shape];
}

void
wp_shapes_options_init (WpShapesOptions *options)
{
  options->size = DEFAULT_SIZE;
  options->seed = DEFAULT_SEED;
  options->split = WP_SHAPES_SPLIT_TRAIN;
}

static guint64
mix64 (guint64 x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

typedef struct {
  const char *text;
  int         group; /* the group it describes, -1 for a word without a box */
} Word;

static int
add_phrase (const Plan *plan,
            int         g,
            Word       *words,
            int         n)
{
  const Group *group = &plan->groups[g];
  const char  *size = group->big ? "big" : "small";
  const char  *next = group->say_size ? size : colour_names[group->colour];

  if (group->n == 1)
    words[n++] = (Word){ strchr ("aeiou", next[0]) != NULL ? "an" : "a", -1 };
  else
    words[n++] = (Word){ group->n == 2 ? "two" : "three", -1 };
  if (group->say_size)
    words[n++] = (Word){ size, g };
  words[n++] = (Word){ colour_names[group->colour], g };
  words[n++] = (Word){ group->n == 1 ? shape_names[group->shape] : shape_plurals[group->shape], g };
  return n;
}

/* The caption and its boxes: for each word describing a group, one box per object of it. */
static void
write_caption (const Plan    *plan,
               WpShapesScene *scene)
{
  Word     words[16];
  int      n = 0;
  GString *caption = g_string_new (NULL);

  switch (plan->template) {
  case TEMPLATE_ONE:
  case TEMPLATE_MANY:
    n = add_phrase (plan, 0, words, n);
    break;
  case TEMPLATE_AND:
    n = add_phrase (plan, 0, words, n);
    words[n++] = (Word){ "and", -1 };
    n = add_phrase (plan, 1, words, n);
    break;
  case TEMPLATE_RELATION:
    n = add_phrase (plan, 0, words, n);
    for (int i = 0; i < 2 && relation_words[plan->relation][i] != NULL; i++)
      words[n++] = (Word){ relation_words[plan->relation][i], -1 };
    n = add_phrase (plan, 1, words, n);
    break;
  case TEMPLATE_MANY_AND_ONE:
    n = add_phrase (plan, plan->many_first ? 0 : 1, words, n);
    words[n++] = (Word){ "and", -1 };
    n = add_phrase (plan, plan->many_first ? 1 : 0, words, n);
    break;
  default:
    g_assert_not_reached ();
  }
  g_assert (n <= (int) G_N_ELEMENTS (words));

  scene->boxes = g_new0 (WpShapesBox, (gsize) n * plan->n_objects);
  for (int i = 0; i < n; i++) {
    int occurrence = 0;

    g_string_append_printf (caption, "%s%s", i > 0 ? " " : "", words[i].text);
    if (words[i].group < 0)
      continue;
    for (int j = 0; j < i; j++)
      occurrence += strcmp (words[j].text, words[i].text) == 0;
    for (int k = 0; k < plan->n_objects; k++) {
      const Object *object = &plan->objects[k];
      WpShapesBox  *box = &scene->boxes[scene->n_boxes];

      if (object->group != words[i].group)
        continue;
      box->word = g_strdup (words[i].text);
      box->occurrence = occurrence;
      box->x = object->x;
      box->y = object->y;
      box->w = object->w;
      box->h = object->h;
      scene->n_boxes++;
    }
  }
  scene->caption = g_string_free (caption, FALSE);
}

static guint64
scene_seed (const WpShapesOptions *options,
            guint64                index)
{
  return mix64 (mix64 (mix64 (options->seed) ^ index) ^ ((guint64) options->split + 1));
}

WpShapesScene *
wp_shapes_scene_new (const WpShapesOptions *options,
                     guint64                index)
{
  g_autofree float *transmittance = NULL;
  g_autofree float *canvas = NULL;
  WpShapesScene    *scene;
  WpRng             rng;
  Plan              plan;
  int               S;

  g_return_val_if_fail (options != NULL, NULL);
  g_return_val_if_fail (options->size >= WP_SHAPES_MIN_SIZE && options->size <= WP_SHAPES_MAX_SIZE,
                        NULL);
  g_return_val_if_fail (
    options->split == WP_SHAPES_SPLIT_TRAIN || options->split == WP_SHAPES_SPLIT_TEST, NULL);

  S = options->size;

  wp_rng_init (&rng, scene_seed (options, index));
  transmittance = g_new (float, (gsize) S *S);
  canvas = g_new (float, (gsize) S *S * 3);
  wp_shapes_make_plan (&plan, &rng, options->split, S, transmittance);
  wp_shapes_render_background (canvas, &rng, &plan, S, options->split);

  /* Objects over the background in drawing order, fill and rim as premultiplied layers. */
  for (int k = 0; k < plan.n_objects; k++) {
    const Object *object = &plan.objects[k];

    for (int j = 0; j < object->bh; j++) {
      for (int i = 0; i < object->bw; i++) {
        const gsize  p = (gsize) j * object->bw + i;
        const double fill = object->fill_cov[p], rim = object->rim_cov[p];
        float       *pixel = canvas + 3 * ((gsize) (object->by + j) * S + object->bx + i);

        if (fill + rim <= 0.0)
          continue;
        for (int c = 0; c < 3; c++)
          pixel[c] = (float) (pixel[c] * (1.0 - fill - rim) + fill * object->fill_rgb[c] +
                              rim * object->rim_rgb[c]);
      }
    }
  }

  scene = g_new0 (WpShapesScene, 1);
  scene->image = wp_image_new (S, S);
  for (gsize i = 0; i < (gsize) S * S * 3; i++)
    scene->image->rgb[i] = (guint8) (CLAMP (canvas[i], 0.0f, 1.0f) * 255.0f + 0.5f);
  for (int k = 0; k < plan.n_objects; k++) {
    const Object   *object = &plan.objects[k];
    WpShapesObject *out = &scene->objects[k];

    out->colour = object->colour;
    out->shape = object->shape;
    out->big = object->big;
    out->captioned = object->group >= 0;
    out->x = object->x;
    out->y = object->y;
    out->w = object->w;
    out->h = object->h;
  }
  scene->n_objects = (guint) plan.n_objects;
  write_caption (&plan, scene);
  wp_shapes_clear_plan (&plan);
  return scene;
}

void
wp_shapes_scene_free (WpShapesScene *scene)
{
  if (scene == NULL)
    return;
  wp_image_free (scene->image);
  g_free (scene->caption);
  for (guint i = 0; i < scene->n_boxes; i++)
    g_free (scene->boxes[i].word);
  g_free (scene->boxes);
  g_free (scene);
}

/* ---- files ---- */

static void
append_json_string (GString    *out,
                    const char *text)
{
  g_string_append_c (out, '"');
  for (const char *p = text; *p != '\0'; p++) {
    const guchar c = (guchar) *p;

    if (c == '"' || c == '\\')
      g_string_append_printf (out, "\\%c", c);
    else if (c < 0x20)
      g_string_append_printf (out, "\\u%04x", c);
    else
      g_string_append_c (out, (char) c);
  }
  g_string_append_c (out, '"');
}

char *
wp_shapes_scene_to_json (const WpShapesScene *scene,
                         const char          *image_name)
{
  GString *line;

  g_return_val_if_fail (scene != NULL && image_name != NULL, NULL);

  line = g_string_new ("{\"image\": ");
  append_json_string (line, image_name);
  g_string_append (line, ", \"caption\": ");
  append_json_string (line, scene->caption);
  g_string_append (line, ", \"boxes\": [");
  for (guint i = 0; i < scene->n_boxes; i++) {
    const WpShapesBox *box = &scene->boxes[i];

    g_string_append (line, i > 0 ? ", {\"word\": " : "{\"word\": ");
    append_json_string (line, box->word);
    g_string_append_printf (line,
                            ", \"occurrence\": %d, \"x\": %d, \"y\": %d, \"w\": %d, \"h\": %d}",
                            box->occurrence, box->x, box->y, box->w, box->h);
  }
  g_string_append (line, "], \"objects\": [");
  for (guint k = 0; k < scene->n_objects; k++) {
    const WpShapesObject *object = &scene->objects[k];

    g_string_append_printf (line,
                            "%s{\"colour\": \"%s\", \"shape\": \"%s\", \"size\": \"%s\", "
                            "\"captioned\": %s, \"x\": %d, \"y\": %d, \"w\": %d, \"h\": %d}",
                            k > 0 ? ", " : "", colour_names[object->colour],
                            shape_names[object->shape], object->big ? "big" : "small",
                            object->captioned ? "true" : "false", object->x, object->y, object->w,
                            object->h);
  }
  g_string_append (line, "]}");
  return g_string_free (line, FALSE);
}

static gboolean
set_errno_error (GError    **error,
                 int         saved_errno,
                 const char *path,
                 const char *what)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s: %s: %s", path, what,
               g_strerror (saved_errno));
  return FALSE;
}

gboolean
wp_shapes_write_dataset (const char            *dir,
                         guint                  count,
                         const WpShapesOptions *options,
                         GError               **error)
{
  g_autofree char *images_dir = NULL;
  g_autofree char *captions_path = NULL;
  g_autofree char *tmp_path = NULL;
  g_autoptr (GHashTable) text = NULL;
  int   digits = MIN_IMAGE_DIGITS;
  FILE *fp;
  int   fd;

  g_return_val_if_fail (dir != NULL && options != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (options->size < WP_SHAPES_MIN_SIZE || options->size > WP_SHAPES_MAX_SIZE) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "scene size %d is outside %d..%d pixels",
                 options->size, WP_SHAPES_MIN_SIZE, WP_SHAPES_MAX_SIZE);
    return FALSE;
  }
  if (count == 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "%s: a dataset needs at least one scene", dir);
    return FALSE;
  }
  captions_path = g_build_filename (dir, "captions.jsonl", NULL);
  if (g_file_test (captions_path, G_FILE_TEST_EXISTS)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                 "%s already holds a captions.jsonl; not overwriting it (choose a new folder)",
                 dir);
    return FALSE;
  }
  images_dir = g_build_filename (dir, "images", NULL);
  if (g_mkdir_with_parents (images_dir, 0777) != 0)
    return set_errno_error (error, errno, images_dir, "cannot create the folder");
  tmp_path = g_strdup_printf ("%s.XXXXXX", captions_path);
  fd = g_mkstemp_full (tmp_path, O_WRONLY, 0666);
  if (fd < 0)
    return set_errno_error (error, errno, captions_path,
                            "cannot create a temporary file to write it");
  fp = fdopen (fd, "w");
  if (fp == NULL) {
    const int saved_errno = errno;

    close (fd);
    g_unlink (tmp_path);
    return set_errno_error (error, saved_errno, captions_path, "cannot write");
  }

  for (guint64 n = count - 1; n >= 1000000 && digits < 20; n /= 10)
    digits++;
  text = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < count; i++) {
    g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (options, i);
    g_autofree char *name = g_strdup_printf ("images/%0*u.png", digits, i);
    g_autofree char *path = g_build_filename (dir, name, NULL);
    g_autofree char *comment = g_strdup_printf (
      "wordpatch shapes: seed %" G_GUINT64_FORMAT ", %s split, scene %u", options->seed,
      options->split == WP_SHAPES_SPLIT_TRAIN ? "train" : "test", i);
    g_autofree char *line = NULL;

    g_hash_table_insert (text, "Description", scene->caption);
    g_hash_table_insert (text, "Comment", comment);
    if (!wp_image_save_png (scene->image, path, text, error)) {
      fclose (fp);
      g_unlink (tmp_path);
      return FALSE;
    }
    g_hash_table_remove_all (text);
    line = wp_shapes_scene_to_json (scene, name);
    if (fputs (line, fp) < 0 || fputc ('\n', fp) < 0) {
      const int saved_errno = errno;

      fclose (fp);
      g_unlink (tmp_path);
      return set_errno_error (error, saved_errno, captions_path, "cannot write");
    }
  }
  if (fflush (fp) != 0 || ferror (fp)) {
    const int saved_errno = errno;

    fclose (fp);
    g_unlink (tmp_path);
    return set_errno_error (error, saved_errno, captions_path, "cannot write");
  }
  if (fclose (fp) != 0) {
    const int saved_errno = errno;

    g_unlink (tmp_path);
    return set_errno_error (error, saved_errno, captions_path, "cannot write");
  }
  if (g_rename (tmp_path, captions_path) != 0) {
    const int saved_errno = errno;

    g_unlink (tmp_path);
    return set_errno_error (error, saved_errno, captions_path,
                            "cannot move the written file into place");
  }
  return TRUE;
}
