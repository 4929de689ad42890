// sentencepiece.cc: sentencepiece-private.h over the library's C++ API. Nothing else in the
// project is C++: exceptions never cross into C (the library reports through util::Status).

#include "sentencepiece-private.h"

#include <sentencepiece_processor.h>

#include <string>
#include <vector>

struct _WpSpModel {
  sentencepiece::SentencePieceProcessor processor;
};

WpSpModel *
wp_sp_model_new (const char *proto,
                 gsize       len,
                 char      **error_message)
{
  WpSpModel                        *model = new WpSpModel;
  const sentencepiece::util::Status status =
    model->processor.LoadFromSerializedProto (std::string (proto, len));

  if (!status.ok ()) {
    *error_message = g_strdup (status.ToString ().c_str ());
    delete model;
    return nullptr;
  }
  return model;
}

void
wp_sp_model_free (WpSpModel *model)
{
  delete model;
}

int
wp_sp_model_get_n_pieces (const WpSpModel *model)
{
  return model->processor.GetPieceSize ();
}

const char *
wp_sp_model_get_piece (const WpSpModel *model,
                       int              id)
{
  return model->processor.IdToPiece (id).c_str ();
}

int
wp_sp_model_piece_to_id (const WpSpModel *model,
                         const char      *piece)
{
  return model->processor.PieceToId (piece);
}

gboolean
wp_sp_model_is_unknown (const WpSpModel *model,
                        int              id)
{
  return model->processor.IsUnknown (id);
}

int *
wp_sp_model_encode (const WpSpModel *model,
                    const char      *text,
                    gsize            len,
                    int             *n)
{
  std::vector<int> ids;
  int             *out;

  // Encoding fails only for a model that never loaded, which wp_sp_model_new() refuses.
  if (!model->processor.Encode (std::string (text, len), &ids).ok ())
    ids.clear ();
  out = g_new (int, ids.size () + 1);
  for (size_t i = 0; i < ids.size (); i++)
    out[i] = ids[i];
  *n = (int) ids.size ();
  return out;
}
