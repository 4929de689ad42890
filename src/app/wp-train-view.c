#define G_LOG_DOMAIN "wp-train-view"

#include "wp-train-view.h"

#include <math.h>
#include <string.h>

#include "plot.h"
#include "wp-file-chooser.h"
#include "wp-worker.h"

/* Skipped lines the dataset summary names; the rest are counted. */
#define SUMMARY_WARNINGS 5

struct _WpTrainView {
  GtkBox parent_instance;

  /* Template widgets */
  GtkLabel       *model_label;
  GtkEntry       *data_entry;
  GtkLabel       *data_summary_label;
  GtkDropDown    *objective_dropdown;
  GtkLabel       *lambda_global_label;
  GtkSpinButton  *lambda_global_spin;
  GtkLabel       *lambda_fine_label;
  GtkSpinButton  *lambda_fine_spin;
  GtkLabel       *filip_patches_label;
  GtkSpinButton  *filip_patches_spin;
  GtkLabel       *filip_global_label;
  GtkSpinButton  *filip_global_spin;
  GtkLabel       *box_weight_label;
  GtkSpinButton  *box_weight_spin;
  GtkEntry       *lr_entry;
  GtkSpinButton  *batch_spin;
  GtkSpinButton  *steps_spin;
  GtkSpinButton  *epochs_spin;
  GtkCheckButton *freeze_text_check;
  GtkCheckButton *freeze_vision_check;
  GtkCheckButton *augment_check;
  GtkSpinButton  *save_every_spin;
  GtkEntry       *out_entry;
  GtkEntry       *seed_entry;
  GtkSpinButton  *warmup_spin;
  GtkSpinButton  *weight_decay_spin;
  GtkSpinButton  *holdout_spin;
  GtkSpinButton  *keep_spin;
  GtkLabel       *box_tau_label;
  GtkSpinButton  *box_tau_spin;
  GtkLabel       *threads_label;
  GtkButton      *pause_button;
  GtkGrid        *eval_grid;
  GtkProgressBar *progress_bar;
  GtkLabel       *status_label;
  GtkScale       *smoothing_scale;
  GtkCheckButton *log_check;
  GtkDrawingArea *loss_plot;
  GtkDrawingArea *scale_plot;
  GtkDrawingArea *eval_plot;
  GtkListBox     *checkpoints_list;

  /* Owned */
  WpTrainSession *session;
  WpModelRef     *model;
  GCancellable   *check_cancellable;
  GCancellable   *eval_cancellable;
  guint           pending;
  char           *data_summary;
  char           *status;
  char           *notice; /* what an action said, shown until the session changes */
  GString        *evaluation;
  GtkWidget      *continue_dialog;
  WpTrainSettings continue_settings; /* the run the dialog offers to continue */
};

G_DEFINE_FINAL_TYPE (WpTrainView, wp_train_view, GTK_TYPE_BOX)

