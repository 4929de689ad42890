/* model-private.h: what the layout (model_specs.c) and the readers and writers of each model
 * format (model_io.c, model_save.c, openclip.c) share. */
#pragma once

#include <glib.h>

#include "weights-private.h"
#include "wordpatch/model.h"

G_BEGIN_DECLS

/* A model of config's layout with tokenizer (taken over, also on failure), its parameters not
 * allocated yet: the config is validated and the tokenizer checked against it first. */
WpModel *wp_model_new_layout (const WpClipConfig *config,
                              WpTokenizer        *tokenizer,
                              GError            **error) G_GNUC_WARN_UNUSED_RESULT;
/* Allocates the parameters (zeroed) and points the views at them. */
gboolean wp_model_alloc_params (WpModel *model,
                                GError **error);

/* wp_model_new_layout() with the tokenizer of folder dir, its layout errors prefixed with dir:
 * spiece.model for SigLIP, else vocab.json and merges.txt. When the folder has neither and
 * bundled_fallback is set, OpenAI's vocabulary bundled with wordpatch, and
 * model->bundled_vocabulary says so. */
WpModel *wp_model_new_folder_layout (const char         *dir,
                                     const WpClipConfig *config,
                                     gboolean            bundled_fallback,
                                     GError            **error) G_GNUC_WARN_UNUSED_RESULT;

/* Checks that weights hold tensor name with ndim dimensions of shape (a scalar may be stored as
 * [] or [1]); otherwise an error naming the file, the tensor and, for a wrong shape, both. */
gboolean wp_model_check_tensor (const WpWeights *weights,
                                const char      *name,
                                int              ndim,
                                const gint64    *shape,
                                GError         **error);

/* Reads "wordpatch.step" from the weights' metadata into model->step. */
gboolean wp_model_read_step (WpModel         *model,
                             const WpWeights *weights,
                             GError         **error);
/* Remembers that a tensor was stored as dtype: model->stored_dtype becomes it, or WP_DTYPE_OTHER
 * when the tensors so far differ. first: the first tensor read. */
void wp_model_note_stored_dtype (WpModel *model,
                                 WpDtype  dtype,
                                 gboolean first);

/* The checks and metadata every writer needs: F16's range (naming the tensor), the folder made,
 * "format" and "wordpatch.step" in a new metadata table. */
gboolean    wp_model_check_dtype (const WpModel *model,
                                  WpDtype        dtype,
                                  GError       **error);
gboolean    wp_model_make_folder (const char *dir,
                                  GError    **error);
GHashTable *wp_model_new_metadata (const WpModel *model) G_GNUC_WARN_UNUSED_RESULT;
/* vocab.json and merges.txt into dir, as the tokenizer was read. */
gboolean wp_model_write_vocabulary (const WpModel *model,
                                    const char    *dir,
                                    GError       **error);

/* open_clip folders (openclip.c): dir holds open_clip_config.json. */
WpModel *wp_openclip_load (const char *dir,
                           GError    **error) G_GNUC_WARN_UNUSED_RESULT;
gboolean wp_openclip_save (const WpModel *model,
                           const char    *dir,
                           WpDtype        dtype,
                           GError       **error);

G_END_DECLS
