/* tokenizer.c: OpenAI CLIP's byte-level BPE (simple_tokenizer.py), over transformers' files.
 *
 * Symbols are handled as vocabulary ids from the start: load checks that every byte symbol and
 * every merge result is in the vocabulary, so BPE never meets a symbol without an id and a merge
 * is a lookup of (left id, right id) -> (rank, result id). A caption is cleaned and split into
 * words by tokenizer_clean.c; tokenizer_learn.c learns a vocabulary in this format. */
#include "wordpatch/tokenizer.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "json-private.h"
#include "sentencepiece-private.h"
#include "tokenizer-private.h"
#include "wordpatch/error.h"

/* The word cache is emptied when it reaches this many words, and longer words are not cached:
 * a long-running app or a large dataset must not grow it without bound. */
#define WORD_CACHE_MAX_WORDS 65536
#define WORD_CACHE_MAX_BYTES 256

/* Bounds on the texts, checked before they are copied; OpenAI's 49408 tokens take 0.9 MB and its
 * 48894 merges 0.5 MB. */
#define VOCAB_MAX_BYTES    (64 << 20)
#define MERGES_MAX_BYTES   (64 << 20)
#define SP_MODEL_MAX_BYTES (64 << 20)

typedef struct {
  int rank; /* -1 marks an empty slot */
  int left;
  int right;
  int result;
} MergeSlot;

typedef struct {
  GMutex      lock;
  GHashTable *words; /* word bytes -> int array { n, id_0, ..., id_n-1 } */
} WordCache;

struct _WpTokenizer {
  char *vocab_json; /* the input bytes, plus a NUL for the parsers */
  gsize vocab_len;
  char *merges_txt;
  gsize merges_len;

  int           n_vocab;
  GStringChunk *symbol_chunk;
  const char  **symbols; /* [n_vocab], in symbol_chunk */
  GHashTable   *ids;     /* symbol -> id, keys in symbol_chunk */
  int           bos_id;
  int           eos_id;

  gunichar byte_char[256];                /* byte -> its symbol's code point */
  int      char_byte[WP_BYTE_CHAR_LIMIT]; /* code point -> byte, or -1 */
  int      byte_ids[256];                 /* byte -> id of its symbol inside a word */
  int      byte_end_ids[256];             /* byte -> id of its symbol + "</w>" (a word's end) */

  int        n_merges;
  MergeSlot *merge_slots; /* open addressing, linear probing, n_merge_slots a power of two */
  guint      n_merge_slots;

  GRegex *word_regex;
  /* SigLIP's SentencePiece tokenizer instead of BPE: the model file as given, the library's model
   * of it (without the dummy prefix), the padding id and how many pieces "<unk>" takes. */
  char      *sp_proto;
  gsize      sp_proto_len;
  WpSpModel *sp;
  int        pad_id;
  int        sp_unknown_length;
  /* The only state encoding changes, behind a pointer as encoding takes a const tokenizer. */
  WordCache *cache;
};

/* GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the others are moved
 * to U+0100 and up in byte order, so every symbol is a printable character. */
void
wp_tokenizer_init_byte_map (gunichar byte_char[256],
                            int      char_byte[WP_BYTE_CHAR_LIMIT])
{
  int n_moved = 0;

  for (int c = 0; c < WP_BYTE_CHAR_LIMIT; c++)
    char_byte[c] = -1;
  for (int b = 0; b < 256; b++) {
    gboolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    gunichar c = printable ? (gunichar) b : (gunichar) (256 + n_moved++);

    byte_char[b] = c;
    char_byte[c] = b;
  }
}

static gboolean
lookup_id (const WpTokenizer *tokenizer,
           const char        *symbol,
           int               *id)
{
  gpointer value;

  if (!g_hash_table_lookup_extended (tokenizer->ids, symbol, NULL, &value))
    return FALSE;
  *id = GPOINTER_TO_INT (value);
  return TRUE;
}

