#define G_LOG_DOMAIN "wp-window"

#include "wp-window.h"

#include <math.h>
#include <string.h>

#include "wp-window-private.h"
#include "wp-worker.h"

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

/* ---- what the workers share ---- */

static void
picture_clear (gpointer data)
{
  WpPicture *picture = data;

  g_free (picture->path);
  g_clear_pointer (&picture->image, wp_image_free);
}

static void
picture_unref (gpointer picture)
{
  g_atomic_rc_box_release_full (picture, picture_clear);
}

static void
map_settings_clear (WpMapSettings *settings)
{
  g_clear_pointer (&settings->template_text, g_free);
}

static void
map_settings_copy (WpMapSettings       *dest,
                   const WpMapSettings *src)
{
  *dest = *src;
  dest->template_text = g_strdup (src->template_text);
}

static gboolean
same_view (const WpViewOptions *a,
           const WpViewOptions *b)
{
  return a->crop == b->crop && a->resolution == b->resolution;
}

static void
prompts_clear (gpointer data)
{
  WpPrompts *prompts = data;

  g_clear_pointer (&prompts->cache, wp_prompt_cache_free);
  g_clear_pointer (&prompts->model, wp_model_ref_release);
}

static void
prompts_unref (gpointer prompts)
{
  g_atomic_rc_box_release_full (prompts, prompts_clear);
}

/* A prompt cache for model (NULL: none). */
static WpPrompts *
prompts_new (WpModelRef *model)
{
  WpPrompts *prompts;

  if (model == NULL)
    return NULL;
  prompts = g_atomic_rc_box_new0 (WpPrompts);
  prompts->model = wp_model_ref_acquire (model);
  prompts->cache = wp_prompt_cache_new (model->model);
  return prompts;
}

static WpPrompts *
prompts_ref (WpPrompts *prompts)
{
  return prompts != NULL ? g_atomic_rc_box_acquire (prompts) : NULL;
}

static void
features_clear (gpointer data)
{
  WpFeatures *features = data;

  g_clear_pointer (&features->picture, picture_unref);
  g_clear_pointer (&features->model, wp_model_ref_release);
  g_clear_pointer (&features->compare_model, wp_model_ref_release);
  g_clear_pointer (&features->prompts, prompts_unref);
  g_clear_pointer (&features->compare_prompts, prompts_unref);
  g_clear_pointer (&features->embedding, wp_image_embedding_free);
  g_clear_pointer (&features->compare_embedding, wp_image_embedding_free);
}

static void
features_unref (gpointer features)
{
  g_atomic_rc_box_release_full (features, features_clear);
}

static void
shown_free (gpointer data)
{
  WpShown *shown = data;

  g_clear_pointer (&shown->features, features_unref);
  g_free (shown->caption);
  map_settings_clear (&shown->settings);
  g_clear_pointer (&shown->text, wp_text_embedding_free);
  g_clear_pointer (&shown->compare_text, wp_text_embedding_free);
  g_clear_pointer (&shown->maps, wp_word_maps_free);
  g_clear_pointer (&shown->compare_maps, wp_word_maps_free);
  g_clear_pointer (&shown->token_labels, g_ptr_array_unref);
  g_clear_pointer (&shown->cut_words, g_strfreev);
  g_free (shown->pieces);
  g_free (shown);
}

/* ---- maps, scores, the figure ---- */

static char *
format_scores (const WpImageEmbedding *image,
               const WpTextEmbedding  *text,
               const WpWordMaps       *maps,
               const char             *prefix)
{
  double global = 0.0, image_to_text = 0.0, text_to_image = 0.0;

  for (int e = 0; e < image->dim; e++)
    global += (double) image->global[e] * text->global[e];
  wp_word_maps_get_filip_scores (maps, &image_to_text, &text_to_image);
  return g_strdup_printf ("%sglobal cosine %.3f    FILIP image→text %.3f    "
                          "FILIP text→image %.3f",
                          prefix, global, image_to_text, text_to_image);
}

static void
update_scores (WpWindow *self)
{
  const WpShown *shown = self->shown;

  g_clear_pointer (&self->scores, g_free);
  if (shown != NULL && shown->compare_maps != NULL) {
    g_autofree char *a = format_scores (shown->features->compare_embedding, shown->compare_text,
                                        shown->compare_maps, "A: ");
    g_autofree char *b =
      format_scores (shown->features->embedding, shown->text, shown->maps, "B: ");

    self->scores = g_strdup_printf ("%s\n%s", a, b);
  } else if (shown != NULL) {
    self->scores = format_scores (shown->features->embedding, shown->text, shown->maps, "");
  }
  gtk_label_set_text (self->scores_label, self->scores != NULL ? self->scores : "");
}

