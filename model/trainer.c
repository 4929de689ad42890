#include "wordpatch/trainer.h"

#include <cblas.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "wordpatch/error.h"
#include "wordpatch/evaluate.h"
#include "wordpatch/rng.h"

#include "json-private.h"

#define SETTINGS_FORMAT 1

/* What each derived random stream is for, so that streams never coincide. */
enum {
  STREAM_SPLIT = 1,
  STREAM_SHUFFLE,
  STREAM_AUGMENT,
  STREAM_INIT,
  STREAM_GROUP,
};

typedef struct {
  gint64  step;
  float  *pixels;
  int    *ids;
  int    *lengths;
  int     T;
  GError *error;
} Batch;

typedef struct {
  WpTrainer   *trainer;
  GAsyncQueue *free_slots;
  GAsyncQueue *ready_slots;
  GThread     *thread;
  Batch        slots[2];
  Batch        stop_marker;
  gint64       first_step;
} Prefetch;

struct _WpTrainer {
  WpTrainSettings settings;
  char           *fingerprint; /* of the dataset: captions file checksum and usable pairs */
  WpDataset      *dataset;
  WpModel        *model;
  WpAdamW        *adamw;
  WpAdamWOptions  adamw_options;
  guint          *train_indices;
  guint           n_train;
  guint          *holdout_indices;
  guint           n_holdout;
  /* group_by_word: each pair's grouping words (ids), pair i's at word_ids[word_starts[i]..[i+1]) */
  guint *word_starts;
  guint *word_ids;
  gint64 steps_per_epoch;
  gint64 total_steps;
  char  *checkpoint_dir;
  gint64 checkpoint_step;

  GMutex   pause_lock;
  GCond    pause_cond;
  gboolean paused;

  gint   snapshot_wanted;
  GMutex snapshot_lock;
  float *snapshot;
  gint64 snapshot_step;
  guint  snapshot_generation;
};

void
wp_train_settings_init (WpTrainSettings *settings)
{
  memset (settings, 0, sizeof *settings);
  settings->vocab_size = 1024;
  wp_loss_options_init (&settings->loss, WP_OBJECTIVE_SPARC);
  settings->epochs = 10.0;
  settings->batch = 32;
  settings->warmup = 0.05;
  settings->weight_decay = 0.1;
  settings->save_every = 200;
  settings->holdout = 0.1;
  settings->eval_max = 500;
  wp_augment_options_init (&settings->augment_options);
  settings->keep = 2;
}

void
wp_train_settings_clear (WpTrainSettings *settings)
{
  g_clear_pointer (&settings->data_dir, g_free);
  g_clear_pointer (&settings->out_dir, g_free);
  g_clear_pointer (&settings->init_model, g_free);
  g_clear_pointer (&settings->preset, g_free);
}

void
wp_train_settings_copy (WpTrainSettings       *dst,
                        const WpTrainSettings *src)
{
  *dst = *src;
  dst->data_dir = g_strdup (src->data_dir);
  dst->out_dir = g_strdup (src->out_dir);
  dst->init_model = g_strdup (src->init_model);
  dst->preset = g_strdup (src->preset);
}

/* ---- settings.json ---- */

/* The plain numeric and boolean settings, written and read by the same list. */
typedef enum {
  FIELD_INT,
  FIELD_INT64,
  FIELD_FLOAT,
  FIELD_DOUBLE,
  FIELD_BOOL,
} FieldKind;

/* optional: added after runs were first written; a run without it keeps the default. */
static const struct {
  const char *name;
  FieldKind   kind;
  gsize       offset;
  gboolean    optional;
} settings_fields[] = {
  { "vocab_size", FIELD_INT, G_STRUCT_OFFSET (WpTrainSettings, vocab_size) },
  { "image_size", FIELD_INT, G_STRUCT_OFFSET (WpTrainSettings, image_size), TRUE },
  { "patch_size", FIELD_INT, G_STRUCT_OFFSET (WpTrainSettings, patch_size), TRUE },
  { "lambda_global", FIELD_FLOAT, G_STRUCT_OFFSET (WpTrainSettings, loss.lambda_global) },
  { "lambda_fine", FIELD_FLOAT, G_STRUCT_OFFSET (WpTrainSettings, loss.lambda_fine) },
  { "filip_patch_fraction", FIELD_FLOAT,
    G_STRUCT_OFFSET (WpTrainSettings, loss.filip_patch_fraction), TRUE },
  { "filip_global", FIELD_FLOAT, G_STRUCT_OFFSET (WpTrainSettings, loss.filip_global), TRUE },
  { "epochs", FIELD_DOUBLE, G_STRUCT_OFFSET (WpTrainSettings, epochs) },
  { "batch", FIELD_INT, G_STRUCT_OFFSET (WpTrainSettings, batch) },
  { "group_by_word", FIELD_INT, G_STRUCT_OFFSET (WpTrainSettings, group_by_word), TRUE },
  { "lr", FIELD_DOUBLE, G_STRUCT_OFFSET (WpTrainSettings, lr) },
  { "warmup", FIELD_DOUBLE, G_STRUCT_OFFSET (WpTrainSettings, warmup) },
  { "weight_decay", FIELD_DOUBLE, G_STRUCT_OFFSET (WpTrainSettings, weight_decay) },
  { "freeze_text", FIELD_BOOL, G_STRUCT_OFFSET (WpTrainSettings, freeze_text) },
  { "freeze_vision", FIELD_BOOL, G_STRUCT_OFFSET (WpTrainSettings, freeze_vision) },
  { "threads", FIELD_INT, G_STRUCT_OFFSET (WpTrainSettings, threads) },
  { "save_every", FIELD_INT64, G_STRUCT_OFFSET (WpTrainSettings, save_every) },
  { "eval_every", FIELD_INT64, G_STRUCT_OFFSET (WpTrainSettings, eval_every) },
  { "holdout", FIELD_DOUBLE, G_STRUCT_OFFSET (WpTrainSettings, holdout) },
  { "eval_max", FIELD_INT, G_STRUCT_OFFSET (WpTrainSettings, eval_max) },
  { "augment", FIELD_BOOL, G_STRUCT_OFFSET (WpTrainSettings, augment) },
  { "crop_scale_min", FIELD_DOUBLE,
    G_STRUCT_OFFSET (WpTrainSettings, augment_options.crop_scale_min) },
  { "crop_ratio_max", FIELD_DOUBLE,
    G_STRUCT_OFFSET (WpTrainSettings, augment_options.crop_ratio_max) },
  { "brightness", FIELD_DOUBLE, G_STRUCT_OFFSET (WpTrainSettings, augment_options.brightness) },
  { "contrast", FIELD_DOUBLE, G_STRUCT_OFFSET (WpTrainSettings, augment_options.contrast) },
  { "saturation", FIELD_DOUBLE, G_STRUCT_OFFSET (WpTrainSettings, augment_options.saturation) },
  { "flip", FIELD_BOOL, G_STRUCT_OFFSET (WpTrainSettings, augment_options.flip) },
  { "keep", FIELD_INT, G_STRUCT_OFFSET (WpTrainSettings, keep) },
};

