/* json-write-private.h: the members the engine's JSON files are written with (config.json,
 * preprocessor_config.json, open_clip_config.json), through a JsonBuilder inside an object. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* key: value, as an integer. */
void wp_json_add_int (JsonBuilder *builder,
                      const char  *key,
                      gint64       value);
/* key: value, as a number with a fraction or exponent as needed. */
void wp_json_add_double (JsonBuilder *builder,
                         const char  *key,
                         double       value);
/* key: "value". */
void wp_json_add_string (JsonBuilder *builder,
                         const char  *key,
                         const char  *value);
/* key: [value[0], value[1], value[2]]. */
void wp_json_add_float3 (JsonBuilder *builder,
                         const char  *key,
                         const float  value[3]);

/* The builder's document as the files hold it: indented by two spaces. */
char *wp_json_builder_to_text (JsonBuilder *builder);

G_END_DECLS
