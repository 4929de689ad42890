/* tokenizer_clean.c: the text side of CLIP's tokenizer, before any BPE: OpenAI's cleaning of a
 * caption (HTML entities, whitespace, lowercase, each as Python does it) and the pattern that
 * splits the cleaned text into words. */
#include <string.h>

#include "tokenizer-private.h"

/* OpenAI's pattern with its \s written as " ": cleaning leaves no other whitespace, and PCRE's
 * \s would also take U+180E, which Python's regex module counts as punctuation. */
#define WORD_PATTERN "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d" \
                     "|[\\p{L}]+|[\\p{N}]|[^ \\p{L}\\p{N}]+"

/* Python's html.unescape for the numeric references: the HTML5 rules for code points that
 * cannot be characters. Returns FALSE when the reference stands for nothing. */
static gboolean
numeric_reference_char (guint32   value,
                        gunichar *c)
{
  /* Windows-1252 for 0x80-0x9F, as browsers read them; 0 means the control code itself. */
  static const guint16 cp1252[32] = {
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
    0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178
  };

  if (value == 0 || (value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF)
    *c = 0xFFFD;
  else if (value == 0x0D)
    *c = value;
  else if (value >= 0x80 && value <= 0x9F)
    *c = cp1252[value - 0x80] != 0 ? cp1252[value - 0x80] : value;
  else if ((value >= 0x01 && value <= 0x08) || value == 0x0B || (value >= 0x0E && value <= 0x1F) ||
           value == 0x7F || (value >= 0xFDD0 && value <= 0xFDEF) || (value & 0xFFFE) == 0xFFFE)
    return FALSE;
  else
    *c = value;
  return TRUE;
}

/* Unescapes "#123;" / "#x1F;" (";" optional) after an "&" into out; returns the bytes used, 0
 * if none. */
static gsize
unescape_numeric_reference (const char *p,
                            GString    *out)
{
  gunichar c;
  gboolean hex = p[1] == 'x' || p[1] == 'X';
  gsize    i = hex ? 2 : 1;
  gsize    start = i;
  guint32  value = 0;

  for (; hex ? g_ascii_isxdigit (p[i]) : g_ascii_isdigit (p[i]); i++) {
    /* Saturate: any larger value is out of range all the same. */
    if (value <= 0x10FFFF)
      value = value * (hex ? 16 : 10) + (guint32) (hex ? g_ascii_xdigit_value (p[i]) : p[i] - '0');
  }
  if (i == start)
    return 0;
  if (p[i] == ';')
    i++;
  if (numeric_reference_char (value, &c))
    g_string_append_unichar (out, c);
  return i;
}

typedef struct {
  const char *name;
  const char *text;
  gboolean    legacy; /* also recognised without ";" (and as a prefix), as HTML5 allows */
} Entity;

/* The named references captions use; Python knows all 2231 of HTML5, the rest stay as written. */
static const Entity entities[] = {
  { "amp", "&", TRUE },
  { "AMP", "&", TRUE },
  { "lt", "<", TRUE },
  { "LT", "<", TRUE },
  { "gt", ">", TRUE },
  { "GT", ">", TRUE },
  { "quot", "\"", TRUE },
  { "QUOT", "\"", TRUE },
  { "apos", "'", FALSE },
  { "nbsp", "\u00A0", TRUE },
  { "copy", "\u00A9", TRUE },
  { "reg", "\u00AE", TRUE },
  { "deg", "\u00B0", TRUE },
  { "times", "\u00D7", TRUE },
  { "middot", "\u00B7", TRUE },
  { "laquo", "\u00AB", TRUE },
  { "raquo", "\u00BB", TRUE },
  { "hellip", "\u2026", FALSE },
  { "mdash", "\u2014", FALSE },
  { "ndash", "\u2013", FALSE },
  { "lsquo", "\u2018", FALSE },
  { "rsquo", "\u2019", FALSE },
  { "ldquo", "\u201C", FALSE },
  { "rdquo", "\u201D", FALSE },
  { "trade", "\u2122", FALSE },
};

/* Python's html.unescape on a named reference: the name is up to 32 characters other than
 * "\t\n\f <&#;", then an optional ";". A known name replaces the whole; otherwise the longest
 * legacy name that starts it is replaced and the rest kept ("&amplifier" -> "&lifier"). Appends
 * the result and returns the bytes used after the "&", 0 if no name follows. */
static gsize
unescape_named_reference (const char *p,
                          GString    *out)
{
  const char   *name_end = p;
  gsize         name_len, used;
  const Entity *best = NULL;

  for (int n = 0; n < 32 && *name_end != '\0' && strchr ("\t\n\f <&#;", *name_end) == NULL; n++)
    name_end = g_utf8_next_char (name_end);
  name_len = (gsize) (name_end - p);
  if (name_len == 0)
    return 0;
  used = name_len + (*name_end == ';');

  for (gsize i = 0; i < G_N_ELEMENTS (entities); i++) {
    const Entity *entity = &entities[i];
    gsize         len = strlen (entity->name);

    if (len == name_len && memcmp (entity->name, p, len) == 0 &&
        (entity->legacy || *name_end == ';')) {
      g_string_append (out, entity->text);
      return used;
    }
    if (entity->legacy && len < name_len && memcmp (entity->name, p, len) == 0 &&
        (best == NULL || len > strlen (best->name)))
      best = entity;
  }
  if (best != NULL) {
    g_string_append (out, best->text);
    g_string_append_len (out, p + strlen (best->name), (gssize) (used - strlen (best->name)));
  } else {
    g_string_append_c (out, '&');
    g_string_append_len (out, p, (gssize) used);
  }
  return used;
}

static char *
html_unescape (const char *text)
{
  GString *out = g_string_sized_new (strlen (text));

  for (const char *p = text; *p != '\0';) {
    const char *amp = strchr (p, '&');
    gsize       used;

    if (amp == NULL) {
      g_string_append (out, p);
      break;
    }
    g_string_append_len (out, p, amp - p);
    used = amp[1] == '#' ? unescape_numeric_reference (amp + 1, out)
                         : unescape_named_reference (amp + 1, out);
    if (used == 0)
      g_string_append_c (out, '&');
    p = amp + 1 + used;
  }
  return g_string_free (out, FALSE);
}

/* Python's str.isspace(), which its re's \s and str.strip() use: wider than g_unichar_isspace()
 * (it adds \v, U+001C-U+001F and U+0085). */
static gboolean
is_python_space (gunichar c)
{
  GUnicodeType type;

  if ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85)
    return TRUE;
  type = g_unichar_type (c);
  return type == G_UNICODE_SPACE_SEPARATOR || type == G_UNICODE_LINE_SEPARATOR ||
         type == G_UNICODE_PARAGRAPH_SEPARATOR;
}

