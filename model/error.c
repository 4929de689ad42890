#include "wordpatch/error.h"

GQuark
wp_error_quark (void)
{
  return g_quark_from_static_string ("wp-error-quark");
}
