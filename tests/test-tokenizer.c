/* test-tokenizer.c: the CLIP BPE tokenizer against OpenAI's ids, and its loader against malformed
 * files.
 *
 * Expected ids: the README table of tests/data/clip-bpe is OpenAI's SimpleTokenizer. The other
 * captions' ids were derived once, by hand, with an independent Python transcription of OpenAI's
 * simple_tokenizer.py (html.unescape twice, re's \s, str.lower, its bpe() loop verbatim; the
 * pattern's \p{L} / \p{N} emulated with unicodedata.category; no ftfy), which reproduces every row
 * of the README table. Only its output is kept here. */
#include <glib/gstdio.h>
#include <locale.h>
#include <string.h>

#include "wordpatch/error.h"
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

/* GPT-2's byte symbol for byte b, written independently of the tokenizer's table. */
static gunichar
byte_symbol (int b)
{
  int n = 0;

  if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
    return (gunichar) b;
  for (int i = 0; i < b; i++) {
    if (!((i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE))
      n++;
  }
  return (gunichar) (256 + n);
}

static void
append_json_string (GString    *json,
                    const char *s)
{
  g_string_append_c (json, '"');
  for (const char *p = s; *p != '\0'; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_c (json, '\\');
    g_string_append_c (json, *p);
  }
  g_string_append_c (json, '"');
}

/* A small vocabulary: the 512 byte symbols except skip (may be NULL), then tokens, numbered on
 * densely; then extra_json members verbatim (may be NULL). */
static char *
make_vocab (const char        *skip,
            const char *const *tokens,
            const char        *extra_json)
{
  GString *json = g_string_new ("{");
  int      id = 0;

  for (int end = 0; end < 2; end++) {
    for (int b = 0; b < 256; b++) {
      char symbol[16] = { 0 };

      g_unichar_to_utf8 (byte_symbol (b), symbol);
      if (end)
        strcat (symbol, "</w>");
      if (skip != NULL && strcmp (symbol, skip) == 0)
        continue;
      append_json_string (json, symbol);
      g_string_append_printf (json, ": %d, ", id++);
    }
  }
  for (int i = 0; tokens != NULL && tokens[i] != NULL; i++) {
    append_json_string (json, tokens[i]);
    g_string_append_printf (json, ": %d, ", id++);
  }
  if (extra_json != NULL)
    g_string_append (json, extra_json);
  else
    g_string_truncate (json, json->len - 2);
  g_string_append_c (json, '}');
  return g_string_free (json, FALSE);
}

static const char *const small_tokens[] = {
  "ca", "cat</w>", "<|startoftext|>", "<|endoftext|>", NULL
};
static const char *small_merges = "#version: 0.2\nc a\nca t</w>\n";

static WpTokenizer *
new_small (const char *vocab,
           const char *merges,
           GError    **error)
{
  return wp_tokenizer_new_from_data (vocab, strlen (vocab), merges, strlen (merges), error);
}

static void
test_load_small (void)
{
  g_autofree char *vocab = make_vocab (NULL, small_tokens, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (WpTokenizer) tokenizer = new_small (vocab, small_merges, &error);
  g_autoptr (WpTokenizer) crlf = NULL;
  g_autoptr (WpTokenizer) unversioned = NULL;
  int ids[8];

  g_assert_no_error (error);
  g_assert_cmpint (wp_tokenizer_get_n_vocab (tokenizer), ==, 516);
  g_assert_cmpint (wp_tokenizer_get_n_merges (tokenizer), ==, 2);
  g_assert_cmpint (wp_tokenizer_get_bos_id (tokenizer), ==, 514);
  g_assert_cmpint (wp_tokenizer_get_eos_id (tokenizer), ==, 515);
  g_assert_cmpint (wp_tokenizer_encode (tokenizer, "Cat CAT", ids, NULL, 8), ==, 4);
  g_assert_cmpint (ids[1], ==, 513);
  g_assert_cmpint (ids[2], ==, 513);
  /* No merge for "t s</w>": "ca", "t", "s</w>" (byte symbols are numbered in byte order here). */
  g_assert_cmpint (wp_tokenizer_encode (tokenizer, "cats", ids, NULL, 8), ==, 5);
  g_assert_cmpint (ids[1], ==, 512);
  g_assert_cmpint (ids[2], ==, 't');
  g_assert_cmpint (ids[3], ==, 256 + 's');

  /* CRLF line ends and a missing "#version" line are accepted. */
  crlf = new_small (vocab, "c a\r\nca t</w>\r\n", &error);
  g_assert_no_error (error);
  g_assert_cmpint (wp_tokenizer_get_n_merges (crlf), ==, 2);
  unversioned = new_small (vocab, "c a\nca t</w>", &error);
  g_assert_no_error (error);
  g_assert_cmpint (wp_tokenizer_get_n_merges (unversioned), ==, 2);
}

typedef struct {
  const char        *name;
  const char        *skip;        /* byte symbol left out of the vocabulary */
  const char *const *tokens;      /* NULL: small_tokens */
  const char        *vocab_extra; /* appended members */
  const char        *vocab;       /* the whole vocab.json instead */
  const char        *merges;      /* NULL: small_merges */
  int                code;
  const char        *message; /* a substring of the message */
} BadCase;

static const char *const no_end_tokens[] = { "ca", "cat</w>", "<|startoftext|>", NULL };
static const char *const no_start_tokens[] = { "ca", "cat</w>", "<|endoftext|>", NULL };

static const BadCase bad_cases[] = {
  { "vocab/empty", .vocab = "",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: expected a JSON object of token -> id, found nothing" },
  { "vocab/not-json", .vocab = "{\"a\": 0,",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: not valid JSON: " },
  { "vocab/not-utf8", .vocab = "{\"\xff\": 0}",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: not valid JSON: " },
  { "vocab/array", .vocab = "[\"a\", \"b\"]",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: expected a JSON object of token -> id, found an array" },
  { "vocab/number", .vocab = "3",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: expected a JSON object of token -> id, found a number" },
  { "vocab/float-id", .vocab_extra = "\"xyz\": 516.0",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: token 'xyz' has a number for id, not an integer" },
  { "vocab/string-id", .vocab_extra = "\"xyz\": \"516\"",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: token 'xyz' has a string for id, not an integer" },
  { "vocab/null-id", .vocab_extra = "\"xyz\": null",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: token 'xyz' has null for id, not an integer" },
  { "vocab/object-id", .vocab_extra = "\"xyz\": {}",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: token 'xyz' has an object for id, not an integer" },
  { "vocab/negative-id", .vocab_extra = "\"xyz\": -1",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: token 'xyz' has id -1, outside [0, 517)" },
  { "vocab/large-id", .vocab_extra = "\"xyz\": 517",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: token 'xyz' has id 517, outside [0, 517)" },
  { "vocab/huge-id", .vocab_extra = "\"xyz\": 4294967296",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: token 'xyz' has id 4294967296, outside [0, 517)" },
  { "vocab/overflowing-id", .vocab_extra = "\"xyz\": 99999999999999999999999",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: token 'xyz' has id" },
  { "vocab/shared-id", .vocab_extra = "\"xyz\": 0",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: tokens 'Ā' and 'xyz' share id 0" },
  { "vocab/nul-keys-collapse", .vocab_extra = "\"q\\u0000r\": 516, \"q\\u0000s\": 517",
    .code = WP_ERROR_FORMAT,
    .message = "vocab.json: token 'q' has id 517, outside [0, 516)" },
  { "vocab/no-end-token", .tokens = no_end_tokens,
    .code = WP_ERROR_MISSING,
    .message = "vocab.json: token '<|endoftext|>' missing" },
  { "vocab/no-start-token", .tokens = no_start_tokens,
    .code = WP_ERROR_MISSING,
    .message = "vocab.json: token '<|startoftext|>' missing" },
  { "vocab/no-byte-symbol", .skip = "Ā",
    .code = WP_ERROR_MISSING,
    .message = "vocab.json: token 'Ā' (byte 0x00) missing" },
  { "vocab/no-end-byte-symbol", .skip = "ÿ</w>",
    .code = WP_ERROR_MISSING,
    .message = "vocab.json: token 'ÿ</w>' (byte 0xff at the end of a word) missing" },
  { "merges/empty", .merges = "",
    .code = WP_ERROR_FORMAT,
    .message = "merges.txt: no merges" },
  { "merges/version-only", .merges = "#version: 0.2\n\n",
    .code = WP_ERROR_FORMAT,
    .message = "merges.txt: no merges" },
  { "merges/one-symbol", .merges = "#version: 0.2\nc a\nca\n",
    .code = WP_ERROR_FORMAT,
    .message = "merges.txt: line 3: expected two symbols separated by one space" },
  { "merges/three-symbols", .merges = "c a t</w>\n",
    .code = WP_ERROR_FORMAT,
    .message = "merges.txt: line 1: expected two symbols separated by one space" },
  { "merges/two-spaces", .merges = "c  a\n",
    .code = WP_ERROR_FORMAT,
    .message = "merges.txt: line 1: expected two symbols separated by one space" },
  { "merges/leading-space", .merges = " c\n",
    .code = WP_ERROR_FORMAT,
    .message = "merges.txt: line 1: expected two symbols" },
  { "merges/trailing-space", .merges = "c \n",
    .code = WP_ERROR_FORMAT,
    .message = "merges.txt: line 1: expected two symbols" },
  { "merges/blank-line", .merges = "#version: 0.2\nc a\n\nca t</w>\n",
    .code = WP_ERROR_FORMAT,
    .message = "merges.txt: line 3: expected two symbols" },
  { "merges/not-utf8", .merges = "c a\nca \xff\n",
    .code = WP_ERROR_FORMAT,
    .message = "merges.txt: line 2: not valid UTF-8 text" },
  { "merges/unknown-symbol", .merges = "c a\nzz t</w>\n",
    .code = WP_ERROR_MISSING,
    .message = "merges.txt: line 2: symbol 'zz' not in the vocabulary" },
  { "merges/unknown-right-symbol", .merges = "c a\nca zz\n",
    .code = WP_ERROR_MISSING,
    .message = "merges.txt: line 2: symbol 'zz' not in the vocabulary" },
  { "merges/result-not-in-vocab", .merges = "#version: 0.2\nc a\nt h\n",
    .code = WP_ERROR_MISSING,
    .message = "merges.txt: line 3: merge result 'th' not in the vocabulary" },
  { "merges/repeated", .merges = "#version: 0.2\nc a\nca t</w>\nc a\n",
    .code = WP_ERROR_FORMAT,
    .message = "merges.txt: line 4: repeats the merge of line 2" },
};

static void
test_load_bad (gconstpointer data)
{
  const BadCase   *c = data;
  g_autofree char *vocab = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (WpTokenizer) tokenizer = NULL;

  if (c->vocab != NULL)
    vocab = g_strdup (c->vocab);
  else
    vocab = make_vocab (c->skip, c->tokens != NULL ? c->tokens : small_tokens, c->vocab_extra);
  tokenizer = new_small (vocab, c->merges != NULL ? c->merges : small_merges, &error);
  g_assert_null (tokenizer);
  g_assert_error (error, WP_ERROR, c->code);
  g_test_message ("message: %s", error->message);
  g_assert_nonnull (strstr (error->message, c->message));
}

static void
test_load_too_many_merges (void)
{
  g_autofree char *vocab = make_vocab (NULL, small_tokens, NULL);
  g_autoptr (GString) merges = g_string_new ("#version: 0.2\n");
  g_autoptr (GError) error = NULL;
  g_autoptr (WpTokenizer) tokenizer = NULL;

  for (int i = 0; i <= WP_TOKENIZER_MAX_MERGES; i++)
    g_string_append (merges, "c a\n");
  tokenizer = new_small (vocab, merges->str, &error);
  g_assert_null (tokenizer);
  g_assert_error (error, WP_ERROR, WP_ERROR_FORMAT);
  g_assert_cmpstr (error->message, ==,
                   "merges.txt: 1048577 merges, more than the limit of 1048576");
}

static void
test_load_vocab_too_large (void)
{
  gsize            len = (64 << 20) + 1;
  g_autofree char *vocab = g_malloc (len);
  g_autoptr (GError) error = NULL;
  g_autoptr (WpTokenizer) tokenizer = NULL;

  /* Rejected on its size, before JSON-GLib builds a tree of it. */
  memset (vocab, ' ', len);
  tokenizer = wp_tokenizer_new_from_data (vocab, len, small_merges, strlen (small_merges), &error);
  g_assert_null (tokenizer);
  g_assert_error (error, WP_ERROR, WP_ERROR_FORMAT);
  g_assert_cmpstr (error->message, ==,
                   "vocab.json: 67108865 bytes, more than the limit of 67108864");
}

static void
test_load_merges_too_large (void)
{
  g_autofree char *vocab = make_vocab (NULL, small_tokens, NULL);
  gsize            len = (64 << 20) + 1;
  g_autofree char *merges = g_malloc (len);
  g_autoptr (GError) error = NULL;
  g_autoptr (WpTokenizer) tokenizer = NULL;

  memset (merges, '\n', len);
  tokenizer = wp_tokenizer_new_from_data (vocab, strlen (vocab), merges, len, &error);
  g_assert_null (tokenizer);
  g_assert_error (error, WP_ERROR, WP_ERROR_FORMAT);
  g_assert_cmpstr (error->message, ==,
                   "merges.txt: 67108865 bytes, more than the limit of 67108864");
}

/* JSON-GLib's parser recurses once per level: 100,000 levels overflowed its stack. */
static void
test_load_vocab_nested (void)
{
  g_autofree char *vocab = g_strnfill (100000, '[');
  g_autoptr (GError) error = NULL;
  g_autoptr (WpTokenizer) tokenizer = NULL;

  tokenizer = new_small (vocab, small_merges, &error);
  g_assert_null (tokenizer);
  g_assert_error (error, WP_ERROR, WP_ERROR_FORMAT);
  g_assert_cmpstr (error->message, ==, "vocab.json: JSON nested more than 64 levels deep");
}

static void
test_load_too_many_tokens (void)
{
  g_autoptr (GString) vocab = g_string_new ("{");
  g_autoptr (GError) error = NULL;
  g_autoptr (WpTokenizer) tokenizer = NULL;

  /* Counted before JSON-GLib builds its tree (which took 1.6 s and 230 MB for this one). */
  for (int i = 0; i <= WP_TOKENIZER_MAX_VOCAB; i++)
    g_string_append_printf (vocab, "%s\"t%d\": %d", i > 0 ? ", " : "", i, i);
  g_string_append_c (vocab, '}');
  tokenizer = new_small (vocab->str, small_merges, &error);
  g_assert_null (tokenizer);
  g_assert_error (error, WP_ERROR, WP_ERROR_FORMAT);
  g_assert_cmpstr (error->message, ==,
                   "vocab.json: more than 1048576 JSON values");
}

static void
test_load_files (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("wp-tokenizer-XXXXXX", &error);
  g_autofree char *vocab_path = NULL;
  g_autofree char *merges_path = NULL;
  g_autofree char *missing_path = NULL;
  g_autofree char *vocab = make_vocab (NULL, small_tokens, NULL);
  g_autofree char *expected = NULL;
  g_autoptr (WpTokenizer) tokenizer = NULL;

  g_assert_no_error (error);
  vocab_path = g_build_filename (dir, "vocab.json", NULL);
  merges_path = g_build_filename (dir, "merges.txt", NULL);
  missing_path = g_build_filename (dir, "missing.json", NULL);
  g_assert_true (g_file_set_contents (vocab_path, vocab, -1, NULL));
  g_assert_true (g_file_set_contents (merges_path, "c a\nca\n", -1, NULL));

  /* Errors name the path of the file at fault. */
  tokenizer = wp_tokenizer_new_from_files (vocab_path, merges_path, &error);
  g_assert_null (tokenizer);
  g_assert_error (error, WP_ERROR, WP_ERROR_FORMAT);
  expected = g_strdup_printf ("%s: line 2: expected two symbols separated by one space",
                              merges_path);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);

  tokenizer = wp_tokenizer_new_from_files (missing_path, merges_path, &error);
  g_assert_null (tokenizer);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (merges_path, small_merges, -1, NULL));
  tokenizer = wp_tokenizer_new_from_files (vocab_path, merges_path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (wp_tokenizer_get_n_merges (tokenizer), ==, 2);

  g_assert_cmpint (g_remove (vocab_path), ==, 0);
  g_assert_cmpint (g_remove (merges_path), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static const char *const learn_corpus[] = {
  "a red circle above a blue square",
  "two green circles",
  "a small red star left of a big circle",
  "the circle is red; the square is blue",
  "Circles, squares and stars!",
};

static void
test_learn_compresses_frequent_words (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (WpTokenizer) learnt =
    wp_tokenizer_learn (learn_corpus, G_N_ELEMENTS (learn_corpus), 600, &error);
  g_autofree char *circle = NULL;
  int              ids[16];
  int              n;

  g_assert_no_error (error);
  g_assert_cmpint (wp_tokenizer_get_n_vocab (learnt), <=, 600);
  /* Each merge adds at most one token to the 512 byte symbols and the two special tokens. */
  g_assert_cmpint (wp_tokenizer_get_n_merges (learnt), >, 0);
  g_assert_cmpint (wp_tokenizer_get_n_vocab (learnt), <=, 514 + wp_tokenizer_get_n_merges (learnt));
  g_assert_cmpstr (wp_tokenizer_get_token_symbol (learnt, 0), ==, "!");
  g_assert_cmpstr (wp_tokenizer_get_token_symbol (learnt, 256), ==, "!</w>");
  g_assert_cmpint (wp_tokenizer_get_eos_id (learnt), ==, wp_tokenizer_get_n_vocab (learnt) - 1);
  /* "circle" occurs five times: it must have become one token. */
  n = wp_tokenizer_encode (learnt, "circle", ids, NULL, 16);
  g_assert_cmpint (n, ==, 3);
  circle = wp_tokenizer_dup_token_text (learnt, ids[1]);
  g_assert_cmpstr (circle, ==, "circle");
  /* Words never seen still encode, byte by byte at worst, and decode to themselves. */
  n = wp_tokenizer_encode (learnt, "zebra", ids, NULL, 16);
  g_assert_cmpint (n, >=, 3);
  {
    g_autoptr (GString) text = g_string_new (NULL);

    for (int i = 1; i < n - 1; i++) {
      g_autofree char *piece = wp_tokenizer_dup_token_text (learnt, ids[i]);

      g_string_append (text, piece);
    }
    g_assert_cmpstr (text->str, ==, "zebra");
  }
}

static void
test_learn_is_deterministic_and_round_trips (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (WpTokenizer) first =
    wp_tokenizer_learn (learn_corpus, G_N_ELEMENTS (learn_corpus), 560, &error);
  g_autoptr (WpTokenizer) second =
    wp_tokenizer_learn (learn_corpus, G_N_ELEMENTS (learn_corpus), 560, &error);
  g_autoptr (WpTokenizer) reloaded = NULL;
  const char *vocab1, *vocab2, *merges1, *merges2;
  gsize       vocab1_len, vocab2_len, merges1_len, merges2_len;

  g_assert_no_error (error);
  vocab1 = wp_tokenizer_get_vocab_json (first, &vocab1_len);
  vocab2 = wp_tokenizer_get_vocab_json (second, &vocab2_len);
  merges1 = wp_tokenizer_get_merges_txt (first, &merges1_len);
  merges2 = wp_tokenizer_get_merges_txt (second, &merges2_len);
  g_assert_cmpmem (vocab1, vocab1_len, vocab2, vocab2_len);
  g_assert_cmpmem (merges1, merges1_len, merges2, merges2_len);
  reloaded = wp_tokenizer_new_from_data (vocab1, vocab1_len, merges1, merges1_len, &error);
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (learn_corpus); i++) {
    int a[32], b[32];
    int na = wp_tokenizer_encode (first, learn_corpus[i], a, NULL, 32);
    int nb = wp_tokenizer_encode (reloaded, learn_corpus[i], b, NULL, 32);

    g_assert_cmpmem (a, na * sizeof (int), b, nb * sizeof (int));
  }
}

static void
test_learn_rejects_tiny_vocabulary (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (WpTokenizer) learnt =
    wp_tokenizer_learn (learn_corpus, G_N_ELEMENTS (learn_corpus), 100, &error);

  g_assert_null (learnt);
  g_assert_error (error, WP_ERROR, WP_ERROR_INVALID);
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
  g_test_add_func ("/tokenizer/learn/compresses-frequent-words",
                   test_learn_compresses_frequent_words);
  g_test_add_func ("/tokenizer/learn/deterministic-and-round-trips",
                   test_learn_is_deterministic_and_round_trips);
  g_test_add_func ("/tokenizer/learn/rejects-tiny-vocabulary", test_learn_rejects_tiny_vocabulary);
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
  g_test_add_func ("/tokenizer/load/small", test_load_small);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/tokenizer/load/%s", bad_cases[i].name);

    g_test_add_data_func (path, &bad_cases[i], test_load_bad);
  }
  g_test_add_func ("/tokenizer/load/merges/too-many", test_load_too_many_merges);
  g_test_add_func ("/tokenizer/load/vocab/too-large", test_load_vocab_too_large);
  g_test_add_func ("/tokenizer/load/vocab/too-many-tokens", test_load_too_many_tokens);
  g_test_add_func ("/tokenizer/load/merges-too-large", test_load_merges_too_large);
  g_test_add_func ("/tokenizer/load/vocab-nested", test_load_vocab_nested);
  g_test_add_func ("/tokenizer/load/files", test_load_files);

  status = g_test_run ();
  wp_tokenizer_free (clip);
  return status;
}
