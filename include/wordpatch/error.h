/* error.h: the engine's error domain.
 *
 * Everything that depends on input (files, configs, shapes, images, datasets, non-finite values)
 * reports a GError in WP_ERROR; OS failures keep GLib's own domains (G_FILE_ERROR). Messages name
 * the file and the problem; callers add the location with g_prefix_error(). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define WP_ERROR (wp_error_quark ())

typedef enum {
  WP_ERROR_FORMAT,      /* malformed file: JSON, safetensors header, merges, image data */
  WP_ERROR_SHAPE,       /* a tensor or config dimension that does not fit */
  WP_ERROR_MISSING,     /* a required tensor, key or file is absent */
  WP_ERROR_UNSUPPORTED, /* valid input we do not handle (dtype, activation, channels) */
  WP_ERROR_NOT_FINITE,  /* NaN or infinity where a number is needed */
  WP_ERROR_DATASET,     /* a dataset folder that cannot be used */
  WP_ERROR_INVALID,     /* an argument or option out of range */
} WpError;

GQuark wp_error_quark (void);

G_END_DECLS
