#define G_LOG_DOMAIN "wp-window"

#include "wp-window.h"

#include <math.h>

#include "wp-window-private.h"
#include "wp-worker.h"

G_DEFINE_FINAL_TYPE (WpWindow, wp_window, GTK_TYPE_APPLICATION_WINDOW)

void
wp_window_set_status (WpWindow   *self,
                      const char *status)
{
  g_free (self->status);
  self->status = g_strdup (status != NULL ? status : "");
  gtk_label_set_text (self->status_label, self->status);
}

/* ---- maps, scores, the figure ---- */

static char *
format_scores (const WpImageEmbedding *image,
               const WpTextEmbedding  *text,
               const WpWordMaps       *maps)
{
  double global = 0.0, image_to_text = 0.0, text_to_image = 0.0;

  for (int e = 0; e < image->dim; e++)
    global += (double) image->global[e] * text->global[e];
  wp_word_maps_get_filip_scores (maps, &image_to_text, &text_to_image);
  return g_strdup_printf ("global cosine %.3f    FILIP image→text %.3f    "
                          "FILIP text→image %.3f",
                          global, image_to_text, text_to_image);
}

static void
update_scores (WpWindow *self)
{
  g_clear_pointer (&self->scores, g_free);
  if (self->maps != NULL && self->compare_maps != NULL) {
    g_autofree char *a =
      format_scores (self->compare_image_embedding, self->compare_text, self->compare_maps);
    g_autofree char *b = format_scores (self->image_embedding, self->text, self->maps);

    self->scores = g_strdup_printf ("A: %s\nB: %s", a, b);
  } else if (self->maps != NULL) {
    self->scores = format_scores (self->image_embedding, self->text, self->maps);
  }
  gtk_label_set_text (self->scores_label, self->scores != NULL ? self->scores : "");
}

/* Called whenever anything the figure shows changes: the view borrows the maps and labels. */
static void
update_view (WpWindow *self)
{
  gboolean pieces;
  g_autoptr (GArray) words = wp_word_bar_dup_shown (self->word_bar, &pieces);
  WpFigure figure = { 0 };

  figure.image = self->image;
  figure.maps = self->maps;
  figure.caption = gtk_editable_get_text (GTK_EDITABLE (self->caption_entry));
  figure.words = words->len > 0 ? (const int *) words->data : NULL;
  figure.n_words = (int) words->len;
  figure.style = self->style;
  figure.token_labels = pieces ? (const char *const *) self->token_labels->pdata : NULL;
  if (self->compare_maps != NULL && self->maps != NULL) {
    figure.maps = self->compare_maps;
    figure.other_maps = self->maps;
    figure.label = self->compare_label;
    figure.other_label = self->model_label;
  }
  wp_image_view_set_figure (self->image_view, &figure);
}

static void
update_maps (WpWindow *self)
{
  g_clear_pointer (&self->maps, wp_word_maps_free);
  g_clear_pointer (&self->compare_maps, wp_word_maps_free);
  if (self->compare_model != NULL && self->compare_image_embedding != NULL &&
      self->compare_text != NULL)
    self->compare_maps = wp_word_maps_new (self->compare_model->model,
                                           self->compare_image_embedding, self->compare_text);
  g_ptr_array_set_size (self->token_labels, 0);
  if (self->image_embedding != NULL && self->text != NULL) {
    self->maps = wp_word_maps_new (self->model->model, self->image_embedding, self->text);
    for (int t = 0; t < self->text->n_tokens; t++)
      g_ptr_array_add (self->token_labels, wp_tokenizer_dup_token_text (
                                             self->model->model->tokenizer, self->text->ids[t]));
  }
  wp_word_bar_set_words (self->word_bar, self->maps,
                         (const char *const *) self->token_labels->pdata);
  update_scores (self);
  update_view (self);
}

/* ---- workers ---- */

typedef struct {
  WpModelRef       *model;
  WpModelRef       *compare_model; /* NULL when not comparing */
  char             *path;
  char             *caption;
  WpImage          *image;
  WpImageEmbedding *image_embedding;
  WpImageEmbedding *compare_image_embedding;
  WpTextEmbedding  *text;
  WpTextEmbedding  *compare_text;
} Work;

static void
work_free (gpointer data)
{
  Work *work = data;

  g_clear_pointer (&work->model, wp_model_ref_release);
  g_clear_pointer (&work->compare_model, wp_model_ref_release);
  g_clear_pointer (&work->compare_image_embedding, wp_image_embedding_free);
  g_clear_pointer (&work->compare_text, wp_text_embedding_free);
  g_free (work->path);
  g_free (work->caption);
  g_clear_pointer (&work->image, wp_image_free);
  g_clear_pointer (&work->image_embedding, wp_image_embedding_free);
  g_clear_pointer (&work->text, wp_text_embedding_free);
  g_free (work);
}

