/* test-tokenizer.c: the CLIP BPE tokenizer against OpenAI's ids, its token texts and the getters
 * of the loaded vocabulary (small and malformed files, and learning, are tested in
 * test-tokenizer-load.c).
 *
 * Expected ids: the README table of tests/data/clip-bpe is OpenAI's SimpleTokenizer. The other
 * captions' ids were derived once, by hand, with an independent Python transcription of OpenAI's
 * simple_tokenizer.py (html.unescape twice, re's \s, str.lower, its bpe() loop verbatim; the
 * pattern's \p{L} / \p{N} emulated with unicodedata.category; no ftfy), which reproduces every row
 * of the README table. Only its output is kept here. */
#include <locale.h>
#include <string.h>

#include "wordpatch/tokenizer.h"

#define BOS 49406
#define EOS 49407

static WpTokenizer *clip;

typedef struct {
  const char *caption;
  int         ids[40]; /* start token to end token, then zeros */
} Case;

/* OpenAI's ids, from tests/data/clip-bpe/README.md. */
static const Case readme_cases[] = {
  { "a photo of a cat", { BOS, 320, 1125, 539, 320, 2368, EOS } },
  { "a photo of a dog", { BOS, 320, 1125, 539, 320, 1929, EOS } },
  { "a diagram", { BOS, 320, 22697, EOS } },
  { "A PHOTO OF A CAT.", { BOS, 320, 1125, 539, 320, 2368, 269, EOS } },
  { "it's I'm we'll don't", { BOS, 585, 568, 328, 880, 649, 1342, 847, 713, EOS } },
  { "Café au lait — naïve 🙂",
    { BOS, 15304, 2566, 572, 585, 2005, 1097, 35689, 563, 14860, EOS } },
  { "猫が好き", { BOS, 163, 234, 104, 4813, 234, 29290, 121, 4813, 491, EOS } },
  { "Tom &amp;amp; Jerry &lt;3", { BOS, 2435, 261, 9164, 283, 274, EOS } },
  { "supercalifragilisticexpialidocious",
    { BOS, 1642, 2857, 13093, 2076, 5868, 26850, 835, 639, 38466, EOS } },
};

