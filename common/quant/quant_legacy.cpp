// Row kernels of the 32-element block formats q4_0, q4_1, q5_0 and q8_0.
// Dequantization performs exactly ggml's float operations (one product, plus one sum for q4_1)
// so results match llama.cpp bit for bit. Quantization follows ggml's reference rounding rules,
// so make-model output is what llama-quantize's reference path would write for the same floats.
// Dequantizers copy each block to a local first: dst is float and the block bytes could alias it,
// which would stop the compiler from vectorizing the loops.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/quant/blocks.h"
#include "common/quant/quant.h"
#include "common/quant/row_kernels.h"

namespace ps::quant_internal {

namespace {

// The value of largest magnitude, sign kept (the first one on ties, as ggml's scan).
float SignedAbsMax(const float* x, int n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// ggml's reference quantizers round with a truncating cast of (v + offset + 0.5); the clamp only
// keeps the cast defined for inputs the scale does not cover (it never triggers on finite rows).
int TruncateClamp(float v, int hi) {
  if (!(v > 0.0f)) return 0;  // also maps NaN to 0
  if (v >= static_cast<float>(hi)) return hi;
  return std::min(hi, static_cast<int>(v));
}

}  // namespace

void DequantizeQ4_0(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const block_q4_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b) {
    const block_q4_0 blk = blocks[b];
    const float d = Fp16ToFp32(blk.d);
    float* y = dst + b * kQK;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = (blk.qs[j] & 0x0f) - 8;
      const int hi = (blk.qs[j] >> 4) - 8;
      y[j] = static_cast<float>(lo) * d;
      y[j + kQK / 2] = static_cast<float>(hi) * d;
    }
  }
}

void QuantizeQ4_0(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<block_q4_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float* x = src + b * kQK;
    // The extreme value maps to q = 0 exactly (-8 * d); its opposite end is clamped to 15.
    const float d = SignedAbsMax(x, kQK) / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    block_q4_0& blk = blocks[b];
    blk.d = Fp32ToFp16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = TruncateClamp(x[j] * id + 8.5f, 15);
      const int hi = TruncateClamp(x[j + kQK / 2] * id + 8.5f, 15);
      blk.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void DequantizeQ4_1(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const block_q4_1*>(src);
  for (int64_t b = 0; b < n / kQK; ++b) {
    const block_q4_1 blk = blocks[b];
    const float d = Fp16ToFp32(blk.d);
    const float m = Fp16ToFp32(blk.m);
    float* y = dst + b * kQK;
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(blk.qs[j] & 0x0f) * d + m;
      y[j + kQK / 2] = static_cast<float>(blk.qs[j] >> 4) * d + m;
    }
  }
}

void QuantizeQ4_1(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<block_q4_1*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float* x = src + b * kQK;
    const auto [lo_it, hi_it] = std::minmax_element(x, x + kQK);
    const float min = *lo_it;
    const float d = (*hi_it - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    block_q4_1& blk = blocks[b];
    blk.d = Fp32ToFp16(d);
    blk.m = Fp32ToFp16(min);
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = TruncateClamp((x[j] - min) * id + 0.5f, 15);
      const int hi = TruncateClamp((x[j + kQK / 2] - min) * id + 0.5f, 15);
      blk.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void DequantizeQ5_0(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const block_q5_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b) {
    const block_q5_0 blk = blocks[b];
    const float d = Fp16ToFp32(blk.d);
    uint32_t qh;
    std::memcpy(&qh, blk.qh, sizeof(qh));  // little-endian, as every supported host
    float* y = dst + b * kQK;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = static_cast<int>((blk.qs[j] & 0x0fu) | (((qh >> j) & 1u) << 4)) - 16;
      const int hi = static_cast<int>((blk.qs[j] >> 4) | (((qh >> (j + kQK / 2)) & 1u) << 4)) - 16;
      y[j] = static_cast<float>(lo) * d;
      y[j + kQK / 2] = static_cast<float>(hi) * d;
    }
  }
}

void QuantizeQ5_0(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<block_q5_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float* x = src + b * kQK;
    const float d = SignedAbsMax(x, kQK) / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    block_q5_0& blk = blocks[b];
    blk.d = Fp32ToFp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int lo = TruncateClamp(x[j] * id + 16.5f, 31);
      const int hi = TruncateClamp(x[j + kQK / 2] * id + 16.5f, 31);
      blk.qs[j] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
      qh |= static_cast<uint32_t>(lo >> 4) << j;
      qh |= static_cast<uint32_t>(hi >> 4) << (j + kQK / 2);
    }
    std::memcpy(blk.qh, &qh, sizeof(qh));
  }
}

void DequantizeQ8_0(const void* src, float* dst, int64_t n) {
  const auto* blocks = static_cast<const block_q8_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b) {
    const block_q8_0 blk = blocks[b];
    const float d = Fp16ToFp32(blk.d);
    float* y = dst + b * kQK;
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(blk.qs[j]) * d;
  }
}

void QuantizeQ8_0(const float* src, void* dst, int64_t n) {
  auto* blocks = static_cast<block_q8_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float* x = src + b * kQK;
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    block_q8_0& blk = blocks[b];
    blk.d = Fp32ToFp16(d);
    // Half away from zero, as roundf; |x * id| <= 127 up to one rounding, so the clamp is a guard.
    for (int j = 0; j < kQK; ++j) {
      blk.qs[j] = static_cast<int8_t>(std::clamp(std::round(x[j] * id), -127.0f, 127.0f));
    }
  }
}

}  // namespace ps::quant_internal
