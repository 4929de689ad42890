#define G_LOG_DOMAIN "wp-window"

#include "wp-window.h"

#include <string.h>

#include "wp-window-private.h"

G_DEFINE_FINAL_TYPE (WpWindow, wp_window, GTK_TYPE_APPLICATION_WINDOW)

/* The resolution drop-down's entries: the model's own size, twice it, three times it. */
static const int resolution_factors[] = { 1, 2, 3 };

void
wp_window_set_status (WpWindow   *self,
                      const char *status)
{
  g_free (self->status);
  self->status = g_strdup (status != NULL ? status : "");
  gtk_label_set_text (self->status_label, self->status);
  /* The line is cut to fit the window; the whole of it stays one hover away. */
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->status_label), self->status);
}

char *
wp_window_describe_model (const WpModel *model)
{
  g_autofree char *name =
    model->path != NULL ? g_path_get_basename (model->path) : g_strdup ("new model");
  const char      *objective = model->config.objective;
  g_autofree char *kind = objective != NULL ? g_ascii_strup (objective, -1) : NULL;

  /* A model trained elsewhere records no objective: where it came from says more. */
  return g_strdup_printf ("%s · %s · step %" G_GINT64_FORMAT, name,
                          kind != NULL ? kind : wp_model_format_to_string (model->format),
                          model->step);
}

/* The window's title and the header's subtitle name the model the page shows. */
void
wp_window_update_title (WpWindow *self)
{
  g_autofree char *title = NULL;
  g_autofree char *summary = NULL;
  g_autofree char *tooltip = NULL;

  if (self->model_label == NULL) {
    gtk_window_set_title (GTK_WINDOW (self), "wordpatch");
    gtk_label_set_text (self->subtitle_label, "no model");
    return;
  }
  title = g_strdup_printf ("wordpatch — %s", self->model_label);
  gtk_window_set_title (GTK_WINDOW (self), title);
  gtk_label_set_text (self->subtitle_label, self->model_label);
  summary = wp_model_dup_summary (self->model->model);
  tooltip = g_strdup_printf ("%s\n%s",
                             self->model->model->path != NULL ? self->model->model->path
                                                              : self->model_label,
                             summary);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->subtitle_label), tooltip);
}

/* The resolution choices say what they are for this model. */
static void
update_resolution_labels (WpWindow *self)
{
  GtkStringList *list = GTK_STRING_LIST (gtk_drop_down_get_model (self->resolution_dropdown));
  const int      size = self->model != NULL ? self->model->model->config.image_size : 0;
  const guint    selected = gtk_drop_down_get_selected (self->resolution_dropdown);
  char          *labels[G_N_ELEMENTS (resolution_factors) + 1] = { NULL };

  for (gsize i = 0; i < G_N_ELEMENTS (resolution_factors); i++)
    labels[i] = resolution_factors[i] == 1
                  ? g_strdup_printf ("the model's size, %d px", size)
                  : g_strdup_printf ("%d× the model's size, %d px", resolution_factors[i],
                                     resolution_factors[i] * size);
  self->updating_controls = TRUE;
  gtk_string_list_splice (list, 0, g_list_model_get_n_items (G_LIST_MODEL (list)),
                          (const char *const *) labels);
  gtk_drop_down_set_selected (self->resolution_dropdown, selected);
  self->updating_controls = FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (resolution_factors); i++)
    g_free (labels[i]);
}

void
wp_window_set_model (WpWindow   *self,
                     WpModelRef *model,
                     const char *label)
{
  if (self->model == model)
    return;
  g_clear_pointer (&self->model, wp_model_ref_release);
  self->model = wp_model_ref_acquire (model);
  g_clear_pointer (&self->prompts, wp_prompts_unref);
  self->prompts = wp_prompts_new (model);
  g_free (self->model_label);
  self->model_label = g_strdup (label);
  wp_window_update_title (self);
  update_resolution_labels (self);
  /* The resolution is a multiple of this model's size. */
  wp_window_read_settings (self);
  wp_window_recompute (self);
}

