#define G_LOG_DOMAIN "wp-word-bar"

#include "wp-word-bar.h"

#include <string.h>

typedef struct {
  char *text;
  int   first_token;
  int   n_tokens;
} Word;

struct _WpWordBar {
  GtkWidget parent_instance;

  /* Template widgets */
  GtkFlowBox *flow_box;

  /* Owned */
  GArray    *words;        /* Word, in caption order, as the maps split the caption */
  GPtrArray *token_labels; /* the caption's token texts */
  GPtrArray *selected;     /* words ("word") or BPE pieces ("word\tk") shown; empty: all */
};

G_DEFINE_FINAL_TYPE (WpWordBar, wp_word_bar, GTK_TYPE_WIDGET)

enum {
  SIGNAL_CHANGED,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

static void
word_clear (gpointer pointer)
{
  Word *word = pointer;

  g_free (word->text);
}

static gboolean
is_selected (WpWordBar  *self,
             const char *key)
{
  for (guint i = 0; i < self->selected->len; i++) {
    if (strcmp (self->selected->pdata[i], key) == 0)
      return TRUE;
  }
  return FALSE;
}

static char *
piece_key (const Word *word,
           int         piece)
{
  return g_strdup_printf ("%s\t%d", word->text, piece);
}

static void rebuild_chips (WpWordBar *self);

static gboolean
rebuild_chips_idle (gpointer user_data)
{
  WpWordBar *self = user_data;

  /* The bar may have gone since the idle was queued. */
  if (self->flow_box != NULL)
    rebuild_chips (self);
  return G_SOURCE_REMOVE;
}

static void
chip_toggled_cb (GtkToggleButton *chip,
                 WpWordBar       *self)
{
  const char    *key = g_object_get_data (G_OBJECT (chip), "wp-key");
  const gboolean piece = strchr (key, '\t') != NULL;

  if (gtk_toggle_button_get_active (chip)) {
    gboolean other_kind = FALSE;

    /* Words and pieces are not shown together: picking one kind drops the other. */
    for (guint i = 0; i < self->selected->len; i++) {
      if ((strchr (self->selected->pdata[i], '\t') != NULL) != piece) {
        g_ptr_array_remove_index (self->selected, i--);
        other_kind = TRUE;
      }
    }
    if (!is_selected (self, key))
      g_ptr_array_add (self->selected, g_strdup (key));
    /* Not now: this chip is among those the rebuild destroys. */
    if (other_kind)
      g_idle_add_full (G_PRIORITY_DEFAULT, rebuild_chips_idle, g_object_ref (self), g_object_unref);
  } else {
    for (guint i = 0; i < self->selected->len; i++) {
      if (strcmp (self->selected->pdata[i], key) == 0)
        g_ptr_array_remove_index (self->selected, i--);
    }
  }
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

/* key: "word" or "word\tk" (k-th piece), taken over. */
static void
add_chip (WpWordBar  *self,
          char       *key,
          const char *label,
          const char *tooltip)
{
  GtkWidget *chip = gtk_toggle_button_new_with_label (label);

  gtk_widget_set_tooltip_text (chip, tooltip);
  g_object_set_data_full (G_OBJECT (chip), "wp-key", key, g_free);
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (chip), is_selected (self, key));
  g_signal_connect (chip, "toggled", G_CALLBACK (chip_toggled_cb), self);
  gtk_flow_box_append (self->flow_box, chip);
}

static void
rebuild_chips (WpWordBar *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->flow_box))) != NULL)
    gtk_flow_box_remove (self->flow_box, child);
  for (guint w = 0; w < self->words->len; w++) {
    const Word *word = &g_array_index (self->words, Word, w);

    /* A word's chip, then one chip for each of its BPE pieces when it has several. */
    add_chip (self, g_strdup (word->text), word->text,
              word->n_tokens > 1 ? "several BPE tokens: the word's map is their mean" : NULL);
    for (int k = 0; word->n_tokens > 1 && k < word->n_tokens; k++) {
      g_autofree char *label =
        g_strdup_printf ("·%s", (const char *) self->token_labels->pdata[word->first_token + k]);

      add_chip (self, piece_key (word, k), label, "one BPE piece of the word, with its own map");
    }
  }
}

