// Internal to common/quant: the per-type kernels behind q8_activation.h. Each takes a weight row
// and an activation row in the weight type's activation format (q8_activation.h) and returns
// their dot product with ggml's roundings. The scalar kernels are the reference; the AVX2 ones
// (built with a function-level target, so the rest of the build assumes no AVX2) must return the
// same bits. Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "common/quant/half_bits.h"

namespace ps::quant_internal {

// ggml's float steps, shared by the scalar and AVX2 kernels so that both round identically. Each
// adds one block's integer dot product `isum` to the running `sum` with the association of ggml's
// kernel for that type (they differ, and the differences show in the last bit).
inline float AddBlockQ4_0(float sum, int32_t isum, uint16_t dw, uint16_t da) {
  return sum + (static_cast<float>(isum) * HalfToFloat(dw)) * HalfToFloat(da);
}
inline float AddBlockQ5_0(float sum, int32_t isum, uint16_t dw, uint16_t da) {
  return sum + (HalfToFloat(dw) * HalfToFloat(da)) * static_cast<float>(isum);
}
inline float AddBlockQ8_0(float sum, int32_t isum, uint16_t dw, uint16_t da) {
  return sum + static_cast<float>(isum) * (HalfToFloat(dw) * HalfToFloat(da));
}
// q4_1 x q8_1: the weight offset m meets the activation block sum s = d_a * sum(q_a).
inline float AddBlockQ4_1(float sum, int32_t isum, uint16_t dw, uint16_t mw, uint16_t da, uint16_t sa) {
  return sum + ((HalfToFloat(dw) * HalfToFloat(da)) * static_cast<float>(isum) + HalfToFloat(mw) * HalfToFloat(sa));
}

// The k-quant kernels keep eight integer partial sums per super-block, lane l collecting the
// products of the elements whose index is l mod 8 (each already times its sub-block scale). Each
// lane is scaled by d in float and added to its own float lane; the min terms are subtracted
// from a separate running sum, and the lanes are added to it, in order, at the very end.
struct KQuantSums {
  float lanes[8] = {};
  float mins = 0.0f;
};
inline void AddBlockLanes(KQuantSums& acc, float d, const int32_t lanes[8]) {
  for (int l = 0; l < 8; ++l) acc.lanes[l] += d * static_cast<float>(lanes[l]);
}
inline void SubtractBlockMins(KQuantSums& acc, float dmin, int32_t min_sum) {
  acc.mins -= dmin * static_cast<float>(min_sum);
}
inline float FinishK(const KQuantSums& acc) {
  float sum = acc.mins;
  for (int l = 0; l < 8; ++l) sum += acc.lanes[l];
  return sum;
}

// q8_dot_scalar.cpp
float DotQ4_0Q8_0(const void* row, const void* act, int64_t n);
float DotQ4_1Q8_1(const void* row, const void* act, int64_t n);
float DotQ5_0Q8_0(const void* row, const void* act, int64_t n);
float DotQ8_0Q8_0(const void* row, const void* act, int64_t n);
float DotQ4_KQ8_K(const void* row, const void* act, int64_t n);
float DotQ5_KQ8_K(const void* row, const void* act, int64_t n);
float DotQ6_KQ8_K(const void* row, const void* act, int64_t n);

// q8_dot_avx2.cpp, x86 only: callable only when CpuHasAvx2().
#if defined(__x86_64__) || defined(__i386__)
#define PS_QUANT_HAVE_AVX2_KERNELS 1
#else
#define PS_QUANT_HAVE_AVX2_KERNELS 0
#endif

#if PS_QUANT_HAVE_AVX2_KERNELS
bool CpuHasAvx2();
float DotQ4_0Q8_0Avx2(const void* row, const void* act, int64_t n);
float DotQ4_1Q8_1Avx2(const void* row, const void* act, int64_t n);
float DotQ5_0Q8_0Avx2(const void* row, const void* act, int64_t n);
float DotQ8_0Q8_0Avx2(const void* row, const void* act, int64_t n);
float DotQ4_KQ8_KAvx2(const void* row, const void* act, int64_t n);
float DotQ5_KQ8_KAvx2(const void* row, const void* act, int64_t n);
float DotQ6_KQ8_KAvx2(const void* row, const void* act, int64_t n);
#endif

}  // namespace ps::quant_internal