void
wp_window_set_compare_model (WpWindow   *self,
                             WpModelRef *model,
                             const char *label)
{
  g_clear_pointer (&self->compare_model, wp_model_ref_release);
  self->compare_model = model != NULL ? wp_model_ref_acquire (model) : NULL;
  g_clear_pointer (&self->compare_prompts, wp_prompts_unref);
  self->compare_prompts = wp_prompts_new (model);
  g_free (self->compare_label);
  self->compare_label = g_strdup (label);
  /* Methods side by side are not drawn while two models are. */
  gtk_widget_set_sensitive (GTK_WIDGET (self->side_by_side_check), model == NULL);
  wp_window_read_settings (self);
  wp_window_recompute (self);
}

/* A model loaded or its error: said in the window. */
static WpModel *
load_model (WpWindow   *self,
            const char *path)
{
  g_autoptr (GError) error = NULL;
  WpModel *model = wp_model_load (path, &error);

  if (model == NULL)
    wp_window_set_status (self, error->message);
  return model;
}

void
wp_window_open_model (WpWindow   *self,
                      const char *path)
{
  WpModel *model = load_model (self, path);
  g_autoptr (WpModelRef) ref = NULL;
  g_autofree char *label = NULL;

  if (model == NULL)
    return;
  ref = wp_model_ref_new (model);
  label = wp_window_describe_model (model);
  /* A model the user opens stays, whatever training does next; its maps start with the query
   * kind that suits it. */
  self->live = FALSE;
  self->updating_controls = TRUE;
  gtk_drop_down_set_selected (self->query_dropdown,
                              wp_map_default_query (model) == WP_QUERY_PROMPT ? 1 : 0);
  self->updating_controls = FALSE;
  wp_window_set_model (self, ref, label);
  wp_train_view_set_model (self->train_view, ref);
}

void
wp_window_compare_model (WpWindow   *self,
                         const char *path)
{
  WpModel *model = path != NULL ? load_model (self, path) : NULL;
  g_autoptr (WpModelRef) ref = NULL;
  g_autofree char *label = NULL;

  if (path != NULL && model == NULL)
    return;
  if (model != NULL) {
    ref = wp_model_ref_new (model);
    label = wp_window_describe_model (model);
  }
  wp_window_set_compare_model (self, ref, label);
}

gboolean
wp_window_is_comparing (WpWindow *self)
{
  return self->shown != NULL && self->shown->compare_maps != NULL;
}

void
wp_window_set_caption (WpWindow   *self,
                       const char *caption)
{
  gtk_editable_set_text (GTK_EDITABLE (self->caption_entry), caption);
}

gboolean
wp_window_select_word (WpWindow   *self,
                       const char *word)
{
  return wp_word_bar_select_word (self->word_bar, word);
}

gboolean
wp_window_select_piece (WpWindow   *self,
                        const char *word,
                        int         piece)
{
  return wp_word_bar_select_piece (self->word_bar, word, piece);
}

gboolean
wp_window_is_idle (WpWindow *self)
{
  return self->pending == 0;
}

const char *
wp_window_get_status (WpWindow *self)
{
  return self->status != NULL ? self->status : "";
}

const char *
wp_window_get_scores (WpWindow *self)
{
  return self->scores != NULL ? self->scores : "";
}

/* ---- the caption and the page's settings ---- */

static void
caption_changed_cb (WpWindow *self)
{
  wp_window_recompute (self);
}

/* The methods checked for the side-by-side view, in WpMapMethod order. */
static void
read_side_methods (WpWindow *self)
{
  int m = 0;

  self->n_side_methods = 0;
  for (GtkWidget *child = gtk_widget_get_first_child (self->side_methods_box); child != NULL;
       child = gtk_widget_get_next_sibling (child), m++) {
    if (m < WP_N_MAP_METHODS && gtk_check_button_get_active (GTK_CHECK_BUTTON (child)))
      self->side_methods[self->n_side_methods++] = (WpMapMethod) m;
  }
}

