// The tensors a layer range of a Llama-family model (llama, qwen2, qwen3) needs, looked up by name and checked against the
// config (shape and supported type) before any byte is read. Pointers into the GgufFile.
// Thread-safety: plain value; valid while the GgufFile lives.
#pragma once

#include <array>
#include <vector>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "common/util/status.h"

namespace ps {

// A contiguous range of transformer blocks [first, last). The stage holding layer 0 embeds
// tokens; the stage holding the last layer applies the final norm and the output head.
struct LayerRange {
  int64_t first = 0;
  int64_t last = 0;
  bool has_embedding(const LlamaConfig&) const { return first == 0; }
  bool has_head(const LlamaConfig& c) const { return last == c.n_layer; }
};

struct LayerWeights {
  const gguf::TensorInfo* attn_norm;  // [n_embd]                F32
  const gguf::TensorInfo* wq;         // [n_embd, n_embd_q]       any supported
  const gguf::TensorInfo* wk;         // [n_embd, n_embd_kv]
  const gguf::TensorInfo* wv;         // [n_embd, n_embd_kv]
  const gguf::TensorInfo* wo;         // [n_embd_q, n_embd]
  // Optional biases added after the projections (Qwen2 has them; llama.cpp loads them for every
  // architecture here). F32, [n_embd_q] / [n_embd_kv] / [n_embd_kv]; nullptr when absent.
  const gguf::TensorInfo* bq = nullptr;
  const gguf::TensorInfo* bk = nullptr;
  const gguf::TensorInfo* bv = nullptr;
  // Qwen3's per-head RMSNorm weights for Q and K, [head_dim] F32; nullptr unless config.qk_norm.
  const gguf::TensorInfo* q_norm = nullptr;
  const gguf::TensorInfo* k_norm = nullptr;
  const gguf::TensorInfo* ffn_norm;   // [n_embd]                F32
  const gguf::TensorInfo* ffn_gate;   // [n_embd, n_ff]
  const gguf::TensorInfo* ffn_up;     // [n_embd, n_ff]
  const gguf::TensorInfo* ffn_down;   // [n_ff, n_embd]

  // The seven weight matrices, and the element-wise vectors (nullptr where the file has none):
  // for whoever walks every tensor of a layer (the cost model, a worker paging them in).
  std::array<const gguf::TensorInfo*, 7> matrices() const { return {wq, wk, wv, wo, ffn_gate, ffn_up, ffn_down}; }
  std::array<const gguf::TensorInfo*, 7> vectors() const { return {attn_norm, ffn_norm, bq, bk, bv, q_norm, k_norm}; }
};

struct LlamaWeights {
  LayerRange range;
  const gguf::TensorInfo* tok_embd = nullptr;     // [n_embd, n_vocab]; first stage, or tied head
  const gguf::TensorInfo* output_norm = nullptr;  // [n_embd]; last stage
  const gguf::TensorInfo* output = nullptr;       // [n_embd, n_vocab]; token_embd when tied
  const gguf::TensorInfo* output_bias = nullptr;  // [n_vocab] F32; optional (some Qwen2 files)
  const gguf::TensorInfo* rope_freqs = nullptr;   // [n_rot/2] F32, Llama 3.1 scaling; optional
  std::vector<LayerWeights> layers;               // layers[i] is block range.first + i
};

// Ok when the bound range needs only the plain Llama layer (what the CUDA kernels implement);
// else Unsupported naming what it needs beyond it: "architecture 'qwen3'", "architecture
// 'llama' with a head size other than n_embd / n_head", or "a model with attention biases (...)".
Status CheckPlainLlamaLayer(const LlamaConfig& config, const LlamaWeights& weights);

// Errors name the tensor, the expected and the found shape or type.
Result<LlamaWeights> BindLlamaWeights(const gguf::GgufFile& file, const LlamaConfig& config,
                                      LayerRange range);

}  // namespace ps
