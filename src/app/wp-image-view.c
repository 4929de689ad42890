#define G_LOG_DOMAIN "wp-image-view"

#include "wp-image-view.h"

struct _WpImageView {
  GtkWidget parent_instance;

  /* Owned */
  WpFigure figure; /* its caption and words point to the two below, the rest is borrowed */
  char    *caption;
  int     *words;
  char    *readout;
};

G_DEFINE_FINAL_TYPE (WpImageView, wp_image_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_READOUT,
  N_PROPS,
};

static GParamSpec *properties[N_PROPS];

static void
set_readout (WpImageView *self,
             const char  *readout)
{
  if (g_strcmp0 (self->readout, readout) == 0)
    return;
  g_free (self->readout);
  self->readout = g_strdup (readout);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_READOUT]);
}

static gboolean
shows_word (const WpFigure *figure,
            int             word)
{
  if (figure->n_words == 0)
    return TRUE;
  for (int i = 0; i < figure->n_words; i++) {
    if (figure->words[i] == word)
      return TRUE;
  }
  return FALSE;
}

static float
map_value (const WpFigure  *figure,
           const WpWordMap *map,
           int              patch)
{
  return map->values[figure->style.method][patch];
}

/* A comparison's read-out: the word of the row, and both models' values with their difference
 * when the two share a patch grid, else the value of the column hovered. */
static void
describe_compare (const WpFigure *figure,
                  int             word,
                  int             patch,
                  int             column,
                  GString        *text)
{
  const WpWordMaps *maps = column == 1 ? figure->other_maps : figure->maps;
  const WpWordMap  *a = &figure->maps->words[word], *b = &figure->other_maps->words[word];

  g_string_printf (text, "%s, patch row %d, column %d:", a->text, patch / maps->cols,
                   patch % maps->cols);
  if (figure->maps->rows == figure->other_maps->rows &&
      figure->maps->cols == figure->other_maps->cols)
    g_string_append_printf (text, "  A %.3f  B %.3f  B − A %.3f", map_value (figure, a, patch),
                            map_value (figure, b, patch),
                            wp_figure_difference (figure, word, patch));
  else
    g_string_append_printf (text, "  %s %.3f", column == 1 ? "B" : "A",
                            column == 1 ? map_value (figure, b, patch)
                                        : map_value (figure, a, patch));
}

/* word: the item of the panel hovered, -1 when the panel shows several (then every item shown). */
static void
describe_patch (const WpFigure *figure,
                int             word,
                int             patch,
                GString        *text)
{
  const WpWordMaps *maps = figure->maps;

  g_string_printf (text, "patch row %d, column %d:", patch / maps->cols, patch % maps->cols);
  if (figure->token_labels != NULL) {
    const int    P = maps->n_patches;
    const float *rows = maps->token_values[figure->style.method];

    for (int i = 0; i < figure->n_words; i++) {
      const int token = figure->words[i];

      if (word < 0 || word == token)
        g_string_append_printf (text, "  ·%s %.3f", figure->token_labels[token],
                                rows[(gsize) token * P + patch]);
    }
    return;
  }
  for (int w = 0; w < maps->n_words; w++) {
    if (word >= 0 ? w != word : !shows_word (figure, w))
      continue;
    g_string_append_printf (text, "  %s %.3f", maps->words[w].text,
                            map_value (figure, &maps->words[w], patch));
  }
}

static void
motion_cb (WpImageView              *self,
           double                    x,
           double                    y,
           GtkEventControllerMotion *motion)
{
  g_autoptr (GString) text = g_string_new (NULL);
  int word, patch, column;

  if (self->figure.maps == NULL)
    return;
  if (!wp_figure_hit_panel (&self->figure, gtk_widget_get_width (GTK_WIDGET (self)),
                            gtk_widget_get_height (GTK_WIDGET (self)), x, y, &word, &patch,
                            &column)) {
    set_readout (self, "");
    return;
  }
  if (self->figure.other_maps != NULL)
    describe_compare (&self->figure, word, patch, column, text);
  else
    describe_patch (&self->figure, word, patch, text);
  set_readout (self, text->str);
}

static void
wp_image_view_snapshot (GtkWidget   *widget,
                        GtkSnapshot *snapshot)
{
  WpImageView *self = WP_IMAGE_VIEW (widget);
  const int    width = gtk_widget_get_width (widget), height = gtk_widget_get_height (widget);
  cairo_t     *cr;

  if (width <= 0 || height <= 0)
    return;
  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  if (self->figure.image == NULL || self->figure.maps == NULL) {
    cairo_set_source_rgb (cr, 1, 1, 1);
    cairo_paint (cr);
  } else {
    wp_figure_draw (cr, &self->figure, width, height);
  }
  cairo_destroy (cr);
}

void
wp_image_view_set_figure (WpImageView    *self,
                          const WpFigure *figure)
{
  g_return_if_fail (WP_IS_IMAGE_VIEW (self));
  g_return_if_fail (figure != NULL);

  g_free (self->caption);
  g_free (self->words);
  self->figure = *figure;
  self->caption = g_strdup (figure->caption);
  self->words = g_memdup2 (figure->words, sizeof (int) * (gsize) MAX (figure->n_words, 0));
  self->figure.caption = self->caption;
  self->figure.words = figure->words != NULL ? self->words : NULL;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

const WpFigure *
wp_image_view_get_figure (WpImageView *self)
{
  g_return_val_if_fail (WP_IS_IMAGE_VIEW (self), NULL);

  return &self->figure;
}

const char *
wp_image_view_get_readout (WpImageView *self)
{
  g_return_val_if_fail (WP_IS_IMAGE_VIEW (self), NULL);

  return self->readout != NULL ? self->readout : "";
}

static void
wp_image_view_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  WpImageView *self = WP_IMAGE_VIEW (object);

  switch (prop_id) {
  case PROP_READOUT:
    g_value_set_string (value, wp_image_view_get_readout (self));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
wp_image_view_finalize (GObject *object)
{
  WpImageView *self = WP_IMAGE_VIEW (object);

  g_free (self->caption);
  g_free (self->words);
  g_free (self->readout);
  G_OBJECT_CLASS (wp_image_view_parent_class)->finalize (object);
}

static void
wp_image_view_class_init (WpImageViewClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = wp_image_view_get_property;
  object_class->finalize = wp_image_view_finalize;
  widget_class->snapshot = wp_image_view_snapshot;
  properties[PROP_READOUT] =
    g_param_spec_string ("readout", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/wordpatch/app/wp-image-view.ui");
  gtk_widget_class_bind_template_callback (widget_class, motion_cb);
}

static void
wp_image_view_init (WpImageView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
