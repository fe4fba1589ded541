// The AVX-512 VNNI variant of the Q8_0 product (fast_gemm.h), used where UseAvx512Vnni(). It keeps
// the AVX2 kernel's numerics exactly (gemm_legacy_avx2.cpp: per output element 8 float lanes, one
// FMA per block with the block's 8 exact int32 lane sums and the float product dw * da, a fixed
// horizontal sum at the end), so both give the same bits; only the instructions differ:
//   - the int8 dot is one vpdpbusd: the weights, made unsigned by adding 128 (an xor of the sign
//     bit), times the signed activations, accumulated onto -128 * (the activation's 4-element
//     sums), which vpdpbusd of the constant 128 with the activations gives once per block and
//     activation row. The sum is the exact integer of the sign trick's maddubs/madd;
//   - a 512-bit vector holds two output elements: one weight row against two activation rows,
//     each in its own 256-bit half with its own 8 lanes, so every instruction serves two elements
//     and the element's lanes see the same sequence as in the AVX2 tile.
// Decode (n = 1) and an odd last activation row go to the AVX2 kernel (same bits); decode is
// bound by memory, not by these instructions.
//
// Work order: activation rows in chunks that fit in L2 beside the weights; inside a chunk, tiles
// of kTileRows weight rows x kTilePairs activation pairs, every weight block read once per tile.
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

// GCC 12 warns that the AVX-512 insert and broadcast intrinsics read an uninitialized vector: their
// headers pass _mm512_undefined_*() as the unused masked source. It is a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#define PS_Q8_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#define PS_Q8_VNNI_INLINE \
  __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni"), always_inline)) inline

namespace ps::cpu {

namespace {

// 4 weight rows x 3 activation pairs: 12 accumulators, 3 activation pairs with their offsets and
// scales, and temporaries, in the 32 vector registers.
constexpr int kTileRows = 4;
constexpr int kTilePairs = 3;
// Bytes of prepared activation rows one chunk may hold: a quarter of a 2 MiB L2.
constexpr size_t kActChunkBytes = 512 * 1024;

struct TileArgs {
  const uint8_t* w;  // first weight row of the tile
  size_t w_row_bytes;
  const uint8_t* act;  // first prepared activation row of the tile (pairs are consecutive rows)
  size_t act_stride;
  size_t scales_offset;
  int64_t blocks;
  float* y;  // y of (first activation row, first weight row)
  int64_t ldy;
};

// Two 32-byte vectors as the halves of one 512-bit vector.
PS_Q8_VNNI_INLINE __m512i Halves(const void* low, const void* high) {
  return _mm512_inserti64x4(_mm512_zextsi256_si512(_mm256_loadu_si256(static_cast<const __m256i*>(low))),
                            _mm256_loadu_si256(static_cast<const __m256i*>(high)), 1);
}

template <int RM, int RP>
PS_Q8_VNNI void Tile(const TileArgs& t) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc[RM][RP];
#pragma GCC unroll 4
  for (int i = 0; i < RM; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < RP; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < t.blocks; ++b) {
    __m512i a[RP], offset[RP];
    __m512 da[RP];
#pragma GCC unroll 4
    for (int j = 0; j < RP; ++j) {
      const uint8_t* row0 = t.act + static_cast<size_t>(2 * j) * t.act_stride;
      const uint8_t* row1 = row0 + t.act_stride;
      a[j] = Halves(row0 + b * kQK, row1 + b * kQK);
      // -128 * (sum of each 4 activations): what the +128 on the weights adds, taken back.
      offset[j] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, a[j]));
      const auto* d0 = reinterpret_cast<const float*>(row0 + t.scales_offset) + b;
      const auto* d1 = reinterpret_cast<const float*>(row1 + t.scales_offset) + b;
      da[j] = _mm512_insertf32x8(_mm512_zextps256_ps512(_mm256_broadcast_ss(d0)), _mm256_broadcast_ss(d1), 1);
    }
#pragma GCC unroll 4
    for (int i = 0; i < RM; ++i) {
      const uint8_t* blk = t.w + static_cast<size_t>(i) * t.w_row_bytes + static_cast<size_t>(b) * sizeof(block_q8_0);
      uint16_t h;
      std::memcpy(&h, blk + offsetof(block_q8_0, d), sizeof(h));
      const __m512 dw = _mm512_set1_ps(_cvtsh_ss(h));
      const __m512i w = _mm512_xor_si512(
          _mm512_maskz_broadcast_i64x4(0xff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + offsetof(block_q8_0, qs)))),
          bias);
