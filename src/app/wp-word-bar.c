#define G_LOG_DOMAIN "wp-word-bar"

#include "wp-word-bar.h"

#include <string.h>

typedef struct {
  char *key; /* the word's text, with "#N" for its N-th repeat */
  int   first_token;
  int   n_tokens; /* 0 with prompt queries */
  int   n_pieces; /* BPE pieces of the word, for the out-of-vocabulary note */
} Word;

struct _WpWordBar {
  GtkWidget parent_instance;

  /* Template widgets */
  GtkWidget  *scroller;
  GtkFlowBox *flow_box;
  GtkLabel   *hint_label;

  /* Owned */
  GArray    *words;        /* Word, in caption order, as the maps split the caption */
  GPtrArray *token_labels; /* the caption's token texts */
  GStrv      cut_words;
  GPtrArray *picked_words;  /* keys of the words picked */
  GPtrArray *picked_pieces; /* "key\tk" of the pieces picked */
  gboolean   pieces_shown;  /* which kind of picks is shown; the other is set aside */
  char      *hint;
  gboolean   syncing;
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

  g_free (word->key);
}

static gboolean
has_key (GPtrArray  *keys,
         const char *key)
{
  for (guint i = 0; i < keys->len; i++) {
    if (strcmp (keys->pdata[i], key) == 0)
      return TRUE;
  }
  return FALSE;
}

static void
remove_key (GPtrArray  *keys,
            const char *key)
{
  for (guint i = 0; i < keys->len; i++) {
    if (strcmp (keys->pdata[i], key) == 0)
      g_ptr_array_remove_index (keys, i--);
  }
}

static char *
piece_key (const Word *word,
           int         piece)
{
  return g_strdup_printf ("%s\t%d", word->key, piece);
}

static gboolean
is_piece_key (const char *key)
{
  return strchr (key, '\t') != NULL;
}

/* Picks of a kind that name a chip of the current caption. */
static guint
n_present (WpWordBar *self,
           gboolean   pieces)
{
  GPtrArray *picked = pieces ? self->picked_pieces : self->picked_words;
  guint      n = 0;

  for (guint w = 0; w < self->words->len; w++) {
    const Word *word = &g_array_index (self->words, Word, w);

    if (!pieces) {
      n += has_key (picked, word->key);
      continue;
    }
    for (int k = 0; word->n_tokens > 1 && k < word->n_tokens; k++) {
      g_autofree char *key = piece_key (word, k);

      n += has_key (picked, key);
    }
  }
  return n;
}

/* The line under the chips: what is set aside, the words split into pieces, the words cut. */
static void
update_hint (WpWordBar *self)
{
  g_autoptr (GString) hint = g_string_new (NULL);
  g_autoptr (GString) split = g_string_new (NULL);
  const gboolean other = !self->pieces_shown;
  guint          n_split = 0;

  if (n_present (self, other) > 0 && n_present (self, !other) > 0)
    g_string_append_printf (hint, "%s shown, the picked %s set aside (click one to show them)",
                            self->pieces_shown ? "pieces" : "words",
                            self->pieces_shown ? "words" : "pieces");
  for (guint w = 0; w < self->words->len; w++) {
    const Word *word = &g_array_index (self->words, Word, w);

    if (word->n_pieces < 2)
      continue;
    if (n_split++ < 3)
      g_string_append_printf (split, "%s'%s' split into %d pieces", split->len > 0 ? ", " : "",
                              word->key, word->n_pieces);
  }
  if (n_split > 0)
    g_string_append_printf (hint, "%sout of vocabulary: %s%s", hint->len > 0 ? " · " : "",
                            split->str, n_split > 3 ? ", …" : "");
  if (self->cut_words != NULL && self->cut_words[0] != NULL)
    g_string_append_printf (hint, "%s%u word%s past the model's context, not seen",
                            hint->len > 0 ? " · " : "", g_strv_length (self->cut_words),
                            g_strv_length (self->cut_words) > 1 ? "s" : "");
  g_free (self->hint);
  self->hint = g_string_free (g_steal_pointer (&hint), FALSE);
  gtk_label_set_text (self->hint_label, self->hint);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->hint_label), self->hint);
}