enum {
  SIGNAL_OPEN_CHECKPOINT,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

/* matplotlib's tab10, as the figures use for words */
static const guint32 curve_colours[] = { 0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728 };

/* ---- the form: the engine's settings, one widget each ---- */

typedef enum {
  FIELD_SPIN,
  FIELD_CHECK,
  FIELD_ENTRY,
  FIELD_OBJECTIVE, /* a drop-down in WpObjective's order */
} FieldKind;

typedef struct {
  const char *name;  /* in the settings table */
  const char *label; /* as the form says it, in messages */
  gsize       offset;
  FieldKind   kind;
} FormField;

#define WIDGET(member) G_STRUCT_OFFSET (WpTrainView, member)

static const FormField form_fields[] = {
  { "loss", "objective", WIDGET (objective_dropdown), FIELD_OBJECTIVE },
  { "lambda_global", "SPARC λ global", WIDGET (lambda_global_spin), FIELD_SPIN },
  { "lambda_fine", "SPARC λ fine", WIDGET (lambda_fine_spin), FIELD_SPIN },
  { "filip_patch_fraction", "FILIP patches kept", WIDGET (filip_patches_spin), FIELD_SPIN },
  { "filip_global", "FILIP global weight", WIDGET (filip_global_spin), FIELD_SPIN },
  { "box_weight", "box weight", WIDGET (box_weight_spin), FIELD_SPIN },
  { "lr", "learning rate", WIDGET (lr_entry), FIELD_ENTRY },
  { "batch", "batch", WIDGET (batch_spin), FIELD_SPIN },
  { "steps", "steps", WIDGET (steps_spin), FIELD_SPIN },
  { "epochs", "epochs", WIDGET (epochs_spin), FIELD_SPIN },
  { "freeze_text", "freeze the text tower", WIDGET (freeze_text_check), FIELD_CHECK },
  { "freeze_vision", "freeze the image tower", WIDGET (freeze_vision_check), FIELD_CHECK },
  { "augment", "augment images", WIDGET (augment_check), FIELD_CHECK },
  { "save_every", "checkpoint every", WIDGET (save_every_spin), FIELD_SPIN },
  { "seed", "seed", WIDGET (seed_entry), FIELD_ENTRY },
  { "warmup", "warm-up share", WIDGET (warmup_spin), FIELD_SPIN },
  { "weight_decay", "weight decay", WIDGET (weight_decay_spin), FIELD_SPIN },
  { "holdout", "hold-out share", WIDGET (holdout_spin), FIELD_SPIN },
  { "keep", "checkpoints kept", WIDGET (keep_spin), FIELD_SPIN },
  { "box_tau", "box τ", WIDGET (box_tau_spin), FIELD_SPIN },
};

static GtkWidget *
field_widget (WpTrainView     *self,
              const FormField *field)
{
  return G_STRUCT_MEMBER (GtkWidget *, self, field->offset);
}

static const WpTrainSetting *
field_setting (const FormField *field)
{
  const WpTrainSetting *setting = wp_train_settings_find (field->name);

  g_assert (setting != NULL);
  return setting;
}

/* A spin button's range is the setting's; an open end is the smallest step the button shows
 * inside it. */
static void
init_field (WpTrainView     *self,
            const FormField *field)
{
  const WpTrainSetting *setting = field_setting (field);
  GtkWidget            *widget = field_widget (self, field);

  gtk_widget_set_tooltip_text (widget, setting->help);
  if (field->kind == FIELD_SPIN) {
    GtkSpinButton *spin = GTK_SPIN_BUTTON (widget);
    GtkAdjustment *adjustment = gtk_spin_button_get_adjustment (spin);
    const double   inside = pow (10.0, -(double) gtk_spin_button_get_digits (spin));

    gtk_adjustment_set_lower (adjustment,
                              setting->min + (setting->flags & WP_SETTING_MIN_OPEN ? inside : 0.0));
    gtk_adjustment_set_upper (adjustment,
                              setting->max - (setting->flags & WP_SETTING_MAX_OPEN ? inside : 0.0));
  } else if (field->kind == FIELD_ENTRY && setting->default_help != NULL) {
    g_autofree char *tooltip = g_strdup_printf ("%s; empty: %s", setting->help,
                                                setting->default_help);

    /* An empty entry is the engine's default, which may depend on the run (the learning rate). */
    gtk_entry_set_placeholder_text (GTK_ENTRY (widget), setting->default_help);
    gtk_widget_set_tooltip_text (widget, tooltip);
  }
}

/* Shows settings in the form: the engine's defaults, or a run's own. */
static void
fill_form (WpTrainView           *self,
           const WpTrainSettings *settings)
{
  g_auto (WpTrainSettings) defaults = { 0 };

  wp_train_settings_init (&defaults);
  for (gsize i = 0; i < G_N_ELEMENTS (form_fields); i++) {
    const WpTrainSetting *setting = field_setting (&form_fields[i]);
    GtkWidget            *widget = field_widget (self, &form_fields[i]);
    g_autofree char      *text = wp_train_setting_to_string (setting, settings);

    switch (form_fields[i].kind) {
    case FIELD_SPIN:
      gtk_spin_button_set_value (GTK_SPIN_BUTTON (widget), g_ascii_strtod (text, NULL));
      break;
    case FIELD_CHECK:
      gtk_check_button_set_active (GTK_CHECK_BUTTON (widget), strcmp (text, "true") == 0);
      break;
    case FIELD_ENTRY:
      gtk_editable_set_text (GTK_EDITABLE (widget),
                             setting->default_help != NULL &&
                                 wp_train_setting_equal (setting, settings, &defaults)
                               ? ""
                               : text);
      break;
    case FIELD_OBJECTIVE:
      gtk_drop_down_set_selected (GTK_DROP_DOWN (widget), settings->loss.objective);
      break;
    }
  }
}

/* The form's settings over settings' own, each checked against its range; FALSE with an error
 * naming the field as the form does otherwise. */
static gboolean
read_form (WpTrainView     *self,
           WpTrainSettings *settings,
           GError         **error)
{
  for (gsize i = 0; i < G_N_ELEMENTS (form_fields); i++) {
    const WpTrainSetting *setting = field_setting (&form_fields[i]);
    GtkWidget            *widget = field_widget (self, &form_fields[i]);
    g_autofree char      *text = NULL;
    char                  number[G_ASCII_DTOSTR_BUF_SIZE];

    switch (form_fields[i].kind) {
    case FIELD_SPIN:
      /* Text typed and not yet taken (the focus still in the field) counts. */
      gtk_spin_button_update (GTK_SPIN_BUTTON (widget));
      text = g_strdup (g_ascii_dtostr (number, sizeof number,
                                       gtk_spin_button_get_value (GTK_SPIN_BUTTON (widget))));
      break;
    case FIELD_CHECK:
      text = g_strdup (gtk_check_button_get_active (GTK_CHECK_BUTTON (widget)) ? "true" : "false");
      break;
    case FIELD_ENTRY:
      text = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (widget))));
      if (text[0] == '\0' && setting->default_help != NULL) {
        g_auto (WpTrainSettings) defaults = { 0 };

        wp_train_settings_init (&defaults);
        wp_train_setting_copy (setting, settings, &defaults);
        continue;
      }
      break;
    case FIELD_OBJECTIVE:
      text = g_strdup (
        wp_objective_to_string ((WpObjective) gtk_drop_down_get_selected (GTK_DROP_DOWN (widget))));
      break;
    }
    if (!wp_train_setting_parse (setting, settings, text, form_fields[i].label, error))
      return FALSE;
  }
  return TRUE;
}

/* The objective's own weights are the ones that can be set. */
static void
objective_changed_cb (WpTrainView *self)
{
  const WpObjective objective = (WpObjective) gtk_drop_down_get_selected (self->objective_dropdown);
  GtkWidget        *sparc[] = { GTK_WIDGET (self->lambda_global_label),
                                GTK_WIDGET (self->lambda_global_spin),
                                GTK_WIDGET (self->lambda_fine_label),
                                GTK_WIDGET (self->lambda_fine_spin) };
  GtkWidget        *filip[] = { GTK_WIDGET (self->filip_patches_label),
                                GTK_WIDGET (self->filip_patches_spin),
                                GTK_WIDGET (self->filip_global_label),
                                GTK_WIDGET (self->filip_global_spin) };

  for (gsize i = 0; i < G_N_ELEMENTS (sparc); i++)
    gtk_widget_set_sensitive (sparc[i], objective == WP_OBJECTIVE_SPARC);
  for (gsize i = 0; i < G_N_ELEMENTS (filip); i++)
    gtk_widget_set_sensitive (filip[i], objective == WP_OBJECTIVE_FILIP);
}

/* ---- messages ---- */

static void refresh (WpTrainView *self);
static void clear_evaluation (WpTrainView *self);

static void
set_notice (WpTrainView *self,
            const char  *notice)
{
  g_free (self->notice);
  self->notice = g_strdup (notice);
  refresh (self);
}

static void
set_data_summary (WpTrainView *self,
                  const char  *summary,
                  gboolean     problem)
{
  g_free (self->data_summary);
  self->data_summary = g_strdup (summary);
  gtk_label_set_text (self->data_summary_label, summary);
  if (problem)
    gtk_widget_add_css_class (GTK_WIDGET (self->data_summary_label), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->data_summary_label), "error");
}

/* The box term needs boxed words: without them its fields are off, and its weight 0 so that the
 * form shows what a run would do. */
