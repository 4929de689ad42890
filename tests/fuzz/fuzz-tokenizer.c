/* fuzz-tokenizer.c: vocab.json and merges.txt, the input split at its first NUL byte (vocab
 * before, merges after); a tokenizer they make encodes the merges text. The whole input is also
 * encoded as a caption by OpenAI's CLIP tokenizer, and the result checked for its invariants. */
#include "fuzz.h"

#include <string.h>

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  fuzz_init ();
  fuzz_clip_tokenizer ();
  return 0;
}

/* Encodes text with room for max_tokens and checks what any caption must give. */
static void
encode (const WpTokenizer *tokenizer,
        const char        *text,
        int                max_tokens)
{
  g_autofree int *ids = g_new (int, max_tokens);
  g_autofree int *words = g_new (int, max_tokens);
  int             n = wp_tokenizer_encode (tokenizer, text, ids, words, max_tokens);

  g_assert_cmpint (n, >=, 2);
  g_assert_cmpint (n, <=, max_tokens);
  g_assert_cmpint (ids[0], ==, wp_tokenizer_get_bos_id (tokenizer));
  g_assert_cmpint (ids[n - 1], ==, wp_tokenizer_get_eos_id (tokenizer));
  g_assert_cmpint (words[0], ==, -1);
  g_assert_cmpint (words[n - 1], ==, -1);
  for (int t = 1; t < n - 1; t++) {
    g_autofree char *piece = wp_tokenizer_dup_token_text (tokenizer, ids[t]);

    g_assert_nonnull (piece);
    g_assert_true (g_utf8_validate (piece, -1, NULL));
    g_assert_cmpint (words[t], >=, t > 1 ? words[t - 1] : 0);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  const uint8_t   *nul = memchr (data, '\0', size);
  const gsize      vocab_len = nul != NULL ? (gsize) (nul - data) : size;
  const char      *merges = nul != NULL ? (const char *) nul + 1 : "";
  const gsize      merges_len = nul != NULL ? size - vocab_len - 1 : 0;
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr (WpTokenizer) tokenizer = NULL;

  tokenizer = wp_tokenizer_new_from_data ((const char *) data, vocab_len, merges, merges_len, NULL);
  if (tokenizer != NULL) {
    g_autofree char *merges_text = g_strndup (merges, merges_len);

    g_assert_cmpint (wp_tokenizer_get_n_vocab (tokenizer), >=, 514);
    encode (tokenizer, merges_text, 2 + (int) merges_len);
    for (int id = -1; id <= wp_tokenizer_get_n_vocab (tokenizer); id++) {
      g_autofree char *piece = wp_tokenizer_dup_token_text (tokenizer, id);

      g_assert_true ((piece != NULL) == (id >= 0 && id < wp_tokenizer_get_n_vocab (tokenizer)));
    }
  }
  /* The text up to its first NUL, as a C string caption is: all of it, and cut to CLIP's 77. */
  encode (fuzz_clip_tokenizer (), text, 2 + (int) strlen (text));
  encode (fuzz_clip_tokenizer (), text, 77);
  return 0;
}
