// Small AVX2 building blocks shared by the fast element-wise and attention kernels: an 8-lane
// exp, horizontal sums, F16 row widening, and masks for row tails. Every helper is inline and
// carries the avx2/fma/f16c target, so it inlines only into functions with the same target; the
// callers are reached only when CpuHasAvx2Fma().
// Thread-safety: pure functions.
#pragma once

#include <immintrin.h>

#include <cstdint>

#define PS_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace ps::cpu::simd {

// exp(x) lane by lane: the range reduction and degree-5 polynomial of ExpPoly (ops.h) with FMA,
// so within about 2 ulp of exp; lanes whose 2^n would over- or underflow take the split-scale
// path. exp(-inf) is 0 and exp(+inf) is inf.
PS_TARGET_AVX2 inline __m256 Exp8(__m256 x) {
  const __m256 shift = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
  const __m256 n = _mm256_sub_ps(z, shift);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), r);
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
  const __m256 scale = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_set1_epi32(0x3f800000)));
  const __m256 r2 = _mm256_mul_ps(r, r);
  const __m256 p1 = _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), r, _mm256_set1_ps(0x1.573e2ep-5f));
  const __m256 p2 = _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), r, _mm256_set1_ps(0x1.fffdb6p-2f));
  const __m256 poly = _mm256_fmadd_ps(_mm256_fmadd_ps(p1, r2, p2), r2, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), r));
  const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
  const __m256 out_of_range = _mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
  const __m256 normal = _mm256_fmadd_ps(poly, scale, scale);
  if (_mm256_movemask_ps(out_of_range) == 0) return normal;
  // 2^n = s1 * s2 with both factors representable; past |n| = 192 the result is 0 or inf.
  const __m256i sign = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                        _mm256_set1_epi32(static_cast<int32_t>(0x82000000u)));
  const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(sign, _mm256_set1_epi32(0x7f000000)));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, sign));
  const __m256 split = _mm256_mul_ps(_mm256_fmadd_ps(s2, poly, s2), s1);
  const __m256 saturated = _mm256_mul_ps(s1, s1);
  const __m256 huge = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_NLE_UQ);  // > 192, or NaN
  return _mm256_blendv_ps(normal, _mm256_blendv_ps(split, saturated, huge), out_of_range);
}

// Sum of the 8 lanes, always in the same order.
PS_TARGET_AVX2 inline float Hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Sum of the 8 int32 lanes (exact, so the order does not matter).
PS_TARGET_AVX2 inline int32_t HsumI32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// Largest of the 8 lanes.
PS_TARGET_AVX2 inline float Hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The horizontal sums of four vectors, lane j of the result = sum of a_j's lanes. Each sum's
// order depends only on its own vector.
PS_TARGET_AVX2 inline __m128 Hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// Lanes [0, count) set, count in [0, 8]: for masked loads and stores of a row's tail.
PS_TARGET_AVX2 inline __m256i TailMask(int64_t count) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(count)), lane);
}

// dst[0, n) = src widened; n need not be a multiple of 8.
PS_TARGET_AVX2 inline void WidenF16(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  }
  if (i < n) {
    alignas(16) uint16_t tail[8] = {};
    for (int64_t j = i; j < n; ++j) tail[j - i] = src[j];
    const __m256 v = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(tail)));
    _mm256_maskstore_ps(dst + i, TailMask(n - i), v);
  }
}

// dst[0, n) = src rounded to F16 (round to nearest even, as the F16C instruction does).
PS_TARGET_AVX2 inline void NarrowF16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  }
  if (i < n) {
    const __m256 v = _mm256_maskload_ps(src + i, TailMask(n - i));
    alignas(16) uint16_t tail[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(tail), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    for (int64_t j = i; j < n; ++j) dst[j] = tail[j - i];
  }
}

}  // namespace ps::cpu::simd
