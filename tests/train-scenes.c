/* train-scenes.c: the training tests' dataset and what they read back from a run. */
#include "train-scenes.h"

#include <json-glib/json-glib.h>
#include <signal.h>
#include <stb_image_write.h>
#include <string.h>
#include <sys/wait.h>

#include "cli-harness.h"
#include "wordpatch/rng.h"

char *tmp_dir;
char *data_dir;

static const struct {
  const char *name;
  guint8      rgb[3];
} colours[] = {
  { "red", { 220, 30, 30 } },
  { "green", { 30, 190, 40 } },
  { "blue", { 30, 50, 220 } },
  { "yellow", { 235, 225, 30 } },
};

static void
write_scene (const char *path,
             int         colour,
             gboolean    disc,
             WpRng      *rng)
{
  const int S = 64, r = 10 + (int) (wp_rng_uniform (rng) * 6);
  const int cx = r + (int) (wp_rng_uniform (rng) * (S - 2 * r)),
            cy = r + (int) (wp_rng_uniform (rng) * (S - 2 * r));
  guint8 pixels[64 * 64 * 3];

  for (int y = 0; y < S; y++) {
    for (int x = 0; x < S; x++) {
      const gboolean inside = disc ? (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r
                                   : ABS (x - cx) <= r && ABS (y - cy) <= r;

      for (int c = 0; c < 3; c++)
        pixels[(y * S + x) * 3 + c] = inside ? colours[colour].rgb[c] : 128;
    }
  }
  g_assert_true (stbi_write_png (path, S, S, 3, pixels, S * 3));
}

/* n scenes in dir/images and their captions.jsonl, with extra lines appended. */
char *
make_dataset (const char *name,
              int         n,
              const char *extra_lines)
{
  char            *dir = g_build_filename (tmp_dir, name, NULL);
  g_autofree char *images = g_build_filename (dir, "images", NULL);
  g_autofree char *captions = g_build_filename (dir, "captions.jsonl", NULL);
  g_autoptr (GString) lines = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  WpRng rng;

  wp_rng_init (&rng, 11);
  g_assert_cmpint (g_mkdir_with_parents (images, 0755), ==, 0);
  for (int i = 0; i < n; i++) {
    const int        colour = i % 4;
    const gboolean   disc = (i / 4) % 2 == 0;
    g_autofree char *file = g_strdup_printf ("images/%04d.png", i);
    g_autofree char *path = g_build_filename (dir, file, NULL);

    write_scene (path, colour, disc, &rng);
    g_string_append_printf (lines, "{\"image\": \"%s\", \"caption\": \"a %s %s\"}\n", file,
                            colours[colour].name, disc ? "disc" : "square");
  }
  g_string_append (lines, extra_lines);
  g_file_set_contents (captions, lines->str, (gssize) lines->len, &error);
  g_assert_no_error (error);
  return dir;
}

gboolean
ensure_data (void)
{
  if (!have_cli ())
    return FALSE;
  if (data_dir != NULL)
    return TRUE;
  tmp_dir = wp_test_make_tmp_dir ("train");
  data_dir = make_dataset ("scenes", 160, "");
  return !g_test_failed ();
}

char *
out_path (const char *name)
{
  return g_build_filename (tmp_dir, name, NULL);
}

void
remove_scenes (void)
{
  if (tmp_dir != NULL)
    remove_tree (tmp_dir);
  g_clear_pointer (&tmp_dir, g_free);
  g_clear_pointer (&data_dir, g_free);
}

void
metrics_clear (Metrics *m)
{
  g_clear_pointer (&m->losses, g_array_unref);
  g_clear_pointer (&m->eval_steps, g_array_unref);
  g_clear_pointer (&m->eval_recall, g_array_unref);
}

void
read_metrics (const char *out,
              Metrics    *m)
{
  g_autofree char *path = g_build_filename (out, "metrics.jsonl", NULL);
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GError) error = NULL;

  m->losses = g_array_new (FALSE, FALSE, sizeof (double));
  m->eval_steps = g_array_new (FALSE, FALSE, sizeof (gint64));
  m->eval_recall = g_array_new (FALSE, FALSE, sizeof (double));
  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  if (text == NULL)
    return;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++) {
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *obj;
    gint64      step;

    json_parser_load_from_data (parser, lines[i], -1, &error);
    g_assert_no_error (error);
    obj = json_node_get_object (json_parser_get_root (parser));
    step = json_object_get_int_member (obj, "step");
    if (json_object_has_member (obj, "eval")) {
      JsonObject *eval = json_object_get_object_member (obj, "eval");
      double      recall = json_object_get_double_member (eval, "i2t_r1") +
                      json_object_get_double_member (eval, "t2i_r1");

      g_array_append_val (m->eval_steps, step);
      g_array_append_val (m->eval_recall, recall);
    } else {
      double loss = json_object_get_double_member (obj, "loss");

      g_assert_cmpint (step, ==, m->losses->len + 1);
      g_array_append_val (m->losses, loss);
    }
  }
}

void
assert_same_files (const char *dir_a,
                   const char *dir_b,
                   const char *name)
{
  g_autofree char *a = g_build_filename (dir_a, name, NULL);
  g_autofree char *b = g_build_filename (dir_b, name, NULL);
  g_autofree char *da = NULL;
  g_autofree char *db = NULL;
  gsize            la = 0, lb = 0;

  g_assert_true (g_file_get_contents (a, &da, &la, NULL));
  g_assert_true (g_file_get_contents (b, &db, &lb, NULL));
  g_assert_cmpmem (da, la, db, lb);
}

void
wait_for_step (const char *out,
               guint       min_step,
               GPid        pid)
{
  g_autofree char *path = g_build_filename (out, "metrics.jsonl", NULL);

  for (;;) {
    g_autofree char *text = NULL;
    guint            steps = 0;

    if (waitpid (pid, NULL, WNOHANG) != 0) {
      g_test_fail_printf ("the run in %s stopped before step %u", out, min_step);
      return;
    }
    if (g_file_get_contents (path, &text, NULL, NULL)) {
      for (const char *p = text; (p = strstr (p, "\"loss\"")) != NULL; p++)
        steps++;
    }
    if (steps >= min_step)
      return;
    g_usleep (20000);
  }
}

int
reap (GPid pid)
{
  int status = 0;

  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  return status;
}

void
assert_same_latest (const char *run_a,
                    const char *run_b,
                    gboolean    optimizer)
{
  g_autofree char *a = g_build_filename (run_a, "latest", NULL);
  g_autofree char *b = g_build_filename (run_b, "latest", NULL);

  assert_same_files (a, b, "model.safetensors");
  if (optimizer) {
    assert_same_files (a, b, "adam_m.safetensors");
    assert_same_files (a, b, "adam_v.safetensors");
  }
}

void
stop_run (const char *const *args,
          const char        *out,
          guint              min_step,
          gulong             delay_us,
          int                signal)
{
  const GPid pid = spawn_cli (args);
  int        status;

  wait_for_step (out, min_step, pid);
  g_usleep (delay_us);
  kill (pid, signal);
  status = reap (pid);
  if (signal == SIGINT) {
    g_assert_true (WIFEXITED (status));
    g_assert_cmpint (WEXITSTATUS (status), ==, 130);
  } else {
    g_assert_true (WIFSIGNALED (status));
    g_assert_cmpint (WTERMSIG (status), ==, signal);
  }
}
