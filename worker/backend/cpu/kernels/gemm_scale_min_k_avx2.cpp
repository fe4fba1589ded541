// Fast AVX2 products of q4_K and q5_K weights, the k-quants with 6-bit sub-block scales and
// mins, with activations prepared by PrepareKQuantActAvx2 (kquant_act_avx2.h).
//
// A q4_K super-block of 256 elements has an fp16 d and dmin and eight 32-element sub-blocks,
// each with a 6-bit scale s and min m: x = d * s * q - dmin * m, q in [0, 15]. q5_K adds a fifth
// bit to every q (q in [0, 31]): bit j of qh[l] is the high bit of element l of sub-block j.
// As for q4_0 (gemm_q4_0_avx2.cpp), the weights are read from a load-time copy that interleaves
// groups of 8 rows so that the 8 lanes of one vector are 8 weight rows: a super-block then costs
// two int-to-float conversions and two FMAs per 8 rows, and the scales and mins are applied to 8
// rows per instruction. Copy layout, group g = rows 8g .. 8g + 7, its super-block b at
// (g * blocks + b) * kGroupBlockBytes:
//   [0, 16)       the 8 rows' fp16 d            [16, 32)     their fp16 dmin
//   32 + 8 j + r  scale of sub-block j, row r   96 + 8 j + r  min of sub-block j, row r
//   160 + 32 (8 p + t) + 4 r + i  byte 32 p + 4 t + i of row r's qs (p < 4, t < 8, i < 4)
//   1184 + 32 t + 4 r + i         byte 4 t + i of row r's qh (q5_K only)
// In both types, byte 32 p + l of qs holds element 64 p + l in its low nibble and 64 p + 32 + l
// in its high nibble, so one 32-byte vector (p, t), masked, holds elements 64p + 4t .. +3 of every
// row, one row per 32-bit lane (sub-block 2p), and shifted right by 4 the same of sub-block
// 2p + 1. The qh vector t holds the fifth bits of those elements for every sub-block: shifted to
// bit 4 and masked, bit 2p or 2p + 1 completes the q of either.
//
// Numerics, the same for every output element whatever the path, tile, batch or row split:
//   acc = 0 (one float per element)
//   for each super-block b, in order:
//     sum = sum_j s[j] * (sum over sub-block j of q * a)     exact int32
//     min = sum_j m[j] * (sum over sub-block j of a)         exact int32
//     acc = fma(float(sum), d * da, acc)
//     acc = fma(-float(min), dmin * da, acc)
//   y = acc
// The sub-block dot adds maddubs results of unsigned q times signed a (|a| <= 127) as int16 and
// widens them with a madd by the int16 pair (s, s): eight of them for q4_K (|sum| <= 8 * 3810 <
// 2^15), four for q5_K (4 * 7874 < 2^15), so a q5_K sub-block takes two madds. |sum| stays below
// 63 * 8 * 32 * 31 * 127 < 2^31. Rows outside whole groups of the copy, and calls without a copy,
// take a per-row path with the same integers and scalar steps: the same bits.
//
// The AVX-512 VNNI tile (VnniTile, used where UseAvx512Vnni()) sums each sub-block's products in
// int32 with vpdpbusd (unsigned q times signed a, four per lane straight into an int32) and
// multiplies by the scale once per sub-block: the same exact sum and min, so the same bits.
//
// Work order (row_groups_avx2.h): activation chunks that fit in L2 next to the weights being read;
// inside a chunk each 8-row group is read super-block by super-block and multiplied with
// kTileActs activation rows at a time. For decode (n = 1) that is one stream over the copy.
// Thread-safety: pure functions.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <utility>

#include "common/quant/blocks.h"
#include "common/quant/kquant_scales.h"
#include "worker/backend/cpu/kernels/fast_gemm.h"
#include "worker/backend/cpu/kernels/kquant_act_avx2.h"
#include "worker/backend/cpu/kernels/row_groups_avx2.h"
#include "worker/backend/cpu/kernels/simd_avx2.h"

