#include "cli-harness.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>

void
wp_test_run_clear (Run *run)
{
  g_clear_pointer (&run->out, g_free);
  g_clear_pointer (&run->err, g_free);
}

gboolean
have_cli (void)
{
  if (g_getenv ("WORDPATCH_CLI") != NULL)
    return TRUE;
  g_test_skip ("WORDPATCH_CLI is not set");
  return FALSE;
}

/* $WORDPATCH_CLI and args, NULL-terminated. */
static GPtrArray *
cli_argv (const char *const *args)
{
  GPtrArray *argv = g_ptr_array_new ();

  g_ptr_array_add (argv, (gpointer) g_getenv ("WORDPATCH_CLI"));
  for (gsize i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  return argv;
}

void
run_cli_argv (Run                 *run,
              const char *const   *args,
              GSpawnChildSetupFunc child_setup,
              gpointer             user_data)
{
  g_autoptr (GPtrArray) argv = cli_argv (args);
  g_autoptr (GError) error = NULL;
  int wait_status = 0;

  run->status = -1;
  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, child_setup, user_data,
                     &run->out, &run->err, &wait_status, &error)) {
    g_test_fail_printf ("cannot run %s: %s", g_getenv ("WORDPATCH_CLI"), error->message);
    run->out = g_strdup ("");
    run->err = g_strdup ("");
    return;
  }
  if (WIFEXITED (wait_status))
    run->status = WEXITSTATUS (wait_status);
}

GPid
spawn_cli (const char *const *args)
{
  g_autoptr (GPtrArray) argv = cli_argv (args);
  g_autoptr (GError) error = NULL;
  GPid pid = 0;

  g_spawn_async (NULL, (char **) argv->pdata, NULL,
                 G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL |
                   G_SPAWN_STDERR_TO_DEV_NULL,
                 NULL, NULL, &pid, &error);
  g_assert_no_error (error);
  return pid;
}

void
run_cli (Run *run,
         ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  const char *arg;
  va_list     ap;

  va_start (ap, run);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (args, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  run_cli_argv (run, (const char *const *) args->pdata, NULL, NULL);
}

gboolean
write_disc_image (const char *path,
                  int         W,
                  int         H,
                  guint32     rgb)
{
  g_autofree guint8 *pixels = g_new (guint8, W * H * 3);
  g_autoptr (GByteArray) png = NULL;
  g_autoptr (GError) error = NULL;

  for (int y = 0; y < H; y++) {
    for (int x = 0; x < W; x++) {
      guint8  *p = pixels + (y * W + x) * 3;
      gboolean inside = (x - W / 2) * (x - W / 2) + (y - H / 2) * (y - H / 2) < (H / 3) * (H / 3);

      p[0] = inside ? (guint8) (rgb >> 16) : 255;
      p[1] = inside ? (guint8) (rgb >> 8) : 255;
      p[2] = inside ? (guint8) rgb : 255;
    }
  }
  png = wp_test_encode_image ("png", pixels, W, H, 3);
  g_file_set_contents (path, (const char *) png->data, png->len, &error);
  g_assert_no_error (error);
  return error == NULL;
}

gboolean
write_test_image (const char *path)
{
  return write_disc_image (path, 80, 60, 0xff0000);
}

void
assert_failure (const Run  *run,
                const char *fragment1,
                const char *fragment2,
                const char *fragment3)
{
  const char *newline = strchr (run->err, '\n');

  g_assert_cmpint (run->status, ==, 1);
  g_assert_cmpstr (run->out, ==, "");
  if (!g_str_has_prefix (run->err, "wordpatch-cli: ") || newline == NULL || newline[1] != '\0')
    g_test_fail_printf ("stderr is not one line \"wordpatch-cli: ...\": \"%s\"", run->err);
  if (fragment1 != NULL)
    assert_mentions (run->err, fragment1);
  if (fragment2 != NULL)
    assert_mentions (run->err, fragment2);
  if (fragment3 != NULL)
    assert_mentions (run->err, fragment3);
}

void
assert_usage_error (const Run  *run,
                    const char *command,
                    const char *fragment)
{
  g_autofree char *prefix = g_strdup_printf ("wordpatch-cli %s: ", command);
  const char      *newline = strchr (run->err, '\n');

  g_assert_cmpint (run->status, ==, 2);
  g_assert_cmpstr (run->out, ==, "");
  if (!g_str_has_prefix (run->err, prefix) || newline == NULL || newline[1] != '\0')
    g_test_fail_printf ("stderr is not one line \"%s...\": \"%s\"", prefix, run->err);
  assert_mentions (run->err, fragment);
}

JsonObject *
parse_object (JsonParser *parser,
              const char *text)
{
  g_autoptr (GError) error = NULL;
  JsonNode *root;

  if (!json_parser_load_from_data (parser, text, -1, &error)) {
    g_test_fail_printf ("output is not JSON (%s): %s", error->message, text);
    return NULL;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_test_fail_printf ("output is not a JSON object: %s", text);
    return NULL;
  }
  return json_node_get_object (root);
}

JsonObject *
parse_object_file (JsonParser *parser,
                   const char *path)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return parse_object (parser, text);
}

double
eval_class_value (JsonObject *result,
                  const char *group,
                  const char *word_class,
                  const char *row,
                  const char *key)
{
  JsonObject *classes = result != NULL ? json_object_get_object_member (result, group) : NULL;
  JsonObject *entry = classes != NULL ? json_object_get_object_member (classes, word_class) : NULL;

  if (entry != NULL && row != NULL)
    entry = json_object_get_object_member (entry, row);

  g_assert_nonnull (entry);
  return entry != NULL ? json_object_get_double_member (entry, key) : NAN;
}
