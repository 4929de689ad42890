/* test-tokenizer-load.c: the tokenizer's loader on small vocabularies written here and on
 * malformed files, and learning merges from a corpus (the encoder against OpenAI's ids is tested
 * in test-tokenizer.c). */
#include <glib/gstdio.h>
#include <string.h>

#include "test-util.h"
#include "wordpatch/error.h"
#include "wordpatch/tokenizer.h"

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

/* The data was refused as malformed, with exactly this message. */
static void
expect_format_error (const WpTokenizer *tokenizer,
                     const GError      *error,
                     const char        *message)
{
  g_assert_null (tokenizer);
  g_assert_error (error, WP_ERROR, WP_ERROR_FORMAT);
  if (error != NULL)
    g_assert_cmpstr (error->message, ==, message);
}

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
  expect_format_error (tokenizer, error,
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
  expect_format_error (tokenizer, error,
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
  expect_format_error (tokenizer, error,
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
  expect_format_error (tokenizer, error, "vocab.json: JSON nested more than 64 levels deep");
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
  expect_format_error (tokenizer, error, "vocab.json: more than 1048576 JSON values");
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
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/tokenizer/learn/compresses-frequent-words",
                   test_learn_compresses_frequent_words);
  g_test_add_func ("/tokenizer/learn/deterministic-and-round-trips",
                   test_learn_is_deterministic_and_round_trips);
  g_test_add_func ("/tokenizer/learn/rejects-tiny-vocabulary", test_learn_rejects_tiny_vocabulary);
  g_test_add_func ("/tokenizer/load/small", test_load_small);
  wp_test_add_named_cases ("/tokenizer/load", bad_cases, test_load_bad);
  g_test_add_func ("/tokenizer/load/merges/too-many", test_load_too_many_merges);
  g_test_add_func ("/tokenizer/load/vocab/too-large", test_load_vocab_too_large);
  g_test_add_func ("/tokenizer/load/vocab/too-many-tokens", test_load_too_many_tokens);
  g_test_add_func ("/tokenizer/load/merges-too-large", test_load_merges_too_large);
  g_test_add_func ("/tokenizer/load/vocab-nested", test_load_vocab_nested);
  g_test_add_func ("/tokenizer/load/files", test_load_files);
  return g_test_run ();
}