/* Each chip's state from the picks: toggled when picked, dimmed when set aside. */
static void
sync_chips (WpWordBar *self)
{
  const gboolean both = n_present (self, TRUE) > 0 && n_present (self, FALSE) > 0;

  self->syncing = TRUE;
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->flow_box)); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    GtkWidget  *chip = gtk_flow_box_child_get_child (GTK_FLOW_BOX_CHILD (child));
    const char *key = g_object_get_data (G_OBJECT (chip), "wp-key");
    gboolean    piece, picked;

    if (key == NULL)
      continue;
    piece = is_piece_key (key);
    picked = has_key (piece ? self->picked_pieces : self->picked_words, key);
    gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (chip), picked);
    if (picked && both && piece != self->pieces_shown)
      gtk_widget_add_css_class (chip, "set-aside");
    else
      gtk_widget_remove_css_class (chip, "set-aside");
  }
  self->syncing = FALSE;
  update_hint (self);
}

static void
chip_toggled_cb (GtkToggleButton *chip,
                 WpWordBar       *self)
{
  const char    *key = g_object_get_data (G_OBJECT (chip), "wp-key");
  const gboolean piece = is_piece_key (key);
  GPtrArray     *picked = piece ? self->picked_pieces : self->picked_words;

  if (self->syncing)
    return;
  if (piece != self->pieces_shown && has_key (picked, key)) {
    /* A set-aside chip: clicking it shows its kind again rather than unpicking it. */
    self->pieces_shown = piece;
  } else if (gtk_toggle_button_get_active (chip)) {
    if (!has_key (picked, key))
      g_ptr_array_add (picked, g_strdup (key));
    self->pieces_shown = piece;
  } else {
    remove_key (picked, key);
    /* The last of the kind shown: the set-aside kind comes back. */
    if (n_present (self, self->pieces_shown) == 0)
      self->pieces_shown = !self->pieces_shown && n_present (self, TRUE) > 0;
  }
  sync_chips (self);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

/* key: "key" or "key\tk" (k-th piece), taken over. */
static void
add_chip (WpWordBar  *self,
          char       *key,
          const char *label,
          const char *tooltip)
{
  GtkWidget *chip = gtk_toggle_button_new_with_label (label);

  gtk_widget_set_tooltip_text (chip, tooltip);
  gtk_widget_add_css_class (chip, "wp-chip");
  g_object_set_data_full (G_OBJECT (chip), "wp-key", key, g_free);
  g_signal_connect (chip, "toggled", G_CALLBACK (chip_toggled_cb), self);
  gtk_flow_box_append (self->flow_box, chip);
}

/* The chip that has the keyboard focus, by key; NULL when none has. */
static char *
dup_focused_key (WpWordBar *self)
{
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->flow_box)); child != NULL;
       child = gtk_widget_get_next_sibling (child)) {
    GtkWidget *chip = gtk_flow_box_child_get_child (GTK_FLOW_BOX_CHILD (child));

    if (gtk_widget_has_focus (chip) && g_object_get_data (G_OBJECT (chip), "wp-key") != NULL)
      return g_strdup (g_object_get_data (G_OBJECT (chip), "wp-key"));
  }
  return NULL;
}