static void
set_box_words (WpTrainView *self,
               guint        box_words)
{
  GtkWidget *fields[] = { GTK_WIDGET (self->box_weight_label), GTK_WIDGET (self->box_weight_spin),
                          GTK_WIDGET (self->box_tau_label), GTK_WIDGET (self->box_tau_spin) };

  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    gtk_widget_set_sensitive (fields[i], box_words > 0);
  if (box_words == 0)
    gtk_spin_button_set_value (self->box_weight_spin, 0.0);
}

/* ---- the dataset check ---- */

typedef struct {
  WpModelRef *model;
  char       *dir;
  char       *summary;
  guint       box_words; /* what the box term would train on */
} Check;

static void
check_free (gpointer data)
{
  Check *check = data;

  g_clear_pointer (&check->model, wp_model_ref_release);
  g_free (check->dir);
  g_free (check->summary);
  g_free (check);
}

/* The skipped lines, as the command line prints them, without the captions file's name that
 * the summary's first line gives. */
static void
append_skipped (GString         *text,
                const WpDataset *dataset)
{
  const GPtrArray *warnings = wp_dataset_get_warnings (dataset);
  const char      *file = wp_dataset_get_file (dataset);
  const guint      named = MIN (warnings->len, SUMMARY_WARNINGS);
  guint            skipped = 0;

  for (int r = 0; r < WP_SKIP_N_REASONS; r++)
    skipped += wp_dataset_get_n_skipped (dataset, (WpSkipReason) r);
  for (guint i = 0; i < named; i++) {
    const char *warning = warnings->pdata[i];

    if (g_str_has_prefix (warning, file) && warning[strlen (file)] == ' ')
      warning += strlen (file) + 1;
    g_string_append_printf (text, "  %s\n", warning);
  }
  if (skipped > named)
    g_string_append_printf (text, "  … and %u more\n", skipped - named);
}

static void
check_worker (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  Check   *check = task_data;
  GError  *error = NULL;
  GString *text = g_string_new (NULL);
  g_autoptr (WpDataset) dataset = wp_dataset_open (check->dir, &error);
  g_autofree char *skipped = NULL;
  g_auto (WpVocabularyCoverage) coverage = { 0 };
  guint boxed = 0, n;

  if (dataset == NULL ||
      !wp_dataset_check_images (dataset, wp_get_threads (), cancellable, &error)) {
    g_string_free (text, TRUE);
    g_task_return_error (task, error);
    return;
  }
  n = wp_dataset_get_n_pairs (dataset);
  for (guint i = 0; i < n; i++)
    boxed += wp_dataset_get_pair (dataset, i)->n_boxes > 0;
  skipped = wp_dataset_describe_skipped (dataset);
  g_string_append_printf (text, "%u pairs (%s) ready in %s", n,
                          wp_dataset_get_format_name (dataset), wp_dataset_get_file (dataset));
  if (skipped != NULL) {
    g_string_append_printf (text, " (%s):\n", skipped);
    append_skipped (text, dataset);
  } else {
    g_string_append (text, ".\n");
  }
  if (boxed > 0) {
    check->box_words = wp_box_words_count (dataset, check->model->model);
    g_string_append_printf (text, "%u with word boxes: the pointing game is tracked", boxed);
    if (check->box_words > 0)
      g_string_append_printf (text, "; a box weight trains the maps of %u boxed words.\n",
                              check->box_words);
    else
      g_string_append (text, ", but no box names a word of its caption: no box term.\n");
  } else {
    g_string_append (text, "No word boxes: retrieval only, no pointing game, no box term.\n");
  }
  wp_dataset_get_vocabulary_coverage (dataset, check->model->model, &coverage);
  g_string_append_printf (text,
                          "Vocabulary: %.1f%% of %u words are whole tokens (%u of %u distinct)",
                          100.0 * coverage.whole / MAX (coverage.words, 1), coverage.words,
                          coverage.whole_distinct, coverage.distinct);
  for (guint i = 0; i < coverage.split->len; i++)
    g_string_append_printf (text, "%s%s", i == 0 ? "; split most often: " : ", ",
                            (const char *) coverage.split->pdata[i]);
  g_string_append (text, ".");
  if (coverage.truncated > 0)
    g_string_append_printf (text, "\n%u captions are longer than %d tokens and are cut.",
                            coverage.truncated, check->model->model->config.context_length);
  check->summary = g_string_free (text, FALSE);
  g_task_return_boolean (task, TRUE);
}

static void
check_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  WpTrainView *self = WP_TRAIN_VIEW (source);
  Check       *check = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;

  self->pending--;
  if (!g_task_propagate_boolean (G_TASK (result), &error)) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      set_data_summary (self, error->message, TRUE);
      set_box_words (self, 0);
    }
    return;
  }
  if (g_task_get_cancellable (G_TASK (result)) == self->check_cancellable) {
    set_data_summary (self, check->summary, FALSE);
    set_box_words (self, check->box_words);
  }
}

static void
start_check (WpTrainView *self)
{
  const char *dir = gtk_editable_get_text (GTK_EDITABLE (self->data_entry));
  g_autoptr (GTask) task = NULL;
  Check *check;

  g_cancellable_cancel (self->check_cancellable);
  g_clear_object (&self->check_cancellable);
  if (dir[0] == '\0' || self->model == NULL) {
    set_data_summary (self, "", FALSE);
    set_box_words (self, 0);
    return;
  }
  self->check_cancellable = g_cancellable_new ();
  check = g_new0 (Check, 1);
  check->model = wp_model_ref_acquire (self->model);
  check->dir = g_strdup (dir);
  task = g_task_new (self, self->check_cancellable, check_done_cb, NULL);
  g_task_set_task_data (task, check, check_free);
  g_task_set_name (task, "[wp] check dataset");
  self->pending++;
  set_data_summary (self, "checking the dataset's images…", FALSE);
  wp_worker_run (task, check_worker);
}

/* Another dataset: what went wrong with the previous one is no longer news. */
static void
data_dir_changed (WpTrainView *self)
{
  g_clear_pointer (&self->notice, g_free);
  wp_train_session_clear_error (self->session);
  start_check (self);
  refresh (self);
}

/* ---- plots ---- */

