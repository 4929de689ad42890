/* gui-util.c: what the GUI test programs share (gui-util.h). */
#include "gui-util.h"

#include <string.h>

#include "shapes.h"
#include "test-util.h"

/* Runs the main loop until the window has no computation pending (at most about 60 s). */
gboolean
wait_idle (WpWindow *window)
{
  for (int i = 0; i < 6000; i++) {
    while (g_main_context_iteration (NULL, FALSE))
      ;
    if (wp_window_is_idle (window))
      return TRUE;
    g_usleep (10000);
  }
  return FALSE;
}

/* Runs the main loop until done (checked after each pass) or about 120 s. */
gboolean
wait_for (gboolean (*done) (gpointer),
          gpointer data)
{
  for (int i = 0; i < 24000; i++) {
    g_main_context_iteration (NULL, FALSE);
    if (done (data))
      return TRUE;
    if (!g_main_context_pending (NULL))
      g_usleep (5000);
  }
  return FALSE;
}

int
count_near (const WpImage *image,
            guint32        rgb,
            int            tolerance)
{
  int n = 0;

  for (int i = 0; i < image->width * image->height; i++) {
    const guint8 *px = image->rgb + (gsize) i * 3;

    n += ABS (px[0] - (int) (rgb >> 16)) <= tolerance &&
         ABS (px[1] - (int) ((rgb >> 8) & 0xff)) <= tolerance &&
         ABS (px[2] - (int) (rgb & 0xff)) <= tolerance;
  }
  return n;
}

int
count_colour (const WpImage *image,
              guint32        rgb)
{
  return count_near (image, rgb, 3);
}

/* The file chooser dialog a window action opened (GTK's own, without a portal under Xvfb). */
GtkWindow *
find_file_chooser (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++) {
    g_autoptr (GtkWindow) toplevel = g_list_model_get_item (toplevels, i);

    if (GTK_IS_FILE_CHOOSER (toplevel))
      return toplevel;
  }
  return NULL;
}

gpointer
window_child (WpWindow   *window,
              const char *name)
{
  GObject *child = gtk_widget_get_template_child (GTK_WIDGET (window), WP_TYPE_WINDOW, name);

  g_assert_nonnull (child);
  return child;
}

WpWindow *
explore_window (GtkApplication *application)
{
  g_autoptr (GError) error = NULL;
  WpWindow *window;

  g_assert_true (g_application_register (G_APPLICATION (application), NULL, &error));
  g_assert_no_error (error);
  window = wp_window_new (application);
  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (wait_idle (window));
  /* The view has its size before anything is pointed at. */
  run_loop_for (100);
  return window;
}

void
write_scenes (const char *dir,
              guint       n,
              guint64     seed)
{
  g_autoptr (GError) error = NULL;
  WpShapesOptions options;

  wp_shapes_options_init (&options);
  options.seed = seed;
  g_assert_true (wp_shapes_write_dataset (dir, n, &options, &error));
  g_assert_no_error (error);
}

gboolean
file_contains (const char *path,
               const char *text)
{
  g_autofree char *bytes = NULL;
  gsize            len = 0;

  g_assert_true (g_file_get_contents (path, &bytes, &len, NULL));
  for (gsize i = 0; i + strlen (text) <= len; i++) {
    if (memcmp (bytes + i, text, strlen (text)) == 0)
      return TRUE;
  }
  return FALSE;
}

/* With WP_TEST_SCREENSHOTS=DIR, the window as drawn goes to DIR/name.png, to look at. */
void
save_screenshot (WpWindow   *window,
                 const char *page,
                 const char *name)
{
  const char *dir = g_getenv ("WP_TEST_SCREENSHOTS");
  GObject    *stack =
    gtk_widget_get_template_child (GTK_WIDGET (window), WP_TYPE_WINDOW, "stack");
  g_autoptr (GdkTexture) texture = NULL;
  g_autofree char *path = NULL;

  if (dir == NULL)
    return;
  gtk_stack_set_visible_child_name (GTK_STACK (stack), page);
  run_loop_for (300);
  texture = render_widget (GTK_WIDGET (window));
  path = g_strdup_printf ("%s/%s.png", dir, name);
  gdk_texture_save_to_png (texture, path);
  gtk_stack_set_visible_child_name (GTK_STACK (stack), "explore");
}

GdkTexture *
render_widget (GtkWidget *widget)
{
  GdkPaintable  *paintable = gtk_widget_paintable_new (widget);
  GtkSnapshot   *snapshot = gtk_snapshot_new ();
  GskRenderNode *node;
  GdkTexture    *texture;

  gdk_paintable_snapshot (paintable, snapshot, gtk_widget_get_width (widget),
                          gtk_widget_get_height (widget));
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (gtk_widget_get_native (widget)),
                                         node, NULL);
  gsk_render_node_unref (node);
  g_object_unref (paintable);
  return texture;
}

/* Keeps the main loop running (the test's own waiting must not count as a stall). */
void
run_loop_for (int milliseconds)
{
  const gint64 end = g_get_monotonic_time () + milliseconds * 1000;

  while (g_get_monotonic_time () < end) {
    g_main_context_iteration (NULL, FALSE);
    if (!g_main_context_pending (NULL))
      g_usleep (2000);
  }
}

