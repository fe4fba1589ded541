#include "common/plan/memory_fit.h"

#include <algorithm>
#include <cstdio>

namespace ps::plan {

MemoryUse StageMemory(const ModelCost& cost, int64_t first, int64_t last, int64_t ctx, int32_t max_seqs,
                      int32_t ubatch) {
  first = std::clamp<int64_t>(first, 0, cost.n_layer());
  last = std::clamp<int64_t>(last, first, cost.n_layer());
  MemoryUse m;
  uint64_t kv_per_position = 0;
  for (int64_t i = first; i < last; ++i) {
    m.weights += cost.layers[static_cast<size_t>(i)].weight_bytes;
    kv_per_position += cost.layers[static_cast<size_t>(i)].kv_bytes_per_token;
  }
  if (first == 0) m.weights += cost.embedding.weight_bytes;
  if (last == cost.n_layer()) m.weights += cost.head.weight_bytes;
  const uint64_t positions = static_cast<uint64_t>(std::max<int64_t>(0, ctx)) * static_cast<uint64_t>(std::max(1, max_seqs));
  m.kv_cache = kv_per_position * positions;
  const uint64_t rows = static_cast<uint64_t>(std::max(1, ubatch));
  const uint64_t e = static_cast<uint64_t>(cost.n_embd), ff = static_cast<uint64_t>(cost.n_ff);
  const uint64_t tile = static_cast<uint64_t>(std::min<int64_t>(std::max<int64_t>(1, ctx), kAttentionTile));
  m.buffers = rows * (6 * e + 3 * ff) * 4 + rows * static_cast<uint64_t>(cost.n_head) * tile * 4;
  if (last == cost.n_layer()) m.buffers += static_cast<uint64_t>(std::max(1, max_seqs)) * static_cast<uint64_t>(cost.n_vocab) * 4;
  return m;
}

std::string FormatGiB(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

}  // namespace ps::plan
