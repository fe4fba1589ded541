// The fast (avx2) matrix products for float weights: F32, F16 and BF16 (fast_gemm.h).
//
// Activations stay F32. (llama.cpp rounds activations to F16 / BF16 for F16 / BF16 weights;
// keeping them F32 is a little more accurate, and widening only the weights is no slower here.)
// Weights are widened in registers, one step of k at a time: F32 loaded as is and F16 with F16C,
// 8 elements a step; BF16 16 elements a step from one 32-byte load, the even elements shifted into
// place and the odd ones masked (each is the top half of an F32): one integer op per 8 weights
// instead of a widening shuffle and a shift. `prepare` lays each activation step out in the lanes its weights
// land in (for BF16: the step's even elements, then its odd ones) and zero-pads the row to a whole
// number of steps.
//
// Every output element y[i, r] owns one 8-lane accumulator. It runs the FMAs of each whole step
// of k, in k order, then those of the zero-padded tail (k modulo the step, when there is one),
// then one fixed horizontal sum. Register tiles and the thread split only decide which elements
// are computed side by side, never the per-element arithmetic: results are bitwise the same for
// any n, r0/r1 split or tile position.
//
// Work order: weight rows in blocks of kRowBlock (a block stays in L2 while every activation row
// passes over it); inside a block, register tiles of up to kTileActs activation rows x
// TileRowsFor(acts) weight rows (4 x 3 for prompt batches: 12 accumulators, 3 activation
// registers, one weight register, the 16 YMM registers) that each run over all of k. Blocking k
// as well (so a weight slice stays in L1) measured slower here: the accumulators must then wait in
// memory between k blocks, and the long streams over whole rows prefetch well. Decode (n = 1)
// uses 8 x 1 tiles: each weight row is streamed once, 8 rows at a time sharing each activation
// load, which keeps more loads in flight (about 10% faster than 4 x 1 here).
// Thread-safety: pure functions.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "worker/backend/cpu/kernels/fast_gemm.h"
#include "worker/backend/cpu/kernels/simd_avx2.h"

#define PS_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace ps::cpu {

