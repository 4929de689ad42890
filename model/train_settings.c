#include "wordpatch/train_settings.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "wordpatch/error.h"
#include "wordpatch/parallel.h"

#include "json-private.h"
#include "trainer-private.h"

#define SETTINGS_FORMAT 1

#define FIELD(member) G_STRUCT_OFFSET (WpTrainSettings, member)
#define NO_RANGE      0.0, 0.0
/* Steps and step counts: far beyond any run, exact as doubles. */
#define MAX_STEPS 1e12

/* The one list of the settings. Resumable ones change neither the model, nor the data a step
 * sees, nor the arithmetic of a step: see train_settings.h. */
static const WpTrainSetting settings_table[] = {
  { "data", WP_SETTING_PATH, FIELD (data_dir), 0.0, NO_RANGE, WP_SETTING_RESUMABLE, "data", 'd',
    "PATH",
    "Dataset: a folder (captions.jsonl, open_clip CSV, COCO, Flickr30k Entities, WebDataset "
    "shards), a file, or shards as a{000..009}.tar; moved data must hold the same pairs",
    NULL },
  { "images", WP_SETTING_PATH, FIELD (dataset.images), 0.0, NO_RANGE,
    WP_SETTING_OPTIONAL | WP_SETTING_RESUMABLE, "images", 0, "DIR",
    "COCO, Flickr30k Entities: the image folder", "the dataset's own" },
  { "instances", WP_SETTING_PATH, FIELD (dataset.instances), 0.0, NO_RANGE,
    WP_SETTING_OPTIONAL | WP_SETTING_RESUMABLE, "instances", 0, "FILE",
    "COCO: an instances_*.json whose boxes ground the caption words naming a category", NULL },
  { "split", WP_SETTING_STRING, FIELD (dataset.split), 0.0, NO_RANGE, WP_SETTING_OPTIONAL,
    "split", 0, "NAME",
    "Flickr30k Entities: only the images of NAME.txt (train, val, test) or of a file", "all" },
  { "csv_img_key", WP_SETTING_STRING, FIELD (dataset.csv_img_key), 0.0, NO_RANGE,
    WP_SETTING_OPTIONAL, "csv-img-key", 0, "KEY", "open_clip CSV: the column of image paths",
    "filepath" },
  { "csv_caption_key", WP_SETTING_STRING, FIELD (dataset.csv_caption_key), 0.0, NO_RANGE,
    WP_SETTING_OPTIONAL, "csv-caption-key", 0, "KEY", "open_clip CSV: the column of captions",
    "title" },
  { "csv_separator", WP_SETTING_STRING, FIELD (dataset.csv_separator), 0.0, NO_RANGE,
    WP_SETTING_OPTIONAL, "csv-separator", 0, "C", "open_clip CSV: the field separator", "tab" },
  { "out", WP_SETTING_PATH, FIELD (out_dir), 0.0, NO_RANGE,
    WP_SETTING_UNSAVED | WP_SETTING_RESUMABLE, "out", 'o', "DIR",
    "Output folder: checkpoints, metrics.jsonl, settings.json", NULL },
  { "init", WP_SETTING_PATH, FIELD (init_model), 0.0, NO_RANGE, 0, "init", 'i', "MODEL",
    "Fine-tune this model (folder or .safetensors)", NULL },
  { "config", WP_SETTING_STRING, FIELD (preset), 0.0, NO_RANGE, 0, "config", 'c', "SIZE",
    "Train from scratch at this size: tiny, small or vit-b32", NULL },
  { "vocab_size", WP_SETTING_INT, FIELD (vocab_size), 1024, 600, 65536, 0, "vocab-size", 0, "N",
    "Tokens of the vocabulary learnt from scratch (512 byte symbols, merges, 2 special tokens)",
    NULL },
  { "image_size", WP_SETTING_INT, FIELD (image_size), 0, 0, WP_MAX_IMAGE, WP_SETTING_OPTIONAL,
    "image-size", 0, "PX", "From scratch: image side in pixels",
    "the size's: tiny 64, small 96, vit-b32 224" },
  { "patch_size", WP_SETTING_INT, FIELD (patch_size), 0, 0, WP_MAX_IMAGE, WP_SETTING_OPTIONAL,
    "patch-size", 0, "PX", "From scratch: patch side in pixels, dividing the image side",
    "the size's: tiny 8, small 12, vit-b32 32" },
  { "loss", WP_SETTING_CHOICE, FIELD (loss.objective), WP_OBJECTIVE_SPARC, NO_RANGE, 0, "loss",
    'l', "NAME", "Objective: clip, filip, sparc or sigmoid (SigLIP models)", NULL,
    wp_objective_names },
  { "lambda_global", WP_SETTING_FLOAT, FIELD (loss.lambda_global), 0.0, 0, 1e6, 0,
    "lambda-global", 0, "W",
    "SPARC's weight of the global loss (the paper's 0.5; without it the pooled embeddings are not "
    "trained)",
    NULL },
  { "lambda_fine", WP_SETTING_FLOAT, FIELD (loss.lambda_fine), 1.0, 0, 1e6, 0, "lambda-fine", 0,
    "W", "SPARC's weight of the fine-grained loss", NULL },
  { "sparc_negatives", WP_SETTING_CHOICE, FIELD (loss.sparc_negatives),
    WP_SPARC_NEGATIVES_PAIRS, NO_RANGE, WP_SETTING_OPTIONAL | WP_SETTING_ABSENT_OFF,
    "sparc-negatives", 0, "KIND",
    "SPARC: the fine-grained logits' negatives: caption (the paper's: the other tokens of the "
    "caption), batch (every token of the batch), images (the token's grouping in the other "
    "images), unshared-images (in the other images whose captions lack the token) or pairs "
    "(each caption's mean over its tokens in every image, contrasted as CLIP's pairs)",
    NULL, wp_sparc_negatives_names },
  { "sparc_stop_selection", WP_SETTING_BOOL, FIELD (loss.sparc_stop_selection), 0, NO_RANGE,
    WP_SETTING_OPTIONAL, "sparc-stop-selection", 0, NULL,
    "SPARC: the fine-grained loss trains what the grouped patches hold, not which are grouped "
    "(ours)",
    NULL },
  { "sparc_centre_positions", WP_SETTING_BOOL, FIELD (loss.sparc_centre_positions), 0, NO_RANGE,
    WP_SETTING_OPTIONAL, "sparc-centre-positions", 0, NULL,
    "SPARC: the fine-grained loss sees each patch less its position's mean over the batch, so "
    "where a patch is cannot tell tokens apart (ours)",
    NULL },
  { "sparc_centre_images", WP_SETTING_BOOL, FIELD (loss.sparc_centre_images), 0, NO_RANGE,
    WP_SETTING_OPTIONAL, "sparc-centre-images", 0, NULL,
    "SPARC: the fine-grained loss sees each patch less its image's mean patch, so what the whole "
    "image holds cannot tell images apart (ours)",
    NULL },
  { "sparc_threshold", WP_SETTING_FLOAT, FIELD (loss.sparc_threshold), 0.0, 0, 1,
    WP_SETTING_OPTIONAL, "sparc-threshold", 0, "S",
    "SPARC: the alignment weights keep the patches whose min-max normalised similarity is at "
    "least S (0: the paper's 1/P; 1: each token's most similar patch alone)",
    NULL },
  { "sparc_patch_side", WP_SETTING_FLOAT, FIELD (loss.sparc_patch_side), 0.0, 0, 1,
    WP_SETTING_OPTIONAL, "sparc-patch-side", 0, "F",
    "SPARC pair negatives: the images' side is scored as FILIP's, each image's F most "
    "caption-like patches matched to their most similar token (ours)",
    "0: off" },
  { "filip_patch_fraction", WP_SETTING_FLOAT, FIELD (loss.filip_patch_fraction), 1.0, 0, 1,
    WP_SETTING_OPTIONAL | WP_SETTING_MIN_OPEN, "filip-patches", 0, "F",
    "FILIP: share of each image's patches in the image-to-text similarity, the most similar ones",
    NULL },
  { "filip_global", WP_SETTING_FLOAT, FIELD (loss.filip_global), 0.0, 0, 1e6, WP_SETTING_OPTIONAL,
    "filip-global", 0, "W",
    "FILIP: weight of an added global contrastive loss on the pooled embeddings", NULL },
  { "box_weight", WP_SETTING_FLOAT, FIELD (loss.box_weight), 0.0, 0, 1e6, WP_SETTING_OPTIONAL,
    "box-weight", 0, "W",
    "Weight of the box term: each boxed word's map is trained to peak inside its boxes",
    "0: off" },
  { "box_tau", WP_SETTING_FLOAT, FIELD (loss.box_tau), 0.07, 0, 100,
    WP_SETTING_OPTIONAL | WP_SETTING_MIN_OPEN, "box-tau", 0, "T",
    "Box term: temperature of the softmax over each word's map", NULL },
  { "steps", WP_SETTING_INT64, FIELD (steps), 0, 0, MAX_STEPS,
    WP_SETTING_OPTIONAL | WP_SETTING_RESUMABLE, "steps", 0, "N",
    "Total updates; resuming, train on to N with the learning-rate schedule stretched to N",
    "from --epochs" },
  { "epochs", WP_SETTING_DOUBLE, FIELD (epochs), 10.0, 0, 1e6,
    WP_SETTING_MIN_OPEN | WP_SETTING_RESUMABLE, "epochs", 0, "N",
    "Passes over the training pairs when --steps is not given", NULL },
  { "batch", WP_SETTING_INT, FIELD (batch), 32, 2, 4096, 0, "batch", 'b', "B",
    "Pairs a step (contrastive losses need negatives)", NULL },
  { "group_by_word", WP_SETTING_INT, FIELD (group_by_word), 0, 0, 4096, WP_SETTING_OPTIONAL,
    "group-by-word", 0, "N",
    "Build batches from runs of N pairs whose captions share a word, as hard negatives",
    "0: off" },
  { "shuffle_buffer", WP_SETTING_INT, FIELD (shuffle_buffer), 0, 0, 10000000, WP_SETTING_OPTIONAL,
    "shuffle-buffer", 0, "N",
    "Pairs shuffled at a time: 1 keeps the data's order, N streams them (WebDataset shards in a "
    "shuffled order) through a buffer of N",
    "0: each epoch whole; WebDataset: " G_STRINGIFY (WP_SHUFFLE_BUFFER_SHARDS) },
  { "lr", WP_SETTING_DOUBLE, FIELD (lr), 0.0, 0, 1e30, WP_SETTING_MAX_OPEN, "lr", 0, "LR",
    "Peak learning rate", "5e-4 from scratch, 1e-5 fine-tuning" },
  { "warmup", WP_SETTING_DOUBLE, FIELD (warmup), 0.05, 0, 1, 0, "warmup", 0, "F",
    "Fraction of the steps warming up", NULL },
  { "weight_decay", WP_SETTING_DOUBLE, FIELD (weight_decay), 0.1, 0, 1e6, 0, "weight-decay", 0,
    "W", "AdamW weight decay", NULL },
  { "freeze_text", WP_SETTING_BOOL, FIELD (freeze_text), 0, NO_RANGE, 0, "freeze-text", 0, NULL,
    "Keep the text tower as it is", NULL },
  { "freeze_vision", WP_SETTING_BOOL, FIELD (freeze_vision), 0, NO_RANGE, 0, "freeze-vision", 0,
    NULL, "Keep the image tower as it is", NULL },
  { "threads", WP_SETTING_INT, FIELD (threads), 0, 0, WP_MAX_THREADS, WP_SETTING_RESUMABLE,
    "threads", 't', "T", "Threads of the engine: OpenBLAS's and its own pool's",
    "all processors; resuming, the run's" },
  { "seed", WP_SETTING_UINT64, FIELD (seed), 0, NO_RANGE, 0, "seed", 's', "S",
    "Seed of the split, order, augmentation and initial weights", NULL },
  { "save_every", WP_SETTING_INT64, FIELD (save_every), 200, 1, MAX_STEPS, WP_SETTING_RESUMABLE,
    "save-every", 0, "N", "Steps between checkpoints", NULL },
  { "eval_every", WP_SETTING_INT64, FIELD (eval_every), 0, 0, MAX_STEPS, WP_SETTING_RESUMABLE,
    "eval-every", 0, "N", "Steps between held-out evaluations", "0: at checkpoints" },
  { "holdout", WP_SETTING_DOUBLE, FIELD (holdout), 0.1, 0, 1, WP_SETTING_MAX_OPEN, "holdout", 0,
    "F", "Fraction of pairs held out for evaluation", NULL },
  { "eval_max", WP_SETTING_INT, FIELD (eval_max), 500, 1, G_MAXINT, 0, "eval-max", 0, "N",
    "Held-out pairs evaluated at most", NULL },
  { "augment", WP_SETTING_BOOL, FIELD (augment), 0, NO_RANGE, 0, "augment", 'a', NULL,
    "Random resized crops, colour jitter and flips (not for left/right captions)", NULL },
  { "crop_scale_min", WP_SETTING_DOUBLE, FIELD (augment_options.crop_scale_min), 0.6, 0, 1,
    WP_SETTING_MIN_OPEN, NULL, 0, NULL, "Augmentation: the smallest area share of a crop", NULL },
  { "crop_ratio_max", WP_SETTING_DOUBLE, FIELD (augment_options.crop_ratio_max), 4.0 / 3.0, 1, 10,
    0, NULL, 0, NULL, "Augmentation: the largest aspect ratio of a crop", NULL },
  { "brightness", WP_SETTING_DOUBLE, FIELD (augment_options.brightness), 0.2, 0, 1, 0, NULL, 0,
    NULL, "Augmentation: brightness factors drawn in [1 - a, 1 + a]", NULL },
  { "contrast", WP_SETTING_DOUBLE, FIELD (augment_options.contrast), 0.2, 0, 1, 0, NULL, 0, NULL,
    "Augmentation: contrast factors drawn in [1 - a, 1 + a]", NULL },
  { "saturation", WP_SETTING_DOUBLE, FIELD (augment_options.saturation), 0.2, 0, 1, 0, NULL, 0,
    NULL, "Augmentation: saturation factors drawn in [1 - a, 1 + a]", NULL },
  { "flip", WP_SETTING_BOOL, FIELD (augment_options.flip), 1, NO_RANGE, 0, NULL, 0, NULL,
    "Augmentation: horizontal flips", NULL },
  { "keep", WP_SETTING_INT, FIELD (keep), 2, 1, G_MAXINT, WP_SETTING_RESUMABLE, "keep", 0, "N",
    "Checkpoints kept besides step 0", NULL },
};