static const char *
describe_json (JsonNode *node)
{
  if (node == NULL)
    return "nothing";
  if (JSON_NODE_HOLDS_OBJECT (node))
    return "an object";
  if (JSON_NODE_HOLDS_ARRAY (node))
    return "an array";
  if (JSON_NODE_HOLDS_NULL (node))
    return "null";
  if (json_node_get_value_type (node) == G_TYPE_STRING)
    return "a string";
  if (json_node_get_value_type (node) == G_TYPE_BOOLEAN)
    return "a boolean";
  return "a number";
}

static gboolean
parse_vocab (WpTokenizer *tokenizer,
             GError     **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  JsonNode      *root;
  JsonObject    *object;
  JsonObjectIter iter;
  const char    *symbol;
  JsonNode      *node;
  guint          n_members;

  /* The tokens are counted before JSON-GLib builds its tree of them; a flat object has one
   * value a token. */
  if (!wp_json_parser_load (parser, tokenizer->vocab_json, tokenizer->vocab_len,
                            WP_TOKENIZER_MAX_VOCAB, error))
    return FALSE;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "expected a JSON object of token -> id, found %s", describe_json (root));
    return FALSE;
  }
  object = json_node_get_object (root);
  n_members = json_object_get_size (object);
  tokenizer->n_vocab = (int) n_members;
  tokenizer->symbols = g_new0 (const char *, n_members);
  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &symbol, &node)) {
    gint64 id;

    if (json_node_get_value_type (node) != G_TYPE_INT64) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "token '%s' has %s for id, not an integer",
                   symbol, describe_json (node));
      return FALSE;
    }
    /* Ids index the embedding table, so they must number the tokens densely from 0: n distinct
     * ids in [0, n) leave no gap. */
    id = json_node_get_int (node);
    if (id < 0 || id >= tokenizer->n_vocab) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                   "token '%s' has id %" G_GINT64_FORMAT ", outside [0, %d)", symbol, id,
                   tokenizer->n_vocab);
      return FALSE;
    }
    if (tokenizer->symbols[id] != NULL) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "tokens '%s' and '%s' share id %d",
                   tokenizer->symbols[id], symbol, (int) id);
      return FALSE;
    }
    tokenizer->symbols[id] = g_string_chunk_insert (tokenizer->symbol_chunk, symbol);
    g_hash_table_insert (tokenizer->ids, (gpointer) tokenizer->symbols[id], GINT_TO_POINTER (id));
  }

  if (!lookup_id (tokenizer, WP_START_SYMBOL, &tokenizer->bos_id)) {
    g_set_error_literal (error, WP_ERROR, WP_ERROR_MISSING, "token '" WP_START_SYMBOL "' missing");
    return FALSE;
  }
  if (!lookup_id (tokenizer, WP_END_SYMBOL, &tokenizer->eos_id)) {
    g_set_error_literal (error, WP_ERROR, WP_ERROR_MISSING, "token '" WP_END_SYMBOL "' missing");
    return FALSE;
  }
  for (int b = 0; b < 256; b++) {
    char symbol_text[16];
    int  len = g_unichar_to_utf8 (tokenizer->byte_char[b], symbol_text);

    symbol_text[len] = '\0';
    if (!lookup_id (tokenizer, symbol_text, &tokenizer->byte_ids[b])) {
      g_set_error (error, WP_ERROR, WP_ERROR_MISSING, "token '%s' (byte 0x%02x) missing",
                   symbol_text, (guint) b);
      return FALSE;
    }
    strcpy (symbol_text + len, WP_END_OF_WORD);
    if (!lookup_id (tokenizer, symbol_text, &tokenizer->byte_end_ids[b])) {
      g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
                   "token '%s' (byte 0x%02x at the end of a word) missing", symbol_text, (guint) b);
      return FALSE;
    }
  }
  return TRUE;
}

static guint
merge_hash (int left,
            int right)
{
  guint64 key = ((guint64) (guint) left << 32) | (guint) right;

  return (guint) ((key * G_GUINT64_CONSTANT (0x9E3779B97F4A7C15)) >> 32);
}

