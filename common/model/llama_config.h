// Llama hyper-parameters read from a GGUF file's `llama.*` metadata, validated for consistency.
// Thread-safety: plain value.
#pragma once

#include <cstdint>
#include <string>

#include "common/gguf/gguf_file.h"
#include "common/util/status.h"

namespace ps {

struct LlamaConfig {
  std::string name;          // general.name, may be empty
  int64_t n_embd = 0;        // llama.embedding_length
  int64_t n_layer = 0;       // llama.block_count
  int64_t n_head = 0;        // llama.attention.head_count
  int64_t n_head_kv = 0;     // llama.attention.head_count_kv (defaults to n_head)
  int64_t n_ff = 0;          // llama.feed_forward_length
  int64_t n_ctx_train = 0;   // llama.context_length
  int64_t n_rot = 0;         // llama.rope.dimension_count (defaults to head_dim)
  int64_t n_vocab = 0;       // llama.vocab_size, else the token list's length, else token_embd
  float rope_freq_base = 10000.0f;  // llama.rope.freq_base
  float rms_eps = 1e-5f;            // llama.attention.layer_norm_rms_epsilon

  int64_t head_dim() const { return n_embd / n_head; }
  int64_t n_embd_kv() const { return head_dim() * n_head_kv; }
};

// Errors: Unsupported when general.architecture is not "llama"; Corruption naming the key when a
// value is missing, non-positive or inconsistent (n_embd % n_head, n_head % n_head_kv, n_rot).
Result<LlamaConfig> ReadLlamaConfig(const gguf::GgufFile& file);

// The context `run` and the coordinator use when none is given: the model's training context, at
// most kMaxDefaultContext (Llama 3.1's 131072 positions would take a 16 GiB F16 KV cache for an 8B
// model; a longer context is asked for with --ctx).
inline constexpr int64_t kMaxDefaultContext = 4096;
inline int32_t DefaultContext(const LlamaConfig& config) {
  return static_cast<int32_t>(config.n_ctx_train > 0 && config.n_ctx_train < kMaxDefaultContext ? config.n_ctx_train
                                                                                              : kMaxDefaultContext);
}

}  // namespace ps
