// Internal to common/quant: the binary16 -> binary32 decode as an inline, branch-free function,
// so row loops over F16 data can be inlined and vectorized. Fp16ToFp32 (quant.h) is this.
// Thread-safety: pure function.
#pragma once

#include <bit>
#include <cstdint>

namespace ps::quant_internal {

// Moves exponent and mantissa into binary32 position and multiplies by 2^112 to rebias the
// exponent (15 -> 127); the product is exact for normal and subnormal halves alike. Infinity and
// NaN (exponent all ones) get the binary32 all-ones exponent instead, keeping the payload.
inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t body = static_cast<uint32_t>(h & 0x7fffu) << 13;
  const float rebased = std::bit_cast<float>(body) * 0x1p112f;
  const uint32_t magnitude =
      (h & 0x7c00u) == 0x7c00u ? (body | 0x7f800000u) : std::bit_cast<uint32_t>(rebased);
  return std::bit_cast<float>(sign | magnitude);
}

}  // namespace ps::quant_internal
