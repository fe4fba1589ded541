// The fast (avx2) matrix products for the k-quant weights q5_K and q6_K (fast_gemm.h); q4_K has
// its own kernel, on an interleaved copy (gemm_q4_k_avx2.cpp).
//
// Activations are prepared once per row into 256-element int8 blocks with a float scale and
// 16-element group sums (kquant_act_avx2.h). A weight super-block meets an activation block in
// integers: the unsigned 4/5/6-bit weights times the int8 activations with maddubs (pairs summed
// to int16), the 6-bit sub-block scales applied with madd (int16 pairs summed to int32), and the
// sub-block results added into one 8 x int32 vector. The q5_K mins and the q6_K offset of
// -32 only need the activation group sums: one more madd. Each super-block then costs one float
// FMA (two for q5_K: scale and mins) into the output element's 8-lane accumulator; a fixed
// horizontal sum ends the row. No per-block horizontal sums.
//
// Reproducibility: every output element y[i, r] owns its accumulator and sees exactly this
// sequence per super-block, in k order: an exact int32 vector (its lanes fixed by the element
// layout, so the same however it was computed), cvt, the product of the two scales, FMA. Tiles
// only decide which elements run side by side, never the per-element arithmetic, so results are
// bitwise the same for any n, r0/r1 split or tile position.
//
// Work order: weight rows in groups of about kRowGroupBytes (they stay in L2); for each group,
// activation rows in tiles of kTileActs; for each tile, each weight row of the group streams over
// all of k once, its super-blocks decoded in registers (nibbles, fifth / high bits, scale
// broadcasts) and shared by the tile's activation rows, which stay in L1. A big batch's
// activations are read from L3 once per group; a decode batch (n <= kTileActs) reads every weight
// once, streaming at memory bandwidth.
// Thread-safety: pure functions.
#include <immintrin.h>

#include <algorithm>

#include "common/quant/blocks.h"
#include "worker/backend/cpu/kernel_level.h"
#include "worker/backend/cpu/kernels/fast_gemm.h"
#include "worker/backend/cpu/kernels/kquant_act_avx2.h"
#include "worker/backend/cpu/kernels/simd_avx2.h"

namespace ps::cpu {

namespace {

#define PS_AVX2 __attribute__((target("avx2,fma,f16c")))

constexpr int kTileActs = 4;  // activation rows sharing one decoded weight super-block
// Weight rows per group: as many as fill kRowGroupBytes (a quarter of Zen 3's 512 KiB L2), at
// least kMinRowGroup.
constexpr size_t kRowGroupBytes = 128 * 1024;
constexpr int64_t kMinRowGroup = 16;

PS_AVX2 inline float HalfToFloat(uint16_t h) { return _cvtsh_ss(h); }

// An empty asm that GCC must assume reads and changes v. Placed after each add to a block's int32
// sums, it stops GCC from reassociating a block's adds into one tree that first computes (and
// spills to the stack) every product: about 20% fewer cycles per super-block (llvm-mca, znver3).
// Integer sums are exact, so this changes no result.
PS_AVX2 inline void KeepInRegister(__m256i& v) { asm("" : "+x"(v)); }

// Sixteen copies of the int16 word j of each 128-bit lane.
PS_AVX2 inline __m256i BroadcastWord(__m256i words, int j) {
  return _mm256_shuffle_epi8(words, _mm256_set1_epi16(static_cast<int16_t>(((2 * j + 1) << 8) | (2 * j))));
}

// q5_K: the packed 6-bit scales and mins (layout in common/quant/kquant_scales.h), as 8
// scales in both 128-bit lanes of int16 words, and as 16 int16 mins, each repeated for the two
// 16-element groups of its sub-block (to meet the activation group sums in one madd).
struct ScalesMinsK4 {
  __m256i scales;
  __m256i mins_per_group;
};

PS_AVX2 inline ScalesMinsK4 UnpackScalesMinsK4(const uint8_t* packed) {
  uint32_t w[3];
  __builtin_memcpy(w, packed, sizeof(w));
  // Sub-blocks 0-3: low 6 bits of bytes 0-3 (scales) and 4-7 (mins). Sub-blocks 4-7: low 4 bits
  // in the nibbles of bytes 8-11 (scale low, min high), top 2 bits in bits 6-7 of bytes 0-3 / 4-7.
  const uint32_t scales_lo = w[0] & 0x3f3f3f3fu;
  const uint32_t mins_lo = w[1] & 0x3f3f3f3fu;
  const uint32_t scales_hi = (w[2] & 0x0f0f0f0fu) | (((w[0] >> 6) & 0x03030303u) << 4);
  const uint32_t mins_hi = ((w[2] >> 4) & 0x0f0f0f0fu) | (((w[1] >> 6) & 0x03030303u) << 4);
  const __m128i scales8 = _mm_cvtsi64_si128(static_cast<long long>((uint64_t{scales_hi} << 32) | scales_lo));
  const __m128i mins8 = _mm_cvtsi64_si128(static_cast<long long>((uint64_t{mins_hi} << 32) | mins_lo));
  return {_mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scales8)),
          _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins8, mins8))};
}