/* NULL becomes null. */
static void
add_string (JsonBuilder *b,
            const char  *name,
            const char  *value)
{
  json_builder_set_member_name (b, name);
  if (value != NULL)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static char *
settings_to_json (const WpTrainer *trainer)
{
  const WpTrainSettings *s = &trainer->settings;
  g_autofree char       *seed = g_strdup_printf ("%" G_GUINT64_FORMAT, s->seed);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_int_value (b, SETTINGS_FORMAT);
  add_string (b, "data", s->data_dir);
  add_string (b, "dataset_fingerprint", trainer->fingerprint);
  add_string (b, "init", s->init_model);
  add_string (b, "config", s->preset);
  add_string (b, "loss", wp_objective_to_string (s->loss.objective));
  json_builder_set_member_name (b, "total_steps");
  json_builder_add_int_value (b, trainer->total_steps);
  /* A string: JSON numbers lose 64-bit integers in many readers. */
  add_string (b, "seed", seed);
  for (gsize i = 0; i < G_N_ELEMENTS (settings_fields); i++) {
    const guint8 *field = (const guint8 *) s + settings_fields[i].offset;

    json_builder_set_member_name (b, settings_fields[i].name);
    switch (settings_fields[i].kind) {
    case FIELD_INT:
      json_builder_add_int_value (b, *(const int *) field);
      break;
    case FIELD_INT64:
      json_builder_add_int_value (b, *(const gint64 *) field);
      break;
    case FIELD_FLOAT:
      json_builder_add_double_value (b, *(const float *) field);
      break;
    case FIELD_DOUBLE:
      json_builder_add_double_value (b, *(const double *) field);
      break;
    case FIELD_BOOL:
      json_builder_add_boolean_value (b, *(const gboolean *) field);
      break;
    }
  }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  return json_generator_to_data (generator, NULL);
}

typedef struct {
  JsonObject *obj;
  const char *path;
  GError    **error;
  gboolean    ok;
} SettingsReader;

static JsonNode *
member (SettingsReader *r,
        const char     *key,
        GType           type)
{
  JsonNode *node;

  if (!r->ok)
    return NULL;
  node = json_object_get_member (r->obj, key);
  if (node != NULL && JSON_NODE_HOLDS_NULL (node) && type == G_TYPE_STRING)
    return NULL;
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      !(json_node_get_value_type (node) == type ||
        (type == G_TYPE_DOUBLE && json_node_get_value_type (node) == G_TYPE_INT64))) {
    g_set_error (r->error, WP_ERROR, WP_ERROR_FORMAT, "%s: \"%s\" is missing or of the wrong type",
                 r->path, key);
    r->ok = FALSE;
    return NULL;
  }
  return node;
}

static gint64
read_int (SettingsReader *r,
          const char     *key)
{
  JsonNode *node = member (r, key, G_TYPE_INT64);

  return node != NULL ? json_node_get_int (node) : 0;
}

static double
read_double (SettingsReader *r,
             const char     *key)
{
  JsonNode *node = member (r, key, G_TYPE_DOUBLE);

  return node != NULL ? json_node_get_double (node) : 0.0;
}

static gboolean
read_bool (SettingsReader *r,
           const char     *key)
{
  JsonNode *node = member (r, key, G_TYPE_BOOLEAN);

  return node != NULL && json_node_get_boolean (node);
}

static char *
read_string (SettingsReader *r,
             const char     *key)
{
  JsonNode *node = member (r, key, G_TYPE_STRING);

  return node != NULL ? g_strdup (json_node_get_string (node)) : NULL;
}

/* The root object of a JSON file, owned by parser; errors name the file. */
static JsonObject *
load_json_object (JsonParser *parser,
                  const char *path,
                  GError    **error)
{
  g_autofree char *text = NULL;
  gsize            len = 0;
  JsonNode        *root;

  /* A run folder may come from someone else: its JSON gets the same limits as any file's. */
  if (!g_file_get_contents (path, &text, &len, error))
    return NULL;
  if (!wp_json_parser_load (parser, text, len, 4096, error)) {
    g_prefix_error (error, "%s: ", path);
    return NULL;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: not a JSON object", path);
    return NULL;
  }
  return json_node_get_object (root);
}

/* Fills trainer->settings, fingerprint and total_steps from OUT/settings.json. */
static gboolean
settings_load (WpTrainer  *trainer,
               const char *path,
               GError    **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  WpTrainSettings *s = &trainer->settings;
  SettingsReader   r = { NULL, path, error, TRUE };
  g_autofree char *objective = NULL;
  g_autofree char *seed = NULL;

  r.obj = load_json_object (parser, path, error);
  if (r.obj == NULL)
    return FALSE;
  if (read_int (&r, "format") != SETTINGS_FORMAT && r.ok) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "%s: unknown format (this version reads %d)", path, SETTINGS_FORMAT);
    return FALSE;
  }
  wp_train_settings_init (s);
  s->data_dir = read_string (&r, "data");
  trainer->fingerprint = read_string (&r, "dataset_fingerprint");
  s->init_model = read_string (&r, "init");
  s->preset = read_string (&r, "config");
  objective = read_string (&r, "loss");
  trainer->total_steps = read_int (&r, "total_steps");
  seed = read_string (&r, "seed");
  for (gsize i = 0; i < G_N_ELEMENTS (settings_fields); i++) {
    guint8 *field = (guint8 *) s + settings_fields[i].offset;

    if (settings_fields[i].optional && !json_object_has_member (r.obj, settings_fields[i].name))
      continue;
    switch (settings_fields[i].kind) {
    case FIELD_INT:
      *(int *) field = (int) read_int (&r, settings_fields[i].name);
      break;
    case FIELD_INT64:
      *(gint64 *) field = read_int (&r, settings_fields[i].name);
      break;
    case FIELD_FLOAT:
      *(float *) field = (float) read_double (&r, settings_fields[i].name);
      break;
    case FIELD_DOUBLE:
      *(double *) field = read_double (&r, settings_fields[i].name);
      break;
    case FIELD_BOOL:
      *(gboolean *) field = read_bool (&r, settings_fields[i].name);
      break;
    }
  }
  if (!r.ok)
    return FALSE;
  if (s->data_dir == NULL || trainer->fingerprint == NULL || objective == NULL || seed == NULL ||
      !wp_objective_from_string (objective, &s->loss.objective) ||
      !g_ascii_string_to_unsigned (seed, 10, 0, G_MAXUINT64, &s->seed, NULL) ||
      trainer->total_steps < 1 || s->batch < 1) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%s: \"data\", \"loss\", \"seed\", \"total_steps\" or \"batch\" is not valid",
                 path);
    return FALSE;
  }
  return TRUE;
}

/* ---- validation, data split and order ---- */

/* The architecture trained from scratch: the preset, with the image and patch sides asked for. */
static gboolean
config_from_scratch (const WpTrainSettings *s,
                     int                    vocab_size,
                     WpClipConfig          *config,
                     GError               **error)
{
  if (!wp_clip_config_init_preset (config, s->preset, vocab_size, error))
    return FALSE;
  if (s->image_size > 0)
    config->image_size = s->image_size;
  if (s->patch_size > 0)
    config->patch_size = s->patch_size;
  return wp_clip_config_validate (config, error);
}

