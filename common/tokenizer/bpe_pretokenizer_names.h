// The tokenizer.ggml.pre values pipeshard supports, each with the pre-tokenizer it selects and
// the settings llama.cpp's loader ties to that value (llama-vocab.cpp), so a file tokenizes here
// as it does there. Thread-safety: pure functions over a constant table.
#pragma once

#include <string>
#include <string_view>

#include "common/tokenizer/bpe_pretokenizer.h"
#include "common/util/status.h"

namespace ps {

struct BpePreTokenizerSpec {
  BpePreTokenizer kind;
  // A word that is itself a vocabulary token becomes that token without merging (llama.cpp's
  // ignore_merges), even when the merges would split it.
  bool ignore_merges;
  // The default of tokenizer.ggml.add_bos_token when the file does not set it.
  bool add_bos;
};

// The spec of a tokenizer.ggml.pre value ("" reads as "default", as in llama.cpp). Unsupported
// names the value and lists the supported ones.
Result<BpePreTokenizerSpec> BpePreTokenizerByName(std::string_view pre);

// The supported values, comma-separated, for help texts and errors.
std::string SupportedBpePreTokenizerNames();

}  // namespace ps
