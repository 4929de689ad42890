/* cli-harness.h: what the end-to-end tests share to run wordpatch-cli ($WORDPATCH_CLI) and check
 * what it prints. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "test-util.h"

G_BEGIN_DECLS

typedef struct {
  int   status; /* exit status, or -1 when killed by a signal */
  char *out;
  char *err;
} Run;

void wp_test_run_clear (Run *run);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Run, wp_test_run_clear)

/* Whether $WORDPATCH_CLI is set; when it is not, the running test is skipped. */
gboolean have_cli (void);

/* Runs $WORDPATCH_CLI with the NULL-terminated arguments and waits for it. */
void run_cli (Run *run,
              ...) G_GNUC_NULL_TERMINATED;
/* The same with an argument vector (NULL-terminated) and a function run in the child before the
 * command starts (e.g. to set resource limits), which may be NULL. */
void run_cli_argv (Run                 *run,
                   const char *const   *args,
                   GSpawnChildSetupFunc child_setup,
                   gpointer             user_data);

/* Starts $WORDPATCH_CLI with args (NULL-terminated) without waiting, its output discarded; the
 * caller signals and reaps it. */
GPid spawn_cli (const char *const *args);

/* Exit status 1, nothing on stdout, one stderr line "wordpatch-cli: ..." holding each fragment
 * that is not NULL. */
void assert_failure (const Run  *run,
                     const char *fragment1,
                     const char *fragment2,
                     const char *fragment3);

/* Bad usage: exit status 2, nothing on stdout, one stderr line "wordpatch-cli COMMAND: ..."
 * holding fragment. */
void assert_usage_error (const Run  *run,
                         const char *command,
                         const char *fragment);

/* A W x H PNG: a disc of colour rgb (0xRRGGBB) and radius H / 3 in the middle, on white. */
gboolean write_disc_image (const char *path,
                           int         W,
                           int         H,
                           guint32     rgb);
/* An 80 x 60 PNG: a red disc on white. */
gboolean write_test_image (const char *path);

/* The root object of a JSON text (parsed by parser, which owns it), or NULL and the test failed. */
JsonObject *parse_object (JsonParser *parser,
                          const char *text);
/* parse_object() of the file at path, which must be readable. */
JsonObject *parse_object_file (JsonParser *parser,
                               const char *path);

/* In eval's JSON output, result.group.word_class.key, or result.group.word_class.row.key when row
 * is not NULL (e.g. "classes", "colour", NULL, "pointing_sparc"); NAN and the test failed when
 * the entry is missing. */
double eval_class_value (JsonObject *result,
                         const char *group,
                         const char *word_class,
                         const char *row,
                         const char *key);

G_END_DECLS
