// A tokenizer vocabulary as make-model writes it into tokenizer.ggml.* metadata.
// Thread-safety: plain value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/tokenizer/tokenizer_data.h"

namespace ps::make_model {

using ps::TokenType;  // the tokenizer's own enum: what make-model writes is what it reads

struct Vocabulary {
  std::string model;  // tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE)
  std::string pre;    // tokenizer.ggml.pre
  std::vector<std::string> tokens;
  std::vector<float> scores;        // SentencePiece only (merge priority); empty for BPE
  std::vector<int32_t> token_types;  // TokenType values, one per token
  std::vector<std::string> merges;  // BPE only: "left right", best first
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t eot = -1;  // end of turn, -1 when the vocabulary has none
  int32_t unk = -1;
  int32_t pad = -1;               // padding, -1 when not written
  bool add_bos = true;            // tokenizer.ggml.add_bos_token
  bool add_space_prefix = false;  // SentencePiece: a leading space is added before encoding
};

}  // namespace ps::make_model
