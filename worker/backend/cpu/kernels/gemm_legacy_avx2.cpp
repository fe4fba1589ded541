// Fast AVX2 products of the legacy quant types Q5_0 and Q4_1 with activations prepared by
// PrepareLegacyActAvx2 (legacy_act_avx2.h). Q8_0 and Q4_0 have their own kernels, on copies
// interleaved in groups of 8 rows (gemm_q8_0_avx2.cpp, gemm_q4_0_avx2.cpp).
//
// Numerics, the same for every output element whatever the tile it falls in (fast_gemm.h):
//   acc = 0 (8 floats)
//   for each block b, in order:
//     lanes = 8 int32, lane l = sum of w[e] * a[e] over the block's elements 4l .. 4l + 3 (exact)
//     acc   = fma(float(lanes), broadcast(dw[b] * da[b]), acc)     (dw: the weight's fp16 scale)
//   y = ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7))
// The affine types Q4_1 (x = dw * q + m, q in [0, 15]) and Q5_0 (m = -16 * dw) multiply the
// unsigned q directly, and the offset term m * (da * sum a) goes into a separate float chain per
// element, one FMA per block in block order (m[b] * s[b], s from the prepared row), added last:
// y = hsum(acc) + offsets.
//
// Work order: activation rows are cut into chunks that fit in L2 next to the weight rows being
// read; inside a chunk each group of kTileRows weight rows is decoded block by block from memory
// and multiplied with kTileActs activation rows at a time, so every weight byte comes from memory
// once per chunk and from L1 for the other activation tiles. For decode (n = 1) that is a stream
// over the weights, four rows at a time sharing each activation block.
// Thread-safety: pure functions.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <utility>

#include "common/quant/blocks.h"
#include "worker/backend/cpu/kernels/fast_gemm.h"
#include "worker/backend/cpu/kernels/legacy_act_avx2.h"
#include "worker/backend/cpu/kernels/simd_avx2.h"

#define PS_GEMM_AVX2 __attribute__((target("avx2,fma,f16c")))
#define PS_GEMM_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) inline

namespace ps::cpu {

namespace {

// Register tile: 4 weight rows x 3 activation rows = 12 accumulators. With the weight block, its
// absolute value, a temporary and the int16 ones that is one more than the 16 ymm registers, so
// GCC keeps a few accumulators on the stack; still, on Zen 3 4 x 3 measured a few percent ahead
// of 4 x 2, 2 x 4 and 3 x 4 for Q8_0 and the affine types (single-thread CPU time, noisy shared machine).
constexpr int kTileRows = 4;
constexpr int kTileActs = 3;
// Bytes of prepared activation rows one chunk may hold, about half of a Zen 3 / Skylake L2.
constexpr size_t kActChunkBytes = 256 * 1024;

PS_GEMM_INLINE __m256i Load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
PS_GEMM_INLINE __m128i Load16(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// The fp16 values at blk0 + i * row_bytes (a field of block b in RM <= 4 weight rows: the scale,
// or Q4_1's offset) as floats in lanes 0..RM-1. The halves are gathered with scalar loads and
// shifts, which run beside the vector work.
template <int RM>
PS_GEMM_INLINE __m128 BlockHalves(const uint8_t* blk0, size_t row_bytes) {
  uint64_t halves = 0;
#pragma GCC unroll 4
  for (int i = 0; i < RM; ++i) {
    uint16_t h;
    std::memcpy(&h, blk0 + i * row_bytes, sizeof(h));
    halves |= static_cast<uint64_t>(h) << (16 * i);
  }
  return _mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<int64_t>(halves)));
}

// 32 nibbles in element order: low nibbles are elements 0-15, high nibbles 16-31.
PS_GEMM_INLINE __m256i Nibbles(const uint8_t* qs) {
  const __m128i bytes = Load16(qs);
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(bytes, 4), bytes);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// Weight formats: block size in bytes, the block's 32 unsigned values, the offset per block.
// Q5_0 (x = dw * (q - 16), q in [0, 31]) runs as an affine type: the unsigned q multiply directly
// (no sign trick, a third fewer vector operations per block), and the -16 goes into the offset
// chain as m = -16 * dw.
struct Q5_0Weights {
  static constexpr size_t kBlockBytes = sizeof(block_q5_0);
  template <int RM>
  PS_GEMM_INLINE static __m128 Offsets(__m128 dw, const uint8_t*, size_t) {
    return _mm_mul_ps(dw, _mm_set1_ps(-16.0f));
  }
  PS_GEMM_INLINE static __m256i Values(const uint8_t* blk) {
    uint32_t bits;
    std::memcpy(&bits, blk + offsetof(block_q5_0, qh), sizeof(bits));
    // Byte j takes byte j / 8 of the fifth-bit word and tests its own bit j % 8.
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(bits)),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    return _mm256_or_si256(Nibbles(blk + offsetof(block_q5_0, qs)), _mm256_and_si256(set, _mm256_set1_epi8(16)));
  }
};

