// The cost model of a Llama model for the partition planner: per transformer block the weight
// bytes, the FLOPs per token and the KV-cache bytes per cached token; the embedding (stage 0,
// a cheap row lookup) and the final norm + output head (last stage, n_embd*n_vocab multiply-adds
// per token, often as heavy as several blocks) separately.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "common/quant/ggml_type.h"
#include "common/util/status.h"

namespace ps::plan {

struct PartCost {
  uint64_t weight_bytes = 0;
  double flops_per_token = 0;
  uint64_t kv_bytes_per_token = 0;  // per cached position of one sequence
  // Attention over the cache: FLOPs per token for each position it attends to (QK^T and AV,
  // 4 * n_head * head_dim), so a token at position p costs flops_per_token + p * this.
  double attention_flops_per_position = 0;
};

// The arithmetic the weight GEMMs run in: quantized blocks go through integer dot products on
// GPUs (llama.cpp's mmq/dp4a) and int8-class SIMD on CPUs; F16/BF16 and F32 through float units.
enum class MatmulPrecision { kQuantized, kF16, kF32 };

struct ModelCost {
  MatmulPrecision precision = MatmulPrecision::kQuantized;  // of the blocks' matrices
  std::optional<GgmlType> weight_type;  // the blocks' matrix type, when one is known
  int64_t n_embd = 0;   // activation width: a row crossing a hop is n_embd F32 values
  int64_t n_vocab = 0;
  int64_t n_head = 0;
  int64_t n_ff = 0;
  int64_t n_embd_kv = 0;
  std::vector<PartCost> layers;  // layers[i] is block i
  PartCost embedding;            // on the stage holding block 0
  PartCost head;                 // final norm + output, on the stage holding the last block
  int64_t n_layer() const { return static_cast<int64_t>(layers.size()); }
};

// From the tensors the file actually holds (their stored types set the bytes). kv_elem_bytes: 2
// for an F16 cache, 4 for F32. Errors name the missing or malformed tensor.
Result<ModelCost> ModelCostFromFile(const gguf::GgufFile& file, const LlamaConfig& config, int kv_elem_bytes);

// The same model shape with every matrix at `bytes_per_weight` (e.g. 1.0625 for Q8_0): what-if
// planning without a file, and tests.
ModelCost ModelCostFromConfig(const LlamaConfig& config, double bytes_per_weight, int kv_elem_bytes,
                              MatmulPrecision precision = MatmulPrecision::kQuantized);

// The shape with every matrix in `type` (bytes from its block geometry): what-if planning of a
// quantization without a file.
ModelCost ModelCostForType(const LlamaConfig& config, GgmlType type, int kv_elem_bytes);

// The precision a tensor type multiplies in.
MatmulPrecision PrecisionOf(GgmlType type);

}  // namespace ps::plan
