// What the Q4_0 and Q8_0 kernels on 8-row interleaved copies share (gemm_q4_0_avx2.cpp,
// gemm_q8_0_avx2.cpp): the prepared rows (legacy format with integer block sums), the copy, and
// the two FastGemmKernels, AVX2 and AVX-512 VNNI, that run a format's tile tables over the copy
// (row_groups_avx2.h) with its per-row path for the rows outside whole groups.
//
// The copy: group g = rows 8g .. 8g + 7, its block b at (g * blocks + b) * kGroupBlockBytes:
//   bytes [0, 16)             the 8 rows' fp16 scales d
//   byte 16 + 32 L + 4 r + j  byte 4 L + j of row r's qs (r < 8, j < 4)
// so that 32-byte vector L holds 4 bytes of each row, one row per 32-bit lane.
//
// A format F provides:
//   using Block;                                the GGUF block (kQK elements): fp16 d, bytes qs
//   static constexpr size_t kGroupBlockBytes;  one block of a group of 8 rows in the copy
//   static constexpr int kTileActs, kVnniTileActs;  activation rows per AVX2 / VNNI tile
//   template <int RN> static void Tile(const row_groups::Tile&);      AVX2
//   template <int RN> static void VnniTile(const row_groups::Tile&);  AVX-512 VNNI, same bits
//   static int32_t BlockDot(const Block& w, const int8_t* q, int32_t sum);
//                     the exact integer dot of one GGUF block with a prepared block (values q,
//                     integer sum `sum`), as the tiles compute it
// Thread-safety: pure functions.
#pragma once

#include <immintrin.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "common/quant/blocks.h"
#include "worker/backend/cpu/kernels/fast_gemm.h"
#include "worker/backend/cpu/kernels/legacy_act_avx2.h"
#include "worker/backend/cpu/kernels/row_groups_avx2.h"

namespace ps::cpu::legacy_groups {

inline constexpr size_t kScalesBytes = row_groups::kGroupRows * sizeof(uint16_t);

// The float steps every tile of these formats takes once per block, in the AVX2 and the VNNI
// tiles alike (one definition keeps their bits equal): for each activation row j,
//   acc[j] = fma(float(dot[j]), dw * d_j[b], acc[j])
// with dw the group's 8 fp16 scales at the start of the group block `blk`.
template <int RN>
__attribute__((target("avx2,fma,f16c"), always_inline)) inline void AddBlock(const uint8_t* blk,
                                                                            const LegacyActRows<RN>& act, int64_t b,
                                                                            const __m256i* dot, __m256* acc) {
  const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
#pragma GCC unroll 8
  for (int j = 0; j < RN; ++j) {
    const __m256 scale = _mm256_mul_ps(dw, _mm256_broadcast_ss(act.d[j] + b));
    acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[j]), scale, acc[j]);
  }
}

template <typename F>
class Kernels {
  template <int... J>
  static constexpr std::array<row_groups::TileFn, sizeof...(J)> Avx2Table(std::integer_sequence<int, J...>) {
    return {&F::template Tile<J + 1>...};
  }
  template <int... J>
  static constexpr std::array<row_groups::TileFn, sizeof...(J)> VnniTable(std::integer_sequence<int, J...>) {
    return {&F::template VnniTile<J + 1>...};
  }
  // [rn - 1]: the tile for rn activation rows.
  static constexpr auto kAvx2Tiles = Avx2Table(std::make_integer_sequence<int, F::kTileActs>());
  static constexpr auto kVnniTiles = VnniTable(std::make_integer_sequence<int, F::kVnniTileActs>());

  // One output element from a GGUF row: F::BlockDot per block, then AddBlock's float step in
  // scalar form, so the same bits as the tiles.
  __attribute__((target("avx2,fma,f16c"))) static float RowDot(const uint8_t* row, const int8_t* q, const float* d,
                                                               const int32_t* sum, int64_t blocks) {
    using Block = typename F::Block;
    float acc = 0.0f;
    for (int64_t b = 0; b < blocks; ++b) {
      const auto& blk = *reinterpret_cast<const Block*>(row + static_cast<size_t>(b) * sizeof(Block));
      const int32_t dot = F::BlockDot(blk, q + b * kQK, sum[b]);
      acc = std::fma(static_cast<float>(dot), _cvtsh_ss(blk.d) * d[b], acc);
    }
    return acc;
  }

  // Either tile table over the copy; rows outside whole groups take RowDot.
  template <int kActs>
  static void RunTiles(const FastGemmArgs& a, const std::array<row_groups::TileFn, kActs>& tiles) {
    const LegacyActLayout layout = LegacyActLayout::Of(a.k, /*with_sums=*/true);
    row_groups::Run<kActs>(a, layout.blocks, F::kGroupBlockBytes, tiles, [&](int64_t i, int64_t r) {
      const uint8_t* act = a.act + static_cast<size_t>(i) * a.act_stride;
      return RowDot(a.w + static_cast<size_t>(r) * a.w_row_bytes, reinterpret_cast<const int8_t*>(act),
                    reinterpret_cast<const float*>(act + layout.scales_offset),
                    reinterpret_cast<const int32_t*>(act + layout.sums_offset), layout.blocks);
    });
  }
  static void Avx2Gemm(const FastGemmArgs& a) { RunTiles<F::kTileActs>(a, kAvx2Tiles); }
  static void VnniGemm(const FastGemmArgs& a) { RunTiles<F::kVnniTileActs>(a, kVnniTiles); }

  static size_t PreparedBytes(int64_t k) { return LegacyActLayout::Of(k, /*with_sums=*/true).bytes; }
  static void Prepare(const float* x, void* dst, int64_t k) {
    PrepareLegacyActAvx2(x, dst, k, LegacyActSums::kInteger);
  }
  static size_t RepackedBytes(int64_t rows, int64_t k) {
    return row_groups::CopyBytes(rows, k / kQK, F::kGroupBlockBytes);
  }
  // Writes the copy described above.
  static void Repack(const uint8_t* w, size_t w_row_bytes, int64_t rows, int64_t k, uint8_t* dst) {
    using Block = typename F::Block;
    row_groups::WriteCopy(w, w_row_bytes, rows, k / kQK, sizeof(Block), F::kGroupBlockBytes, dst,
                          [](uint8_t* out, int r, const uint8_t* blk) {
                            std::memcpy(out + r * sizeof(uint16_t), blk + offsetof(Block, d), sizeof(uint16_t));
                            for (size_t l = 0; l < sizeof(Block::qs) / 4; ++l) {
                              std::memcpy(out + kScalesBytes + 32 * l + 4 * r, blk + offsetof(Block, qs) + 4 * l, 4);
                            }
                          });
  }

 public:
  static constexpr FastGemmKernel kAvx2 = {&PreparedBytes, &Prepare, &Avx2Gemm, &RepackedBytes, &Repack};
  static constexpr FastGemmKernel kVnni = {&PreparedBytes, &Prepare, &VnniGemm, &RepackedBytes, &Repack};
};

}  // namespace ps::cpu::legacy_groups
