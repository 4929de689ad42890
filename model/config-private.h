/* config-private.h: what the readers of config.json (config.c) and preprocessor_config.json
 * (preprocessor_config.c) share: the bounded load and the typed members. Each reader leaves
 * *value alone when key is absent and otherwise fails with WP_ERROR_FORMAT naming section.key (key
 * alone when section is ""). */
#pragma once

#include <json-glib/json-glib.h>

#include "wordpatch/config.h"

G_BEGIN_DECLS

/* Loads json into parser as a config's JSON object, its size and depth bounded first. */
JsonObject *wp_config_load_object (JsonParser *parser,
                                   const char *json,
                                   gsize       len,
                                   GError    **error);

/* Returns FALSE with WP_ERROR_FORMAT "section.key must be what" (key alone when section is ""),
 * the error of every typed member. */
gboolean wp_config_member_error (GError    **error,
                                 const char *section,
                                 const char *key,
                                 const char *what);

/* An integer that fits an int. */
gboolean wp_config_read_int (JsonObject *obj,
                             const char *section,
                             const char *key,
                             int        *value,
                             GError    **error);

/* Any number. */
gboolean wp_config_read_float (JsonObject *obj,
                               const char *section,
                               const char *key,
                               float      *value,
                               GError    **error);

/* An array of three numbers. */
gboolean wp_config_read_float3 (JsonObject *obj,
                                const char *section,
                                const char *key,
                                float       value[3],
                                GError    **error);

/* The training's record in a "wordpatch" object: "objective" (wp_objective_from_string()'s names)
 * and "similarity" ("global", "filip" or "sparc"), each left unset when absent. */
gboolean wp_config_read_training (JsonObject   *obj,
                                  WpClipConfig *config,
                                  GError      **error);
/* Writes the members wp_config_read_training() reads, those that are set. */
void wp_config_add_training (JsonBuilder        *builder,
                             const WpClipConfig *config);

G_END_DECLS
