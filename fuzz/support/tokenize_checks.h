// What the tokenizer fuzzers check about one input, whichever vocabulary they run: the first
// byte picks the options (bit 0 add_bos, bit 1 parse_special), the rest is the text.
// Thread-safety: pure function of an immutable tokenizer.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/tokenizer/tokenizer.h"

namespace ps::fuzz {

// Encode gives ids inside the vocabulary; decoding them through StreamDecoder gives valid UTF-8;
// without special-token parsing and BOS, decoding valid UTF-8 text's tokens gives the text back.
// `sentencepiece`: as SentencePiece spells it, with a leading space and U+2581 (its space mark,
// whichever way it came in) as a space, both as in llama.cpp. Not for invalid UTF-8: a stray lead
// byte swallows the next bytes into one symbol, so a space after it (already U+2581) comes back
// as U+2581's bytes, again as in llama.cpp, whose tokens pipeshard reproduces.
void CheckTokenize(const Tokenizer& t, const uint8_t* data, size_t size, bool sentencepiece);

}  // namespace ps::fuzz
