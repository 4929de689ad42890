/* config-private.h: what the readers of config.json (config.c) and preprocessor_config.json
 * (preprocessor_config.c) share: the bounded load and the typed members. Each reader leaves
 * *value alone when key is absent and otherwise fails with WP_ERROR_FORMAT naming section.key (key
 * alone when section is ""). */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Loads json into parser as a config's JSON object, its size and depth bounded first. */
JsonObject *wp_config_load_object (JsonParser *parser,
                                   const char *json,
                                   gsize       len,
                                   GError    **error);

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

G_END_DECLS
