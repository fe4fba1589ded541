// IEEE binary16 and bfloat16 <-> binary32 conversions, bit-exact with ggml's scalar ones.
#include <bit>
#include <cstdint>

#include "common/quant/half_bits.h"
#include "common/quant/quant.h"

namespace ps {

float Fp16ToFp32(uint16_t h) { return quant_internal::HalfToFloat(h); }

uint16_t Fp32ToFp16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;

  if (magnitude > 0x7f800000u) return sign | 0x7e00u;  // NaN -> canonical quiet NaN, as ggml
  // 65520 (0x477ff000) is halfway between 65504, the largest half, and 65536; the tie goes to the
  // even neighbour 65536, which does not exist, so it and everything above become infinity.
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;

  if (magnitude >= 0x38800000u) {  // >= 2^-14: a normal half
    // Rebias the exponent (127 -> 15) in place, then drop 13 mantissa bits rounding to nearest
    // even. A mantissa carry correctly increments the exponent.
    const uint32_t rebased = magnitude - ((127u - 15u) << 23);
    const uint32_t rounded = rebased + 0x0fffu + ((rebased >> 13) & 1u);
    return static_cast<uint16_t>(sign | (rounded >> 13));
  }

  // Subnormal half: value / 2^-24 rounded to nearest even. 2^-25 (0x33000000) ties to 0.
  if (magnitude <= 0x33000000u) return sign;
  const uint32_t exponent = magnitude >> 23;  // 102..112 here
  const uint32_t significand = (magnitude & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - exponent;  // 14..24
  uint32_t q = significand >> shift;
  const uint32_t remainder = significand & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (remainder > half || (remainder == half && (q & 1u))) ++q;  // may become 0x400, the smallest normal
  return static_cast<uint16_t>(sign | q);
}

float Bf16ToFp32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

uint16_t Fp32ToBf16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    // NaN: truncate and set the quiet bit so the payload cannot round into infinity.
    return static_cast<uint16_t>((bits >> 16) | 0x40u);
  }
  // Round to nearest even on the 16 dropped bits; overflow into infinity is the correct result.
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

}  // namespace ps
