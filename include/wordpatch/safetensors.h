/* safetensors.h: reading and writing the safetensors format.
 *
 * Format: 8 bytes little-endian u64 N, then N bytes of JSON: an object mapping each tensor name to
 * {"dtype": "F32"|"F16"|"BF16"|..., "shape": [d0, ...], "data_offsets": [begin, end]} plus an
 * optional "__metadata__" object of string values; then the data, offsets relative to its start.
 *
 * Limits on untrusted files: header at most WP_SAFETENSORS_MAX_HEADER bytes and within the file,
 * holding at most WP_SAFETENSORS_MAX_VALUES JSON values (array elements and object members, about
 * six a tensor; checked before the JSON tree is built) nested at most 64 deep, at most
 * WP_SAFETENSORS_MAX_DIMS dimensions, every tensor's byte range inside the data and equal
 * to its element count times its element size (overflow-checked). Files are memory-mapped; reading
 * converts F32, F16 and BF16 to float. Other dtypes are listed but cannot be read as float.
 *
 * Writing produces F32, F16 or BF16 (rounded to nearest, ties to even; an F32 value beyond F16's
 * range becomes infinite), to a temporary file in the same folder renamed over the target, so an
 * interrupted write never leaves a truncated file under the final name. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define WP_SAFETENSORS_MAX_HEADER (100 * 1024 * 1024)
#define WP_SAFETENSORS_MAX_VALUES (1 << 20)
#define WP_SAFETENSORS_MAX_DIMS   8

typedef enum {
  WP_DTYPE_F32,
  WP_DTYPE_F16,
  WP_DTYPE_BF16,
  WP_DTYPE_OTHER, /* listed, not convertible to float (I64 position_ids buffers, for example) */
} WpDtype;

/* "F32", "F16" or "BF16" as safetensors writes them; "mixed" for WP_DTYPE_OTHER, which a model's
 * stored dtype is when its tensors differ. */
const char *wp_dtype_name (WpDtype dtype);

typedef struct {
  const char *name;
  const char *dtype_name; /* as written in the file: "F32", "I64", ... */
  WpDtype     dtype;
  int         ndim;
  gint64      shape[WP_SAFETENSORS_MAX_DIMS];
  gsize       numel;
  gsize       begin; /* byte offset in the data section */
  gsize       n_bytes;
} WpSafetensorsTensor;

typedef struct _WpSafetensors WpSafetensors;

WpSafetensors *wp_safetensors_open (const char *path,
                                    GError    **error) G_GNUC_WARN_UNUSED_RESULT;
void           wp_safetensors_free (WpSafetensors *st);

const char                *wp_safetensors_get_path (const WpSafetensors *st);
guint                      wp_safetensors_get_n_tensors (const WpSafetensors *st);
const WpSafetensorsTensor *wp_safetensors_get_tensor (const WpSafetensors *st,
                                                      guint                index);
/* NULL when there is no tensor of that name. */
const WpSafetensorsTensor *wp_safetensors_lookup (const WpSafetensors *st,
                                                  const char          *name);
/* A "__metadata__" value, or NULL. */
const char *wp_safetensors_get_metadata (const WpSafetensors *st,
                                         const char          *key);

/* Converts the tensor's numel elements to float into out. Fails for dtypes other than F32, F16
 * and BF16, and for non-finite values when reject_non_finite is set. */
gboolean wp_safetensors_read_f32 (const WpSafetensors       *st,
                                  const WpSafetensorsTensor *tensor,
                                  float                     *out,
                                  gboolean                   reject_non_finite,
                                  GError                   **error);

typedef struct {
  const char   *name;
  int           ndim;
  const gint64 *shape;
  const float  *data;
  WpDtype       dtype; /* as written: F32 (0, the default), F16 or BF16 */
} WpSafetensorsEntry;

/* metadata: string -> string, or NULL. */
gboolean wp_safetensors_write (const char               *path,
                               const WpSafetensorsEntry *entries,
                               guint                     n_entries,
                               GHashTable               *metadata,
                               GError                  **error);

/* Half-precision conversions, exposed for tests. */
float   wp_f16_to_f32 (guint16 h);
float   wp_bf16_to_f32 (guint16 b);
guint16 wp_f32_to_f16 (float f);
guint16 wp_f32_to_bf16 (float f);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpSafetensors, wp_safetensors_free)

G_END_DECLS
