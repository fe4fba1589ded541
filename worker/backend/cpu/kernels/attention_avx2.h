// The fast (KernelLevel::kAvx2) attention kernel: all query heads that share one KV head (GQA)
// attend together over that head's cached keys and values, so K and V are read (and widened
// from F16 with F16C) once per group instead of once per query head.
//
// Positions go in tiles of kAttentionTile, always counted from position 0, with an online
// softmax across tiles: per tile the scores of every head against every key, the tile's maximum,
// exp with an 8-lane polynomial, then the weighted V sum. One consistent path for F16 and F32
// caches (F32 accumulators, the query scaled by 1/sqrt(head_dim) before the dot products), so a
// row's result depends only on its query, its position and the cache contents, never on the
// batch around it, the number of rows of its sequence in the batch, or the thread.
// Call only when CpuHasAvx2Fma().
// Thread-safety: pure function over caller-owned scratch.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ps::cpu {

inline constexpr int64_t kAttentionTile = 32;

struct AttendGroupArgs {
  const void* keys = nullptr;    // the KV head's key at position 0: uint16_t (F16) or float
  const void* values = nullptr;  // likewise for values
  bool f16 = false;
  size_t row_stride = 0;  // elements between consecutive positions
  int32_t n_pos = 0;      // positions 0..n_pos-1 are attended (n_pos >= 1)
  int64_t group = 0;      // query heads sharing the KV head
  int64_t head_dim = 0;
  float scale = 0.0f;     // score scale, 1/sqrt(head_dim)
  const float* q = nullptr;  // group query heads, head_dim apart
  float* out = nullptr;      // group output heads, head_dim apart
};

// Floats of zero-initialised scratch one AttendGroupAvx2 call needs (per thread).
size_t AttendGroupScratchFloats(int64_t group, int64_t head_dim);

// out = softmax(q K^T * scale) V for each query head of the group. scratch: as sized above,
// zero-filled once when allocated (padding lanes rely on it staying zero).
void AttendGroupAvx2(const AttendGroupArgs& args, float* scratch);

}  // namespace ps::cpu
