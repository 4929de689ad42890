/* spiece-train.h: a SentencePiece vocabulary trained in the test (libsentencepiece's trainer), so
 * that SigLIP's tokenizer is tested on a model nobody downloaded. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* An spiece.model's bytes (g_free) from n texts: unigram, at most vocab_size pieces, "<pad>" 0,
 * "</s>" 1 (none when with_end is FALSE), "<unk>" 2, no start piece; the dummy prefix on, as in
 * SigLIP's published models. */
char *wp_test_train_spiece (const char *const *texts,
                            gsize              n,
                            int                vocab_size,
                            gboolean           with_end,
                            gsize             *len) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
