// Fast AVX2 product of Q4_0 weights (x = dw * (q - 8), q in [0, 15]) with activations prepared by
// PrepareLegacyActAvx2 with integer sums (legacy_act_avx2.h).
//
// The weights are read from a copy made at load time (FastGemmKernel::repack) in which each group
// of 8 rows is interleaved so that the 8 lanes of one vector are 8 weight rows: every vector
// operation then works for 8 output elements at once, and a block needs one int-to-float
// conversion and one FMA per 8 rows instead of 8 (llama.cpp's AVX2 build repacks q4_0 the same
// way for the same reason). Copy layout, group g = rows 8g .. 8g + 7, its block b at
// (g * blocks + b) * 144 bytes:
//   bytes [0, 16)                 the 8 rows' fp16 scales dw
//   byte 16 + 32 L + 4 r + j      byte 4 L + j of row r's qs (L < 4, r < 8, j < 4): its low nibble
//                                 is element 4 L + j, its high nibble element 16 + 4 L + j.
// So one 32-byte load, masked, holds elements 4L .. 4L+3 of every row (one per 32-bit lane), and
// shifted right by 4, elements 16+4L .. 16+4L+3. Those are multiplied with the same 4 activation
// bytes broadcast to every lane.
//
// Numerics, the same for every output element whatever the path, tile, batch or row split:
//   acc = 0 (one float per element)
//   for each block b, in order:
//     dot = sum_e q[e] * a[e] - 8 * sum_e a[e]      exact int32 (|dot| < 2^16)
//     acc = fma(float(dot), dw[b] * da[b], acc)
//   y = acc
// The integer dot sums unsigned q (<= 15) times signed a (|a| <= 127) with maddubs, adds eight
// of those int16 pair sums (|sum| <= 8 * 3810 < 2^15, so nothing saturates), then widens with
// madd. Rows that are not in a whole group of the copy, and calls without a copy, take a per-row
// path with the same integer dot and the same scalar steps, so the bits are the same.
//
// The AVX-512 VNNI tile (VnniTile, used where UseAvx512Vnni()) computes the same int32 dot with
// vpdpbusd, which multiplies unsigned q by signed a and adds each lane's four products straight
// into an int32 accumulator that starts at -8 * sum a: no int16 step, one instruction per 32-byte
// vector instead of a maddubs and an add. The result is the same exact integer, then the same
// float steps, so both tiles give the same bits. Each activation row keeps two int32 chains (low
// and high nibbles) so that consecutive vpdpbusd do not wait on each other, and the 32 vector
// registers of AVX-512 hold kVnniTileActs activation rows.
//
// Work order (row_groups_avx2.h): activation chunks that fit in L2 next to the weights being read;
// inside a chunk each 8-row group is read block by block and multiplied with kTileActs activation
// rows at a time. For decode (n = 1) that is one stream over the copy.
// Thread-safety: pure functions.
#include <immintrin.h>

#include <algorithm>
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

#define PS_Q4_AVX2 __attribute__((target("avx2,fma,f16c")))
#define PS_Q4_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

namespace ps::cpu {

namespace {

using row_groups::Broadcast4;
using legacy_groups::kScalesBytes;

// The format for legacy_groups::Kernels (legacy_groups_avx2.h).
struct Q4_0Format {
  using Block = block_q4_0;
  static constexpr size_t kGroupBlockBytes = kScalesBytes + row_groups::kGroupRows * (kQK / 2);
  // Activation rows per tile. AVX2: with the accumulators and int16 sums of each row in
  // registers, 4 leaves room for the weight vectors and temporaries in the 16 ymm registers.
  // VNNI: 3 registers per row (a float accumulator, two int32 chains) in 32.
  static constexpr int kTileActs = 4;
  static constexpr int kVnniTileActs = 6;