const WpTrainSetting *
wp_train_settings_table (guint *n_settings)
{
  *n_settings = G_N_ELEMENTS (settings_table);
  return settings_table;
}

const WpTrainSetting *
wp_train_settings_find (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (settings_table); i++) {
    if (strcmp (settings_table[i].name, name) == 0)
      return &settings_table[i];
  }
  return NULL;
}

/* ---- one field ---- */

#define FIELD_OF(type, settings, setting) G_STRUCT_MEMBER (type, settings, (setting)->offset)

static gboolean
is_string (const WpTrainSetting *setting)
{
  return setting->type == WP_SETTING_PATH || setting->type == WP_SETTING_STRING;
}

/* The numeric value, for ranges and messages (64-bit integers beyond 2^53 are rounded). */
static double
get_number (const WpTrainSetting  *setting,
            const WpTrainSettings *s)
{
  switch (setting->type) {
  case WP_SETTING_INT:
    return FIELD_OF (int, s, setting);
  case WP_SETTING_INT64:
    return (double) FIELD_OF (gint64, s, setting);
  case WP_SETTING_UINT64:
    return (double) FIELD_OF (guint64, s, setting);
  case WP_SETTING_FLOAT:
    return FIELD_OF (float, s, setting);
  case WP_SETTING_DOUBLE:
    return FIELD_OF (double, s, setting);
  case WP_SETTING_BOOL:
    return FIELD_OF (gboolean, s, setting);
  case WP_SETTING_CHOICE:
    return FIELD_OF (int, s, setting);
  case WP_SETTING_PATH:
  case WP_SETTING_STRING:
    break;
  }
  g_return_val_if_reached (0.0);
}

