#define G_LOG_DOMAIN "wp-window"

#include "wp-window.h"

#include <math.h>
#include <string.h>

#include "figure.h"
#include "wordpatch/wordpatch.h"
#include "wp-model-ref.h"
#include "wp-train-view.h"

struct _WpWindow {
  GtkApplicationWindow parent_instance;

  /* Template widgets */
  GtkEntry        *caption_entry;
  GtkFlowBox      *words_box;
  GtkDrawingArea  *canvas;
  GtkLabel        *scores_label;
  GtkLabel        *status_label;
  GtkDropDown     *method_dropdown;
  GtkToggleButton *grid_toggle;
  GtkDropDown     *colormap_dropdown;
  GtkScale        *opacity_scale;
  GtkCheckButton  *smooth_check;
  GtkCheckButton  *patch_grid_check;
  GtkCheckButton  *fixed_scale_check;
  GtkSpinButton   *scale_lo_spin;
  GtkSpinButton   *scale_hi_spin;
  GtkLabel        *hover_label;
  GtkStack        *stack;
  WpTrainView     *train_view;
  GtkWidget       *snapshot_box;
  GtkLabel        *snapshot_label;
  GtkScale        *snapshot_scale;

  /* Owned */
  WpModelRef       *model;
  char             *image_path;
  WpImage          *image;
  WpImageEmbedding *image_embedding;
  WpTextEmbedding  *text;
  WpWordMaps       *maps;
  GPtrArray        *selected;     /* words ("word") or BPE pieces ("word\tk") shown; empty: all */
  GPtrArray        *token_labels; /* the caption's token texts, for piece chips and token figures */
  GCancellable     *image_cancellable;
  GCancellable     *text_cancellable;
  guint             pending;
  WpFigureStyle     style;
  char             *status;
  char             *scores;
  /* Comparison: the compare model is the baseline A, the open model B (B - A: what changed). */
  WpModelRef       *compare_model;
  WpImageEmbedding *compare_image_embedding;
  WpTextEmbedding  *compare_text;
  WpWordMaps       *compare_maps;
  char             *model_label;
  char             *compare_label;
  /* Training: the view follows the newest snapshot while live. */
  gboolean   live;
  gboolean   updating_slider;
  GtkWidget *close_dialog;
  gboolean   close_after_stop;
};

G_DEFINE_FINAL_TYPE (WpWindow, wp_window, GTK_TYPE_APPLICATION_WINDOW)

static void
set_status (WpWindow   *self,
            const char *status)
{
  g_free (self->status);
  self->status = g_strdup (status != NULL ? status : "");
  gtk_label_set_text (self->status_label, self->status);
}

/* ---- maps, scores, word chips ---- */

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

static gboolean
is_selected (WpWindow   *self,
             const char *word)
{
  for (guint i = 0; i < self->selected->len; i++) {
    if (strcmp (self->selected->pdata[i], word) == 0)
      return TRUE;
  }
  return FALSE;
}

static void rebuild_chips (WpWindow *self);

static gboolean
rebuild_chips_idle (gpointer user_data)
{
  rebuild_chips (user_data);
  return G_SOURCE_REMOVE;
}

static void
chip_toggled_cb (GtkToggleButton *chip,
                 WpWindow        *self)
{
  const char    *word = g_object_get_data (G_OBJECT (chip), "wp-key");
  const gboolean piece = strchr (word, '\t') != NULL;

  if (gtk_toggle_button_get_active (chip)) {
    gboolean other_kind = FALSE;

    /* Words and pieces are not shown together: picking one kind drops the other. */
    for (guint i = 0; i < self->selected->len; i++) {
      if ((strchr (self->selected->pdata[i], '\t') != NULL) != piece) {
        g_ptr_array_remove_index (self->selected, i--);
        other_kind = TRUE;
      }
    }
    if (!is_selected (self, word))
      g_ptr_array_add (self->selected, g_strdup (word));
    if (other_kind)
      g_idle_add_full (G_PRIORITY_DEFAULT, rebuild_chips_idle, g_object_ref (self), g_object_unref);
  } else {
    for (guint i = 0; i < self->selected->len; i++) {
      if (strcmp (self->selected->pdata[i], word) == 0)
        g_ptr_array_remove_index (self->selected, i--);
    }
  }
  gtk_widget_queue_draw (GTK_WIDGET (self->canvas));
}

