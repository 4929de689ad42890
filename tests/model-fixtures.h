/* model-fixtures.h: what the test-model*.c and test-checkpoints*.c programs share: tiny models,
 * comparing two of them, and a load's outcome. */
#pragma once

#include <glib.h>

#include "test-util.h"
#include "wordpatch/wordpatch.h"

G_BEGIN_DECLS

#define CLIP_VOCAB 49408

/* Widths 16 and 32, one text and two vision layers, 16-pixel images of 8-pixel patches, OpenAI's
 * vocabulary size. */
void tiny_config (WpClipConfig *config);

/* tiny_config() with OpenAI's vocabulary, its weights drawn from seed. */
WpModel *new_tiny_model (guint64 seed) G_GNUC_WARN_UNUSED_RESULT;

/* Widths 16 and 24, two heads each, MLPs 40 (ratio 2.5) and 48: open_clip can express it. */
void openclip_tiny_config (WpClipConfig *config);

/* A new tokenizer with the vocabulary learnt once from a few captions: OpenAI's takes seconds to
 * read under the sanitizers, and every folder saved by the checkpoint tests is read again. */
WpTokenizer *learnt_tokenizer (void) G_GNUC_WARN_UNUSED_RESULT;

/* Frees the vocabulary learnt_tokenizer() learnt, at the end of a program. */
void learnt_tokenizer_clear (void);

/* openclip_tiny_config() with tokenizer's vocabulary (taken), its weights drawn from seed. */
WpModel *new_openclip_model (guint64      seed,
                             WpTokenizer *tokenizer) G_GNUC_WARN_UNUSED_RESULT;

/* new_openclip_model() with learnt_tokenizer(). */
WpModel *new_small_model (guint64 seed) G_GNUC_WARN_UNUSED_RESULT;

/* Loads path, failing the test on an error. */
WpModel *load_ok (const char *path) G_GNUC_WARN_UNUSED_RESULT;

/* Loads path, expecting the error and a message with each fragment (fragment2 may be NULL). */
void expect_load_error (const char *path,
                        GQuark      domain,
                        int         code,
                        const char *fragment1,
                        const char *fragment2);

/* Configuration, layout, step, vocabulary and every weight bit for bit. */
void assert_models_equal (const WpModel *a,
                          const WpModel *b);

/* Every weight bit for bit. */
void assert_params_equal (const WpModel *a,
                          const WpModel *b);

G_END_DECLS