/* For values a float, a double or the table's defaults hold exactly. */
static void
set_number (const WpTrainSetting *setting,
            WpTrainSettings      *s,
            double                value)
{
  switch (setting->type) {
  case WP_SETTING_INT:
    FIELD_OF (int, s, setting) = (int) value;
    break;
  case WP_SETTING_INT64:
    FIELD_OF (gint64, s, setting) = (gint64) value;
    break;
  case WP_SETTING_UINT64:
    FIELD_OF (guint64, s, setting) = (guint64) value;
    break;
  case WP_SETTING_FLOAT:
    FIELD_OF (float, s, setting) = (float) value;
    break;
  case WP_SETTING_DOUBLE:
    FIELD_OF (double, s, setting) = value;
    break;
  case WP_SETTING_BOOL:
    FIELD_OF (gboolean, s, setting) = value != 0.0;
    break;
  case WP_SETTING_CHOICE:
    FIELD_OF (int, s, setting) = (int) value;
    break;
  case WP_SETTING_PATH:
  case WP_SETTING_STRING:
    g_return_if_reached ();
  }
}

static gboolean
has_range (const WpTrainSetting *setting)
{
  switch (setting->type) {
  case WP_SETTING_INT:
  case WP_SETTING_INT64:
  case WP_SETTING_FLOAT:
  case WP_SETTING_DOUBLE:
    return TRUE;
  case WP_SETTING_PATH:
  case WP_SETTING_STRING:
  case WP_SETTING_UINT64:
  case WP_SETTING_BOOL:
  case WP_SETTING_CHOICE:
    break;
  }
  return FALSE;
}

