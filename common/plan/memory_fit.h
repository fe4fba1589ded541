// What a stage needs in device memory: its weights, its KV cache for the context and sequences it
// serves, and working buffers for the largest micro-batch; and whether that fits a device.
// Buffers are an estimate of pipeshard's own: per prompt row the activations of a block (residual,
// normed input, Q/K/V, attention output, the gate/up/down intermediates) in F32, attention scores
// in tiles of kAttentionTile positions per head, and on the last stage one F32 logits row per
// sequence.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "common/plan/model_cost.h"

namespace ps::plan {

inline constexpr int64_t kAttentionTile = 256;

struct MemoryUse {
  uint64_t weights = 0;
  uint64_t kv_cache = 0;
  uint64_t buffers = 0;
  uint64_t total() const { return weights + kv_cache + buffers; }
};

// Layers [first, last) (with the embedding when first == 0 and the head when last == n_layer),
// holding `ctx` positions for each of `max_seqs` sequences and prompt chunks of `ubatch` rows.
MemoryUse StageMemory(const ModelCost& cost, int64_t first, int64_t last, int64_t ctx, int32_t max_seqs,
                      int32_t ubatch);

// "7.48 GiB"
std::string FormatGiB(uint64_t bytes);

}  // namespace ps::plan
