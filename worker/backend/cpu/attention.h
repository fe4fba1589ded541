// Causal grouped-query attention of a batch's queries over their sequences' cached keys and
// values: query head h of a token at position p of sequence s reads kv head h / (n_head /
// n_head_kv) at positions 0..p of s, scores scaled by 1/sqrt(head_dim), softmax, weighted sum.
//
// Numerics mirror llama.cpp's CPU path with its defaults (flash attention "auto" resolves to on
// for CPU; ggml_compute_forward_flash_attn_ext in ggml/src/ggml-cpu/ops.cpp):
//  - F32 cache: all F32, online softmax (running max M, running sum S).
//  - F16 cache, a sequence with >= 64 (GGML_FA_TILE_Q) tokens in the batch: the tiled kernel
//    widens K and V to F32 and keeps F32 accumulators: same as the F32 cache on rounded K/V.
//  - F16 cache, fewer tokens (generation, short prompts): the one-row kernel rounds the query to
//    F16 before the K dot product and accumulates the weighted V sum in an F16 vector (each
//    rescale and each multiply-add rounded to F16); S and M stay F32; output = V_acc / S.
// Not mirrored: ggml's single-token split-KV path for >= 512 cached positions (partial sums
// per thread, so ggml's own result depends on its thread count).
// That is the scalar / reference level. At KernelLevel::kAvx2 one SIMD path serves both cache
// types and every batch shape (kernels/attention_avx2.h): the query heads of a KV head attend
// together, K and V are converted to F32 (F16C) as they are read, and half_rows is ignored.
// Work is split over the threads by (row, KV head), in contiguous runs of about equal cost
// (positions read).
// Thread-safety: Attention owns per-thread scratch; one call at a time per instance.
#pragma once

#include <cstdint>
#include <vector>

#include "worker/backend/cpu/kernel_level.h"
#include "worker/backend/cpu/kv_cache.h"
#include "worker/backend/cpu/thread_pool.h"

namespace ps::cpu {

// Token count per sequence from which llama.cpp's CPU flash attention switches to F32 tiles.
inline constexpr int64_t kF32AttentionMinTokens = 64;

struct AttentionShape {
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
};

class Attention {
 public:
  // level: a resolved kernel level (not kAuto).
  Attention(int threads, const AttentionShape& shape, KernelLevel level = KernelLevel::kScalar);

  // q: [n, n_head * head_dim] (after rope); out: same shape. Row i belongs to seq_ids[i] at
  // positions[i], whose keys/values for 0..positions[i] are in `cache` at `layer`.
  // half_rows[i] != 0 selects the F16 one-row numerics above (only with an F16 cache; not read
  // at kAvx2).
  void Run(ThreadPool& pool, const KvCache& cache, int64_t layer, const float* q, const int32_t* seq_ids,
           const int32_t* positions, const uint8_t* half_rows, int64_t n, float* out);

 private:
  struct Scratch {
    std::vector<float> q, k, v, acc;  // [head_dim] each
  };
  void RunReference(ThreadPool& pool, const KvCache& cache, int64_t layer, const float* q, const int32_t* seq_ids,
                    const int32_t* positions, const uint8_t* half_rows, int64_t n, float* out);
  void RunAvx2(ThreadPool& pool, const KvCache& cache, int64_t layer, const float* q, const int32_t* seq_ids,
               const int32_t* positions, int64_t n, float* out);
  template <bool kHalf, typename Elem>
  void AttendHead(const Elem* keys, const Elem* values, size_t row_stride, int32_t n_pos, const float* q,
                  Scratch& s, float* out) const;

  AttentionShape shape_;
  float scale_;
  KernelLevel level_;
  std::vector<Scratch> scratch_;                  // [threads], scalar / reference
  std::vector<std::vector<float>> group_scratch_;  // [threads], avx2 (AttendGroupScratchFloats)
  std::vector<int64_t> bounds_;                   // [threads + 1] first item of each thread, avx2
};

}  // namespace ps::cpu