static void
draw_plot (cairo_t       *cr,
           int            width,
           int            height,
           WpTrainView   *self,
           const char    *title,
           const WpCurve *curves,
           const char   **labels,
           int            n,
           gboolean       smooth,
           gboolean       log_y)
{
  WpPlotSeries series[4];
  WpPlot       plot = { 0 };

  for (int i = 0; i < n; i++) {
    series[i].rgb = curve_colours[i];
    wp_train_session_get_curve (self->session, curves[i], &series[i].x, &series[i].y, &series[i].n);
    /* Terms the objective does not have stay out of the legend. */
    series[i].label = series[i].n > 0 ? labels[i] : NULL;
  }
  plot.title = title;
  plot.x_label = "step";
  plot.log_y = log_y;
  plot.smoothing = smooth ? gtk_range_get_value (GTK_RANGE (self->smoothing_scale)) : 0.0;
  plot.series = series;
  plot.n_series = n;
  wp_plot_draw (cr, &plot, width, height);
}

static void
draw_loss_cb (GtkDrawingArea *area,
              cairo_t        *cr,
              int             width,
              int             height,
              gpointer        user_data)
{
  static const WpCurve curves[] = { WP_CURVE_LOSS, WP_CURVE_LOSS_CLIP, WP_CURVE_LOSS_FINE,
                                    WP_CURVE_LOSS_BOX };
  static const char   *labels[] = { "loss", "L_CLIP (global term)",
                                    "fine-grained term (SPARC's L_f or L_FILIP)",
                                    "L_box (box term)" };
  WpTrainView         *self = user_data;

  draw_plot (cr, width, height, self, "training loss", curves, labels, G_N_ELEMENTS (curves), TRUE,
             gtk_check_button_get_active (self->log_check));
}

static void
draw_scale_cb (GtkDrawingArea *area,
               cairo_t        *cr,
               int             width,
               int             height,
               gpointer        user_data)
{
  static const WpCurve curves[] = { WP_CURVE_LOGIT_SCALE };
  static const char   *labels[] = { "exp(logit_scale)" };

  draw_plot (cr, width, height, user_data, "temperature", curves, labels, 1, FALSE, FALSE);
}

static void
draw_eval_cb (GtkDrawingArea *area,
              cairo_t        *cr,
              int             width,
              int             height,
              gpointer        user_data)
{
  static const WpCurve curves[] = { WP_CURVE_I2T_R1, WP_CURVE_T2I_R1, WP_CURVE_POINTING_FILIP,
                                    WP_CURVE_POINTING_SPARC };
  static const char   *labels[] = { "image→text R@1", "text→image R@1", "pointing (FILIP)",
                                    "pointing (SPARC)" };

  draw_plot (cr, width, height, user_data, "held out", curves, labels, G_N_ELEMENTS (curves), FALSE,
             FALSE);
}

/* ---- the session's state shown ---- */

static char *
format_duration (double seconds)
{
  const gint64 s = (gint64) MAX (0.0, seconds);

  if (s >= 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT ":%02d:%02d", s / 3600, (int) (s / 60 % 60),
                            (int) (s % 60));
  return g_strdup_printf ("%d:%02d", (int) (s / 60), (int) (s % 60));
}

static char *
describe_state (WpTrainView *self)
{
  const WpTrainState     state = wp_train_session_get_state (self->session);
  const WpTrainProgress *p = wp_train_session_get_progress (self->session);
  const GPtrArray       *checkpoints = wp_train_session_get_checkpoints (self->session);
  const char            *last =
    checkpoints->len > 0 ? checkpoints->pdata[checkpoints->len - 1] : "(none)";
  gboolean         at_start = FALSE;
  const char      *error = wp_train_session_get_error (self->session, &at_start);
  g_autofree char *eta = NULL;
  g_autoptr (GString) terms = g_string_new (NULL);

  /* A start that failed says so over the state of the run it left in place. */
  if (error != NULL && at_start && !wp_train_session_is_active (self->session))
    return g_strdup_printf ("Not started: %s", error);
  switch (state) {
  case WP_TRAIN_STATE_PREPARING:
    return g_strdup ("Preparing: checking every image, splitting off held-out pairs, writing or "
                     "reading the checkpoint…");
  case WP_TRAIN_STATE_STOPPED:
    return g_strdup_printf ("Stopped at step %" G_GINT64_FORMAT "; its last checkpoint is %s. "
                            "Start in the same output folder continues it.",
                            p->step, last);
  case WP_TRAIN_STATE_FINISHED:
    return g_strdup_printf ("Finished at step %" G_GINT64_FORMAT "; its last checkpoint is %s.",
                            p->step, last);
  case WP_TRAIN_STATE_FAILED:
  case WP_TRAIN_STATE_IDLE:
    if (error != NULL)
      return g_strdup_printf ("Training failed: %s", error);
    return g_strdup ("Pick a dataset folder and start: the open model is fine-tuned, each "
                     "checkpoint a model folder.");
  case WP_TRAIN_STATE_RUNNING:
  case WP_TRAIN_STATE_PAUSING:
  case WP_TRAIN_STATE_PAUSED:
  case WP_TRAIN_STATE_STOPPING:
    break;
  }
  eta = format_duration (p->eta_seconds);
  if (p->loss.fine != 0.0)
    g_string_printf (terms, "L_CLIP %.4f, L_fine %.4f", p->loss.clip, p->loss.fine);
  else if (p->loss.filip != 0.0 && p->loss.clip != 0.0)
    g_string_printf (terms, "L_FILIP %.4f, L_CLIP %.4f", p->loss.filip, p->loss.clip);
  else if (isfinite (p->loss.box))
    g_string_printf (terms, "%s %.4f", p->loss.filip != 0.0 ? "L_FILIP" : "L_CLIP",
                     p->loss.filip != 0.0 ? p->loss.filip : p->loss.clip);
  /* NAN without the box term. */
  if (isfinite (p->loss.box))
    g_string_append_printf (terms, ", L_box %.4f over %d words", p->loss.box, p->loss.box_words);
  if (terms->len > 0) {
    g_string_prepend (terms, " (");
    g_string_append_c (terms, ')');
  }
  return g_strdup_printf (
    "loss %.4f%s, lr %.3g, grad norm %.3g, logit scale %.2f, %.1f pairs/s, ETA %s%s",
    p->loss.total, terms->str, p->lr, p->grad_norm, p->logit_scale, p->pairs_per_second, eta,
    state == WP_TRAIN_STATE_STOPPING  ? " — stopping, writing a checkpoint…"
    : state == WP_TRAIN_STATE_PAUSING ? " — pausing after this step…"
    : state == WP_TRAIN_STATE_PAUSED  ? " — paused"
                                      : "");
}

