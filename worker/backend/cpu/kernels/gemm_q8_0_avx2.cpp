// Fast products of Q8_0 weights (x = dw * q, q in [-128, 127]) with activations prepared by
// PrepareLegacyActAvx2 with integer sums (legacy_act_avx2.h): AVX2 tiles, and AVX-512 VNNI tiles
// used where UseAvx512Vnni(). Both give the same bits.
//
// As for q4_0 (gemm_q4_0_avx2.cpp) the weights are read from a copy made at load time in which
// each group of 8 rows is interleaved so that the 8 lanes of one vector are 8 weight rows: a
// block then needs one int-to-float conversion and one FMA per 8 rows. Copy layout, group g =
// rows 8g .. 8g + 7, its block b at (g * blocks + b) * 272 bytes (the size of 8 GGUF blocks):
//   bytes [0, 16)             the 8 rows' fp16 scales dw
//   byte 16 + 32 L + 4 r + j  q[4 L + j] of row r (L < 8, r < 8, j < 4)
// So the 32-byte vector L holds elements 4L .. 4L + 3 of every row, one row per 32-bit lane, to
// be multiplied with the same 4 activation bytes broadcast to every lane.
//
// Numerics, the same for every output element whatever the path, ISA, tile, batch or row split:
//   acc = 0 (one float per element)
//   for each block b, in order:
//     dot = sum_e q[e] * a[e]                      exact int32 (|dot| <= 32 * 128 * 127)
//     acc = fma(float(dot), dw[b] * da[b], acc)
//   y = acc
// The AVX2 tile uses the sign trick: maddubs(|q|, sign(a, q)) (exact: |q| <= 128, a never -128,
// so a pair sums to at most 32512), widened with madd at once, as two pairs would not fit int16.
// The VNNI tile takes the weights as unsigned q + 128 (an xor of the sign bit) and adds each
// lane's four products into an int32 with vpdpbusd, starting from -128 * sum a (the prepared
// row's integer block sum): the same exact dot, one instruction per vector and activation row.
// Rows outside whole groups, and calls without a copy, take a per-row path with the same dot and
// the same scalar steps.
//
// Work order (row_groups_avx2.h): activation chunks that fit in L2 next to the weights being read;
// inside a chunk each 8-row group is read block by block and multiplied with a tile of activation
// rows at a time. For decode (n = 1) that is one stream over the copy.
// Thread-safety: pure functions.
#include <immintrin.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <utility>

#include "common/quant/blocks.h"
#include "worker/backend/cpu/kernels/fast_gemm.h"
#include "worker/backend/cpu/kernels/legacy_act_avx2.h"
#include "worker/backend/cpu/kernels/legacy_groups_avx2.h"
#include "worker/backend/cpu/kernels/row_groups_avx2.h"
#include "worker/backend/cpu/kernels/simd_avx2.h"

#define PS_Q8_AVX2 __attribute__((target("avx2,fma,f16c")))
#define PS_Q8_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

namespace ps::cpu {

namespace {

using row_groups::Broadcast4;
using legacy_groups::kScalesBytes;
constexpr int kVectors = kQK / 4;  // 32-byte vectors per block of a group

// The format for legacy_groups::Kernels (legacy_groups_avx2.h).
struct Q8_0Format {
  using Block = block_q8_0;
  static constexpr size_t kGroupBlockBytes = kScalesBytes + row_groups::kGroupRows * kQK;
  // Activation rows per tile. AVX2: an accumulator and an int32 sum per row beside |q| and the
  // temporaries in 16 registers. VNNI: an accumulator and two int32 chains per row in 32.
  static constexpr int kTileActs = 4;
  static constexpr int kVnniTileActs = 6;

