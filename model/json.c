#include "json-private.h"

#include "wordpatch/error.h"

gboolean
wp_json_parser_load (JsonParser *parser,
                     const char *text,
                     gsize       len,
                     gsize       max_values,
                     GError    **error)
{
  g_autoptr (GError) json_error = NULL;
  int   depth = 0;
  gsize n_values = 0;

  for (gsize i = 0; i < len; i++) {
    switch (text[i]) {
    case '"':
      /* A backslash escapes the next byte, as in JSON-GLib's scanner; an unterminated string
       * ends the scan, and the parser reports it. */
      for (i++; i < len && text[i] != '"'; i++) {
        if (text[i] == '\\')
          i++;
      }
      break;
    case '[':
    case '{':
      if (++depth > WP_JSON_MAX_DEPTH) {
        g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "JSON nested more than %d levels deep",
                     WP_JSON_MAX_DEPTH);
        return FALSE;
      }
      /* A container's first element; each comma adds one more. An empty container counts one
       * too, so the count only errs upwards. */
      n_values++;
      break;
    case ']':
    case '}':
      /* Unbalanced closers make the parser fail before it nests; they must not lower the count
       * for the openers that follow. */
      depth = MAX (depth - 1, 0);
      break;
    case ',':
      n_values++;
      break;
    case '/':
    case '\'':
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                   "not valid JSON: '%c' outside a string at byte %" G_GSIZE_FORMAT
                   " (comments and single quotes are not JSON)",
                   text[i], i);
      return FALSE;
    default:
      break;
    }
    if (n_values > max_values) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "more than %" G_GSIZE_FORMAT " JSON values",
                   max_values);
      return FALSE;
    }
  }
  /* An empty mapped file has no contents pointer. */
  if (!json_parser_load_from_data (parser, len > 0 ? text : "", (gssize) len, &json_error)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "not valid JSON: %s", json_error->message);
    return FALSE;
  }
  return TRUE;
}

const char *
wp_json_string_member (JsonObject *obj,
                       const char *key)
{
  JsonNode *node = json_object_get_member (obj, key);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

JsonNode *
wp_json_typed_member (JsonObject *obj,
                      const char *key,
                      GType       type)
{
  JsonNode *node = json_object_get_member (obj, key);
  GType     held;

  if (node == NULL || (JSON_NODE_HOLDS_NULL (node) && type == G_TYPE_STRING))
    return node;
  if (!JSON_NODE_HOLDS_VALUE (node))
    return NULL;
  held = json_node_get_value_type (node);
  return held == type || (type == G_TYPE_DOUBLE && held == G_TYPE_INT64) ? node : NULL;
}
