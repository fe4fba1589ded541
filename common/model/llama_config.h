// Hyper-parameters of a Llama-family model read from a GGUF file's `<arch>.*` metadata (arch is
// general.architecture: llama, qwen2 or qwen3), validated for consistency. The three share one
// forward pass; the differences are the flags below (as in llama.cpp's models/qwen2.cpp, qwen3.cpp).
// Thread-safety: plain value.
#pragma once

#include <cstdint>
#include <string>

#include "common/gguf/gguf_file.h"
#include "common/util/status.h"

namespace ps {

// The architectures pipeshard runs, by general.architecture.
enum class ModelArch { kLlama, kQwen2, kQwen3 };
const char* ArchName(ModelArch arch);
// The architecture a general.architecture value names; Unsupported names it and lists the others.
Result<ModelArch> ParseArch(const std::string& name);
// The supported names, comma-separated ("llama, qwen2, qwen3").
std::string SupportedArchNames();

struct LlamaConfig {
  ModelArch arch = ModelArch::kLlama;
  std::string name;          // general.name, may be empty
  int64_t n_embd = 0;        // llama.embedding_length
  int64_t n_layer = 0;       // llama.block_count
  int64_t n_head = 0;        // llama.attention.head_count
  int64_t n_head_kv = 0;     // llama.attention.head_count_kv (defaults to n_head)
  int64_t n_ff = 0;          // llama.feed_forward_length
  int64_t n_ctx_train = 0;   // llama.context_length
  int64_t n_rot = 0;         // llama.rope.dimension_count (defaults to head_dim)
  // llama.attention.key_length; 0 means n_embd / n_head. Qwen3 0.6B and Mistral-Nemo use wider
  // heads than that, so the query width n_embd_q() differs from n_embd.
  int64_t n_head_dim = 0;
  int64_t n_vocab = 0;       // llama.vocab_size, else the token list's length, else token_embd
  float rope_freq_base = 10000.0f;  // llama.rope.freq_base
  float rms_eps = 1e-5f;            // llama.attention.layer_norm_rms_epsilon
  // Qwen2/Qwen3 rotate dimension i with i + n_rot/2 (llama.cpp's NEOX RoPE); Llama rotates
  // adjacent pairs (2i, 2i+1).
  bool rope_neox = false;
  // Qwen3: Q and K are RMS-normed per head (attn_q_norm, attn_k_norm) before RoPE.
  bool qk_norm = false;

  int64_t head_dim() const { return n_head_dim > 0 ? n_head_dim : n_embd / n_head; }
  int64_t n_embd_q() const { return head_dim() * n_head; }
  int64_t n_embd_kv() const { return head_dim() * n_head_kv; }
};

// Errors: Unsupported when general.architecture is not one of ArchName's; Corruption naming the
// key when a value is missing, non-positive or inconsistent (n_head % n_head_kv, n_rot).
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
