// spiece-train.cc: spiece-train.h over libsentencepiece's trainer (C++).

#include "spiece-train.h"

#include <sentencepiece_trainer.h>

#include <string>

namespace
{

class Texts : public sentencepiece::SentenceIterator
{
public:
  Texts (const char *const *texts,
         gsize              n)
      : texts_ (texts), n_ (n)
  {
  }
  bool
  done () const override
  {
    return i_ >= n_;
  }
  void
  Next () override
  {
    i_++;
  }
  const std::string &
  value () const override
  {
    value_ = texts_[i_];
    return value_;
  }
  sentencepiece::util::Status
  status () const override
  {
    return sentencepiece::util::Status ();
  }

private:
  const char *const  *texts_;
  gsize               n_, i_ = 0;
  mutable std::string value_;
};

} // namespace

char *
wp_test_train_spiece (const char *const *texts,
                      gsize              n,
                      int                vocab_size,
                      gboolean           with_end,
                      gsize             *len)
{
  Texts             iterator (texts, n);
  std::string       proto;
  const std::string args = "--model_type=unigram --vocab_size=" + std::to_string (vocab_size) +
                           " --pad_id=0 --eos_id=" + (with_end ? "1" : "-1") +
                           " --unk_id=2 --bos_id=-1 --hard_vocab_limit=false"
                           " --character_coverage=1.0 --num_threads=1 --minloglevel=2";
  const auto status = sentencepiece::SentencePieceTrainer::Train (args, &iterator, &proto);

  g_assert_true (status.ok ());
  *len = proto.size ();
  return static_cast<char *> (g_memdup2 (proto.data (), proto.size ()));
}
