#include "worker/backend/cpu/kernels/legacy_act_avx2.h"

#include <immintrin.h>

#include "common/quant/blocks.h"
#include "worker/backend/cpu/kernels/simd_avx2.h"

#define PS_ACT_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace ps::cpu {

LegacyActLayout LegacyActLayout::Of(int64_t k, bool with_sums) {
  LegacyActLayout l;
  l.blocks = k / kQK;
  l.scales_offset = static_cast<size_t>(l.blocks) * kQK;
  l.sums_offset = l.scales_offset + static_cast<size_t>(l.blocks) * sizeof(float);
  l.bytes = l.sums_offset + (with_sums ? static_cast<size_t>(l.blocks) * sizeof(float) : 0);
  return l;
}

PS_ACT_AVX2 void PrepareLegacyActAvx2(const float* x, void* dst, int64_t k, LegacyActSums sums) {
  const LegacyActLayout layout = LegacyActLayout::Of(k, sums != LegacyActSums::kNone);
  auto* q = static_cast<int8_t*>(dst);
  auto* d = reinterpret_cast<float*>(static_cast<uint8_t*>(dst) + layout.scales_offset);
  auto* s = reinterpret_cast<float*>(static_cast<uint8_t*>(dst) + layout.sums_offset);
  auto* si = reinterpret_cast<int32_t*>(static_cast<uint8_t*>(dst) + layout.sums_offset);
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  const __m256i min_q = _mm256_set1_epi8(-127);
  // packs_epi32 / packs_epi16 interleave the 128-bit halves; this puts the 32-bit groups back
  // in element order.
  const __m256i unshuffle = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int64_t b = 0; b < layout.blocks; ++b) {
    const float* xb = x + b * kQK;
    __m256 v[4];
    for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(xb + 8 * j);
    __m256 amax = _mm256_andnot_ps(sign_bit, v[0]);
    for (int j = 1; j < 4; ++j) amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v[j]));
    const float max_abs = simd::Hmax(amax);
    int8_t* qb = q + b * kQK;
    // Written as "not >=" so that a NaN maximum takes the general path and is clamped there.
    if (!(max_abs >= kTinyBlockMax) && max_abs == max_abs) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(qb), _mm256_setzero_si256());
      d[b] = 0.0f;
      if (sums == LegacyActSums::kScaled) s[b] = 0.0f;
      if (sums == LegacyActSums::kInteger) si[b] = 0;
      continue;
    }
    const __m256 inv = _mm256_set1_ps(127.0f / max_abs);
    __m256i i32[4];
    for (int j = 0; j < 4; ++j) i32[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], inv));
    const __m256i i16a = _mm256_packs_epi32(i32[0], i32[1]);
    const __m256i i16b = _mm256_packs_epi32(i32[2], i32[3]);
    __m256i i8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(i16a, i16b), unshuffle);
    i8 = _mm256_max_epi8(i8, min_q);
    _mm256_store_si256(reinterpret_cast<__m256i*>(qb), i8);
    d[b] = max_abs / 127.0f;
    if (sums != LegacyActSums::kNone) {
      const __m256i sum16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), i8);
      const int32_t sum = simd::HsumI32(_mm256_madd_epi16(sum16, _mm256_set1_epi16(1)));
      if (sums == LegacyActSums::kScaled) s[b] = d[b] * static_cast<float>(sum);
      if (sums == LegacyActSums::kInteger) si[b] = sum;
    }
  }
}

}  // namespace ps::cpu
