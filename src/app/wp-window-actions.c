#define G_LOG_DOMAIN "wp-window"

#include "wp-window-private.h"

#include <string.h>

#include "wp-file-chooser.h"

/* Whether model is one of the fine-tuning run's snapshots: weights no file holds. */
static gboolean
is_snapshot (WpWindow   *self,
             WpModelRef *model)
{
  WpTrainSession *session = wp_train_view_get_session (self->train_view);

  for (guint i = 0; i < wp_train_session_get_n_snapshots (session); i++) {
    if (wp_train_session_get_snapshot (session, i) == model)
      return TRUE;
  }
  return FALSE;
}

/* The methods as heatmap's --method names them. */
static char *
methods_option (const WpFigure *figure)
{
  GString *methods = g_string_new (NULL);

  if (figure->methods == NULL) {
    g_string_append (methods, wp_map_method_to_string (figure->style.method));
  } else {
    for (int m = 0; m < figure->n_methods; m++)
      g_string_append_printf (methods, "%s%s", m > 0 ? "," : "",
                              wp_map_method_to_string (figure->methods[m]));
  }
  if (figure->style.labels)
    g_string_append (methods, ",labels");
  return g_string_free (methods, FALSE);
}

/* The command line that draws the figure shown again, into out; NULL when the command line
 * cannot: weights from the fine-tuning run that no file holds, or BPE pieces (heatmap shows
 * words). */
static char *
figure_command (WpWindow       *self,
                const WpFigure *figure,
                const char     *out,
                int             width,
                int             height)
{
  const WpShown   *shown = self->shown;
  const gboolean   comparing = figure->other_maps != NULL;
  WpModelRef      *a = comparing ? shown->features->compare_model : shown->features->model;
  WpModelRef      *b = comparing ? shown->features->model : NULL;
  GString         *command;
  g_autofree char *methods = methods_option (figure);
  g_autofree char *number = NULL;

  if (figure->token_labels != NULL || a->model->path == NULL || is_snapshot (self, a) ||
      (b != NULL && (b->model->path == NULL || is_snapshot (self, b))))
    return NULL;
  command = g_string_new ("wordpatch-cli heatmap");
  wp_figure_append_option (command, "--model", a->model->path);
  if (b != NULL)
    wp_figure_append_option (command, "--compare", b->model->path);
  wp_figure_append_option (command, "--image", shown->features->picture->path);
  wp_figure_append_option (command, "--text", figure->caption);
  if (figure->words != NULL) {
    GString *words = g_string_new (NULL);

    for (int i = 0; i < figure->n_words; i++) {
      g_autofree char *label = wp_figure_dup_item_label (figure, figure->words[i]);

      g_string_append_printf (words, "%s%s", i > 0 ? "," : "", label);
    }
    wp_figure_append_option (command, "--tokens", words->str);
    g_string_free (words, TRUE);
  }
  wp_figure_append_option (command, "--method", methods);
  wp_figure_append_option (command, "--query",
                           shown->settings.query == WP_QUERY_PROMPT ? "prompt" : "token");
  if (shown->settings.query == WP_QUERY_PROMPT && shown->settings.template_text != NULL)
    wp_figure_append_option (command, "--template", shown->settings.template_text);
  if (shown->settings.surgery)
    wp_figure_append_option (command, "--surgery", NULL);
  if (shown->settings.legrad_layers > 0) {
    number = g_strdup_printf ("%d", shown->settings.legrad_layers);
    wp_figure_append_option (command, "--legrad-layers", number);
    g_clear_pointer (&number, g_free);
  }
  wp_figure_append_option (command, "--crop",
                           shown->settings.view.crop == WP_CROP_NONE ? "none" : "center");
  if (shown->settings.view.resolution > 0) {
    number = g_strdup_printf ("%d", shown->settings.view.resolution);
    wp_figure_append_option (command, "--resolution", number);
    g_clear_pointer (&number, g_free);
  }
  wp_figure_append_option (command, "--colormap", wp_colormap_to_string (figure->style.colormap));
  if (figure->style.fixed_scale) {
    number = g_strdup_printf ("fixed:%.17g,%.17g", figure->style.lo, figure->style.hi);
    wp_figure_append_option (command, "--scale", number);
    g_clear_pointer (&number, g_free);
  }
  number = g_strdup_printf ("%.6g", figure->style.opacity);
  wp_figure_append_option (command, "--opacity", number);
  g_clear_pointer (&number, g_free);
  if (figure->style.grid)
    wp_figure_append_option (command, "--grid", NULL);
  if (figure->style.smooth)
    wp_figure_append_option (command, "--smooth", NULL);
  if (figure->style.patch_grid)
    wp_figure_append_option (command, "--patch-grid", NULL);
  number = g_strdup_printf ("%d", width);
  wp_figure_append_option (command, "--width", number);
  g_clear_pointer (&number, g_free);
  number = g_strdup_printf ("%d", height);
  wp_figure_append_option (command, "--height", number);
  wp_figure_append_option (command, "--out", out);
  return g_string_free (command, FALSE);
}

