/* json-private.h: handing untrusted JSON text to JSON-GLib, and reading members of its tree.
 *
 * JSON-GLib's parser recurses once per nesting level and has no limit of its own: 100,000 nested
 * arrays (200 KB of text) overflow an 8 MiB stack. It also accepts C comments and single-quoted
 * strings, and builds a tree tens of times larger than the text. wp_json_parser_load() scans the
 * text first, without recursion, and refuses it before JSON-GLib sees it when it nests deeper than
 * WP_JSON_MAX_DEPTH, holds more than max_values array elements and object members, or has a
 * comment or a single quote outside a string (standard JSON has neither, and skipping strings
 * exactly as JSON-GLib does is only possible without them). */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define WP_JSON_MAX_DEPTH 64

/* Loads text (len bytes, need not be NUL-terminated) into parser. Errors are WP_ERROR_FORMAT:
 * "not valid JSON: ...", "JSON nested more than 64 levels deep" or "more than N JSON values". */
gboolean wp_json_parser_load (JsonParser *parser,
                              const char *text,
                              gsize       len,
                              gsize       max_values,
                              GError    **error);

/* Member key of obj when it is of the type (a number for a double, a string or null for a
 * string); NULL when it is absent or anything else. */
JsonNode *wp_json_typed_member (JsonObject *obj,
                                const char *key,
                                GType       type);
/* Member key of obj when it is a string; NULL when it is absent or anything else. */
const char *wp_json_string_member (JsonObject *obj,
                                   const char *key);

G_END_DECLS
