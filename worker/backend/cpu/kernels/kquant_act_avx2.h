// The prepared activation format of the avx2 k-quant GEMM kernels
// (kernels/gemm_scale_min_k_avx2.cpp, gemm_q6_k_avx2.cpp) and the AVX2 quantizer that writes it.
//
// A prepared row of k elements (k a multiple of 256) is k / 256 KQuantActBlocks in element order.
// Each block holds 256 int8 values q in [-127, 127] with one float scale d (x ~ d * q) and the sums
// of q over each 16-element group and each 32-element sub-block, which the kernels use for the
// q4_K / q5_K sub-block mins and the q6_K offset of -32, so those never touch the elements. The block is padded to 320 bytes so
// that every block's values start 64-byte aligned in a 64-byte aligned row.
//
// Rounding: d = amax / 127 for the block's largest magnitude amax, q = round-to-nearest-even(x *
// 127 / amax). A block with amax below kKQuantTinyBlock is stored as zeros with d = 0 (its
// contribution is far below float resolution of any realistic product, and 127 / amax would
// overflow). A block holding an infinity or NaN gets d = NaN and zero values, so every product
// with it is NaN instead of a silently finite number.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ps::cpu {

inline constexpr int kKQuantActBlockElems = 256;
inline constexpr float kKQuantTinyBlock = 1e-30f;

struct alignas(64) KQuantActBlock {
  int8_t q[kKQuantActBlockElems];
  int16_t group_sums[kKQuantActBlockElems / 16];  // sum of q[16 g .. 16 g + 15]
  int16_t sub_sums[kKQuantActBlockElems / 32];    // sum of q[32 j .. 32 j + 31] (q4_K / q5_K sub-blocks)
  float d;
  uint8_t pad[12];
};
static_assert(sizeof(KQuantActBlock) == 320, "prepared k-quant activation block must be 320 bytes");

// Bytes of a prepared row of k elements (k a multiple of 256).
size_t KQuantActRowBytes(int64_t k);

// Quantizes x[0..k) to k / 256 blocks at dst (64-byte aligned). Needs AVX2 (CpuHasAvx2Fma()).
void PrepareKQuantActAvx2(const float* x, void* dst, int64_t k);

}  // namespace ps::cpu