static const MergeSlot *
lookup_merge (const WpTokenizer *tokenizer,
              int                left,
              int                right)
{
  guint mask = tokenizer->n_merge_slots - 1;

  for (guint i = merge_hash (left, right) & mask;; i = (i + 1) & mask) {
    const MergeSlot *slot = &tokenizer->merge_slots[i];

    if (slot->rank < 0)
      return NULL;
    if (slot->left == left && slot->right == right)
      return slot;
  }
}

/* Validates one "left right" line and files it under rank n_merges. */
static gboolean
add_merge (WpTokenizer *tokenizer,
           const char  *line,
           gsize        len,
           int          line_number,
           GString     *scratch,
           GError     **error)
{
  const char *space = memchr (line, ' ', len);
  gsize       left_len = space != NULL ? (gsize) (space - line) : 0;
  int         left, right, result;
  guint       mask = tokenizer->n_merge_slots - 1;
  guint       i;

  if (space == NULL || left_len == 0 || left_len + 1 == len ||
      memchr (space + 1, ' ', len - left_len - 1) != NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "line %d: expected two symbols separated by one space", line_number);
    return FALSE;
  }
  /* g_utf8_validate() also rejects NUL bytes when given a length. */
  if (!g_utf8_validate (line, (gssize) len, NULL)) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "line %d: not valid UTF-8 text", line_number);
    return FALSE;
  }

  g_string_truncate (scratch, 0);
  g_string_append_len (scratch, line, (gssize) left_len);
  if (!lookup_id (tokenizer, scratch->str, &left)) {
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING, "line %d: symbol '%s' not in the vocabulary",
                 line_number, scratch->str);
    return FALSE;
  }
  g_string_truncate (scratch, 0);
  g_string_append_len (scratch, space + 1, (gssize) (len - left_len - 1));
  if (!lookup_id (tokenizer, scratch->str, &right)) {
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING, "line %d: symbol '%s' not in the vocabulary",
                 line_number, scratch->str);
    return FALSE;
  }
  g_string_prepend_len (scratch, line, (gssize) left_len);
  if (!lookup_id (tokenizer, scratch->str, &result)) {
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING,
                 "line %d: merge result '%s' not in the vocabulary", line_number, scratch->str);
    return FALSE;
  }

  i = merge_hash (left, right) & mask;
  for (; tokenizer->merge_slots[i].rank >= 0; i = (i + 1) & mask) {
    const MergeSlot *slot = &tokenizer->merge_slots[i];

    /* Python's dict would keep the later rank silently; a repeated pair means a broken file. */
    if (slot->left == left && slot->right == right) {
      g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "line %d: repeats the merge of line %d",
                   line_number, line_number - (tokenizer->n_merges - slot->rank));
      return FALSE;
    }
  }
  tokenizer->merge_slots[i] = (MergeSlot){ tokenizer->n_merges, left, right, result };
  tokenizer->n_merges++;
  return TRUE;
}

static gboolean
parse_merges (WpTokenizer *tokenizer,
              GError     **error)
{
  g_autoptr (GString) scratch = g_string_new (NULL);
  const char *p = tokenizer->merges_txt;
  const char *end = p + tokenizer->merges_len;
  gsize       n_lines = 0;
  int         line_number = 1;

  /* Trailing newlines end the file; they are not empty merges. */
  while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
    end--;
  if (g_str_has_prefix (p, "#version")) {
    const char *eol = memchr (p, '\n', (gsize) (end - p));

    p = eol != NULL ? eol + 1 : end;
    line_number++;
  }
  if (p == end) {
    g_set_error_literal (error, WP_ERROR, WP_ERROR_FORMAT, "no merges");
    return FALSE;
  }
  for (const char *q = p; q < end; q++)
    n_lines += *q == '\n';
  if (n_lines + 1 > WP_TOKENIZER_MAX_MERGES) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%" G_GSIZE_FORMAT " merges, more than the limit of %d", n_lines + 1,
                 WP_TOKENIZER_MAX_MERGES);
    return FALSE;
  }

  /* At most half full, so probes stay short. */
  tokenizer->n_merge_slots = 16;
  while (tokenizer->n_merge_slots < 2 * (n_lines + 1))
    tokenizer->n_merge_slots *= 2;
  tokenizer->merge_slots = g_new (MergeSlot, tokenizer->n_merge_slots);
  for (guint i = 0; i < tokenizer->n_merge_slots; i++)
    tokenizer->merge_slots[i].rank = -1;

  while (p < end) {
    const char *eol = memchr (p, '\n', (gsize) (end - p));
    gsize       len = (gsize) ((eol != NULL ? eol : end) - p);

    if (len > 0 && p[len - 1] == '\r')
      len--;
    if (!add_merge (tokenizer, p, len, line_number, scratch, error))
      return FALSE;
    p = eol != NULL ? eol + 1 : end;
    line_number++;
  }
  return TRUE;
}

