// Internal to common/quant: the per-type scalar row kernels behind DequantizeRow / QuantizeRow,
// and the table that maps a GgmlType to them. Other modules call quant.h instead.
// Thread-safety: pure functions and an immutable table.
#pragma once

#include <cstdint>

#include "common/quant/ggml_type.h"

namespace ps::quant_internal {

// n is a multiple of the type's block size; src/dst hold n elements (n / block_size blocks).
using DequantizeFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeFn = void (*)(const float* src, void* dst, int64_t n);

struct RowKernels {
  GgmlType type;
  DequantizeFn dequantize;
  QuantizeFn quantize;
};

// Kernels for `type`, or nullptr when pipeshard does not support it. Every type whose
// TraitsOf(type).supported is true has an entry (checked by quant_test).
const RowKernels* FindRowKernels(GgmlType type);

// quant_float.cpp
void DequantizeF32(const void* src, float* dst, int64_t n);
void QuantizeF32(const float* src, void* dst, int64_t n);
void DequantizeF16(const void* src, float* dst, int64_t n);
void QuantizeF16(const float* src, void* dst, int64_t n);
void DequantizeBF16(const void* src, float* dst, int64_t n);
void QuantizeBF16(const float* src, void* dst, int64_t n);

// quant_legacy.cpp: the 32-element formats.
void DequantizeQ4_0(const void* src, float* dst, int64_t n);
void QuantizeQ4_0(const float* src, void* dst, int64_t n);
void DequantizeQ4_1(const void* src, float* dst, int64_t n);
void QuantizeQ4_1(const float* src, void* dst, int64_t n);
void DequantizeQ5_0(const void* src, float* dst, int64_t n);
void QuantizeQ5_0(const float* src, void* dst, int64_t n);
void DequantizeQ8_0(const void* src, float* dst, int64_t n);
void QuantizeQ8_0(const float* src, void* dst, int64_t n);

// quant_kquants.cpp: the 256-element super-block formats.
void DequantizeQ4_K(const void* src, float* dst, int64_t n);
void QuantizeQ4_K(const float* src, void* dst, int64_t n);
void DequantizeQ5_K(const void* src, float* dst, int64_t n);
void QuantizeQ5_K(const float* src, void* dst, int64_t n);
void DequantizeQ6_K(const void* src, float* dst, int64_t n);
void QuantizeQ6_K(const float* src, void* dst, int64_t n);

}  // namespace ps::quant_internal
