/* fuzz-config.c: config.json text. What the parser accepts must lay out a model within the
 * limits and survive a round trip through the writer. */
#include "fuzz.h"

#include <string.h>

#include "../assert-config.h"
#include "wordpatch/config.h"

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

  if (!wp_clip_config_parse (&config, (const char *) data, size, NULL))
    return 0;
  fuzz_assert_within_limits (&config);

  json = wp_clip_config_to_json (&config);
  g_assert_true (wp_clip_config_parse (&again, json, strlen (json), NULL));
  wp_assert_clip_config_equal (&config, &again);
  return 0;
}