/* key: "word" or "word\tk" (k-th piece), taken over. */
static void
add_chip (WpWindow   *self,
          char       *key,
          const char *label,
          const char *tooltip)
{
  GtkWidget *chip = gtk_toggle_button_new_with_label (label);

  gtk_widget_set_tooltip_text (chip, tooltip);
  g_object_set_data_full (G_OBJECT (chip), "wp-key", key, g_free);
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (chip), is_selected (self, key));
  g_signal_connect (chip, "toggled", G_CALLBACK (chip_toggled_cb), self);
  gtk_flow_box_append (self->words_box, chip);
}

static void
rebuild_chips (WpWindow *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->words_box))) != NULL)
    gtk_flow_box_remove (self->words_box, child);
  for (int w = 0; self->maps != NULL && w < self->maps->n_words; w++) {
    const WpWordMap *map = &self->maps->words[w];

    /* A word's chip, then one chip for each of its BPE pieces when it has several. */
    add_chip (self, g_strdup (map->text), map->text,
              map->n_tokens > 1 ? "several BPE tokens: the word's map is their mean" : NULL);
    for (int k = 0; map->n_tokens > 1 && k < map->n_tokens; k++) {
      g_autofree char *label =
        g_strdup_printf ("·%s", (const char *) self->token_labels->pdata[map->first_token + k]);

      add_chip (self, g_strdup_printf ("%s\t%d", map->text, k), label,
                "one BPE piece of the word, with its own map");
    }
  }
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
  rebuild_chips (self);
  update_scores (self);
  gtk_widget_queue_draw (GTK_WIDGET (self->canvas));
}

/* ---- the figure ---- */

/* The words shown, as indices; NULL (every word) when none is selected or none is in the caption.
 */
static GArray *
selected_indices (WpWindow *self,
                  gboolean *pieces)
{
  GArray *items = g_array_new (FALSE, FALSE, sizeof (int));

  *pieces = FALSE;
  for (int w = 0; self->maps != NULL && w < self->maps->n_words; w++) {
    const WpWordMap *map = &self->maps->words[w];

    if (is_selected (self, map->text))
      g_array_append_val (items, w);
    for (int k = 0; map->n_tokens > 1 && k < map->n_tokens; k++) {
      g_autofree char *key = g_strdup_printf ("%s\t%d", map->text, k);
      const int        token = map->first_token + k;

      if (is_selected (self, key)) {
        if (!*pieces)
          g_array_set_size (items, 0);
        *pieces = TRUE;
        g_array_append_val (items, token);
      }
    }
  }
  return items;
}

static void
fill_figure (WpWindow *self,
             WpFigure *figure,
             GArray   *words,
             gboolean  pieces)
{
  memset (figure, 0, sizeof *figure);
  figure->image = self->image;
  figure->maps = self->maps;
  figure->caption = gtk_editable_get_text (GTK_EDITABLE (self->caption_entry));
  figure->words = words->len > 0 ? (const int *) words->data : NULL;
  figure->n_words = (int) words->len;
  figure->style = self->style;
  figure->token_labels = pieces ? (const char *const *) self->token_labels->pdata : NULL;
  if (self->compare_maps != NULL && self->maps != NULL) {
    figure->maps = self->compare_maps;
    figure->other_maps = self->maps;
    figure->label = self->compare_label;
    figure->other_label = self->model_label;
  }
}

static void
draw_cb (GtkDrawingArea *area,
         cairo_t        *cr,
         int             width,
         int             height,
         gpointer        user_data)
{
  WpWindow *self = user_data;
  gboolean  pieces;
  g_autoptr (GArray) words = selected_indices (self, &pieces);
  WpFigure figure;

  if (self->image == NULL || self->maps == NULL) {
    cairo_set_source_rgb (cr, 1, 1, 1);
    cairo_paint (cr);
    return;
  }
  fill_figure (self, &figure, words, pieces);
  wp_figure_draw (cr, &figure, width, height);
}

