#define G_LOG_DOMAIN "wp-window"

/* wp-window-maps.c: the Explore page's computation. An image's features (its patch embeddings
 * under a view, for the models shown) are computed on a worker once, then each caption's maps over
 * them; results apply only if their cancellable is still the current one (newest edit wins). */
#include "wp-window-private.h"

#include <string.h>

#include "wp-worker.h"

/* ---- what the workers share ---- */

static void
picture_clear (gpointer data)
{
  WpPicture *picture = data;

  g_free (picture->path);
  g_clear_pointer (&picture->image, wp_image_free);
}

void
wp_picture_unref (gpointer picture)
{
  g_atomic_rc_box_release_full (picture, picture_clear);
}

void
wp_map_settings_clear (WpMapSettings *settings)
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

void
wp_prompts_unref (gpointer prompts)
{
  g_atomic_rc_box_release_full (prompts, prompts_clear);
}

/* A prompt cache for model (NULL: none). */
WpPrompts *
wp_prompts_new (WpModelRef *model)
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

  g_clear_pointer (&features->picture, wp_picture_unref);
  g_clear_pointer (&features->model, wp_model_ref_release);
  g_clear_pointer (&features->compare_model, wp_model_ref_release);
  g_clear_pointer (&features->prompts, wp_prompts_unref);
  g_clear_pointer (&features->compare_prompts, wp_prompts_unref);
  g_clear_pointer (&features->embedding, wp_image_embedding_free);
  g_clear_pointer (&features->compare_embedding, wp_image_embedding_free);
}

void
wp_features_unref (gpointer features)
{
  g_atomic_rc_box_release_full (features, features_clear);
}

void
wp_shown_free (gpointer data)
{
  WpShown *shown = data;

  g_clear_pointer (&shown->features, wp_features_unref);
  g_free (shown->caption);
  wp_map_settings_clear (&shown->settings);
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
void
wp_window_update_view (WpWindow *self)
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

  g_clear_pointer (&work->picture, wp_picture_unref);
  g_free (work->path);
  g_clear_pointer (&work->model, wp_model_ref_release);
  g_clear_pointer (&work->compare_model, wp_model_ref_release);
  g_clear_pointer (&work->prompts, wp_prompts_unref);
  g_clear_pointer (&work->compare_prompts, wp_prompts_unref);
  g_clear_pointer (&work->features, wp_features_unref);
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
    WpImage *image = wp_image_load_upright (work->path, &error);

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

  g_clear_pointer (&work->features, wp_features_unref);
  g_free (work->caption);
  wp_map_settings_clear (&work->settings);
  g_clear_pointer (&work->shown, wp_shown_free);
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

static void start_image (WpWindow *self,
                         gboolean  decode);

/* A worker finished, and the window counts it so. TRUE when it was the newest request's (its
 * cancellable is still current), with its outcome in ok; an error other than a cancellation is
 * shown in the status line. */
static gboolean
finish_task (WpWindow     *self,
             GAsyncResult *result,
             GCancellable *current,
             gboolean     *ok,
             GError      **error)
{
  GTask *task = G_TASK (result);

  *ok = g_task_propagate_boolean (task, error);
  self->pending--;
  if (g_task_get_cancellable (task) != current)
    return FALSE;
  if (!*ok && !g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    wp_window_set_status (self, (*error)->message);
  return TRUE;
}

/* Runs worker over work (freed with free_work) on a worker thread as the request cancellable
 * belongs to; done follows on the main thread. */
static void
run_request (WpWindow           *self,
             GCancellable       *cancellable,
             const char         *name,
             gpointer            work,
             GDestroyNotify      free_work,
             GAsyncReadyCallback done,
             GTaskThreadFunc     worker)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, done, NULL);

  g_task_set_task_data (task, work, free_work);
  g_task_set_name (task, name);
  self->pending++;
  update_stale (self);
  wp_worker_run (task, worker);
}

/* Cancels the request in flight, if any. */
static void
cancel_request (GCancellable **cancellable)
{
  g_cancellable_cancel (*cancellable);
  g_clear_object (cancellable);
}

static void
maps_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  WpWindow *self = WP_WINDOW (source);
  MapsWork *work = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;
  gboolean ok;

  /* Only the newest request's maps are shown. */
  if (!finish_task (self, result, self->maps_cancellable, &ok, &error))
    return;
  self->maps_busy = FALSE;
  update_stale (self);
  if (!ok)
    return;
  g_clear_pointer (&self->shown, wp_shown_free);
  self->shown = g_steal_pointer (&work->shown);
  wp_word_bar_set_words (self->word_bar, self->shown->maps,
                         (const char *const *) self->shown->token_labels->pdata,
                         self->shown->pieces, (const char *const *) self->shown->cut_words);
  update_scores (self);
  wp_window_update_view (self);
}

static void
start_maps (WpWindow *self)
{
  MapsWork *work;

  cancel_request (&self->maps_cancellable);
  self->maps_cancellable = g_cancellable_new ();
  self->maps_busy = TRUE;
  self->maps_wanted = FALSE;
  work = g_new0 (MapsWork, 1);
  work->features = g_atomic_rc_box_acquire (self->features);
  work->caption = g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->caption_entry)));
  map_settings_copy (&work->settings, &self->settings);
  run_request (self, self->maps_cancellable, "[wp] word maps", work, maps_work_free, maps_done_cb,
               maps_worker);
}

static void
image_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  WpWindow  *self = WP_WINDOW (source);
  ImageWork *work = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;
  gboolean ok;

  if (!finish_task (self, result, self->image_cancellable, &ok, &error))
    return;
  self->image_busy = FALSE;
  if (!ok) {
    /* The image shown stays: later edits are computed over it. */
    g_free (self->image_path);
    self->image_path = self->picture != NULL ? g_strdup (self->picture->path) : NULL;
    self->maps_wanted = FALSE;
    update_stale (self);
    return;
  }
  if (self->picture != work->picture) {
    g_clear_pointer (&self->picture, wp_picture_unref);
    self->picture = g_atomic_rc_box_acquire (work->picture);
  }
  g_clear_pointer (&self->features, wp_features_unref);
  self->features = g_steal_pointer (&work->features);
  wp_window_set_status (self, self->picture->path);
  wp_window_recompute (self);
}

/* The features of the newest image, model and view; decode: read the image file again. */
static void
start_image (WpWindow *self,
             gboolean  decode)
{
  ImageWork *work;

  cancel_request (&self->image_cancellable);
  self->image_cancellable = g_cancellable_new ();
  /* The maps in flight were asked of features about to be replaced. */
  cancel_request (&self->maps_cancellable);
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
  if (work->picture == NULL)
    wp_window_set_status (self, "computing the image's patch embeddings…");
  run_request (self, self->image_cancellable, "[wp] embed image", work, image_work_free,
               image_done_cb, image_worker);
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
void
wp_window_recompute (WpWindow *self)
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
