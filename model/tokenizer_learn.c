/* tokenizer_learn.c: learning a CLIP-format BPE vocabulary from captions, the merges learner
 * behind wp_tokenizer_learn(). The words are cleaned and split exactly as encoding does, so the
 * learnt merges are the ones encoding will meet. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "tokenizer-private.h"
#include "wordpatch/error.h"
#include "wordpatch/tokenizer.h"

/* A word of the corpus as a sequence of symbol strings, with its count. */
typedef struct {
  GPtrArray *symbols; /* of char*, owned */
  guint      count;
} LearnWord;

static void
learn_word_free (gpointer data)
{
  LearnWord *word = data;

  g_ptr_array_unref (word->symbols);
  g_free (word);
}

/* The most frequent adjacent pair over all words; ties go to the smaller "a b" string, so the
 * result does not depend on hash order. Returns FALSE when no pair occurs twice. */
static gboolean
best_pair (GPtrArray *words,
           char     **best_left,
           char     **best_right)
{
  g_autoptr (GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer       key, value;
  const char    *best = NULL;
  guint          best_count = 1;

  for (guint w = 0; w < words->len; w++) {
    const LearnWord *word = g_ptr_array_index (words, w);

    for (guint i = 0; i + 1 < word->symbols->len; i++) {
      char *pair = g_strconcat (g_ptr_array_index (word->symbols, i), " ",
                                g_ptr_array_index (word->symbols, i + 1), NULL);
      guint count = GPOINTER_TO_UINT (g_hash_table_lookup (counts, pair)) + word->count;

      g_hash_table_replace (counts, pair, GUINT_TO_POINTER (count));
    }
  }
  g_hash_table_iter_init (&iter, counts);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    const guint count = GPOINTER_TO_UINT (value);

    if (count > best_count || (count == best_count && best != NULL && strcmp (key, best) < 0)) {
      best = key;
      best_count = count;
    }
  }
  if (best == NULL)
    return FALSE;
  *best_left = g_strndup (best, strchr (best, ' ') - best);
  *best_right = g_strdup (strchr (best, ' ') + 1);
  return TRUE;
}

static void
apply_merge (GPtrArray  *words,
             const char *left,
             const char *right)
{
  for (guint w = 0; w < words->len; w++) {
    GPtrArray *symbols = ((LearnWord *) g_ptr_array_index (words, w))->symbols;

    for (guint i = 0; i + 1 < symbols->len; i++) {
      if (strcmp (g_ptr_array_index (symbols, i), left) == 0 &&
          strcmp (g_ptr_array_index (symbols, i + 1), right) == 0) {
        char *merged = g_strconcat (left, right, NULL);

        g_free (g_ptr_array_index (symbols, i));
        symbols->pdata[i] = merged;
        g_ptr_array_remove_index (symbols, i + 1);
      }
    }
  }
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static GPtrArray *
collect_words (const char *const *texts,
               guint              n_texts,
               const gunichar     byte_char[256])
{
  g_autoptr (GHashTable) counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GRegex) regex = wp_tokenizer_word_regex_new ();
  GPtrArray     *words = g_ptr_array_new_with_free_func (learn_word_free);
  GHashTableIter iter;
  gpointer       key, value;
  g_autoptr (GPtrArray) sorted = g_ptr_array_new ();

  for (guint t = 0; t < n_texts; t++) {
    g_autofree char *clean = wp_tokenizer_clean_text (texts[t]);
    GMatchInfo      *match = NULL;

    g_regex_match (regex, clean, 0, &match);
    while (g_match_info_matches (match)) {
      char *word = g_match_info_fetch (match, 0);

      g_hash_table_replace (
        counts, word, GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (counts, word)) + 1));
      g_match_info_next (match, NULL);
    }
    g_match_info_free (match);
  }
  /* Sorted words make the learnt vocabulary a function of the captions alone. */
  g_hash_table_iter_init (&iter, counts);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_ptr_array_add (sorted, key);
  g_ptr_array_sort (sorted, compare_strings);
  for (guint i = 0; i < sorted->len; i++) {
    const char *text = g_ptr_array_index (sorted, i);
    LearnWord  *word = g_new0 (LearnWord, 1);
    gsize       len = strlen (text);

    word->count = GPOINTER_TO_UINT (g_hash_table_lookup (counts, text));
    word->symbols = g_ptr_array_new_with_free_func (g_free);
    for (gsize b = 0; b < len; b++) {
      char utf8[8] = { 0 };

      g_unichar_to_utf8 (byte_char[(guint8) text[b]], utf8);
      g_ptr_array_add (word->symbols,
                       b + 1 == len ? g_strconcat (utf8, WP_END_OF_WORD, NULL) : g_strdup (utf8));
    }
    g_ptr_array_add (words, word);
  }
  return words;
}

WpTokenizer *
wp_tokenizer_learn (const char *const *texts,
                    guint              n_texts,
                    int                vocab_size,
                    GError           **error)
{
  gunichar byte_char[256];
  int      char_byte[WP_BYTE_CHAR_LIMIT];
  g_autoptr (GPtrArray) words = NULL;
  g_autoptr (GPtrArray) vocab = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) known = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GString) merges = g_string_new ("#version: 0.2\n");
  g_autofree char *vocab_json = NULL;
  int              by_symbol[256];
  int              n_bytes = 0;
  char            *left, *right;

  if (vocab_size < 514 || vocab_size > WP_TOKENIZER_MAX_VOCAB) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID,
                 "vocabulary size %d must be between 514 (the byte symbols and the start and end "
                 "tokens) and %d",
                 vocab_size, WP_TOKENIZER_MAX_VOCAB);
    return NULL;
  }
  wp_tokenizer_init_byte_map (byte_char, char_byte);
  /* CLIP's order: byte symbols by code point (printable bytes first), then the same with "</w>". */
  for (int c = 0; c < WP_BYTE_CHAR_LIMIT; c++) {
    if (char_byte[c] >= 0)
      by_symbol[n_bytes++] = char_byte[c];
  }
  for (int end = 0; end < 2; end++) {
    for (int i = 0; i < 256; i++) {
      char utf8[8] = { 0 };

      g_unichar_to_utf8 (byte_char[by_symbol[i]], utf8);
      g_ptr_array_add (vocab, g_strconcat (utf8, end ? WP_END_OF_WORD : "", NULL));
      g_hash_table_add (known, g_ptr_array_index (vocab, vocab->len - 1));
    }
  }
  words = collect_words (texts, n_texts, byte_char);
  while ((int) vocab->len < vocab_size - 2 && best_pair (words, &left, &right)) {
    char *merged = g_strconcat (left, right, NULL);

    /* Two different pairs can spell the same symbol ("ab" "c", "a" "bc"): one id serves both. */
    g_string_append_printf (merges, "%s %s\n", left, right);
    if (g_hash_table_contains (known, merged)) {
      g_free (merged);
    } else {
      g_ptr_array_add (vocab, merged);
      g_hash_table_add (known, merged);
    }
    apply_merge (words, left, right);
    g_free (left);
    g_free (right);
  }
  g_ptr_array_add (vocab, g_strdup (WP_START_SYMBOL));
  g_ptr_array_add (vocab, g_strdup (WP_END_SYMBOL));

  json_builder_begin_object (builder);
  for (guint i = 0; i < vocab->len; i++) {
    json_builder_set_member_name (builder, g_ptr_array_index (vocab, i));
    json_builder_add_int_value (builder, i);
  }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  vocab_json = json_generator_to_data (generator, NULL);
  return wp_tokenizer_new_from_data (vocab_json, strlen (vocab_json), merges->str, merges->len,
                                     error);
}