gboolean
wp_window_export (WpWindow   *self,
                  const char *path,
                  int         width,
                  int         height,
                  GError    **error)
{
  gboolean pieces;
  g_autoptr (GArray) words = selected_indices (self, &pieces);
  g_autoptr (GHashTable) text = NULL;
  g_autofree char *sha256 = NULL;
  WpFigure         figure;

  if (self->maps == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_PENDING, "%s: nothing to export yet", path);
    return FALSE;
  }
  fill_figure (self, &figure, words, pieces);
  /* Hashed at export only: large models take a moment. */
  sha256 =
    g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) self->model->model->params,
                                 self->model->model->n_params * sizeof (float));
  if (figure.other_maps != NULL) {
    const WpModel *baseline = self->compare_model->model;

    text = wp_figure_new_png_text (&figure, baseline, NULL, self->image_path, NULL);
    g_hash_table_insert (text, "wordpatch.model_sha256",
                         g_compute_checksum_for_data (G_CHECKSUM_SHA256,
                                                      (const guchar *) baseline->params,
                                                      baseline->n_params * sizeof (float)));
    g_hash_table_insert (
      text, "wordpatch.compare_model",
      g_strdup (self->model->model->path != NULL ? self->model->model->path : "(unsaved)"));
    g_hash_table_insert (text, "wordpatch.compare_model_sha256", g_steal_pointer (&sha256));
  } else {
    text = wp_figure_new_png_text (&figure, self->model->model, sha256, self->image_path, NULL);
  }
  return wp_figure_export (&figure, path, width, height, text, error);
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
      set_status (self, error->message);
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
  set_status (self, self->image_path);
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
  g_task_run_in_thread (task, embed_text_worker);
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
  set_status (self, "computing the image's patch embeddings…");
  g_task_run_in_thread (task, embed_image_worker);
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

static void
set_compare_model (WpWindow   *self,
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
    set_status (self, error->message);
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
    set_status (self, error->message);
    return;
  }
  if (model != NULL) {
    ref = wp_model_ref_new (model);
    label = describe_model (model);
  }
  set_compare_model (self, ref, label);
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
  g_ptr_array_set_size (self->selected, 0);
  if (word != NULL && (self->maps == NULL || wp_word_maps_find_word (self->maps, word, 0) < 0))
    return FALSE;
  if (word != NULL)
    g_ptr_array_add (self->selected, g_strdup (word));
  rebuild_chips (self);
  gtk_widget_queue_draw (GTK_WIDGET (self->canvas));
  return TRUE;
}

gboolean
wp_window_select_piece (WpWindow   *self,
                        const char *word,
                        int         piece)
{
  const int w = self->maps != NULL ? wp_word_maps_find_word (self->maps, word, 0) : -1;

  g_ptr_array_set_size (self->selected, 0);
  if (w < 0 || piece < 0 || piece >= self->maps->words[w].n_tokens ||
      self->maps->words[w].n_tokens < 2)
    return FALSE;
  g_ptr_array_add (self->selected, g_strdup_printf ("%s\t%d", self->maps->words[w].text, piece));
  rebuild_chips (self);
  gtk_widget_queue_draw (GTK_WIDGET (self->canvas));
  return TRUE;
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

/* ---- actions and signals ---- */

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

  self->style.method = (WpFigureMethod) gtk_drop_down_get_selected (self->method_dropdown);
  self->style.grid = gtk_toggle_button_get_active (self->grid_toggle);
  self->style.colormap = (WpColormap) gtk_drop_down_get_selected (self->colormap_dropdown);
  self->style.opacity = gtk_range_get_value (GTK_RANGE (self->opacity_scale));
  self->style.smooth = gtk_check_button_get_active (self->smooth_check);
  self->style.patch_grid = gtk_check_button_get_active (self->patch_grid_check);
  /* A fixed scale needs lo < hi; otherwise each map keeps its own. */
  self->style.fixed_scale = gtk_check_button_get_active (self->fixed_scale_check) && lo < hi;
  self->style.lo = lo;
  self->style.hi = hi;
  gtk_widget_queue_draw (GTK_WIDGET (self->canvas));
}

static void
open_response_cb (GtkNativeDialog *dialog,
                  int              response,
                  WpWindow        *self)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
    g_autofree char *path = g_file_get_path (file);
    const char      *kind = g_object_get_data (G_OBJECT (dialog), "wp-kind");

    if (g_strcmp0 (kind, "model") == 0)
      wp_window_open_model (self, path);
    else if (g_strcmp0 (kind, "compare") == 0)
      wp_window_compare_model (self, path);
    else if (g_strcmp0 (kind, "image") == 0)
      wp_window_open_image (self, path);
    else {
      g_autoptr (GError) error = NULL;

      if (!wp_window_export (self, path, 1200, 800, &error))
        set_status (self, error->message);
      else
        set_status (self, path);
    }
  }
  g_object_unref (dialog);
}