#define PS_KSM_AVX2 __attribute__((target("avx2,fma,f16c")))
#define PS_KSM_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) inline
#define PS_KSM_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

namespace ps::cpu {

namespace {

using row_groups::Broadcast4;
using row_groups::kGroupRows;
constexpr int kSubBlocks = kQK_K / 32;
constexpr size_t kDminOffset = kGroupRows * sizeof(uint16_t);
constexpr size_t kScalesOffset = 2 * kGroupRows * sizeof(uint16_t);
constexpr size_t kMinsOffset = kScalesOffset + kSubBlocks * kGroupRows;
constexpr size_t kQsOffset = kMinsOffset + kSubBlocks * kGroupRows;
constexpr size_t kQhOffset = kQsOffset + kGroupRows * (kQK_K / 2);
// Activation rows per tile: each keeps an int16 and an int32 sum in registers while the weight
// vectors pass through. 2 measured ahead of 3 and 4, which spill (single-thread prompt GEMM,
// fastest of 15 runs: about 130, 125 and 120 GOPS for q4_K on the Zen 3 dev VM).
constexpr int kTileActs = 2;
// The VNNI tile keeps 3 registers per activation row (two int32 chains and the accumulator) in
// AVX-512's 32.
constexpr int kVnniTileActs = 4;

// The two types' differences: the GGUF block, whether a fifth bit plane follows qs in the copy,
// and how many maddubs results an int16 sum can take.
struct Q4K {
  using Block = block_q4_K;
  static constexpr bool kFifthBit = false;
  static constexpr int kInt16Adds = 8;
  static constexpr size_t kGroupBlockBytes = kQhOffset;
};
struct Q5K {
  using Block = block_q5_K;
  static constexpr bool kFifthBit = true;
  static constexpr int kInt16Adds = 4;
  static constexpr size_t kGroupBlockBytes = kQhOffset + kGroupRows * (kQK_K / 8);
};

PS_KSM_INLINE __m256i Load16Twice(const uint8_t* p) {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Byte-shuffle controls over 16 bytes loaded into both 128-bit halves. kPickLow / kPickHigh:
// 32-bit lane r = the int16 pair (v[r], v[r]) of byte r / byte 8 + r (a sub-block's scales, 8
// rows per 8 bytes). kPickPair: lane r = (v[r], v[8 + r]) (two sub-blocks' mins of row r).
PS_KSM_INLINE __m256i PickControl(int first, int second) {
  alignas(32) int8_t c[32];
  for (int r = 0; r < kGroupRows; ++r) {
    c[4 * r] = static_cast<int8_t>(first + r);
    c[4 * r + 1] = -1;
    c[4 * r + 2] = static_cast<int8_t>(second + r);
    c[4 * r + 3] = -1;
  }
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(c));
}

// Bit `bit` of every byte of v, moved to bit 4 (the fifth bit of a 5-bit q), other bits zero.
// The 16-bit shifts move bits across bytes only into bits the mask clears.
PS_KSM_INLINE __m256i FifthBit(__m256i v, int bit) {
  const __m256i at4 = bit <= 4 ? _mm256_slli_epi16(v, 4 - bit) : _mm256_srli_epi16(v, bit - 4);
  return _mm256_and_si256(at4, _mm256_set1_epi8(0x10));
}

// The tile's RN prepared rows, each an array of activation blocks.
template <int RN>
PS_KSM_INLINE void ActRows(const row_groups::Tile& t, const KQuantActBlock** act) {
#pragma GCC unroll 8
  for (int c = 0; c < RN; ++c) act[c] = reinterpret_cast<const KQuantActBlock*>(t.act + c * t.act_stride);
}

// The q of elements 64p + 32 half + 4v .. + 3 of the group's 8 rows (sub-block 2p + half), one
// row per 32-bit lane: a nibble of qs, and for q5_K the fifth bit from qh.
template <typename T>
PS_KSM_INLINE __m256i GroupQ(const uint8_t* blk, int p, int half, int v) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i raw = _mm256_load_si256(reinterpret_cast<const __m256i*>(blk + kQsOffset + 32 * (8 * p + v)));
  __m256i q = half == 0 ? _mm256_and_si256(raw, low4) : _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
  if constexpr (T::kFifthBit) {
    const __m256i qh = _mm256_load_si256(reinterpret_cast<const __m256i*>(blk + kQhOffset + 32 * v));
    q = _mm256_or_si256(q, FifthBit(qh, 2 * p + half));
  }
  return q;
}

// The end of a super-block for RN activation rows, shared by both tiles: the mins' int32 term and
// the two FMAs into each row's accumulator (see Numerics in the file comment).
template <int RN>
PS_KSM_INLINE void FinishBlock(const uint8_t* blk, const KQuantActBlock* const* act, int64_t b, const __m256i* sum,
                               __m256* acc) {
  const __m256i pick_pair = PickControl(0, 8);
  __m256i mins[4];
#pragma GCC unroll 4
  for (int p = 0; p < 4; ++p) mins[p] = _mm256_shuffle_epi8(Load16Twice(blk + kMinsOffset + 16 * p), pick_pair);
  const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
  const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kDminOffset)));