void
wp_word_bar_set_words (WpWordBar         *self,
                       const WpWordMaps  *maps,
                       const char *const *token_labels)
{
  g_return_if_fail (WP_IS_WORD_BAR (self));

  g_array_set_size (self->words, 0);
  g_ptr_array_set_size (self->token_labels, 0);
  for (int w = 0; maps != NULL && w < maps->n_words; w++) {
    const Word word = { g_strdup (maps->words[w].text), maps->words[w].first_token,
                        maps->words[w].n_tokens };

    g_array_append_val (self->words, word);
  }
  for (int t = 0; maps != NULL && t < maps->n_tokens; t++)
    g_ptr_array_add (self->token_labels, g_strdup (token_labels[t]));
  rebuild_chips (self);
}

/* The first word with this text (compared in lower case, as the tokenizer cleans words). */
static const Word *
find_word (WpWordBar  *self,
           const char *text)
{
  g_autofree char *lower = g_utf8_strdown (text, -1);

  for (guint w = 0; w < self->words->len; w++) {
    const Word *word = &g_array_index (self->words, Word, w);

    if (strcmp (word->text, lower) == 0)
      return word;
  }
  return NULL;
}

/* Shows key (taken over; NULL: every word) and says so. */
static void
select_key (WpWordBar *self,
            char      *key)
{
  g_ptr_array_set_size (self->selected, 0);
  if (key != NULL)
    g_ptr_array_add (self->selected, key);
  rebuild_chips (self);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

gboolean
wp_word_bar_select_word (WpWordBar  *self,
                         const char *text)
{
  const Word *word;

  g_return_val_if_fail (WP_IS_WORD_BAR (self), FALSE);

  word = text != NULL ? find_word (self, text) : NULL;
  select_key (self, word != NULL ? g_strdup (word->text) : NULL);
  return text == NULL || word != NULL;
}

gboolean
wp_word_bar_select_piece (WpWordBar  *self,
                          const char *text,
                          int         piece)
{
  const Word *word;
  gboolean    found;

  g_return_val_if_fail (WP_IS_WORD_BAR (self), FALSE);
  g_return_val_if_fail (text != NULL, FALSE);

  word = find_word (self, text);
  found = word != NULL && word->n_tokens > 1 && piece >= 0 && piece < word->n_tokens;
  select_key (self, found ? piece_key (word, piece) : NULL);
  return found;
}

GArray *
wp_word_bar_dup_shown (WpWordBar *self,
                       gboolean  *pieces)
{
  GArray *items = g_array_new (FALSE, FALSE, sizeof (int));

  g_return_val_if_fail (WP_IS_WORD_BAR (self), items);

  *pieces = FALSE;
  for (guint w = 0; w < self->words->len; w++) {
    const Word *word = &g_array_index (self->words, Word, w);
    const int   index = (int) w;

    if (is_selected (self, word->text))
      g_array_append_val (items, index);
    for (int k = 0; word->n_tokens > 1 && k < word->n_tokens; k++) {
      g_autofree char *key = piece_key (word, k);
      const int        token = word->first_token + k;

      if (is_selected (self, key)) {
        if (!*pieces)
          g_array_set_size (items, 0);
        *pieces = TRUE;
        g_array_append_val (items, token);
      }
    }
  }
  return items;
}

static void
wp_word_bar_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), WP_TYPE_WORD_BAR);
  G_OBJECT_CLASS (wp_word_bar_parent_class)->dispose (object);
}

static void
wp_word_bar_finalize (GObject *object)
{
  WpWordBar *self = WP_WORD_BAR (object);

  g_array_unref (self->words);
  g_ptr_array_unref (self->token_labels);
  g_ptr_array_unref (self->selected);
  G_OBJECT_CLASS (wp_word_bar_parent_class)->finalize (object);
}

static void
wp_word_bar_class_init (WpWordBarClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = wp_word_bar_dispose;
  object_class->finalize = wp_word_bar_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/wordpatch/app/wp-word-bar.ui");
  gtk_widget_class_bind_template_child (widget_class, WpWordBar, flow_box);
}

static void
wp_word_bar_init (WpWordBar *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->words = g_array_new (FALSE, FALSE, sizeof (Word));
  g_array_set_clear_func (self->words, word_clear);
  self->token_labels = g_ptr_array_new_with_free_func (g_free);
  self->selected = g_ptr_array_new_with_free_func (g_free);
}
