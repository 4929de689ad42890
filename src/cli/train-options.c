/* The training settings' command-line options, derived from the settings table. */
#include <string.h>

#include "cli.h"

void
wp_cli_settings_init (WpCliSettings *cs,
                      gboolean       resumable)
{
  guint n;

  wp_train_settings_table (&n);
  wp_train_settings_init (&cs->settings);
  cs->given = g_new0 (gboolean, n);
  cs->strings = g_ptr_array_new_with_free_func (g_free);
  cs->resumable = resumable;
}

void
wp_cli_settings_clear (WpCliSettings *cs)
{
  wp_train_settings_clear (&cs->settings);
  g_clear_pointer (&cs->given, g_free);
  g_clear_pointer (&cs->strings, g_ptr_array_unref);
}

char *
wp_cli_setting_option (const WpTrainSetting *setting)
{
  return g_strdup_printf ("--%s", setting->option);
}

/* The setting an option names, as GOption passes it: "--batch" or "-b". */
static int
find_setting (const char *option_name)
{
  const WpTrainSetting *table;
  guint                 n;

  table = wp_train_settings_table (&n);
  for (guint i = 0; i < n; i++) {
    const gboolean long_match =
      table[i].option != NULL && g_str_has_prefix (option_name, "--") &&
      strcmp (option_name + 2, table[i].option) == 0;
    const gboolean short_match = table[i].short_option != 0 &&
                                 option_name[1] == table[i].short_option &&
                                 option_name[2] == '\0';

    if (long_match || short_match)
      return (int) i;
  }
  return -1;
}

static gboolean
parse_setting_cb (const char *option_name,
                  const char *value,
                  gpointer    user_data,
                  GError    **error)
{
  WpCliSettings        *cs = user_data;
  const int             i = find_setting (option_name);
  const WpTrainSetting *setting;
  g_autofree char      *option = NULL;
  g_autoptr (GError) parse_error = NULL;
  guint n;

  g_return_val_if_fail (i >= 0, FALSE);
  setting = &wp_train_settings_table (&n)[i];
  option = wp_cli_setting_option (setting);
  /* A flag without value sets its boolean. */
  if (!wp_train_setting_parse (setting, &cs->settings, value != NULL ? value : "true", option,
                               &parse_error)) {
    g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, parse_error->message);
    return FALSE;
  }
  cs->given[i] = TRUE;
  return TRUE;
}

/* "Pairs a step (default 32; --resume may change it)" */
static char *
describe (const WpCliSettings  *cs,
          const WpTrainSetting *setting)
{
  g_autofree char *value = NULL;
  GString         *text = g_string_new (setting->help);
  const char      *shown = setting->default_help;
  const gboolean   resumable = cs->resumable && setting->flags & WP_SETTING_RESUMABLE &&
                             !(setting->flags & WP_SETTING_UNSAVED);

  if (shown == NULL && setting->type != WP_SETTING_BOOL && setting->type != WP_SETTING_PATH &&
      setting->type != WP_SETTING_STRING) {
    g_auto (WpTrainSettings) defaults = { 0 };

    wp_train_settings_init (&defaults);
    value = wp_train_setting_to_string (setting, &defaults);
    shown = value;
  }
  if (shown != NULL || resumable) {
    g_string_append_printf (text, " (%s%s%s%s)", shown != NULL ? "default " : "",
                            shown != NULL ? shown : "", shown != NULL && resumable ? "; " : "",
                            resumable ? "--resume may change it" : "");
  }
  return g_string_free (text, FALSE);
}

GOptionGroup *
wp_cli_settings_group (WpCliSettings      *cs,
                       const char *const  *names,
                       const GOptionEntry *extra)
{
  GOptionGroup *group = g_option_group_new ("settings", "Settings", "Settings", cs, NULL);
  g_autoptr (GArray) entries = g_array_new (TRUE, TRUE, sizeof (GOptionEntry));
  const WpTrainSetting *table;
  guint                 n;

  table = wp_train_settings_table (&n);
  for (guint i = 0; i < n; i++) {
    GOptionEntry entry = { 0 };

    if (table[i].option == NULL ||
        (names != NULL && !g_strv_contains (names, table[i].name)))
      continue;
    entry.long_name = table[i].option;
    entry.short_name = table[i].short_option;
    entry.flags = table[i].type == WP_SETTING_BOOL   ? G_OPTION_FLAG_NO_ARG
                  : table[i].type == WP_SETTING_PATH ? G_OPTION_FLAG_FILENAME
                                                     : 0;
    entry.arg = G_OPTION_ARG_CALLBACK;
    /* Through an integer: ISO C has no function-to-object pointer cast. */
    entry.arg_data = (gpointer) (guintptr) parse_setting_cb;
    entry.description = describe (cs, &table[i]);
    entry.arg_description = table[i].arg;
    g_ptr_array_add (cs->strings, (gpointer) entry.description);
    g_array_append_val (entries, entry);
  }
  for (const GOptionEntry *e = extra; e != NULL && e->long_name != NULL; e++)
    g_array_append_val (entries, *e);
  g_option_group_add_entries (group, (const GOptionEntry *) (gpointer) entries->data);
  return group;
}