static char *
weights_sha256 (const WpModel *model)
{
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) model->params,
                                      model->n_params * sizeof (float));
}

gboolean
wp_window_export (WpWindow   *self,
                  const char *path,
                  int         width,
                  int         height,
                  GError    **error)
{
  /* What the view shows is what is written. */
  const WpFigure *figure = wp_image_view_get_figure (self->image_view);
  g_autoptr (GHashTable) text = NULL;
  g_autofree char *command = NULL;
  const char      *image_path;

  if (figure->maps == NULL || self->shown == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_PENDING, "%s: nothing to export yet", path);
    return FALSE;
  }
  image_path = self->shown->features->picture->path;
  command = figure_command (self, figure, path, width, height);
  /* Hashed at export only: large models take a moment. */
  if (figure->other_maps != NULL) {
    const WpModel *baseline = self->shown->features->compare_model->model;
    const WpModel *model = self->shown->features->model->model;

    text = wp_figure_new_png_text (figure, baseline, NULL, image_path, command);
    g_hash_table_insert (text, "wordpatch.model_sha256", weights_sha256 (baseline));
    g_hash_table_insert (text, "wordpatch.compare_model",
                         g_strdup (model->path != NULL ? model->path : "(unsaved)"));
    g_hash_table_insert (text, "wordpatch.compare_model_sha256", weights_sha256 (model));
  } else {
    g_autofree char *sha256 = weights_sha256 (self->shown->features->model->model);

    text = wp_figure_new_png_text (figure, self->shown->features->model->model, sha256,
                                   image_path, command);
  }
  if (!wp_figure_export (figure, path, width, height, text, error))
    return FALSE;
  g_free (self->export_folder);
  self->export_folder = g_path_get_dirname (path);
  return TRUE;
}

/* A name for the figure: the model's folder, the caption's first words, the method, as
 * "model_a-red-ball_legrad.png". */
static char *
default_export_name (WpWindow *self)
{
  const WpFigure  *figure = wp_image_view_get_figure (self->image_view);
  g_autofree char *model =
    self->model != NULL && self->model->model->path != NULL
      ? g_path_get_basename (self->model->model->path)
      : g_strdup ("wordpatch");
  g_autofree char *methods = figure->maps != NULL ? methods_option (figure) : g_strdup ("maps");
  GString         *name = g_string_new (NULL);
  GString         *slug = g_string_new (NULL);

  for (const char *p = figure->caption != NULL ? figure->caption : ""; *p != '\0' && slug->len < 32;
       p++) {
    if (g_ascii_isalnum (*p))
      g_string_append_c (slug, g_ascii_tolower (*p));
    else if (slug->len > 0 && slug->str[slug->len - 1] != '-')
      g_string_append_c (slug, '-');
  }
  while (slug->len > 0 && slug->str[slug->len - 1] == '-')
    g_string_truncate (slug, slug->len - 1);
  g_strdelimit (methods, ",", '-');
  g_string_append_printf (name, "%s%s%s_%s.png", model, slug->len > 0 ? "_" : "", slug->str,
                          methods);
  g_string_free (slug, TRUE);
  return g_string_free (name, FALSE);
}

/* ---- file choosers ---- */

/* The actions that ask for a file to open first. */
static const struct {
  const char          *action;
  const char          *title;
  GtkFileChooserAction mode;
} choosers[] = {
  { "win.open-image", "Open Image", GTK_FILE_CHOOSER_ACTION_OPEN },
  { "win.open-model", "Open Model Folder", GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER },
  { "win.compare-model", "Compare with a Model Folder (the baseline)",
    GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER },
};

static void
file_chosen_cb (GtkWidget  *widget,
                const char *path,
                gpointer    action)
{
  WpWindow *self = WP_WINDOW (widget);

  if (g_strcmp0 (action, "win.open-model") == 0)
    wp_window_open_model (self, path);
  else if (g_strcmp0 (action, "win.compare-model") == 0)
    wp_window_compare_model (self, path);
  else
    wp_window_open_image (self, path);
}

static void
chooser_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  for (gsize i = 0; i < G_N_ELEMENTS (choosers); i++) {
    if (strcmp (choosers[i].action, action_name) == 0)
      wp_file_chooser_run (widget, choosers[i].title, choosers[i].mode, file_chosen_cb,
                           (gpointer) choosers[i].action);
  }
}

/* A bundled model by its folder in the data ("model": FILIP-trained, "model-clip": trained with
 * the CLIP objective, where the raw map fails and the other methods show why). */
