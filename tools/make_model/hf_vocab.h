// Reads a HuggingFace tokenizer.json with a byte-level BPE model (Llama 3 and its relatives) into
// the token list, types and merges that llama.cpp's "gpt2" tokenizer expects in a GGUF file.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "common/util/status.h"
#include "tools/make_model/vocabulary.h"

namespace ps::make_model {

// Token ids come from model.vocab and added_tokens (special ones become CONTROL, the others
// USER_DEFINED); ids missing in between become "[PAD<id>]" UNUSED tokens, as llama.cpp's
// converter writes them. Merges may be "a b" strings or ["a", "b"] pairs.
// bos/eos/eot are found by name: Llama 3's <|begin_of_text|>, <|end_of_text|> (the base model's
// end of sequence, as in Meta's Llama 3.1 8B) and <|eot_id|>; otherwise <s>/</s> or
// <|endoftext|>. pre is always "llama-bpe", the pre-tokenizer pipeshard implements, so pipeshard
// and llama.cpp split text the same way whatever the file's own pre-tokenizer was.
// Errors name the file and the JSON field.
Result<Vocabulary> ReadHfTokenizerJson(const std::string& path);

}  // namespace ps::make_model
