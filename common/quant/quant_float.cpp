// Row kernels of the unquantized types: F32 (a copy), F16 and BF16 (per-element conversion).
#include <cstring>

#include "common/quant/half_bits.h"
#include "common/quant/quant.h"
#include "common/quant/row_kernels.h"

namespace ps::quant_internal {

void DequantizeF32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void QuantizeF32(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

// Halves are read with memcpy: tensor data in a mapped file need not be 2-byte aligned.
void DequantizeF16(const void* src, float* dst, int64_t n) {
  const auto* bytes = static_cast<const unsigned char*>(src);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, bytes + 2 * i, sizeof(h));
    dst[i] = HalfToFloat(h);
  }
}

void QuantizeF16(const float* src, void* dst, int64_t n) {
  auto* bytes = static_cast<unsigned char*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = Fp32ToFp16(src[i]);
    std::memcpy(bytes + 2 * i, &h, sizeof(h));
  }
}

void DequantizeBF16(const void* src, float* dst, int64_t n) {
  const auto* bytes = static_cast<const unsigned char*>(src);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, bytes + 2 * i, sizeof(h));
    dst[i] = Bf16ToFp32(h);
  }
}

void QuantizeBF16(const float* src, void* dst, int64_t n) {
  auto* bytes = static_cast<unsigned char*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = Fp32ToBf16(src[i]);
    std::memcpy(bytes + 2 * i, &h, sizeof(h));
  }
}

}  // namespace ps::quant_internal
