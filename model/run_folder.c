/* The run folder (trainer.h): checkpoints, the latest link, metrics.jsonl. */
#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "wordpatch/error.h"

#include "json-private.h"
#include "trainer-private.h"

#define STATE_FORMAT 1

/* "PATH: cannot WHAT: reason" */
static gboolean
fail_with_errno (GError    **error,
                 int         saved_errno,
                 const char *path,
                 const char *what)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s: cannot %s: %s",
               path, what, g_strerror (saved_errno));
  return FALSE;
}

gboolean
wp_run_make_folder (const char *path,
                    GError    **error)
{
  if (g_mkdir_with_parents (path, 0755) != 0)
    return fail_with_errno (error, errno, path, "create folder");
  return TRUE;
}

static gboolean
remove_tree (const char *path,
             GError    **error)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
    g_autoptr (GDir) dir = g_dir_open (path, 0, error);
    const char *name;

    if (dir == NULL)
      return FALSE;
    while ((name = g_dir_read_name (dir)) != NULL) {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (!remove_tree (child, error))
        return FALSE;
    }
  }
  if (g_remove (path) != 0 && errno != ENOENT)
    return fail_with_errno (error, errno, path, "remove");
  return TRUE;
}

static gboolean
rename_or_fail (const char *from,
                const char *to,
                GError    **error)
{
  if (g_rename (from, to) != 0) {
    int saved_errno = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                 "cannot rename %s to %s: %s", from, to, g_strerror (saved_errno));
    return FALSE;
  }
  return TRUE;
}

/* ---- checkpoints ---- */

static gint64
parse_checkpoint_name (const char *name)
{
  guint64 step;

  if (!g_str_has_prefix (name, "step-") ||
      !g_ascii_string_to_unsigned (name + 5, 10, 0, G_MAXINT64, &step, NULL))
    return -1;
  return (gint64) step;
}

static gint
compare_steps (gconstpointer a,
               gconstpointer b)
{
  const gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return (x > y) - (x < y);
}

/* Steps of the checkpoints under OUT/checkpoints, ascending; removes unfinished ones. */
static GArray *
list_checkpoints (const char *out_dir)
{
  g_autofree char *root = g_build_filename (out_dir, "checkpoints", NULL);
  g_autoptr (GDir) dir = g_dir_open (root, 0, NULL);
  GArray     *steps = g_array_new (FALSE, FALSE, sizeof (gint64));
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = g_build_filename (root, name, NULL);
    gint64           step = parse_checkpoint_name (name);

    if (g_str_has_prefix (name, ".tmp-"))
      remove_tree (path, NULL);
    else if (step >= 0)
      g_array_append_val (steps, step);
  }
  g_array_sort (steps, compare_steps);
  return steps;
}

char *
wp_train_checkpoint_path (const char *out_dir,
                          gint64      step)
{
  g_autofree char *name = g_strdup_printf ("step-%09" G_GINT64_FORMAT, step);

  return g_build_filename (out_dir, "checkpoints", name, NULL);
}

/* So that a rename inside the folder survives a power cut; best effort. */
static void
fsync_dir (const char *path)
{
  FILE *dir = fopen (path, "r");

  if (dir == NULL)
    return;
  fsync (fileno (dir));
  fclose (dir);
}

/* The JSON text of the builder's value, on one line unless pretty. */
static char *
builder_to_text (JsonBuilder *b,
                 gboolean     pretty)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);

  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, pretty);
  return json_generator_to_data (generator, NULL);
}

static gboolean
write_state (const char             *path,
             gint64                  step,
             guint64                 seed,
             const WpStreamPosition *position,
             GError                **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autofree char *seed_text = g_strdup_printf ("%" G_GUINT64_FORMAT, seed);
  g_autofree char *text = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_int_value (b, STATE_FORMAT);
  json_builder_set_member_name (b, "step");
  json_builder_add_int_value (b, step);
  /* A string: JSON numbers lose 64-bit integers in many readers. */
  json_builder_set_member_name (b, "seed");
  json_builder_add_string_value (b, seed_text);
  if (position != NULL) {
    json_builder_set_member_name (b, "stream");
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "epoch");
    json_builder_add_int_value (b, position->epoch);
    json_builder_set_member_name (b, "shard");
    json_builder_add_int_value (b, position->shard);
    json_builder_set_member_name (b, "file");
    if (position->file != NULL)
      json_builder_add_string_value (b, position->file);
    else
      json_builder_add_null_value (b);
    json_builder_set_member_name (b, "sample");
    json_builder_add_int_value (b, position->sample);
    json_builder_end_object (b);
  }
  json_builder_end_object (b);
  text = builder_to_text (b, TRUE);
  return g_file_set_contents (path, text, -1, error);
}