  // y for one 8-row group x RN activation rows.
  template <int RN>
  PS_Q4_AVX2 static void Tile(const row_groups::Tile& t) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i ones = _mm256_set1_epi16(1);
    const LegacyActRows<RN> act(t.act, t.act_stride, t.blocks * kQK);
    __m256 acc[RN] = {};
    for (int64_t b = 0; b < t.blocks; ++b) {
      const uint8_t* blk = t.w + static_cast<size_t>(b) * kGroupBlockBytes;
      if constexpr (RN == 1) row_groups::PrefetchAhead<kGroupBlockBytes>(blk);
      __m256i sum16[RN];
#pragma GCC unroll 4
      for (int l = 0; l < 4; ++l) {
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kScalesBytes + 32 * l));
        const __m256i lo = _mm256_and_si256(raw, low4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
#pragma GCC unroll 4
        for (int j = 0; j < RN; ++j) {
          const int8_t* a = act.q[j] + b * kQK;
          const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, Broadcast4(a + 4 * l)),
                                             _mm256_maddubs_epi16(hi, Broadcast4(a + 16 + 4 * l)));
          sum16[j] = l == 0 ? p : _mm256_add_epi16(sum16[j], p);
        }
      }
      __m256i dot[RN];
#pragma GCC unroll 4
      for (int j = 0; j < RN; ++j) {
        dot[j] = _mm256_sub_epi32(_mm256_madd_epi16(sum16[j], ones), _mm256_set1_epi32(8 * act.sum[j][b]));
      }
      legacy_groups::AddBlock<RN>(blk, act, b, dot, acc);
    }
    row_groups::StoreTile<RN>(t, acc);
  }

  // Tile<RN> with vpdpbusd (see the file comment): the same dot, the same float steps.
  template <int RN>
  PS_Q4_VNNI static void VnniTile(const row_groups::Tile& t) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const LegacyActRows<RN> act(t.act, t.act_stride, t.blocks * kQK);
    __m256 acc[RN] = {};
    for (int64_t b = 0; b < t.blocks; ++b) {
      const uint8_t* blk = t.w + static_cast<size_t>(b) * kGroupBlockBytes;
      if constexpr (RN == 1) row_groups::PrefetchAhead<kGroupBlockBytes>(blk);
      __m256i dot[RN], hi_dot[RN];  // chains for the low and the high nibbles
#pragma GCC unroll 8
      for (int j = 0; j < RN; ++j) {
        dot[j] = _mm256_set1_epi32(-8 * act.sum[j][b]);
        hi_dot[j] = _mm256_setzero_si256();
      }
#pragma GCC unroll 4
      for (int l = 0; l < 4; ++l) {
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kScalesBytes + 32 * l));
        const __m256i lo = _mm256_and_si256(raw, low4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
#pragma GCC unroll 8
        for (int j = 0; j < RN; ++j) {
          const int8_t* a = act.q[j] + b * kQK;
          dot[j] = _mm256_dpbusd_epi32(dot[j], lo, Broadcast4(a + 4 * l));
          hi_dot[j] = _mm256_dpbusd_epi32(hi_dot[j], hi, Broadcast4(a + 16 + 4 * l));
        }
      }
#pragma GCC unroll 8
      for (int j = 0; j < RN; ++j) dot[j] = _mm256_add_epi32(dot[j], hi_dot[j]);
      legacy_groups::AddBlock<RN>(blk, act, b, dot, acc);
    }
    row_groups::StoreTile<RN>(t, acc);
  }

  // The exact dot of one GGUF block with a prepared block: unsigned q times a, less 8 * sum a.
  PS_Q4_AVX2 static int32_t BlockDot(const block_q4_0& w, const int8_t* q, int32_t sum) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qs));
    const __m256i nibbles = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(bytes, 4), bytes), _mm256_set1_epi8(0x0f));
    const __m256i a = _mm256_load_si256(reinterpret_cast<const __m256i*>(q));
    return simd::HsumI32(_mm256_madd_epi16(_mm256_maddubs_epi16(nibbles, a), _mm256_set1_epi16(1))) - 8 * sum;
  }
};

}  // namespace

const FastGemmKernel* FindQ4_0GemmAvx2(GgmlType weight) {
  return weight == GgmlType::Q4_0 ? &legacy_groups::Kernels<Q4_0Format>::kAvx2 : nullptr;
}
const FastGemmKernel* FindQ4_0GemmVnni(GgmlType weight) {
  return weight == GgmlType::Q4_0 ? &legacy_groups::Kernels<Q4_0Format>::kVnni : nullptr;
}

}  // namespace ps::cpu
