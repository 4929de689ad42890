/* fuzz-openclip.c: the text as open_clip_config.json, then as preprocessor_config.json. What the
 * open_clip reader accepts must lay out a model within the limits and, when open_clip can say it,
 * survive a round trip through the writer; what the preprocessor reader accepts must survive a
 * round trip through its writer. */
#include "fuzz.h"

#include <string.h>

#include "../assert-config.h"
#include "wordpatch/config.h"
#include "wordpatch/openclip.h"

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  return 0;
}

static void
openclip (const char *text,
          size_t      size)
{
  WpClipConfig     config, again;
  g_autofree char *json = NULL;

  if (!wp_openclip_config_parse (&config, text, size, NULL))
    return;
  fuzz_assert_within_limits (&config);

  json = wp_openclip_config_to_json (&config, NULL);
  if (json == NULL)
    return;
  g_assert_true (wp_openclip_config_parse (&again, json, strlen (json), NULL));
  wp_assert_clip_config_equal (&config, &again);
}

static void
preprocessor (const char *text,
              size_t      size)
{
  WpClipConfig     config, again;
  g_autofree char *json = NULL;

  wp_clip_config_init_default (&config);
  if (!wp_preprocess_parse (&config, text, size, NULL))
    return;
  json = wp_preprocess_to_json (&config);
  wp_clip_config_init_default (&again);
  g_assert_true (wp_preprocess_parse (&again, json, strlen (json), NULL));
  wp_assert_clip_config_equal (&config, &again);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  openclip ((const char *) data, size);
  preprocessor ((const char *) data, size);
  return 0;
}