/* Ids from the Python transcription (see the top of the file). */
static const Case reference_cases[] = {
  /* Punctuation runs stay one word; "..." and "!!!" are single tokens. */
  { "Wait... what?!? (really) -- yes!!!",
    { BOS, 1885, 678, 768, 11395, 263, 1414, 264, 2432, 1958, 995, EOS } },
  /* Contractions split off even at the start of a word ("'sun" -> "'s", "un"), in any case. */
  { "they're we've she'd you'll can't IT'S O'NEILL 'sun",
    { BOS, 889, 982, 649, 1200, 1043, 1896, 592, 1342, 753, 713, 585, 568, 334, 262, 19324, 568,
      2271, EOS } },
  /* Every digit is its own word. */
  { "in 2024, pi is 3.14159",
    { BOS, 530, 273, 271, 273, 275, 267, 5357, 533, 274, 269, 272, 275, 272, 276, 280, EOS } },
  { "crème brûlée à la française",
    { BOS, 1075, 12138, 614, 711, 127, 119, 75, 13489, 21259, 1210, 38381, 30505, EOS } },
  { "🐱🐶 pets 👍🏽", { BOS, 35710, 10631, 7663, 43722, EOS } },
  { "東京タワーの夜景",
    { BOS, 48338, 21078, 105, 34941, 2429, 107, 13457, 21575, 23170, 250, 48132, 363, EOS } },
  { "CaMeL cAsE iPhone", { BOS, 21914, 2068, 4314, EOS } },
  { "  \t a\n\ncat \r\n  ", { BOS, 320, 2368, EOS } },
  /* Python's whitespace: no-break space (from &nbsp;), ideographic and em spaces, \v, U+001C and
   * U+0085, which g_unichar_isspace() does not all count. */
  { "a&nbsp;cat\u3000sat\u2003on\vthe\x1cmat\xc2\x85!",
    { BOS, 320, 2368, 3279, 525, 518, 9063, 256, EOS } },
  /* Python's final sigma: "οδος σ σας"; a lone capital sigma is not final. */
  { "ΟΔΟΣ Σ ΣΑΣ",
    { BOS, 138, 123, 138, 112, 138, 123, 139, 480, 139, 481, 139, 225, 138, 109, 139, 480, EOS } },
  /* "İ" lowercases to "i" + combining dot, "I" to "i" whatever the locale. */
  { "İstanbul DIŞ", { BOS, 328, 16384, 11231, 570, 40706, EOS } },
  /* Numeric references as Python's html.unescape: &#0; and surrogates become U+FFFD, &#150; is
   * Windows-1252's en dash, &#1; vanishes, out-of-range numbers become U+FFFD. */
  { "&#39;s &#x41;&#66; &#128512; &#0; &#150; &#1; &#xD800; &#99999999999; &#X263a",
    { BOS, 568, 3937, 7334, 39802, 1224, 39802, 39802, 8703, EOS } },
  /* Legacy names need no ";" and match as prefixes: "&lifier <3 & & ' &apos ©2024". */
  { "&amplifier &lt3 &ampamp; &AMP; &apos; &apos &copy2024",
    { BOS, 261, 554, 10598, 283, 274, 261, 261, 262, 261, 4089, 338, 5811, 273, 271, 273, 275,
      EOS } },
  /* The special tokens written in a caption are the special ids, as in OpenAI's cache. */
  { "a <|endoftext|> b <|StartOfText|>", { BOS, 320, EOS, 321, BOS, EOS } },
  /* Roman numerals and circled letters lowercase too; "ß" and "ﬁ" stay. */
  { "straße ǅemal ﬁne Ⅻ Ⓐ",
    { BOS, 1894, 127, 253, 324, 131, 228, 908, 566, 171, 105, 223, 1422, 158, 227, 375, 27400,
      494, EOS } },
  /* Format characters are punctuation to the pattern, U+180E included. */
  { "hello\u200bworld ab\u00adcd a\u180eb",
    { BOS, 3306, 9844, 1002, 3937, 22618, 4480, 320, 157, 254, 492, 321, EOS } },
  { "A man & his dog&hellip; at the café, 1990s",
    { BOS, 320, 786, 261, 787, 1929, 959, 536, 518, 15304, 267, 272, 280, 280, 271, 338, EOS } },
  { "", { BOS, EOS } },
  { " \t\r\n ", { BOS, EOS } },
};

static int
case_length (const Case *c)
{
  int n = 0;

  while (n < (int) G_N_ELEMENTS (c->ids) && c->ids[n] != 0)
    n++;
  return n;
}

static char *
format_ids (const int *ids,
            int        n)
{
  GString *s = g_string_new (NULL);

  for (int i = 0; i < n; i++)
    g_string_append_printf (s, "%s%d", i > 0 ? ", " : "", ids[i]);
  return g_string_free (s, FALSE);
}

static void
assert_encodes (const WpTokenizer *tokenizer,
                const char        *caption,
                const int         *expected,
                int                n_expected)
{
  int              ids[256];
  int              n = wp_tokenizer_encode (tokenizer, caption, ids, NULL, G_N_ELEMENTS (ids));
  g_autofree char *got = format_ids (ids, n);
  g_autofree char *want = format_ids (expected, n_expected);

  g_test_message ("caption \"%s\"", caption);
  g_assert_cmpstr (got, ==, want);
}

static void
test_encode_case (gconstpointer data)
{
  const Case *c = data;

  assert_encodes (clip, c->caption, c->ids, case_length (c));
}

static void
test_encode_truncated (void)
{
  g_autoptr (GString) caption = g_string_new (NULL);
  const int pattern[] = { 320, 1125, 539, 320, 2368 };
  int       ids[77], words[77];
  int       n;

  for (int i = 0; i < 30; i++)
    g_string_append (caption, "a photo of a cat ");
  n = wp_tokenizer_encode (clip, caption->str, ids, words, 77);
  g_assert_cmpint (n, ==, 77);
  g_assert_cmpint (ids[0], ==, BOS);
  g_assert_cmpint (words[0], ==, -1);
  for (int i = 1; i < 76; i++) {
    g_assert_cmpint (ids[i], ==, pattern[(i - 1) % 5]);
    g_assert_cmpint (words[i], ==, i - 1);
  }
  g_assert_cmpint (ids[76], ==, EOS);
  g_assert_cmpint (words[76], ==, -1);
}

