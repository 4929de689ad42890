/* preprocessor_config.json: what transformers' CLIPImageProcessor says of the preprocessing, read
 * into a configuration (only CLIP's own pipeline, its sizes and resampling), and written. */
#include "wordpatch/config.h"

#include <json-glib/json-glib.h>
#include <math.h>

#include "config-private.h"
#include "json-write-private.h"
#include "wordpatch/error.h"

static gboolean
read_bool (JsonObject *obj,
           const char *key,
           gboolean   *value,
           GError    **error)
{
  JsonNode *node = json_object_get_member (obj, key);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return wp_config_member_error (error, "", key, "true or false");
  *value = json_node_get_boolean (node);
  return TRUE;
}

/* A size as CLIPImageProcessor takes it: a number, or an object with "shortest_edge" or with
 * equal "height" and "width". *square says which object form it was (a number is neither). */
static gboolean
read_size (JsonObject *obj,
           const char *key,
           int        *size,
           gboolean   *square,
           GError    **error)
{
  JsonNode   *node = json_object_get_member (obj, key);
  JsonObject *sides;
  int         height = -1, width = -1, shortest = -1;

  *square = FALSE;
  if (node == NULL)
    return TRUE;
  if (JSON_NODE_HOLDS_VALUE (node))
    return wp_config_read_int (obj, "", key, size, error);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return wp_config_member_error (error, "", key, "a number or an object");
  sides = json_node_get_object (node);
  if (!wp_config_read_int (sides, key, "shortest_edge", &shortest, error) ||
      !wp_config_read_int (sides, key, "height", &height, error) ||
      !wp_config_read_int (sides, key, "width", &width, error))
    return FALSE;
  if (shortest >= 0 && height < 0 && width < 0) {
    *size = shortest;
    return TRUE;
  }
  if (shortest < 0 && height >= 0 && height == width) {
    *size = height;
    *square = TRUE;
    return TRUE;
  }
  g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
               "%s: only {\"shortest_edge\": N} or a square {\"height\": N, \"width\": N} "
               "is supported",
               key);
  return FALSE;
}

gboolean
wp_preprocess_parse (WpClipConfig *config,
                     const char   *json,
                     gsize         len,
                     GError      **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *root;
  gboolean    do_resize = TRUE, do_crop = TRUE, do_normalize = TRUE, do_rescale = TRUE;
  gboolean    convert_rgb = TRUE, squash = FALSE, square_crop = FALSE;
  int         resize = config->image_size, crop = config->image_size, resample = 3;
  float       rescale = 1.0f / 255.0f;

  if ((root = wp_config_load_object (parser, json, len, error)) == NULL)
    return FALSE;
  if (!wp_config_read_float3 (root, "", "image_mean", config->image_mean, error) ||
      !wp_config_read_float3 (root, "", "image_std", config->image_std, error) ||
      !read_size (root, "size", &resize, &squash, error) ||
      !read_size (root, "crop_size", &crop, &square_crop, error) ||
      !wp_config_read_int (root, "", "resample", &resample, error) ||
      !wp_config_read_float (root, "", "rescale_factor", &rescale, error) ||
      !read_bool (root, "do_resize", &do_resize, error) ||
      !read_bool (root, "do_center_crop", &do_crop, error) ||
      !read_bool (root, "do_normalize", &do_normalize, error) ||
      !read_bool (root, "do_rescale", &do_rescale, error) ||
      !read_bool (root, "do_convert_rgb", &convert_rgb, error))
    return FALSE;
  /* Each step transformers can leave out changes what the model sees; only CLIP's pipeline is
   * reproduced. */
  if (!do_resize || !do_rescale || !do_normalize || !convert_rgb ||
      fabsf (rescale * 255.0f - 1.0f) > 1e-6f) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "only the full pipeline is supported (do_resize, do_rescale with "
                 "rescale_factor 1/255, do_normalize and do_convert_rgb all true)");
    return FALSE;
  }
  if (resample != 2 && resample != 3) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "resample %d is not supported (3 bicubic or 2 bilinear)", resample);
    return FALSE;
  }
  if (!do_crop) {
    /* Without the crop the resized image must already be the model's square. */
    if (!squash || resize != config->image_size) {
      g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                   "do_center_crop false needs size {\"height\": %d, \"width\": %d}, the "
                   "model's image size",
                   config->image_size, config->image_size);
      return FALSE;
    }
    crop = config->image_size;
  }
  if (crop != config->image_size) {
    g_set_error (error, WP_ERROR, WP_ERROR_SHAPE,
                 "crop_size %d is not the model's image size %d (vision_config.image_size)", crop,
                 config->image_size);
    return FALSE;
  }
  config->preprocess.resize_size = resize == config->image_size ? 0 : resize;
  config->preprocess.resize_mode = squash ? WP_RESIZE_SQUASH : WP_RESIZE_SHORTEST;
  config->preprocess.interpolation =
    resample == 2 ? WP_INTERPOLATION_BILINEAR : WP_INTERPOLATION_BICUBIC;
  return wp_clip_config_validate (config, error);
}

static void
add_size (JsonBuilder *builder,
          const char  *key,
          int          size,
          gboolean     square)
{
  json_builder_set_member_name (builder, key);
  json_builder_begin_object (builder);
  if (square) {
    wp_json_add_int (builder, "height", size);
    wp_json_add_int (builder, "width", size);
  } else {
    wp_json_add_int (builder, "shortest_edge", size);
  }
  json_builder_end_object (builder);
}

char *
wp_preprocess_to_json (const WpClipConfig *config)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  add_size (builder, "crop_size", config->image_size, TRUE);
  wp_json_add_string (builder, "image_processor_type", "CLIPImageProcessor");
  json_builder_set_member_name (builder, "do_center_crop");
  json_builder_add_boolean_value (builder, TRUE);
  json_builder_set_member_name (builder, "do_convert_rgb");
  json_builder_add_boolean_value (builder, TRUE);
  json_builder_set_member_name (builder, "do_normalize");
  json_builder_add_boolean_value (builder, TRUE);
  json_builder_set_member_name (builder, "do_rescale");
  json_builder_add_boolean_value (builder, TRUE);
  json_builder_set_member_name (builder, "do_resize");
  json_builder_add_boolean_value (builder, TRUE);
  wp_json_add_float3 (builder, "image_mean", config->image_mean);
  wp_json_add_float3 (builder, "image_std", config->image_std);
  wp_json_add_int (builder, "resample",
                   config->preprocess.interpolation == WP_INTERPOLATION_BILINEAR ? 2 : 3);
  wp_json_add_double (builder, "rescale_factor", 1.0 / 255.0);
  add_size (builder, "size", wp_clip_config_resize_size (config),
            config->preprocess.resize_mode == WP_RESIZE_SQUASH);
  json_builder_end_object (builder);
  return wp_json_builder_to_text (builder);
}
