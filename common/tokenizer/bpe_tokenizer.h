// Byte-level BPE (tokenizer.ggml.model "gpt2": Llama 3, Qwen2/3, Mistral Nemo, SmolLM):
// pre-tokenize, spell each word in the byte-level alphabet, then merge adjacent symbols by merge
// rank, as llama.cpp's llm_tokenizer_bpe_session does.
// Thread-safety: immutable after creation.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/tokenizer/bpe_pretokenizer.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/vocabulary.h"
#include "common/util/status.h"

namespace ps {

// merges: "left right" strings, rank = position. ignore_merges: a word that is itself a token is
// taken whole (BpePreTokenizerSpec). Errors name the malformed merge.
Result<std::unique_ptr<Tokenizer>> MakeBpeTokenizer(Vocabulary vocab, std::vector<std::string> merges,
                                                    BpePreTokenizer pre, bool ignore_merges);

}  // namespace ps
