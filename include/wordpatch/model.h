/* model.h: a CLIP dual encoder, its parameters in transformers' CLIPModel layout, and its files.
 *
 * Model folders, told apart by their files (formats):
 * - transformers (WP_MODEL_FORMAT_TRANSFORMERS): config.json (see config.h), the weights in
 *   model.safetensors or in the shards model.safetensors.index.json lists, with transformers'
 *   tensor names and shapes (F32, F16 or BF16), vocab.json and merges.txt (see tokenizer.h), and
 *   optionally preprocessor_config.json (see config.h), which then says how images are prepared.
 * - open_clip (WP_MODEL_FORMAT_OPEN_CLIP, see openclip.h): open_clip_config.json and
 *   open_clip_model.safetensors; vocab.json and merges.txt when the folder has them, otherwise
 *   OpenAI's vocabulary bundled with wordpatch (data/clip-bpe), as open_clip itself does.
 * A folder with both reads as transformers'. A bare .safetensors file (WP_MODEL_FORMAT_FILE) may
 * stand for a folder when its "__metadata__" holds "wordpatch.config", "wordpatch.vocab" and
 * "wordpatch.merges" (the three files' texts). "wordpatch.step" in the metadata, when present, is
 * the training step of a checkpoint.
 *
 * All parameters live in one float buffer laid out by a table of WpTensorSpec (one entry per
 * transformers tensor, in a fixed order), whatever the format on disk; WpParams is a set of named
 * pointers into any buffer of that layout (the weights, their gradients, optimiser moments),
 * filled once. Saving writes any of the formats; F32 tensors loaded and saved again in their own
 * format are bit-identical.
 *
 * Thread contract: a loaded WpModel is read-only during forward passes and may be shared between
 * threads. */
#pragma once

#include <glib.h>

#include "wordpatch/config.h"
#include "wordpatch/safetensors.h"
#include "wordpatch/tokenizer.h"

G_BEGIN_DECLS

typedef struct {
  char  *name; /* transformers' name, e.g. "vision_model.encoder.layers.3.mlp.fc1.weight" */
  gsize  offset;
  gsize  numel;
  int    ndim;
  gint64 shape[4];
  /* FALSE for biases, layer-norm gains, embeddings and the logit scale: AdamW decays the rest. */
  gboolean decay;
} WpTensorSpec;

/* One encoder layer; shapes with C the tower's width and I its MLP width. Linear weights are
 * (out, in) as torch stores them. In every buffer of the model's layout k_w, v_w and q_w are
 * adjacent, in that order, and so are k_b, v_b and q_b: k_w is the (3C, C) matrix and k_b the
 * (3C) bias of the three projections together. */
typedef struct {
  float *ln1_w, *ln1_b; /* (C) */
  float *q_w, *q_b;     /* (C, C), (C) */
  float *k_w, *k_b;     /* (C, C), (C) */
  float *v_w, *v_b;     /* (C, C), (C) */
  float *out_w, *out_b; /* (C, C), (C) */
  float *ln2_w, *ln2_b; /* (C) */
  float *fc1_w, *fc1_b; /* (I, C), (I) */
  float *fc2_w, *fc2_b; /* (C, I), (C) */
} WpLayerParams;

typedef struct {
  /* Text tower: V vocabulary, K context length, Ct width. */
  float        *token_embedding; /* (V, Ct) */
  float        *text_position;   /* (K, Ct) */
  WpLayerParams text_layers[WP_MAX_LAYERS];
  float        *final_ln_w, *final_ln_b; /* (Ct) */
  /* Vision tower: Cv width, p patch size, P patches. */
  float        *class_embedding;     /* (Cv) */
  float        *patch_embedding;     /* (Cv, 3, p, p) */
  float        *vision_position;     /* (P + 1, Cv) */
  float        *pre_ln_w, *pre_ln_b; /* (Cv) */
  WpLayerParams vision_layers[WP_MAX_LAYERS];
  float        *post_ln_w, *post_ln_b; /* (Cv) */
  float        *visual_projection;     /* (E, Cv) */
  float        *text_projection;       /* (E, Ct) */
  float        *logit_scale;           /* (1), log of the inverse temperature */
} WpParams;

/* How a model's files are laid out (see above). */
typedef enum {
  WP_MODEL_FORMAT_TRANSFORMERS,
  WP_MODEL_FORMAT_OPEN_CLIP,
  WP_MODEL_FORMAT_FILE,
} WpModelFormat;

