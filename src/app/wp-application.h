/* wp-application.h: the app. It sets the engine's thread count once, for training and exploring
 * alike (parallel.h), opens the window, and, when it ends, leaves no thread of its own running
 * (wp_worker_shutdown()): the process exits as soon as the last window is gone, whatever was
 * computing when it went. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define WP_TYPE_APPLICATION (wp_application_get_type ())
G_DECLARE_FINAL_TYPE (WpApplication, wp_application, WP, APPLICATION, GtkApplication)

WpApplication *wp_application_new (const char       *application_id,
                                   GApplicationFlags flags);

G_END_DECLS