static void
refresh (WpTrainView *self)
{
  const WpTrainState     state = wp_train_session_get_state (self->session);
  const WpTrainProgress *p = wp_train_session_get_progress (self->session);
  const gboolean         active = wp_train_session_is_active (self->session);
  const gboolean         paused = state == WP_TRAIN_STATE_PAUSED || state == WP_TRAIN_STATE_PAUSING;
  g_autofree char       *fraction = NULL;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.start",
                                 !active && self->model != NULL && self->continue_dialog == NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.pause",
                                 active && state != WP_TRAIN_STATE_STOPPING);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.stop",
                                 active && state != WP_TRAIN_STATE_STOPPING);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.evaluate",
                                 self->eval_cancellable == NULL &&
                                   wp_train_session_get_n_snapshots (self->session) > 0);
  gtk_button_set_label (self->pause_button, paused ? "Resume" : "Pause");

  /* While a run prepares, the progress is still the previous run's. */
  if (p->total_steps > 0 && state != WP_TRAIN_STATE_PREPARING) {
    fraction = g_strdup_printf ("step %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " (%s)", p->step,
                                p->total_steps, wp_train_state_to_string (state));
    gtk_progress_bar_set_fraction (self->progress_bar, (double) p->step / (double) p->total_steps);
  } else {
    fraction = g_strdup (wp_train_state_to_string (state));
    gtk_progress_bar_set_fraction (self->progress_bar, 0.0);
  }
  gtk_progress_bar_set_text (self->progress_bar, fraction);

  g_free (self->status);
  self->status = self->notice != NULL ? g_strdup (self->notice) : describe_state (self);
  gtk_label_set_text (self->status_label, self->status);
  gtk_widget_queue_draw (GTK_WIDGET (self->loss_plot));
  gtk_widget_queue_draw (GTK_WIDGET (self->scale_plot));
  gtk_widget_queue_draw (GTK_WIDGET (self->eval_plot));
}

static void
session_changed_cb (WpTrainSession *session,
                    WpTrainView    *self)
{
  g_clear_pointer (&self->notice, g_free);
  refresh (self);
}

static void
run_started_cb (WpTrainSession *session,
                WpTrainView    *self)
{
  clear_evaluation (self);
}

/* The list is what the session found on disk; step 0 is where fine-tuning started. */
static void
checkpoints_changed_cb (WpTrainSession *session,
                        WpTrainView    *self)
{
  const GPtrArray *paths = wp_train_session_get_checkpoints (session);
  GtkWidget       *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->checkpoints_list))) != NULL)
    gtk_list_box_remove (self->checkpoints_list, child);
  for (guint i = 0; i < paths->len; i++) {
    const gint64     step = wp_train_session_get_checkpoint_step (session, i);
    g_autofree char *name = step == 0 ? g_strdup ("start (step 0)")
                                      : g_strdup_printf ("step %" G_GINT64_FORMAT, step);
    GtkWidget       *label = gtk_label_new (name);

    gtk_label_set_xalign (GTK_LABEL (label), 0.0);
    gtk_widget_set_tooltip_text (label, paths->pdata[i]);
    g_object_set_data_full (G_OBJECT (label), "wp-path", g_strdup (paths->pdata[i]), g_free);
    gtk_list_box_append (self->checkpoints_list, label);
  }
  refresh (self);
}

/* The engine may have removed it since the list was read (it keeps the newest few): then the
 * list is read again instead of opening what is not there. */
static void
checkpoint_activated_cb (GtkListBox    *list,
                         GtkListBoxRow *row,
                         WpTrainView   *self)
{
  g_autofree char *path =
    g_strdup (g_object_get_data (G_OBJECT (gtk_list_box_row_get_child (row)), "wp-path"));
  g_autofree char *state = g_build_filename (path, "state.json", NULL);

  if (!g_file_test (state, G_FILE_TEST_IS_REGULAR)) {
    g_autofree char *notice =
      g_strdup_printf ("%s is no longer on disk: the run keeps only its newest checkpoints", path);

    wp_train_session_update_checkpoints (self->session);
    set_notice (self, notice);
    return;
  }
  g_signal_emit (self, signals[SIGNAL_OPEN_CHECKPOINT], 0, path);
}

/* ---- actions ---- */

static gboolean
read_settings (WpTrainView     *self,
               WpTrainSettings *settings,
               GError         **error)
{
  const char *data_dir = gtk_editable_get_text (GTK_EDITABLE (self->data_entry));
  const char *out_dir = gtk_editable_get_text (GTK_EDITABLE (self->out_entry));

  if (data_dir[0] == '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "choose a dataset folder first");
    return FALSE;
  }
  if (out_dir[0] == '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "choose an output folder for the run");
    return FALSE;
  }
  wp_train_settings_init (settings);
  if (!read_form (self, settings, error))
    return FALSE;
  settings->data_dir = g_strdup (data_dir);
  settings->out_dir = g_strdup (out_dir);
  settings->init_model = g_strdup (self->model->model->path);
  /* The app sets the count once for training and exploring alike; the run records it. */
  settings->threads = wp_get_threads ();
  return wp_train_settings_validate (settings, error);
}

static void
start_new (WpTrainView           *self,
           const WpTrainSettings *settings)
{
  g_autoptr (GError) error = NULL;

  if (!wp_train_session_start (self->session, settings, &error))
    set_notice (self, error->message);
}

/* A sibling of out_dir that does not exist yet: "run-2", "run-3", … */
static char *
new_folder_beside (const char *out_dir)
{
  g_autofree char *base = g_strdup (out_dir);

  while (g_str_has_suffix (base, G_DIR_SEPARATOR_S) && strlen (base) > 1)
    base[strlen (base) - 1] = '\0';
  for (int i = 2;; i++) {
    g_autofree char *candidate = g_strdup_printf ("%s-%d", base, i);

    if (!g_file_test (candidate, G_FILE_TEST_EXISTS))
      return g_steal_pointer (&candidate);
  }
}

