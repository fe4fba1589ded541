// Scalar reference code for every supported tensor type: convert a row to F32, build a row from
// F32 (used by make-model and the tests), and the dot product of a stored row with an F32 vector.
// These are the oracle for every fast kernel. Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "common/quant/ggml_type.h"

namespace ps {

// IEEE half and bfloat16 conversions with ggml's rounding: round to nearest even, subnormals
// kept, overflow to infinity; a NaN becomes a quiet NaN (F16: sign | 0x7e00; BF16: truncated
// payload with the quiet bit set).
float Fp16ToFp32(uint16_t h);
uint16_t Fp32ToFp16(float f);
float Bf16ToFp32(uint16_t h);
uint16_t Fp32ToBf16(float f);

// n must be a multiple of the type's block size and the type supported (TraitsOf(t).supported);
// callers validate shapes first (RowBytes), so these do not re-check. DequantizeRow equals ggml's
// dequantize_row_* bit for bit; QuantizeRow writes valid blocks (ggml's reference rounding for
// q8_0/q4_0/q4_1/q5_0, our own fit for the k-quants). src/dst need only 2-byte alignment.
// On an unsupported type DequantizeRow writes NaNs, QuantizeRow zeros and DotRow returns NaN.
void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n);
void QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n);
// sum_i dequant(row)[i] * x[i] in F32: each block (32 elements for the float types) is summed
// on its own and the block sums are added in order. An oracle for fast kernels, which will sum
// in another order: compare with a relative tolerance, not bit for bit.
float DotRow(GgmlType type, const void* row, const float* x, int64_t n);

}  // namespace ps