static void
embed_image_worker (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  Work   *work = task_data;
  GError *error = NULL;

  work->image = wp_image_load (work->path, &error);
  if (work->image == NULL) {
    g_task_return_error (task, error);
    return;
  }
  if (!g_task_return_error_if_cancelled (task)) {
    work->image_embedding = wp_embed_image (work->model->model, work->image);
    if (work->compare_model != NULL)
      work->compare_image_embedding = wp_embed_image (work->compare_model->model, work->image);
    g_task_return_boolean (task, TRUE);
  }
}

static void
embed_text_worker (GTask        *task,
                   gpointer      source_object,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  Work *work = task_data;

  work->text = wp_embed_text (work->model->model, work->caption);
  if (work->compare_model != NULL)
    work->compare_text = wp_embed_text (work->compare_model->model, work->caption);
  g_task_return_boolean (task, TRUE);
}

static void start_text (WpWindow *self);

static void
image_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  WpWindow *self = WP_WINDOW (source);
  GTask    *task = G_TASK (result);
  Work     *work = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;

  self->pending--;
  if (!g_task_propagate_boolean (task, &error)) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      wp_window_set_status (self, error->message);
    return;
  }
  if (g_task_get_cancellable (task) != self->image_cancellable)
    return;
  g_clear_pointer (&self->image, wp_image_free);
  g_clear_pointer (&self->image_embedding, wp_image_embedding_free);
  g_free (self->image_path);
  self->image_path = g_steal_pointer (&work->path);
  self->image = g_steal_pointer (&work->image);
  self->image_embedding = g_steal_pointer (&work->image_embedding);
  g_clear_pointer (&self->compare_image_embedding, wp_image_embedding_free);
  self->compare_image_embedding = g_steal_pointer (&work->compare_image_embedding);
  wp_window_set_status (self, self->image_path);
  update_maps (self);
}

static void
text_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  WpWindow *self = WP_WINDOW (source);
  GTask    *task = G_TASK (result);
  Work     *work = g_task_get_task_data (task);

  self->pending--;
  /* Only the newest caption's result is applied. */
  if (!g_task_propagate_boolean (task, NULL) ||
      g_task_get_cancellable (task) != self->text_cancellable)
    return;
  g_clear_pointer (&self->text, wp_text_embedding_free);
  self->text = g_steal_pointer (&work->text);
  g_clear_pointer (&self->compare_text, wp_text_embedding_free);
  self->compare_text = g_steal_pointer (&work->compare_text);
  update_maps (self);
}

static void
start_text (WpWindow *self)
{
  g_autoptr (GTask) task = NULL;
  Work *work;

  if (self->model == NULL)
    return;
  g_cancellable_cancel (self->text_cancellable);
  g_clear_object (&self->text_cancellable);
  self->text_cancellable = g_cancellable_new ();
  work = g_new0 (Work, 1);
  work->model = wp_model_ref_acquire (self->model);
  work->compare_model =
    self->compare_model != NULL ? wp_model_ref_acquire (self->compare_model) : NULL;
  work->caption = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->caption_entry)));
  task = g_task_new (self, self->text_cancellable, text_done_cb, NULL);
  g_task_set_task_data (task, work, work_free);
  g_task_set_name (task, "[wp] embed caption");
  self->pending++;
  wp_worker_run (task, embed_text_worker);
}

void
wp_window_open_image (WpWindow   *self,
                      const char *path)
{
  g_autoptr (GTask) task = NULL;
  Work *work;

  if (self->model == NULL)
    return;
  g_cancellable_cancel (self->image_cancellable);
  g_clear_object (&self->image_cancellable);
  self->image_cancellable = g_cancellable_new ();
  work = g_new0 (Work, 1);
  work->model = wp_model_ref_acquire (self->model);
  work->compare_model =
    self->compare_model != NULL ? wp_model_ref_acquire (self->compare_model) : NULL;
  work->path = g_strdup (path);
  task = g_task_new (self, self->image_cancellable, image_done_cb, NULL);
  g_task_set_task_data (task, work, work_free);
  g_task_set_name (task, "[wp] embed image");
  self->pending++;
  wp_window_set_status (self, "computing the image's patch embeddings…");
  wp_worker_run (task, embed_image_worker);
}