static void
continue_response_cb (GtkDialog   *dialog,
                      int          response,
                      WpTrainView *self)
{
  g_auto (WpTrainSettings) run = self->continue_settings;
  g_autoptr (GError) error = NULL;

  memset (&self->continue_settings, 0, sizeof self->continue_settings);
  self->continue_dialog = NULL;
  gtk_window_destroy (GTK_WINDOW (dialog));
  if (response == GTK_RESPONSE_ACCEPT) {
    /* The form shows what runs: the run's own settings, with the changes it accepts. */
    fill_form (self, &run);
    if (!wp_train_session_resume (self->session, &run, &error))
      set_notice (self, error->message);
  } else if (response == WP_TRAIN_VIEW_RESPONSE_NEW_FOLDER) {
    g_auto (WpTrainSettings) settings = { 0 };
    g_autofree char *out_dir = new_folder_beside (run.out_dir);

    wp_train_view_set_out_dir (self, out_dir);
    if (read_settings (self, &settings, &error))
      start_new (self, &settings);
    else
      set_notice (self, error->message);
  } else {
    refresh (self);
  }
}

/* The run in the output folder, with what the form may change in it: the settings a resumed
 * run may change (train_settings.h) that the form shows, the dataset and the threads. Fills
 * differ with the form's other settings that are not the run's, which it keeps. */
static gboolean
prepare_continue (WpTrainView           *self,
                  const WpTrainSettings *form,
                  WpTrainSettings       *run,
                  GString               *differ,
                  GError               **error)
{
  static const char *const outside_form[] = { "data", "out", "threads" };

  if (!wp_train_settings_load (run, form->out_dir, error))
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (outside_form); i++)
    wp_train_setting_copy (wp_train_settings_find (outside_form[i]), run, form);
  for (gsize i = 0; i < G_N_ELEMENTS (form_fields); i++) {
    const WpTrainSetting *setting = field_setting (&form_fields[i]);

    if (setting->flags & WP_SETTING_RESUMABLE)
      wp_train_setting_copy (setting, run, form);
    else if (!wp_train_setting_equal (setting, run, form))
      g_string_append_printf (differ, "%s%s", differ->len > 0 ? ", " : "", form_fields[i].label);
  }
  if (g_strcmp0 (run->init_model, form->init_model) != 0)
    g_string_append_printf (differ, "%sthe model it fine-tunes (%s)", differ->len > 0 ? ", " : "",
                            run->init_model != NULL ? run->init_model : "none: from scratch");
  return TRUE;
}

static void
ask_continue (WpTrainView           *self,
              const WpTrainSettings *form)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) differ = g_string_new (NULL);
  g_autoptr (GArray) steps = wp_train_run_list_checkpoints (form->out_dir);
  g_autofree char *keeps = NULL;
  g_autofree char *stopped = NULL;
  GtkWidget       *dialog;
  GtkRoot         *root = gtk_widget_get_root (GTK_WIDGET (self));

  wp_train_settings_clear (&self->continue_settings);
  if (!prepare_continue (self, form, &self->continue_settings, differ, &error)) {
    g_autofree char *notice = g_strdup_printf ("%s holds a run that cannot be continued (%s): "
                                               "choose another output folder",
                                               form->out_dir, error->message);

    set_notice (self, notice);
    return;
  }
  if (steps->len == 0) {
    g_autofree char *notice = g_strdup_printf (
      "%s holds a run without a checkpoint to continue from: choose another output folder",
      form->out_dir);

    set_notice (self, notice);
    return;
  }
  stopped = g_strdup_printf ("%s holds a run whose newest checkpoint is at step %" G_GINT64_FORMAT
                             ".",
                             form->out_dir, g_array_index (steps, gint64, steps->len - 1));
  keeps = differ->len > 0
            ? g_strdup_printf (" It keeps its own %s: the form shows them as the run has them.",
                               differ->str)
            : g_strdup ("");
  dialog = gtk_message_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                   GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                   GTK_MESSAGE_QUESTION, GTK_BUTTONS_NONE,
                                   "Continue the run in this folder?");
  gtk_message_dialog_format_secondary_text (
    GTK_MESSAGE_DIALOG (dialog),
    "%s Continuing trains on from there, with the dataset, steps, epochs, checkpoint interval "
    "and checkpoints kept given here.%s",
    stopped, keeps);
  gtk_dialog_add_buttons (GTK_DIALOG (dialog), "Cancel", GTK_RESPONSE_CANCEL,
                          "New Run in Another Folder", WP_TRAIN_VIEW_RESPONSE_NEW_FOLDER,
                          "Continue Run", GTK_RESPONSE_ACCEPT, NULL);
  gtk_dialog_set_default_response (GTK_DIALOG (dialog), GTK_RESPONSE_ACCEPT);
  g_signal_connect (dialog, "response", G_CALLBACK (continue_response_cb), self);
  self->continue_dialog = dialog;
  gtk_window_present (GTK_WINDOW (dialog));
  refresh (self);
}

static void
start_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  WpTrainView *self = WP_TRAIN_VIEW (widget);
  g_auto (WpTrainSettings) settings = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *settings_path = NULL;

  g_clear_pointer (&self->notice, g_free);
  if (self->model == NULL || self->model->model->path == NULL) {
    set_notice (self, "open a model folder first: fine-tuning starts from it");
    return;
  }
  if (!read_settings (self, &settings, &error)) {
    set_notice (self, error->message);
    return;
  }
  settings_path = g_build_filename (settings.out_dir, "settings.json", NULL);
  if (g_file_test (settings_path, G_FILE_TEST_EXISTS))
    ask_continue (self, &settings);
  else
    start_new (self, &settings);
}

static void
pause_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  WpTrainView       *self = WP_TRAIN_VIEW (widget);
  const WpTrainState state = wp_train_session_get_state (self->session);

  wp_train_session_set_paused (self->session,
                               state != WP_TRAIN_STATE_PAUSED && state != WP_TRAIN_STATE_PAUSING);
}

static void
stop_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  wp_train_session_stop (WP_TRAIN_VIEW (widget)->session);
}

/* A new run's table starts empty: the one shown described the previous run. */
static void
clear_evaluation (WpTrainView *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->eval_grid))) != NULL)
    gtk_grid_remove (self->eval_grid, child);
  g_string_truncate (self->evaluation, 0);
}

static char *
format_metric (double value)
{
  return isfinite (value) ? g_strdup_printf ("%.3f", value) : g_strdup ("–");
}

/* The names' column gives way first (cut, whole in the tooltip), so that the table never
 * widens the window. */