static gboolean
write_checkpoint_files (const char             *dir,
                        const WpModel          *model,
                        const WpAdamW          *adamw,
                        guint64                 seed,
                        const WpStreamPosition *position,
                        GError                **error)
{
  g_autofree char *m_path = g_build_filename (dir, "adam_m.safetensors", NULL);
  g_autofree char *v_path = g_build_filename (dir, "adam_v.safetensors", NULL);
  g_autofree char *state_path = g_build_filename (dir, "state.json", NULL);

  /* A model fine-tuned from an open_clip folder is written back in open_clip's layout; any
   * other in transformers' (a checkpoint is a folder, never one file). state.json comes last: a
   * folder holding it is complete. */
  const WpModelFormat format = model->format == WP_MODEL_FORMAT_OPEN_CLIP
                                 ? WP_MODEL_FORMAT_OPEN_CLIP
                                 : WP_MODEL_FORMAT_TRANSFORMERS;

  if (!wp_model_save_format (model, dir, format, WP_DTYPE_F32, error) ||
      !wp_params_write (model, adamw->m, m_path, NULL, error) ||
      !wp_params_write (model, adamw->v, v_path, NULL, error) ||
      !write_state (state_path, model->step, seed, position, error))
    return FALSE;
  fsync_dir (dir);
  return TRUE;
}

gboolean
wp_run_save_checkpoint (const char             *out,
                        WpModel                *model,
                        const WpAdamW          *adamw,
                        guint64                 seed,
                        const WpStreamPosition *position,
                        int                     keep,
                        char                  **checkpoint_dir,
                        GError                **error)
{
  const gint64     step = adamw->step;
  g_autofree char *final = wp_train_checkpoint_path (out, step);
  g_autofree char *name = g_path_get_basename (final);
  g_autofree char *root = g_build_filename (out, "checkpoints", NULL);
  g_autofree char *tmp = g_strdup_printf ("%s/.tmp-%s", root, name);
  g_autofree char *link_target = g_build_filename ("checkpoints", name, NULL);
  g_autofree char *link_tmp = g_build_filename (out, ".latest.tmp", NULL);
  g_autofree char *link_path = g_build_filename (out, "latest", NULL);
  g_autoptr (GArray) steps = NULL;

  model->step = step;
  if (!wp_run_make_folder (root, error) || !remove_tree (tmp, error))
    return FALSE;
  if (!write_checkpoint_files (tmp, model, adamw, seed, position, error)) {
    /* A full disk is the likely cause: give the partial copy's space back. */
    remove_tree (tmp, NULL);
    g_prefix_error (error,
                    "the checkpoint of step %" G_GINT64_FORMAT
                    " was not written (the newest complete one is %s): ",
                    step, *checkpoint_dir != NULL ? *checkpoint_dir : "none");
    return FALSE;
  }
  if (g_file_test (final, G_FILE_TEST_EXISTS) && !remove_tree (final, error))
    return FALSE;
  if (!rename_or_fail (tmp, final, error))
    return FALSE;
  fsync_dir (root);
  g_remove (link_tmp);
  if (symlink (link_target, link_tmp) != 0 || !rename_or_fail (link_tmp, link_path, NULL))
    g_warning ("%s: cannot update the link to the newest checkpoint", link_path);
  g_free (*checkpoint_dir);
  *checkpoint_dir = g_steal_pointer (&final);

  steps = list_checkpoints (out);
  for (guint i = 0; i + (guint) keep < steps->len; i++) {
    const gint64     old = g_array_index (steps, gint64, i);
    g_autofree char *old_path = wp_train_checkpoint_path (out, old);

    if (old != 0 && !remove_tree (old_path, error))
      return FALSE;
  }
  return TRUE;
}