/* The controls into the settings and the style; what the maps need into settings.methods. */
void
wp_window_read_settings (WpWindow *self)
{
  const double lo = gtk_spin_button_get_value (self->scale_lo_spin),
               hi = gtk_spin_button_get_value (self->scale_hi_spin);
  const char *template_text = gtk_editable_get_text (GTK_EDITABLE (self->template_entry));
  const guint resolution = gtk_drop_down_get_selected (self->resolution_dropdown);
  const int   size = self->model != NULL ? self->model->model->config.image_size : 0;

  /* The drop-down lists the methods in WpMapMethod order. */
  self->style.method =
    (WpMapMethod) MIN (gtk_drop_down_get_selected (self->method_dropdown), WP_N_MAP_METHODS - 1);
  self->style.labels = gtk_toggle_button_get_active (self->labels_toggle);
  self->style.grid = gtk_toggle_button_get_active (self->grid_toggle);
  self->style.colormap = (WpColormap) gtk_drop_down_get_selected (self->colormap_dropdown);
  self->style.opacity = gtk_range_get_value (GTK_RANGE (self->opacity_scale));
  self->style.smooth = gtk_check_button_get_active (self->smooth_check);
  self->style.patch_grid = gtk_check_button_get_active (self->patch_grid_check);
  /* A fixed scale needs lo < hi; otherwise each map keeps its own. */
  self->style.fixed_scale = gtk_check_button_get_active (self->fixed_scale_check) && lo < hi;
  self->style.lo = lo;
  self->style.hi = hi;
  self->side_by_side = gtk_check_button_get_active (self->side_by_side_check);
  read_side_methods (self);

  self->settings.methods = WP_MAP_BIT (WP_MAP_FILIP) | WP_MAP_BIT (self->style.method);
  for (int i = 0; self->side_by_side && self->compare_model == NULL && i < self->n_side_methods;
       i++)
    self->settings.methods |= WP_MAP_BIT (self->side_methods[i]);
  self->settings.query =
    gtk_drop_down_get_selected (self->query_dropdown) == 1 ? WP_QUERY_PROMPT : WP_QUERY_TOKEN;
  g_clear_pointer (&self->settings.template_text, g_free);
  /* A template without "{}" would put no word in the prompt: the default until it has one. */
  if (strstr (template_text, "{}") != NULL)
    self->settings.template_text = g_strdup (template_text);
  if (template_text[0] != '\0' && self->settings.template_text == NULL)
    gtk_widget_add_css_class (GTK_WIDGET (self->template_entry), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->template_entry), "error");
  self->settings.surgery = gtk_check_button_get_active (self->surgery_check);
  self->settings.legrad_layers = gtk_spin_button_get_value_as_int (self->legrad_layers_spin);
  self->settings.view.crop =
    gtk_drop_down_get_selected (self->crop_dropdown) == 1 ? WP_CROP_CENTER : WP_CROP_NONE;
  self->settings.view.resolution =
    resolution < G_N_ELEMENTS (resolution_factors) && resolution_factors[resolution] > 1
      ? resolution_factors[resolution] * size
      : 0;
  gtk_widget_set_sensitive (GTK_WIDGET (self->template_entry),
                            self->settings.query == WP_QUERY_PROMPT);
}

/* Drawing only: the maps stay. */
static void
style_changed_cb (WpWindow *self)
{
  if (self->updating_controls)
    return;
  wp_window_read_settings (self);
  wp_window_update_view (self);
}

/* What the maps are computed with: they are computed again (the image's features only when
 * they must be). */
static void
settings_changed_cb (WpWindow *self)
{
  style_changed_cb (self);
  if (!self->updating_controls)
    wp_window_recompute (self);
}

static void
close_response_cb (GtkDialog *dialog,
                   int        response,
                   WpWindow  *self)
{
  self->close_dialog = NULL;
  gtk_window_destroy (GTK_WINDOW (dialog));
  if (response != GTK_RESPONSE_ACCEPT)
    return;
  /* The window goes once the run has written its checkpoint (train_state_changed_cb). */
  self->close_after_stop = TRUE;
  wp_window_set_status (self, "stopping training and writing a checkpoint…");
  wp_train_session_stop (wp_train_view_get_session (self->train_view));
}

