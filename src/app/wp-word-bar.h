/* wp-word-bar.h: the caption's words as toggle chips above the figure, and for a word the
 * vocabulary splits into several BPE pieces, one chip per piece. The chips toggled are what the
 * figure shows: words or pieces, never both (picking one kind drops the other); none toggled
 * shows every word. The choice is kept by text, so it survives an edit of the caption. */
#pragma once

#include <gtk/gtk.h>

#include "wordpatch/maps.h"

G_BEGIN_DECLS

#define WP_TYPE_WORD_BAR (wp_word_bar_get_type ())
G_DECLARE_FINAL_TYPE (WpWordBar, wp_word_bar, WP, WORD_BAR, GtkWidget)

/* Signals: "changed", when the user or a wp_word_bar_select_*() call changes what is shown (not
 * emitted by wp_word_bar_set_words()). */

/* Chips for the words of maps (NULL: none); token_labels are its maps->n_tokens token texts, for
 * the piece chips. Both are copied. */
void wp_word_bar_set_words (WpWordBar         *self,
                            const WpWordMaps  *maps,
                            const char *const *token_labels);
/* Shows this word (by text, every occurrence), or every word for NULL. FALSE, showing every word,
 * when the caption has no such word. */
gboolean wp_word_bar_select_word (WpWordBar  *self,
                                  const char *word);
/* Shows one BPE piece (0-based) of a word split into several; FALSE, showing every word, if there
 * is no such piece. */
gboolean wp_word_bar_select_piece (WpWordBar  *self,
                                   const char *word,
                                   int         piece);
/* What the figure shows: indices into the maps' words, or into its tokens when *pieces is set;
 * empty for every word. */
GArray *wp_word_bar_dup_shown (WpWordBar *self,
                               gboolean  *pieces) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
