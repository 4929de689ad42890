#define G_LOG_DOMAIN "wp-image-view"

#include "wp-image-view.h"

#include <math.h>

/* How long maps are computed before the figure shown is marked stale: a quick recomputation
 * (a caption edit with a forward method) never flickers. */
#define STALE_DELAY_MS 150
#define MAX_ZOOM       16.0

/* What the read-out describes: nothing, the spot under the pointer, or the keyboard's cursor. */
typedef enum {
  SOURCE_NONE,
  SOURCE_POINTER,
  SOURCE_CURSOR,
} Source;

struct _WpImageView {
  GtkWidget parent_instance;

  /* Owned */
  WpFigure    figure; /* its caption, words and methods point to the three below */
  char       *caption;
  int        *words;
  WpMapMethod methods[WP_N_MAP_METHODS];
  char       *readout;
  Source      source;
  double      pointer_x, pointer_y; /* in the view */
  int         cursor_panel, cursor_patch;
  gboolean    stale;
  gboolean    stale_shown;
  guint       stale_source;
  /* The figure is drawn at the view's size, then scaled by zoom about the origin and moved by
   * pan (in view pixels). */
  double zoom;
  double pan_x, pan_y;
  double drag_pan_x, drag_pan_y;
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
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  self->readout, -1);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_READOUT]);
}

static gboolean
has_maps (WpImageView *self)
{
  return self->figure.image != NULL && self->figure.maps != NULL;
}

static double
view_width (WpImageView *self)
{
  return gtk_widget_get_width (GTK_WIDGET (self));
}

static double
view_height (WpImageView *self)
{
  return gtk_widget_get_height (GTK_WIDGET (self));
}

/* The read-out of what the pointer or the cursor is on in the figure drawn now. */
static void
update_readout (WpImageView *self)
{
  const double     width = view_width (self), height = view_height (self);
  g_autofree char *text = NULL;
  WpFigureSpot     spot;
  gboolean         found = FALSE;

  if (has_maps (self) && width > 0 && height > 0) {
    if (self->source == SOURCE_POINTER)
      found = wp_figure_locate (&self->figure, width, height,
                                (self->pointer_x - self->pan_x) / self->zoom,
                                (self->pointer_y - self->pan_y) / self->zoom, &spot);
    else if (self->source == SOURCE_CURSOR)
      found = wp_figure_get_spot (&self->figure, width, height, self->cursor_panel,
                                  self->cursor_patch, &spot, NULL);
  }
  if (found)
    text = wp_figure_describe_spot (&self->figure, &spot);
  set_readout (self, text != NULL ? text : "");
}