static GtkWidget *
eval_cell (const char *text,
           int         column)
{
  GtkWidget *label = gtk_label_new (text);

  gtk_label_set_xalign (GTK_LABEL (label), column == 0 ? 0.0f : 1.0f);
  if (column == 0) {
    gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
    gtk_label_set_width_chars (GTK_LABEL (label), 10);
    gtk_widget_set_hexpand (label, TRUE);
    gtk_widget_set_tooltip_text (label, text);
  }
  return label;
}

static void
add_eval_row (WpTrainView *self,
              int          row,
              const char  *name,
              double       before,
              double       after)
{
  g_autofree char *b = format_metric (before);
  g_autofree char *a = format_metric (after);
  const char      *cells[] = { name, b, a };

  for (int c = 0; c < 3; c++)
    gtk_grid_attach (self->eval_grid, eval_cell (cells[c], c), c, row, 1, 1);
  g_string_append_printf (self->evaluation, "%s\t%s\t%s\n", name, b, a);
}

static void
show_evaluation (WpTrainView        *self,
                 const WpEvalResult *before,
                 const WpEvalResult *after,
                 gint64              after_step)
{
  g_autofree char *after_title = g_strdup_printf ("step %" G_GINT64_FORMAT, after_step);
  g_autofree char *pairs = g_strdup_printf ("held out: %u pairs", after->pairs);
  const char      *titles[] = { pairs, "before (step 0)", after_title };
  int              row = 1;

  clear_evaluation (self);
  for (int c = 0; c < 3; c++) {
    GtkWidget *label = eval_cell (titles[c], c);

    gtk_widget_add_css_class (label, "heading");
    gtk_grid_attach (self->eval_grid, label, c, 0, 1, 1);
  }
  add_eval_row (self, row++, "image→text R@1", before->i2t_r1, after->i2t_r1);
  add_eval_row (self, row++, "image→text R@5", before->i2t_r5, after->i2t_r5);
  add_eval_row (self, row++, "text→image R@1", before->t2i_r1, after->t2i_r1);
  add_eval_row (self, row++, "text→image R@5", before->t2i_r5, after->t2i_r5);
  if (after->boxed_words > 0) {
    add_eval_row (self, row++, "pointing, FILIP map", before->scores[WP_MAP_FILIP].pointing,
                  after->scores[WP_MAP_FILIP].pointing);
    add_eval_row (self, row++, "pointing, SPARC grouping", before->scores[WP_MAP_SPARC].pointing,
                  after->scores[WP_MAP_SPARC].pointing);
    for (int k = 0; k < WP_WORD_CLASS_N; k++) {
      g_autofree char *name =
        g_strdup_printf ("pointing, %s words (FILIP)", wp_word_class_to_string ((WpWordClass) k));

      if (after->classes[k].count > 0)
        add_eval_row (self, row++, name, before->classes[k].scores[WP_MAP_FILIP].pointing,
                      after->classes[k].scores[WP_MAP_FILIP].pointing);
    }
  }
}

static void
evaluate_done_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  WpTrainView *self = user_data;
  g_autoptr (GError) error = NULL;
  g_auto (WpEvalResult) before = { 0 };
  g_auto (WpEvalResult) after = { 0 };
  gint64 after_step = 0;

  self->pending--;
  g_clear_object (&self->eval_cancellable);
  if (!wp_train_session_evaluate_finish (WP_TRAIN_SESSION (source), result, &before, &after,
                                         &after_step, &error)) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      set_notice (self, error->message);
  } else {
    show_evaluation (self, &before, &after, after_step);
  }
  refresh (self);
  g_object_unref (self);
}

static void
evaluate_action (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *parameter)
{
  WpTrainView *self = WP_TRAIN_VIEW (widget);

  g_clear_pointer (&self->notice, g_free);
  self->eval_cancellable = g_cancellable_new ();
  self->pending++;
  wp_train_session_evaluate_async (self->session, self->eval_cancellable, evaluate_done_cb,
                                   g_object_ref (self));
  refresh (self);
}

static void
data_dir_chosen_cb (GtkWidget  *widget,
                    const char *path,
                    gpointer    user_data)
{
  wp_train_view_set_data_dir (WP_TRAIN_VIEW (widget), path);
}

static void
out_dir_chosen_cb (GtkWidget  *widget,
                   const char *path,
                   gpointer    user_data)
{
  g_autofree char *run = g_build_filename (path, "run", NULL);
  g_autofree char *settings = g_build_filename (path, "settings.json", NULL);

  /* A folder that holds a run is that run's; any other gets a new "run" folder inside. */
  wp_train_view_set_out_dir (WP_TRAIN_VIEW (widget),
                             g_file_test (settings, G_FILE_TEST_EXISTS) ? path : run);
}

static void
choose_data_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  wp_file_chooser_run (widget, "Dataset Folder", GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                       data_dir_chosen_cb, NULL);
}

static void
choose_out_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  wp_file_chooser_run (widget, "Folder for the Run (a run's own, or one a new \"run\" goes in)",
                       GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, out_dir_chosen_cb, NULL);
}

/* ---- public ---- */

WpTrainSession *
wp_train_view_get_session (WpTrainView *self)
{
  return self->session;
}

void
wp_train_view_set_model (WpTrainView *self,
                         WpModelRef  *model)
{
  g_autofree char *text = NULL;

  g_clear_pointer (&self->model, wp_model_ref_release);
  self->model = model != NULL ? wp_model_ref_acquire (model) : NULL;
  if (self->model != NULL)
    text = g_strdup_printf ("from %s (step %" G_GINT64_FORMAT ")",
                            self->model->model->path != NULL ? self->model->model->path
                                                             : "(unsaved model)",
                            self->model->model->step);
  gtk_label_set_text (self->model_label, text != NULL ? text : "no model open");
  /* A long path is cut in the middle so that the window never grows for it; the whole of it
   * is a hover away. */
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->model_label), text);
  start_check (self);
  refresh (self);
}

void
wp_train_view_set_data_dir (WpTrainView *self,
                            const char  *dir)
{
  gtk_editable_set_text (GTK_EDITABLE (self->data_entry), dir);
  data_dir_changed (self);
}

void
wp_train_view_set_out_dir (WpTrainView *self,
                           const char  *dir)
{
  gtk_editable_set_text (GTK_EDITABLE (self->out_entry), dir);
}

