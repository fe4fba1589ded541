// Everything a tokenizer is built from, as plain values: what a GGUF file's tokenizer.ggml.* keys
// hold. Tests and tools build tokenizers from it directly, without a GGUF file.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/tokenizer/tokenizer.h"
#include "common/util/status.h"

namespace ps {

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct TokenizerData {
  std::string model;  // "gpt2" (byte-level BPE) or "llama" (SentencePiece)
  // gpt2 only: the pre-tokenizer, e.g. "llama-bpe", "qwen2", "tekken", "smollm" (all in
  // bpe_pretokenizer_names.h); empty means "default".
  std::string pre;
  std::vector<std::string> tokens;
  std::vector<float> scores;         // empty: all 0 (SentencePiece merges by these)
  std::vector<int32_t> token_types;  // TokenType values; empty: all normal
  std::vector<std::string> merges;   // gpt2: "left right", highest priority first

  // Special tokens; unset means llama.cpp's default for the model (llama: bos 1, eos 2, unk 0;
  // gpt2: bos 11, eos 11), which is dropped when outside the vocabulary. A set id must be inside it.
  std::optional<int32_t> bos_id, eos_id, eot_id, eom_id, unk_id, pad_id;
  // Unset means llama.cpp's default (llama: add BOS, space prefix; gpt2: add BOS with the Llama 3
  // and tekken pre-tokenizers only).
  std::optional<bool> add_bos, add_eos, add_space_prefix;
};

// Validates the data (errors name the field and the offending value or index) and builds the
// tokenizer.
Result<std::unique_ptr<Tokenizer>> CreateTokenizer(TokenizerData data);

}  // namespace ps