// Adds one q5_K super-block to the accumulators of C activation rows; decode(g, low, high)
// gives the 32 unsigned weights of sub-blocks 2g and 2g + 1 (elements 64 g .. 64 g + 63).
template <int C, class Decode>
PS_AVX2 inline void AccumulateK4(const ScalesMinsK4& sm, uint16_t d_bits, uint16_t dmin_bits, const Decode& decode,
                                 const KQuantActBlock* const act[C], __m256 acc[C]) {
  __m256i scale[8];
  for (int j = 0; j < 8; ++j) scale[j] = BroadcastWord(sm.scales, j);
  __m256i sum[C];
  for (int c = 0; c < C; ++c) sum[c] = _mm256_setzero_si256();
  for (int g = 0; g < 4; ++g) {
    __m256i low, high;
    decode(g, low, high);
    for (int c = 0; c < C; ++c) {
      const auto* a = reinterpret_cast<const __m256i*>(act[c]->q + 64 * g);
      const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(low, _mm256_load_si256(a)), scale[2 * g]);
      const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(high, _mm256_load_si256(a + 1)), scale[2 * g + 1]);
      sum[c] = _mm256_add_epi32(sum[c], _mm256_add_epi32(pl, ph));
      KeepInRegister(sum[c]);
    }
  }
  const __m256 d = _mm256_set1_ps(HalfToFloat(d_bits));
  const __m256 dmin = _mm256_set1_ps(HalfToFloat(dmin_bits));
  for (int c = 0; c < C; ++c) {
    const __m256 da = _mm256_set1_ps(act[c]->d);
    const __m256i min_sum = _mm256_madd_epi16(
        _mm256_load_si256(reinterpret_cast<const __m256i*>(act[c]->group_sums)), sm.mins_per_group);
    acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[c]), _mm256_mul_ps(d, da), acc[c]);
    acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(min_sum), _mm256_mul_ps(dmin, da), acc[c]);
  }
}

// The 32 unsigned weights of sub-blocks 2g (`low`) and 2g + 1 (`high`) of a q5_K super-block:
// the low nibbles of qs[32 g ..] for 2g and the high ones for 2g + 1, plus bits 2g and 2g + 1 of
// qh[l] as the fifth bits.
struct DecodeQ5K {
  const block_q5_K& blk;
  __m256i qh;
  PS_AVX2 void operator()(int g, __m256i& low, __m256i& high) const {
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * g));
    // 16-bit shifts are safe: the mask keeps only bit 4 of each byte, which comes from that byte.
    const __m256i h = _mm256_srli_epi16(qh, 2 * g);
    low = _mm256_or_si256(_mm256_and_si256(q, nibble), _mm256_and_si256(_mm256_slli_epi16(h, 4), bit4));
    high = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), nibble),
                           _mm256_and_si256(_mm256_slli_epi16(h, 3), bit4));
  }
};

struct Q5K {
  static constexpr size_t kBlockBytes = sizeof(block_q5_K);

  template <int C>
  PS_AVX2 static inline void Accumulate(const uint8_t* w, const KQuantActBlock* const act[C], __m256 acc[C]) {
    const auto& blk = *reinterpret_cast<const block_q5_K*>(w);
    const DecodeQ5K decode{blk, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh))};
    AccumulateK4<C>(UnpackScalesMinsK4(blk.scales), blk.d, blk.dmin, decode, act, acc);
  }
};

struct Q6K {
  static constexpr size_t kBlockBytes = sizeof(block_q6_K);

