#include "worker/backend/cpu/ops.h"

#include <bit>
#include <cmath>
#include <utility>

#include "common/quant/quant.h"
#include "worker/backend/cpu/kernels/ops_avx2.h"

namespace ps::cpu {

namespace {
constexpr int kLanes = 16;

// The fixed pairwise reduction of the 16 partial sums that every dot product ends with.
float ReduceLanes(double acc[kLanes]) {
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int l = 0; l < width; ++l) acc[l] += acc[l + width];
  }
  return static_cast<float>(acc[0]);
}
}  // namespace

// The hot loops get an AVX2 clone where the CPU has it. Without FMA the clone rounds exactly as
// the SSE2 default does (each lane: one multiply, one add), so results are the same on every x86.
#if defined(__x86_64__) && defined(__GNUC__)
#define PS_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define PS_VECTOR_CLONES
#endif

PS_VECTOR_CLONES float DotF32(const float* a, const float* b, int64_t n) {
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) acc[l] += static_cast<double>(a[i + l] * b[i + l]);
  }
  for (; i < n; ++i) acc[i % kLanes] += static_cast<double>(a[i] * b[i]);
  return ReduceLanes(acc);
}

PS_VECTOR_CLONES void Dot4F32(const float* const w[4], const float* x, int64_t n, float out[4]) {
  double acc[4][kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < 4; ++j) {
      for (int l = 0; l < kLanes; ++l) acc[j][l] += static_cast<double>(w[j][i + l] * x[i + l]);
    }
  }
  for (; i < n; ++i) {
    for (int j = 0; j < 4; ++j) acc[j][i % kLanes] += static_cast<double>(w[j][i] * x[i]);
  }
  for (int j = 0; j < 4; ++j) out[j] = ReduceLanes(acc[j]);
}

PS_VECTOR_CLONES void AxpyF32(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  // ggml scales first (rms_norm) and multiplies by the weight in a second op; same rounding here.
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * scale) * weight[i];
}

// exp(x) by range reduction to x = n*ln2 + r, |r| <= ln2/2, and a degree-5 polynomial in r
// (about 1 ulp), with 2^n split in two factors where it would over- or underflow.
float ExpPoly(float x) {
  const auto bits = [](float f) { return std::bit_cast<uint32_t>(f); };
  const auto from_bits = [](uint32_t u) { return std::bit_cast<float>(u); };
  const float shift = 0x1.8p23f;  // adding it rounds to an integer held in the low mantissa bits
  const float z = x * 0x1.715476p+0f + shift;  // x / ln2, rounded
  const float n = z - shift;
  const float r = (x - n * 0x1.62e4p-1f) - n * 0x1.7f7d1cp-20f;  // x - n*ln2 in two parts
  const uint32_t e = bits(z) << 23;  // n moved into the exponent field
  const float scale = from_bits(e + bits(1.0f));
  const float r2 = r * r;
  const float p1 = 0x1.0e4020p-7f * r + 0x1.573e2ep-5f;
  const float p2 = 0x1.555e66p-3f * r + 0x1.fffdb6p-2f;
  const float poly = (p1 * r2 + p2) * r2 + 0x1.ffffecp-1f * r;  // exp(r) - 1
  if (std::fabs(n) <= 126.0f) return poly * scale + scale;
  const uint32_t sign = n <= 0.0f ? 0x82000000u : 0u;
  const float s1 = from_bits(sign + 0x7f000000u);
  const float s2 = from_bits(e - sign);
  if (std::fabs(n) > 192.0f) return s1 * s1;  // overflow to inf or underflow to 0
  return (s2 * poly + s2) * s1;
}

void AddRmsNorm(float* x, const float* add, const float* weight, int64_t n, float eps, float* out) {
  if (add != nullptr) {
    for (int64_t i = 0; i < n; ++i) x[i] += add[i];
  }
  RmsNorm(x, weight, n, eps, out);
}

void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + ExpPoly(0.0f - g)) * up[i];
  }
}

void RoundToF16(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = Fp16ToFp32(Fp32ToFp16(x[i]));
}

void RoundToBf16(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = Bf16ToFp32(Fp32ToBf16(x[i]));
}

RopeTable::RopeTable(int64_t head_dim, int64_t n_rot, float freq_base, std::vector<float> freq_factors)
    : head_dim_(head_dim),
      n_rot_(n_rot),
      theta_scale_(std::pow(freq_base, -2.0f / static_cast<float>(n_rot))),
      freq_factors_(std::move(freq_factors)) {}

void RopeTable::Angles(int32_t pos, float* cos_sin) const {
  // ggml computes theta_i = pos * theta_scale^i by multiplying theta_scale in once per pair, in
  // F32; the rounding of that product decides the last bits, so we do the same.
  float theta = static_cast<float>(pos);
  for (int64_t i = 0; i < n_rot_ / 2; ++i) {
    const float t = freq_factors_.empty() ? theta : theta / freq_factors_[i];
    cos_sin[2 * i] = std::cos(t);
    cos_sin[2 * i + 1] = std::sin(t);
    theta *= theta_scale_;
  }
}

void RopeRotate(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cos_sin) {
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < n_rot; i += 2) {
      const float c = cos_sin[i];
      const float s = cos_sin[i + 1];
      const float x0 = v[i];
      const float x1 = v[i + 1];
      v[i] = x0 * c - x1 * s;
      v[i + 1] = x0 * s + x1 * c;
    }
  }
}

void RopeRotateNeox(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cos_sin) {
  const int64_t half = n_rot / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const float c = cos_sin[2 * i];
      const float s = cos_sin[2 * i + 1];
      const float x0 = v[i];
      const float x1 = v[i + half];
      v[i] = x0 * c - x1 * s;
      v[i + half] = x0 * s + x1 * c;
    }
  }
}

const RowKernels& RowKernelsFor(KernelLevel level) {
  static constexpr RowKernels kScalarKernels = {AddRmsNorm, SwiGlu, RopeRotate};
  static constexpr RowKernels kAvx2Kernels = {AddRmsNormAvx2, SwiGluAvx2, RopeRotateAvx2};
  return level == KernelLevel::kAvx2 ? kAvx2Kernels : kScalarKernels;
}

}  // namespace ps::cpu
