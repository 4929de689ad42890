/* tokenizer.h: OpenAI CLIP's byte-level BPE tokenizer, in transformers' CLIPTokenizer file layout,
 * or SigLIP's SentencePiece tokenizer (see wp_tokenizer_new_sentencepiece()).
 *
 * Files: vocab.json maps token -> id (JSON object of integers); merges.txt is an optional
 * "#version" line, then one "a b" pair per line in rank order (line k is rank k). The vocabulary
 * must hold "<|startoftext|>" and "<|endoftext|>".
 *
 * Encoding does what OpenAI's simple_tokenizer does: HTML entities unescaped (twice), runs of
 * whitespace collapsed to one space, ends stripped, lowercased; words split by the CLIP pattern
 *   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * each word's UTF-8 bytes mapped through GPT-2's byte-to-unicode table, "</w>" appended to the
 * last symbol, then merges applied lowest rank first. ftfy's fix_text is not reproduced.
 * Details as Python's: numeric references and the common named ones (&amp; &lt; &gt; &quot;
 * &apos; &nbsp; &hellip; &mdash; ... with HTML5's legacy forms such as "&amp" and "&lt3")
 * follow html.unescape, other named references stay as written; whitespace is str.isspace();
 * lowercasing is str.lower(), whatever the process locale. Invalid UTF-8 in a caption becomes
 * U+FFFD, one per bad byte. "<|startoftext|>" or "<|endoftext|>" written in a caption encodes
 * to the special id, as in OpenAI's tokenizer.
 *
 * Thread contract: a WpTokenizer is immutable after construction and may be shared between
 * threads (its word cache is guarded by a lock). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _WpTokenizer WpTokenizer;

/* Limits on untrusted input, checked before anything is allocated for it (larger inputs are
 * rejected with WP_ERROR_FORMAT): tokens, merges, 64 MiB for each text, JSON nested at most 64
 * deep. */
#define WP_TOKENIZER_MAX_VOCAB  (1 << 20)
#define WP_TOKENIZER_MAX_MERGES (1 << 20)

WpTokenizer *wp_tokenizer_new_from_files (const char *vocab_path,
                                          const char *merges_path,
                                          GError    **error) G_GNUC_WARN_UNUSED_RESULT;
/* vocab_json and merges_txt need not be NUL-terminated; the texts are copied. Errors name the
 * input by its role ("vocab.json: token '<|endoftext|>' missing", "merges.txt: line 17: ..."); the
 * caller may prefix where it came from. wp_tokenizer_new_from_files names the paths instead.
 * Besides the two special tokens, the vocabulary must hold the 256 byte symbols with and without
 * "</w>", and every merge's two symbols and result (WP_ERROR_MISSING otherwise); a merge listed
 * twice is WP_ERROR_FORMAT. */
WpTokenizer *wp_tokenizer_new_from_data (const char *vocab_json,
                                         gsize       vocab_len,
                                         const char *merges_txt,
                                         gsize       merges_len,
                                         GError    **error) G_GNUC_WARN_UNUSED_RESULT;
/* Learns a CLIP-format vocabulary of vocab_size tokens from texts: the 512 byte symbols (with and
 * without "</w>") in CLIP's order, then merges of the most frequent adjacent pair (ties to the
 * smaller pair, so the result depends on the texts only) over the words as encoding cleans and
 * splits them, then the start and end tokens. Stops early when no pair occurs twice. */
WpTokenizer *wp_tokenizer_learn (const char *const *texts,
                                 guint              n_texts,
                                 int                vocab_size,
                                 GError           **error) G_GNUC_WARN_UNUSED_RESULT;
