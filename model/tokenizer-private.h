/* tokenizer-private.h: what the tokenizer's three files share: text cleaning and the word
 * pattern (tokenizer_clean.c), BPE encoding (tokenizer.c) and BPE learning (tokenizer_learn.c). */
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

G_END_DECLS