static gboolean
settings_validate (const WpTrainSettings *s,
                   GError               **error)
{
  const char  *problem = NULL;
  WpClipConfig config;

  if (s->data_dir == NULL || s->out_dir == NULL)
    problem = "a dataset folder and an output folder are needed";
  else if ((s->init_model == NULL) == (s->preset == NULL))
    problem = "give either a model to fine-tune or a size to train from scratch";
  else if (s->batch < 2 || s->batch > 4096)
    problem = "the batch must hold 2 to 4096 pairs (contrastive losses need negatives)";
  else if (s->steps < 0 || (s->steps == 0 && !(s->epochs > 0.0 && s->epochs <= 1e6)))
    problem = "the steps must be positive, or the epochs in (0, 1e6]";
  else if (!(s->lr >= 0.0 && s->lr < 1e30) || !(s->warmup >= 0.0 && s->warmup <= 1.0) ||
           !(s->weight_decay >= 0.0))
    problem =
      "the learning rate, warm-up fraction (0..1) and weight decay must be non-negative numbers";
  else if (!(s->holdout >= 0.0 && s->holdout < 1.0))
    problem = "the held-out fraction must be in [0, 1)";
  else if (s->save_every < 1 || s->eval_every < 0 || s->keep < 1 || s->eval_max < 1 ||
           s->threads < 0 || s->threads > 256)
    problem =
      "save-every, keep and eval-max must be at least 1, eval-every and threads not negative";
  else if (s->preset != NULL && (s->vocab_size < 600 || s->vocab_size > 65536))
    problem = "the learnt vocabulary must have 600 to 65536 tokens (512 byte symbols, merges, 2 "
              "special tokens)";
  else if (!(s->loss.lambda_global >= 0.0f) || !(s->loss.lambda_fine >= 0.0f))
    problem = "the SPARC weights must be non-negative";
  else if (!(s->loss.filip_patch_fraction > 0.0f && s->loss.filip_patch_fraction <= 1.0f))
    problem = "FILIP's patch fraction must be in (0, 1]";
  else if (s->group_by_word < 0 || s->group_by_word > s->batch)
    problem = "the word groups must hold 0 (off) to a batch of pairs";
  else if (!(s->loss.filip_global >= 0.0f && s->loss.filip_global <= 1e6f))
    problem = "FILIP's global loss weight must be a number from 0 to 1e6";
  else if (s->image_size < 0 || s->patch_size < 0)
    problem = "the image and patch sizes must be positive (0: the preset's)";
  else if (s->init_model != NULL && (s->image_size > 0 || s->patch_size > 0))
    problem =
      "the image and patch sizes are chosen only from scratch; a fine-tuned model keeps its own";
  if (problem != NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "%s", problem);
    return FALSE;
  }
  return s->preset == NULL || config_from_scratch (s, s->vocab_size, &config, error);
}

/* A seed for one purpose and index, independent of every other (purpose, index). */
static guint64
derive_seed (guint64 seed,
             guint64 purpose,
             guint64 index)
{
  WpRng rng;

  wp_rng_init (&rng, seed ^ (purpose * 0x9e3779b97f4a7c15ull) ^ (index * 0xd1b54a32d192ed03ull));
  return wp_rng_next (&rng);
}

static void
shuffle (guint  *items,
         guint   n,
         guint64 seed)
{
  WpRng rng;

  wp_rng_init (&rng, seed);
  for (guint i = n; i > 1; i--) {
    const guint j = (guint) (wp_rng_next (&rng) % i);
    const guint tmp = items[i - 1];

    items[i - 1] = items[j];
    items[j] = tmp;
  }
}

static int
compare_uint (gconstpointer a,
              gconstpointer b)
{
  const guint x = *(const guint *) a, y = *(const guint *) b;

  return (x > y) - (x < y);
}

/* The caption's words, lower case, each once: runs of letters and digits (as dataset.c's
 * wp_caption_has_sides splits, with letters beyond ASCII). */
static GPtrArray *
caption_words (const char *caption)
{
  g_autofree char *lower = g_utf8_strdown (caption, -1);
  g_auto (GStrv) split = g_regex_split_simple ("[^\\p{L}\\p{Nd}]+", lower, 0, 0);
  GPtrArray *words = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; split[i] != NULL; i++) {
    if (split[i][0] != '\0' &&
        !g_ptr_array_find_with_equal_func (words, split[i], g_str_equal, NULL))
      g_ptr_array_add (words, g_strdup (split[i]));
  }
  return words;
}

/* The words a training pair can be grouped by: those of its caption that at most half of the
 * training captions hold, so that "a" or "the" never make a group. */
static void
index_grouping_words (WpTrainer *trainer)
{
  const guint n = wp_dataset_get_n_pairs (trainer->dataset);
  g_autoptr (GHashTable) ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GArray) counts = g_array_new (FALSE, TRUE, sizeof (guint));
  g_autoptr (GPtrArray) pair_words = g_ptr_array_new_full (n, (GDestroyNotify) g_array_unref);
  g_autoptr (GArray) kept = g_array_new (FALSE, FALSE, sizeof (guint));

  for (guint i = 0; i < n; i++)
    g_ptr_array_add (pair_words, g_array_new (FALSE, FALSE, sizeof (guint)));
  for (guint t = 0; t < trainer->n_train; t++) {
    const guint pair = trainer->train_indices[t];
    g_autoptr (GPtrArray) words =
      caption_words (wp_dataset_get_pair (trainer->dataset, pair)->caption);

    for (guint w = 0; w < words->len; w++) {
      gpointer value;
      guint    id;

      if (g_hash_table_lookup_extended (ids, words->pdata[w], NULL, &value)) {
        id = GPOINTER_TO_UINT (value);
      } else {
        id = g_hash_table_size (ids);
        g_hash_table_insert (ids, g_strdup (words->pdata[w]), GUINT_TO_POINTER (id));
        g_array_set_size (counts, id + 1);
      }
      g_array_index (counts, guint, id)++;
      g_array_append_val (pair_words->pdata[pair], id);
    }
  }
  trainer->word_starts = g_new (guint, n + 1);
  for (guint i = 0; i < n; i++) {
    const GArray *words = pair_words->pdata[i];

    trainer->word_starts[i] = kept->len;
    for (guint w = 0; w < words->len; w++) {
      const guint id = g_array_index (words, guint, w);

      if (2 * (guint64) g_array_index (counts, guint, id) <= trainer->n_train)
        g_array_append_val (kept, id);
    }
  }
  trainer->word_starts[n] = kept->len;
  trainer->word_ids = (guint *) g_array_steal (kept, NULL);
}