  // y for one 8-row group x RN activation rows.
  template <int RN>
  PS_Q8_AVX2 static void Tile(const row_groups::Tile& t) {
    const __m256i ones = _mm256_set1_epi16(1);
    const LegacyActRows<RN> act(t.act, t.act_stride, t.blocks * kQK);
    __m256 acc[RN] = {};
    for (int64_t b = 0; b < t.blocks; ++b) {
      const uint8_t* blk = t.w + static_cast<size_t>(b) * kGroupBlockBytes;
      if constexpr (RN == 1) row_groups::PrefetchAhead<kGroupBlockBytes>(blk);
      __m256i dot[RN];
#pragma GCC unroll 8
      for (int l = 0; l < kVectors; ++l) {
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kScalesBytes + 32 * l));
        const __m256i w_abs = _mm256_sign_epi8(w, w);
#pragma GCC unroll 8
        for (int j = 0; j < RN; ++j) {
          const __m256i a = _mm256_sign_epi8(Broadcast4(act.q[j] + b * kQK + 4 * l), w);
          const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(w_abs, a), ones);
          dot[j] = l == 0 ? p : _mm256_add_epi32(dot[j], p);
        }
      }
      legacy_groups::AddBlock<RN>(blk, act, b, dot, acc);
    }
    row_groups::StoreTile<RN>(t, acc);
  }

  // Tile<RN> with vpdpbusd (see the file comment): the same dot, the same float steps.
  template <int RN>
  PS_Q8_VNNI static void VnniTile(const row_groups::Tile& t) {
    const __m256i sign_bit = _mm256_set1_epi8(static_cast<char>(0x80));
    const LegacyActRows<RN> act(t.act, t.act_stride, t.blocks * kQK);
    __m256 acc[RN] = {};
    for (int64_t b = 0; b < t.blocks; ++b) {
      const uint8_t* blk = t.w + static_cast<size_t>(b) * kGroupBlockBytes;
      if constexpr (RN == 1) row_groups::PrefetchAhead<kGroupBlockBytes>(blk);
      __m256i dot[RN], odd[RN];  // chains for the even and the odd vectors
#pragma GCC unroll 8
      for (int j = 0; j < RN; ++j) {
        dot[j] = _mm256_set1_epi32(-128 * act.sum[j][b]);
        odd[j] = _mm256_setzero_si256();
      }
#pragma GCC unroll 8
      for (int l = 0; l < kVectors; ++l) {
        const __m256i w = _mm256_xor_si256(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kScalesBytes + 32 * l)), sign_bit);
#pragma GCC unroll 8
        for (int j = 0; j < RN; ++j) {
          __m256i& chain = l % 2 == 0 ? dot[j] : odd[j];
          chain = _mm256_dpbusd_epi32(chain, w, Broadcast4(act.q[j] + b * kQK + 4 * l));
        }
      }
#pragma GCC unroll 8
      for (int j = 0; j < RN; ++j) dot[j] = _mm256_add_epi32(dot[j], odd[j]);
      legacy_groups::AddBlock<RN>(blk, act, b, dot, acc);
    }
    row_groups::StoreTile<RN>(t, acc);
  }

  // The exact dot of one GGUF block with a prepared block: the sign trick, as in Tile.
  PS_Q8_AVX2 static int32_t BlockDot(const block_q8_0& w, const int8_t* q, int32_t) {
    const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs));
    const __m256i a = _mm256_load_si256(reinterpret_cast<const __m256i*>(q));
    return simd::HsumI32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(a, wq)),
                                           _mm256_set1_epi16(1)));
  }
};

}  // namespace

const FastGemmKernel* FindQ8_0GemmAvx2(GgmlType weight) {
  return weight == GgmlType::Q8_0 ? &legacy_groups::Kernels<Q8_0Format>::kAvx2 : nullptr;
}
const FastGemmKernel* FindQ8_0GemmVnni(GgmlType weight) {
  return weight == GgmlType::Q8_0 ? &legacy_groups::Kernels<Q8_0Format>::kVnni : nullptr;
}

}  // namespace ps::cpu
