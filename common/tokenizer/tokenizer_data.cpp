#include "common/tokenizer/tokenizer_data.h"

#include "common/tokenizer/bpe_tokenizer.h"
#include "common/tokenizer/spm_tokenizer.h"
#include "common/tokenizer/vocabulary.h"

namespace ps {

namespace {

// The tokenizer.ggml.pre names llama.cpp gives these pre-tokenizers (for Llama models).
Result<BpePreTokenizer> PreTokenizerByName(const std::string& pre) {
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") return BpePreTokenizer::kLlama3;
  if (pre.empty() || pre == "default") return BpePreTokenizer::kDefault;
  return Status::Unsupported("tokenizer.ggml.pre = '" + pre +
                             "' is not a supported pre-tokenizer (llama-bpe, llama3, llama-v3, default)");
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> CreateTokenizer(TokenizerData data) {
  if (data.model == "gpt2") {
    PS_ASSIGN_OR_RETURN(const BpePreTokenizer pre, PreTokenizerByName(data.pre));
    PS_ASSIGN_OR_RETURN(Vocabulary vocab, Vocabulary::Build(data, /*is_bpe=*/true));
    return MakeBpeTokenizer(std::move(vocab), std::move(data.merges), pre);
  }
  if (data.model == "llama") {
    PS_ASSIGN_OR_RETURN(Vocabulary vocab, Vocabulary::Build(data, /*is_bpe=*/false));
    return MakeSpmTokenizer(std::move(vocab));
  }
  return Status::Unsupported("tokenizer.ggml.model = '" + data.model +
                             "' is not a supported tokenizer (gpt2, llama)");
}

}  // namespace ps