  template <int C>
  PS_AVX2 static inline void Accumulate(const uint8_t* w, const KQuantActBlock* const act[C], __m256 acc[C]) {
    const auto& blk = *reinterpret_cast<const block_q6_K*>(w);
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    const __m256i bits45 = _mm256_set1_epi8(0x30);
    // 16 int8 scales as int16: [s0..s7 | s8..s15]. Vector t (elements 32t .. 32t + 31) covers
    // sub-blocks 2t (low 128-bit lane) and 2t + 1 (high lane).
    const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales)));
    const __m256i first_half = _mm256_permute4x64_epi64(scales16, 0x44);   // [s0..s7 | s0..s7]
    const __m256i second_half = _mm256_permute4x64_epi64(scales16, 0xee);  // [s8..s15 | s8..s15]
    __m256i scale[8];
    for (int t = 0; t < 4; ++t) {
      // Word 2t of the low lane and word 2t + 1 of the high lane, each into all 8 words of its lane.
      const auto low_word = static_cast<int16_t>(((4 * t + 1) << 8) | (4 * t));
      const auto high_word = static_cast<int16_t>(((4 * t + 3) << 8) | (4 * t + 2));
      const __m256i word_pair = _mm256_setr_m128i(_mm_set1_epi16(low_word), _mm_set1_epi16(high_word));
      scale[t] = _mm256_shuffle_epi8(first_half, word_pair);
      scale[t + 4] = _mm256_shuffle_epi8(second_half, word_pair);
    }
    __m256i sum[C];
    for (int c = 0; c < C; ++c) sum[c] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.ql + 64 * h));
      const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.ql + 64 * h + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * h));
      // Elements 128h + 32k + l: a nibble of ql plus bits 2k, 2k + 1 of qh[32h + l] as bits 4-5
      // (16-bit shifts are safe: the mask keeps bits that come from the same byte).
      const __m256i v[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, nibble), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45)),
          _mm256_or_si256(_mm256_and_si256(ql1, nibble), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), nibble), _mm256_and_si256(qh, bits45)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), nibble),
                          _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45))};
      for (int k = 0; k < 4; ++k) {
        for (int c = 0; c < C; ++c) {
          const auto* a = reinterpret_cast<const __m256i*>(act[c]->q + 128 * h + 32 * k);
          sum[c] = _mm256_add_epi32(
              sum[c], _mm256_madd_epi16(_mm256_maddubs_epi16(v[k], _mm256_load_si256(a)), scale[4 * h + k]));
          KeepInRegister(sum[c]);
        }
      }
    }
    const __m256 d = _mm256_set1_ps(HalfToFloat(blk.d));
    for (int c = 0; c < C; ++c) {
      // The stored weights are q + 32: subtract 32 * scale * (group sum) per 16-element group.
      const __m256i offset = _mm256_madd_epi16(
          _mm256_load_si256(reinterpret_cast<const __m256i*>(act[c]->group_sums)), scales16);
      const __m256i exact = _mm256_sub_epi32(sum[c], _mm256_slli_epi32(offset, 5));
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(exact), _mm256_mul_ps(d, _mm256_set1_ps(act[c]->d)), acc[c]);
    }
  }
};

// y for one weight row and C activation rows: the row's super-blocks in order, each decoded once.
template <class Kind, int C>
PS_AVX2 void RowTimesTile(const uint8_t* w, const KQuantActBlock* const rows[C], int64_t blocks, float* const y[C]) {
  __m256 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const KQuantActBlock* act[C];
    for (int c = 0; c < C; ++c) act[c] = rows[c] + b;
    Kind::template Accumulate<C>(w + static_cast<size_t>(b) * Kind::kBlockBytes, act, acc);
  }
  for (int c = 0; c < C; ++c) *y[c] = simd::Hsum(acc[c]);
}

// Weight rows [g0, g1) times activation rows [i0, i0 + C).
template <class Kind, int C>
PS_AVX2 void GroupTimesTile(const FastGemmArgs& a, int64_t g0, int64_t g1, int64_t i0) {
  const int64_t blocks = a.k / kKQuantActBlockElems;
  const KQuantActBlock* rows[C];
  for (int c = 0; c < C; ++c) {
    rows[c] = reinterpret_cast<const KQuantActBlock*>(a.act + static_cast<size_t>(i0 + c) * a.act_stride);
  }
  for (int64_t r = g0; r < g1; ++r) {
    float* y[C];
    for (int c = 0; c < C; ++c) y[c] = a.y + (i0 + c) * a.ldy + r;
    RowTimesTile<Kind, C>(a.w + static_cast<size_t>(r) * a.w_row_bytes, rows, blocks, y);
  }
}

// Weight rows [g0, g1) times the last `rows` (< C) activation rows from i0: a narrower tile.
template <class Kind, int C>
PS_AVX2 void GroupTimesTail(const FastGemmArgs& a, int64_t g0, int64_t g1, int64_t i0, int64_t rows) {
  if constexpr (C > 1) {
    if (rows == C - 1) {
      GroupTimesTile<Kind, C - 1>(a, g0, g1, i0);
    } else {
      GroupTimesTail<Kind, C - 1>(a, g0, g1, i0, rows);
    }
  }
}

template <class Kind>
PS_AVX2 void Gemm(const FastGemmArgs& a) {
  const auto fitting = static_cast<int64_t>(kRowGroupBytes / std::max<size_t>(a.w_row_bytes, 1));
  const int64_t group = std::max(kMinRowGroup, fitting);
  for (int64_t g0 = a.r0; g0 < a.r1; g0 += group) {
    const int64_t g1 = std::min(a.r1, g0 + group);
    int64_t i = 0;
    for (; i + kTileActs <= a.n; i += kTileActs) GroupTimesTile<Kind, kTileActs>(a, g0, g1, i);
    if (i < a.n) GroupTimesTail<Kind, kTileActs>(a, g0, g1, i, a.n - i);
  }
}

constexpr FastGemmKernel kQ5K = {KQuantActRowBytes, PrepareKQuantActAvx2, Gemm<Q5K>};
constexpr FastGemmKernel kQ6K = {KQuantActRowBytes, PrepareKQuantActAvx2, Gemm<Q6K>};

}  // namespace

const FastGemmKernel* FindKQuantGemmAvx2(GgmlType weight) {
  if (!CpuHasAvx2Fma()) return nullptr;
  switch (weight) {
    case GgmlType::Q5_K: return &kQ5K;
    case GgmlType::Q6_K: return &kQ6K;
    default: return nullptr;
  }
}

}  // namespace ps::cpu