struct Q4_1Weights {
  static constexpr size_t kBlockBytes = sizeof(block_q4_1);
  template <int RM>
  PS_GEMM_INLINE static __m128 Offsets(__m128, const uint8_t* blk0, size_t row_bytes) {
    return BlockHalves<RM>(blk0 + offsetof(block_q4_1, m), row_bytes);
  }
  PS_GEMM_INLINE static __m256i Values(const uint8_t* blk) { return Nibbles(blk + offsetof(block_q4_1, qs)); }
};

// The 8 int32 lane sums of one block's products (see the file comment).
PS_GEMM_INLINE __m256i BlockLanes(__m256i w, const int8_t* a) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(w, Load32(a)), _mm256_set1_epi16(1));
}

// Everything a tile needs to find its operands.
struct TileArgs {
  const uint8_t* w;  // first weight row of the tile
  size_t w_row_bytes;
  const uint8_t* act;  // first prepared activation row of the tile
  size_t act_stride;
  size_t scales_offset;  // of d[] inside a prepared row
  size_t sums_offset;    // of s[] (Q4_1 only)
  int64_t blocks;
  float* y;  // y of (first activation row, first weight row)
  int64_t ldy;
};

// y for RM weight rows x RN activation rows, accumulators in registers. Every loop over the tile
// is unrolled so that the accumulator array never lives in memory.
template <typename W, int RM, int RN>
PS_GEMM_AVX2 void Tile(const TileArgs& t) {
  const uint8_t* const w0 = t.w;
  const size_t w_row_bytes = t.w_row_bytes;
  const int64_t blocks = t.blocks;
  __m256 acc[RM][RN];
#pragma GCC unroll 4
  for (int i = 0; i < RM; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < RN; ++j) acc[i][j] = _mm256_setzero_ps();
  }
  const int8_t* aq[RN];
  const float* ad[RN];
  const float* as[RN];
#pragma GCC unroll 4
  for (int j = 0; j < RN; ++j) {
    aq[j] = reinterpret_cast<const int8_t*>(t.act + j * t.act_stride);
    ad[j] = reinterpret_cast<const float*>(t.act + j * t.act_stride + t.scales_offset);
    as[j] = reinterpret_cast<const float*>(t.act + j * t.act_stride + t.sums_offset);
  }
  // Q4_1's offset chains: lane i of offsets[j] belongs to weight row i, activation row j.
  __m128 offsets[RN];