static gboolean
wp_window_close_request (GtkWindow *window)
{
  WpWindow  *self = WP_WINDOW (window);
  GtkWidget *dialog;

  if (!wp_train_session_is_active (wp_train_view_get_session (self->train_view)))
    return GTK_WINDOW_CLASS (wp_window_parent_class)->close_request (window);
  if (self->close_after_stop || self->close_dialog != NULL)
    return TRUE;
  dialog = gtk_message_dialog_new (window, GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                   GTK_MESSAGE_QUESTION, GTK_BUTTONS_NONE, "Training is running");
  gtk_message_dialog_format_secondary_text (
    GTK_MESSAGE_DIALOG (dialog),
    "Stop it, write a checkpoint of the current weights, and close? Start with the same output "
    "folder continues the run later, as wordpatch-cli train --resume does.");
  gtk_dialog_add_buttons (GTK_DIALOG (dialog), "Keep Training", GTK_RESPONSE_CANCEL,
                          "Stop, Save and Close", GTK_RESPONSE_ACCEPT, NULL);
  g_signal_connect (dialog, "response", G_CALLBACK (close_response_cb), self);
  self->close_dialog = dialog;
  gtk_window_present (GTK_WINDOW (dialog));
  return TRUE;
}

static gboolean
drop_cb (GtkDropTarget *target,
         const GValue  *value,
         double         x,
         double         y,
         WpWindow      *self)
{
  g_autofree char *path = g_file_get_path (g_value_get_object (value));

  if (path == NULL)
    return FALSE;
  wp_window_open_image (self, path);
  return TRUE;
}

/* The bundled model and the first bundled demo scene with its caption. */
static void
open_default (WpWindow *self)
{
  g_autofree char *model_dir = wp_model_find_default ();
  g_autofree char *demo_dir = wp_data_find ("demo/scenes");
  g_autoptr (WpDataset) demo = demo_dir != NULL ? wp_dataset_open (demo_dir, NULL) : NULL;

  if (model_dir == NULL) {
    wp_window_set_status (self, "no bundled model found: open a model folder");
    return;
  }
  wp_window_open_model (self, model_dir);
  if (demo != NULL) {
    const WpPair *pair = wp_dataset_get_pair (demo, MIN (3, wp_dataset_get_n_pairs (demo) - 1));

    wp_window_open_image (self, pair->image_path);
    wp_window_set_caption (self, pair->caption);
  }
}

/* One check button a method for the side-by-side view, named as figures name it (FILIP's and
 * SPARC's raw maps by their maps' titles); FILIP's, MaskCLIP's, ClearCLIP's and LeGrad's checked:
 * the raw map beside two training-free ones and a gradient one. */
static void
add_side_method_checks (WpWindow *self)
{
  const guint checked = WP_MAP_BIT (WP_MAP_FILIP) | WP_MAP_BIT (WP_MAP_MASKCLIP) |
                        WP_MAP_BIT (WP_MAP_CLEARCLIP) | WP_MAP_BIT (WP_MAP_LEGRAD);

  for (int m = 0; m < WP_N_MAP_METHODS; m++) {
    g_autofree char *label = m == WP_MAP_FILIP || m == WP_MAP_SPARC
                               ? wp_figure_map_title ((WpMapMethod) m, FALSE)
                               : g_strdup (wp_figure_method_name ((WpMapMethod) m));
    GtkWidget       *check = gtk_check_button_new_with_label (label);

    gtk_check_button_set_active (GTK_CHECK_BUTTON (check), (checked & WP_MAP_BIT (m)) != 0);
    g_signal_connect_swapped (check, "toggled", G_CALLBACK (settings_changed_cb), self);
    gtk_box_append (GTK_BOX (self->side_methods_box), check);
  }
}

/* The page's style sheet and the app's icon (for the About dialog when not installed), once a
 * process. */