static void
run_chooser (WpWindow            *self,
             const char          *title,
             GtkFileChooserAction action,
             const char          *kind)
{
  GtkFileChooserNative *dialog =
    gtk_file_chooser_native_new (title, GTK_WINDOW (self), action, NULL, NULL);

  g_object_set_data_full (G_OBJECT (dialog), "wp-kind", g_strdup (kind), g_free);
  g_signal_connect (dialog, "response", G_CALLBACK (open_response_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
open_image_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  run_chooser (WP_WINDOW (widget), "Open Image", GTK_FILE_CHOOSER_ACTION_OPEN, "image");
}

static void
open_model_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  run_chooser (WP_WINDOW (widget), "Open Model Folder", GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
               "model");
}

static void
export_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  run_chooser (WP_WINDOW (widget), "Export Figure (.png, .svg or .pdf)",
               GTK_FILE_CHOOSER_ACTION_SAVE, "export");
}

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
    set_status (self, "the clipboard holds no image");
    return;
  }
  /* The pipeline reads files: the pasted image becomes one in the cache folder. */
  if (g_mkdir_with_parents (dir, 0755) != 0 || !gdk_texture_save_to_png (texture, path)) {
    g_autofree char *message = g_strdup_printf ("%s: cannot save the pasted image", path);

    set_status (self, message);
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

/* Hovering shows the patch under the pointer and the values of the words shown there. */
static void
motion_cb (GtkEventControllerMotion *motion,
           double                    x,
           double                    y,
           WpWindow                 *self)
{
  gboolean pieces;
  g_autoptr (GArray) words = selected_indices (self, &pieces);
  g_autoptr (GString) text = g_string_new (NULL);
  WpFigure figure;
  int      word, patch, column;

  if (self->maps == NULL)
    return;
  fill_figure (self, &figure, words, pieces);
  if (!wp_figure_hit_panel (&figure, gtk_widget_get_width (GTK_WIDGET (self->canvas)),
                            gtk_widget_get_height (GTK_WIDGET (self->canvas)), x, y, &word, &patch,
                            &column)) {
    gtk_label_set_text (self->hover_label, "");
    return;
  }
  if (figure.other_maps != NULL) {
    const WpWordMaps *maps = column == 1 ? figure.other_maps : figure.maps;
    const gboolean    sparc = self->style.method == WP_FIGURE_SPARC;
    const WpWordMap  *a = &figure.maps->words[word], *b = &figure.other_maps->words[word];

    g_string_printf (text, "%s, patch row %d, column %d:", a->text, patch / maps->grid,
                     patch % maps->grid);
    if (figure.maps->grid == figure.other_maps->grid)
      g_string_append_printf (
        text, "  A %.3f  B %.3f  B − A %.3f", sparc ? a->sparc[patch] : a->filip[patch],
        sparc ? b->sparc[patch] : b->filip[patch], wp_figure_difference (&figure, word, patch));
    else
      g_string_append_printf (text, "  %s %.3f", column == 1 ? "B" : "A",
                              column == 1 ? (sparc ? b->sparc[patch] : b->filip[patch])
                                          : (sparc ? a->sparc[patch] : a->filip[patch]));
    gtk_label_set_text (self->hover_label, text->str);
    return;
  }
  g_string_printf (text, "patch row %d, column %d:", patch / self->maps->grid,
                   patch % self->maps->grid);
  if (pieces) {
    const int    P = self->maps->n_patches;
    const float *rows =
      self->style.method == WP_FIGURE_SPARC ? self->maps->token_sparc : self->maps->token_filip;

    for (guint i = 0; i < words->len; i++) {
      const int token = g_array_index (words, int, i);

      if (word < 0 || word == token)
        g_string_append_printf (text, "  ·%s %.3f",
                                (const char *) self->token_labels->pdata[token],
                                rows[(gsize) token * P + patch]);
    }
  }
  for (int w = 0; !pieces && w < self->maps->n_words; w++) {
    const WpWordMap *map = &self->maps->words[w];

    if (word >= 0 ? w != word : (words->len > 0 && !is_selected (self, map->text)))
      continue;
    g_string_append_printf (text, "  %s %.3f", map->text,
                            self->style.method == WP_FIGURE_SPARC ? map->sparc[patch]
                                                                  : map->filip[patch]);
  }
  gtk_label_set_text (self->hover_label, text->str);
}

static void
compare_model_action (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  run_chooser (WP_WINDOW (widget), "Compare with a Model Folder (the baseline)",
               GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, "compare");
}

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
    set_status (self, "no fine-tuning run yet: start one in the Fine-Tune page");
    return;
  }
  start = wp_train_session_get_snapshot (session, 0);
  label = g_strdup_printf ("run start, step %" G_GINT64_FORMAT, start->model->step);
  set_compare_model (self, start, label);
}