static void
rebuild_chips (WpWordBar *self)
{
  g_autofree char *focused = dup_focused_key (self);
  GtkWidget       *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->flow_box))) != NULL)
    gtk_flow_box_remove (self->flow_box, child);
  for (guint w = 0; w < self->words->len; w++) {
    const Word      *word = &g_array_index (self->words, Word, w);
    g_autofree char *split =
      word->n_pieces > 1
        ? g_strdup_printf ("out of the vocabulary: split into %d BPE pieces%s", word->n_pieces,
                           word->n_tokens > 1 ? "; the word's map is their mean" : "")
        : NULL;

    /* A word's chip, then one chip for each of its BPE pieces when it has several. */
    add_chip (self, g_strdup (word->key), word->key, split);
    for (int k = 0; word->n_tokens > 1 && k < word->n_tokens; k++) {
      g_autofree char *label =
        g_strdup_printf ("·%s", (const char *) self->token_labels->pdata[word->first_token + k]);
      g_autofree char *tooltip =
        g_strdup_printf ("piece %d of '%s', with its own map", k + 1, word->key);

      add_chip (self, piece_key (word, k), label, tooltip);
    }
  }
  for (guint i = 0; self->cut_words != NULL && self->cut_words[i] != NULL; i++) {
    GtkWidget *label = gtk_label_new (self->cut_words[i]);

    gtk_widget_add_css_class (label, "wp-cut");
    gtk_widget_set_tooltip_text (label, "past the model's context: the caption is cut before "
                                        "this word, which the maps do not see");
    gtk_flow_box_append (self->flow_box, label);
  }
  sync_chips (self);
  /* Focus stays on the chip it was on when the words change around it. */
  for (child = gtk_widget_get_first_child (GTK_WIDGET (self->flow_box));
       focused != NULL && child != NULL; child = gtk_widget_get_next_sibling (child)) {
    GtkWidget *chip = gtk_flow_box_child_get_child (GTK_FLOW_BOX_CHILD (child));

    if (g_strcmp0 (g_object_get_data (G_OBJECT (chip), "wp-key"), focused) == 0)
      gtk_widget_grab_focus (chip);
  }
}

/* Whether the new words, labels and cut words would give the chips there are. */
static gboolean
same_chips (WpWordBar         *self,
            GArray            *words,
            const char *const *token_labels,
            const char *const *cut_words)
{
  const guint n_cut = cut_words != NULL ? g_strv_length ((GStrv) cut_words) : 0;
  const guint old_cut = self->cut_words != NULL ? g_strv_length (self->cut_words) : 0;

  if (words->len != self->words->len || n_cut != old_cut)
    return FALSE;
  for (guint i = 0; i < n_cut; i++) {
    if (strcmp (cut_words[i], self->cut_words[i]) != 0)
      return FALSE;
  }
  for (guint w = 0; w < words->len; w++) {
    const Word *a = &g_array_index (words, Word, w), *b = &g_array_index (self->words, Word, w);

    if (strcmp (a->key, b->key) != 0 || a->n_tokens != b->n_tokens ||
        a->n_pieces != b->n_pieces)
      return FALSE;
    for (int k = 0; a->n_tokens > 1 && k < a->n_tokens; k++) {
      if (g_strcmp0 (token_labels[a->first_token + k],
                     self->token_labels->pdata[b->first_token + k]) != 0)
        return FALSE;
    }
  }
  return TRUE;
}