/* The maps are redrawn as stale (the previous ones, marked) while newer ones are computed. */
static void
update_stale (WpWindow *self)
{
  wp_image_view_set_stale (self->image_view,
                           self->image_busy || self->maps_busy || self->maps_wanted);
}

/* Called whenever anything the figure shows changes: the view borrows the maps and labels. What
 * the shown maps lack (a method asked for since, still being computed) is drawn as they were. */
static void
update_view (WpWindow *self)
{
  const WpShown *shown = self->shown;
  gboolean       pieces;
  g_autoptr (GArray) words = wp_word_bar_dup_shown (self->word_bar, &pieces);
  WpMapMethod methods[WP_N_MAP_METHODS];
  int         n_methods = 0;
  WpFigure    figure = { 0 };

  figure.caption = gtk_editable_get_text (GTK_EDITABLE (self->caption_entry));
  figure.style = self->style;
  if (shown == NULL) {
    wp_image_view_set_figure (self->image_view, &figure);
    return;
  }
  if (!(shown->maps->methods & WP_MAP_BIT (figure.style.method)))
    figure.style.method = WP_MAP_FILIP;
  figure.image = shown->features->picture->image;
  figure.maps = shown->maps;
  figure.caption = shown->caption;
  figure.words = words->len > 0 ? (const int *) words->data : NULL;
  figure.n_words = (int) words->len;
  /* Pieces have maps of their own with token queries only. */
  figure.token_labels = pieces && shown->maps->query == WP_QUERY_TOKEN
                          ? (const char *const *) shown->token_labels->pdata
                          : NULL;
  if (figure.token_labels == NULL && pieces) {
    figure.words = NULL;
    figure.n_words = 0;
  }
  for (int i = 0; i < self->n_side_methods; i++) {
    if (shown->maps->methods & WP_MAP_BIT (self->side_methods[i]))
      methods[n_methods++] = self->side_methods[i];
  }
  if (shown->compare_maps != NULL) {
    figure.maps = shown->compare_maps;
    figure.other_maps = shown->maps;
    figure.label = self->compare_label;
    figure.other_label = self->model_label;
    figure.token_labels = NULL;
    if (pieces) {
      figure.words = NULL;
      figure.n_words = 0;
    }
  } else if (self->side_by_side && n_methods >= 2) {
    memcpy (self->figure_methods, methods, sizeof methods);
    figure.methods = self->figure_methods;
    figure.n_methods = n_methods;
    figure.token_labels = NULL;
    if (pieces) {
      figure.words = NULL;
      figure.n_words = 0;
    }
  }
  wp_image_view_set_figure (self->image_view, &figure);
}

static void read_settings (WpWindow *self);

/* ---- workers: an image's features, then a caption's maps over them ---- */

typedef struct {
  WpPicture    *picture; /* NULL: path is decoded */
  char         *path;
  WpViewOptions view;
  guint         methods;
  WpModelRef   *model;
  WpModelRef   *compare_model;
  WpPrompts    *prompts;
  WpPrompts    *compare_prompts;
  WpFeatures   *features; /* the result */
} ImageWork;

static void
image_work_free (gpointer data)
{
  ImageWork *work = data;

  g_clear_pointer (&work->picture, picture_unref);
  g_free (work->path);
  g_clear_pointer (&work->model, wp_model_ref_release);
  g_clear_pointer (&work->compare_model, wp_model_ref_release);
  g_clear_pointer (&work->prompts, prompts_unref);
  g_clear_pointer (&work->compare_prompts, prompts_unref);
  g_clear_pointer (&work->features, features_unref);
  g_free (work);
}

