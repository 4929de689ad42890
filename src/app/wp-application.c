#define G_LOG_DOMAIN "wp-application"

#include "wp-application.h"

#include "wordpatch/parallel.h"

#include "wp-window.h"
#include "wp-worker.h"

struct _WpApplication {
  GtkApplication parent_instance;
};

G_DEFINE_FINAL_TYPE (WpApplication, wp_application, GTK_TYPE_APPLICATION)

static void
wp_application_startup (GApplication *application)
{
  G_APPLICATION_CLASS (wp_application_parent_class)->startup (application);
  /* Once for the whole app, before any engine work: training and exploring share the engine's
   * threads, and the count must not change while either runs. */
  wp_set_threads (0);
  gtk_window_set_default_icon_name ("org.wordpatch.App");
}

static void
wp_application_activate (GApplication *application)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (application));

  if (window == NULL)
    window = GTK_WINDOW (wp_window_new (GTK_APPLICATION (application)));
  gtk_window_present (window);
}

static void
wp_application_shutdown (GApplication *application)
{
  wp_worker_shutdown ();
  G_APPLICATION_CLASS (wp_application_parent_class)->shutdown (application);
}

static void
wp_application_class_init (WpApplicationClass *klass)
{
  GApplicationClass *application_class = G_APPLICATION_CLASS (klass);

  application_class->startup = wp_application_startup;
  application_class->activate = wp_application_activate;
  application_class->shutdown = wp_application_shutdown;
}

static void
wp_application_init (WpApplication *self)
{
}

WpApplication *
wp_application_new (const char       *application_id,
                    GApplicationFlags flags)
{
  return g_object_new (WP_TYPE_APPLICATION, "application-id", application_id, "flags", flags,
                       NULL);
}