void
wp_word_bar_set_words (WpWordBar         *self,
                       const WpWordMaps  *maps,
                       const char *const *token_labels,
                       const int         *pieces,
                       const char *const *cut_words)
{
  g_autoptr (GArray) words = g_array_new (FALSE, FALSE, sizeof (Word));
  gboolean rebuild;

  g_return_if_fail (WP_IS_WORD_BAR (self));

  g_array_set_clear_func (words, word_clear);
  for (int w = 0; maps != NULL && w < maps->n_words; w++) {
    const WpWordMap *map = &maps->words[w];
    int              repeat = 0;
    Word             word;

    for (int v = 0; v < w; v++)
      repeat += strcmp (maps->words[v].text, map->text) == 0;
    word.key = repeat > 0 ? g_strdup_printf ("%s#%d", map->text, repeat) : g_strdup (map->text);
    word.first_token = map->first_token;
    word.n_tokens = map->n_tokens;
    word.n_pieces = pieces != NULL ? pieces[w] : map->n_tokens;
    g_array_append_val (words, word);
  }
  rebuild = !same_chips (self, words, token_labels, cut_words);
  g_array_unref (self->words);
  self->words = g_steal_pointer (&words);
  g_ptr_array_set_size (self->token_labels, 0);
  for (int t = 0; maps != NULL && t < maps->n_tokens; t++)
    g_ptr_array_add (self->token_labels, g_strdup (token_labels[t]));
  g_strfreev (self->cut_words);
  self->cut_words = g_strdupv ((GStrv) cut_words);
  /* Picks the new caption lacks do not keep the other kind aside. */
  if (n_present (self, self->pieces_shown) == 0)
    self->pieces_shown = !self->pieces_shown && n_present (self, TRUE) > 0;
  if (rebuild)
    rebuild_chips (self);
  else
    sync_chips (self);
}

/* The word named "text" or "text#N" (compared in lower case, as the tokenizer cleans words). */
static const Word *
find_word (WpWordBar  *self,
           const char *text)
{
  g_autofree char *lower = g_utf8_strdown (text, -1);

  for (guint w = 0; w < self->words->len; w++) {
    const Word *word = &g_array_index (self->words, Word, w);

    if (strcmp (word->key, lower) == 0)
      return word;
  }
  return NULL;
}

/* Shows key (taken over; NULL: every word) alone and says so. */
static void
select_key (WpWordBar *self,
            char      *key)
{
  g_ptr_array_set_size (self->picked_words, 0);
  g_ptr_array_set_size (self->picked_pieces, 0);
  self->pieces_shown = key != NULL && is_piece_key (key);
  if (key != NULL)
    g_ptr_array_add (self->pieces_shown ? self->picked_pieces : self->picked_words, key);
  sync_chips (self);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

gboolean
wp_word_bar_select_word (WpWordBar  *self,
                         const char *text)
{
  const Word *word;

  g_return_val_if_fail (WP_IS_WORD_BAR (self), FALSE);

  word = text != NULL ? find_word (self, text) : NULL;
  select_key (self, word != NULL ? g_strdup (word->key) : NULL);
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

  *pieces = self->pieces_shown;
  for (guint w = 0; w < self->words->len; w++) {
    const Word *word = &g_array_index (self->words, Word, w);
    const int   index = (int) w;

    if (!*pieces && has_key (self->picked_words, word->key))
      g_array_append_val (items, index);
    for (int k = 0; *pieces && word->n_tokens > 1 && k < word->n_tokens; k++) {
      g_autofree char *key = piece_key (word, k);
      const int        token = word->first_token + k;

      if (has_key (self->picked_pieces, key))
        g_array_append_val (items, token);
    }
  }
  if (items->len == 0)
    *pieces = FALSE;
  return items;
}

const char *
wp_word_bar_get_hint (WpWordBar *self)
{
  g_return_val_if_fail (WP_IS_WORD_BAR (self), "");

  return self->hint != NULL ? self->hint : "";
}

/* The chips take as many rows as they need at the width given, up to CHIP_ROWS_MAX pixels, and
 * scroll beyond: a long caption never makes the window taller. */
#define CHIP_ROWS_MIN 36
#define CHIP_ROWS_MAX 80
#define HINT_SPACING  2

static GtkSizeRequestMode
wp_word_bar_get_request_mode (GtkWidget *widget)
{
  return GTK_SIZE_REQUEST_HEIGHT_FOR_WIDTH;
}

static int
chip_rows_height (WpWordBar *self,
                  int        width)
{
  int min, nat, scroller_min, scroller_nat;

  /* The flow box's height at the width, whatever the scroller would propagate. */
  gtk_widget_measure (GTK_WIDGET (self->flow_box), GTK_ORIENTATION_VERTICAL, width, &min, &nat,
                      NULL, NULL);
  gtk_widget_measure (self->scroller, GTK_ORIENTATION_VERTICAL, width, &scroller_min,
                      &scroller_nat, NULL, NULL);
  return CLAMP (nat, MAX (CHIP_ROWS_MIN, scroller_min), MAX (CHIP_ROWS_MAX, scroller_min));
}

static void
wp_word_bar_measure (GtkWidget     *widget,
                     GtkOrientation orientation,
                     int            for_size,
                     int           *minimum,
                     int           *natural,
                     int           *minimum_baseline,
                     int           *natural_baseline)
{
  WpWordBar *self = WP_WORD_BAR (widget);
  int        scroller_min, scroller_nat, hint_min, hint_nat;

  gtk_widget_measure (self->scroller, orientation, -1, &scroller_min, &scroller_nat, NULL, NULL);
  gtk_widget_measure (GTK_WIDGET (self->hint_label), orientation, -1, &hint_min, &hint_nat, NULL,
                      NULL);
  if (orientation == GTK_ORIENTATION_HORIZONTAL) {
    *minimum = MAX (scroller_min, hint_min);
    *natural = MAX (scroller_nat, hint_nat);
    return;
  }
  *minimum = *natural = chip_rows_height (self, for_size) + HINT_SPACING + hint_nat;
}

static void
wp_word_bar_size_allocate (GtkWidget *widget,
                           int        width,
                           int        height,
                           int        baseline)
{
  WpWordBar *self = WP_WORD_BAR (widget);
  int        hint_min, hint_nat;

  gtk_widget_measure (GTK_WIDGET (self->hint_label), GTK_ORIENTATION_VERTICAL, width, &hint_min,
                      &hint_nat, NULL, NULL);
  gtk_widget_allocate (self->scroller, width, MAX (height - HINT_SPACING - hint_nat, 0), -1,
                       NULL);
  gtk_widget_allocate (GTK_WIDGET (self->hint_label), width, hint_nat, -1,
                       gsk_transform_translate (
                         NULL, &GRAPHENE_POINT_INIT (0, MAX (height - hint_nat, 0))));
}

static void
wp_word_bar_dispose (GObject *object)
{
  GtkWidget *child;

  gtk_widget_dispose_template (GTK_WIDGET (object), WP_TYPE_WORD_BAR);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (object))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (wp_word_bar_parent_class)->dispose (object);
}

