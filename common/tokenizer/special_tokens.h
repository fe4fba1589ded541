// Cuts text at the places where special tokens are written out ("<|eot_id|>", "<s>"), before any
// other tokenization, as llama.cpp does: the vocabulary's special tokens are tried longest first,
// each splitting every remaining stretch of plain text at each of its occurrences.
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/tokenizer/vocabulary.h"

namespace ps {

// Either a token found in the text or a stretch [offset, offset + length) of plain text.
struct TextFragment {
  int32_t token = -1;  // -1 for plain text
  size_t offset = 0;
  size_t length = 0;
  bool is_token() const { return token >= 0; }
};

// With parse_special false only user-defined tokens are recognised; control and unknown tokens
// stay plain text.
std::vector<TextFragment> PartitionSpecialTokens(std::string_view text, const Vocabulary& vocab,
                                                 bool parse_special);

}  // namespace ps