static void
load_style (WpWindow *self)
{
  static gsize    loaded;
  GdkDisplay     *display = gtk_widget_get_display (GTK_WIDGET (self));
  GtkCssProvider *provider;

  if (!g_once_init_enter (&loaded))
    return;
  provider = gtk_css_provider_new ();
  gtk_css_provider_load_from_resource (provider, "/org/wordpatch/app/style.css");
  gtk_style_context_add_provider_for_display (display, GTK_STYLE_PROVIDER (provider),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
  g_object_unref (provider);
  gtk_icon_theme_add_resource_path (gtk_icon_theme_get_for_display (display),
                                    "/org/wordpatch/app/icons");
  g_once_init_leave (&loaded, 1);
}

static void
wp_window_dispose (GObject *object)
{
  WpWindow *self = WP_WINDOW (object);

  g_cancellable_cancel (self->image_cancellable);
  g_cancellable_cancel (self->maps_cancellable);
  if (self->train_view != NULL)
    g_signal_handlers_disconnect_by_data (wp_train_view_get_session (self->train_view), self);
  gtk_widget_dispose_template (GTK_WIDGET (self), WP_TYPE_WINDOW);
  G_OBJECT_CLASS (wp_window_parent_class)->dispose (object);
}

static void
wp_window_finalize (GObject *object)
{
  WpWindow *self = WP_WINDOW (object);

  g_clear_object (&self->image_cancellable);
  g_clear_object (&self->maps_cancellable);
  g_clear_pointer (&self->shown, wp_shown_free);
  g_clear_pointer (&self->features, wp_features_unref);
  g_clear_pointer (&self->picture, wp_picture_unref);
  g_clear_pointer (&self->model, wp_model_ref_release);
  g_clear_pointer (&self->compare_model, wp_model_ref_release);
  g_clear_pointer (&self->prompts, wp_prompts_unref);
  g_clear_pointer (&self->compare_prompts, wp_prompts_unref);
  wp_map_settings_clear (&self->settings);
  g_free (self->model_label);
  g_free (self->compare_label);
  g_free (self->image_path);
  g_free (self->status);
  g_free (self->scores);
  g_free (self->export_folder);
  G_OBJECT_CLASS (wp_window_parent_class)->finalize (object);
}

static void
wp_window_class_init (WpWindowClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = wp_window_dispose;
  object_class->finalize = wp_window_finalize;
  GTK_WINDOW_CLASS (klass)->close_request = wp_window_close_request;
  g_type_ensure (WP_TYPE_IMAGE_VIEW);
  g_type_ensure (WP_TYPE_TRAIN_VIEW);
  g_type_ensure (WP_TYPE_WORD_BAR);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/wordpatch/app/wp-window.ui");
  gtk_widget_class_bind_template_child (widget_class, WpWindow, subtitle_label);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, caption_entry);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, word_bar);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, image_view);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, scores_label);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, readout_label);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, status_label);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, method_dropdown);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, labels_toggle);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, grid_toggle);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, side_by_side_check);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, side_methods_box);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, query_dropdown);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, template_entry);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, surgery_check);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, legrad_layers_spin);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, crop_dropdown);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, resolution_dropdown);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, colormap_dropdown);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, opacity_scale);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, smooth_check);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, patch_grid_check);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, fixed_scale_check);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, scale_lo_spin);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, scale_hi_spin);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, train_view);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, snapshot_box);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, snapshot_label);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, snapshot_scale);
  gtk_widget_class_bind_template_callback (widget_class, style_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, settings_changed_cb);
  wp_window_class_actions_init (klass);
}

static void
wp_window_init (WpWindow *self)
{
  GtkDropTarget *drop = gtk_drop_target_new (G_TYPE_FILE, GDK_ACTION_COPY);

  gtk_widget_init_template (GTK_WIDGET (self));
  load_style (self);
  wp_figure_style_init (&self->style);
  add_side_method_checks (self);
  wp_window_read_settings (self);
  g_signal_connect_swapped (self->caption_entry, "changed", G_CALLBACK (caption_changed_cb), self);
  g_signal_connect_swapped (self->word_bar, "changed", G_CALLBACK (wp_window_update_view), self);
  g_signal_connect (drop, "drop", G_CALLBACK (drop_cb), self);
  wp_window_follow_training (self);
  gtk_widget_add_controller (GTK_WIDGET (self->image_view), GTK_EVENT_CONTROLLER (drop));
  open_default (self);
}

WpWindow *
wp_window_new (GtkApplication *application)
{
  return g_object_new (WP_TYPE_WINDOW, "application", application, NULL);
}
