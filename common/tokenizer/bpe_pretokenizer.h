// Splits text into the words a byte-level BPE merges within, as llama.cpp's pre-tokenizers do.
//  - kLlama3 ("llama-bpe", "llama3", "llama-v3"): the Llama 3 regex
//      (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//       ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//  - kDefault ("default", or no tokenizer.ggml.pre): llama.cpp's fallback, four passes each
//    splitting the pieces of the previous one: punctuation runs [\p{P}$+<=>^~|]+, the GPT-2
//    regex, digit runs \p{N}+, and triples of ASCII digits.
// Both are written by hand over code points (no regex engine), following llama.cpp's own
// hand-written matchers, including where those differ from a textbook regex engine.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ps {

enum class BpePreTokenizer { kLlama3, kDefault };

// The words of `text`, in order; concatenated they give back the text, except that bytes that
// are not valid UTF-8 come back as U+FFFD (as in llama.cpp).
std::vector<std::string> PreTokenize(BpePreTokenizer kind, std::string_view text);

}  // namespace ps
