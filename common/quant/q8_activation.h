// Quantized matrix products the way llama.cpp's CPU backend computes them. llama.cpp does not
// multiply quantized weights with F32 activations: it first quantizes each activation row to the
// weight type's companion 8-bit format (ggml's "vec_dot_type": Q8_0 for q4_0 / q5_0 / q8_0, Q8_1
// for q4_1, Q8_K for the k-quants), then sums integer products per block and scales them in
// float. Those roundings decide its greedy tokens, so pipeshard repeats them exactly:
//   - QuantizeActivationRow equals ggml's quantize_row_q8_{0,1,K}_ref byte for byte. That is what
//     llama.cpp runs on CPUs without AVX, and what the prebuilt llama.node we test against runs
//     everywhere (it is built for baseline x86-64).
//   - the dot kernels equal ggml's portable vec_dot kernels (ggml_vec_dot_*_q8_*_generic and the
//     x86 scalar fallbacks) bit for bit: the same integer sums, the same float products in the same
//     association, added in the same order.
// The AVX2 kernels compute the same integers with vector instructions and then do ggml's float
// steps in ggml's order, so they return exactly what the scalar kernels return (quant_test checks
// this); they are picked at run time only on CPUs that have AVX2.
// Thread-safety: pure functions; the kernel choice is made once, thread-safely, on first use.
#pragma once

#include <cstdint>
#include <optional>

#include "common/quant/ggml_type.h"

namespace ps {

// The format activations are quantized to before a product with rows of `weight`: Q8_0, Q8_1
// or Q8_K. nullopt for the float types (llama.cpp multiplies those in float) and for types
// pipeshard does not support.
std::optional<GgmlType> ActivationType(GgmlType weight);

// Quantizes n activations (a multiple of the format's block size) to act_type (Q8_0, Q8_1 or
// Q8_K), writing RowBytes(act_type, n) bytes; Q8_K output needs 4-byte alignment. Any other
// act_type writes nothing (callers take act_type from ActivationType).
void QuantizeActivationRow(GgmlType act_type, const float* x, void* dst, int64_t n);

// Dot product of one stored row of `weight` type with an activation row of n elements quantized
// to ActivationType(weight). Both need only the alignment of their block structs.
using QuantizedDotFn = float (*)(const void* weight_row, const void* act_row, int64_t n);

enum class DotKernels {
  kFastest,  // AVX2 where the CPU has it, else scalar; same results either way
  kScalar,   // the plain C++ reference kernels
};

// The kernel for `weight`, or nullptr when ActivationType(weight) is nullopt.
QuantizedDotFn FindQuantizedDot(GgmlType weight, DotKernels which = DotKernels::kFastest);

// True when kFastest picks the AVX2 kernels on this machine.
bool QuantizedDotUsesAvx2();

}  // namespace ps