/* The held-out pairs are a seeded random subset; both lists are kept in dataset order. */
static gboolean
split_dataset (WpTrainer *trainer,
               GError   **error)
{
  const guint       n = wp_dataset_get_n_pairs (trainer->dataset);
  g_autofree guint *order = g_new (guint, n);
  guint             n_holdout = (guint) floor (trainer->settings.holdout * n + 0.5);

  if (trainer->settings.holdout > 0.0 && n >= 2)
    n_holdout = MAX (n_holdout, 1);
  for (guint i = 0; i < n; i++)
    order[i] = i;
  shuffle (order, n, derive_seed (trainer->settings.seed, STREAM_SPLIT, 0));
  trainer->n_holdout = n_holdout;
  trainer->n_train = n - n_holdout;
  if (trainer->n_train < (guint) trainer->settings.batch) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: %u training pairs (%u held out) are fewer than the batch of %d",
                 trainer->settings.data_dir, trainer->n_train, n_holdout, trainer->settings.batch);
    return FALSE;
  }
  trainer->holdout_indices = g_memdup2 (order, n_holdout * sizeof (guint));
  trainer->train_indices = g_memdup2 (order + n_holdout, trainer->n_train * sizeof (guint));
  if (n_holdout > 0)
    qsort (trainer->holdout_indices, n_holdout, sizeof (guint), compare_uint);
  qsort (trainer->train_indices, trainer->n_train, sizeof (guint), compare_uint);
  trainer->steps_per_epoch = trainer->n_train / (guint) trainer->settings.batch;
  if (trainer->settings.group_by_word > 0)
    index_grouping_words (trainer);
  return TRUE;
}

static gboolean
open_dataset (WpTrainer  *trainer,
              const char *expected_fingerprint,
              GError    **error)
{
  trainer->dataset = wp_dataset_open (trainer->settings.data_dir, error);
  if (trainer->dataset == NULL)
    return FALSE;
  if (!wp_dataset_check_images (trainer->dataset, (int) g_get_num_processors (), NULL, error))
    return FALSE;
  trainer->fingerprint =
    g_strdup_printf ("sha256:%s pairs:%u", wp_dataset_get_checksum (trainer->dataset),
                     wp_dataset_get_n_pairs (trainer->dataset));
  if (expected_fingerprint != NULL && strcmp (expected_fingerprint, trainer->fingerprint) != 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_DATASET,
                 "%s: the dataset is not the one the run started with (its captions file or usable "
                 "images changed)",
                 trainer->settings.data_dir);
    return FALSE;
  }
  return split_dataset (trainer, error);
}

static void
setup_optimiser (WpTrainer *trainer)
{
  const WpTrainSettings *s = &trainer->settings;

  wp_adamw_options_init (&trainer->adamw_options, trainer->total_steps);
  trainer->adamw_options.lr_max = (float) (s->lr > 0.0 ? s->lr : s->init_model != NULL ? 1e-5
                                                                                       : 5e-4);
  trainer->adamw_options.lr_min = trainer->adamw_options.lr_max / 10.0f;
  trainer->adamw_options.warmup_steps = (int) floor (s->warmup * (double) trainer->total_steps);
  trainer->adamw_options.weight_decay = (float) s->weight_decay;
  trainer->adamw_options.freeze_text = s->freeze_text;
  trainer->adamw_options.freeze_vision = s->freeze_vision;
  if (trainer->adamw == NULL)
    trainer->adamw = wp_adamw_new (trainer->model->n_params);
  openblas_set_num_threads (s->threads > 0 ? s->threads : (int) g_get_num_processors ());
}

static WpModel *
new_model_from_scratch (WpTrainer *trainer,
                        GError   **error)
{
  g_autofree const char **texts = g_new (const char *, trainer->n_train);
  WpTokenizer            *tokenizer;
  WpClipConfig            config;

  for (guint i = 0; i < trainer->n_train; i++)
    texts[i] = wp_dataset_get_pair (trainer->dataset, trainer->train_indices[i])->caption;
  tokenizer = wp_tokenizer_learn (texts, trainer->n_train, trainer->settings.vocab_size, error);
  if (tokenizer == NULL)
    return NULL;
  if (!config_from_scratch (&trainer->settings, wp_tokenizer_get_n_vocab (tokenizer), &config,
                            error)) {
    wp_tokenizer_free (tokenizer);
    return NULL;
  }
  return wp_model_new_random (&config, tokenizer,
                              derive_seed (trainer->settings.seed, STREAM_INIT, 0), error);
}

/* ---- files ---- */

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
  if (g_remove (path) != 0 && errno != ENOENT) {
    int saved_errno = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                 "%s: cannot remove: %s", path, g_strerror (saved_errno));
    return FALSE;
  }
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

static gint64
parse_checkpoint_name (const char *name)
{
  guint64 step;

  if (!g_str_has_prefix (name, "step-") ||
      !g_ascii_string_to_unsigned (name + 5, 10, 0, G_MAXINT64, &step, NULL))
    return -1;
  return (gint64) step;
}

/* Steps of the complete checkpoints under OUT/checkpoints, ascending; removes unfinished ones. */
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
  for (guint i = 1; i < steps->len; i++) {
    for (guint j = i;
         j > 0 && g_array_index (steps, gint64, j - 1) > g_array_index (steps, gint64, j); j--) {
      const gint64 tmp = g_array_index (steps, gint64, j);

      g_array_index (steps, gint64, j) = g_array_index (steps, gint64, j - 1);
      g_array_index (steps, gint64, j - 1) = tmp;
    }
  }
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

static gboolean
write_checkpoint_files (WpTrainer  *trainer,
                        const char *dir,
                        GError    **error)
{
  g_autofree char *m_path = g_build_filename (dir, "adam_m.safetensors", NULL);
  g_autofree char *v_path = g_build_filename (dir, "adam_v.safetensors", NULL);
  g_autofree char *state_path = g_build_filename (dir, "state.json", NULL);
  g_autofree char *state =
    g_strdup_printf ("{\n  \"format\": %d,\n  \"step\": %" G_GINT64_FORMAT
                     ",\n  \"seed\": \"%" G_GUINT64_FORMAT "\"\n}\n",
                     SETTINGS_FORMAT, trainer->model->step, trainer->settings.seed);

  /* state.json comes last: a folder holding it is complete. */
  if (!wp_model_save (trainer->model, dir, error) ||
      !wp_params_write (trainer->model, trainer->adamw->m, m_path, NULL, error) ||
      !wp_params_write (trainer->model, trainer->adamw->v, v_path, NULL, error) ||
      !g_file_set_contents (state_path, state, -1, error))
    return FALSE;
  fsync_dir (dir);
  return TRUE;
}