static void
image_worker (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  ImageWork  *work = task_data;
  WpFeatures *features = g_atomic_rc_box_new0 (WpFeatures);
  GError     *error = NULL;

  work->features = features;
  if (work->picture == NULL) {
    WpImage *image = wp_image_load (work->path, &error);

    if (image == NULL) {
      g_task_return_error (task, error);
      return;
    }
    work->picture = g_atomic_rc_box_new0 (WpPicture);
    work->picture->path = g_strdup (work->path);
    work->picture->image = image;
  }
  features->picture = g_atomic_rc_box_acquire (work->picture);
  features->view = work->view;
  features->methods = work->methods;
  features->model = wp_model_ref_acquire (work->model);
  if (work->compare_model != NULL)
    features->compare_model = wp_model_ref_acquire (work->compare_model);
  features->prompts = prompts_ref (work->prompts);
  features->compare_prompts = prompts_ref (work->compare_prompts);
  if (g_task_return_error_if_cancelled (task))
    return;
  features->embedding = wp_embed_image_view (work->model->model, work->picture->image, &work->view,
                                             work->methods, &error);
  if (features->embedding != NULL && work->compare_model != NULL)
    features->compare_embedding = wp_embed_image_view (
      work->compare_model->model, work->picture->image, &work->view, work->methods, &error);
  if (error != NULL) {
    g_prefix_error (&error, "%s: ", work->path);
    g_task_return_error (task, error);
    return;
  }
  g_task_return_boolean (task, TRUE);
}

typedef struct {
  WpFeatures   *features;
  char         *caption;
  WpMapSettings settings;
  WpShown      *shown; /* the result */
} MapsWork;

static void
maps_work_free (gpointer data)
{
  MapsWork *work = data;

  g_clear_pointer (&work->features, features_unref);
  g_free (work->caption);
  map_settings_clear (&work->settings);
  g_clear_pointer (&work->shown, shown_free);
  g_free (work);
}

/* The words of caption the model's context cuts off (token queries see only what fits). */
static GStrv
cut_words (const WpModel *model,
           const char    *caption,
           int            n_tokens)
{
  const int       capacity = (int) strlen (caption) + 2;
  g_autofree int *ids = g_new (int, capacity);
  g_autofree int *word_of_token = g_new (int, capacity);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  const int n = wp_tokenizer_encode (model->tokenizer, caption, ids, word_of_token, capacity);

  /* Past the cut: every token after the last one kept (the end token comes after them all). */
  for (int t = n_tokens - 1; t < n - 1;) {
    int end = t;

    while (end < n - 1 && word_of_token[end] == word_of_token[t])
      end++;
    g_autofree char *word = wp_tokenizer_dup_tokens_text (model->tokenizer, ids + t, end - t);

    g_strv_builder_add (builder, word);
    t = end;
  }
  return g_strv_builder_end (builder);
}

/* Prompt queries: the BPE pieces of each query that is one word (1 for a phrase). */
static int *
query_pieces (const WpModel    *model,
              const WpWordMaps *maps)
{
  int *pieces = g_new (int, MAX (maps->n_words, 1));

  for (int w = 0; w < maps->n_words; w++) {
    const char     *text = maps->words[w].text;
    const int       capacity = (int) strlen (text) + 2;
    g_autofree int *ids = g_new (int, capacity);
    g_autofree int *word_of_token = g_new (int, capacity);
    const int       n = wp_tokenizer_encode (model->tokenizer, text, ids, word_of_token, capacity);

    pieces[w] = n > 3 && word_of_token[1] == word_of_token[n - 2] ? n - 2 : 1;
  }
  return pieces;
}

/* Maps of one model (prompts: its prompt cache); NULL when cancelled. */
static WpWordMaps *
compute_maps (const WpModel          *model,
              WpPrompts              *prompts,
              const WpImageEmbedding *image,
              const WpTextEmbedding  *text,
              const WpMapSettings    *settings,
              guint                   methods,
              GCancellable           *cancellable)
{
  WpMapOptions options;

  wp_map_options_init (&options);
  options.prompt_cache = prompts->cache;
  options.methods = settings->methods & methods;
  options.query = settings->query;
  options.template_text = settings->template_text;
  options.surgery = settings->surgery;
  options.legrad_layers = settings->legrad_layers;
  return wp_word_maps_new_full (model, image, text, &options, cancellable);
}

