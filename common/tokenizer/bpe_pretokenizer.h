// Splits text into the words a byte-level BPE merges within, as llama.cpp's pre-tokenizers do.
// Which tokenizer.ggml.pre names select which kind: bpe_pretokenizer_names.h.
//  - kLlama3: the Llama 3 regex
//      (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//       ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//  - kQwen2 (Qwen2, Qwen3): the same with single digits, \p{N} for \p{N}{1,3}.
//  - kTekken (Mistral Nemo): letter runs split where lower case turns to upper case, no
//    contraction rule, single digits, and '/' joining a punctuation run's trailing newlines:
//      [^\r\n\p{L}\p{N}]?U*W+|[^\r\n\p{L}\p{N}]?U+W*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|
//      \s*[\r\n]+|\s+(?!\S)|\s+
//    where, as llama.cpp runs it (std::regex over text with each non-ASCII code point replaced by
//    a byte for its class), U is a letter other than a-z and W a letter other than A-Z, so a
//    non-ASCII letter is both.
//  - kSmolLm (SmolLM): every \p{N} a word by itself, then the GPT-2 regex.
//  - kDefault ("default", or no tokenizer.ggml.pre): llama.cpp's fallback, four passes each
//    splitting the pieces of the previous one: punctuation runs [\p{P}$+<=>^~|]+, the GPT-2
//    regex, digit runs \p{N}+, and triples of ASCII digits.
// All are written by hand over code points (no regex engine), following llama.cpp's own
// hand-written matchers and, where it runs std::regex, that engine's first-match backtracking,
// including where those differ from the model's original (HuggingFace) pre-tokenizer.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ps {

enum class BpePreTokenizer { kLlama3, kQwen2, kTekken, kSmolLm, kDefault };

// The words of `text`, in order; concatenated they give back the text, except that bytes that
// are not valid UTF-8 come back as U+FFFD (as in llama.cpp).
std::vector<std::string> PreTokenize(BpePreTokenizer kind, std::string_view text);

}  // namespace ps
