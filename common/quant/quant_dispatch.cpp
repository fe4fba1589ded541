// The public row API of quant.h: looks up a type's kernels once per row and runs them.
#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "common/quant/blocks.h"
#include "common/quant/quant.h"
#include "common/quant/row_kernels.h"

namespace ps {

namespace quant_internal {

namespace {
// One entry per type whose TraitsOf(type).supported is true; quant_test checks the two agree.
constexpr std::array<RowKernels, 10> kRowKernels = {{
    {GgmlType::F32, DequantizeF32, QuantizeF32},
    {GgmlType::F16, DequantizeF16, QuantizeF16},
    {GgmlType::BF16, DequantizeBF16, QuantizeBF16},
    {GgmlType::Q4_0, DequantizeQ4_0, QuantizeQ4_0},
    {GgmlType::Q4_1, DequantizeQ4_1, QuantizeQ4_1},
    {GgmlType::Q5_0, DequantizeQ5_0, QuantizeQ5_0},
    {GgmlType::Q8_0, DequantizeQ8_0, QuantizeQ8_0},
    {GgmlType::Q4_K, DequantizeQ4_K, QuantizeQ4_K},
    {GgmlType::Q5_K, DequantizeQ5_K, QuantizeQ5_K},
    {GgmlType::Q6_K, DequantizeQ6_K, QuantizeQ6_K},
}};
}  // namespace

const RowKernels* FindRowKernels(GgmlType type) {
  for (const RowKernels& k : kRowKernels) {
    if (k.type == type) return &k;
  }
  return nullptr;
}

}  // namespace quant_internal

// A violated precondition (an unsupported type) must not read or write out of bounds, and must
// not pass silently either: the row comes out as NaN, which every consumer notices.
void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n) {
  const quant_internal::RowKernels* k = quant_internal::FindRowKernels(type);
  if (k == nullptr) {
    std::fill(dst, dst + n, std::numeric_limits<float>::quiet_NaN());
    return;
  }
  k->dequantize(src, dst, n);
}

void QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n) {
  const quant_internal::RowKernels* k = quant_internal::FindRowKernels(type);
  if (k == nullptr) {
    // Unsupported: leave a zeroed row of the right size, the one thing we can write safely.
    const Result<size_t> bytes = RowBytes(type, n);
    if (bytes.ok()) std::memset(dst, 0, *bytes);
    return;
  }
  k->quantize(src, dst, n);
}

float DotRow(GgmlType type, const void* row, const float* x, int64_t n) {
  const quant_internal::RowKernels* k = quant_internal::FindRowKernels(type);
  if (k == nullptr) return std::numeric_limits<float>::quiet_NaN();
  const TypeTraits traits = TraitsOf(type);
  // A group is one block of a quantized type and kQK elements of a float type (whose blocks are
  // single elements); each group is dequantized into a stack buffer and dotted in F32.
  const int64_t group = std::max<int64_t>(traits.block_size, kQK);
  const auto* bytes = static_cast<const unsigned char*>(row);
  float buf[kQK_K];
  float sum = 0.0f;
  for (int64_t start = 0; start < n; start += group) {
    const int64_t len = std::min(group, n - start);
    k->dequantize(bytes + static_cast<size_t>(start / traits.block_size) * traits.block_bytes, buf, len);
    float partial = 0.0f;
    for (int64_t i = 0; i < len; ++i) partial += buf[i] * x[start + i];
    sum += partial;
  }
  return sum;
}

}  // namespace ps
