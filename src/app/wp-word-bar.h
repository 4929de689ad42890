/* wp-word-bar.h: the caption's words as toggle chips above the figure, and for a word the
 * vocabulary splits into several BPE pieces, one chip per piece. The chips toggled are what the
 * figure shows: words or pieces, never both. Picking one kind shows it and sets the other kind's
 * picks aside (kept, their chips dimmed, said under the chips); clicking a set-aside chip, or
 * unpicking the last chip of the kind shown, shows them again. None toggled shows every word.
 *
 * Each occurrence of a word is its own chip, labelled apart as heatmap's --tokens names it: "red",
 * then "red#1". The choice is kept by that name, so it survives an edit of the caption. Under the
 * chips a line says what the caption lost: words out of the vocabulary (split into pieces) and
 * words past the model's context (their chips struck through), and what is set aside. Toggling a
 * chip keeps the chips (and the keyboard focus) where they are. */
#pragma once

#include <gtk/gtk.h>

#include "wordpatch/maps.h"

G_BEGIN_DECLS

#define WP_TYPE_WORD_BAR (wp_word_bar_get_type ())
G_DECLARE_FINAL_TYPE (WpWordBar, wp_word_bar, WP, WORD_BAR, GtkWidget)

/* Signals: "changed", when the user or a wp_word_bar_select_*() call changes what is shown (not
 * emitted by wp_word_bar_set_words()). */

/* Chips for the words of maps (NULL: none); token_labels are its maps->n_tokens token texts, for
 * the piece chips; pieces (may be NULL: the maps' own n_tokens) the number of BPE pieces of each
 * word, for the out-of-vocabulary note of words that have no piece chips (prompt queries);
 * cut_words (may be NULL) the caption's words past the model's context. All are copied. The
 * chips are rebuilt only when the words differ. */
void wp_word_bar_set_words (WpWordBar         *self,
                            const WpWordMaps  *maps,
                            const char *const *token_labels,
                            const int         *pieces,
                            const char *const *cut_words);
/* Shows this word ("red", or "red#1" for its second occurrence), or every word for NULL. FALSE,
 * showing every word, when the caption has no such word. */
gboolean wp_word_bar_select_word (WpWordBar  *self,
                                  const char *word);
/* Shows one BPE piece (0-based) of a word ("red" or "red#1") split into several; FALSE, showing
 * every word, if there is no such piece. */
gboolean wp_word_bar_select_piece (WpWordBar  *self,
                                   const char *word,
                                   int         piece);
/* What the figure shows: indices into the maps' words, or into its tokens when *pieces is set;
 * empty for every word. */
GArray *wp_word_bar_dup_shown (WpWordBar *self,
                               gboolean  *pieces) G_GNUC_WARN_UNUSED_RESULT;
/* The line under the chips ("" when the caption lost nothing and nothing is set aside). */
const char *wp_word_bar_get_hint (WpWordBar *self);

G_END_DECLS