#pragma GCC unroll 8
  for (int c = 0; c < RN; ++c) {
    const int16_t* sub_sums = act[c][b].sub_sums;
    __m256i min = _mm256_madd_epi16(mins[0], Broadcast4(sub_sums));
#pragma GCC unroll 3
    for (int p = 1; p < 4; ++p) min = _mm256_add_epi32(min, _mm256_madd_epi16(mins[p], Broadcast4(sub_sums + 2 * p)));
    const __m256 da = _mm256_broadcast_ss(&act[c][b].d);
    acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[c]), _mm256_mul_ps(d, da), acc[c]);
    acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(min), _mm256_mul_ps(dmin, da), acc[c]);
  }
}

// y for one 8-row group x RN activation rows.
template <typename T, int RN>
PS_KSM_AVX2 void Tile(const row_groups::Tile& t) {
  const __m256i pick_low = PickControl(0, 0);
  const __m256i pick_high = PickControl(8, 8);
  __m256 acc[RN] = {};
  const KQuantActBlock* act[RN];
  ActRows<RN>(t, act);
  for (int64_t b = 0; b < t.blocks; ++b) {
    const uint8_t* blk = t.w + static_cast<size_t>(b) * T::kGroupBlockBytes;
    __m256i sum[RN];
#pragma GCC unroll 4
    for (int p = 0; p < 4; ++p) {
      const __m256i scales = Load16Twice(blk + kScalesOffset + 16 * p);
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {
        const __m256i scale = _mm256_shuffle_epi8(scales, half == 0 ? pick_low : pick_high);
        __m256i sum16[RN];
#pragma GCC unroll 8
        for (int v = 0; v < 8; ++v) {
          const __m256i q = GroupQ<T>(blk, p, half, v);
#pragma GCC unroll 4
          for (int c = 0; c < RN; ++c) {
            const __m256i prod = _mm256_maddubs_epi16(q, Broadcast4(act[c][b].q + 64 * p + 32 * half + 4 * v));
            sum16[c] = v % T::kInt16Adds == 0 ? prod : _mm256_add_epi16(sum16[c], prod);
          }
          if (v % T::kInt16Adds == T::kInt16Adds - 1) {
#pragma GCC unroll 4
            for (int c = 0; c < RN; ++c) {
              const __m256i scaled = _mm256_madd_epi16(sum16[c], scale);
              sum[c] = p == 0 && half == 0 && v < T::kInt16Adds ? scaled : _mm256_add_epi32(sum[c], scaled);
            }
          }
        }
      }
    }
    FinishBlock<RN>(blk, act, b, sum, acc);
  }
  row_groups::StoreTile<RN>(t, acc);
}

