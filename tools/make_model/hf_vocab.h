// Reads a HuggingFace tokenizer.json with a byte-level BPE model (Llama 3, Qwen3 and their
// relatives) into the token list, types and merges that llama.cpp's "gpt2" tokenizer expects in a
// GGUF file, and the special tokens of a tokenizer_config.json.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "common/util/status.h"
#include "tools/make_model/vocabulary.h"

namespace ps::make_model {

// Token ids come from model.vocab and added_tokens (special ones, and others that look special
// as llama.cpp's converter judges it, "<|...|>", become CONTROL, the rest USER_DEFINED); ids
// missing in between become "[PAD<id>]" UNUSED tokens, as llama.cpp's converter writes them.
// Merges may be "a b" strings or ["a", "b"] pairs. bos/eos/eot are found by name among the added
// tokens: Llama 3's <|begin_of_text|>, <|end_of_text|> (the base model's end of sequence, as in
// Meta's Llama 3.1 8B) and <|eot_id|>; otherwise <s>/</s> or <|endoftext|>. pre is "llama-bpe",
// whatever the file's own pre-tokenizer was (the packaged vocabularies set their model's,
// packaged_vocab.h; make-model's --pre sets any other).
// Errors name the file and the JSON field.
Result<Vocabulary> ReadHfTokenizerJson(const std::string& path);

// Takes bos/eos/pad from the bos_token, eos_token and pad_token of a tokenizer_config.json (a
// token's text, or an object with its "content"; null or absent keeps `v`'s), found by text in
// `v`, and add_bos from add_bos_token, as llama.cpp's converter does. Errors name the file and key.
Status ApplyHfTokenizerConfig(const std::string& path, Vocabulary* v);

}  // namespace ps::make_model
