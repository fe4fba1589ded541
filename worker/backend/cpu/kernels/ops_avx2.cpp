#include "worker/backend/cpu/kernels/ops_avx2.h"

#include <cmath>

#include "worker/backend/cpu/kernels/simd_avx2.h"

namespace ps::cpu {

namespace {
// x[at, at + 8) += add (when not null), then acc += x^2 lane by lane.
PS_TARGET_AVX2 inline void AddSquare(float* x, const float* add, int64_t at, __m256& acc) {
  __m256 v = _mm256_loadu_ps(x + at);
  if (add != nullptr) {
    v = _mm256_add_ps(v, _mm256_loadu_ps(add + at));
    _mm256_storeu_ps(x + at, v);
  }
  acc = _mm256_fmadd_ps(v, v, acc);
}
}  // namespace

PS_TARGET_AVX2 void AddRmsNormAvx2(float* x, const float* add, const float* weight, int64_t n, float eps,
                                   float* out) {
  // Pass 1: the residual add and the sum of squares (four 8-lane accumulators, then one, then a
  // masked tail; the order depends only on n).
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int j = 0; j < 4; ++j) AddSquare(x, add, i + 8 * j, acc[j]);
  }
  for (; i + 8 <= n; i += 8) AddSquare(x, add, i, acc[0]);
  if (i < n) {
    const __m256i mask = simd::TailMask(n - i);
    __m256 v = _mm256_maskload_ps(x + i, mask);
    if (add != nullptr) {
      v = _mm256_add_ps(v, _mm256_maskload_ps(add + i, mask));
      _mm256_maskstore_ps(x + i, mask, v);
    }
    acc[0] = _mm256_fmadd_ps(v, v, acc[0]);
  }
  const float sum = simd::Hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  const float mean = sum / static_cast<float>(n);
  const __m256 scale = _mm256_set1_ps(1.0f / std::sqrt(mean + eps));

  // Pass 2 over the row, still in L1.
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), scale);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(v, _mm256_loadu_ps(weight + i)));
  }
  if (i < n) {
    const __m256i mask = simd::TailMask(n - i);
    const __m256 v = _mm256_mul_ps(_mm256_maskload_ps(x + i, mask), scale);
    _mm256_maskstore_ps(out + i, mask, _mm256_mul_ps(v, _mm256_maskload_ps(weight + i, mask)));
  }
}

namespace {
PS_TARGET_AVX2 inline __m256 SwiGlu8(__m256 g, __m256 u) {
  const __m256 e = simd::Exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));  // exp(-g): inf for g < -88
  return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}
}  // namespace

PS_TARGET_AVX2 void SwiGluAvx2(const float* gate, const float* up, int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, SwiGlu8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  }
  if (i < n) {
    const __m256i mask = simd::TailMask(n - i);
    const __m256 r = SwiGlu8(_mm256_maskload_ps(gate + i, mask), _mm256_maskload_ps(up + i, mask));
    _mm256_maskstore_ps(out + i, mask, r);
  }
}

PS_TARGET_AVX2 void RopeRotateAvx2(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                                   const float* cos_sin) {
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    int64_t i = 0;
    // Four pairs at a time: even lanes x0*c - x1*s, odd lanes x1*c + x0*s.
    for (; i + 8 <= n_rot; i += 8) {
      const __m256 xv = _mm256_loadu_ps(v + i);
      const __m256 cs = _mm256_loadu_ps(cos_sin + i);
      const __m256 swapped = _mm256_permute_ps(xv, 0xB1);  // (x1, x0) in each pair
      const __m256 t = _mm256_mul_ps(swapped, _mm256_movehdup_ps(cs));
      _mm256_storeu_ps(v + i, _mm256_fmaddsub_ps(xv, _mm256_moveldup_ps(cs), t));
    }
    // The last pairs when n_rot is not a multiple of 8: same formula, lane by lane.
    for (; i < n_rot; i += 2) {
      const float c = cos_sin[i];
      const float s = cos_sin[i + 1];
      const float x0 = v[i];
      const float x1 = v[i + 1];
      v[i] = std::fma(x0, c, -(x1 * s));
      v[i + 1] = std::fma(x1, c, x0 * s);
    }
  }
}

PS_TARGET_AVX2 void RoundToF16RowAvx2(const float* src, uint16_t* dst, int64_t n) { simd::NarrowF16(src, dst, n); }

}  // namespace ps::cpu
