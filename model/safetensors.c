#include "wordpatch/safetensors.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "json-private.h"
#include "wordpatch/error.h"

/* Tensors are copied and written as raw little-endian bytes. */
G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);

struct _WpSafetensors {
  char                *path;
  GMappedFile         *mapped;
  const guint8        *data; /* start of the data section */
  gsize                data_size;
  WpSafetensorsTensor *tensors;
  guint                n_tensors;
  GHashTable          *by_name;  /* name -> WpSafetensorsTensor* */
  GHashTable          *metadata; /* key -> value, both owned */
  GStringChunk        *strings;
};

static gboolean
dtype_from_name (const char *name,
                 WpDtype    *dtype,
                 gsize      *element_size)
{
  static const struct {
    const char *name;
    WpDtype     dtype;
    gsize       size;
  } known[] = {
    { "F32", WP_DTYPE_F32, 4 },
    { "F16", WP_DTYPE_F16, 2 },
    { "BF16", WP_DTYPE_BF16, 2 },
    { "F64", WP_DTYPE_OTHER, 8 },
    { "I64", WP_DTYPE_OTHER, 8 },
    { "I32", WP_DTYPE_OTHER, 4 },
    { "I16", WP_DTYPE_OTHER, 2 },
    { "I8", WP_DTYPE_OTHER, 1 },
    { "U8", WP_DTYPE_OTHER, 1 },
    { "BOOL", WP_DTYPE_OTHER, 1 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (known); i++) {
    if (strcmp (name, known[i].name) == 0) {
      *dtype = known[i].dtype;
      *element_size = known[i].size;
      return TRUE;
    }
  }
  return FALSE;
}

/* JSON integers arrive as gint64; anything else (floats, strings, negatives) is malformed. */
static gboolean
node_get_size (JsonNode *node,
               gint64   *value)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *value = json_node_get_int (node);
  return *value >= 0;
}

static gboolean
parse_tensor (WpSafetensors       *st,
              const char          *name,
              JsonNode            *node,
              WpSafetensorsTensor *tensor,
              GError             **error)
{
  JsonObject *obj;
  JsonArray  *shape, *offsets;
  JsonNode   *member;
  const char *dtype_name;
  gsize       element_size, numel = 1, expected_bytes;
  gint64      begin, end;

  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "tensor '%s': header entry is not an object",
                 name);
    return FALSE;
  }
  obj = json_node_get_object (node);
  member = json_object_get_member (obj, "dtype");
  dtype_name = member != NULL && JSON_NODE_HOLDS_VALUE (member) &&
                   json_node_get_value_type (member) == G_TYPE_STRING
                 ? json_node_get_string (member)
                 : NULL;
  if (dtype_name == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "tensor '%s': missing \"dtype\" string", name);
    return FALSE;
  }
  if (!dtype_from_name (dtype_name, &tensor->dtype, &element_size)) {
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED, "tensor '%s': unknown dtype '%s'", name,
                 dtype_name);
    return FALSE;
  }
  member = json_object_get_member (obj, "shape");
  shape = member != NULL && JSON_NODE_HOLDS_ARRAY (member) ? json_node_get_array (member) : NULL;
  if (shape == NULL || json_array_get_length (shape) > WP_SAFETENSORS_MAX_DIMS) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "tensor '%s': \"shape\" must be an array of at most %d sizes", name,
                 WP_SAFETENSORS_MAX_DIMS);
    return FALSE;
  }
  tensor->ndim = (int) json_array_get_length (shape);
  for (int d = 0; d < tensor->ndim; d++) {
    gint64 dim;

    if (!node_get_size (json_array_get_element (shape, d), &dim) ||
        !g_size_checked_mul (&numel, numel, (gsize) dim)) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "tensor '%s': invalid shape dimension %d",
                   name, d);
      return FALSE;
    }
    tensor->shape[d] = dim;
  }
  member = json_object_get_member (obj, "data_offsets");
  offsets = member != NULL && JSON_NODE_HOLDS_ARRAY (member) ? json_node_get_array (member) : NULL;
  if (offsets == NULL || json_array_get_length (offsets) != 2 ||
      !node_get_size (json_array_get_element (offsets, 0), &begin) ||
      !node_get_size (json_array_get_element (offsets, 1), &end) || begin > end) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "tensor '%s': \"data_offsets\" must be [begin, end] with begin <= end", name);
    return FALSE;
  }
  if ((guint64) end > st->data_size) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "tensor '%s': data ends at byte %" G_GINT64_FORMAT
                 " but the file holds only %" G_GSIZE_FORMAT " data bytes (truncated file?)",
                 name, end, st->data_size);
    return FALSE;
  }
  if (!g_size_checked_mul (&expected_bytes, numel, element_size) ||
      expected_bytes != (gsize) (end - begin)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "tensor '%s': %" G_GINT64_FORMAT " data bytes do not match its shape and dtype %s",
                 name, end - begin, dtype_name);
    return FALSE;
  }
  tensor->name = g_string_chunk_insert (st->strings, name);
  tensor->dtype_name = g_string_chunk_insert_const (st->strings, dtype_name);
  tensor->numel = numel;
  tensor->begin = (gsize) begin;
  tensor->n_bytes = (gsize) (end - begin);
  return TRUE;
}

