// Per-sequence key/value cache of one stage's layers. Sequence s holds, for each local layer,
// K and V as [n_ctx, n_embd_kv] rows (row p = position p, kv heads side by side). Elements are
// F16 (uint16_t, as llama.cpp's default cache stores them) or F32. A sequence's memory is
// allocated on first use and released by Free; its length (the next position it expects) only
// moves through Commit, so a failed batch leaves nothing behind. At KernelLevel::kAvx2 rows are
// rounded to F16 with the F16C instruction (round to nearest even), else by Fp32ToFp16.
// Thread-safety: Store* on distinct (seq, layer, pos) cells and concurrent reads are safe;
// Reserve, Commit and Free need exclusive access.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/util/status.h"
#include "worker/backend/cpu/kernel_level.h"

namespace ps::cpu {

class KvCache {
 public:
  // level: a resolved kernel level (not kAuto).
  KvCache(int64_t n_layers, int64_t n_ctx, int64_t n_embd_kv, int32_t max_seqs, bool f16,
          KernelLevel level = KernelLevel::kScalar);

  bool f16() const { return f16_; }
  int64_t n_embd_kv() const { return n_embd_kv_; }
  int32_t Length(int32_t seq) const { return length_[seq]; }

  // Allocates the sequence's memory if it has none. ResourceExhausted when memory runs out.
  Status Reserve(int32_t seq);
  // The sequence now holds positions [0, length).
  void Commit(int32_t seq, int32_t length) { length_[seq] = length; }
  void Free(int32_t seq);

  // Writes one token's K and V rows (n_embd_kv floats each), rounding to F16 when f16().
  void Store(int32_t seq, int64_t layer, int32_t pos, const float* k, const float* v);

  // Row `pos` of a layer; the F16 accessors need f16(), the F32 ones !f16().
  const uint16_t* KeyF16(int32_t seq, int64_t layer, int32_t pos) const { return f16_k_[seq].get() + Offset(layer, pos); }
  const uint16_t* ValueF16(int32_t seq, int64_t layer, int32_t pos) const { return f16_v_[seq].get() + Offset(layer, pos); }
  const float* KeyF32(int32_t seq, int64_t layer, int32_t pos) const { return f32_k_[seq].get() + Offset(layer, pos); }
  const float* ValueF32(int32_t seq, int64_t layer, int32_t pos) const { return f32_v_[seq].get() + Offset(layer, pos); }

 private:
  size_t Offset(int64_t layer, int32_t pos) const {
    return (static_cast<size_t>(layer) * n_ctx_ + static_cast<size_t>(pos)) * n_embd_kv_;
  }
  size_t ElementsPerSeq() const { return static_cast<size_t>(n_layers_) * n_ctx_ * n_embd_kv_; }

  int64_t n_layers_;
  int64_t n_ctx_;
  int64_t n_embd_kv_;
  bool f16_;
  bool f16c_;  // round with F16C (kAvx2)
  std::vector<int32_t> length_;                      // [max_seqs]
  std::vector<std::unique_ptr<uint16_t[]>> f16_k_;  // [max_seqs][n_layers * n_ctx * n_embd_kv]
  std::vector<std::unique_ptr<uint16_t[]>> f16_v_;
  std::vector<std::unique_ptr<float[]>> f32_k_;
  std::vector<std::unique_ptr<float[]>> f32_v_;
};

}  // namespace ps::cpu
