#include "common/tokenizer/tokenizer_data.h"

#include "common/tokenizer/bpe_pretokenizer_names.h"
#include "common/tokenizer/bpe_tokenizer.h"
#include "common/tokenizer/spm_tokenizer.h"
#include "common/tokenizer/vocabulary.h"

namespace ps {

Result<std::unique_ptr<Tokenizer>> CreateTokenizer(TokenizerData data) {
  if (data.model == "gpt2") {
    PS_ASSIGN_OR_RETURN(const BpePreTokenizerSpec pre, BpePreTokenizerByName(data.pre));
    PS_ASSIGN_OR_RETURN(Vocabulary vocab, Vocabulary::Build(data, /*is_bpe=*/true, /*default_add_bos=*/pre.add_bos));
    return MakeBpeTokenizer(std::move(vocab), std::move(data.merges), pre.kind, pre.ignore_merges);
  }
  if (data.model == "llama") {
    PS_ASSIGN_OR_RETURN(Vocabulary vocab, Vocabulary::Build(data, /*is_bpe=*/false, /*default_add_bos=*/true));
    return MakeSpmTokenizer(std::move(vocab));
  }
  return Status::Unsupported("tokenizer.ggml.model = '" + data.model +
                             "' is not a supported tokenizer (gpt2, llama)");
}

}  // namespace ps
