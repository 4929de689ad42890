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

/* Loads --model, or the bundled default model when path is NULL. */
WpModel *wp_cli_load_model (const char *path,
                            GError    **error);

/* Opens a dataset folder, drops the pairs whose image does not decode, and prints its warnings
 * (below). */
WpDataset *wp_cli_open_dataset (const char *dir,
                                GError    **error);
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