/* The value in the setting's range; NaN never is. */
static gboolean
check_range (const WpTrainSetting  *setting,
             const WpTrainSettings *s,
             const char            *name,
             GError               **error)
{
  const gboolean   min_open = (setting->flags & WP_SETTING_MIN_OPEN) != 0;
  const gboolean   max_open = (setting->flags & WP_SETTING_MAX_OPEN) != 0;
  g_autofree char *text = NULL;
  double           value;

  if (!has_range (setting))
    return TRUE;
  value = get_number (setting, s);
  if ((min_open ? value > setting->min : value >= setting->min) &&
      (max_open ? value < setting->max : value <= setting->max))
    return TRUE;
  text = wp_train_setting_to_string (setting, s);
  g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "%s must be in %c%.15g, %.15g%c, not %s", name,
               min_open ? '(' : '[', setting->min, setting->max, max_open ? ')' : ']', text);
  return FALSE;
}

/* "a, b or c" */
static char *
choice_list (const char *const *choices)
{
  GString *list = g_string_new (choices[0]);

  for (int i = 1; choices[i] != NULL; i++)
    g_string_append_printf (list, choices[i + 1] != NULL ? ", %s" : " or %s", choices[i]);
  return g_string_free (list, FALSE);
}

gboolean
wp_train_setting_parse (const WpTrainSetting *setting,
                        WpTrainSettings      *s,
                        const char           *text,
                        const char           *name,
                        GError              **error)
{
  const WpTrainSettings before = *s; /* its strings are not copied: numbers only go back */
  const gboolean        is_int = setting->type == WP_SETTING_INT;
  const char           *kind = NULL;
  gint64                whole;
  guint64               unsigned_whole;
  g_autofree char      *choices = NULL;
  char                 *end;
  double                real;

  switch (setting->type) {
  case WP_SETTING_PATH:
  case WP_SETTING_STRING:
    g_free (FIELD_OF (char *, s, setting));
    FIELD_OF (char *, s, setting) = g_strdup (text);
    return TRUE;
  case WP_SETTING_INT:
  case WP_SETTING_INT64:
    if (!g_ascii_string_to_signed (text, 10, is_int ? G_MININT : G_MININT64,
                                   is_int ? G_MAXINT : G_MAXINT64, &whole, NULL))
      kind = "a whole number";
    else if (is_int)
      FIELD_OF (int, s, setting) = (int) whole;
    else
      FIELD_OF (gint64, s, setting) = whole;
    break;
  case WP_SETTING_UINT64:
    if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, &unsigned_whole, NULL))
      kind = "a whole number from 0";
    else
      FIELD_OF (guint64, s, setting) = unsigned_whole;
    break;
  case WP_SETTING_FLOAT:
  case WP_SETTING_DOUBLE:
    real = g_ascii_strtod (text, &end);
    if (end == text || *end != '\0')
      kind = "a number";
    else
      set_number (setting, s, real);
    break;
  case WP_SETTING_BOOL:
    if (g_strcmp0 (text, "true") != 0 && g_strcmp0 (text, "false") != 0)
      kind = "true or false";
    else
      set_number (setting, s, g_strcmp0 (text, "true") == 0);
    break;
  case WP_SETTING_CHOICE:
    for (int i = 0; setting->choices[i] != NULL; i++) {
      if (g_strcmp0 (text, setting->choices[i]) == 0) {
        set_number (setting, s, i);
        return TRUE;
      }
    }
    kind = choices = choice_list (setting->choices);
    break;
  }
  if (kind != NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "%s must be %s, not '%s'", name, kind, text);
    return FALSE;
  }
  if (!check_range (setting, s, name, error)) {
    wp_train_setting_copy (setting, s, &before);
    return FALSE;
  }
  return TRUE;
}

