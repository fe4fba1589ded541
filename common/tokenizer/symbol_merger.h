// The pairwise merge loop shared by byte-level BPE and SentencePiece: the text starts as one
// symbol per UTF-8 character (split by lead byte, as llama.cpp does), and the best-priced pair of
// adjacent symbols is merged until no pair has a price. Ties go to the leftmost pair.
// Thread-safety: pure function.
#pragma once

#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace ps {

// price(left, right): the cost of merging two adjacent symbols (lower merges first), or nullopt
// when they cannot merge. Returns the final symbols, in order, as views into `text`.
using MergePrice = std::function<std::optional<double>(std::string_view left, std::string_view right)>;
std::vector<std::string_view> MergeSymbols(std::string_view text, const MergePrice& price);

}  // namespace ps
