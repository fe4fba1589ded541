// Activation quantizers (ggml's quantize_row_q8_{0,1,K}_ref) and the choice of dot kernel.
#include "common/quant/q8_activation.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>

#include "common/quant/blocks.h"
#include "common/quant/q8_kernels.h"
#include "common/quant/quant.h"
#include "common/quant/row_kernels.h"

namespace ps {

namespace {

struct DotEntry {
  GgmlType weight;
  GgmlType activation;
  QuantizedDotFn scalar;
  QuantizedDotFn avx2;  // nullptr where the build has no AVX2 kernels (non-x86)
};

#if PS_QUANT_HAVE_AVX2_KERNELS
#define PS_AVX2(fn) quant_internal::fn
#else
#define PS_AVX2(fn) nullptr
#endif

// ggml's type_traits_cpu[weight].vec_dot_type and vec_dot, for the types pipeshard supports.
constexpr std::array<DotEntry, 7> kDots = {{
    {GgmlType::Q4_0, GgmlType::Q8_0, quant_internal::DotQ4_0Q8_0, PS_AVX2(DotQ4_0Q8_0Avx2)},
    {GgmlType::Q4_1, GgmlType::Q8_1, quant_internal::DotQ4_1Q8_1, PS_AVX2(DotQ4_1Q8_1Avx2)},
    {GgmlType::Q5_0, GgmlType::Q8_0, quant_internal::DotQ5_0Q8_0, PS_AVX2(DotQ5_0Q8_0Avx2)},
    {GgmlType::Q8_0, GgmlType::Q8_0, quant_internal::DotQ8_0Q8_0, PS_AVX2(DotQ8_0Q8_0Avx2)},
    {GgmlType::Q4_K, GgmlType::Q8_K, quant_internal::DotQ4_KQ8_K, PS_AVX2(DotQ4_KQ8_KAvx2)},
    {GgmlType::Q5_K, GgmlType::Q8_K, quant_internal::DotQ5_KQ8_K, PS_AVX2(DotQ5_KQ8_KAvx2)},
    {GgmlType::Q6_K, GgmlType::Q8_K, quant_internal::DotQ6_KQ8_K, PS_AVX2(DotQ6_KQ8_KAvx2)},
}};

#undef PS_AVX2

const DotEntry* FindEntry(GgmlType weight) {
  for (const DotEntry& e : kDots) {
    if (e.weight == weight) return &e;
  }
  return nullptr;
}

float AbsMax(const float* x, int n) {
  float amax = 0.0f;
  for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
  return amax;
}

// ggml's nearest_int: adding 1.5 * 2^23 leaves the integer nearest to v (ties to even, the
// default rounding mode) in the low mantissa bits, for |v| < 2^22.
int NearestInt(float v) {
  const float biased = v + 12582912.0f;
  return static_cast<int>(std::bit_cast<uint32_t>(biased) & 0x007fffffu) - 0x00400000;
}

// quantize_row_q8_1_ref: q8_0's rounding (roundf, half away from zero) plus s = d * sum(q).
void QuantizeQ8_1(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<block_q8_1*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float* x = src + b * kQK;
    const float d = AbsMax(x, kQK) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    block_q8_1& blk = blocks[b];
    blk.d = Fp32ToFp16(d);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
      // |x * id| <= 127 up to one rounding; the clamp only keeps the cast defined on NaN/inf.
      const int q = static_cast<int>(std::clamp(std::round(x[j] * id), -127.0f, 127.0f));
      blk.qs[j] = static_cast<int8_t>(q);
      sum += q;
    }
    blk.s = Fp32ToFp16(static_cast<float>(sum) * d);
  }
}

// quantize_row_q8_K_ref: the scale comes from the signed extreme (iscale = -127 / max, so that
// element maps to -127 exactly), rounding is to nearest even, d = 1 / iscale stays in F32, and
// bsums holds the sums of 16 quants that the min terms of q4_K / q5_K need.
void QuantizeQ8_K(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<block_q8_K*>(dst);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* x = src + b * kQK_K;
    block_q8_K& blk = blocks[b];
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&blk, 0, sizeof(blk));
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; ++j) {
      blk.qs[j] = static_cast<int8_t>(std::clamp(NearestInt(iscale * x[j]), -128, 127));
    }
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += blk.qs[16 * g + j];
      blk.bsums[g] = static_cast<int16_t>(sum);
    }
    blk.d = 1.0f / iscale;
  }
}

}  // namespace

std::optional<GgmlType> ActivationType(GgmlType weight) {
  const DotEntry* e = FindEntry(weight);
  if (e == nullptr) return std::nullopt;
  return e->activation;
}

void QuantizeActivationRow(GgmlType act_type, const float* x, void* dst, int64_t n) {
  switch (act_type) {
    case GgmlType::Q8_0:
      // Weights and activations share ggml's q8_0 reference quantizer.
      quant_internal::QuantizeQ8_0(x, dst, n);
      return;
    case GgmlType::Q8_1:
      QuantizeQ8_1(x, dst, n);
      return;
    case GgmlType::Q8_K:
      QuantizeQ8_K(x, dst, n);
      return;
    default:
      return;
  }
}

bool QuantizedDotUsesAvx2() {
#if PS_QUANT_HAVE_AVX2_KERNELS
  static const bool has = quant_internal::CpuHasAvx2();
  return has;
#else
  return false;
#endif
}

QuantizedDotFn FindQuantizedDot(GgmlType weight, DotKernels which) {
  const DotEntry* e = FindEntry(weight);
  if (e == nullptr) return nullptr;
  if (which == DotKernels::kFastest && e->avx2 != nullptr && QuantizedDotUsesAvx2()) return e->avx2;
  return e->scalar;
}

}  // namespace ps