static gboolean
parse_metadata (WpSafetensors *st,
                JsonNode      *node,
                GError       **error)
{
  JsonObjectIter iter;
  const char    *key;
  JsonNode      *value;

  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "\"__metadata__\" is not an object");
    return FALSE;
  }
  json_object_iter_init (&iter, json_node_get_object (node));
  while (json_object_iter_next (&iter, &key, &value)) {
    if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                   "\"__metadata__\" value of '%s' is not a string", key);
      return FALSE;
    }
    g_hash_table_insert (st->metadata, g_strdup (key), g_strdup (json_node_get_string (value)));
  }
  return TRUE;
}

static gboolean
parse_header (WpSafetensors *st,
              const char    *header,
              gsize          header_len,
              GError       **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObjectIter iter;
  JsonObject    *root;
  const char    *name;
  JsonNode      *node;
  guint          n = 0;

  if (!wp_json_parser_load (parser, header, header_len, WP_SAFETENSORS_MAX_VALUES, error)) {
    g_prefix_error (error, "header: ");
    return FALSE;
  }
  /* json-glib accepts blank input and gives no root. */
  if (json_parser_get_root (parser) == NULL ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "header is not a JSON object");
    return FALSE;
  }
  root = json_node_get_object (json_parser_get_root (parser));
  st->tensors = g_new0 (WpSafetensorsTensor, json_object_get_size (root));
  json_object_iter_init (&iter, root);
  while (json_object_iter_next (&iter, &name, &node)) {
    if (strcmp (name, "__metadata__") == 0) {
      if (!parse_metadata (st, node, error))
        return FALSE;
      continue;
    }
    if (!parse_tensor (st, name, node, &st->tensors[n], error))
      return FALSE;
    g_hash_table_insert (st->by_name, (gpointer) st->tensors[n].name, &st->tensors[n]);
    n++;
  }
  st->n_tensors = n;
  return TRUE;
}

