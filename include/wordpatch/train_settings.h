/* train_settings.h: a training run's settings, and the one table that describes them.
 *
 * Each setting has one row in wp_train_settings_table(): its name in settings.json, its type,
 * default, allowed range, command-line option and help, and whether a resumed run may change
 * it. The defaults (wp_train_settings_init()), the checks (wp_train_settings_validate()),
 * settings.json, wordpatch-cli's train options and the resume rules are all derived from it.
 *
 * A resumed run may change what does not change the arithmetic of the steps already taken:
 * where the data is (its contents must be the same), how long it trains (--steps, --epochs: the
 * learning-rate schedule is then stretched to the new end), the threads, and when it saves and
 * evaluates (--save-every, --keep, --eval-every). Everything else (the model, the objective and
 * its weights, the batch and its order, the optimiser, the seed, the split, what is evaluated,
 * the augmentation) is the run's own. */
#pragma once

#include <glib.h>

#include "wordpatch/augment.h"
#include "wordpatch/dataset.h"
#include "wordpatch/loss.h"

G_BEGIN_DECLS

typedef struct {
  char         *data_dir;
  char         *out_dir;
  char         *init_model; /* fine-tune this model; NULL: from scratch */
  char         *preset;     /* size from scratch: "tiny", "small" or "vit-b32" */
  int           vocab_size; /* learnt vocabulary from scratch */
  int           image_size; /* from scratch: image side in pixels; 0: the preset's */
  int           patch_size; /* from scratch: patch side in pixels; 0: the preset's */
  WpLossOptions loss;
  gint64        steps;         /* total updates; 0: from epochs */
  double        epochs;        /* passes over the training pairs when steps is 0 */
  int           batch;         /* pairs a step */
  int           group_by_word; /* 0, or runs of this many pairs sharing a caption word */
  double        lr;            /* peak learning rate; 0: 5e-4 from scratch, 1e-5 fine-tuning */
  double        warmup;        /* fraction of the steps with a linear warm-up */
  double        weight_decay;
  gboolean      freeze_text;
  gboolean      freeze_vision;
  /* The engine's thread count the run used (parallel.h); the trainer records it and never sets
   * it: a front end applies it with wp_set_threads() before the run starts. */
  int              threads;
  guint64          seed;
  gint64           save_every; /* steps between checkpoints */
  gint64           eval_every; /* steps between held-out evaluations; 0: at checkpoints */
  double           holdout;    /* fraction of pairs held out */
  int              eval_max;   /* held-out pairs evaluated at most */
  gboolean         augment;
  WpAugmentOptions augment_options;
  int              keep; /* checkpoints kept besides step 0 */
  /* How to read data_dir, a folder, a file or shards (dataset.h). */
  WpDatasetOptions dataset;
  /* Pairs shuffled at a time: 0 shuffles each epoch whole (WebDataset: a buffer of
   * WP_SHUFFLE_BUFFER_SHARDS, the shards in a shuffled order), 1 keeps the dataset's order, N
   * streams the pairs (the shards in a shuffled order) through a buffer of N. */
  int shuffle_buffer;
} WpTrainSettings;

#define WP_SHUFFLE_BUFFER_SHARDS 1000

typedef enum {
  WP_SETTING_PATH,   /* char *, a file or folder name; NULL when not set */
  WP_SETTING_STRING, /* char *; NULL when not set */
  WP_SETTING_INT,    /* int */
  WP_SETTING_INT64,  /* gint64 */
  WP_SETTING_UINT64, /* guint64; a decimal string in settings.json, which JSON readers keep */
  WP_SETTING_FLOAT,  /* float */
  WP_SETTING_DOUBLE, /* double */
  WP_SETTING_BOOL,   /* gboolean; on the command line a flag without value */
  WP_SETTING_CHOICE, /* an enum (int) by name: choices[value] */
} WpSettingType;

typedef enum {
  WP_SETTING_RESUMABLE = 1 << 0, /* a resumed run may change it */
  WP_SETTING_OPTIONAL = 1 << 1,  /* older settings.json files may lack it: the default then */
  WP_SETTING_UNSAVED = 1 << 2,   /* not in settings.json (the output folder is where it is) */
  WP_SETTING_MIN_OPEN = 1 << 3,  /* the range excludes min */
  WP_SETTING_MAX_OPEN = 1 << 4,  /* the range excludes max */
  /* with OPTIONAL: older settings.json files that lack it ran with it off (0, the first choice),
   * the default before it changed */
  WP_SETTING_ABSENT_OFF = 1 << 5,
} WpSettingFlags;

typedef struct {
  const char        *name; /* settings.json key */
  WpSettingType      type;
  gsize              offset;        /* of the field in WpTrainSettings */
  double             default_value; /* numbers, booleans (0, 1), the objective; strings: NULL */
  double             min, max;      /* numbers but UINT64: the allowed values */
  WpSettingFlags     flags;
  const char        *option; /* command-line option without "--"; NULL: none */
  char               short_option;
  const char        *arg;          /* the option's value in the help ("N", "DIR") */
  const char        *help;         /* one line */
  const char        *default_help; /* the default as the help says it, when its value says less */
  const char *const *choices;      /* a choice's names in its enum's order, NULL-terminated */
} WpTrainSetting;

/* Every setting, in settings.json's order; n_settings receives the count. */
const WpTrainSetting *wp_train_settings_table (guint *n_settings);
/* The setting of that settings.json name, or NULL. */
const WpTrainSetting *wp_train_settings_find (const char *name);

/* Every setting at its default. */
void wp_train_settings_init (WpTrainSettings *settings);
void wp_train_settings_clear (WpTrainSettings *settings);
/* dst receives copies of src's strings; clear it when done. */
void wp_train_settings_copy (WpTrainSettings       *dst,
                             const WpTrainSettings *src);

/* Every value in its range and the settings consistent (a dataset and an output folder, a
 * model to fine-tune or a size to train from scratch, ...); WP_ERROR_INVALID naming the
 * setting by its settings.json name otherwise. */
gboolean wp_train_settings_validate (const WpTrainSettings *settings,
                                     GError               **error);

/* Sets settings' field from text: a number, "true" or "false", a choice's name, a string.
 * Fails with WP_ERROR_INVALID naming the setting as name (e.g. its option), and the field as it
 * was, when the text is not of the setting's type or out of its range. */
gboolean wp_train_setting_parse (const WpTrainSetting *setting,
                                 WpTrainSettings      *settings,
                                 const char           *text,
                                 const char           *name,
                                 GError              **error);
/* The value as text, as the help and messages show it. */
char    *wp_train_setting_to_string (const WpTrainSetting  *setting,
                                     const WpTrainSettings *settings) G_GNUC_WARN_UNUSED_RESULT;
gboolean wp_train_setting_equal (const WpTrainSetting  *setting,
                                 const WpTrainSettings *a,
                                 const WpTrainSettings *b);
/* Copies the one setting from src to dst (a string is duplicated). */
void wp_train_setting_copy (const WpTrainSetting  *setting,
                            WpTrainSettings       *dst,
                            const WpTrainSettings *src);

/* Reads the settings of the run in out_dir (OUT/settings.json); out_dir becomes
 * settings->out_dir. For a resume with changes: read, change, pass to wp_trainer_resume(). */
gboolean wp_train_settings_load (WpTrainSettings *settings,
                                 const char      *out_dir,
                                 GError         **error);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WpTrainSettings, wp_train_settings_clear)

G_END_DECLS