static void
test_encode_max_tokens_small (void)
{
  int ids[5] = { 0 }, words[5] = { 0 };
  int n;

  n = wp_tokenizer_encode (clip, "a photo of a cat", ids, words, 2);
  g_assert_cmpint (n, ==, 2);
  g_assert_cmpint (ids[0], ==, BOS);
  g_assert_cmpint (ids[1], ==, EOS);
  g_assert_cmpint (words[0], ==, -1);
  g_assert_cmpint (words[1], ==, -1);

  n = wp_tokenizer_encode (clip, "a photo of a cat", ids, words, 3);
  g_assert_cmpint (n, ==, 3);
  g_assert_cmpint (ids[1], ==, 320);
  g_assert_cmpint (ids[2], ==, EOS);
  g_assert_cmpint (words[1], ==, 0);
  g_assert_cmpint (words[2], ==, -1);

  /* A word cut by truncation keeps its index. */
  n = wp_tokenizer_encode (clip, "supercalifragilisticexpialidocious", ids, words, 5);
  g_assert_cmpint (n, ==, 5);
  g_assert_cmpint (ids[1], ==, 1642);
  g_assert_cmpint (ids[2], ==, 2857);
  g_assert_cmpint (ids[3], ==, 13093);
  g_assert_cmpint (ids[4], ==, EOS);
  for (int i = 1; i < 4; i++)
    g_assert_cmpint (words[i], ==, 0);

  /* A caption that fits exactly is not cut. */
  n = wp_tokenizer_encode (clip, "a diagram", ids, words, 4);
  g_assert_cmpint (n, ==, 4);
  g_assert_cmpint (ids[2], ==, 22697);
  g_assert_cmpint (ids[3], ==, EOS);
}

static void
test_encode_word_of_token (void)
{
  const struct {
    const char *caption;
    int         words[20];
  } cases[] = {
    { "Café au lait — naïve 🙂", { -1, 0, 1, 2, 2, 3, 4, 4, 4, 5, -1 } },
    { "it's I'm we'll don't", { -1, 0, 1, 2, 3, 4, 5, 6, 7, -1 } },
    { "crème brûlée à la française", { -1, 0, 0, 0, 1, 1, 1, 1, 1, 2, 3, 4, 4, -1 } },
    { "猫が好き", { -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1 } },
    { "a <|endoftext|> b", { -1, 0, 1, 2, -1 } },
    { "", { -1, -1 } },
  };

  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++) {
    int ids[64], words[64];
    int n = wp_tokenizer_encode (clip, cases[c].caption, ids, words, G_N_ELEMENTS (ids));
    int n_expected = 1;

    while (cases[c].words[n_expected] != -1)
      n_expected++;
    n_expected++;
    g_test_message ("caption \"%s\"", cases[c].caption);
    g_assert_cmpmem (words, n * sizeof (int), cases[c].words, n_expected * sizeof (int));
  }
}

static void
test_encode_invalid_utf8 (void)
{
  int ids[64], words[64];
  int ids_fffd[64];
  int n, n_fffd;

  /* Each invalid byte becomes U+FFFD before cleaning (g_utf8_make_valid()). */
  n = wp_tokenizer_encode (clip, "caf\xc3 au\xff\xfe lait \xe2\x82", ids, words, 64);
  n_fffd = wp_tokenizer_encode (clip, "caf\uFFFD au\uFFFD\uFFFD lait \uFFFD\uFFFD", ids_fffd,
                                NULL, 64);
  g_assert_cmpmem (ids, n * sizeof (int), ids_fffd, n_fffd * sizeof (int));
  g_assert_cmpint (ids[n - 1], ==, EOS);

  /* An unfinished reference and a lone "&" are text. */
  n = wp_tokenizer_encode (clip, "&#x; &#; & &&amp; &", ids, NULL, 64);
  g_assert_cmpint (n, >, 2);
}

