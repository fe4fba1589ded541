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
//   static constexpr int kTileActs, kVnniTileActs;
//   template <int RN> static void Tile(const row_groups::Tile&);      AVX2
//   template <int RN> static void VnniTile(const row_groups::Tile&);  AVX-512 VNNI, same bits
//   static float RowDot(const uint8_t* row, const int8_t* q, const float* d, const int32_t* sum,
//                       int64_t blocks);        one element from a GGUF row, same bits
// Thread-safety: pure functions.
#pragma once

#include <array>
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

  // Either tile table over the copy; rows outside whole groups take F::RowDot.
  template <int kActs>
  static void RunTiles(const FastGemmArgs& a, const std::array<row_groups::TileFn, kActs>& tiles) {
    const LegacyActLayout layout = LegacyActLayout::Of(a.k, /*with_sums=*/true);
    row_groups::Run<kActs>(a, layout.blocks, F::kGroupBlockBytes, tiles, [&](int64_t i, int64_t r) {
      const uint8_t* act = a.act + static_cast<size_t>(i) * a.act_stride;
      return F::RowDot(a.w + static_cast<size_t>(r) * a.w_row_bytes, reinterpret_cast<const int8_t*>(act),
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