char *
wp_train_setting_to_string (const WpTrainSetting  *setting,
                            const WpTrainSettings *s)
{
  switch (setting->type) {
  case WP_SETTING_PATH:
  case WP_SETTING_STRING:
    return g_strdup (FIELD_OF (char *, s, setting) != NULL ? FIELD_OF (char *, s, setting)
                                                           : "none");
  case WP_SETTING_UINT64:
    return g_strdup_printf ("%" G_GUINT64_FORMAT, FIELD_OF (guint64, s, setting));
  case WP_SETTING_BOOL:
    return g_strdup (FIELD_OF (gboolean, s, setting) ? "true" : "false");
  case WP_SETTING_CHOICE:
    return g_strdup (setting->choices[FIELD_OF (int, s, setting)]);
  case WP_SETTING_INT:
  case WP_SETTING_INT64:
  case WP_SETTING_FLOAT:
  case WP_SETTING_DOUBLE:
    break;
  }
  return g_strdup_printf ("%g", get_number (setting, s));
}

/* The bytes of a setting that is not a string. */
static gsize
field_size (const WpTrainSetting *setting)
{
  switch (setting->type) {
  case WP_SETTING_INT:
    return sizeof (int);
  case WP_SETTING_INT64:
    return sizeof (gint64);
  case WP_SETTING_UINT64:
    return sizeof (guint64);
  case WP_SETTING_FLOAT:
    return sizeof (float);
  case WP_SETTING_DOUBLE:
    return sizeof (double);
  case WP_SETTING_BOOL:
    return sizeof (gboolean);
  case WP_SETTING_CHOICE:
    return sizeof (int);
  case WP_SETTING_PATH:
  case WP_SETTING_STRING:
    break;
  }
  g_return_val_if_reached (0);
}