typedef struct {
  WpClipConfig  config;
  WpTokenizer  *tokenizer;
  WpTensorSpec *specs;
  guint         n_specs;
  gsize         n_params;
  float        *params; /* n_params floats, laid out by specs */
  WpParams      p;      /* views into params */
  gint64        step;   /* training step of a checkpoint, 0 otherwise */
  char         *path;   /* where it was loaded from, NULL for a new model */
  /* Where it came from: the format (transformers for a new model), how many weight files were
   * read (more than 1 for shards, 0 for a new model), the weights' dtype there (WP_DTYPE_OTHER
   * when they mix dtypes or for a new model), and whether the folder had no vocabulary and
   * OpenAI's bundled one stands in for it. */
  WpModelFormat format;
  guint         n_weight_files;
  WpDtype       stored_dtype;
  gboolean      bundled_vocabulary;
} WpModel;

/* Builds the layout table for config; returns the number of specs and the total element count. */
WpTensorSpec *wp_tensor_specs_new (const WpClipConfig *config,
                                   guint              *n_specs,
                                   gsize              *n_params);
void          wp_tensor_specs_free (WpTensorSpec *specs,
                                    guint         n_specs);
/* Points every field of params at its place in base (a buffer of the specs' layout). */
void wp_params_init_views (WpParams           *params,
                           const WpClipConfig *config,
                           const WpTensorSpec *specs,
                           float              *base);

/* A model with random weights (normal, std 0.02; layer norms at 1 and 0; logit scale at its
 * initial value), for training from scratch and for tests. The tokenizer is taken over. */
WpModel *wp_model_new_random (const WpClipConfig *config,
                              WpTokenizer        *tokenizer,
                              guint64             seed,
                              GError            **error) G_GNUC_WARN_UNUSED_RESULT;
/* path: a model folder, a bare .safetensors file (see above), or a training run's output folder
 * (see trainer.h), which stands for its latest checkpoint. */
WpModel *wp_model_load (const char *path,
                        GError    **error) G_GNUC_WARN_UNUSED_RESULT;
/* Writes config.json, model.safetensors (F32), preprocessor_config.json, vocab.json and
 * merges.txt into dir (created if needed), each through a temporary file renamed into place; a
 * path ending in .safetensors gets one self-contained file instead. */
gboolean wp_model_save (const WpModel *model,
                        const char    *dir,
                        GError       **error);
/* As wp_model_save(), the weights stored as dtype: WP_DTYPE_F32, WP_DTYPE_F16 (refused, naming
 * the tensor, when a weight lies beyond its range) or WP_DTYPE_BF16. */
gboolean wp_model_save_as (const WpModel *model,
                           const char    *dir,
                           WpDtype        dtype,
                           GError       **error);
/* Writes the model in format, its weights as dtype: a transformers folder (with
 * preprocessor_config.json), an open_clip folder (with vocab.json and merges.txt; refused, naming
 * what, when open_clip cannot express the model, see openclip.h), or for WP_MODEL_FORMAT_FILE one
 * self-contained .safetensors file at path. Every file through a temporary file renamed into
 * place. */
gboolean wp_model_save_format (const WpModel *model,
                               const char    *path,
                               WpModelFormat  format,
                               WpDtype        dtype,
                               GError       **error);
void     wp_model_free (WpModel *model);
/* Writes buffer (the model's parameter layout: weights, gradients, moments) as F32 safetensors
 * under the tensor names; metadata (string -> string) may be NULL. Temporary file + rename. */
gboolean wp_params_write (const WpModel *model,
                          const float   *buffer,
                          const char    *path,
                          GHashTable    *metadata,
                          GError       **error);

/* Reads a safetensors file of the model's parameter layout (every tensor by name and shape,
 * any dtype wp_safetensors_read_f32 converts) into buffer; errors name the file and tensor. */
gboolean wp_params_read (const WpModel *model,
                         const char    *path,
                         float         *buffer,
                         GError       **error);

/* An independent copy (weights, tokenizer, step), e.g. for inference on a training snapshot;
 * NULL when the memory for it cannot be allocated. */
WpModel *wp_model_copy (const WpModel *model) G_GNUC_WARN_UNUSED_RESULT;

/* "transformers", "open_clip" or "file". */
const char *wp_model_format_to_string (WpModelFormat format);
gboolean    wp_model_format_from_string (const char    *name,
                                         WpModelFormat *format);
/* One line saying what the model is and where it came from, for front ends: "CLIP ViT-B/16,
 * 150 M parameters (open_clip folder, F16, OpenAI's vocabulary)". */
char *wp_model_dup_summary (const WpModel *model) G_GNUC_WARN_UNUSED_RESULT;

/* A bundled data file or folder: the first of $WORDPATCH_DATADIR, the installed data folder and the
 * source tree's data/ (for running from the build folder) that holds relative. NULL if none does.
 */
char *wp_data_find (const char *relative) G_GNUC_WARN_UNUSED_RESULT;
/* The folder of the bundled default model (data/model), or NULL. */
char *wp_model_find_default (void) G_GNUC_WARN_UNUSED_RESULT;

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WpModel, wp_model_free)

G_END_DECLS