static WpTokenizer *
tokenizer_new (const char *vocab_json,
               gsize       vocab_len,
               const char *vocab_name,
               const char *merges_txt,
               gsize       merges_len,
               const char *merges_name,
               GError    **error)
{
  g_autoptr (WpTokenizer) tokenizer = NULL;

  if (vocab_len > VOCAB_MAX_BYTES) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%s: %" G_GSIZE_FORMAT " bytes, more than the limit of %d", vocab_name, vocab_len,
                 VOCAB_MAX_BYTES);
    return NULL;
  }
  if (merges_len > MERGES_MAX_BYTES) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%s: %" G_GSIZE_FORMAT " bytes, more than the limit of %d", merges_name,
                 merges_len, MERGES_MAX_BYTES);
    return NULL;
  }

  tokenizer = g_new0 (WpTokenizer, 1);
  /* An empty mapped file has no contents pointer, which memcpy must not be given. */
  tokenizer->vocab_json = g_malloc (vocab_len + 1);
  if (vocab_len > 0)
    memcpy (tokenizer->vocab_json, vocab_json, vocab_len);
  tokenizer->vocab_json[vocab_len] = '\0';
  tokenizer->vocab_len = vocab_len;
  tokenizer->merges_txt = g_malloc (merges_len + 1);
  if (merges_len > 0)
    memcpy (tokenizer->merges_txt, merges_txt, merges_len);
  tokenizer->merges_txt[merges_len] = '\0';
  tokenizer->merges_len = merges_len;

  tokenizer->symbol_chunk = g_string_chunk_new (4096);
  tokenizer->ids = g_hash_table_new (g_str_hash, g_str_equal);
  tokenizer->cache = g_new0 (WordCache, 1);
  g_mutex_init (&tokenizer->cache->lock);
  tokenizer->cache->words = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  wp_tokenizer_init_byte_map (tokenizer->byte_char, tokenizer->char_byte);

  if (!parse_vocab (tokenizer, error)) {
    g_prefix_error (error, "%s: ", vocab_name);
    return NULL;
  }
  if (!parse_merges (tokenizer, error)) {
    g_prefix_error (error, "%s: ", merges_name);
    return NULL;
  }

  tokenizer->word_regex = wp_tokenizer_word_regex_new ();
  return g_steal_pointer (&tokenizer);
}

