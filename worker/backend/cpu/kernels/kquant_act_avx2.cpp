#include "worker/backend/cpu/kernels/kquant_act_avx2.h"

#include <immintrin.h>

#include <cstring>
#include <limits>

#include "worker/backend/cpu/kernels/simd_avx2.h"

namespace ps::cpu {

namespace {

#define PS_AVX2 __attribute__((target("avx2,fma,f16c")))

constexpr int kVectors = kKQuantActBlockElems / 8;  // 8-float vectors per block

// Packs 4 x 8 int32 (each within int8 range) to 32 int8 in element order. The two packs work
// within 128-bit lanes, leaving 4-byte runs in the order 0 2 4 6 1 3 5 7 of the inputs' halves.
PS_AVX2 inline __m256i PackToInt8(__m256i i0, __m256i i1, __m256i i2, __m256i i3) {
  const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
  return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

PS_AVX2 void PrepareBlock(const float* x, KQuantActBlock& out) {
  const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 vmax = _mm256_setzero_ps();
  // x * 0 is 0 for every finite x and NaN for an infinity or NaN; max_ps would drop NaNs.
  __m256 nonfinite = _mm256_setzero_ps();
  for (int v = 0; v < kVectors; ++v) {
    const __m256 xv = _mm256_loadu_ps(x + 8 * v);
    vmax = _mm256_max_ps(vmax, _mm256_and_ps(xv, magnitude));
    nonfinite = _mm256_add_ps(nonfinite, _mm256_mul_ps(xv, _mm256_setzero_ps()));
  }
  const bool finite = _mm256_movemask_ps(_mm256_cmp_ps(nonfinite, nonfinite, _CMP_UNORD_Q)) == 0;
  const float amax = simd::Hmax(vmax);
  if (!finite || amax < kKQuantTinyBlock) {
    std::memset(out.q, 0, sizeof(out.q));
    std::memset(out.group_sums, 0, sizeof(out.group_sums));
    std::memset(out.sub_sums, 0, sizeof(out.sub_sums));
    out.d = finite ? 0.0f : std::numeric_limits<float>::quiet_NaN();
    return;
  }
  const __m256 scale = _mm256_set1_ps(127.0f / amax);
  const __m256i ones8 = _mm256_set1_epi8(1);
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int c = 0; c < kKQuantActBlockElems / 32; ++c) {
    const float* xc = x + 32 * c;
    // Default MXCSR rounding: to nearest, ties to even.
    const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xc), scale));
    const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xc + 8), scale));
    const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xc + 16), scale));
    const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xc + 24), scale));
    const __m256i q = PackToInt8(i0, i1, i2, i3);
    _mm256_store_si256(reinterpret_cast<__m256i*>(out.q + 32 * c), q);
    // Sums of 4 consecutive values per int32 lane: lanes 0-3 make group 2c, lanes 4-7 group 2c + 1.
    alignas(32) int32_t quads[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(quads), _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16));
    out.group_sums[2 * c] = static_cast<int16_t>(quads[0] + quads[1] + quads[2] + quads[3]);
    out.group_sums[2 * c + 1] = static_cast<int16_t>(quads[4] + quads[5] + quads[6] + quads[7]);
    out.sub_sums[c] = static_cast<int16_t>(out.group_sums[2 * c] + out.group_sums[2 * c + 1]);
  }
  out.d = amax / 127.0f;
}

}  // namespace

size_t KQuantActRowBytes(int64_t k) {
  return static_cast<size_t>(k / kKQuantActBlockElems) * sizeof(KQuantActBlock);
}

PS_AVX2 void PrepareKQuantActAvx2(const float* x, void* dst, int64_t k) {
  auto* blocks = static_cast<KQuantActBlock*>(dst);
  for (int64_t b = 0; b < k / kKQuantActBlockElems; ++b) PrepareBlock(x + b * kKQuantActBlockElems, blocks[b]);
}

}  // namespace ps::cpu
