// A tokenizer vocabulary as make-model writes it into tokenizer.ggml.* metadata.
// Thread-safety: plain value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ps::make_model {

// llama.cpp's token types (llama_token_type / gguf TokenType).
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

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
  bool add_space_prefix = false;  // SentencePiece: a leading space is added before encoding
};

}  // namespace ps::make_model
