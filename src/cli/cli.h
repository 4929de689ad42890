/* cli.h: what the wordpatch-cli commands share. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "wordpatch/wordpatch.h"

G_BEGIN_DECLS

/* Each command parses its own arguments and returns the process exit status. */
typedef int (*WpCliCommand) (int    argc,
                             char **argv);

int wp_cli_bench (int    argc,
                  char **argv);
int wp_cli_convert (int    argc,
                    char **argv);
int wp_cli_embed (int    argc,
                  char **argv);
int wp_cli_eval (int    argc,
                 char **argv);
int wp_cli_info (int    argc,
                 char **argv);
int wp_cli_heatmap (int    argc,
                    char **argv);
int wp_cli_init (int    argc,
                 char **argv);
int wp_cli_loss (int    argc,
                 char **argv);
int wp_cli_shapes (int    argc,
                   char **argv);
int wp_cli_train (int    argc,
                  char **argv);

/* Parses argv with entries; prints the error and returns FALSE on bad arguments. Leftover
 * positional arguments are an error too. */
gboolean wp_cli_parse (int          *argc,
                       char       ***argv,
                       const char   *command,
                       const char   *summary,
                       GOptionEntry *entries);
/* The same with a group of options as the command's own (the parse takes it). */
gboolean wp_cli_parse_group (int          *argc,
                             char       ***argv,
                             const char   *command,
                             const char   *summary,
                             GOptionGroup *group);
/* Prints "wordpatch-cli COMMAND: message" on stderr and returns the exit status of bad usage. */
int wp_cli_usage_error (const char *command,
                        const char *format,
                        ...) G_GNUC_PRINTF (2, 3);

/* Training settings as command-line options, one for each row of the settings table that has
 * one (train_settings.h): parsed into settings with the table's types and ranges, no option
 * variables of their own. */
typedef struct {
  WpTrainSettings settings;  /* the table's defaults, then what the options say */
  gboolean       *given;     /* per table row: its option was on the command line */
  GPtrArray      *strings;   /* the texts the option entries point at */
  gboolean        resumable; /* the help says which options --resume may change */
} WpCliSettings;

void wp_cli_settings_init (WpCliSettings *cs,
                           gboolean       resumable);
void wp_cli_settings_clear (WpCliSettings *cs);
/* A group holding the options of the settings named (their settings.json names, NULL-terminated;
 * NULL: every setting with an option) and then extra (may be NULL). */
GOptionGroup *wp_cli_settings_group (WpCliSettings      *cs,
                                     const char *const  *names,
                                     const GOptionEntry *extra);
/* The option of a setting: "--batch". */
char *wp_cli_setting_option (const WpTrainSetting *setting) G_GNUC_WARN_UNUSED_RESULT;

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WpCliSettings, wp_cli_settings_clear)

/* Whether name is a model size (--config); prints the usage error when it is not. */
/* CLIP's sizes (config.h) or "siglip-tiny", "siglip-small" and "siglip-b16" (SigLIP-B/16). */
gboolean wp_cli_config_init_preset (WpClipConfig *config,
                                    const char   *name,
                                    int           vocab_size,
                                    GError      **error);
gboolean wp_cli_check_size (const char *command,
                            const char *name);

/* Loads --model, or the bundled default model when path is NULL. */
WpModel *wp_cli_load_model (const char *path,
                            GError    **error);

/* --stored-orientation for the commands that read one image, and its reader: set, the pixels as
 * stored (PIL's Image.open); unset, upright as the image's EXIF orientation says. */
#define WP_CLI_STORED_ORIENTATION_ENTRY(flag)                                    \
  {                                                                              \
    "stored-orientation", 0, 0, G_OPTION_ARG_NONE, (flag),                       \
      "Read a JPEG's pixels as stored, ignoring its EXIF orientation (as PIL's " \
      "Image.open; default: upright, as image viewers show it)",                 \
      NULL                                                                       \
  }
WpImage *wp_cli_load_image (const char *path,
                            gboolean    stored_orientation,
                            GError    **error);

/* The settings (train_settings.h) of the objectives' options, for commands that compute a loss
 * as train does (wp_cli_settings_group()). */
#define WP_CLI_OBJECTIVE_SETTINGS                                                           \
  "lambda_global", "lambda_fine", "sparc_negatives", "sparc_stop_selection",                \
    "sparc_centre_positions", "sparc_centre_images", "sparc_threshold", "sparc_patch_side", \
    "filip_patch_fraction", "filip_global"

/* The settings (train_settings.h) that say how to read a dataset: --images, --instances,
 * --split and the --csv-* options, for commands that read one (wp_cli_settings_group()). */
#define WP_CLI_DATASET_SETTINGS \
  "images", "instances", "split", "csv_img_key", "csv_caption_key", "csv_separator"

/* Opens a dataset (dataset.h: a folder, a file or shards; options may be NULL), drops the pairs
 * whose image does not decode, and prints its warnings (below). */
WpDataset *wp_cli_open_dataset (const char             *path,
                                const WpDatasetOptions *options,
                                GError                **error);
/* On stderr, a warning for each skipped line (the first WP_DATASET_MAX_WARNINGS) and a summary. */
void wp_cli_print_dataset_warnings (const WpDataset *dataset);

/* Prints "wordpatch-cli: message" on stderr and returns the exit status for failures. */
int wp_cli_fail (const GError *error);

/* Pretty JSON of root on stdout, with a final newline. */
void wp_cli_print_json (JsonNode *root);

/* "name": value, or null when value is NaN or infinite (JSON has neither). */
void wp_cli_add_number (JsonBuilder *builder,
                        const char  *name,
                        double       value);

void wp_cli_add_float_array (JsonBuilder *builder,
                             const float *values,
                             int          n);

/* "name": [[row 0], [row 1], ...] */
void wp_cli_add_matrix (JsonBuilder *builder,
                        const char  *name,
                        const float *values,
                        int          rows,
                        int          cols);
/* "tokens": [{"id", "text", "word"}, ...] of a caption's valid tokens. */
void wp_cli_add_tokens (JsonBuilder           *builder,
                        const WpModel         *model,
                        const WpTextEmbedding *text);

G_END_DECLS