WpTokenizer *
wp_tokenizer_new_from_data (const char *vocab_json,
                            gsize       vocab_len,
                            const char *merges_txt,
                            gsize       merges_len,
                            GError    **error)
{
  g_return_val_if_fail (vocab_json != NULL || vocab_len == 0, NULL);
  g_return_val_if_fail (merges_txt != NULL || merges_len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return tokenizer_new (vocab_json, vocab_len, "vocab.json", merges_txt, merges_len, "merges.txt",
                        error);
}

WpTokenizer *
wp_tokenizer_new_from_files (const char *vocab_path,
                             const char *merges_path,
                             GError    **error)
{
  g_autoptr (GMappedFile) vocab = NULL;
  g_autoptr (GMappedFile) merges = NULL;

  g_return_val_if_fail (vocab_path != NULL, NULL);
  g_return_val_if_fail (merges_path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* Mapped rather than read, so that the size limits apply before the texts are copied. */
  if ((vocab = g_mapped_file_new (vocab_path, FALSE, error)) == NULL ||
      (merges = g_mapped_file_new (merges_path, FALSE, error)) == NULL)
    return NULL;
  return tokenizer_new (g_mapped_file_get_contents (vocab), g_mapped_file_get_length (vocab),
                        vocab_path, g_mapped_file_get_contents (merges),
                        g_mapped_file_get_length (merges), merges_path, error);
}

WpTokenizer *
wp_tokenizer_new_sentencepiece (const char *model,
                                gsize       len,
                                GError    **error)
{
  g_autoptr (WpTokenizer) tokenizer = NULL;
  g_autoptr (GBytes) proto = NULL;
  g_autofree char *message = NULL;
  gsize            proto_len;
  const char      *proto_data;

  g_return_val_if_fail (model != NULL || len == 0, NULL);

  if (len > SP_MODEL_MAX_BYTES) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT,
                 "%" G_GSIZE_FORMAT " bytes, more than the limit of %d for a SentencePiece model",
                 len, SP_MODEL_MAX_BYTES);
    return NULL;
  }
  proto = wp_sp_proto_without_dummy_prefix (model, len, error);
  if (proto == NULL)
    return NULL;
  tokenizer = g_new0 (WpTokenizer, 1);
  tokenizer->symbol_chunk = g_string_chunk_new (4096);
  tokenizer->ids = g_hash_table_new (g_str_hash, g_str_equal);
  tokenizer->cache = g_new0 (WordCache, 1);
  g_mutex_init (&tokenizer->cache->lock);
  tokenizer->cache->words = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  tokenizer->sp_proto = g_memdup2 (model, len);
  tokenizer->sp_proto_len = len;
  proto_data = g_bytes_get_data (proto, &proto_len);
  tokenizer->sp = wp_sp_model_new (proto_data, proto_len, &message);
  if (tokenizer->sp == NULL) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "not a SentencePiece model (%s)", message);
    return NULL;
  }
  tokenizer->n_vocab = wp_sp_model_get_n_pieces (tokenizer->sp);
  if (tokenizer->n_vocab > WP_TOKENIZER_MAX_VOCAB) {
    g_set_error (error, WP_ERROR, WP_ERROR_FORMAT, "%d pieces, more than the limit of %d",
                 tokenizer->n_vocab, WP_TOKENIZER_MAX_VOCAB);
    return NULL;
  }
  tokenizer->symbols = g_new (const char *, tokenizer->n_vocab);
  for (int id = 0; id < tokenizer->n_vocab; id++)
    tokenizer->symbols[id] =
      g_string_chunk_insert (tokenizer->symbol_chunk, wp_sp_model_get_piece (tokenizer->sp, id));
  tokenizer->eos_id = wp_sp_model_piece_to_id (tokenizer->sp, WP_SP_END);
  if (wp_sp_model_is_unknown (tokenizer->sp, tokenizer->eos_id) ||
      strcmp (tokenizer->symbols[tokenizer->eos_id], WP_SP_END) != 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_MISSING, "no piece '%s' (SiglipTokenizer's end token)",
                 WP_SP_END);
    return NULL;
  }
  /* SiglipTokenizer has no start token and pads with its end token. */
  tokenizer->bos_id = -1;
  tokenizer->pad_id = tokenizer->eos_id;
  tokenizer->sp_unknown_length = wp_sp_unknown_length (tokenizer->sp);
  return g_steal_pointer (&tokenizer);
}

WpTokenizer *
wp_tokenizer_new_sentencepiece_from_file (const char *path,
                                          GError    **error)
{
  g_autoptr (GMappedFile) file = NULL;
  WpTokenizer *tokenizer;

  g_return_val_if_fail (path != NULL, NULL);

  if ((file = g_mapped_file_new (path, FALSE, error)) == NULL)
    return NULL;
  tokenizer = wp_tokenizer_new_sentencepiece (g_mapped_file_get_contents (file),
                                              g_mapped_file_get_length (file), error);
  if (tokenizer == NULL)
    g_prefix_error (error, "%s: ", path);
  return tokenizer;
}

gboolean
wp_tokenizer_is_sentencepiece (const WpTokenizer *tokenizer)
{
  return tokenizer->sp != NULL;
}