// Tile<T, RN> with vpdpbusd (see the file comment): each sub-block's dot is summed in int32
// straight away (two chains per activation row), then multiplied by the scale; the same exact
// integers, then FinishBlock's float steps, so the same bits.
template <typename T, int RN>
PS_KSM_VNNI void VnniTile(const row_groups::Tile& t) {
  __m256 acc[RN] = {};
  const KQuantActBlock* act[RN];
  ActRows<RN>(t, act);
  for (int64_t b = 0; b < t.blocks; ++b) {
    const uint8_t* blk = t.w + static_cast<size_t>(b) * T::kGroupBlockBytes;
    __m256i sum[RN];
#pragma GCC unroll 4
    for (int p = 0; p < 4; ++p) {
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {
        // Sub-block 2p + half's 8 scales, one per row, as int32.
        const __m256i scale = _mm256_cvtepu8_epi32(
            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + kScalesOffset + 16 * p + 8 * half)));
        __m256i dot[2][RN];
#pragma GCC unroll 8
        for (int v = 0; v < 8; ++v) {
          const __m256i q = GroupQ<T>(blk, p, half, v);
#pragma GCC unroll 8
          for (int c = 0; c < RN; ++c) {
            const __m256i a = Broadcast4(act[c][b].q + 64 * p + 32 * half + 4 * v);
            dot[v % 2][c] = _mm256_dpbusd_epi32(v < 2 ? _mm256_setzero_si256() : dot[v % 2][c], q, a);
          }
        }
#pragma GCC unroll 8
        for (int c = 0; c < RN; ++c) {
          const __m256i scaled = _mm256_mullo_epi32(_mm256_add_epi32(dot[0][c], dot[1][c]), scale);
          sum[c] = p == 0 && half == 0 ? scaled : _mm256_add_epi32(sum[c], scaled);
        }
      }
    }
    FinishBlock<RN>(blk, act, b, sum, acc);
  }
  row_groups::StoreTile<RN>(t, acc);
}

template <typename T, int... J>
constexpr std::array<row_groups::TileFn, sizeof...(J)> TileTable(std::integer_sequence<int, J...>) {
  return {&Tile<T, J + 1>...};
}
template <typename T, int... J>
constexpr std::array<row_groups::TileFn, sizeof...(J)> VnniTileTable(std::integer_sequence<int, J...>) {
  return {&VnniTile<T, J + 1>...};
}
// kTiles<T>[rn - 1] / kVnniTiles<T>[rn - 1]: the tile for rn activation rows.
template <typename T>
constexpr auto kTiles = TileTable<T>(std::make_integer_sequence<int, kTileActs>());
template <typename T>
constexpr auto kVnniTiles = VnniTileTable<T>(std::make_integer_sequence<int, kVnniTileActs>());

// One output element from the GGUF row, with the tile's integers and scalar steps.
template <typename T>
PS_KSM_AVX2 float RowDot(const uint8_t* row, const KQuantActBlock* act, int64_t blocks) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i ones = _mm256_set1_epi16(1);
  float acc = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) {
    const auto& blk = *reinterpret_cast<const typename T::Block*>(row + static_cast<size_t>(b) * sizeof(typename T::Block));
    int32_t sum = 0, min = 0;
    for (int j = 0; j < kSubBlocks; ++j) {
      uint8_t s, m;
      quant_internal::UnpackScaleMinK4(blk.scales, j, &s, &m);
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qs + 32 * (j / 2)));
      __m256i q = j % 2 == 0 ? _mm256_and_si256(raw, low4) : _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
      if constexpr (T::kFifthBit) {
        q = _mm256_or_si256(q, FifthBit(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh)), j));
      }
      const __m256i a = _mm256_load_si256(reinterpret_cast<const __m256i*>(act[b].q + 32 * j));
      sum += s * simd::HsumI32(_mm256_madd_epi16(_mm256_maddubs_epi16(q, a), ones));
      min += m * act[b].sub_sums[j];
    }
    acc = std::fma(static_cast<float>(sum), _cvtsh_ss(blk.d) * act[b].d, acc);
    acc = std::fma(-static_cast<float>(min), _cvtsh_ss(blk.dmin) * act[b].d, acc);
  }
  return acc;
}