static gboolean
save_checkpoint (WpTrainer *trainer,
                 GError   **error)
{
  const char      *out = trainer->settings.out_dir;
  const gint64     step = trainer->adamw->step;
  g_autofree char *final = wp_train_checkpoint_path (out, step);
  g_autofree char *name = g_path_get_basename (final);
  g_autofree char *root = g_build_filename (out, "checkpoints", NULL);
  g_autofree char *tmp = g_strdup_printf ("%s/.tmp-%s", root, name);
  g_autofree char *link_target = g_build_filename ("checkpoints", name, NULL);
  g_autofree char *link_tmp = g_build_filename (out, ".latest.tmp", NULL);
  g_autofree char *link_path = g_build_filename (out, "latest", NULL);
  g_autoptr (GArray) steps = NULL;

  trainer->model->step = step;
  if (g_mkdir_with_parents (root, 0755) != 0) {
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                 "%s: cannot create folder: %s", root, g_strerror (errno));
    return FALSE;
  }
  if (!remove_tree (tmp, error))
    return FALSE;
  if (!write_checkpoint_files (trainer, tmp, error)) {
    /* A full disk is the likely cause: give the partial copy's space back. */
    remove_tree (tmp, NULL);
    g_prefix_error (error,
                    "the checkpoint of step %" G_GINT64_FORMAT
                    " was not written (the newest complete one is %s): ",
                    step, trainer->checkpoint_dir != NULL ? trainer->checkpoint_dir : "none");
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
  g_free (trainer->checkpoint_dir);
  trainer->checkpoint_dir = g_steal_pointer (&final);
  trainer->checkpoint_step = step;

  steps = list_checkpoints (out);
  for (guint i = 0; i + (guint) trainer->settings.keep < steps->len; i++) {
    const gint64     old = g_array_index (steps, gint64, i);
    g_autofree char *old_path = wp_train_checkpoint_path (out, old);

    if (old != 0 && !remove_tree (old_path, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
load_checkpoint (WpTrainer *trainer,
                 GError   **error)
{
  const char *out = trainer->settings.out_dir;
  g_autoptr (GArray) steps = list_checkpoints (out);
  g_autofree char *dir = NULL;
  g_autofree char *m_path = NULL;
  g_autofree char *v_path = NULL;
  g_autofree char *state_path = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  SettingsReader r = { NULL, NULL, error, TRUE };
  gint64         step;

  for (guint i = steps->len; i > 0 && dir == NULL; i--) {
    g_autofree char *candidate =
      wp_train_checkpoint_path (out, g_array_index (steps, gint64, i - 1));
    g_autofree char *state = g_build_filename (candidate, "state.json", NULL);

    if (g_file_test (state, G_FILE_TEST_EXISTS))
      dir = g_steal_pointer (&candidate);
  }
  if (dir == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
                 "%s: the run has no complete checkpoint to resume from", out);
    return FALSE;
  }
  trainer->model = wp_model_load (dir, error);
  if (trainer->model == NULL ||
      !wp_loss_state_check_fits (&trainer->model->config, trainer->settings.batch, error))
    return FALSE;
  state_path = g_build_filename (dir, "state.json", NULL);
  r.obj = load_json_object (parser, state_path, error);
  if (r.obj == NULL)
    return FALSE;
  r.path = state_path;
  step = read_int (&r, "step");
  if (!r.ok)
    return FALSE;
  if (step != trainer->model->step || step < 0 || step > trainer->total_steps) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%s: step %" G_GINT64_FORMAT " does not match the weights' step %" G_GINT64_FORMAT,
                 state_path, step, trainer->model->step);
    return FALSE;
  }
  setup_optimiser (trainer);
  m_path = g_build_filename (dir, "adam_m.safetensors", NULL);
  v_path = g_build_filename (dir, "adam_v.safetensors", NULL);
  if (!wp_params_read (trainer->model, m_path, trainer->adamw->m, error) ||
      !wp_params_read (trainer->model, v_path, trainer->adamw->v, error))
    return FALSE;
  trainer->adamw->step = step;
  trainer->checkpoint_dir = g_steal_pointer (&dir);
  trainer->checkpoint_step = step;
  return TRUE;
}

static gboolean
append_metrics_line (WpTrainer  *trainer,
                     const char *line,
                     GError    **error)
{
  g_autofree char *path = g_build_filename (trainer->settings.out_dir, "metrics.jsonl", NULL);
  FILE            *file = fopen (path, "a");
  gboolean         ok;

  if (file == NULL) {
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: cannot open: %s", path,
                 g_strerror (errno));
    return FALSE;
  }
  ok = fputs (line, file) >= 0 && fputc ('\n', file) != EOF;
  ok = (fclose (file) == 0) && ok;
  if (!ok)
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_IO, "%s: cannot write", path);
  return ok;
}

/* A checkpoint at step k follows the evaluation at k, except at 0, where the run evaluates the
 * untrained model after writing it. */
static gboolean
keep_metrics_line (gint64 step,
                   gint64 checkpoint_step)
{
  return step < checkpoint_step || (step == checkpoint_step && checkpoint_step > 0);
}

/* After a resume, the log keeps only what happened up to the checkpoint, so that the steps
 * repeated now appear once. */
static gboolean
truncate_metrics (WpTrainer *trainer,
                  GError   **error)
{
  g_autofree char *path = g_build_filename (trainer->settings.out_dir, "metrics.jsonl", NULL);
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
          trainer->checkpoint_step))
      g_string_append_printf (kept, "%s\n", lines[i]);
  }
  return g_file_set_contents (path, kept->str, (gssize) kept->len, error);
}

/* ---- construction ---- */

static WpTrainer *
trainer_alloc (void)
{
  WpTrainer *trainer = g_new0 (WpTrainer, 1);

  g_mutex_init (&trainer->pause_lock);
  g_cond_init (&trainer->pause_cond);
  g_mutex_init (&trainer->snapshot_lock);
  return trainer;
}

static gboolean
make_out_dir (const char *out,
              GError    **error)
{
  if (g_mkdir_with_parents (out, 0755) != 0) {
    int saved_errno = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                 "%s: cannot create folder: %s", out, g_strerror (saved_errno));
    return FALSE;
  }
  return TRUE;
}

WpTrainer *
wp_trainer_new (const WpTrainSettings *settings,
                GError               **error)
{
  g_autoptr (WpTrainer) trainer = trainer_alloc ();
  g_autofree char *settings_path = NULL;
  g_autofree char *settings_json = NULL;
  g_autofree char *absolute_data = NULL;

  if (!settings_validate (settings, error))
    return NULL;
  wp_train_settings_copy (&trainer->settings, settings);
  absolute_data = g_canonicalize_filename (settings->data_dir, NULL);
  g_free (trainer->settings.data_dir);
  trainer->settings.data_dir = g_steal_pointer (&absolute_data);
  settings_path = g_build_filename (settings->out_dir, "settings.json", NULL);
  if (g_file_test (settings_path, G_FILE_TEST_EXISTS)) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "%s already holds a training run: resume it or choose another output folder",
                 settings->out_dir);
    return NULL;
  }
  if (!open_dataset (trainer, NULL, error))
    return NULL;
  trainer->total_steps =
    settings->steps > 0
      ? settings->steps
      : MAX (1, (gint64) ceil (settings->epochs * (double) trainer->steps_per_epoch));
  trainer->model = settings->init_model != NULL ? wp_model_load (settings->init_model, error)
                                                : new_model_from_scratch (trainer, error);
  if (trainer->model == NULL ||
      !wp_loss_state_check_fits (&trainer->model->config, settings->batch, error))
    return NULL;
  trainer->model->step = 0;
  setup_optimiser (trainer);
  settings_json = settings_to_json (trainer);
  if (!make_out_dir (settings->out_dir, error) ||
      !g_file_set_contents (settings_path, settings_json, -1, error))
    return NULL;
  if (!save_checkpoint (trainer, error))
    return NULL;
  return g_steal_pointer (&trainer);
}

