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

/* `wordpatch [--model DIR] [--caption TEXT] [IMAGE]`: what the window opens on instead of the
 * bundled model and demo scene. Paths are the caller's (a second invocation's, relative to its
 * own working folder), and go to the window already open. */
static int
wp_application_command_line (GApplication            *application,
                             GApplicationCommandLine *command_line)
{
  GVariantDict *options = g_application_command_line_get_options_dict (command_line);
  g_auto (GStrv) args = g_application_command_line_get_arguments (command_line, NULL);
  const char *model = NULL, *caption = NULL;
  WpWindow   *window;

  if (g_strv_length (args) > 2) {
    g_application_command_line_printerr (command_line,
                                         "wordpatch: one image at a time, not %u\n",
                                         g_strv_length (args) - 1);
    return 2;
  }
  window = WP_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (application)));
  if (window == NULL)
    window = wp_window_new (GTK_APPLICATION (application));
  if (g_variant_dict_lookup (options, "model", "^&ay", &model)) {
    g_autoptr (GFile) file = g_application_command_line_create_file_for_arg (command_line, model);
    g_autofree char *path = g_file_get_path (file);

    wp_window_open_model (window, path);
  }
  if (args[0] != NULL && args[1] != NULL) {
    g_autoptr (GFile) file = g_application_command_line_create_file_for_arg (command_line,
                                                                             args[1]);
    g_autofree char *path = g_file_get_path (file);

    wp_window_open_image (window, path);
  }
  if (g_variant_dict_lookup (options, "caption", "&s", &caption))
    wp_window_set_caption (window, caption);
  gtk_window_present (GTK_WINDOW (window));
  return 0;
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
  application_class->command_line = wp_application_command_line;
  application_class->shutdown = wp_application_shutdown;
}

static void
wp_application_init (WpApplication *self)
{
  static const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, NULL,
      "Open this model folder, .safetensors file or training run", "DIR" },
    { "caption", 'c', 0, G_OPTION_ARG_STRING, NULL, "Start with this caption", "TEXT" },
    { NULL },
  };

  g_application_add_main_option_entries (G_APPLICATION (self), entries);
  g_application_set_option_context_parameter_string (G_APPLICATION (self), "[IMAGE]");
}

WpApplication *
wp_application_new (const char       *application_id,
                    GApplicationFlags flags)
{
  return g_object_new (WP_TYPE_APPLICATION, "application-id", application_id, "flags", flags,
                       NULL);
}