static void
maps_worker (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  MapsWork      *work = task_data;
  WpFeatures    *features = work->features;
  const WpModel *model = features->model->model;
  WpShown       *shown = g_new0 (WpShown, 1);

  work->shown = shown;
  shown->features = g_atomic_rc_box_acquire (features);
  shown->caption = g_strdup (work->caption);
  map_settings_copy (&shown->settings, &work->settings);
  shown->text = wp_embed_text (model, work->caption);
  shown->maps = compute_maps (model, features->prompts, features->embedding, shown->text,
                              &work->settings, features->methods, cancellable);
  if (shown->maps != NULL && features->compare_model != NULL) {
    shown->compare_text = wp_embed_text (features->compare_model->model, work->caption);
    shown->compare_maps =
      compute_maps (features->compare_model->model, features->compare_prompts,
                    features->compare_embedding, shown->compare_text, &work->settings,
                    features->methods, cancellable);
  }
  if (shown->maps == NULL || (features->compare_model != NULL && shown->compare_maps == NULL)) {
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "superseded");
    return;
  }
  shown->token_labels = g_ptr_array_new_with_free_func (g_free);
  for (int t = 0; t < shown->text->n_tokens; t++)
    g_ptr_array_add (shown->token_labels,
                     wp_tokenizer_dup_token_text (model->tokenizer, shown->text->ids[t]));
  if (work->settings.query == WP_QUERY_TOKEN)
    shown->cut_words = cut_words (model, work->caption, shown->text->n_tokens);
  else
    shown->pieces = query_pieces (model, shown->maps);
  g_task_return_boolean (task, TRUE);
}

static void recompute (WpWindow *self);
static void start_image (WpWindow *self,
                         gboolean  decode);

static void
maps_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  WpWindow *self = WP_WINDOW (source);
  GTask    *task = G_TASK (result);
  MapsWork *work = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  const gboolean ok = g_task_propagate_boolean (task, &error);

  self->pending--;
  /* Only the newest request's maps are shown. */
  if (g_task_get_cancellable (task) != self->maps_cancellable)
    return;
  self->maps_busy = FALSE;
  update_stale (self);
  if (!ok) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      wp_window_set_status (self, error->message);
    return;
  }
  g_clear_pointer (&self->shown, shown_free);
  self->shown = g_steal_pointer (&work->shown);
  wp_word_bar_set_words (self->word_bar, self->shown->maps,
                         (const char *const *) self->shown->token_labels->pdata,
                         self->shown->pieces, (const char *const *) self->shown->cut_words);
  update_scores (self);
  update_view (self);
}

static void
start_maps (WpWindow *self)
{
  g_autoptr (GTask) task = NULL;
  MapsWork *work;

  g_cancellable_cancel (self->maps_cancellable);
  g_clear_object (&self->maps_cancellable);
  self->maps_cancellable = g_cancellable_new ();
  self->maps_busy = TRUE;
  self->maps_wanted = FALSE;
  work = g_new0 (MapsWork, 1);
  work->features = g_atomic_rc_box_acquire (self->features);
  work->caption = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->caption_entry)));
  map_settings_copy (&work->settings, &self->settings);
  task = g_task_new (self, self->maps_cancellable, maps_done_cb, NULL);
  g_task_set_task_data (task, work, maps_work_free);
  g_task_set_name (task, "[wp] word maps");
  self->pending++;
  update_stale (self);
  wp_worker_run (task, maps_worker);
}

static void
image_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  WpWindow  *self = WP_WINDOW (source);
  GTask     *task = G_TASK (result);
  ImageWork *work = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  const gboolean ok = g_task_propagate_boolean (task, &error);

  self->pending--;
  if (g_task_get_cancellable (task) != self->image_cancellable)
    return;
  self->image_busy = FALSE;
  if (!ok) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      wp_window_set_status (self, error->message);
    /* The image shown stays: later edits are computed over it. */
    g_free (self->image_path);
    self->image_path = self->picture != NULL ? g_strdup (self->picture->path) : NULL;
    self->maps_wanted = FALSE;
    update_stale (self);
    return;
  }
  if (self->picture != work->picture) {
    g_clear_pointer (&self->picture, picture_unref);
    self->picture = g_atomic_rc_box_acquire (work->picture);
  }
  g_clear_pointer (&self->features, features_unref);
  self->features = g_steal_pointer (&work->features);
  wp_window_set_status (self, self->picture->path);
  recompute (self);
}