static void
wp_word_bar_finalize (GObject *object)
{
  WpWordBar *self = WP_WORD_BAR (object);

  g_array_unref (self->words);
  g_ptr_array_unref (self->token_labels);
  g_strfreev (self->cut_words);
  g_ptr_array_unref (self->picked_words);
  g_ptr_array_unref (self->picked_pieces);
  g_free (self->hint);
  G_OBJECT_CLASS (wp_word_bar_parent_class)->finalize (object);
}

static void
wp_word_bar_class_init (WpWordBarClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = wp_word_bar_dispose;
  object_class->finalize = wp_word_bar_finalize;
  widget_class->get_request_mode = wp_word_bar_get_request_mode;
  widget_class->measure = wp_word_bar_measure;
  widget_class->size_allocate = wp_word_bar_size_allocate;
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/wordpatch/app/wp-word-bar.ui");
  gtk_widget_class_bind_template_child (widget_class, WpWordBar, scroller);
  gtk_widget_class_bind_template_child (widget_class, WpWordBar, flow_box);
  gtk_widget_class_bind_template_child (widget_class, WpWordBar, hint_label);
}

static void
wp_word_bar_init (WpWordBar *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->words = g_array_new (FALSE, FALSE, sizeof (Word));
  g_array_set_clear_func (self->words, word_clear);
  self->token_labels = g_ptr_array_new_with_free_func (g_free);
  self->picked_words = g_ptr_array_new_with_free_func (g_free);
  self->picked_pieces = g_ptr_array_new_with_free_func (g_free);
}