#pragma GCC unroll 4
      for (int j = 0; j < RP; ++j) {
        const __m512i lanes = _mm512_dpbusd_epi32(offset[j], w, a[j]);
        acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(lanes), _mm512_mul_ps(dw, da[j]), acc[i][j]);
      }
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < RP; ++j) {
#pragma GCC unroll 4
    for (int i = 0; i < RM; ++i) {
      t.y[(2 * j) * t.ldy + i] = simd::Hsum(_mm512_castps512_ps256(acc[i][j]));
      t.y[(2 * j + 1) * t.ldy + i] = simd::Hsum(_mm512_extractf32x8_ps(acc[i][j], 1));
    }
  }
}

using TileFn = void (*)(const TileArgs&);

template <int RM, int... J>
constexpr auto TileRow(std::integer_sequence<int, J...>) {
  return std::array<TileFn, sizeof...(J)>{&Tile<RM, J + 1>...};
}
template <int... I>
constexpr auto TileTable(std::integer_sequence<int, I...>) {
  return std::array<std::array<TileFn, kTilePairs>, sizeof...(I)>{
      TileRow<I + 1>(std::make_integer_sequence<int, kTilePairs>())...};
}
// kTiles[rm - 1][rp - 1]: the tile for rm weight rows x rp activation pairs.
constexpr auto kTiles = TileTable(std::make_integer_sequence<int, kTileRows>());

void Gemm(const FastGemmArgs& a) {
  const FastGemmKernel& avx2 = *FindLegacyGemmAvx2(GgmlType::Q8_0);
  const int64_t pairs_rows = a.n / 2 * 2;
  if (pairs_rows < a.n) {
    // Decode, or the odd last row of a batch: the AVX2 tiles, which give the same bits.
    FastGemmArgs last = a;
    last.act = a.act + static_cast<size_t>(pairs_rows) * a.act_stride;
    last.y = a.y + pairs_rows * a.ldy;
    last.n = a.n - pairs_rows;
    avx2.gemm(last);
  }
  if (pairs_rows == 0) return;
  const LegacyActLayout layout = LegacyActLayout::Of(a.k, /*with_sums=*/false);
  const int64_t chunk = std::max<int64_t>(
      2 * kTilePairs, static_cast<int64_t>(kActChunkBytes / a.act_stride) / (2 * kTilePairs) * (2 * kTilePairs));
  TileArgs t;
  t.w_row_bytes = a.w_row_bytes;
  t.act_stride = a.act_stride;
  t.scales_offset = layout.scales_offset;
  t.blocks = layout.blocks;
  t.ldy = a.ldy;
  for (int64_t i0 = 0; i0 < pairs_rows; i0 += chunk) {
    const int64_t i1 = std::min(pairs_rows, i0 + chunk);
    for (int64_t r = a.r0; r < a.r1; r += kTileRows) {
      const int64_t rm = std::min<int64_t>(kTileRows, a.r1 - r);
      t.w = a.w + static_cast<size_t>(r) * a.w_row_bytes;
      for (int64_t i = i0; i < i1; i += 2 * kTilePairs) {
        const int64_t rp = std::min<int64_t>(kTilePairs, (i1 - i) / 2);
        t.act = a.act + static_cast<size_t>(i) * a.act_stride;
        t.y = a.y + i * a.ldy + r;
        kTiles[rm - 1][rp - 1](t);
      }
    }
  }
}

}  // namespace

const FastGemmKernel* FindQ8_0GemmVnni(GgmlType weight) {
  if (weight != GgmlType::Q8_0) return nullptr;
  static const FastGemmKernel kernel = [] {
    FastGemmKernel k = *FindLegacyGemmAvx2(GgmlType::Q8_0);  // the same prepared rows
    k.gemm = &Gemm;
    return k;
  }();
  return &kernel;
}

}  // namespace ps::cpu