template <typename T>
size_t RepackedBytes(int64_t rows, int64_t k) {
  return row_groups::CopyBytes(rows, k / kQK_K, T::kGroupBlockBytes);
}

// Writes the copy described in the file comment.
template <typename T>
void Repack(const uint8_t* w, size_t w_row_bytes, int64_t rows, int64_t k, uint8_t* dst) {
  row_groups::WriteCopy(w, w_row_bytes, rows, k / kQK_K, sizeof(typename T::Block), T::kGroupBlockBytes, dst,
                        [](uint8_t* out, int r, const uint8_t* src) {
                          const auto& blk = *reinterpret_cast<const typename T::Block*>(src);
                          std::memcpy(out + r * sizeof(uint16_t), &blk.d, sizeof(uint16_t));
                          std::memcpy(out + kDminOffset + r * sizeof(uint16_t), &blk.dmin, sizeof(uint16_t));
                          for (int j = 0; j < kSubBlocks; ++j) {
                            quant_internal::UnpackScaleMinK4(blk.scales, j, out + kScalesOffset + kGroupRows * j + r,
                                                             out + kMinsOffset + kGroupRows * j + r);
                          }
                          for (int v = 0; v < kQK_K / 2 / 4; ++v) {
                            std::memcpy(out + kQsOffset + 32 * v + 4 * r, blk.qs + 4 * v, 4);
                          }
                          if constexpr (T::kFifthBit) {
                            for (int v = 0; v < kQK_K / 8 / 4; ++v) {
                              std::memcpy(out + kQhOffset + 32 * v + 4 * r, blk.qh + 4 * v, 4);
                            }
                          }
                        });
}

// Either tile table over the copy; rows outside whole groups take RowDot (same bits).
template <typename T, int kActs>
PS_KSM_AVX2 void RunTiles(const FastGemmArgs& a, const std::array<row_groups::TileFn, kActs>& tiles) {
  const int64_t blocks = a.k / kQK_K;
  row_groups::Run<kActs>(a, blocks, T::kGroupBlockBytes, tiles, [&](int64_t i, int64_t r) {
    return RowDot<T>(a.w + static_cast<size_t>(r) * a.w_row_bytes,
                     reinterpret_cast<const KQuantActBlock*>(a.act + static_cast<size_t>(i) * a.act_stride), blocks);
  });
}
template <typename T>
void Gemm(const FastGemmArgs& a) {
  RunTiles<T, kTileActs>(a, kTiles<T>);
}
template <typename T>
void VnniGemm(const FastGemmArgs& a) {
  RunTiles<T, kVnniTileActs>(a, kVnniTiles<T>);
}

template <typename T>
constexpr FastGemmKernel kKernel = {&KQuantActRowBytes, &PrepareKQuantActAvx2, &Gemm<T>, &RepackedBytes<T>,
                                    &Repack<T>};
template <typename T>
constexpr FastGemmKernel kVnniKernel = {&KQuantActRowBytes, &PrepareKQuantActAvx2, &VnniGemm<T>, &RepackedBytes<T>,
                                        &Repack<T>};

}  // namespace

const FastGemmKernel* FindScaleMinKGemmAvx2(GgmlType weight) {
  switch (weight) {
    case GgmlType::Q4_K:
      return &kKernel<Q4K>;
    case GgmlType::Q5_K:
      return &kKernel<Q5K>;
    default:
      return nullptr;
  }
}

const FastGemmKernel* FindScaleMinKGemmVnni(GgmlType weight) {
  switch (weight) {
    case GgmlType::Q4_K:
      return &kVnniKernel<Q4K>;
    case GgmlType::Q5_K:
      return &kVnniKernel<Q5K>;
    default:
      return nullptr;
  }
}

}  // namespace ps::cpu
