#include "worker/backend/cpu/ops.h"

#include <cmath>
#include <utility>

#include "common/quant/quant.h"

namespace ps::cpu {

namespace {
constexpr int kLanes = 16;

// The fixed pairwise reduction of the 16 partial sums that every dot product ends with.
float ReduceLanes(float acc[kLanes]) {
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int l = 0; l < width; ++l) acc[l] += acc[l + width];
  }
  return acc[0];
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
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) acc[l] += a[i + l] * b[i + l];
  }
  for (; i < n; ++i) acc[i % kLanes] += a[i] * b[i];
  return ReduceLanes(acc);
}

PS_VECTOR_CLONES void Dot4F32(const float* const w[4], const float* x, int64_t n, float out[4]) {
  float acc[4][kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < 4; ++j) {
      for (int l = 0; l < kLanes; ++l) acc[j][l] += w[j][i + l] * x[i + l];
    }
  }
  for (; i < n; ++i) {
    for (int j = 0; j < 4; ++j) acc[j][i % kLanes] += w[j][i] * x[i];
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

void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
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

void RopeTable::Apply(float* x, int64_t n_heads, int32_t pos, float* cos_sin) const {
  // ggml computes theta_i = pos * theta_scale^i by multiplying theta_scale in once per pair, in
  // F32; the rounding of that product decides the last bits, so we do the same.
  float theta = static_cast<float>(pos);
  for (int64_t i = 0; i < n_rot_ / 2; ++i) {
    const float t = freq_factors_.empty() ? theta : theta / freq_factors_[i];
    cos_sin[2 * i] = std::cos(t);
    cos_sin[2 * i + 1] = std::sin(t);
    theta *= theta_scale_;
  }
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim_;
    for (int64_t i = 0; i < n_rot_; i += 2) {
      const float c = cos_sin[i];
      const float s = cos_sin[i + 1];
      const float x0 = v[i];
      const float x1 = v[i + 1];
      v[i] = x0 * c - x1 * s;
      v[i + 1] = x0 * s + x1 * c;
    }
  }
}

}  // namespace ps::cpu