const char *
wp_tokenizer_get_sentencepiece_model (const WpTokenizer *tokenizer,
                                      gsize             *len)
{
  *len = tokenizer->sp_proto_len;
  return tokenizer->sp_proto;
}

int
wp_tokenizer_get_pad_id (const WpTokenizer *tokenizer)
{
  return tokenizer->sp != NULL ? tokenizer->pad_id : tokenizer->eos_id;
}

void
wp_tokenizer_free (WpTokenizer *tokenizer)
{
  if (tokenizer == NULL)
    return;
  g_clear_pointer (&tokenizer->sp, wp_sp_model_free);
  g_free (tokenizer->sp_proto);
  g_free (tokenizer->vocab_json);
  g_free (tokenizer->merges_txt);
  g_string_chunk_free (tokenizer->symbol_chunk);
  g_free (tokenizer->symbols);
  g_hash_table_unref (tokenizer->ids);
  g_free (tokenizer->merge_slots);
  g_clear_pointer (&tokenizer->word_regex, g_regex_unref);
  g_hash_table_unref (tokenizer->cache->words);
  g_mutex_clear (&tokenizer->cache->lock);
  g_free (tokenizer->cache);
  g_free (tokenizer);
}

int
wp_tokenizer_get_n_vocab (const WpTokenizer *tokenizer)
{
  return tokenizer->n_vocab;
}

int
wp_tokenizer_get_n_merges (const WpTokenizer *tokenizer)
{
  return tokenizer->n_merges;
}

int
wp_tokenizer_get_bos_id (const WpTokenizer *tokenizer)
{
  return tokenizer->bos_id;
}

int
wp_tokenizer_get_eos_id (const WpTokenizer *tokenizer)
{
  return tokenizer->eos_id;
}

const char *
wp_tokenizer_get_vocab_json (const WpTokenizer *tokenizer,
                             gsize             *len)
{
  if (len != NULL)
    *len = tokenizer->vocab_len;
  return tokenizer->vocab_json;
}

const char *
wp_tokenizer_get_merges_txt (const WpTokenizer *tokenizer,
                             gsize             *len)
{
  if (len != NULL)
    *len = tokenizer->merges_len;
  return tokenizer->merges_txt;
}

static void
heap_push (guint64 *heap,
           int     *n_heap,
           guint64  key)
{
  int i = (*n_heap)++;

  for (; i > 0 && heap[(i - 1) / 2] > key; i = (i - 1) / 2)
    heap[i] = heap[(i - 1) / 2];
  heap[i] = key;
}

static guint64
heap_pop (guint64 *heap,
          int     *n_heap)
{
  guint64 top = heap[0];
  guint64 last = heap[--*n_heap];
  int     i = 0;

  for (;;) {
    int child = 2 * i + 1;

    if (child >= *n_heap)
      break;
    if (child + 1 < *n_heap && heap[child + 1] < heap[child])
      child++;
    if (heap[child] >= last)
      break;
    heap[i] = heap[child];
    i = child;
  }
  if (*n_heap > 0)
    heap[i] = last;
  return top;
}

/* Heap key of the pair starting at node pos: lowest rank first, then leftmost. */
static guint64
pair_key (int rank,
          int pos)
{
  return ((guint64) (guint) rank << 32) | (guint) pos;
}

static void
push_pair (const WpTokenizer *tokenizer,
           const int         *syms,
           int                pos,
           int                next,
           guint64           *keys,
           int               *n_keys)
{
  const MergeSlot *merge = lookup_merge (tokenizer, syms[pos], syms[next]);

  if (merge != NULL)
    keys[(*n_keys)++] = pair_key (merge->rank, pos);
}

/* OpenAI's bpe() on syms[0..n), in place; returns the new length. Each of its rounds merges every
 * occurrence of the lowest-ranked adjacent pair, left to right, before looking at the pairs those
 * merges create (a new pair may rank lower, and merging it at once would change the result). A
 * heap of pairs keyed by (rank, position) finds each round's pairs without rescanning the word, so
 * a long word costs O(n log n) rather than O(n^2). */
