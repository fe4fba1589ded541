// The shared driver of the fast kernels that read a load-time copy interleaved in groups of 8
// weight rows, one row per 32-bit lane (gemm_q8_0_avx2.cpp, gemm_q4_0_avx2.cpp,
// gemm_scale_min_k_avx2.cpp): which
// rows take the kernel's per-row path over the GGUF rows, the cache blocking of the activation
// rows, the walk over groups and activation tiles, and the store of a group's 8 results.
// Thread-safety: pure functions.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "worker/backend/cpu/kernels/fast_gemm.h"
#include "worker/backend/cpu/kernels/simd_avx2.h"

namespace ps::cpu::row_groups {

inline constexpr int kGroupRows = 8;
// Bytes of prepared activation rows one chunk may hold, about half of a Zen 3 / Skylake L2.
inline constexpr size_t kActChunkBytes = 256 * 1024;

// What a tile function gets: one group of the copy times a few activation rows.
struct Tile {
  const uint8_t* w;    // the group's block 0 in the copy
  const uint8_t* act;  // first prepared activation row of the tile
  size_t act_stride;
  int64_t blocks;  // blocks (super-blocks) per row
  float* y;        // y of (first activation row, the group's first row)
  int64_t ldy;
  int rows;  // rows of the group to store (8, or fewer for the last one)
};
using TileFn = void (*)(const Tile&);

// Four bytes at p (4 consecutive activation values) in every 32-bit lane, to meet the same 4
// elements of each of a group's 8 rows.
PS_TARGET_AVX2 inline __m256i Broadcast4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return _mm256_set1_epi32(v);
}

// Decode reads a copy once, in order: ask for the group block 8 ahead of blk (kBytes each).
template <size_t kBytes>
PS_TARGET_AVX2 inline void PrefetchAhead(const uint8_t* blk) {
#pragma GCC unroll 8
  for (size_t off = 0; off < kBytes; off += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(blk + 8 * kBytes + off), _MM_HINT_T0);
  }
}

// Writes a group's results, one lane per row, for its first `rows` rows.
PS_TARGET_AVX2 inline void Store(float* y, int rows, __m256 acc) {
  if (rows == kGroupRows) {
    _mm256_storeu_ps(y, acc);
  } else {
    _mm256_maskstore_ps(y, simd::TailMask(rows), acc);
  }
}

// Writes a tile's results: acc[j] for its activation row j.
template <int RN>
PS_TARGET_AVX2 inline void StoreTile(const Tile& t, const __m256* acc) {
#pragma GCC unroll 8
  for (int j = 0; j < RN; ++j) Store(t.y + j * t.ldy, t.rows, acc[j]);
}

// Bytes of a copy of `rows` rows of `blocks` blocks, group_block_bytes per block of a group.
inline size_t CopyBytes(int64_t rows, int64_t blocks, size_t group_block_bytes) {
  const int64_t groups = (rows + kGroupRows - 1) / kGroupRows;
  return static_cast<size_t>(groups * blocks) * group_block_bytes;
}

// Writes a copy: group g's block b at dst + (g * blocks + b) * group_block_bytes, zeroed, then
// put(out, r, src) for each of its rows r that exists, src being that row's block b in w
// (src_block_bytes per block). A last, short group keeps zero rows.
template <typename PutFn>
void WriteCopy(const uint8_t* w, size_t w_row_bytes, int64_t rows, int64_t blocks, size_t src_block_bytes,
               size_t group_block_bytes, uint8_t* dst, PutFn put) {
  const int64_t groups = (rows + kGroupRows - 1) / kGroupRows;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t b = 0; b < blocks; ++b) {
      uint8_t* out = dst + static_cast<size_t>(g * blocks + b) * group_block_bytes;
      std::memset(out, 0, group_block_bytes);
      for (int r = 0; r < kGroupRows && g * kGroupRows + r < rows; ++r) {
        put(out, r, w + static_cast<size_t>(g * kGroupRows + r) * w_row_bytes + static_cast<size_t>(b) * src_block_bytes);
      }
    }
  }
}

// y for a.r0 .. a.r1 and all a.n prepared rows. Rows before the first whole group, and every row
// when a.repacked is null, come from row(i, r) (the kernel's per-row path, which must give the
// tiles' bits); whole groups from tiles[rn - 1] for rn activation rows at a time, over activation
// chunks of about kActChunkBytes so that each group's bytes come from memory once per chunk.
template <int kTileActs, typename RowFn>
void Run(const FastGemmArgs& a, int64_t blocks, size_t group_block_bytes, const std::array<TileFn, kTileActs>& tiles,
         RowFn row) {
  const int64_t aligned =
      a.repacked == nullptr ? a.r1 : std::min(a.r1, (a.r0 + kGroupRows - 1) / kGroupRows * kGroupRows);
  for (int64_t i = 0; i < a.n; ++i) {
    for (int64_t r = a.r0; r < aligned; ++r) a.y[i * a.ldy + r] = row(i, r);
  }
  if (aligned >= a.r1) return;

  const int64_t chunk = std::max<int64_t>(
      kTileActs, static_cast<int64_t>(kActChunkBytes / a.act_stride) / kTileActs * kTileActs);
  Tile t;
  t.act_stride = a.act_stride;
  t.blocks = blocks;
  t.ldy = a.ldy;
  for (int64_t i0 = 0; i0 < a.n; i0 += chunk) {
    const int64_t i1 = std::min(a.n, i0 + chunk);
    for (int64_t r = aligned; r < a.r1; r += kGroupRows) {
      t.w = a.repacked + static_cast<size_t>(r / kGroupRows * blocks) * group_block_bytes;
      t.rows = static_cast<int>(std::min<int64_t>(kGroupRows, a.r1 - r));
      for (int64_t i = i0; i < i1; i += kTileActs) {
        const int64_t rn = std::min<int64_t>(kTileActs, i1 - i);
        t.act = a.act + static_cast<size_t>(i) * a.act_stride;
        t.y = a.y + i * a.ldy + r;
        tiles[rn - 1](t);
      }
    }
  }
}

}  // namespace ps::cpu::row_groups
