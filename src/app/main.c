/* wordpatch: the GTK application. */
#include <gtk/gtk.h>

#include "wordpatch/parallel.h"

#include "wp-window.h"

static void
activate_cb (GtkApplication *application)
{
  GtkWindow *window = gtk_application_get_active_window (application);

  if (window == NULL)
    window = GTK_WINDOW (wp_window_new (application));
  gtk_window_present (window);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr (GtkApplication) application =
    gtk_application_new ("org.wordpatch.App", G_APPLICATION_DEFAULT_FLAGS);

  /* Once for the whole app: training and exploring share the engine's threads. */
  wp_set_threads (0);
  g_set_application_name ("wordpatch");
  gtk_window_set_default_icon_name ("org.wordpatch.App");
  g_signal_connect (application, "activate", G_CALLBACK (activate_cb), NULL);
  return g_application_run (G_APPLICATION (application), argc, argv);
}