WpSafetensors *
wp_safetensors_open (const char *path,
                     GError    **error)
{
  g_autoptr (WpSafetensors) st = g_new0 (WpSafetensors, 1);
  const guint8 *bytes;
  gsize         size;
  guint64       header_len = 0;

  g_return_val_if_fail (path != NULL, NULL);

  st->path = g_strdup (path);
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  st->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  st->strings = g_string_chunk_new (4096);
  st->mapped = g_mapped_file_new (path, FALSE, error);
  if (st->mapped == NULL)
    return NULL;
  bytes = (const guint8 *) g_mapped_file_get_contents (st->mapped);
  size = g_mapped_file_get_length (st->mapped);
  if (size < 8) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%s: file of %" G_GSIZE_FORMAT " bytes is too short for a safetensors header",
                 path, size);
    return NULL;
  }
  for (int i = 7; i >= 0; i--)
    header_len = (header_len << 8) | bytes[i];
  if (header_len > WP_SAFETENSORS_MAX_HEADER || header_len > size - 8) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%s: header length %" G_GUINT64_FORMAT " exceeds the file (%" G_GSIZE_FORMAT
                 " bytes) or the %d MiB limit",
                 path, header_len, size, WP_SAFETENSORS_MAX_HEADER >> 20);
    return NULL;
  }
  st->data = bytes + 8 + header_len;
  st->data_size = size - 8 - (gsize) header_len;
  if (!parse_header (st, (const char *) bytes + 8, (gsize) header_len, error)) {
    g_prefix_error (error, "%s: ", path);
    return NULL;
  }
  return g_steal_pointer (&st);
}

void
wp_safetensors_free (WpSafetensors *st)
{
  if (st == NULL)
    return;
  g_clear_pointer (&st->mapped, g_mapped_file_unref);
  g_clear_pointer (&st->by_name, g_hash_table_unref);
  g_clear_pointer (&st->metadata, g_hash_table_unref);
  g_clear_pointer (&st->strings, g_string_chunk_free);
  g_free (st->tensors);
  g_free (st->path);
  g_free (st);
}

const char *
wp_safetensors_get_path (const WpSafetensors *st)
{
  return st->path;
}

guint
wp_safetensors_get_n_tensors (const WpSafetensors *st)
{
  return st->n_tensors;
}

const WpSafetensorsTensor *
wp_safetensors_get_tensor (const WpSafetensors *st,
                           guint                index)
{
  g_return_val_if_fail (index < st->n_tensors, NULL);
  return &st->tensors[index];
}

const WpSafetensorsTensor *
wp_safetensors_lookup (const WpSafetensors *st,
                       const char          *name)
{
  return g_hash_table_lookup (st->by_name, name);
}

const char *
wp_safetensors_get_metadata (const WpSafetensors *st,
                             const char          *key)
{
  return g_hash_table_lookup (st->metadata, key);
}

float
wp_f16_to_f32 (guint16 h)
{
  guint32 sign = (guint32) (h & 0x8000) << 16;
  guint32 exponent = (h >> 10) & 0x1f;
  guint32 mantissa = h & 0x3ff;
  guint32 bits;
  float   f;

  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else {
    /* Zero and subnormals: mantissa * 2^-24 is exact in float. */
    f = ldexpf ((float) mantissa, -24);
    return sign ? -f : f;
  }
  memcpy (&f, &bits, sizeof f);
  return f;
}

guint16
wp_f32_to_f16 (float f)
{
  guint32 bits, sign, exponent, mantissa;

  memcpy (&bits, &f, sizeof bits);
  sign = (bits >> 16) & 0x8000;
  exponent = (bits >> 23) & 0xff;
  mantissa = bits & 0x7fffff;
  if (exponent == 0xff)
    return (guint16) (sign | 0x7c00 | (mantissa != 0 ? 0x200 : 0));
  if (exponent > 142)
    return (guint16) (sign | 0x7c00);
  if (exponent >= 113) {
    /* Normal: drop 13 mantissa bits, rounding to nearest even; a carry may reach infinity. */
    const guint32 half = ((exponent - 112) << 10) | (mantissa >> 13);
    const guint32 rest = mantissa & 0x1fff;

    return (guint16) (sign | (half + (rest > 0x1000 || (rest == 0x1000 && (half & 1)))));
  }
  if (exponent >= 102) {
    /* Subnormal: the implicit one joins the mantissa, shifted into place with the same rounding. */
    const guint32 full = mantissa | 0x800000;
    const int     shift = 126 - (int) exponent;
    const guint32 half = full >> shift, rest = full & ((1u << shift) - 1), tie = 1u << (shift - 1);

    return (guint16) (sign | (half + (rest > tie || (rest == tie && (half & 1)))));
  }
  return (guint16) sign;
}

