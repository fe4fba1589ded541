#include "worker/backend/cpu/attention.h"

#include <cmath>
#include <limits>

#include "common/quant/quant.h"
#include "worker/backend/cpu/kernels/attention_avx2.h"
#include "worker/backend/cpu/ops.h"

namespace ps::cpu {
namespace {

// Widening F16 cache rows is the inner loop of attention; a 256 KiB table beats bit twiddling.
const float* F16Table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; ++h) t[h] = Fp16ToFp32(static_cast<uint16_t>(h));
    return t;
  }();
  return table.data();
}

void Widen(const uint16_t* src, float* dst, int64_t n) {
  const float* table = F16Table();
  for (int64_t i = 0; i < n; ++i) dst[i] = table[src[i]];
}
void Widen(const float* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}

float RoundF16(float x) { return Fp16ToFp32(Fp32ToFp16(x)); }

}  // namespace

Attention::Attention(int threads, const AttentionShape& shape, KernelLevel level)
    : shape_(shape), scale_(1.0f / std::sqrt(static_cast<float>(shape.head_dim))), level_(level) {
  if (level_ == KernelLevel::kAvx2) {
    const size_t floats = AttendGroupScratchFloats(shape.n_head / shape.n_head_kv, shape.head_dim);
    group_scratch_.assign(threads, std::vector<float>(floats, 0.0f));
    bounds_.resize(threads + 1);
    return;
  }
  scratch_.resize(threads);
  for (Scratch& s : scratch_) {
    s.q.resize(shape.head_dim);
    s.k.resize(shape.head_dim);
    s.v.resize(shape.head_dim);
    s.acc.resize(shape.head_dim);
  }
  F16Table();  // built here, outside the threads
}

// One query head over n_pos cached positions; keys/values point at the kv head's slice of
// position 0, consecutive positions row_stride elements apart.
template <bool kHalf, typename Elem>
void Attention::AttendHead(const Elem* keys, const Elem* values, size_t row_stride, int32_t n_pos,
                           const float* q, Scratch& s, float* out) const {
  const int64_t d = shape_.head_dim;
  if constexpr (kHalf) {
    for (int64_t i = 0; i < d; ++i) s.q[i] = RoundF16(q[i]);
  } else {
    Widen(q, s.q.data(), d);
  }
  float* acc = s.acc.data();
  for (int64_t i = 0; i < d; ++i) acc[i] = 0.0f;
  float m = -std::numeric_limits<float>::infinity();  // running maximum score
  float sum = 0.0f;                                     // running sum of exp(score - m)
  for (int32_t p = 0; p < n_pos; ++p) {
    Widen(keys + p * row_stride, s.k.data(), d);
    const float score = DotF32(s.k.data(), s.q.data(), d) * scale_;
    float rescale = 1.0f;  // for the old accumulator when the maximum grows
    float weight = 1.0f;   // exp(score - m) of this position
    if (score > m) {
      rescale = std::exp(m - score);
      m = score;
      for (int64_t i = 0; i < d; ++i) acc[i] *= rescale;
      if constexpr (kHalf) {
        for (int64_t i = 0; i < d; ++i) acc[i] = RoundF16(acc[i]);
      }
    } else {
      weight = std::exp(score - m);
    }
    Widen(values + p * row_stride, s.v.data(), d);
    AxpyF32(weight, s.v.data(), acc, d);
    if constexpr (kHalf) {
      for (int64_t i = 0; i < d; ++i) acc[i] = RoundF16(acc[i]);
    }
    sum = sum * rescale + weight;
  }
  const float inv = sum == 0.0f ? 0.0f : 1.0f / sum;
  for (int64_t i = 0; i < d; ++i) out[i] = acc[i] * inv;
}

void Attention::Run(ThreadPool& pool, const KvCache& cache, int64_t layer, const float* q, const int32_t* seq_ids,
                    const int32_t* positions, const uint8_t* half_rows, int64_t n, float* out) {
  if (level_ == KernelLevel::kAvx2) {
    RunAvx2(pool, cache, layer, q, seq_ids, positions, n, out);
  } else {
    RunReference(pool, cache, layer, q, seq_ids, positions, half_rows, n, out);
  }
}