gboolean
view_idle (gpointer view)
{
  return wp_train_view_is_idle (view);
}

gboolean
is_paused (gpointer session)
{
  return wp_train_session_get_state (session) == WP_TRAIN_STATE_PAUSED;
}

gboolean
is_inactive (gpointer session)
{
  return !wp_train_session_is_active (session);
}

gboolean
window_idle (gpointer window)
{
  return wp_window_is_idle (window);
}

GtkWidget *
train_child (WpTrainView *view,
             const char  *name)
{
  GObject *child = gtk_widget_get_template_child (GTK_WIDGET (view), WP_TYPE_TRAIN_VIEW, name);

  g_assert_nonnull (child);
  return GTK_WIDGET (child);
}

void
set_objective (WpTrainView *view,
               WpObjective  objective)
{
  gtk_drop_down_set_selected (GTK_DROP_DOWN (train_child (view, "objective_dropdown")), objective);
}

/* A window of 800x600, as on a small screen, that must stay so. */
WpWindow *
new_small_window (GtkApplication *application)
{
  WpWindow *window = wp_window_new (application);

  gtk_window_set_default_size (GTK_WINDOW (window), 800, 600);
  gtk_window_present (GTK_WINDOW (window));
  g_assert_true (wait_idle (window));
  return window;
}

/* The window stays 800x600 on screen whatever the page shows. The header bar (the Explore
 * page's tools) may ask for more width than that; the window is then as wide as it asks (with
 * the frame GTK draws around it), and no wider. */
void
assert_window_size (WpWindow *window)
{
  GdkSurface *surface;
  int         titlebar_width, frame_width;

  run_loop_for (100);
  surface = gtk_native_get_surface (GTK_NATIVE (window));
  frame_width = gdk_surface_get_width (surface) - gtk_widget_get_width (GTK_WIDGET (window));
  gtk_widget_measure (gtk_window_get_titlebar (GTK_WINDOW (window)), GTK_ORIENTATION_HORIZONTAL,
                      -1, &titlebar_width, NULL, NULL, NULL);
  g_assert_cmpint (gdk_surface_get_width (surface), ==, MAX (800, titlebar_width + frame_width));
  g_assert_cmpint (gdk_surface_get_height (surface), ==, 600);
}

/* Start lies inside the window and no scrolled window holds it: it shows without scrolling. */
void
assert_start_shows (WpWindow    *window,
                    WpTrainView *view)
{
  GtkWidget      *start = train_child (view, "start_button");
  graphene_rect_t bounds;

  g_assert_true (gtk_widget_get_mapped (start));
  g_assert_true (gtk_widget_compute_bounds (start, GTK_WIDGET (window), &bounds));
  g_assert_cmpfloat (bounds.origin.x, >=, 0);
  g_assert_cmpfloat (bounds.origin.y, >=, 0);
  g_assert_cmpfloat (bounds.origin.x + bounds.size.width, <=,
                     gtk_widget_get_width (GTK_WIDGET (window)));
  g_assert_cmpfloat (bounds.origin.y + bounds.size.height, <=,
                     gtk_widget_get_height (GTK_WIDGET (window)));
  for (GtkWidget *w = start; w != NULL; w = gtk_widget_get_parent (w))
    g_assert_false (GTK_IS_SCROLLED_WINDOW (w));
}

void
show_page (WpWindow   *window,
           const char *page)
{
  GObject *stack = gtk_widget_get_template_child (GTK_WIDGET (window), WP_TYPE_WINDOW, "stack");

  gtk_stack_set_visible_child_name (GTK_STACK (stack), page);
  run_loop_for (100);
}

void
set_spin (WpTrainView *view,
          const char  *name,
          double       value)
{
  GObject *spin = gtk_widget_get_template_child (GTK_WIDGET (view), WP_TYPE_TRAIN_VIEW, name);

  g_assert_nonnull (spin);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (spin), value);
}

static gint64 wanted_step;

/* While a run prepares, the progress shown is still the previous run's. */
static gboolean
reached_step (gpointer session)
{
  return (wp_train_session_get_state (session) != WP_TRAIN_STATE_PREPARING &&
          wp_train_session_get_progress (session)->step >= wanted_step) ||
         !wp_train_session_is_active (session);
}

gboolean
wait_for_step (WpTrainSession *session,
               gint64          step)
{
  wanted_step = step;
  return wait_for (reached_step, session);
}

char *
gui_test_setup (void)
{
  char *cache = g_dir_make_tmp ("wp-test-gui-cache-XXXXXX", NULL);

  /* Pasted images go to the cache folder: a temporary one here, not the user's. */
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  /* On Xvfb, GL is software rendering that competes with what is measured; the cairo renderer
   * is the one the measured figures are for, unless the environment names another. */
  g_setenv ("GSK_RENDERER", "cairo", FALSE);
  /* The file chooser keeps settings and recently used files: in memory, under a name. */
  g_setenv ("GSETTINGS_BACKEND", "memory", FALSE);
  return cache;
}

int
gui_test_main (int    argc,
               char **argv,
               void (*add_tests) (void))
{
  g_autofree char *cache = gui_test_setup ();
  int              status;

  g_set_application_name ("wordpatch tests");
  gtk_test_init (&argc, &argv, NULL);
  add_tests ();
  status = g_test_run ();
  remove_tree (cache);
  return status;
}