WpTrainer *
wp_trainer_resume (const char *out_dir,
                   const char *data_dir,
                   int         threads,
                   GError    **error)
{
  g_autoptr (WpTrainer) trainer = trainer_alloc ();
  g_autofree char *settings_path = g_build_filename (out_dir, "settings.json", NULL);
  g_autofree char *fingerprint = NULL;

  if (!g_file_test (settings_path, G_FILE_TEST_EXISTS)) {
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
                 "%s: no training run to resume (settings.json is missing)", out_dir);
    return NULL;
  }
  if (!settings_load (trainer, settings_path, error))
    return NULL;
  trainer->settings.out_dir = g_strdup (out_dir);
  if (data_dir != NULL) {
    g_free (trainer->settings.data_dir);
    trainer->settings.data_dir = g_canonicalize_filename (data_dir, NULL);
  }
  if (threads > 0)
    trainer->settings.threads = threads;
  fingerprint = g_steal_pointer (&trainer->fingerprint);
  if (!open_dataset (trainer, fingerprint, error) || !load_checkpoint (trainer, error) ||
      !truncate_metrics (trainer, error))
    return NULL;
  return g_steal_pointer (&trainer);
}

void
wp_trainer_free (WpTrainer *trainer)
{
  if (trainer == NULL)
    return;
  wp_train_settings_clear (&trainer->settings);
  g_free (trainer->fingerprint);
  g_clear_pointer (&trainer->dataset, wp_dataset_free);
  g_clear_pointer (&trainer->model, wp_model_free);
  g_clear_pointer (&trainer->adamw, wp_adamw_free);
  g_free (trainer->train_indices);
  g_free (trainer->word_starts);
  g_free (trainer->word_ids);
  g_free (trainer->holdout_indices);
  g_free (trainer->checkpoint_dir);
  g_free (trainer->snapshot);
  g_mutex_clear (&trainer->pause_lock);
  g_cond_clear (&trainer->pause_cond);
  g_mutex_clear (&trainer->snapshot_lock);
  g_free (trainer);
}

/* ---- batches, one ahead on a background thread ---- */

typedef struct {
  guint key; /* a grouping word's id; G_MAXUINT for a pair without one */
  guint position;
} Keyed;

static int
compare_keyed (gconstpointer a,
               gconstpointer b)
{
  const Keyed *x = a, *y = b;

  if (x->key != y->key)
    return (x->key > y->key) - (x->key < y->key);
  return (x->position > y->position) - (x->position < y->position);
}

/* Hard negatives from the captions alone: each pair draws one of its grouping words, pairs are
 * sorted by it (the shuffle breaks ties), cut into runs of group_by_word pairs, and the runs
 * shuffled. A batch is then a few runs whose pairs share a word ("red": told apart by their
 * shapes) and differ from the other runs'. Still a permutation, so an epoch is unchanged. */
static void
group_by_word (const WpTrainer *trainer,
               guint           *order,
               gint64           epoch)
{
  const guint       n = trainer->n_train, run = (guint) trainer->settings.group_by_word;
  const guint       n_runs = (n + run - 1) / run;
  g_autofree Keyed *keyed = g_new (Keyed, n);
  g_autofree guint *runs = g_new (guint, n_runs);
  g_autofree guint *grouped = g_new (guint, n);
  guint             out = 0;
  WpRng             rng;

  wp_rng_init (&rng, derive_seed (trainer->settings.seed, STREAM_GROUP, (guint64) epoch));
  for (guint i = 0; i < n; i++) {
    const guint first = trainer->word_starts[order[i]],
                n_words = trainer->word_starts[order[i] + 1] - first;

    keyed[i].key =
      n_words > 0 ? trainer->word_ids[first + wp_rng_next (&rng) % n_words] : G_MAXUINT;
    keyed[i].position = i;
  }
  qsort (keyed, n, sizeof *keyed, compare_keyed);
  for (guint r = 0; r < n_runs; r++)
    runs[r] = r;
  shuffle (runs, n_runs, wp_rng_next (&rng));
  for (guint r = 0; r < n_runs; r++) {
    for (guint i = runs[r] * run; i < MIN (n, (runs[r] + 1) * run); i++)
      grouped[out++] = order[keyed[i].position];
  }
  memcpy (order, grouped, n * sizeof (guint));
}

static void
batch_indices (const WpTrainer *trainer,
               gint64           step,
               guint           *order,
               gint64          *order_epoch,
               guint           *indices,
               guint64         *seeds)
{
  const int    B = trainer->settings.batch;
  const gint64 epoch = step / trainer->steps_per_epoch;
  const gint64 slot = step % trainer->steps_per_epoch;

  if (*order_epoch != epoch) {
    memcpy (order, trainer->train_indices, trainer->n_train * sizeof (guint));
    shuffle (order, trainer->n_train,
             derive_seed (trainer->settings.seed, STREAM_SHUFFLE, (guint64) epoch));
    if (trainer->settings.group_by_word > 0)
      group_by_word (trainer, order, epoch);
    *order_epoch = epoch;
  }
  for (int b = 0; b < B; b++) {
    indices[b] = order[slot * B + b];
    seeds[b] = derive_seed (trainer->settings.seed, STREAM_AUGMENT, (guint64) (step * B + b));
  }
}

static gpointer
prefetch_worker (gpointer user_data)
{
  Prefetch           *prefetch = user_data;
  WpTrainer          *trainer = prefetch->trainer;
  const int           B = trainer->settings.batch;
  g_autofree guint   *order = g_new (guint, trainer->n_train);
  g_autofree guint   *indices = g_new (guint, B);
  g_autofree guint64 *seeds = g_new (guint64, B);
  gint64              order_epoch = -1;

  for (gint64 step = prefetch->first_step; step < trainer->total_steps; step++) {
    Batch *batch = g_async_queue_pop (prefetch->free_slots);

    if (batch == &prefetch->stop_marker)
      break;
    batch_indices (trainer, step, order, &order_epoch, indices, seeds);
    batch->step = step;
    g_clear_error (&batch->error);
    wp_dataset_load_batch (trainer->dataset, trainer->model, indices, B,
                           trainer->settings.augment ? &trainer->settings.augment_options : NULL,
                           seeds, batch->pixels, batch->ids, batch->lengths, &batch->T,
                           &batch->error);
    g_async_queue_push (prefetch->ready_slots, batch);
  }
  return NULL;
}

static void
prefetch_start (Prefetch  *prefetch,
                WpTrainer *trainer)
{
  const WpClipConfig *config = &trainer->model->config;
  const int           B = trainer->settings.batch;

  memset (prefetch, 0, sizeof *prefetch);
  prefetch->trainer = trainer;
  prefetch->first_step = trainer->adamw->step;
  prefetch->free_slots = g_async_queue_new ();
  prefetch->ready_slots = g_async_queue_new ();
  for (int i = 0; i < 2; i++) {
    prefetch->slots[i].pixels =
      g_new (float, (gsize) B * 3 * config->image_size * config->image_size);
    prefetch->slots[i].ids = g_new (int, (gsize) B * config->context_length);
    prefetch->slots[i].lengths = g_new (int, B);
    g_async_queue_push (prefetch->free_slots, &prefetch->slots[i]);
  }
  prefetch->thread = g_thread_new ("wp-prefetch", prefetch_worker, prefetch);
}

static void
prefetch_stop (Prefetch *prefetch)
{
  g_async_queue_push (prefetch->free_slots, &prefetch->stop_marker);
  g_thread_join (prefetch->thread);
  for (int i = 0; i < 2; i++) {
    g_free (prefetch->slots[i].pixels);
    g_free (prefetch->slots[i].ids);
    g_free (prefetch->slots[i].lengths);
    g_clear_error (&prefetch->slots[i].error);
  }
  g_async_queue_unref (prefetch->free_slots);
  g_async_queue_unref (prefetch->ready_slots);
}