static char *
describe_model (const WpModel *model)
{
  g_autofree char *name =
    model->path != NULL ? g_path_get_basename (model->path) : g_strdup ("model");

  return g_strdup_printf ("%s, step %" G_GINT64_FORMAT, name, model->step);
}

/* Everything computed with the models is computed again: the image and the caption. */
static void
restart_embeddings (WpWindow *self)
{
  g_clear_pointer (&self->maps, wp_word_maps_free);
  g_clear_pointer (&self->compare_maps, wp_word_maps_free);
  g_clear_pointer (&self->image_embedding, wp_image_embedding_free);
  g_clear_pointer (&self->text, wp_text_embedding_free);
  g_clear_pointer (&self->compare_image_embedding, wp_image_embedding_free);
  g_clear_pointer (&self->compare_text, wp_text_embedding_free);
  update_view (self);
  if (self->image_path != NULL) {
    g_autofree char *image_path = g_strdup (self->image_path);

    wp_window_open_image (self, image_path);
  }
  start_text (self);
}

static void
set_model (WpWindow   *self,
           WpModelRef *model,
           const char *label)
{
  if (self->model == model)
    return;
  g_clear_pointer (&self->model, wp_model_ref_release);
  self->model = wp_model_ref_acquire (model);
  g_free (self->model_label);
  self->model_label = g_strdup (label);
  restart_embeddings (self);
}

void
wp_window_set_compare_model (WpWindow   *self,
                             WpModelRef *model,
                             const char *label)
{
  g_clear_pointer (&self->compare_model, wp_model_ref_release);
  self->compare_model = model != NULL ? wp_model_ref_acquire (model) : NULL;
  g_free (self->compare_label);
  self->compare_label = g_strdup (label);
  restart_embeddings (self);
}

void
wp_window_open_model (WpWindow   *self,
                      const char *path)
{
  g_autoptr (GError) error = NULL;
  WpModel *model = wp_model_load (path, &error);
  g_autoptr (WpModelRef) ref = NULL;
  g_autofree char *label = NULL;

  if (model == NULL) {
    wp_window_set_status (self, error->message);
    return;
  }
  ref = wp_model_ref_new (model);
  label = describe_model (model);
  /* A model the user opens stays, whatever training does next. */
  self->live = FALSE;
  set_model (self, ref, label);
  wp_train_view_set_model (self->train_view, ref);
}

void
wp_window_compare_model (WpWindow   *self,
                         const char *path)
{
  g_autoptr (GError) error = NULL;
  WpModel *model = path != NULL ? wp_model_load (path, &error) : NULL;
  g_autoptr (WpModelRef) ref = NULL;
  g_autofree char *label = NULL;

  if (path != NULL && model == NULL) {
    wp_window_set_status (self, error->message);
    return;
  }
  if (model != NULL) {
    ref = wp_model_ref_new (model);
    label = describe_model (model);
  }
  wp_window_set_compare_model (self, ref, label);
}

