/* sentencepiece-private.h: the C face of Debian's libsentencepiece (sentencepiece.cc, the
 * project's only C++), for SigLIP's tokenizer (tokenizer_sp.c).
 *
 * A WpSpModel is immutable once loaded; the library's encoding is const and may run from several
 * threads at once. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _WpSpModel WpSpModel;

/* proto: a serialised sentencepiece ModelProto (an spiece.model file's bytes). NULL with
 * *error_message (g_free) set when the library refuses it. */
WpSpModel *wp_sp_model_new (const char *proto,
                            gsize       len,
                            char      **error_message) G_GNUC_WARN_UNUSED_RESULT;
void       wp_sp_model_free (WpSpModel *model);

int wp_sp_model_get_n_pieces (const WpSpModel *model);
/* The piece of id in [0, n_pieces), owned by the model. */
const char *wp_sp_model_get_piece (const WpSpModel *model,
                                   int              id);
/* The id of piece, or the unknown piece's id when the vocabulary has no such piece. */
int      wp_sp_model_piece_to_id (const WpSpModel *model,
                                  const char      *piece);
gboolean wp_sp_model_is_unknown (const WpSpModel *model,
                                 int              id);
/* The ids of text (len bytes), g_free'd by the caller; *n receives their count. */
int *wp_sp_model_encode (const WpSpModel *model,
                         const char      *text,
                         gsize            len,
                         int             *n) G_GNUC_WARN_UNUSED_RESULT;

G_END_DECLS