gboolean
wp_train_setting_equal (const WpTrainSetting  *setting,
                        const WpTrainSettings *a,
                        const WpTrainSettings *b)
{
  if (is_string (setting))
    return g_strcmp0 (FIELD_OF (char *, a, setting), FIELD_OF (char *, b, setting)) == 0;
  return memcmp (G_STRUCT_MEMBER_P (a, setting->offset), G_STRUCT_MEMBER_P (b, setting->offset),
                 field_size (setting)) == 0;
}

void
wp_train_setting_copy (const WpTrainSetting  *setting,
                       WpTrainSettings       *dst,
                       const WpTrainSettings *src)
{
  if (is_string (setting)) {
    g_free (FIELD_OF (char *, dst, setting));
    FIELD_OF (char *, dst, setting) = g_strdup (FIELD_OF (char *, src, setting));
  } else {
    memcpy (G_STRUCT_MEMBER_P (dst, setting->offset), G_STRUCT_MEMBER_P (src, setting->offset),
            field_size (setting));
  }
}

/* ---- the whole ---- */

void
wp_train_settings_init (WpTrainSettings *settings)
{
  memset (settings, 0, sizeof *settings);
  for (gsize i = 0; i < G_N_ELEMENTS (settings_table); i++) {
    if (!is_string (&settings_table[i]))
      set_number (&settings_table[i], settings, settings_table[i].default_value);
  }
}