static void
test_encode_unknown_entity_kept (void)
{
  int a[16], b[16];
  int n_a = wp_tokenizer_encode (clip, "&eacute;", a, NULL, 16);
  int n_b = wp_tokenizer_encode (clip, "&amp;eacute;", b, NULL, 16);

  /* Named references outside the common table stay as written, even after the second pass
   * (Python's html.unescape knows all of HTML5's and gives "é"; the header documents this). */
  g_assert_cmpmem (a, n_a * sizeof (int), b, n_b * sizeof (int));
  g_assert_cmpint (a[1], ==, 261); /* "&" */
}

static void
test_encode_long_word (void)
{
  g_autofree char *caption = g_strnfill (200000, 'a');
  int              ids[77];
  int              n;
  gint64           start = g_get_monotonic_time ();

  /* BPE is O(n log n) in the word length: a 200 kB word must not take quadratic time. */
  n = wp_tokenizer_encode (clip, caption, ids, NULL, 77);
  g_assert_cmpint (n, ==, 77);
  g_assert_cmpint (ids[76], ==, EOS);
  for (int i = 1; i < 76; i++) {
    g_autofree char *text = wp_tokenizer_dup_token_text (clip, ids[i]);

    g_assert_cmpuint (strspn (text, "a"), ==, strlen (text));
  }
  g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
}

static void
test_encode_cache_refill (void)
{
  const Case *c = &readme_cases[4];
  int         first[512], ids[512];
  int         n_first = 0;

  /* Enough distinct words to empty the word cache twice; the words seen first, cached then
   * dropped, must encode as they did. */
  for (int i = 0; i < 140000;) {
    g_autoptr (GString) caption = g_string_new (NULL);
    int n;

    for (int w = 0; w < 100; w++, i++) {
      char word[5];

      for (int j = 0, k = i; j < 4; j++, k /= 26)
        word[j] = (char) ('a' + k % 26);
      word[4] = '\0';
      g_string_append_printf (caption, "%s ", word);
    }
    n = wp_tokenizer_encode (clip, caption->str, ids, NULL, G_N_ELEMENTS (ids));
    g_assert_cmpint (n, <, (int) G_N_ELEMENTS (ids));
    if (i == 100) {
      memcpy (first, ids, sizeof ids);
      n_first = n;
    }
    if (i == 140000) {
      g_autoptr (GString) again = g_string_new (NULL);

      for (int k = 0; k < 100; k++)
        g_string_append_printf (again, "%c%c%c%c ", 'a' + k % 26, 'a' + k / 26, 'a', 'a');
      n = wp_tokenizer_encode (clip, again->str, ids, NULL, G_N_ELEMENTS (ids));
      g_assert_cmpmem (ids, n * sizeof (int), first, n_first * sizeof (int));
    }
  }
  assert_encodes (clip, c->caption, c->ids, case_length (c));
}

static gpointer
encode_worker (gpointer data)
{
  const WpTokenizer *tokenizer = data;

  for (int round = 0; round < 20; round++) {
    for (gsize i = 0; i < G_N_ELEMENTS (reference_cases); i++) {
      const Case *c = &reference_cases[i];
      int         ids[256];
      int         n = wp_tokenizer_encode (tokenizer, c->caption, ids, NULL, G_N_ELEMENTS (ids));

      if (n != case_length (c) || memcmp (ids, c->ids, (gsize) n * sizeof (int)) != 0)
        return GINT_TO_POINTER (FALSE);
    }
  }
  return GINT_TO_POINTER (TRUE);
}