static char *
collapse_whitespace (const char *text)
{
  GString *out = g_string_sized_new (strlen (text));
  gboolean pending_space = FALSE;

  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);

    if (is_python_space (c)) {
      pending_space = out->len > 0;
      continue;
    }
    if (pending_space)
      g_string_append_c (out, ' ');
    pending_space = FALSE;
    g_string_append_len (out, p, g_utf8_next_char (p) - p);
  }
  return g_string_free (out, FALSE);
}

/* Unicode's Cased: the cased letters, plus the letters, numerals and symbols that are
 * Other_Lowercase or Other_Uppercase without being modifiers (those are case-ignorable first). */
static gboolean
is_cased (gunichar c)
{
  return g_unichar_isupper (c) || g_unichar_islower (c) || g_unichar_istitle (c) || c == 0xAA ||
         c == 0xBA || (c >= 0x2160 && c <= 0x217F) || (c >= 0x24B6 && c <= 0x24E9) ||
         (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
         (c >= 0x1F170 && c <= 0x1F189);
}

/* Unicode's Case_Ignorable: marks, format characters, modifiers and the in-word punctuation. */
static gboolean
is_case_ignorable (gunichar c)
{
  static const gunichar in_word[] = {
    0x0027, 0x002E, 0x003A, 0x00B7, 0x0387, 0x055F, 0x05F4, 0x2018, 0x2019,
    0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A
  };
  GUnicodeType type = g_unichar_type (c);

  if (type == G_UNICODE_NON_SPACING_MARK || type == G_UNICODE_ENCLOSING_MARK ||
      type == G_UNICODE_FORMAT || type == G_UNICODE_MODIFIER_LETTER ||
      type == G_UNICODE_MODIFIER_SYMBOL)
    return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS (in_word); i++) {
    if (c == in_word[i])
      return TRUE;
  }
  return FALSE;
}