guint16
wp_f32_to_bf16 (float f)
{
  guint32 bits;

  memcpy (&bits, &f, sizeof bits);
  if ((bits & 0x7fffffff) > 0x7f800000)
    return (guint16) ((bits >> 16) | 0x40);
  return (guint16) ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

float
wp_bf16_to_f32 (guint16 b)
{
  guint32 bits = (guint32) b << 16;
  float   f;

  memcpy (&f, &bits, sizeof f);
  return f;
}

gboolean
wp_safetensors_read_f32 (const WpSafetensors       *st,
                         const WpSafetensorsTensor *tensor,
                         float                     *out,
                         gboolean                   reject_non_finite,
                         GError                   **error)
{
  const guint8 *src = st->data + tensor->begin;

  switch (tensor->dtype) {
  case WP_DTYPE_F32:
    memcpy (out, src, tensor->numel * sizeof (float));
    break;
  case WP_DTYPE_F16:
  case WP_DTYPE_BF16:
    for (gsize i = 0; i < tensor->numel; i++) {
      guint16 h = (guint16) (src[2 * i] | (src[2 * i + 1] << 8));

      out[i] = tensor->dtype == WP_DTYPE_F16 ? wp_f16_to_f32 (h) : wp_bf16_to_f32 (h);
    }
    break;
  case WP_DTYPE_OTHER:
  default:
    g_set_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED,
                 "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 can be read", st->path,
                 tensor->name, tensor->dtype_name);
    return FALSE;
  }
  if (reject_non_finite) {
    for (gsize i = 0; i < tensor->numel; i++) {
      if (!isfinite (out[i])) {
        g_set_error (error, WP_ERROR, WP_ERROR_NOT_FINITE,
                     "%s: tensor '%s' holds a non-finite value at element %" G_GSIZE_FORMAT,
                     st->path, tensor->name, i);
        return FALSE;
      }
    }
  }
  return TRUE;
}

static int
compare_strings (const void *a,
                 const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

const char *
wp_dtype_name (WpDtype dtype)
{
  switch (dtype) {
  case WP_DTYPE_F32:
    return "F32";
  case WP_DTYPE_F16:
    return "F16";
  case WP_DTYPE_BF16:
    return "BF16";
  case WP_DTYPE_OTHER:
  default:
    return "mixed";
  }
}

static gboolean write_all (FILE       *file,
                           const void *data,
                           gsize       size);

static gsize
dtype_size (WpDtype dtype)
{
  return dtype == WP_DTYPE_F32 ? 4 : 2;
}

/* Writes numel floats as dtype, little-endian, in blocks. */
static gboolean
write_converted (FILE        *file,
                 const float *data,
                 gsize        numel,
                 WpDtype      dtype)
{
  guint8 block[8192];

  if (dtype == WP_DTYPE_F32)
    return write_all (file, data, numel * sizeof (float));
  for (gsize i = 0; i < numel;) {
    gsize n = 0;

    for (; i < numel && n + 2 <= sizeof block; i++, n += 2) {
      const guint16 h = dtype == WP_DTYPE_F16 ? wp_f32_to_f16 (data[i]) : wp_f32_to_bf16 (data[i]);

      block[n] = (guint8) h;
      block[n + 1] = (guint8) (h >> 8);
    }
    if (!write_all (file, block, n))
      return FALSE;
  }
  return TRUE;
}

static char *
build_header (const WpSafetensorsEntry *entries,
              guint                     n_entries,
              GHashTable               *metadata,
              gsize                    *header_len)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  GString *text;
  gsize    offset = 0;

  json_builder_begin_object (builder);
  if (metadata != NULL && g_hash_table_size (metadata) > 0) {
    g_autofree gpointer *keys = g_hash_table_get_keys_as_array (metadata, NULL);
    guint                n_keys = g_hash_table_size (metadata);

    /* Sorted so that the same model always produces the same bytes. */
    qsort (keys, n_keys, sizeof (gpointer), compare_strings);
    json_builder_set_member_name (builder, "__metadata__");
    json_builder_begin_object (builder);
    for (guint i = 0; i < n_keys; i++) {
      json_builder_set_member_name (builder, keys[i]);
      json_builder_add_string_value (builder, g_hash_table_lookup (metadata, keys[i]));
    }
    json_builder_end_object (builder);
  }
  for (guint i = 0; i < n_entries; i++) {
    gsize numel = 1;

    for (int d = 0; d < entries[i].ndim; d++)
      numel *= (gsize) entries[i].shape[d];
    json_builder_set_member_name (builder, entries[i].name);
    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "dtype");
    json_builder_add_string_value (builder, wp_dtype_name (entries[i].dtype));
    json_builder_set_member_name (builder, "shape");
    json_builder_begin_array (builder);
    for (int d = 0; d < entries[i].ndim; d++)
      json_builder_add_int_value (builder, entries[i].shape[d]);
    json_builder_end_array (builder);
    json_builder_set_member_name (builder, "data_offsets");
    json_builder_begin_array (builder);
    json_builder_add_int_value (builder, (gint64) offset);
    offset += numel * dtype_size (entries[i].dtype);
    json_builder_add_int_value (builder, (gint64) offset);
    json_builder_end_array (builder);
    json_builder_end_object (builder);
  }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  text = g_string_new (NULL);
  json_generator_to_gstring (generator, text);
  /* Pad with spaces so the data section starts 8-byte aligned, as the reference writer does. */
  while ((text->len + 8) % 8 != 0)
    g_string_append_c (text, ' ');
  *header_len = text->len;
  return g_string_free (text, FALSE);
}

