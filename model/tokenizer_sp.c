/* SigLIP's SentencePiece tokenizer: the model file made to behave as transformers'
 * SiglipTokenizer loads it, and captions encoded as that tokenizer encodes them. */
#include <string.h>

#include "sentencepiece-private.h"
#include "tokenizer-private.h"
#include "wordpatch/error.h"

/* Protocol buffers' wire format, as far as ModelProto's top level needs it. */
enum { WIRE_VARINT = 0,
       WIRE_I64 = 1,
       WIRE_LEN = 2,
       WIRE_I32 = 5 };

/* ModelProto.normalizer_spec and NormalizerSpec.add_dummy_prefix. */
#define NORMALIZER_SPEC_FIELD  3
#define ADD_DUMMY_PREFIX_FIELD 3

static gboolean
read_varint (const guint8 **p,
             const guint8  *end,
             guint64       *value)
{
  *value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end)
      return FALSE;
    *value |= (guint64) (**p & 0x7f) << shift;
    if (*(*p)++ < 0x80)
      return TRUE;
  }
  return FALSE;
}

static void
append_varint (GByteArray *out,
               guint64     value)
{
  while (value >= 0x80) {
    guint8 byte = (guint8) (value | 0x80);

    g_byte_array_append (out, &byte, 1);
    value >>= 7;
  }
  g_byte_array_append (out, (const guint8 *) &(guint8){ (guint8) value }, 1);
}

GBytes *
wp_sp_proto_without_dummy_prefix (const char *proto,
                                  gsize       len,
                                  GError    **error)
{
  /* add_dummy_prefix = false, as a field appended to NormalizerSpec: the last value read wins,
   * which is what transformers' MergeFrom of that one field does. */
  static const guint8 no_prefix[] = { ADD_DUMMY_PREFIX_FIELD << 3 | WIRE_VARINT, 0 };
  const guint8       *p = (const guint8 *) proto, *end = p + len;
  g_autoptr (GByteArray) out = g_byte_array_sized_new ((guint) len + 8);
  gboolean patched = FALSE;

  while (p < end) {
    const guint8 *field = p;
    guint64       key, size = 0;

    if (!read_varint (&p, end, &key))
      goto broken;
    switch (key & 7) {
    case WIRE_VARINT:
      if (!read_varint (&p, end, &size))
        goto broken;
      size = 0;
      break;
    case WIRE_I64:
      size = 8;
      break;
    case WIRE_I32:
      size = 4;
      break;
    case WIRE_LEN:
      if (!read_varint (&p, end, &size))
        goto broken;
      break;
    default:
      goto broken;
    }
    if (size > (guint64) (end - p))
      goto broken;
    if (key == (NORMALIZER_SPEC_FIELD << 3 | WIRE_LEN)) {
      append_varint (out, key);
      append_varint (out, size + sizeof no_prefix);
      g_byte_array_append (out, p, (guint) size);
      g_byte_array_append (out, no_prefix, sizeof no_prefix);
      patched = TRUE;
    } else {
      g_byte_array_append (out, field, (guint) (p + size - field));
    }
    p += size;
  }
  if (!patched) {
    append_varint (out, NORMALIZER_SPEC_FIELD << 3 | WIRE_LEN);
    append_varint (out, sizeof no_prefix);
    g_byte_array_append (out, no_prefix, sizeof no_prefix);
  }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));

broken:
  g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
               "not a SentencePiece model (broken protocol buffer at byte %" G_GSIZE_FORMAT ")",
               (gsize) (p - (const guint8 *) proto));
  return NULL;
}

int
wp_sp_unknown_length (const WpSpModel *sp)
{
  int  n;
  int *ids = wp_sp_model_encode (sp, WP_SP_UNKNOWN, strlen (WP_SP_UNKNOWN), &n);

  /* Only the count is wanted. */
  g_free (ids);
  return n;
}

int
wp_sp_encode_caption (const WpSpModel *sp,
                      int              unknown_length,
                      int              eos_id,
                      const char      *text,
                      int             *ids,
                      int             *word_of_token,
                      int              max_tokens)
{
  g_autofree char *canonical = wp_tokenizer_canonicalize_siglip (text);
  g_autofree char *prefixed = g_strconcat (WP_SP_UNKNOWN, canonical, NULL);
  g_autofree int  *pieces = NULL;
  int              n_pieces, n = 0, word = -1;

  /* SiglipTokenizer encodes "<unk>" + text and drops the pieces of "<unk>": with the dummy
   * prefix off, that encodes the text's first word as a word that follows another. */
  pieces = wp_sp_model_encode (sp, prefixed, strlen (prefixed), &n_pieces);
  for (int i = MIN (unknown_length, n_pieces); i < n_pieces && n < max_tokens - 1; i++) {
    if (word < 0 || g_str_has_prefix (wp_sp_model_get_piece (sp, pieces[i]), WP_SP_SPACE))
      word++;
    ids[n] = pieces[i];
    if (word_of_token != NULL)
      word_of_token[n] = word;
    n++;
  }
  ids[n] = eos_id;
  if (word_of_token != NULL)
    word_of_token[n] = -1;
  return n + 1;
}
