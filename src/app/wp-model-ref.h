/* wp-model-ref.h: a model shared by the window, its worker threads and the training session's
 * snapshots, freed when the last holder lets go, so replacing a model never pulls it from under
 * a running task. */
#pragma once

#include "wordpatch/model.h"

G_BEGIN_DECLS

typedef struct {
  WpModel *model;
} WpModelRef;

/* Takes the model over. */
WpModelRef *wp_model_ref_new (WpModel *model);
WpModelRef *wp_model_ref_acquire (WpModelRef *ref);
void        wp_model_ref_release (gpointer ref);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpModelRef, wp_model_ref_release)

G_END_DECLS