/* The features of the newest image, model and view; decode: read the image file again. */
static void
start_image (WpWindow *self,
             gboolean  decode)
{
  g_autoptr (GTask) task = NULL;
  ImageWork *work;

  g_cancellable_cancel (self->image_cancellable);
  g_clear_object (&self->image_cancellable);
  self->image_cancellable = g_cancellable_new ();
  /* The maps in flight were asked of features about to be replaced. */
  g_cancellable_cancel (self->maps_cancellable);
  g_clear_object (&self->maps_cancellable);
  self->maps_busy = FALSE;
  self->image_busy = TRUE;
  self->maps_wanted = TRUE;
  work = g_new0 (ImageWork, 1);
  if (!decode && self->picture != NULL && g_strcmp0 (self->picture->path, self->image_path) == 0)
    work->picture = g_atomic_rc_box_acquire (self->picture);
  work->path = g_strdup (self->image_path);
  work->view = self->settings.view;
  work->methods = self->settings.methods;
  work->model = wp_model_ref_acquire (self->model);
  work->compare_model =
    self->compare_model != NULL ? wp_model_ref_acquire (self->compare_model) : NULL;
  work->prompts = prompts_ref (self->prompts);
  work->compare_prompts = prompts_ref (self->compare_prompts);
  task = g_task_new (self, self->image_cancellable, image_done_cb, NULL);
  g_task_set_task_data (task, work, image_work_free);
  g_task_set_name (task, "[wp] embed image");
  self->pending++;
  update_stale (self);
  if (work->picture == NULL)
    wp_window_set_status (self, "computing the image's patch embeddings…");
  wp_worker_run (task, image_worker);
}

/* Whether the newest features are those of the image, models, view and methods asked for. */
static gboolean
features_current (WpWindow *self)
{
  const WpFeatures *features = self->features;

  return features != NULL && features->model == self->model &&
         features->compare_model == self->compare_model && self->picture != NULL &&
         features->picture == self->picture &&
         g_strcmp0 (self->image_path, self->picture->path) == 0 &&
         same_view (&features->view, &self->settings.view) &&
         (self->settings.methods & ~features->methods) == 0;
}

/* Brings the figure up to date with the image, models, caption and settings: the image's
 * features only when they changed (image, model, view or a method they were not computed for),
 * then the caption's maps. */
static void
recompute (WpWindow *self)
{
  if (self->model == NULL || self->image_path == NULL)
    return;
  if (self->image_busy)
    self->maps_wanted = TRUE;
  else if (!features_current (self))
    start_image (self, FALSE);
  else
    start_maps (self);
  update_stale (self);
}

void
wp_window_open_image (WpWindow   *self,
                      const char *path)
{
  g_free (self->image_path);
  self->image_path = g_strdup (path);
  if (self->model != NULL)
    start_image (self, TRUE);
}

char *
wp_window_describe_model (const WpModel *model)
{
  g_autofree char *name =
    model->path != NULL ? g_path_get_basename (model->path) : g_strdup ("new model");
  const char      *objective = model->config.objective;
  g_autofree char *kind = objective != NULL ? g_ascii_strup (objective, -1) : NULL;

  return g_strdup_printf ("%s · %s · step %" G_GINT64_FORMAT, name,
                          kind != NULL ? kind : "objective not recorded", model->step);
}

/* The window's title and the header's subtitle name the model the page shows. */
static void
update_title (WpWindow *self)
{
  g_autofree char *title = NULL;

  if (self->model_label == NULL) {
    gtk_window_set_title (GTK_WINDOW (self), "wordpatch");
    gtk_label_set_text (self->subtitle_label, "no model");
    return;
  }
  title = g_strdup_printf ("wordpatch — %s", self->model_label);
  gtk_window_set_title (GTK_WINDOW (self), title);
  gtk_label_set_text (self->subtitle_label, self->model_label);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->subtitle_label),
                               self->model->model->path != NULL ? self->model->model->path
                                                                : self->model_label);
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

static void
set_model (WpWindow   *self,
           WpModelRef *model,
           const char *label)
{
  if (self->model == model)
    return;
  g_clear_pointer (&self->model, wp_model_ref_release);
  self->model = wp_model_ref_acquire (model);
  g_clear_pointer (&self->prompts, prompts_unref);
  self->prompts = prompts_new (model);
  g_free (self->model_label);
  self->model_label = g_strdup (label);
  update_title (self);
  update_resolution_labels (self);
  /* The resolution is a multiple of this model's size. */
  read_settings (self);
  recompute (self);
}

