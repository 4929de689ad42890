/* gui-util.h: what the GUI test programs (test-gui*.c) share: waiting on the main loop, the
 * window's and the Fine-Tune page's widgets by name, screenshots, and the environment every
 * program runs in. */
#pragma once

#include <gtk/gtk.h>

#include "wordpatch/wordpatch.h"
#include "wp-window.h"

G_BEGIN_DECLS

/* Runs the main loop until the window has no computation pending (at most about 60 s). */
gboolean wait_idle (WpWindow *window);

/* Runs the main loop until done (checked after each pass) or about 120 s. */
gboolean wait_for (gboolean (*done) (gpointer),
                   gpointer data);

/* Runs the main loop until training reaches step (or ends), as wait_for(). */
gboolean wait_for_step (WpTrainSession *session,
                        gint64          step);

/* Keeps the main loop running (the test's own waiting must not count as a stall). */
void run_loop_for (int milliseconds);

/* Predicates for wait_for(). */
gboolean view_idle (gpointer view);
gboolean is_paused (gpointer session);
gboolean is_inactive (gpointer session);
gboolean window_idle (gpointer window);

/* The pixels of image within tolerance of rgb (0xRRGGBB); count_colour() within 3. */
int count_near (const WpImage *image,
                guint32        rgb,
                int            tolerance);
int count_colour (const WpImage *image,
                  guint32        rgb);

/* Writes n scenes of the shapes generator (its default options with seed) to dir, a dataset. */
void write_scenes (const char *dir,
                   guint       n,
                   guint64     seed);

/* Whether the file holds text. */
gboolean file_contains (const char *path,
                        const char *text);

/* The file chooser dialog a window action opened (GTK's own, without a portal under Xvfb). */
GtkWindow *find_file_chooser (void);

/* The window's template child of that name (asserted to exist). */
gpointer window_child (WpWindow   *window,
                       const char *name);

/* A new window on the bundled model, presented and idle, its view sized. */
WpWindow *explore_window (GtkApplication *application);

/* A window of 800x600, as on a small screen, that must stay so. */
WpWindow *new_small_window (GtkApplication *application);

/* The window stays 800x600 on screen whatever the page shows (or as wide as its header bar asks,
 * and no wider). */
void assert_window_size (WpWindow *window);

/* Start lies inside the window and no scrolled window holds it: it shows without scrolling. */
void assert_start_shows (WpWindow    *window,
                         WpTrainView *view);

/* Shows the window's page ("explore", "train") and lets it lay out. */
void show_page (WpWindow   *window,
                const char *page);

/* With WP_TEST_SCREENSHOTS=DIR, the window as drawn goes to DIR/name.png, to look at. */
void save_screenshot (WpWindow   *window,
                      const char *page,
                      const char *name);

/* The widget as drawn now, rendered by its window's renderer. */
GdkTexture *render_widget (GtkWidget *widget) G_GNUC_WARN_UNUSED_RESULT;

/* The Fine-Tune page's template child of that name (asserted to exist). */
GtkWidget *train_child (WpTrainView *view,
                        const char  *name);

/* Sets the Fine-Tune page's spin button of that name. */
void set_spin (WpTrainView *view,
               const char  *name,
               double       value);

/* Picks the objective in the Fine-Tune page's drop-down. */
void set_objective (WpTrainView *view,
                    WpObjective  objective);

/* Sets the environment every GUI test program runs in (a temporary cache folder, the cairo
 * renderer, settings in memory) and returns the cache folder, for remove_tree() at the end. */
char *gui_test_setup (void) G_GNUC_WARN_UNUSED_RESULT;

/* A GUI test program's main(): gtk_test_init() in gui_test_setup()'s environment, the cases
 * add_tests registers, g_test_run()'s status. */
int gui_test_main (int    argc,
                   char **argv,
                   void (*add_tests) (void));

G_END_DECLS