static void
motion_cb (WpImageView              *self,
           double                    x,
           double                    y,
           GtkEventControllerMotion *motion)
{
  self->source = SOURCE_POINTER;
  self->pointer_x = x;
  self->pointer_y = y;
  update_readout (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
leave_cb (WpImageView *self)
{
  if (self->source != SOURCE_POINTER)
    return;
  self->source = SOURCE_NONE;
  update_readout (self);
}

/* The pan that keeps the zoomed figure covering the view. */
static void
clamp_pan (WpImageView *self)
{
  self->pan_x = CLAMP (self->pan_x, view_width (self) * (1.0 - self->zoom), 0.0);
  self->pan_y = CLAMP (self->pan_y, view_height (self) * (1.0 - self->zoom), 0.0);
}

void
wp_image_view_zoom (WpImageView *self,
                    double       factor,
                    double       x,
                    double       y)
{
  const double zoom = CLAMP (self->zoom * factor, 1.0, MAX_ZOOM);

  g_return_if_fail (WP_IS_IMAGE_VIEW (self));

  /* The figure point under (x, y) stays there. */
  self->pan_x = x - (x - self->pan_x) * zoom / self->zoom;
  self->pan_y = y - (y - self->pan_y) * zoom / self->zoom;
  self->zoom = zoom;
  clamp_pan (self);
  update_readout (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

double
wp_image_view_get_zoom (WpImageView *self)
{
  g_return_val_if_fail (WP_IS_IMAGE_VIEW (self), 1.0);

  return self->zoom;
}

static gboolean
scroll_cb (WpImageView              *self,
           double                    dx,
           double                    dy,
           GtkEventControllerScroll *scroll)
{
  const gboolean pointer = self->source == SOURCE_POINTER;

  wp_image_view_zoom (self, pow (1.15, -dy), pointer ? self->pointer_x : view_width (self) / 2,
                      pointer ? self->pointer_y : view_height (self) / 2);
  return TRUE;
}

static void
drag_begin_cb (WpImageView    *self,
               double          x,
               double          y,
               GtkGestureDrag *drag)
{
  self->drag_pan_x = self->pan_x;
  self->drag_pan_y = self->pan_y;
}

static void
drag_update_cb (WpImageView    *self,
                double          dx,
                double          dy,
                GtkGestureDrag *drag)
{
  self->pan_x = self->drag_pan_x + dx;
  self->pan_y = self->drag_pan_y + dy;
  clamp_pan (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
reset_zoom (WpImageView *self)
{
  self->zoom = 1.0;
  self->pan_x = self->pan_y = 0.0;
  update_readout (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
pressed_cb (WpImageView     *self,
            int              n_press,
            double           x,
            double           y,
            GtkGestureClick *click)
{
  gtk_widget_grab_focus (GTK_WIDGET (self));
  if (n_press == 2)
    reset_zoom (self);
}

gboolean
wp_image_view_move_cursor (WpImageView *self,
                           int          panels,
                           int          rows,
                           int          cols)
{
  const double width = view_width (self), height = view_height (self);
  WpFigureSpot spot;
  int          n, panel, row, col;

  g_return_val_if_fail (WP_IS_IMAGE_VIEW (self), FALSE);

  if (!has_maps (self) || width <= 0 || height <= 0)
    return FALSE;
  n = wp_figure_get_n_panels (&self->figure, width, height);
  if (self->source != SOURCE_CURSOR ||
      !wp_figure_get_spot (&self->figure, width, height, self->cursor_panel, self->cursor_patch,
                           &spot, NULL)) {
    /* Start in the middle of the first panel that has a map. */
    for (panel = 0; panel < n; panel++) {
      if (wp_figure_get_spot (&self->figure, width, height, panel, 0, &spot, NULL))
        break;
    }
    if (panel == n)
      return FALSE;
    spot.patch = (spot.rows / 2) * spot.cols + spot.cols / 2;
    panels = rows = cols = 0;
  }
  panel = spot.panel;
  /* Panels that draw no map (a comparison's missing difference) are stepped over. */
  for (int step = 0; panels != 0 && step < n; step++) {
    WpFigureSpot next;

    panel = ((panel + (panels > 0 ? 1 : -1)) % n + n) % n;
    if (wp_figure_get_spot (&self->figure, width, height, panel, 0, &next, NULL)) {
      panels -= panels > 0 ? 1 : -1;
      /* The same place in a panel of another grid, as near as it has. */
      spot.patch = MIN (spot.patch / spot.cols, next.rows - 1) * next.cols +
                   MIN (spot.patch % spot.cols, next.cols - 1);
      spot.rows = next.rows;
      spot.cols = next.cols;
    }
  }
  row = CLAMP (spot.patch / spot.cols + rows, 0, spot.rows - 1);
  col = CLAMP (spot.patch % spot.cols + cols, 0, spot.cols - 1);
  self->source = SOURCE_CURSOR;
  self->cursor_panel = panel;
  self->cursor_patch = row * spot.cols + col;
  update_readout (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  return TRUE;
}

static void
cursor_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  int panels, rows, cols;

  g_variant_get (parameter, "(iii)", &panels, &rows, &cols);
  wp_image_view_move_cursor (WP_IMAGE_VIEW (widget), panels, rows, cols);
}

static void
zoom_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  WpImageView *self = WP_IMAGE_VIEW (widget);
  const double factor = g_variant_get_double (parameter);

  if (factor == 1.0)
    reset_zoom (self);
  else
    wp_image_view_zoom (self, factor, view_width (self) / 2, view_height (self) / 2);
}

static void
hide_cursor_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  WpImageView *self = WP_IMAGE_VIEW (widget);

  if (self->source != SOURCE_CURSOR)
    return;
  self->source = SOURCE_NONE;
  update_readout (self);
  gtk_widget_queue_draw (widget);
}

/* The cursor's patch outlined, in black and white to show on any colour. */
static void
draw_cursor (WpImageView *self,
             cairo_t     *cr,
             double       width,
             double       height)
{
  WpFigureSpot spot;
  double       rect[4];

  if (self->source != SOURCE_CURSOR ||
      !wp_figure_get_spot (&self->figure, width, height, self->cursor_panel, self->cursor_patch,
                           &spot, rect))
    return;
  cairo_rectangle (cr, rect[0] * self->zoom + self->pan_x, rect[1] * self->zoom + self->pan_y,
                   rect[2] * self->zoom, rect[3] * self->zoom);
  cairo_set_line_width (cr, 3.0);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_stroke_preserve (cr);
  cairo_set_line_width (cr, 1.5);
  cairo_set_source_rgb (cr, 0, 0, 0);
  cairo_stroke (cr);
}

/* Maps older than what was asked for: dimmed, and said so in the top right corner. */
static void
draw_stale (cairo_t *cr,
            double   width)
{
  static const char    text[] = "updating…";
  cairo_text_extents_t extents;
  const double         size = 13.0, pad = 6.0;

  cairo_set_source_rgba (cr, 1, 1, 1, 0.45);
  cairo_paint (cr);
  cairo_select_font_face (cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
  cairo_set_font_size (cr, size);
  cairo_text_extents (cr, text, &extents);
  cairo_rectangle (cr, width - extents.x_advance - 3 * pad, pad, extents.x_advance + 2 * pad,
                   size + 2 * pad);
  cairo_set_source_rgba (cr, 0.15, 0.15, 0.15, 0.85);
  cairo_fill (cr);
  cairo_move_to (cr, width - extents.x_advance - 2 * pad, pad + pad + size * 0.85);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_show_text (cr, text);
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
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  if (has_maps (self)) {
    cairo_save (cr);
    cairo_translate (cr, self->pan_x, self->pan_y);
    cairo_scale (cr, self->zoom, self->zoom);
    wp_figure_draw (cr, &self->figure, width, height);
    cairo_restore (cr);
    draw_cursor (self, cr, width, height);
  }
  if (self->stale_shown)
    draw_stale (cr, width);
  cairo_destroy (cr);
}

static void
wp_image_view_size_allocate (GtkWidget *widget,
                             int        width,
                             int        height,
                             int        baseline)
{
  WpImageView *self = WP_IMAGE_VIEW (widget);

  clamp_pan (self);
  /* The layout follows the size: what the read-out describes moves with it. */
  update_readout (self);
}

void
wp_image_view_set_figure (WpImageView    *self,
                          const WpFigure *figure)
{
  g_return_if_fail (WP_IS_IMAGE_VIEW (self));
  g_return_if_fail (figure != NULL);
  g_return_if_fail (figure->n_methods <= WP_N_MAP_METHODS);

  g_free (self->caption);
  g_free (self->words);
  self->figure = *figure;
  self->caption = g_strdup (figure->caption);
  self->words = g_memdup2 (figure->words, sizeof (int) * (gsize) MAX (figure->n_words, 0));
  if (figure->methods != NULL)
    memcpy (self->methods, figure->methods, sizeof (WpMapMethod) * (gsize) figure->n_methods);
  self->figure.caption = self->caption;
  self->figure.words = figure->words != NULL ? self->words : NULL;
  self->figure.methods = figure->methods != NULL ? self->methods : NULL;
  /* Whatever is pointed at is described again: never an earlier figure's values. */
  update_readout (self);
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

static gboolean
show_stale_cb (gpointer user_data)
{
  WpImageView *self = user_data;

  self->stale_source = 0;
  self->stale_shown = TRUE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  return G_SOURCE_REMOVE;
}

void
wp_image_view_set_stale (WpImageView *self,
                         gboolean     stale)
{
  g_return_if_fail (WP_IS_IMAGE_VIEW (self));

  if (self->stale == stale)
    return;
  self->stale = stale;
  g_clear_handle_id (&self->stale_source, g_source_remove);
  if (stale) {
    self->stale_source = g_timeout_add (STALE_DELAY_MS, show_stale_cb, self);
    return;
  }
  self->stale_shown = FALSE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

gboolean
wp_image_view_get_stale (WpImageView *self)
{
  g_return_val_if_fail (WP_IS_IMAGE_VIEW (self), FALSE);

  return self->stale;
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
wp_image_view_dispose (GObject *object)
{
  WpImageView *self = WP_IMAGE_VIEW (object);

  g_clear_handle_id (&self->stale_source, g_source_remove);
  G_OBJECT_CLASS (wp_image_view_parent_class)->dispose (object);
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
add_cursor_key (GtkWidgetClass *widget_class,
                guint           key,
                guint           keypad_key,
                int             panels,
                int             rows,
                int             cols)
{
  gtk_widget_class_add_binding_action (widget_class, key, 0, "view.move-cursor", "(iii)", panels,
                                       rows, cols);
  gtk_widget_class_add_binding_action (widget_class, keypad_key, 0, "view.move-cursor", "(iii)",
                                       panels, rows, cols);
}

static void
wp_image_view_class_init (WpImageViewClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = wp_image_view_get_property;
  object_class->dispose = wp_image_view_dispose;
  object_class->finalize = wp_image_view_finalize;
  widget_class->snapshot = wp_image_view_snapshot;
  widget_class->size_allocate = wp_image_view_size_allocate;
  properties[PROP_READOUT] =
    g_param_spec_string ("readout", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  gtk_widget_class_set_css_name (widget_class, "wpimageview");
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/org/wordpatch/app/wp-image-view.ui");
  gtk_widget_class_bind_template_callback (widget_class, motion_cb);
  gtk_widget_class_bind_template_callback (widget_class, leave_cb);
  gtk_widget_class_bind_template_callback (widget_class, scroll_cb);
  gtk_widget_class_bind_template_callback (widget_class, drag_begin_cb);
  gtk_widget_class_bind_template_callback (widget_class, drag_update_cb);
  gtk_widget_class_bind_template_callback (widget_class, pressed_cb);
  gtk_widget_class_install_action (widget_class, "view.move-cursor", "(iii)", cursor_action);
  gtk_widget_class_install_action (widget_class, "view.zoom", "d", zoom_action);
  gtk_widget_class_install_action (widget_class, "view.hide-cursor", NULL, hide_cursor_action);
  add_cursor_key (widget_class, GDK_KEY_Left, GDK_KEY_KP_Left, 0, 0, -1);
  add_cursor_key (widget_class, GDK_KEY_Right, GDK_KEY_KP_Right, 0, 0, 1);
  add_cursor_key (widget_class, GDK_KEY_Up, GDK_KEY_KP_Up, 0, -1, 0);
  add_cursor_key (widget_class, GDK_KEY_Down, GDK_KEY_KP_Down, 0, 1, 0);
  add_cursor_key (widget_class, GDK_KEY_Page_Down, GDK_KEY_KP_Page_Down, 1, 0, 0);
  add_cursor_key (widget_class, GDK_KEY_Page_Up, GDK_KEY_KP_Page_Up, -1, 0, 0);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_plus, 0, "view.zoom", "d", 1.25);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_equal, 0, "view.zoom", "d", 1.25);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Add, 0, "view.zoom", "d", 1.25);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_minus, 0, "view.zoom", "d", 0.8);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Subtract, 0, "view.zoom", "d",
                                       0.8);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_0, 0, "view.zoom", "d", 1.0);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "view.hide-cursor", NULL);
}

static void
wp_image_view_init (WpImageView *self)
{
  self->zoom = 1.0;
  gtk_widget_init_template (GTK_WIDGET (self));
}