void
wp_window_set_compare_model (WpWindow   *self,
                             WpModelRef *model,
                             const char *label)
{
  g_clear_pointer (&self->compare_model, wp_model_ref_release);
  self->compare_model = model != NULL ? wp_model_ref_acquire (model) : NULL;
  g_clear_pointer (&self->compare_prompts, prompts_unref);
  self->compare_prompts = prompts_new (model);
  g_free (self->compare_label);
  self->compare_label = g_strdup (label);
  /* Methods side by side are not drawn while two models are. */
  gtk_widget_set_sensitive (GTK_WIDGET (self->side_by_side_check), model == NULL);
  read_settings (self);
  recompute (self);
}

/* A folder that is not a model says which of a model's files it lacks, instead of the first
 * one the loader tripped over. NULL when path is no folder or has them. */
static char *
missing_model_files (const char *path)
{
  static const char *const files[] = { "config.json", "model.safetensors", "vocab.json",
                                       "merges.txt" };
  g_autoptr (GString) missing = g_string_new (NULL);
  g_autofree char *latest = g_build_filename (path, "latest", NULL);
  g_autofree char *spiece = g_build_filename (path, WP_SPIECE_FILE, NULL);

  if (!g_file_test (path, G_FILE_TEST_IS_DIR) || g_file_test (latest, G_FILE_TEST_IS_DIR))
    return NULL;
  /* A SigLIP folder's vocabulary is spiece.model instead: the loader says what else it lacks. */
  if (g_file_test (spiece, G_FILE_TEST_EXISTS))
    return NULL;
  for (gsize i = 0; i < G_N_ELEMENTS (files); i++) {
    g_autofree char *file = g_build_filename (path, files[i], NULL);

    if (!g_file_test (file, G_FILE_TEST_EXISTS))
      g_string_append_printf (missing, "%s%s", missing->len > 0 ? ", " : "", files[i]);
  }
  if (missing->len == 0)
    return NULL;
  return g_strdup_printf ("%s: not a model folder: it has no %s (a model folder holds "
                          "config.json, model.safetensors, vocab.json and merges.txt)",
                          path, missing->str);
}

/* A model loaded or its error: said in the window. */
static WpModel *
load_model (WpWindow   *self,
            const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *missing = missing_model_files (path);
  WpModel         *model;

  if (missing != NULL) {
    wp_window_set_status (self, missing);
    return NULL;
  }
  model = wp_model_load (path, &error);
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
  set_model (self, ref, label);
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
  recompute (self);
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
static void
read_settings (WpWindow *self)
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
  read_settings (self);
  update_view (self);
}

/* What the maps are computed with: they are computed again (the image's features only when
 * they must be). */
static void
settings_changed_cb (WpWindow *self)
{
  if (self->updating_controls)
    return;
  read_settings (self);
  update_view (self);
  recompute (self);
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

/* One check button a method for the side-by-side view; FILIP's, MaskCLIP's, ClearCLIP's and
 * LeGrad's checked: the raw map beside two training-free ones and a gradient one. */
static void
add_side_method_checks (WpWindow *self)
{
  static const char *const labels[WP_N_MAP_METHODS] = {
    "FILIP map",
    "SPARC grouping",
    "MaskCLIP",
    "SCLIP",
    "ClearCLIP",
    "NACLIP",
    "Grad-CAM",
    "Chefer",
    "LeGrad",
  };
  const guint checked = WP_MAP_BIT (WP_MAP_FILIP) | WP_MAP_BIT (WP_MAP_MASKCLIP) |
                        WP_MAP_BIT (WP_MAP_CLEARCLIP) | WP_MAP_BIT (WP_MAP_LEGRAD);

  for (int m = 0; m < WP_N_MAP_METHODS; m++) {
    GtkWidget *check = gtk_check_button_new_with_label (labels[m]);

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
  g_clear_pointer (&self->shown, shown_free);
  g_clear_pointer (&self->features, features_unref);
  g_clear_pointer (&self->picture, picture_unref);
  g_clear_pointer (&self->model, wp_model_ref_release);
  g_clear_pointer (&self->compare_model, wp_model_ref_release);
  g_clear_pointer (&self->prompts, prompts_unref);
  g_clear_pointer (&self->compare_prompts, prompts_unref);
  map_settings_clear (&self->settings);
  g_free (self->model_label);
  g_free (self->compare_label);
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
  read_settings (self);
  g_signal_connect_swapped (self->caption_entry, "changed", G_CALLBACK (caption_changed_cb), self);
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
