// Byte layouts of the quantized block formats exactly as ggml stores them in GGUF tensor data.
// Plain structs with no padding, shared by the CPU and CUDA code (no CUDA headers here): a row of
// a quantized tensor is an array of these blocks. Half-precision values are IEEE binary16 bits
// (uint16_t); decode them with Fp16ToFp32 (quant.h). Thread-safety: plain data.
//
// Notation: a block stores `q` (small integers) and scales; the element value is
//   legacy symmetric (q4_0, q5_0, q8_0):   x = d * (q - offset)
//   legacy affine (q4_1):                  x = d * q + m
//   k-quants with mins (q4_K, q5_K):       x = (d * sc) * q - (dmin * mn)   per 32-element sub-block
//   k-quant symmetric (q6_K):              x = (d * sc) * (q - 32)          per 16-element sub-block
#pragma once

#include <cstdint>

namespace ps {

inline constexpr int kQK = 32;        // elements per block of the legacy formats
inline constexpr int kQK_K = 256;     // elements per super-block of the k-quants
inline constexpr int kKScaleSize = 12;  // bytes of packed 6-bit scales and mins in q4_K / q5_K

// 4-bit symmetric: q in [0, 15], x = d * (q - 8). Byte j holds element j in its low nibble and
// element j + 16 in its high nibble.
struct block_q4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(block_q4_0) == 18, "q4_0 block must be 18 bytes");

// 4-bit affine: q in [0, 15], x = d * q + m. Nibble order as q4_0.
struct block_q4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(block_q4_1) == 20, "q4_1 block must be 20 bytes");

// 5-bit symmetric: q in [0, 31], x = d * (q - 16). Low 4 bits as q4_0; bit j of the little-endian
// 32-bit word qh is the fifth bit of element j. Stored as bytes so the struct has no alignment
// padding.
struct block_q5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
static_assert(sizeof(block_q5_0) == 22, "q5_0 block must be 22 bytes");

// 8-bit symmetric: x = d * q, q in [-127, 127] (quantizers never write -128).
struct block_q8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
static_assert(sizeof(block_q8_0) == 34, "q8_0 block must be 34 bytes");

// Activation formats: llama.cpp never stores these in files; its CPU matrix products quantize each
// activation row to one of them first (see q8_activation.h).

// 8-bit symmetric with the block sum: x = d * q, and s = d * sum(q) (both binary16), which the
// q4_1 product uses to apply the weight's offset m without touching the elements.
struct block_q8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK];
};
static_assert(sizeof(block_q8_1) == 36, "q8_1 block must be 36 bytes");

// 8-bit symmetric super-block for the k-quant products: x = d * q with d in binary32, and
// bsums[g] = sum of q over elements 16 g .. 16 g + 15, which the products with q4_K / q5_K use to
// apply the sub-block mins. Needs 4-byte alignment.
struct block_q8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(block_q8_K) == 292, "q8_K block must be 292 bytes");

// 4-bit k-quant: 8 sub-blocks of 32 elements, each with a 6-bit scale sc and 6-bit min mn packed
// into `scales` (see UnpackScaleMinK4 in quant_kquants.cpp for the bit layout). Byte l of the
// 32-byte group g (qs[32 g + l]) holds element 64 g + l in its low nibble (sub-block 2g) and
// element 64 g + 32 + l in its high nibble (sub-block 2g + 1).
struct block_q4_K {
  uint16_t d;     // super-block scale of the 6-bit sub-block scales
  uint16_t dmin;  // super-block scale of the 6-bit sub-block mins
  uint8_t scales[kKScaleSize];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(block_q4_K) == 144, "q4_K block must be 144 bytes");

// 5-bit k-quant: q4_K plus a fifth bit per element. qh[l] bit 2g is the fifth bit of element
// 64 g + l and bit 2g + 1 that of element 64 g + 32 + l (l in [0, 32)).
struct block_q5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(block_q5_K) == 176, "q5_K block must be 176 bytes");

// 6-bit k-quant: 16 sub-blocks of 16 elements with signed 8-bit scales. The super-block is two
// halves of 128 elements; in half h, for l in [0, 32):
//   element 128h + l      = ql[64h + l]      low nibble  | qh[32h + l] bits 0-1 << 4
//   element 128h + l + 32 = ql[64h + l + 32] low nibble  | qh[32h + l] bits 2-3 << 4
//   element 128h + l + 64 = ql[64h + l]      high nibble | qh[32h + l] bits 4-5 << 4
//   element 128h + l + 96 = ql[64h + l + 32] high nibble | qh[32h + l] bits 6-7 << 4
// and element e uses scales[e / 16].
struct block_q6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
static_assert(sizeof(block_q6_K) == 210, "q6_K block must be 210 bytes");

}  // namespace ps