#pragma GCC unroll 4
  for (int j = 0; j < RN; ++j) offsets[j] = _mm_setzero_ps();
  // The tile's scale products of the current block, scale[j][i] = dw_i * da_j: computed four at a
  // time, then broadcast from memory, which costs a load instead of a vector multiply per pair.
  alignas(16) float scale[RN][4];
  for (int64_t b = 0; b < blocks; ++b) {
    const size_t w_off = static_cast<size_t>(b) * W::kBlockBytes;
    if constexpr (RN == 1) {
      // Decode streams the weights once, RM short rows at a time (a 1024-wide Q5_0 row is 11
      // cache lines), too short for the hardware prefetcher to ramp up; so fetch the next
      // tile's rows, which follow this tile's in memory, at the pace this tile reads its own.
      const uint8_t* next = w0 + RM * w_row_bytes + static_cast<size_t>(b) * RM * W::kBlockBytes;
#pragma GCC unroll 4
      for (size_t off = 0; off < RM * W::kBlockBytes; off += 64) _mm_prefetch(reinterpret_cast<const char*>(next + off), _MM_HINT_T0);
    }
    const __m128 dw = BlockHalves<RM>(w0 + w_off, w_row_bytes);
#pragma GCC unroll 4
    for (int j = 0; j < RN; ++j) _mm_store_ps(scale[j], _mm_mul_ps(dw, _mm_broadcast_ss(ad[j] + b)));
    const __m128 m = W::template Offsets<RM>(dw, w0 + w_off, w_row_bytes);
#pragma GCC unroll 4
    for (int j = 0; j < RN; ++j) offsets[j] = _mm_fmadd_ps(m, _mm_broadcast_ss(as[j] + b), offsets[j]);
#pragma GCC unroll 4
    for (int i = 0; i < RM; ++i) {
      const __m256i w = W::Values(w0 + i * w_row_bytes + w_off);
#pragma GCC unroll 4
      for (int j = 0; j < RN; ++j) {
        const __m256i lanes = BlockLanes(w, aq[j] + b * kQK);
        acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lanes), _mm256_broadcast_ss(&scale[j][i]), acc[i][j]);
      }
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < RN; ++j) {
    alignas(16) float offset[4];
    _mm_store_ps(offset, offsets[j]);
#pragma GCC unroll 4
    for (int i = 0; i < RM; ++i) {
      const float sum = simd::Hsum(acc[i][j]);
      t.y[j * t.ldy + i] = sum + offset[i];
    }
  }
}

using TileFn = void (*)(const TileArgs&);

template <typename W, int RM, int... J>
constexpr auto TileRow(std::integer_sequence<int, J...>) {
  return std::array<TileFn, sizeof...(J)>{&Tile<W, RM, J + 1>...};
}

// kTiles<W>[rm - 1][rn - 1]: the tile for rm weight rows x rn activation rows.
template <typename W, int... I>
constexpr auto TileTable(std::integer_sequence<int, I...>) {
  return std::array<std::array<TileFn, kTileActs>, sizeof...(I)>{
      TileRow<W, I + 1>(std::make_integer_sequence<int, kTileActs>())...};
}
template <typename W>
constexpr auto kTiles = TileTable<W>(std::make_integer_sequence<int, kTileRows>());

template <typename W>
PS_GEMM_AVX2 void Gemm(const FastGemmArgs& a) {
  const LegacyActLayout layout = LegacyActLayout::Of(a.k, /*with_sums=*/true);
  const int64_t chunk = std::max<int64_t>(
      kTileActs, static_cast<int64_t>(kActChunkBytes / a.act_stride) / kTileActs * kTileActs);
  TileArgs t;
  t.w_row_bytes = a.w_row_bytes;
  t.act_stride = a.act_stride;
  t.scales_offset = layout.scales_offset;
  t.sums_offset = layout.sums_offset;
  t.blocks = layout.blocks;
  t.ldy = a.ldy;
  for (int64_t i0 = 0; i0 < a.n; i0 += chunk) {
    const int64_t i1 = std::min(a.n, i0 + chunk);
    for (int64_t r = a.r0; r < a.r1; r += kTileRows) {
      const int64_t rm = std::min<int64_t>(kTileRows, a.r1 - r);
      t.w = a.w + static_cast<size_t>(r) * a.w_row_bytes;
      for (int64_t i = i0; i < i1; i += kTileActs) {
        const int64_t rn = std::min<int64_t>(kTileActs, i1 - i);
        t.act = a.act + static_cast<size_t>(i) * a.act_stride;
        t.y = a.y + i * a.ldy + r;
        kTiles<W>[rm - 1][rn - 1](t);
      }
    }
  }
}

size_t PreparedBytes(int64_t k) { return LegacyActLayout::Of(k, /*with_sums=*/true).bytes; }
void Prepare(const float* x, void* dst, int64_t k) { PrepareLegacyActAvx2(x, dst, k, LegacyActSums::kScaled); }

template <typename W>
constexpr FastGemmKernel kKernel = {&PreparedBytes, &Prepare, &Gemm<W>};

}  // namespace

const FastGemmKernel* FindLegacyGemmAvx2(GgmlType weight) {
  switch (weight) {
    case GgmlType::Q5_0:
      return &kKernel<Q5_0Weights>;
    case GgmlType::Q4_1:
      return &kKernel<Q4_1Weights>;
    default:
      return nullptr;
  }
}

}  // namespace ps::cpu