gboolean
wp_train_view_is_idle (WpTrainView *self)
{
  return self->pending == 0;
}

const char *
wp_train_view_get_data_summary (WpTrainView *self)
{
  return self->data_summary != NULL ? self->data_summary : "";
}

const char *
wp_train_view_get_status (WpTrainView *self)
{
  return self->status != NULL ? self->status : "";
}

const char *
wp_train_view_get_evaluation (WpTrainView *self)
{
  return self->evaluation->str;
}

GtkWidget *
wp_train_view_get_continue_dialog (WpTrainView *self)
{
  return self->continue_dialog;
}

/* ---- the object ---- */

static void
wp_train_view_dispose (GObject *object)
{
  WpTrainView *self = WP_TRAIN_VIEW (object);

  g_cancellable_cancel (self->check_cancellable);
  g_cancellable_cancel (self->eval_cancellable);
  if (self->continue_dialog != NULL)
    gtk_window_destroy (GTK_WINDOW (g_steal_pointer (&self->continue_dialog)));
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  gtk_widget_dispose_template (GTK_WIDGET (self), WP_TYPE_TRAIN_VIEW);
  G_OBJECT_CLASS (wp_train_view_parent_class)->dispose (object);
}

static void
wp_train_view_finalize (GObject *object)
{
  WpTrainView *self = WP_TRAIN_VIEW (object);

  g_clear_object (&self->session);
  g_clear_object (&self->check_cancellable);
  g_clear_object (&self->eval_cancellable);
  g_clear_pointer (&self->model, wp_model_ref_release);
  g_free (self->data_summary);
  g_free (self->status);
  g_free (self->notice);
  g_string_free (self->evaluation, TRUE);
  wp_train_settings_clear (&self->continue_settings);
  G_OBJECT_CLASS (wp_train_view_parent_class)->finalize (object);
}

static void
wp_train_view_class_init (WpTrainViewClass *klass)
{
  GObjectClass   *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = wp_train_view_dispose;
  object_class->finalize = wp_train_view_finalize;
  signals[SIGNAL_OPEN_CHECKPOINT] =
    g_signal_new ("open-checkpoint", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/wordpatch/app/wp-train-view.ui");
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, model_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, data_entry);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, data_summary_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, objective_dropdown);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, lambda_global_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, lambda_global_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, lambda_fine_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, lambda_fine_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, filip_patches_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, filip_patches_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, filip_global_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, filip_global_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, box_weight_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, box_weight_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, lr_entry);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, batch_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, steps_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, epochs_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, freeze_text_check);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, freeze_vision_check);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, augment_check);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, save_every_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, out_entry);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, seed_entry);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, warmup_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, weight_decay_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, holdout_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, keep_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, box_tau_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, box_tau_spin);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, threads_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, pause_button);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, eval_grid);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, status_label);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, smoothing_scale);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, log_check);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, loss_plot);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, scale_plot);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, eval_plot);
  gtk_widget_class_bind_template_child (widget_class, WpTrainView, checkpoints_list);
  /* For gtk_widget_get_template_child() alone (tests). */
  gtk_widget_class_bind_template_child_full (widget_class, "start_button", FALSE, 0);
  gtk_widget_class_bind_template_child_full (widget_class, "advanced_expander", FALSE, 0);
  gtk_widget_class_install_action (widget_class, "train.start", NULL, start_action);
  gtk_widget_class_install_action (widget_class, "train.pause", NULL, pause_action);
  gtk_widget_class_install_action (widget_class, "train.stop", NULL, stop_action);
  gtk_widget_class_install_action (widget_class, "train.evaluate", NULL, evaluate_action);
  gtk_widget_class_install_action (widget_class, "train.choose-data", NULL, choose_data_action);
  gtk_widget_class_install_action (widget_class, "train.choose-out", NULL, choose_out_action);
}

static void
plots_changed_cb (WpTrainView *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self->loss_plot));
}

static void
wp_train_view_init (WpTrainView *self)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  g_autofree char *out = g_build_filename (g_get_home_dir (), "wordpatch-runs", stamp, NULL);
  g_autofree char *threads = NULL;
  g_auto (WpTrainSettings) defaults = { 0 };

  gtk_widget_init_template (GTK_WIDGET (self));
  self->session = wp_train_session_new ();
  self->evaluation = g_string_new (NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (form_fields); i++)
    init_field (self, &form_fields[i]);
  wp_train_settings_init (&defaults);
  fill_form (self, &defaults);
  objective_changed_cb (self);
  set_box_words (self, 0);
  threads = g_strdup_printf ("Threads: %d, shared by training and exploring (all processors, set "
                             "when the app starts). A run records the count; continuing it with "
                             "another is not bit for bit what training on would have been.",
                             wp_get_threads ());
  gtk_label_set_text (self->threads_label, threads);
  gtk_editable_set_text (GTK_EDITABLE (self->out_entry), out);
  gtk_drawing_area_set_draw_func (self->loss_plot, draw_loss_cb, self, NULL);
  gtk_drawing_area_set_draw_func (self->scale_plot, draw_scale_cb, self, NULL);
  gtk_drawing_area_set_draw_func (self->eval_plot, draw_eval_cb, self, NULL);
  g_signal_connect (self->session, "changed", G_CALLBACK (session_changed_cb), self);
  g_signal_connect (self->session, "run-started", G_CALLBACK (run_started_cb), self);
  g_signal_connect (self->session, "checkpoints-changed", G_CALLBACK (checkpoints_changed_cb),
                    self);
  g_signal_connect (self->checkpoints_list, "row-activated", G_CALLBACK (checkpoint_activated_cb),
                    self);
  g_signal_connect_swapped (self->data_entry, "activate", G_CALLBACK (data_dir_changed), self);
  g_signal_connect_swapped (self->objective_dropdown, "notify::selected",
                            G_CALLBACK (objective_changed_cb), self);
  g_signal_connect_swapped (self->smoothing_scale, "value-changed", G_CALLBACK (plots_changed_cb),
                            self);
  g_signal_connect_swapped (self->log_check, "toggled", G_CALLBACK (plots_changed_cb), self);
  refresh (self);
}

WpTrainView *
wp_train_view_new (void)
{
  return g_object_new (WP_TYPE_TRAIN_VIEW, NULL);
}
