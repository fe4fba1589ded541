// The fast (KernelLevel::kAvx2) element-wise and per-row kernels of the forward pass: residual
// add + RMSNorm in one pass, SwiGLU with an 8-lane exp, RoPE rotation, and F16 rounding for the
// KV cache. They round differently from the reference ops (ops.h): FMA, float partial sums. But
// each output element is computed by the same instructions wherever it falls: a row's tail goes
// through the same vector code with masked loads, so slicing a row, or a flat range of rows,
// anywhere gives the same bits (SwiGLU is split by elements over the threads).
// Call only when CpuHasAvx2Fma().
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

namespace ps::cpu {

// When add != nullptr: x[i] += add[i] (written back). Then out = x / sqrt(mean(x^2) + eps) *
// weight, the squares summed in 32 float partial sums in a fixed order. out may equal x.
void AddRmsNormAvx2(float* x, const float* add, const float* weight, int64_t n, float eps, float* out);

// out[i] = gate[i] / (1 + exp(-gate[i])) * up[i]; out may equal gate or up.
void SwiGluAvx2(const float* gate, const float* up, int64_t n, float* out);

// Rotates the first n_rot dimensions of each of n_heads heads (head_dim apart) by the angles
// RopeTable::Angles wrote to cos_sin ([cos0, sin0, cos1, sin1, ...], n_rot floats).
void RopeRotateAvx2(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cos_sin);

// dst = src rounded to F16 (round to nearest even).
void RoundToF16RowAvx2(const float* src, uint16_t* dst, int64_t n);

}  // namespace ps::cpu