static void
test_encode_threads (void)
{
  GThread *threads[4];

  for (gsize i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("encode", encode_worker, clip);
  for (gsize i = 0; i < G_N_ELEMENTS (threads); i++)
    g_assert_true (GPOINTER_TO_INT (g_thread_join (threads[i])));
}

static void
test_encode_locale_independent (void)
{
  const int ids[] = { BOS, 328, 16384, 11231, 570, 40706, EOS };
  char     *old = g_strdup (setlocale (LC_ALL, NULL));

  /* g_utf8_strdown() would give the dotless "ı" for "I" here. */
  if (setlocale (LC_ALL, "tr_TR.UTF-8") == NULL) {
    g_free (old);
    g_test_skip ("locale tr_TR.UTF-8 is not installed");
    return;
  }
  assert_encodes (clip, "İstanbul DIŞ", ids, G_N_ELEMENTS (ids));
  setlocale (LC_ALL, old);
  g_free (old);
}

/* The cleaned caption, rebuilt from token texts with a space after each "</w>". */
static char *
rebuild_caption (const char *caption)
{
  GString *out = g_string_new (NULL);
  int      ids[256];
  int      n = wp_tokenizer_encode (clip, caption, ids, NULL, G_N_ELEMENTS (ids));

  for (int i = 1; i < n - 1; i++) {
    g_autofree char *text = wp_tokenizer_dup_token_text (clip, ids[i]);

    g_string_append (out, text);
    if (g_str_has_suffix (wp_tokenizer_get_token_symbol (clip, ids[i]), "</w>"))
      g_string_append_c (out, ' ');
  }
  if (out->len > 0 && out->str[out->len - 1] == ' ')
    g_string_truncate (out, out->len - 1);
  return g_string_free (out, FALSE);
}

static void
test_token_text_round_trip (void)
{
  /* The cleaned caption with a space at each word end: exactly the cleaned caption when its
   * words are separated by spaces. */
  const char *const cases[][2] = {
    { "a photo of a cat", "a photo of a cat" },
    { "Café au lait — naïve 🙂", "café au lait — naïve 🙂" },
    { "Tom &amp;amp; Jerry &lt;3", "tom & jerry < 3" },
    { "  supercalifragilisticexpialidocious\t", "supercalifragilisticexpialidocious" },
    { "crème à la française", "crème à la française" },
    { "it's 2024!", "it 's 2 0 2 4 !" },
    { "🐱🐶 pets", "🐱🐶 pets" },
  };

  /* Captions with a token that splits a character are left out: it decodes to U+FFFD alone. */
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *text = rebuild_caption (cases[i][0]);

    g_assert_cmpstr (text, ==, cases[i][1]);
  }
}

static void
test_token_text (void)
{
  g_autofree char *cat = wp_tokenizer_dup_token_text (clip, 2368);
  g_autofree char *start = wp_tokenizer_dup_token_text (clip, BOS);
  g_autofree char *end = wp_tokenizer_dup_token_text (clip, EOS);
  g_autofree char *partial = wp_tokenizer_dup_token_text (clip, 163);
  g_autofree char *nul = wp_tokenizer_dup_token_text (clip, 188);
  g_autofree char *cafe = wp_tokenizer_dup_token_text (clip, 15304);

  g_assert_cmpstr (wp_tokenizer_get_token_symbol (clip, 2368), ==, "cat</w>");
  g_assert_cmpstr (wp_tokenizer_get_token_symbol (clip, 0), ==, "!");
  g_assert_cmpstr (wp_tokenizer_get_token_symbol (clip, EOS), ==, "<|endoftext|>");
  g_assert_null (wp_tokenizer_get_token_symbol (clip, -1));
  g_assert_null (wp_tokenizer_get_token_symbol (clip, 49408));
  g_assert_null (wp_tokenizer_dup_token_text (clip, -1));
  g_assert_null (wp_tokenizer_dup_token_text (clip, 49408));

  g_assert_cmpstr (cat, ==, "cat");
  g_assert_cmpstr (start, ==, "<|startoftext|>");
  g_assert_cmpstr (end, ==, "<|endoftext|>");
  g_assert_cmpstr (cafe, ==, "café");
  /* "ç" is the byte 0xE7 alone, the first of a CJK character; "Ā" is the byte 0x00. */
  g_assert_cmpstr (partial, ==, "\uFFFD");
  g_assert_cmpstr (nul, ==, "\uFFFD");
}

static char *
read_clip_file (const char *name,
                gsize      *len)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", "clip-bpe", name, NULL);
  char            *contents = NULL;

  g_assert_true (g_file_get_contents (path, &contents, len, NULL));
  return contents;
}