char *
wp_run_find_checkpoint (const char *out_dir,
                        GError    **error)
{
  g_autoptr (GArray) steps = list_checkpoints (out_dir);

  for (guint i = steps->len; i > 0; i--) {
    g_autofree char *candidate =
      wp_train_checkpoint_path (out_dir, g_array_index (steps, gint64, i - 1));
    g_autofree char *state = g_build_filename (candidate, "state.json", NULL);

    if (g_file_test (state, G_FILE_TEST_EXISTS))
      return g_steal_pointer (&candidate);
  }
  g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
               "%s: the run has no complete checkpoint to resume from", out_dir);
  return NULL;
}

gboolean
wp_run_read_checkpoint_step (const char *dir,
                             gint64     *step,
                             GError    **error)
{
  g_autofree char *path = g_build_filename (dir, "state.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *obj = wp_train_read_json_object (parser, path, error);
  JsonNode   *node = obj != NULL ? wp_json_typed_member (obj, "step", G_TYPE_INT64) : NULL;

  if (obj == NULL)
    return FALSE;
  if (node == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: \"step\" is missing or not an integer",
                 path);
    return FALSE;
  }
  *step = json_node_get_int (node);
  return TRUE;
}

/* A whole number from 0 in member key of obj, or FALSE. */
static gboolean
stream_number (JsonObject *obj,
               const char *key,
               gint64     *value)
{
  JsonNode *node = wp_json_typed_member (obj, key, G_TYPE_INT64);

  if (node == NULL || json_node_get_int (node) < 0 || json_node_get_int (node) > G_MAXUINT)
    return FALSE;
  *value = json_node_get_int (node);
  return TRUE;
}

gboolean
wp_run_read_stream_position (const char       *dir,
                             WpStreamPosition *position,
                             GError          **error)
{
  g_autofree char *path = g_build_filename (dir, "state.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *obj = wp_train_read_json_object (parser, path, error);
  JsonNode   *node = obj != NULL ? json_object_get_member (obj, "stream") : NULL;
  JsonObject *stream;
  JsonNode   *file;
  gint64      shard, sample;

  memset (position, 0, sizeof *position);
  position->epoch = -1;
  if (obj == NULL)
    return FALSE;
  if (node == NULL)
    return TRUE;
  stream = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  /* "file": a string, or null. */
  file = stream != NULL ? wp_json_typed_member (stream, "file", G_TYPE_STRING) : NULL;
  if (stream == NULL || !stream_number (stream, "epoch", &position->epoch) ||
      !stream_number (stream, "shard", &shard) || !stream_number (stream, "sample", &sample) ||
      file == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%s: \"stream\" needs whole numbers \"epoch\", \"shard\" and \"sample\" and "
                 "a \"file\"",
                 path);
    position->epoch = -1;
    return FALSE;
  }
  position->shard = (guint) shard;
  position->sample = (guint) sample;
  position->file = JSON_NODE_HOLDS_NULL (file) ? NULL : g_strdup (json_node_get_string (file));
  return TRUE;
}

gboolean
wp_run_read_moments (const char    *dir,
                     const WpModel *model,
                     WpAdamW       *adamw,
                     GError       **error)
{
  g_autofree char *m_path = g_build_filename (dir, "adam_m.safetensors", NULL);
  g_autofree char *v_path = g_build_filename (dir, "adam_v.safetensors", NULL);

  return wp_params_read (model, m_path, adamw->m, error) &&
         wp_params_read (model, v_path, adamw->v, error);
}

/* ---- metrics.jsonl ---- */

static gboolean
append_metrics_line (const char  *out_dir,
                     JsonBuilder *b,
                     GError     **error)
{
  g_autofree char *path = g_build_filename (out_dir, "metrics.jsonl", NULL);
  g_autofree char *line = builder_to_text (b, FALSE);
  FILE            *file = fopen (path, "a");
  gboolean         ok;

  if (file == NULL)
    return fail_with_errno (error, errno, path, "open");
  ok = fputs (line, file) >= 0 && fputc ('\n', file) != EOF;
  ok = (fclose (file) == 0) && ok;
  if (!ok)
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO, "%s: cannot write", path);
  return ok;
}

