/* wordpatch: the GTK application. */
#include "wp-application.h"

int
main (int   argc,
      char *argv[])
{
  g_autoptr (WpApplication) application =
    wp_application_new ("org.wordpatch.App", G_APPLICATION_HANDLES_COMMAND_LINE);

  g_set_application_name ("wordpatch");
  return g_application_run (G_APPLICATION (application), argc, argv);
}
