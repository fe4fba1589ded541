// Internal to common/quant: decoding of the packed 6-bit sub-block scales and mins of q4_K and
// q5_K, shared by the dequantizers and the dot kernels. Thread-safety: pure function.
#pragma once

#include <cstdint>

namespace ps::quant_internal {

// q4_K / q5_K pack eight 6-bit scales and eight 6-bit mins into 12 bytes: sub-blocks 0-3 keep
// theirs in the low 6 bits of bytes 0-3 (scale) and 4-7 (min); sub-blocks 4-7 keep their low
// 4 bits in the nibbles of bytes 8-11 (scale low, min high) and their top 2 bits in the spare top
// bits of bytes 0-3 (scale) and 4-7 (min).
inline void UnpackScaleMinK4(const uint8_t* packed, int j, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = packed[j] & 63;
    *min = packed[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}

}  // namespace ps::quant_internal