/* ---- the loop ---- */

static void
wake_paused (GCancellable *cancellable,
             gpointer      user_data)
{
  WpTrainer *trainer = user_data;

  g_mutex_lock (&trainer->pause_lock);
  g_cond_broadcast (&trainer->pause_cond);
  g_mutex_unlock (&trainer->pause_lock);
}

static void
take_snapshot (WpTrainer *trainer)
{
  g_mutex_lock (&trainer->snapshot_lock);
  if (trainer->snapshot == NULL)
    trainer->snapshot = g_new (float, trainer->model->n_params);
  memcpy (trainer->snapshot, trainer->model->params, trainer->model->n_params * sizeof (float));
  trainer->snapshot_step = trainer->adamw->step;
  trainer->snapshot_generation++;
  g_mutex_unlock (&trainer->snapshot_lock);
}

static void
take_snapshot_if_wanted (WpTrainer *trainer)
{
  if (g_atomic_int_compare_and_exchange (&trainer->snapshot_wanted, 1, 0))
    take_snapshot (trainer);
}

/* A pause starts with a snapshot and a PAUSED event, so that what is explored while paused is
 * the weights training will go on from. */
static void
wait_while_paused (WpTrainer          *trainer,
                   WpTrainProgress    *progress,
                   WpTrainProgressFunc callback,
                   gpointer            user_data,
                   GCancellable       *cancellable,
                   GTimer             *timer)
{
  gboolean paused;

  g_mutex_lock (&trainer->pause_lock);
  paused = trainer->paused && !g_cancellable_is_cancelled (cancellable);
  g_mutex_unlock (&trainer->pause_lock);
  if (!paused)
    return;
  /* Time spent paused does not count in the throughput and ETA. */
  g_timer_stop (timer);
  take_snapshot (trainer);
  progress->event = WP_TRAIN_EVENT_PAUSED;
  progress->step = trainer->adamw->step;
  if (callback != NULL)
    callback (progress, user_data);
  g_mutex_lock (&trainer->pause_lock);
  while (trainer->paused && !g_cancellable_is_cancelled (cancellable))
    g_cond_wait (&trainer->pause_cond, &trainer->pause_lock);
  g_mutex_unlock (&trainer->pause_lock);
  g_timer_continue (timer);
}

static gboolean
log_step (WpTrainer             *trainer,
          const WpTrainProgress *p,
          GError               **error)
{
  g_autofree char *line = g_strdup_printf (
    "{\"step\": %" G_GINT64_FORMAT ", \"epoch\": %.4f, \"loss\": %.7g, \"loss_clip\": %.7g, "
    "\"loss_filip\": %.7g, \"loss_fine\": %.7g, "
    "\"lr\": %.6g, \"grad_norm\": %.6g, \"logit_scale\": %.6g, \"pairs_per_s\": %.2f, "
    "\"elapsed_s\": %.2f}",
    p->step, p->epoch, p->loss.total, p->loss.clip, p->loss.filip, p->loss.fine, p->lr,
    p->grad_norm, p->logit_scale, p->pairs_per_second, p->elapsed_seconds);

  return append_metrics_line (trainer, line, error);
}

gboolean
wp_trainer_evaluate (const WpTrainer *trainer,
                     const WpModel   *model,
                     GCancellable    *cancellable,
                     WpEvalResult    *result,
                     GError         **error)
{
  WpEvalOptions options;

  if (trainer->n_holdout == 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "%s: the run holds no pair out to evaluate on (holdout 0)",
                 trainer->settings.out_dir);
    return FALSE;
  }
  wp_eval_options_init (&options);
  return wp_evaluate (model, trainer->dataset, trainer->holdout_indices,
                      MIN (trainer->n_holdout, (guint) trainer->settings.eval_max), &options,
                      cancellable, result, error);
}

/* JSON has no NaN: a metric without data is null. */
static void
append_metric (GString    *line,
               const char *name,
               double      value)
{
  if (isfinite (value))
    g_string_append_printf (line, ", \"%s\": %.6g", name, value);
  else
    g_string_append_printf (line, ", \"%s\": null", name);
}

static gboolean
evaluate_holdout (WpTrainer       *trainer,
                  WpTrainProgress *progress,
                  GCancellable    *cancellable,
                  GError         **error)
{
  g_autoptr (GString) line = g_string_new (NULL);
  WpEvalResult result = { 0 };

  if (!wp_trainer_evaluate (trainer, trainer->model, cancellable, &result, error))
    return FALSE;
  progress->event = WP_TRAIN_EVENT_EVAL;
  progress->eval_pairs = result.pairs;
  progress->i2t_r1 = result.i2t_r1;
  progress->i2t_r5 = result.i2t_r5;
  progress->t2i_r1 = result.t2i_r1;
  progress->t2i_r5 = result.t2i_r5;
  progress->eval_boxed_words = result.boxed_words;
  progress->pointing_filip = result.scores[WP_MAP_FILIP].pointing;
  progress->pointing_sparc = result.scores[WP_MAP_SPARC].pointing;
  g_string_printf (line, "{\"step\": %" G_GINT64_FORMAT ", \"eval\": {\"pairs\": %u",
                   trainer->adamw->step, result.pairs);
  append_metric (line, "i2t_r1", result.i2t_r1);
  append_metric (line, "i2t_r5", result.i2t_r5);
  append_metric (line, "i2t_r10", result.i2t_r10);
  append_metric (line, "t2i_r1", result.t2i_r1);
  append_metric (line, "t2i_r5", result.t2i_r5);
  append_metric (line, "t2i_r10", result.t2i_r10);
  if (result.boxed_words > 0) {
    g_string_append_printf (line, ", \"boxed_words\": %u", result.boxed_words);
    append_metric (line, "pointing_filip", result.scores[WP_MAP_FILIP].pointing);
    append_metric (line, "pointing_sparc", result.scores[WP_MAP_SPARC].pointing);
  }
  g_string_append (line, "}}");
  wp_eval_result_clear (&result);
  return append_metrics_line (trainer, line->str, error);
}

static gboolean
checkpoint_and_report (WpTrainer          *trainer,
                       WpTrainProgress    *progress,
                       WpTrainProgressFunc callback,
                       gpointer            user_data,
                       GError            **error)
{
  if (trainer->checkpoint_step == trainer->adamw->step)
    return TRUE;
  if (!save_checkpoint (trainer, error))
    return FALSE;
  progress->event = WP_TRAIN_EVENT_CHECKPOINT;
  progress->checkpoint_dir = trainer->checkpoint_dir;
  if (callback != NULL)
    callback (progress, user_data);
  return TRUE;
}

