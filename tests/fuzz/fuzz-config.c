/* fuzz-config.c: config.json text. What the parser accepts must lay out a model within the
 * limits and survive a round trip through the writer. */
#include "fuzz.h"

#include <string.h>

#include "../assert-config.h"
#include "wordpatch/config.h"
#include "wordpatch/model.h"

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  WpClipConfig     config, again;
  g_autofree char *json = NULL;
  WpTensorSpec    *specs;
  guint            n_specs;
  gsize            n_params;

  if (!wp_clip_config_parse (&config, (const char *) data, size, NULL))
    return 0;

  specs = wp_tensor_specs_new (&config, &n_specs, &n_params);
  g_assert_cmpuint (n_params, <=, WP_MAX_PARAMETERS);
  wp_tensor_specs_free (specs, n_specs);

  json = wp_clip_config_to_json (&config);
  g_assert_true (wp_clip_config_parse (&again, json, strlen (json), NULL));
  wp_assert_clip_config_equal (&config, &again);
  return 0;
}