void
wp_train_settings_clear (WpTrainSettings *settings)
{
  for (gsize i = 0; i < G_N_ELEMENTS (settings_table); i++) {
    if (is_string (&settings_table[i]))
      g_clear_pointer (&FIELD_OF (char *, settings, &settings_table[i]), g_free);
  }
}

void
wp_train_settings_copy (WpTrainSettings       *dst,
                        const WpTrainSettings *src)
{
  *dst = *src;
  for (gsize i = 0; i < G_N_ELEMENTS (settings_table); i++) {
    if (is_string (&settings_table[i]))
      FIELD_OF (char *, dst, &settings_table[i]) =
        g_strdup (FIELD_OF (char *, src, &settings_table[i]));
  }
}

gboolean
wp_train_config_from_scratch (const WpTrainSettings *s,
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

gboolean
wp_train_settings_validate (const WpTrainSettings *s,
                            GError               **error)
{
  const char  *problem = NULL;
  WpClipConfig config;

  for (gsize i = 0; i < G_N_ELEMENTS (settings_table); i++) {
    if (!check_range (&settings_table[i], s, settings_table[i].name, error))
      return FALSE;
  }
  if (s->data_dir == NULL || s->out_dir == NULL)
    problem = "a dataset folder and an output folder are needed";
  else if ((s->init_model == NULL) == (s->preset == NULL))
    problem = "give either a model to fine-tune or a size to train from scratch";
  else if (s->group_by_word > s->batch)
    problem = "the word groups must hold 0 (off) to a batch of pairs";
  else if (s->init_model != NULL && (s->image_size > 0 || s->patch_size > 0))
    problem =
      "the image and patch sizes are chosen only from scratch; a fine-tuned model keeps its own";
  if (problem != NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "%s", problem);
    return FALSE;
  }
  if (!wp_loss_options_check (&s->loss, error))
    return FALSE;
  return s->preset == NULL || wp_train_config_from_scratch (s, s->vocab_size, &config, error);
}

/* ---- settings.json ---- */

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

static void
add_setting (JsonBuilder           *b,
             const WpTrainSetting  *setting,
             const WpTrainSettings *s)
{
  g_autofree char *text = NULL;

  switch (setting->type) {
  case WP_SETTING_PATH:
  case WP_SETTING_STRING:
    add_string (b, setting->name, FIELD_OF (char *, s, setting));
    return;
  case WP_SETTING_UINT64:
  case WP_SETTING_CHOICE:
    text = wp_train_setting_to_string (setting, s);
    add_string (b, setting->name, text);
    return;
  case WP_SETTING_INT:
    json_builder_set_member_name (b, setting->name);
    json_builder_add_int_value (b, FIELD_OF (int, s, setting));
    return;
  case WP_SETTING_INT64:
    json_builder_set_member_name (b, setting->name);
    json_builder_add_int_value (b, FIELD_OF (gint64, s, setting));
    return;
  case WP_SETTING_FLOAT:
  case WP_SETTING_DOUBLE:
    json_builder_set_member_name (b, setting->name);
    json_builder_add_double_value (b, get_number (setting, s));
    return;
  case WP_SETTING_BOOL:
    json_builder_set_member_name (b, setting->name);
    json_builder_add_boolean_value (b, FIELD_OF (gboolean, s, setting));
    return;
  }
}

gboolean
wp_train_settings_write (const WpTrainSettings *s,
                         const char            *fingerprint,
                         gint64                 total_steps,
                         GError               **error)
{
  g_autofree char *path = g_build_filename (s->out_dir, "settings.json", NULL);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_int_value (b, SETTINGS_FORMAT);
  add_string (b, "dataset_fingerprint", fingerprint);
  json_builder_set_member_name (b, "total_steps");
  json_builder_add_int_value (b, total_steps);
  for (gsize i = 0; i < G_N_ELEMENTS (settings_table); i++) {
    if (!(settings_table[i].flags & WP_SETTING_UNSAVED))
      add_setting (b, &settings_table[i], s);
  }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  text = json_generator_to_data (generator, NULL);
  return g_file_set_contents (path, text, -1, error);
}

