#include "worker/backend/cpu/ops.h"

#include <cmath>
#include <utility>

#include "common/quant/quant.h"

namespace ps::cpu {

float DotF32(const float* a, const float* b, int64_t n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) acc[l] += a[i + l] * b[i + l];
  }
  for (; i < n; ++i) acc[i % kLanes] += a[i] * b[i];
  // Pairwise reduction: fixed order, little rounding.
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int l = 0; l < width; ++l) acc[l] += acc[l + width];
  }
  return acc[0];
}

void AxpyF32(float a, const float* x, float* y, int64_t n) {
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
