/* bench-typing.c: how long the window takes from a caption edit to its redrawn maps.
 *
 *   xvfb-run -a build/tests/bench-typing [MODEL] [N]
 *
 * Opens the window (on MODEL, default the bundled model) on the bundled demo scene, then types N
 * (default 30) edits one at a time; for each, the time from the keystroke (the entry's text set) to
 * the end of the frame that shows the new maps. Prints the median and the 90th percentile. */
#include <gtk/gtk.h>
#include <stdio.h>
#include <stdlib.h>

#include "wp-window.h"

static int
compare_doubles (const void *a,
                 const void *b)
{
  const double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static void
iterate_until_idle (WpWindow *window)
{
  do {
    while (g_main_context_iteration (NULL, FALSE))
      ;
  } while (!wp_window_is_idle (window) && (g_main_context_iteration (NULL, TRUE), TRUE));
}

static void
frame_done_cb (GdkFrameClock *clock,
               gboolean      *drawn)
{
  *drawn = TRUE;
}

int
main (int   argc,
      char *argv[])
{
  static const char *const words[] = {
    "a", "small", "green", "star", "above", "a", "blue", "circle"
  };
  g_autoptr (GtkApplication) application = NULL;
  const int          n = argc > 2 ? atoi (argv[2]) : 30;
  g_autofree double *ms = g_new (double, MAX (n, 1));
  GdkFrameClock     *clock;
  WpWindow          *window;

  gtk_init ();
  application = gtk_application_new ("org.wordpatch.Bench", G_APPLICATION_NON_UNIQUE);
  g_application_register (G_APPLICATION (application), NULL, NULL);
  window = wp_window_new (application);
  gtk_window_present (GTK_WINDOW (window));
  iterate_until_idle (window);
  if (argc > 1) {
    wp_window_open_model (window, argv[1]);
    iterate_until_idle (window);
  }
  clock = gtk_widget_get_frame_clock (GTK_WIDGET (window));
  for (int i = 0; i < n; i++) {
    g_autoptr (GString) caption = g_string_new (NULL);
    gboolean drawn = FALSE;
    gulong   handler;
    gint64   start;

    for (int w = 0; w <= i % (int) G_N_ELEMENTS (words); w++)
      g_string_append_printf (caption, "%s%s", w > 0 ? " " : "", words[w]);
    start = g_get_monotonic_time ();
    wp_window_set_caption (window, caption->str);
    iterate_until_idle (window);
    handler = g_signal_connect (clock, "after-paint", G_CALLBACK (frame_done_cb), &drawn);
    gtk_widget_queue_draw (GTK_WIDGET (window));
    while (!drawn)
      g_main_context_iteration (NULL, TRUE);
    g_signal_handler_disconnect (clock, handler);
    ms[i] = (g_get_monotonic_time () - start) / 1000.0;
  }
  qsort (ms, n, sizeof (double), compare_doubles);
  printf (
    "caption edit to redrawn maps over %d edits: median %.1f ms, 90th percentile %.1f ms (%s)\n", n,
    ms[n / 2], ms[(int) (n * 0.9)], wp_window_get_status (window));
  gtk_window_destroy (GTK_WINDOW (window));
  return 0;
}