JsonObject *
wp_train_read_json_object (JsonParser *parser,
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

static GType
json_type (const WpTrainSetting *setting)
{
  switch (setting->type) {
  case WP_SETTING_INT:
  case WP_SETTING_INT64:
    return G_TYPE_INT64;
  case WP_SETTING_FLOAT:
  case WP_SETTING_DOUBLE:
    return G_TYPE_DOUBLE;
  case WP_SETTING_BOOL:
    return G_TYPE_BOOLEAN;
  case WP_SETTING_PATH:
  case WP_SETTING_STRING:
  case WP_SETTING_UINT64:
  case WP_SETTING_CHOICE:
    break;
  }
  return G_TYPE_STRING;
}

/* One setting from its member, which may be null only for a string setting. */
static gboolean
read_setting (JsonNode             *node,
              const WpTrainSetting *setting,
              WpTrainSettings      *s)
{
  if (JSON_NODE_HOLDS_NULL (node))
    return setting->type == WP_SETTING_PATH || setting->type == WP_SETTING_STRING;
  switch (json_type (setting)) {
  case G_TYPE_INT64:
    /* The range is checked later, by wp_train_settings_validate(); here only what fits. */
    if (setting->type == WP_SETTING_INT64) {
      FIELD_OF (gint64, s, setting) = json_node_get_int (node);
      return TRUE;
    }
    if (json_node_get_int (node) < G_MININT || json_node_get_int (node) > G_MAXINT)
      return FALSE;
    FIELD_OF (int, s, setting) = (int) json_node_get_int (node);
    return TRUE;
  case G_TYPE_DOUBLE:
    set_number (setting, s, json_node_get_double (node));
    return TRUE;
  case G_TYPE_BOOLEAN:
    set_number (setting, s, json_node_get_boolean (node));
    return TRUE;
  default:
    return wp_train_setting_parse (setting, s, json_node_get_string (node), setting->name, NULL);
  }
}

gboolean
wp_train_settings_read (WpTrainSettings *s,
                        const char      *out_dir,
                        char           **fingerprint,
                        gint64          *total_steps,
                        GError         **error)
{
  g_autofree char *path = g_build_filename (out_dir, "settings.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *obj;
  JsonNode   *node;

  wp_train_settings_init (s);
  s->out_dir = g_strdup (out_dir);
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
                 "%s: no training run to resume (settings.json is missing)", out_dir);
    return FALSE;
  }
  obj = wp_train_read_json_object (parser, path, error);
  if (obj == NULL)
    return FALSE;
  node = wp_json_typed_member (obj, "format", G_TYPE_INT64);
  if (node == NULL || json_node_get_int (node) != SETTINGS_FORMAT) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "%s: unknown format (this version reads %d)", path, SETTINGS_FORMAT);
    return FALSE;
  }
  for (gsize i = 0; i < G_N_ELEMENTS (settings_table); i++) {
    const WpTrainSetting *setting = &settings_table[i];

    if (setting->flags & WP_SETTING_UNSAVED ||
        (setting->flags & WP_SETTING_OPTIONAL && !json_object_has_member (obj, setting->name))) {
      if (setting->flags & WP_SETTING_ABSENT_OFF && !(setting->flags & WP_SETTING_UNSAVED))
        set_number (setting, s, 0.0);
      continue;
    }
    node = wp_json_typed_member (obj, setting->name, json_type (setting));
    if (node == NULL || !read_setting (node, setting, s)) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%s: \"%s\" is missing or not valid", path,
                   setting->name);
      return FALSE;
    }
  }
  node = wp_json_typed_member (obj, "dataset_fingerprint", G_TYPE_STRING);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node) ||
      (node = wp_json_typed_member (obj, "total_steps", G_TYPE_INT64)) == NULL ||
      json_node_get_int (node) < 1) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%s: \"dataset_fingerprint\" or \"total_steps\" is missing or not valid", path);
    return FALSE;
  }
  if (total_steps != NULL)
    *total_steps = json_node_get_int (node);
  if (fingerprint != NULL)
    *fingerprint = g_strdup (json_object_get_string_member (obj, "dataset_fingerprint"));
  return TRUE;
}

gboolean
wp_train_settings_load (WpTrainSettings *settings,
                        const char      *out_dir,
                        GError         **error)
{
  return wp_train_settings_read (settings, out_dir, NULL, NULL, error);
}