namespace {

enum class WeightKind { kF32, kF16, kBf16 };

// Register tiles: up to kTileActs activation rows, and as many weight rows as keep the
// accumulators, the activation registers and one weight register within the 16 YMM registers.
constexpr int kTileActs = 3;
constexpr int kMaxTileRows = 8;
constexpr int TileRowsFor(int acts) { return acts == 1 ? 8 : 4; }
constexpr int64_t kRowBlock = 16;  // weight rows per cache block (a multiple of every TileRowsFor)

template <WeightKind W>
constexpr size_t kElementBytes = W == WeightKind::kF32 ? 4 : 2;
// Elements of k per step, and 8-float vectors per step.
template <WeightKind W>
constexpr int kStep = W == WeightKind::kBf16 ? 16 : 8;
template <WeightKind W>
constexpr int kVectorsPerStep = kStep<W> / 8;
static_assert(kVectorsPerStep<WeightKind::kF32> == 1 && kVectorsPerStep<WeightKind::kBf16> == 2);

// Vector h of the step starting at p, widened to F32.
template <WeightKind W, int H>
PS_AVX2 inline __m256 LoadWeights(const uint8_t* p) {
  if constexpr (W == WeightKind::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  } else if constexpr (W == WeightKind::kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else {
    // 32-bit lane i holds element 2i in its low half and element 2i + 1 in its high half.
    const __m256i pairs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    if constexpr (H == 0) return _mm256_castsi256_ps(_mm256_slli_epi32(pairs, 16));
    return _mm256_castsi256_ps(_mm256_and_si256(pairs, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
  }
}

// Vector h of one step for RM weight rows x RN activation rows, c[m][j] += w[m] * a[j]; w and act
// point at the step in weight row 0 and prepared row 0.
template <WeightKind W, int RM, int RN, int H>
PS_AVX2 inline void Step(const uint8_t* w, size_t w_row_bytes, const float* act, size_t act_floats,
                         __m256 (*c)[RN]) {
  __m256 a[RN];
  for (int j = 0; j < RN; ++j) a[j] = _mm256_load_ps(act + static_cast<size_t>(j) * act_floats + 8 * H);
  for (int m = 0; m < RM; ++m) {
    const __m256 wv = LoadWeights<W, H>(w + static_cast<size_t>(m) * w_row_bytes);
    for (int j = 0; j < RN; ++j) c[m][j] = _mm256_fmadd_ps(wv, a[j], c[m][j]);
  }
}

// Where one register tile reads and writes.
struct TileArgs {
  const uint8_t* w;   // first weight row of the tile
  size_t w_row_bytes;
  const float* act;   // first prepared activation row of the tile
  size_t act_floats;  // floats between prepared rows
  int64_t whole;      // elements of k in whole steps
  int64_t tail;       // the k % kStep elements after them
  float* y;           // y of (tile row 0, tile activation 0)
  int64_t ldy;
};

// RM weight rows x RN activation rows: RM * RN accumulators in registers over all of k, then each
// finishes on its own (tail, horizontal sum).
template <WeightKind W, int RM, int RN>
PS_AVX2 void Tile(const TileArgs& t) {
  constexpr size_t kBytesPerStep = kStep<W> * kElementBytes<W>;
  __m256 c[RM][RN];
  for (int m = 0; m < RM; ++m) {
    for (int j = 0; j < RN; ++j) c[m][j] = _mm256_setzero_ps();
  }
  for (int64_t e = 0; e < t.whole; e += kStep<W>) {
    const uint8_t* w = t.w + static_cast<size_t>(e) * kElementBytes<W>;
    Step<W, RM, RN, 0>(w, t.w_row_bytes, t.act + e, t.act_floats, c);
    if constexpr (kVectorsPerStep<W> == 2) Step<W, RM, RN, 1>(w, t.w_row_bytes, t.act + e, t.act_floats, c);
  }
  for (int m = 0; m < RM; ++m) {
    if (t.tail > 0) {
      // The row's last weights, zero-padded to a whole step without reading past the row; the
      // prepared rows are zero-padded too, so the padded lanes add 0 * 0.
      alignas(32) uint8_t last[kBytesPerStep] = {};
      std::memcpy(last, t.w + static_cast<size_t>(m) * t.w_row_bytes + static_cast<size_t>(t.whole) * kElementBytes<W>,
                  static_cast<size_t>(t.tail) * kElementBytes<W>);
      Step<W, 1, RN, 0>(last, 0, t.act + t.whole, t.act_floats, &c[m]);
      if constexpr (kVectorsPerStep<W> == 2) Step<W, 1, RN, 1>(last, 0, t.act + t.whole, t.act_floats, &c[m]);
    }
    for (int j = 0; j < RN; ++j) t.y[j * t.ldy + m] = simd::Hsum(c[m][j]);
  }
}

using TileFn = void (*)(const TileArgs&);

// Tile<W, rows, acts> for every shape a block can need, indexed [rows - 1][acts - 1]; null where
// rows > TileRowsFor(acts).
template <WeightKind W>
struct TileTable {
  using Table = std::array<std::array<TileFn, kTileActs>, kMaxTileRows>;
  template <int RM, int RN>
  static constexpr TileFn Entry() {
    if constexpr (RM <= TileRowsFor(RN)) {
      return &Tile<W, RM, RN>;
    } else {
      return nullptr;
    }
  }
  template <int RM, int... RN>
  static constexpr std::array<TileFn, kTileActs> Row(std::integer_sequence<int, RN...>) {
    return {Entry<RM, RN + 1>()...};
  }
  template <int... RM>
  static constexpr Table Make(std::integer_sequence<int, RM...>) {
    return {Row<RM + 1>(std::make_integer_sequence<int, kTileActs>())...};
  }
  static constexpr Table kFns = Make(std::make_integer_sequence<int, kMaxTileRows>());
};

template <WeightKind W>
PS_AVX2 void Gemm(const FastGemmArgs& a) {
  const size_t act_floats = a.act_stride / sizeof(float);
  const auto* act = reinterpret_cast<const float*>(a.act);
  TileArgs t{};
  t.w_row_bytes = a.w_row_bytes;
  t.act_floats = act_floats;
  t.whole = a.k / kStep<W> * kStep<W>;
  t.tail = a.k - t.whole;
  t.ldy = a.ldy;
  for (int64_t rb = a.r0; rb < a.r1; rb += kRowBlock) {
    const int64_t rows = std::min(kRowBlock, a.r1 - rb);
    for (int64_t i = 0; i < a.n; i += kTileActs) {
      const auto tile_acts = static_cast<int>(std::min<int64_t>(kTileActs, a.n - i));
      const int64_t max_rows = TileRowsFor(tile_acts);
      for (int64_t r = rb; r < rb + rows; r += max_rows) {
        const auto tile_rows = static_cast<int>(std::min<int64_t>(max_rows, rb + rows - r));
        t.w = a.w + static_cast<size_t>(r) * a.w_row_bytes;
        t.act = act + static_cast<size_t>(i) * act_floats;
        t.y = a.y + i * a.ldy + r;
        TileTable<W>::kFns[tile_rows - 1][tile_acts - 1](t);
      }
    }
  }
}

template <WeightKind W>
size_t PreparedRowBytes(int64_t k) {
  return static_cast<size_t>((k + kStep<W> - 1) / kStep<W> * kStep<W>) * sizeof(float);
}

template <WeightKind W>
void Prepare(const float* x, void* dst, int64_t k) {
  auto* out = static_cast<float*>(dst);
  const int64_t padded = (k + kStep<W> - 1) / kStep<W> * kStep<W>;
  if constexpr (W != WeightKind::kBf16) {
    std::memcpy(out, x, static_cast<size_t>(k) * sizeof(float));
    std::fill(out + k, out + padded, 0.0f);
  } else {
    // Each 16-element step: its 8 even elements, then its 8 odd ones (LoadWeights' lanes).
    for (int64_t e = 0; e < padded; e += 16) {
      for (int64_t l = 0; l < 16; ++l) {
        const int64_t src = e + l;
        out[e + (l % 2) * 8 + l / 2] = src < k ? x[src] : 0.0f;
      }
    }
  }
}

PS_AVX2 void GemmF32(const FastGemmArgs& a) { Gemm<WeightKind::kF32>(a); }
PS_AVX2 void GemmF16(const FastGemmArgs& a) { Gemm<WeightKind::kF16>(a); }
PS_AVX2 void GemmBf16(const FastGemmArgs& a) { Gemm<WeightKind::kBf16>(a); }

constexpr FastGemmKernel kF32Kernel{&PreparedRowBytes<WeightKind::kF32>, &Prepare<WeightKind::kF32>, &GemmF32};
constexpr FastGemmKernel kF16Kernel{&PreparedRowBytes<WeightKind::kF16>, &Prepare<WeightKind::kF16>, &GemmF16};
constexpr FastGemmKernel kBf16Kernel{&PreparedRowBytes<WeightKind::kBf16>, &Prepare<WeightKind::kBf16>,
                                     &GemmBf16};

}  // namespace

const FastGemmKernel* FindFloatGemmAvx2(GgmlType weight) {
  switch (weight) {
    case GgmlType::F32:
      return &kF32Kernel;
    case GgmlType::F16:
      return &kF16Kernel;
    case GgmlType::BF16:
      return &kBf16Kernel;
    default:
      return nullptr;
  }
}

}  // namespace ps::cpu