static void
test_getters (void)
{
  gsize            vocab_len, merges_len, len;
  g_autofree char *vocab = read_clip_file ("vocab.json", &vocab_len);
  g_autofree char *merges = read_clip_file ("merges.txt", &merges_len);
  const char      *bytes;

  g_assert_cmpint (wp_tokenizer_get_n_vocab (clip), ==, 49408);
  g_assert_cmpint (wp_tokenizer_get_n_merges (clip), ==, 48894);
  g_assert_cmpint (wp_tokenizer_get_bos_id (clip), ==, BOS);
  g_assert_cmpint (wp_tokenizer_get_eos_id (clip), ==, EOS);
  bytes = wp_tokenizer_get_vocab_json (clip, &len);
  g_assert_cmpmem (bytes, len, vocab, vocab_len);
  bytes = wp_tokenizer_get_merges_txt (clip, &len);
  g_assert_cmpmem (bytes, len, merges, merges_len);
}

static void
test_load_unterminated (void)
{
  gsize            vocab_len, merges_len;
  g_autofree char *vocab = read_clip_file ("vocab.json", &vocab_len);
  g_autofree char *merges = read_clip_file ("merges.txt", &merges_len);
  g_autofree char *vocab_copy = NULL;
  g_autofree char *merges_copy = NULL;
  g_autoptr (WpTokenizer) tokenizer = NULL;
  g_autoptr (GError) error = NULL;
  const Case *c = &readme_cases[5];

  /* Garbage right after the given lengths, no NUL: the lengths must be honoured. */
  vocab_copy = g_malloc (vocab_len + 4);
  memcpy (vocab_copy, vocab, vocab_len);
  memcpy (vocab_copy + vocab_len, "}}}}", 4);
  merges_copy = g_malloc (merges_len + 4);
  memcpy (merges_copy, merges, merges_len);
  memcpy (merges_copy + merges_len, "x y ", 4);

  tokenizer = wp_tokenizer_new_from_data (vocab_copy, vocab_len, merges_copy, merges_len, &error);
  g_assert_no_error (error);
  assert_encodes (tokenizer, c->caption, c->ids, case_length (c));
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *vocab_path = NULL;
  g_autofree char *merges_path = NULL;
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

  vocab_path = g_test_build_filename (G_TEST_DIST, "data", "clip-bpe", "vocab.json", NULL);
  merges_path = g_test_build_filename (G_TEST_DIST, "data", "clip-bpe", "merges.txt", NULL);
  clip = wp_tokenizer_new_from_files (vocab_path, merges_path, &error);
  g_assert_no_error (error);

  for (gsize i = 0; i < G_N_ELEMENTS (readme_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/tokenizer/encode/openai-table/%" G_GSIZE_FORMAT, i);

    g_test_add_data_func (path, &readme_cases[i], test_encode_case);
  }
  for (gsize i = 0; i < G_N_ELEMENTS (reference_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/tokenizer/encode/reference/%" G_GSIZE_FORMAT, i);

    g_test_add_data_func (path, &reference_cases[i], test_encode_case);
  }
  g_test_add_func ("/tokenizer/encode/truncated-keeps-end-token", test_encode_truncated);
  g_test_add_func ("/tokenizer/encode/max-tokens-small", test_encode_max_tokens_small);
  g_test_add_func ("/tokenizer/encode/word-of-token", test_encode_word_of_token);
  g_test_add_func ("/tokenizer/encode/invalid-utf8", test_encode_invalid_utf8);
  g_test_add_func ("/tokenizer/encode/unknown-entity-kept", test_encode_unknown_entity_kept);
  g_test_add_func ("/tokenizer/encode/long-word", test_encode_long_word);
  g_test_add_func ("/tokenizer/encode/cache-refill", test_encode_cache_refill);
  g_test_add_func ("/tokenizer/encode/threads", test_encode_threads);
  g_test_add_func ("/tokenizer/encode/locale-independent", test_encode_locale_independent);
  g_test_add_func ("/tokenizer/token-text/round-trip", test_token_text_round_trip);
  g_test_add_func ("/tokenizer/token-text/symbols", test_token_text);
  g_test_add_func ("/tokenizer/load/getters", test_getters);
  g_test_add_func ("/tokenizer/load/unterminated-data", test_load_unterminated);

  status = g_test_run ();
  wp_tokenizer_free (clip);
  return status;
}
