#include "wp-model-ref.h"

static void
model_ref_clear (gpointer data)
{
  WpModelRef *ref = data;

  g_clear_pointer (&ref->model, wp_model_free);
}

WpModelRef *
wp_model_ref_new (WpModel *model)
{
  WpModelRef *ref = g_atomic_rc_box_new0 (WpModelRef);

  ref->model = model;
  return ref;
}

WpModelRef *
wp_model_ref_acquire (WpModelRef *ref)
{
  return g_atomic_rc_box_acquire (ref);
}

void
wp_model_ref_release (gpointer ref)
{
  g_atomic_rc_box_release_full (ref, model_ref_clear);
}
