// The English text the built-in SentencePiece vocabulary is learned from.
// Thread-safety: a constant.
#pragma once

#include <string_view>

namespace ps::make_model {

// A few paragraphs of plain English prose written for this purpose (ASCII only).
std::string_view SpmTrainingText();

}  // namespace ps::make_model