/* Python's str.lower(): Unicode's full lowercase mapping with no locale tailoring.
 * g_utf8_strdown() follows the process locale (in Turkish, "I" becomes dotless "ı") and tests
 * only the next character for the final sigma. */
static char *
lowercase_in_context (const char *text,
                      gboolean    final_sigma)
{
  glong                n;
  g_autofree gunichar *chars = g_utf8_to_ucs4_fast (text, -1, &n);
  GString             *out = g_string_sized_new (strlen (text));

  for (glong i = 0; i < n; i++) {
    gunichar c = chars[i];

    if (c == 0x0130) {
      /* Capital I with dot: its only unconditional mapping is two characters. */
      g_string_append (out, "i\u0307");
    } else if (c == 0x03A3 && final_sigma) {
      /* Capital sigma is final after a cased character and not before one, case-ignorable
       * characters skipped. */
      glong    j = i - 1;
      gboolean final;

      while (j >= 0 && is_case_ignorable (chars[j]))
        j--;
      final = j >= 0 && is_cased (chars[j]);
      j = i + 1;
      while (final && j < n && is_case_ignorable (chars[j]))
        j++;
      final = final && (j >= n || !is_cased (chars[j]));
      g_string_append_unichar (out, final ? 0x03C2 : 0x03C3);
    } else if (c >= 0x2160 && c <= 0x216F) {
      /* g_unichar_tolower() maps letters only; Unicode also lowercases the Roman numerals and
       * the circled letters. */
      g_string_append_unichar (out, c + 0x10);
    } else if (c >= 0x24B6 && c <= 0x24CF) {
      g_string_append_unichar (out, c + 0x1A);
    } else {
      g_string_append_unichar (out, g_unichar_tolower (c));
    }
  }
  return g_string_free (out, FALSE);
}

static char *
lowercase (const char *text)
{
  return lowercase_in_context (text, TRUE);
}

char *
wp_tokenizer_clean_text (const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  g_autofree char *once = html_unescape (valid);
  g_autofree char *twice = html_unescape (once);
  g_autofree char *collapsed = collapse_whitespace (twice);

  return lowercase (collapsed);
}

char *
wp_tokenizer_canonicalize_siglip (const char *text)
{
  static const char punctuation[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  g_autofree char  *valid = g_utf8_make_valid (text, -1);
  g_auto (GStrv) parts = g_strsplit (valid, WP_SP_SPACE, -1);
  g_autofree char *spaced = g_strjoinv (" ", parts);
  g_autofree char *prefixed = g_strconcat (WP_SP_SPACE, spaced, NULL);
  /* transformers lowercases one character at a time (a regular expression's matches), so a
   * capital sigma never takes its final form there. */
  g_autofree char *lower = lowercase_in_context (prefixed, FALSE);
  char            *kept = lower;

  for (const char *p = lower; *p != '\0'; p++) {
    if (strchr (punctuation, *p) == NULL)
      *kept++ = *p;
  }
  *kept = '\0';
  return collapse_whitespace (lower);
}

GRegex *
wp_tokenizer_word_regex_new (void)
{
  g_autoptr (GError) error = NULL;
  /* Caseless as OpenAI's: after lowercasing, that still lets "'ſ" match "'s". */
  GRegex *regex = g_regex_new (WORD_PATTERN, G_REGEX_CASELESS | G_REGEX_OPTIMIZE, 0, &error);

  g_assert_no_error (error);
  return regex;
}