static void
open_bundled_action (GtkWidget  *widget,
                     const char *action_name,
                     GVariant   *parameter)
{
  WpWindow        *self = WP_WINDOW (widget);
  const char      *name = g_variant_get_string (parameter, NULL);
  g_autofree char *dir = wp_data_find (name);

  if (dir == NULL) {
    g_autofree char *message = g_strdup_printf ("%s: no such bundled model here", name);

    wp_window_set_status (self, message);
    return;
  }
  wp_window_open_model (self, dir);
}

static void
export_chosen_cb (GtkWidget  *widget,
                  const char *path,
                  gpointer    user_data)
{
  WpWindow *self = WP_WINDOW (widget);
  g_autoptr (GError) error = NULL;

  if (!wp_window_export (self, path, WP_FIGURE_DEFAULT_WIDTH, WP_FIGURE_DEFAULT_HEIGHT, &error))
    wp_window_set_status (self, error->message);
  else
    wp_window_set_status (self, path);
}

static void
export_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  g_autofree char *name = default_export_name (WP_WINDOW (widget));

  wp_file_chooser_save_figure (widget, "Export Figure", WP_WINDOW (widget)->export_folder, name,
                               export_chosen_cb, NULL);
}

/* ---- the clipboard ---- */

static void
paste_texture_cb (GObject      *clipboard,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr (WpWindow) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GdkTexture) texture =
    gdk_clipboard_read_texture_finish (GDK_CLIPBOARD (clipboard), result, &error);
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "wordpatch", NULL);
  g_autofree char *path = g_build_filename (dir, "pasted.png", NULL);

  self->pending--;
  if (texture == NULL) {
    wp_window_set_status (self, "the clipboard holds no image");
    return;
  }
  /* The pipeline reads files: the pasted image becomes one in the cache folder. */
  if (g_mkdir_with_parents (dir, 0755) != 0 || !gdk_texture_save_to_png (texture, path)) {
    g_autofree char *message = g_strdup_printf ("%s: cannot save the pasted image", path);

    wp_window_set_status (self, message);
    return;
  }
  wp_window_open_image (self, path);
}

static void
paste_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  GdkClipboard *clipboard = gtk_widget_get_clipboard (widget);

  WP_WINDOW (widget)->pending++;
  gdk_clipboard_read_texture_async (clipboard, NULL, paste_texture_cb, g_object_ref (widget));
}

/* ---- comparison ---- */

/* The weights the fine-tuning run started from (its first snapshot) become the baseline. */
static void
compare_start_action (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  WpWindow        *self = WP_WINDOW (widget);
  WpTrainSession  *session = wp_train_view_get_session (self->train_view);
  g_autofree char *label = NULL;
  WpModelRef      *start;

  if (wp_train_session_get_n_snapshots (session) == 0) {
    wp_window_set_status (self, "no fine-tuning run yet: start one in the Fine-Tune page");
    return;
  }
  start = wp_train_session_get_snapshot (session, 0);
  label = g_strdup_printf ("run start, step %" G_GINT64_FORMAT, start->model->step);
  wp_window_set_compare_model (self, start, label);
}

static void
compare_off_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  wp_window_set_compare_model (WP_WINDOW (widget), NULL, NULL);
}

static void
about_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  static const char *const authors[] = { "The wordpatch developers", NULL };

  gtk_show_about_dialog (GTK_WINDOW (widget), "program-name", "wordpatch", "version", WP_VERSION,
                         "logo-icon-name", "org.wordpatch.App", "comments",
                         "Which image patches does each word of a caption align with? Word maps "
                         "of CLIP-style models by nine methods, FILIP and SPARC fine-tuning, in C.",
                         "license-type", GTK_LICENSE_MIT_X11, "authors", authors, NULL);
}

void
wp_window_class_actions_init (WpWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  for (gsize i = 0; i < G_N_ELEMENTS (choosers); i++)
    gtk_widget_class_install_action (widget_class, choosers[i].action, NULL, chooser_action);
  gtk_widget_class_install_action (widget_class, "win.export", NULL, export_action);
  gtk_widget_class_install_action (widget_class, "win.open-bundled", "s", open_bundled_action);
  gtk_widget_class_install_action (widget_class, "win.compare-start", NULL, compare_start_action);
  gtk_widget_class_install_action (widget_class, "win.compare-off", NULL, compare_off_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_m, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "win.compare-model", NULL);
  gtk_widget_class_install_action (widget_class, "win.about", NULL, about_action);
  gtk_widget_class_install_action (widget_class, "win.paste-image", NULL, paste_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_v, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "win.paste-image", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, GDK_CONTROL_MASK, "win.open-image",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_m, GDK_CONTROL_MASK, "win.open-model",
                                       NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F1, 0, "win.about", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_e, GDK_CONTROL_MASK, "win.export",
                                       NULL);
}