static int
bpe (const WpTokenizer *tokenizer,
     int               *syms,
     int                n)
{
  g_autofree int     *links = NULL;
  g_autofree guint64 *keys = NULL;
  int                *next, *prev;
  guint64            *heap, *pending;
  int                 n_heap = 0;
  int                 n_out = 0;

  if (n < 2)
    return n;
  /* Pairs: n - 1 at first, and each of at most n - 1 merges adds two. */
  links = g_new (int, 2 * (gsize) n);
  next = links;
  prev = links + n;
  keys = g_new (guint64, 5 * (gsize) n);
  heap = keys;
  pending = keys + 3 * (gsize) n;

  for (int i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  for (int i = 0; i + 1 < n; i++) {
    const MergeSlot *merge = lookup_merge (tokenizer, syms[i], syms[i + 1]);

    if (merge != NULL)
      heap_push (heap, &n_heap, pair_key (merge->rank, i));
  }

  while (n_heap > 0) {
    int round_rank = (int) (heap[0] >> 32);
    int n_pending = 0;

    while (n_heap > 0 && (int) (heap[0] >> 32) == round_rank) {
      int              p = (int) (heap_pop (heap, &n_heap) & G_MAXUINT32);
      int              q = next[p];
      const MergeSlot *merge;

      /* Entries go stale when a merge changes either node; ranks are unique per pair. */
      if (syms[p] < 0 || q < 0)
        continue;
      merge = lookup_merge (tokenizer, syms[p], syms[q]);
      if (merge == NULL || merge->rank != round_rank)
        continue;

      syms[p] = merge->result;
      syms[q] = -1;
      next[p] = next[q];
      if (next[p] >= 0)
        prev[next[p]] = p;
      if (prev[p] >= 0)
        push_pair (tokenizer, syms, prev[p], p, pending, &n_pending);
      if (next[p] >= 0)
        push_pair (tokenizer, syms, p, next[p], pending, &n_pending);
    }
    for (int i = 0; i < n_pending; i++)
      heap_push (heap, &n_heap, pending[i]);
  }

  for (int i = 0; i < n; i++) {
    if (syms[i] >= 0)
      syms[n_out++] = syms[i];
  }
  return n_out;
}

/* The ids of one word (len bytes at word) into out, which holds at least len ids. */
static int
encode_word (const WpTokenizer *tokenizer,
             const char        *word,
             gsize              len,
             int               *out)
{
  WordCache       *cache = tokenizer->cache;
  g_autofree char *key = g_strndup (word, len);
  const int       *cached;
  int              n = 0;

  /* The pattern's first two alternatives: OpenAI's cache holds the special tokens. */
  if (strcmp (key, WP_START_SYMBOL) == 0) {
    out[0] = tokenizer->bos_id;
    return 1;
  }
  if (strcmp (key, WP_END_SYMBOL) == 0) {
    out[0] = tokenizer->eos_id;
    return 1;
  }

  g_mutex_lock (&cache->lock);
  cached = g_hash_table_lookup (cache->words, key);
  if (cached != NULL) {
    n = cached[0];
    memcpy (out, cached + 1, (gsize) n * sizeof (int));
  }
  g_mutex_unlock (&cache->lock);
  if (n > 0)
    return n;

  for (gsize i = 0; i + 1 < len; i++)
    out[i] = tokenizer->byte_ids[(guint8) word[i]];
  out[len - 1] = tokenizer->byte_end_ids[(guint8) word[len - 1]];
  n = bpe (tokenizer, out, (int) len);

  if (len <= WORD_CACHE_MAX_BYTES) {
    int *value = g_new (int, (gsize) n + 1);

    value[0] = n;
    memcpy (value + 1, out, (gsize) n * sizeof (int));
    g_mutex_lock (&cache->lock);
    if (g_hash_table_size (cache->words) >= WORD_CACHE_MAX_WORDS)
      g_hash_table_remove_all (cache->words);
    g_hash_table_replace (cache->words, g_steal_pointer (&key), value);
    g_mutex_unlock (&cache->lock);
  }
  return n;
}

int
wp_tokenizer_encode (const WpTokenizer *tokenizer,
                     const char        *text,
                     int               *ids,
                     int               *word_of_token,
                     int                max_tokens)
{
  g_autofree char *clean = NULL;
  g_autofree int  *word_ids = NULL;
  GMatchInfo      *match = NULL;
  int              n = 0;

  g_return_val_if_fail (tokenizer != NULL, 0);
  g_return_val_if_fail (text != NULL, 0);
  g_return_val_if_fail (ids != NULL, 0);
  g_return_val_if_fail (max_tokens >= 2, 0);

  if (tokenizer->sp != NULL)
    return wp_sp_encode_caption (tokenizer->sp, tokenizer->sp_unknown_length, tokenizer->eos_id,
                                 text, ids, word_of_token, max_tokens);
  clean = wp_tokenizer_clean_text (text);
  /* A word has at most one token per byte. */
  word_ids = g_new (int, strlen (clean) + 1);

  ids[n] = tokenizer->bos_id;
  if (word_of_token != NULL)
    word_of_token[n] = -1;
  n++;
  /* Only the first max_tokens - 2 tokens of the caption are kept, whether it was cut or not, so
   * the words after them need not be encoded. */
  g_regex_match (tokenizer->word_regex, clean, 0, &match);
  for (int word = 0; n < max_tokens - 1 && g_match_info_matches (match); word++) {
    int start, end, n_word;

    g_match_info_fetch_pos (match, 0, &start, &end);
    n_word = encode_word (tokenizer, clean + start, (gsize) (end - start), word_ids);
    for (int i = 0; i < n_word && n < max_tokens - 1; i++) {
      ids[n] = word_ids[i];
      if (word_of_token != NULL)
        word_of_token[n] = word;
      n++;
    }
    g_match_info_next (match, NULL);
  }
  g_match_info_free (match);

  ids[n] = tokenizer->eos_id;
  if (word_of_token != NULL)
    word_of_token[n] = -1;
  return n + 1;
}

const char *
wp_tokenizer_get_token_symbol (const WpTokenizer *tokenizer,
                               int                id)
{
  if (id < 0 || id >= tokenizer->n_vocab)
    return NULL;
  return tokenizer->symbols[id];
}

char *
wp_tokenizer_dup_token_text (const WpTokenizer *tokenizer,
                             int                id)
{
  const char *symbol = wp_tokenizer_get_token_symbol (tokenizer, id);
  const char *end;
  g_autoptr (GString) bytes = NULL;

  if (symbol == NULL)
    return NULL;
  if (id == tokenizer->bos_id || id == tokenizer->eos_id)
    return g_strdup (symbol);
  if (tokenizer->sp != NULL) {
    g_auto (GStrv) parts = g_strsplit (symbol, WP_SP_SPACE, -1);

    /* A piece's U+2581 is the space before its word, which a word's text leaves out. */
    return g_strjoinv ("", parts);
  }

  end = symbol + strlen (symbol);
  if (g_str_has_suffix (symbol, WP_END_OF_WORD))
    end -= strlen (WP_END_OF_WORD);
  bytes = g_string_sized_new ((gsize) (end - symbol));
  for (const char *p = symbol; p < end; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);

    /* A character outside the byte map cannot come from byte-level BPE, but a hand-made
     * vocabulary may hold one: it stands for itself. */
    if (c < WP_BYTE_CHAR_LIMIT && tokenizer->char_byte[c] >= 0)
      g_string_append_c (bytes, (char) tokenizer->char_byte[c]);
    else
      g_string_append_unichar (bytes, c);
  }
  return g_utf8_make_valid (bytes->str, (gssize) bytes->len);
}

char *
wp_tokenizer_dup_tokens_text (const WpTokenizer *tokenizer,
                              const int         *ids,
                              int                n)
{
  GString *text = g_string_new (NULL);

  for (int i = 0; i < n; i++) {
    g_autofree char *piece = wp_tokenizer_dup_token_text (tokenizer, ids[i]);

    if (piece != NULL)
      g_string_append (text, piece);
  }
  return g_string_free (text, FALSE);
}