gboolean
wp_window_is_comparing (WpWindow *self)
{
  return self->compare_maps != NULL;
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

/* ---- the caption and the view's settings ---- */

static void
caption_changed_cb (WpWindow *self)
{
  start_text (self);
}

static void
style_changed_cb (WpWindow *self)
{
  const double lo = gtk_spin_button_get_value (self->scale_lo_spin),
               hi = gtk_spin_button_get_value (self->scale_hi_spin);

  /* The drop-down's entries: FILIP map, SPARC grouping, FILIP label map. */
  switch (gtk_drop_down_get_selected (self->method_dropdown)) {
  case 1:
    self->style.method = WP_MAP_SPARC;
    self->style.labels = FALSE;
    break;
  case 2:
    self->style.method = WP_MAP_FILIP;
    self->style.labels = TRUE;
    break;
  default:
    self->style.method = WP_MAP_FILIP;
    self->style.labels = FALSE;
    break;
  }
  self->style.grid = gtk_toggle_button_get_active (self->grid_toggle);
  self->style.colormap = (WpColormap) gtk_drop_down_get_selected (self->colormap_dropdown);
  self->style.opacity = gtk_range_get_value (GTK_RANGE (self->opacity_scale));
  self->style.smooth = gtk_check_button_get_active (self->smooth_check);
  self->style.patch_grid = gtk_check_button_get_active (self->patch_grid_check);
  /* A fixed scale needs lo < hi; otherwise each map keeps its own. */
  self->style.fixed_scale = gtk_check_button_get_active (self->fixed_scale_check) && lo < hi;
  self->style.lo = lo;
  self->style.hi = hi;
  update_view (self);
}

/* ---- following training ---- */

/* Live only while the run goes on: a paused or ended run says so. */
static char *
describe_snapshot (WpWindow *self,
                   gint64    step)
{
  const char *how = NULL;

  switch (wp_train_session_get_state (wp_train_view_get_session (self->train_view))) {
  case WP_TRAIN_STATE_PAUSING:
  case WP_TRAIN_STATE_PAUSED:
    how = "paused";
    break;
  case WP_TRAIN_STATE_STOPPING:
  case WP_TRAIN_STATE_STOPPED:
    how = "stopped";
    break;
  case WP_TRAIN_STATE_FINISHED:
    how = "finished";
    break;
  case WP_TRAIN_STATE_FAILED:
    how = "failed";
    break;
  case WP_TRAIN_STATE_IDLE:
  case WP_TRAIN_STATE_PREPARING:
  case WP_TRAIN_STATE_RUNNING:
    how = self->live ? "live" : NULL;
    break;
  }
  return how != NULL ? g_strdup_printf ("training %s, step %" G_GINT64_FORMAT, how, step)
                     : g_strdup_printf ("training, step %" G_GINT64_FORMAT, step);
}

static void
show_snapshot (WpWindow *self,
               guint     index)
{
  WpTrainSession  *session = wp_train_view_get_session (self->train_view);
  WpModelRef      *snapshot = wp_train_session_get_snapshot (session, index);
  g_autofree char *label = describe_snapshot (self, snapshot->model->step);

  gtk_label_set_text (self->snapshot_label, label);
  set_model (self, snapshot, label);
}

/* The run's state changed under the snapshot shown. */
static void
update_snapshot_label (WpWindow *self)
{
  WpTrainSession  *session = wp_train_view_get_session (self->train_view);
  g_autofree char *label = NULL;

  for (guint i = 0; i < wp_train_session_get_n_snapshots (session); i++) {
    if (wp_train_session_get_snapshot (session, i) == self->model)
      label = describe_snapshot (self, self->model->model->step);
  }
  if (label == NULL)
    return;
  gtk_label_set_text (self->snapshot_label, label);
  g_free (self->model_label);
  self->model_label = g_steal_pointer (&label);
}

/* The slider spans the snapshots kept; at its right end the view is live. */
static void
update_snapshot_slider (WpWindow *self)
{
  WpTrainSession *session = wp_train_view_get_session (self->train_view);
  const guint     n = wp_train_session_get_n_snapshots (session);
  guint           index = n > 0 ? n - 1 : 0;

  gtk_widget_set_visible (self->snapshot_box, n > 0);
  if (n == 0)
    return;
  /* Thinning moves indices: a scrubbed view keeps its step. */
  for (guint i = 0; !self->live && i < n; i++) {
    if (wp_train_session_get_snapshot (session, i) == self->model)
      index = i;
  }
  self->updating_slider = TRUE;
  gtk_range_set_range (GTK_RANGE (self->snapshot_scale), 0, MAX (n - 1, 1));
  gtk_range_set_value (GTK_RANGE (self->snapshot_scale), index);
  self->updating_slider = FALSE;
}

static void
snapshot_added_cb (WpTrainSession *session,
                   guint           index,
                   WpWindow       *self)
{
  update_snapshot_slider (self);
  if (self->live)
    show_snapshot (self, index);
}

static void
snapshot_scale_changed_cb (WpWindow *self)
{
  WpTrainSession *session = wp_train_view_get_session (self->train_view);
  const guint     n = wp_train_session_get_n_snapshots (session);
  guint           index;

  if (self->updating_slider || n == 0)
    return;
  index = (guint) CLAMP (lround (gtk_range_get_value (GTK_RANGE (self->snapshot_scale))), 0,
                         (long) n - 1);
  self->live = index == n - 1;
  show_snapshot (self, index);
}

static void
train_state_changed_cb (WpTrainSession *session,
                        WpWindow       *self)
{
  /* A new run starts live. */
  if (wp_train_session_get_state (session) == WP_TRAIN_STATE_PREPARING)
    self->live = TRUE;
  update_snapshot_slider (self);
  update_snapshot_label (self);
  if (self->close_after_stop && !wp_train_session_is_active (session))
    gtk_window_destroy (GTK_WINDOW (self));
}

static void
open_checkpoint_cb (WpTrainView *view,
                    const char  *path,
                    WpWindow    *self)
{
  wp_window_open_model (self, path);
  gtk_stack_set_visible_child_name (self->stack, "explore");
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

WpTrainView *
wp_window_get_train_view (WpWindow *self)
{
  return self->train_view;
}

gint64
wp_window_get_model_step (WpWindow *self,
                          gboolean *live)
{
  if (live != NULL)
    *live = self->live;
  return self->model != NULL ? self->model->model->step : -1;
}

GtkWidget *
wp_window_get_close_dialog (WpWindow *self)
{
  return self->close_dialog;
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

static void
wp_window_dispose (GObject *object)
{
  WpWindow *self = WP_WINDOW (object);

  g_cancellable_cancel (self->image_cancellable);
  g_cancellable_cancel (self->text_cancellable);
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
  g_clear_object (&self->text_cancellable);
  g_clear_pointer (&self->maps, wp_word_maps_free);
  g_clear_pointer (&self->text, wp_text_embedding_free);
  g_clear_pointer (&self->image_embedding, wp_image_embedding_free);
  g_clear_pointer (&self->image, wp_image_free);
  g_clear_pointer (&self->model, wp_model_ref_release);
  g_clear_pointer (&self->compare_maps, wp_word_maps_free);
  g_clear_pointer (&self->compare_text, wp_text_embedding_free);
  g_clear_pointer (&self->compare_image_embedding, wp_image_embedding_free);
  g_clear_pointer (&self->compare_model, wp_model_ref_release);
  g_free (self->model_label);
  g_free (self->compare_label);
  g_clear_pointer (&self->token_labels, g_ptr_array_unref);
  g_free (self->image_path);
  g_free (self->status);
  g_free (self->scores);
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
  gtk_widget_class_bind_template_child (widget_class, WpWindow, caption_entry);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, word_bar);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, image_view);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, scores_label);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, status_label);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, method_dropdown);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, grid_toggle);
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
  wp_window_class_actions_init (klass);
}