static gboolean
write_all (FILE       *file,
           const void *data,
           gsize       size)
{
  return fwrite (data, 1, size, file) == size;
}

gboolean
wp_safetensors_write (const char               *path,
                      const WpSafetensorsEntry *entries,
                      guint                     n_entries,
                      GHashTable               *metadata,
                      GError                  **error)
{
  g_autofree char *tmp_path = g_strdup_printf ("%s.tmp-%d", path, (int) getpid ());
  g_autofree char *header = NULL;
  gsize            header_len;
  guint8           len_bytes[8];
  FILE            *file;
  gboolean         ok;

  g_return_val_if_fail (path != NULL, FALSE);
  for (guint i = 0; i < n_entries; i++)
    g_return_val_if_fail (entries[i].dtype != WP_DTYPE_OTHER, FALSE);

  header = build_header (entries, n_entries, metadata, &header_len);
  for (int i = 0; i < 8; i++)
    len_bytes[i] = (guint8) ((guint64) header_len >> (8 * i));

  file = g_fopen (tmp_path, "wb");
  if (file == NULL) {
    int saved_errno = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                 "%s: cannot create: %s", tmp_path, g_strerror (saved_errno));
    return FALSE;
  }
  ok = write_all (file, len_bytes, 8) && write_all (file, header, header_len);
  for (guint i = 0; ok && i < n_entries; i++) {
    gsize numel = 1;

    for (int d = 0; d < entries[i].ndim; d++)
      numel *= (gsize) entries[i].shape[d];
    ok = write_converted (file, entries[i].data, numel, entries[i].dtype);
  }
  ok = ok && fflush (file) == 0 && fsync (fileno (file)) == 0;
  if (fclose (file) != 0)
    ok = FALSE;
  if (!ok) {
    int saved_errno = errno;

    g_unlink (tmp_path);
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s: write failed: %s",
                 path, g_strerror (saved_errno));
    return FALSE;
  }
  if (g_rename (tmp_path, path) != 0) {
    int saved_errno = errno;

    g_unlink (tmp_path);
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                 "%s: cannot rename the written file into place: %s", path,
                 g_strerror (saved_errno));
    return FALSE;
  }
  return TRUE;
}