/* SigLIP's tokenizer, as transformers' SiglipTokenizer: model is an spiece.model file's bytes
 * (at most 64 MiB), read by Debian's libsentencepiece with its dummy prefix turned off. Encoding
 * canonicalises the caption (U+2581 becomes a space, then each character is lowercased as
 * str.lower(), ASCII punctuation removed, whitespace runs collapsed to one space, ends stripped),
 * encodes "<unk>" + U+2581 + that text and drops the pieces of "<unk>" (SiglipTokenizer's way of
 * encoding the first word as any other), keeps at most max_tokens - 1 pieces and appends "</s>".
 * There is no start token (wp_tokenizer_get_bos_id() is -1); "</s>" is also the padding. A
 * caption's spelled "</s>" or "<unk>" is text here, where transformers would make it a special
 * token. Words start at pieces that begin with U+2581. Errors: not a protocol buffer, refused by
 * the library, no "</s>" piece. */
WpTokenizer *wp_tokenizer_new_sentencepiece (const char *model,
                                             gsize       len,
                                             GError    **error) G_GNUC_WARN_UNUSED_RESULT;
/* As above from a file; errors name it. */
WpTokenizer *wp_tokenizer_new_sentencepiece_from_file (const char *path,
                                                       GError    **error)
  G_GNUC_WARN_UNUSED_RESULT;
void wp_tokenizer_free (WpTokenizer *tokenizer);

gboolean wp_tokenizer_is_sentencepiece (const WpTokenizer *tokenizer);
/* The spiece.model bytes a SentencePiece tokenizer was built from, unchanged; NULL for BPE. */
const char *wp_tokenizer_get_sentencepiece_model (const WpTokenizer *tokenizer,
                                                  gsize             *len);
/* The id captions are padded with: SentencePiece's "</s>", BPE's end token. */
int wp_tokenizer_get_pad_id (const WpTokenizer *tokenizer);

int wp_tokenizer_get_n_vocab (const WpTokenizer *tokenizer);
int wp_tokenizer_get_n_merges (const WpTokenizer *tokenizer);
int wp_tokenizer_get_bos_id (const WpTokenizer *tokenizer);
int wp_tokenizer_get_eos_id (const WpTokenizer *tokenizer);

/* The exact bytes the tokenizer was built from, so a model saves them back unchanged (NULL for
 * SentencePiece). */
const char *wp_tokenizer_get_vocab_json (const WpTokenizer *tokenizer,
                                         gsize             *len);
const char *wp_tokenizer_get_merges_txt (const WpTokenizer *tokenizer,
                                         gsize             *len);

/* Writes the start token, the caption's tokens and the end token into ids (capacity max_tokens,
 * at least 2) and returns how many were written. A caption that does not fit is truncated and
 * the last slot holds the end token, as OpenAI's tokenize(truncate=True). word_of_token, when not
 * NULL (same capacity), receives for each token the index of the word (pattern match) it came
 * from, and -1 for the start and end tokens; words split across truncation keep their index. */
int wp_tokenizer_encode (const WpTokenizer *tokenizer,
                         const char        *text,
                         int               *ids,
                         int               *word_of_token,
                         int                max_tokens);

/* The vocabulary symbol of id, as in vocab.json ("cat</w>"); NULL when id is out of range. */
const char *wp_tokenizer_get_token_symbol (const WpTokenizer *tokenizer,
                                           int                id);
/* The text a token stands for: symbols mapped back to bytes, "</w>" dropped. May be an
 * incomplete UTF-8 sequence for a token that splits a character; invalid bytes become U+FFFD
 * (so does the byte 0). The special tokens give their symbol. NULL when id is out of range. */
char *wp_tokenizer_dup_token_text (const WpTokenizer *tokenizer,
                                   int                id) G_GNUC_WARN_UNUSED_RESULT;
/* The text of n consecutive tokens (a word split into BPE pieces), as above; ids out of range
 * add nothing. */
char *wp_tokenizer_dup_tokens_text (const WpTokenizer *tokenizer,
                                    const int         *ids,
                                    int                n) G_GNUC_WARN_UNUSED_RESULT;

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpTokenizer, wp_tokenizer_free)

G_END_DECLS
