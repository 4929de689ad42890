/* tokenizer-private.h: what the tokenizer's files share: text cleaning and the word pattern
 * (tokenizer_clean.c), BPE encoding (tokenizer.c), BPE learning (tokenizer_learn.c) and SigLIP's
 * SentencePiece encoding (tokenizer_sp.c). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define WP_START_SYMBOL "<|startoftext|>"
#define WP_END_SYMBOL   "<|endoftext|>"
#define WP_END_OF_WORD  "</w>"

/* GPT-2's byte symbols use code points up to U+0143 (256 + the 68 unprintable bytes). */
#define WP_BYTE_CHAR_LIMIT 0x144

/* OpenAI's whitespace_clean(basic_clean(text)).lower(), without ftfy; text is any bytes, the
 * result valid UTF-8. */
char *wp_tokenizer_clean_text (const char *text) G_GNUC_WARN_UNUSED_RESULT;
/* The pre-tokenizer: CLIP's word pattern, matched on cleaned text. */
GRegex *wp_tokenizer_word_regex_new (void) G_GNUC_WARN_UNUSED_RESULT;
/* GPT-2's bytes_to_unicode() as a table each way: byte -> its symbol's code point, and code
 * point -> byte or -1. */
void wp_tokenizer_init_byte_map (gunichar byte_char[256],
                                 int      char_byte[WP_BYTE_CHAR_LIMIT]);

/* SentencePiece's space (U+2581) and the unknown piece SiglipTokenizer prefixes. */
#define WP_SP_SPACE   "\xe2\x96\x81"
#define WP_SP_UNKNOWN "<unk>"
#define WP_SP_END     "</s>"

typedef struct _WpSpModel WpSpModel;

/* transformers' SiglipTokenizer canonicalisation, before SentencePiece sees the text: U+2581
 * replaced by a space, U+2581 put in front, lowercased (str.lower() of each character, so
 * capital sigma is never final), ASCII punctuation
 * (string.punctuation) removed, whitespace runs collapsed to one space and the ends stripped.
 * text is any bytes; the result is valid UTF-8. */
char *wp_tokenizer_canonicalize_siglip (const char *text) G_GNUC_WARN_UNUSED_RESULT;
/* An spiece.model's bytes with NormalizerSpec.add_dummy_prefix set to false, as SiglipTokenizer
 * loads it; NULL with an error when the bytes are not a protocol buffer. */
GBytes *wp_sp_proto_without_dummy_prefix (const char *proto,
                                          gsize       len,
                                          GError    **error) G_GNUC_WARN_UNUSED_RESULT;
/* How many pieces "<unk>" alone encodes to. */
int wp_sp_unknown_length (const WpSpModel *sp);
/* As wp_tokenizer_encode() for a SentencePiece tokenizer: the caption's pieces (at most
 * max_tokens - 1), then eos_id; a word starts at each piece that begins with U+2581. */
int wp_sp_encode_caption (const WpSpModel *sp,
                          int              unknown_length,
                          int              eos_id,
                          const char      *text,
                          int             *ids,
                          int             *word_of_token,
                          int              max_tokens);

G_END_DECLS