/* JSON has no NaN: a metric without data is null. */
static void
add_number (JsonBuilder *b,
            const char  *name,
            double       value)
{
  json_builder_set_member_name (b, name);
  if (isfinite (value))
    json_builder_add_double_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_step (JsonBuilder *b,
          gint64       step)
{
  json_builder_set_member_name (b, "step");
  json_builder_add_int_value (b, step);
}

gboolean
wp_run_log_step (const char            *out_dir,
                 const WpTrainProgress *p,
                 GError               **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  add_step (b, p->step);
  add_number (b, "epoch", p->epoch);
  add_number (b, "loss", p->loss.total);
  add_number (b, "loss_clip", p->loss.clip);
  add_number (b, "loss_filip", p->loss.filip);
  add_number (b, "loss_fine", p->loss.fine);
  if (!isnan (p->loss.box))
    add_number (b, "loss_box", p->loss.box);
  add_number (b, "lr", p->lr);
  add_number (b, "grad_norm", p->grad_norm);
  add_number (b, "logit_scale", p->logit_scale);
  add_number (b, "pairs_per_s", p->pairs_per_second);
  add_number (b, "elapsed_s", p->elapsed_seconds);
  json_builder_end_object (b);
  return append_metrics_line (out_dir, b, error);
}

gboolean
wp_run_log_eval (const char         *out_dir,
                 gint64              step,
                 const WpEvalResult *r,
                 GError            **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  add_step (b, step);
  json_builder_set_member_name (b, "eval");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "pairs");
  json_builder_add_int_value (b, r->pairs);
  json_builder_set_member_name (b, "similarity");
  json_builder_add_string_value (b, wp_retrieval_to_string (r->retrieval));
  add_number (b, "i2t_r1", r->i2t_r1);
  add_number (b, "i2t_r5", r->i2t_r5);
  add_number (b, "i2t_r10", r->i2t_r10);
  add_number (b, "t2i_r1", r->t2i_r1);
  add_number (b, "t2i_r5", r->t2i_r5);
  add_number (b, "t2i_r10", r->t2i_r10);
  if (r->boxed_words > 0) {
    json_builder_set_member_name (b, "boxed_words");
    json_builder_add_int_value (b, r->boxed_words);
    add_number (b, "pointing_filip", r->scores[WP_MAP_FILIP].pointing);
    add_number (b, "pointing_sparc", r->scores[WP_MAP_SPARC].pointing);
  }
  json_builder_end_object (b);
  json_builder_end_object (b);
  return append_metrics_line (out_dir, b, error);
}

/* A checkpoint at step k follows the evaluation at k, except at 0, where the run evaluates the
 * untrained model after writing it. */
static gboolean
keep_metrics_line (gint64 step,
                   gint64 checkpoint_step)
{
  return step < checkpoint_step || (step == checkpoint_step && checkpoint_step > 0);
}

gboolean
wp_run_truncate_metrics (const char *out_dir,
                         gint64      checkpoint_step,
                         GError    **error)
{
  g_autofree char *path = g_build_filename (out_dir, "metrics.jsonl", NULL);
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GString) kept = g_string_new (NULL);

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return TRUE;
  if (!g_file_get_contents (path, &contents, NULL, error))
    return FALSE;
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonNode *root;

    if (lines[i][0] == '\0' ||
        !wp_json_parser_load (parser, lines[i], strlen (lines[i]), 4096, NULL))
      continue;
    root = json_parser_get_root (parser);
    if (root != NULL && JSON_NODE_HOLDS_OBJECT (root) &&
        keep_metrics_line (
          json_object_get_int_member_with_default (json_node_get_object (root), "step", G_MAXINT64),
          checkpoint_step))
      g_string_append_printf (kept, "%s\n", lines[i]);
  }
  return g_file_set_contents (path, kept->str, (gssize) kept->len, error);
}