static gboolean
train_steps (WpTrainer          *trainer,
             Prefetch           *prefetch,
             WpTrainProgressFunc callback,
             gpointer            user_data,
             GCancellable       *cancellable,
             GError            **error)
{
  WpModel     *model = trainer->model;
  const int    B = trainer->settings.batch;
  const gint64 first = trainer->adamw->step;
  const gint64 eval_every =
    trainer->settings.eval_every > 0 ? trainer->settings.eval_every : trainer->settings.save_every;
  g_autoptr (WpLossState) state = wp_loss_state_new (&model->config, B);
  g_autofree float *grads = g_new (float, model->n_params);
  g_autoptr (GTimer) timer = g_timer_new ();
  WpParams        grad_views;
  WpTrainProgress progress = { 0 };

  wp_params_init_views (&grad_views, &model->config, model->specs, grads);
  progress.total_steps = trainer->total_steps;
  if (first == 0 && trainer->n_holdout > 0) {
    progress.step = 0;
    if (!evaluate_holdout (trainer, &progress, cancellable, error))
      return FALSE;
    if (callback != NULL)
      callback (&progress, user_data);
  }
  while (trainer->adamw->step < trainer->total_steps) {
    const gint64 step = trainer->adamw->step;
    Batch       *batch;
    double       elapsed, done;

    wait_while_paused (trainer, &progress, callback, user_data, cancellable, timer);
    if (g_cancellable_is_cancelled (cancellable)) {
      if (!checkpoint_and_report (trainer, &progress, callback, user_data, error))
        return FALSE;
      return !g_cancellable_set_error_if_cancelled (cancellable, error);
    }
    batch = g_async_queue_pop (prefetch->ready_slots);
    g_assert (batch->step == step);
    if (batch->error != NULL) {
      g_propagate_prefixed_error (error, g_steal_pointer (&batch->error),
                                  "step %" G_GINT64_FORMAT ": ", step + 1);
      g_async_queue_push (prefetch->free_slots, batch);
      return FALSE;
    }
    memset (grads, 0, model->n_params * sizeof (float));
    if (!wp_loss_compute (model, state, &trainer->settings.loss, batch->pixels, batch->ids,
                          batch->lengths, B, batch->T, &grad_views, &progress.loss, error)) {
      g_prefix_error (error, "step %" G_GINT64_FORMAT ": ", step + 1);
      g_async_queue_push (prefetch->free_slots, batch);
      goto not_finite;
    }
    g_async_queue_push (prefetch->free_slots, batch);
    progress.lr = wp_adamw_learning_rate (&trainer->adamw_options, step);
    progress.grad_norm = wp_adamw_update (trainer->adamw, model, grads, &trainer->adamw_options);
    if (!isfinite (progress.grad_norm)) {
      g_set_error (error, WP_ERROR, WP_ERROR_NOT_FINITE,
                   "step %" G_GINT64_FORMAT ": the gradient is not finite (norm %g)", step + 1,
                   progress.grad_norm);
      goto not_finite;
    }
    take_snapshot_if_wanted (trainer);

    elapsed = g_timer_elapsed (timer, NULL);
    done = (double) (trainer->adamw->step - first);
    progress.event = WP_TRAIN_EVENT_STEP;
    progress.step = trainer->adamw->step;
    progress.epoch = (double) progress.step / (double) trainer->steps_per_epoch;
    progress.logit_scale = expf (*model->p.logit_scale);
    progress.elapsed_seconds = elapsed;
    progress.pairs_per_second = elapsed > 0.0 ? done * B / elapsed : 0.0;
    progress.eta_seconds =
      done > 0.0 ? elapsed / done * (double) (trainer->total_steps - progress.step) : 0.0;
    if (!log_step (trainer, &progress, error))
      return FALSE;
    if (callback != NULL)
      callback (&progress, user_data);
    if (trainer->n_holdout > 0 &&
        (progress.step % eval_every == 0 || progress.step == trainer->total_steps)) {
      if (!evaluate_holdout (trainer, &progress, NULL, error))
        return FALSE;
      if (callback != NULL)
        callback (&progress, user_data);
    }
    if ((progress.step % trainer->settings.save_every == 0 ||
         progress.step == trainer->total_steps) &&
        !checkpoint_and_report (trainer, &progress, callback, user_data, error))
      return FALSE;
  }
  return TRUE;

not_finite:
  g_prefix_error (error, "training stopped, the weights of %s are kept: ", trainer->checkpoint_dir);
  return FALSE;
}

gboolean
wp_trainer_run (WpTrainer          *trainer,
                WpTrainProgressFunc progress,
                gpointer            user_data,
                GCancellable       *cancellable,
                GError            **error)
{
  Prefetch prefetch;
  gulong   handler = 0;
  gboolean ok;

  if (trainer->adamw->step >= trainer->total_steps)
    return TRUE;
  if (cancellable != NULL)
    handler = g_cancellable_connect (cancellable, G_CALLBACK (wake_paused), trainer, NULL);
  prefetch_start (&prefetch, trainer);
  ok = train_steps (trainer, &prefetch, progress, user_data, cancellable, error);
  prefetch_stop (&prefetch);
  if (cancellable != NULL)
    g_cancellable_disconnect (cancellable, handler);
  return ok;
}

void
wp_trainer_set_paused (WpTrainer *trainer,
                       gboolean   paused)
{
  g_mutex_lock (&trainer->pause_lock);
  trainer->paused = paused;
  g_cond_broadcast (&trainer->pause_cond);
  g_mutex_unlock (&trainer->pause_lock);
}

void
wp_trainer_request_snapshot (WpTrainer *trainer)
{
  g_atomic_int_set (&trainer->snapshot_wanted, 1);
}

guint
wp_trainer_copy_snapshot (WpTrainer *trainer,
                          WpModel   *model)
{
  guint generation;

  g_return_val_if_fail (model->n_params == trainer->model->n_params, 0);
  g_mutex_lock (&trainer->snapshot_lock);
  generation = trainer->snapshot_generation;
  if (generation > 0) {
    memcpy (model->params, trainer->snapshot, model->n_params * sizeof (float));
    model->step = trainer->snapshot_step;
  }
  g_mutex_unlock (&trainer->snapshot_lock);
  return generation;
}

const WpModel *
wp_trainer_get_model (const WpTrainer *trainer)
{
  return trainer->model;
}

const WpDataset *
wp_trainer_get_dataset (const WpTrainer *trainer)
{
  return trainer->dataset;
}

const WpTrainSettings *
wp_trainer_get_settings (const WpTrainer *trainer)
{
  return &trainer->settings;
}

gint64
wp_trainer_get_step (const WpTrainer *trainer)
{
  return trainer->adamw->step;
}

gint64
wp_trainer_get_total_steps (const WpTrainer *trainer)
{
  return trainer->total_steps;
}

guint
wp_trainer_get_n_train (const WpTrainer *trainer)
{
  return trainer->n_train;
}

guint
wp_trainer_get_n_holdout (const WpTrainer *trainer)
{
  return trainer->n_holdout;
}

void
wp_trainer_get_batch (const WpTrainer *trainer,
                      gint64           step,
                      guint           *indices)
{
  g_autofree guint   *order = g_new (guint, trainer->n_train);
  g_autofree guint64 *seeds = g_new (guint64, trainer->settings.batch);
  gint64              order_epoch = -1;

  g_return_if_fail (step >= 0);
  batch_indices (trainer, step, order, &order_epoch, indices, seeds);
}

const char *
wp_trainer_get_checkpoint_dir (const WpTrainer *trainer)
{
  return trainer->checkpoint_dir;
}
