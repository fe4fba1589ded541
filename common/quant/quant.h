// Scalar reference code for every supported tensor type: convert a row to F32, build a row from
// F32 (used by make-model and the tests), and the dot product of a stored row with an F32 vector.
// These are the oracle for every fast kernel. Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "common/quant/ggml_type.h"

namespace ps {

// IEEE half and bfloat16 conversions with ggml's rounding (round to nearest even).
float Fp16ToFp32(uint16_t h);
uint16_t Fp32ToFp16(float f);
float Bf16ToFp32(uint16_t h);
uint16_t Fp32ToBf16(float f);

// n must be a multiple of the type's block size and the type supported (TraitsOf(t).supported);
// callers validate shapes first (RowBytes), so these do not re-check.
void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n);
void QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n);
// sum_i dequant(row)[i] * x[i], accumulated in F32 per block as llama.cpp's reference does.
float DotRow(GgmlType type, const void* row, const float* x, int64_t n);

}  // namespace ps