static void
compare_off_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  set_compare_model (WP_WINDOW (widget), NULL, NULL);
}

/* ---- following training ---- */

static void
show_snapshot (WpWindow *self,
               guint     index)
{
  WpTrainSession  *session = wp_train_view_get_session (self->train_view);
  WpModelRef      *snapshot = wp_train_session_get_snapshot (session, index);
  g_autofree char *label =
    g_strdup_printf ("%s step %" G_GINT64_FORMAT, self->live ? "training live," : "training,",
                     snapshot->model->step);

  gtk_label_set_text (self->snapshot_label, label);
  set_model (self, snapshot, label);
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
  set_status (self, "stopping training and writing a checkpoint…");
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
    "Stop it, write a checkpoint of the current weights, and close? The run can be resumed "
    "later with wordpatch-cli train --resume.");
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

static void
about_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  static const char *const authors[] = { "The wordpatch developers", NULL };

  gtk_show_about_dialog (GTK_WINDOW (widget), "program-name", "wordpatch", "version", WP_VERSION,
                         "logo-icon-name", "org.wordpatch.App", "comments",
                         "Which image patches does each word of a caption align with? FILIP and "
                         "SPARC, trained and shown in C.",
                         "license-type", GTK_LICENSE_MIT_X11, "authors", authors, NULL);
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
    set_status (self, "no bundled model found: open a model folder");
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
  g_clear_pointer (&self->selected, g_ptr_array_unref);
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
  g_type_ensure (WP_TYPE_TRAIN_VIEW);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/wordpatch/app/wp-window.ui");
  gtk_widget_class_bind_template_child (widget_class, WpWindow, caption_entry);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, words_box);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, canvas);
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
  gtk_widget_class_bind_template_child (widget_class, WpWindow, hover_label);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, train_view);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, snapshot_box);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, snapshot_label);
  gtk_widget_class_bind_template_child (widget_class, WpWindow, snapshot_scale);
  gtk_widget_class_install_action (widget_class, "win.compare-model", NULL, compare_model_action);
  gtk_widget_class_install_action (widget_class, "win.compare-start", NULL, compare_start_action);
  gtk_widget_class_install_action (widget_class, "win.compare-off", NULL, compare_off_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_m, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "win.compare-model", NULL);
  gtk_widget_class_install_action (widget_class, "win.open-image", NULL, open_image_action);
  gtk_widget_class_install_action (widget_class, "win.open-model", NULL, open_model_action);
  gtk_widget_class_install_action (widget_class, "win.export", NULL, export_action);
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

static void
wp_window_init (WpWindow *self)
{
  GtkDropTarget      *drop = gtk_drop_target_new (G_TYPE_FILE, GDK_ACTION_COPY);
  GtkEventController *motion;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->selected = g_ptr_array_new_with_free_func (g_free);
  self->token_labels = g_ptr_array_new_with_free_func (g_free);
  wp_figure_style_init (&self->style);
  /* Every word's own small map until words are picked. */
  self->style.grid = TRUE;
  gtk_toggle_button_set_active (self->grid_toggle, TRUE);
  gtk_drawing_area_set_draw_func (self->canvas, draw_cb, self, NULL);
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
  motion = gtk_event_controller_motion_new ();
  g_signal_connect (motion, "motion", G_CALLBACK (motion_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self->canvas), motion);
  g_signal_connect (drop, "drop", G_CALLBACK (drop_cb), self);
  g_signal_connect_swapped (self->snapshot_scale, "value-changed",
                            G_CALLBACK (snapshot_scale_changed_cb), self);
  g_signal_connect (self->train_view, "open-checkpoint", G_CALLBACK (open_checkpoint_cb), self);
  g_signal_connect (wp_train_view_get_session (self->train_view), "snapshot-added",
                    G_CALLBACK (snapshot_added_cb), self);
  g_signal_connect (wp_train_view_get_session (self->train_view), "changed",
                    G_CALLBACK (train_state_changed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self->canvas), GTK_EVENT_CONTROLLER (drop));
  open_default (self);
}

WpWindow *
wp_window_new (GtkApplication *application)
{
  return g_object_new (WP_TYPE_WINDOW, "application", application, NULL);
}