static void
wp_window_init (WpWindow *self)
{
  GtkDropTarget *drop = gtk_drop_target_new (G_TYPE_FILE, GDK_ACTION_COPY);

  gtk_widget_init_template (GTK_WIDGET (self));
  self->token_labels = g_ptr_array_new_with_free_func (g_free);
  wp_figure_style_init (&self->style);
  /* Every word's own small map until words are picked. */
  self->style.grid = TRUE;
  gtk_toggle_button_set_active (self->grid_toggle, TRUE);
  g_signal_connect_swapped (self->caption_entry, "changed", G_CALLBACK (caption_changed_cb), self);
  g_signal_connect_swapped (self->method_dropdown, "notify::selected",
                            G_CALLBACK (style_changed_cb), self);
  g_signal_connect_swapped (self->grid_toggle, "toggled", G_CALLBACK (style_changed_cb), self);
  g_signal_connect_swapped (self->colormap_dropdown, "notify::selected",
                            G_CALLBACK (style_changed_cb), self);
  g_signal_connect_swapped (self->opacity_scale, "value-changed", G_CALLBACK (style_changed_cb),
                            self);
  g_signal_connect_swapped (self->smooth_check, "toggled", G_CALLBACK (style_changed_cb), self);
  g_signal_connect_swapped (self->patch_grid_check, "toggled", G_CALLBACK (style_changed_cb), self);
  g_signal_connect_swapped (self->fixed_scale_check, "toggled", G_CALLBACK (style_changed_cb),
                            self);
  g_signal_connect_swapped (self->scale_lo_spin, "value-changed", G_CALLBACK (style_changed_cb),
                            self);
  g_signal_connect_swapped (self->scale_hi_spin, "value-changed", G_CALLBACK (style_changed_cb),
                            self);
  g_signal_connect_swapped (self->word_bar, "changed", G_CALLBACK (update_view), self);
  g_signal_connect (drop, "drop", G_CALLBACK (drop_cb), self);
  g_signal_connect_swapped (self->snapshot_scale, "value-changed",
                            G_CALLBACK (snapshot_scale_changed_cb), self);
  g_signal_connect (self->train_view, "open-checkpoint", G_CALLBACK (open_checkpoint_cb), self);
  g_signal_connect (wp_train_view_get_session (self->train_view), "snapshot-added",
                    G_CALLBACK (snapshot_added_cb), self);
  g_signal_connect (wp_train_view_get_session (self->train_view), "changed",
                    G_CALLBACK (train_state_changed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self->image_view), GTK_EVENT_CONTROLLER (drop));
  open_default (self);
}

WpWindow *
wp_window_new (GtkApplication *application)
{
  return g_object_new (WP_TYPE_WINDOW, "application", application, NULL);
}
