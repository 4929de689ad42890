#define G_LOG_DOMAIN "wp-train-view"

/* wp-train-view-form.c: the Fine-Tune page's form: the engine's settings, one widget each, their
 * ranges and help from the settings table, and what of a run's settings the form may change. */
#include "wp-train-view-private.h"

#include <math.h>

typedef enum {
  FIELD_SPIN,
  FIELD_CHECK,
  FIELD_ENTRY,
  FIELD_CHOICE, /* a drop-down in the order of the setting's choices */
} FieldKind;

typedef struct {
  const char *name;  /* in the settings table */
  const char *label; /* as the form says it, in messages */
  gsize       offset;
  FieldKind   kind;
} FormField;

#define WIDGET(member) G_STRUCT_OFFSET (WpTrainView, member)

static const FormField form_fields[] = {
  { "loss", "objective", WIDGET (objective_dropdown), FIELD_CHOICE },
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
  { "sparc_negatives", "SPARC negatives", WIDGET (sparc_negatives_dropdown), FIELD_CHOICE },
  { "sparc_threshold", "SPARC threshold", WIDGET (sparc_threshold_spin), FIELD_SPIN },
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

void
wp_train_view_fill_form (WpTrainView           *self,
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
    case FIELD_CHOICE:
      for (guint c = 0; setting->choices[c] != NULL; c++) {
        if (strcmp (text, setting->choices[c]) == 0)
          gtk_drop_down_set_selected (GTK_DROP_DOWN (widget), c);
      }
      break;
    }
  }
}

gboolean
wp_train_view_read_form (WpTrainView     *self,
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
    case FIELD_CHOICE:
      text = g_strdup (setting->choices[gtk_drop_down_get_selected (GTK_DROP_DOWN (widget))]);
      break;
    }
    if (!wp_train_setting_parse (setting, settings, text, form_fields[i].label, error))
      return FALSE;
  }
  return TRUE;
}

void
wp_train_view_objective_changed_cb (WpTrainView *self)
{
  const WpObjective objective = (WpObjective) gtk_drop_down_get_selected (self->objective_dropdown);
  GtkWidget        *sparc[] = { GTK_WIDGET (self->lambda_global_label),
                                GTK_WIDGET (self->lambda_global_spin),
                                GTK_WIDGET (self->lambda_fine_label),
                                GTK_WIDGET (self->lambda_fine_spin),
                                GTK_WIDGET (self->sparc_negatives_label),
                                GTK_WIDGET (self->sparc_negatives_dropdown),
                                GTK_WIDGET (self->sparc_threshold_label),
                                GTK_WIDGET (self->sparc_threshold_spin) };
  GtkWidget        *filip[] = { GTK_WIDGET (self->filip_patches_label),
                                GTK_WIDGET (self->filip_patches_spin),
                                GTK_WIDGET (self->filip_global_label),
                                GTK_WIDGET (self->filip_global_spin) };

  for (gsize i = 0; i < G_N_ELEMENTS (sparc); i++)
    gtk_widget_set_sensitive (sparc[i], objective == WP_OBJECTIVE_SPARC);
  for (gsize i = 0; i < G_N_ELEMENTS (filip); i++)
    gtk_widget_set_sensitive (filip[i], objective == WP_OBJECTIVE_FILIP);
}

/* The run in the output folder, with what the form may change in it: the settings a resumed
 * run may change (train_settings.h) that the form shows, the dataset and the threads. Fills
 * differ with the form's other settings that are not the run's, which it keeps. */
gboolean
wp_train_view_prepare_continue (WpTrainView           *self,
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

void
wp_train_view_init_form (WpTrainView *self)
{
  for (gsize i = 0; i < G_N_ELEMENTS (form_fields); i++)
    init_field (self, &form_fields[i]);
}