void Attention::RunAvx2(ThreadPool& pool, const KvCache& cache, int64_t layer, const float* q,
                        const int32_t* seq_ids, const int32_t* positions, int64_t n, float* out) {
  const int64_t d = shape_.head_dim;
  const int64_t n_kv = shape_.n_head_kv;
  const int64_t group = shape_.n_head / n_kv;
  const int64_t width = shape_.n_head * d;
  const int threads = static_cast<int>(group_scratch_.size());
  // An item is (row, kv head); its cost is the positions it reads plus a fixed part for the
  // query, the output and the tile set-up. Contiguous runs of about total / threads each: in a
  // prompt the later rows read more positions, so equal item counts would leave threads idle.
  constexpr int64_t kItemOverhead = 16;
  int64_t total = 0;
  for (int64_t row = 0; row < n; ++row) total += n_kv * (positions[row] + 1 + kItemOverhead);
  int64_t done = 0;
  int next = 1;
  bounds_[0] = 0;
  for (int64_t item = 0; item < n * n_kv; ++item) {
    while (next < threads && done * threads >= total * next) bounds_[next++] = item;
    done += positions[item / n_kv] + 1 + kItemOverhead;
  }
  while (next <= threads) bounds_[next++] = n * n_kv;

  pool.ParallelFor(threads, [&](int thread, int64_t t0, int64_t t1) {
    float* scratch = group_scratch_[thread].data();
    for (int64_t item = bounds_[t0]; item < bounds_[t1]; ++item) {
      const int64_t row = item / n_kv;
      const int64_t kvh = item % n_kv;
      const int32_t seq = seq_ids[row];
      AttendGroupArgs a;
      a.f16 = cache.f16();
      if (a.f16) {
        a.keys = cache.KeyF16(seq, layer, 0) + kvh * d;
        a.values = cache.ValueF16(seq, layer, 0) + kvh * d;
      } else {
        a.keys = cache.KeyF32(seq, layer, 0) + kvh * d;
        a.values = cache.ValueF32(seq, layer, 0) + kvh * d;
      }
      a.row_stride = static_cast<size_t>(cache.n_embd_kv());
      a.n_pos = positions[row] + 1;  // causal: 0..pos
      a.group = group;
      a.head_dim = d;
      a.scale = scale_;
      a.q = q + row * width + kvh * group * d;
      a.out = out + row * width + kvh * group * d;
      AttendGroupAvx2(a, scratch);
    }
  });
}

void Attention::RunReference(ThreadPool& pool, const KvCache& cache, int64_t layer, const float* q,
                             const int32_t* seq_ids, const int32_t* positions, const uint8_t* half_rows, int64_t n,
                             float* out) {
  const int64_t d = shape_.head_dim;
  const int64_t group = shape_.n_head / shape_.n_head_kv;  // query heads per kv head
  const int64_t width = shape_.n_head * d;
  const size_t stride = static_cast<size_t>(cache.n_embd_kv());
  pool.ParallelFor(n * shape_.n_head, [&](int thread, int64_t begin, int64_t end) {
    Scratch& s = scratch_[thread];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t row = item / shape_.n_head;
      const int64_t head = item % shape_.n_head;
      const int32_t seq = seq_ids[row];
      const int32_t n_pos = positions[row] + 1;  // causal: 0..pos
      const int64_t kv_off = (head / group) * d;
      const float* qh = q + row * width + head * d;
      float* oh = out + row * width + head * d;
      if (cache.f16()) {
        const uint16_t* k = cache.KeyF16(seq, layer, 0) + kv_off;
        const uint16_t* v = cache.ValueF16(seq, layer, 0) + kv_off;
        if (half_rows[row]) {
          AttendHead<true>(k, v, stride, n_pos, qh, s, oh);
        } else {
          AttendHead<false>(k, v, stride, n_pos, qh, s, oh);
        }
      } else {
        AttendHead<false>(cache.KeyF32(seq, layer, 0) + kv_off, cache.ValueF32(seq, layer, 0) + kv_off, stride,
                          n_pos, qh, s, oh);
      }
    }
  });
}

}  // namespace ps::cpu

