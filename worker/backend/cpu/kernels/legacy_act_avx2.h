// The prepared activation row of the legacy fast kernels (gemm_legacy_avx2.cpp): x quantized to
// 8 bits in blocks of 32, like ggml's Q8_0 but laid out for wide loads and with a float scale.
//
// Layout of a row of k elements (nb = k / 32 blocks), from the 64-byte aligned start:
//   int8_t q[nb * 32]   block b's values at q + 32 b, element order as in x (32-byte aligned)
//   float  d[nb]        block b's scale: x[32 b + e] ~= d[b] * q[32 b + e]
//   sums[nb]            only with sums, 4 bytes each, one of (LegacyActSums):
//                         kScaled:  float   s[b] = d[b] * sum_e q[32 b + e] (the affine types'
//                                   offset term, gemm_legacy_avx2.cpp)
//                         kInteger: int32_t s[b] = sum_e q[32 b + e] (Q4_0's exact -8 term,
//                                   gemm_q4_0_avx2.cpp)
//
// Rounding, which differs from ggml's quantize_row_q8_0_ref on purpose:
//   - d = amax / 127 is kept in binary32 (ggml rounds it to binary16), so the activation error
//     is only the 8-bit rounding;
//   - q = x * (127 / amax) rounded to nearest, ties to even (ggml: x / d, ties away from zero),
//     then clamped to [-127, 127]; -128 never occurs, which the sign trick of the dot needs;
//   - a block whose largest |x| is below kTinyBlockMax (2^-100) is stored as zero (d = 0): its
//     reciprocal scale would overflow, and such values cannot matter next to any real activation.
// NaN or infinite inputs give a non-finite d and clamped q: garbage, but no out-of-range value.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ps::cpu {

inline constexpr float kTinyBlockMax = 0x1p-100f;

// Where the parts of a prepared row of k elements are.
struct LegacyActLayout {
  int64_t blocks = 0;
  size_t scales_offset = 0;  // byte offset of d[]
  size_t sums_offset = 0;    // byte offset of sums[] (meaningful only with sums)
  size_t bytes = 0;          // the whole row

  static LegacyActLayout Of(int64_t k, bool with_sums);
};

// What a prepared row holds after the scales (see the layout above).
enum class LegacyActSums { kNone, kScaled, kInteger };

// Where the values, scales and integer sums (LegacyActSums::kInteger) of RN consecutive prepared
// rows of k elements are, `stride` bytes apart from `first`.
template <int RN>
struct LegacyActRows {
  const int8_t* q[RN];
  const float* d[RN];
  const int32_t* sum[RN];

  LegacyActRows(const uint8_t* first, size_t stride, int64_t k) {
    const LegacyActLayout layout = LegacyActLayout::Of(k, /*with_sums=*/true);
    for (int j = 0; j < RN; ++j) {
      const uint8_t* row = first + j * stride;
      q[j] = reinterpret_cast<const int8_t*>(row);
      d[j] = reinterpret_cast<const float*>(row + layout.scales_offset);
      sum[j] = reinterpret_cast<const int32_t*>(row + layout.sums_offset);
    }
  }
};

// Quantizes x[0..k) (k a multiple of 32) into dst, which is 32-byte aligned, in the layout above.
// Needs AVX2/FMA (call only when CpuHasAvx2Fma()).
void PrepareLegacyActAvx2(const float* x, void* dst, int64_t k, LegacyActSums sums);

}  // namespace ps::cpu
