// The element-wise and per-row operations of a Llama layer, on F32 rows, written so the compiler
// can vectorise the inner loops. Their rounding follows ggml's CPU kernels where that decides
// llama.cpp's tokens (rms_norm sums in double; rope advances theta by repeated multiplication).
// These are the scalar / reference level kernels; RowKernelsFor picks them or the avx2 ones
// (kernels/ops_avx2.h) for the per-row steps of the forward pass.
// Thread-safety: pure functions; RopeTable is immutable after construction.
#pragma once

#include <cstdint>
#include <vector>

#include "worker/backend/cpu/kernel_level.h"

namespace ps::cpu {

// sum_i a[i] * b[i]: products in F32, summed in double as ggml's F32/F16/BF16 dot products do,
// in 16 independent partial sums (vectorisable without fast-math, and the same order for every
// call, so results never depend on the caller). With double sums the order almost never changes
// the final float, so this rounds as ggml's one-after-another double sum does.
float DotF32(const float* a, const float* b, int64_t n);
// out[j] = DotF32(w[j], x, n) for j < 4, bit for bit, reading x once for four rows.
void Dot4F32(const float* const w[4], const float* x, int64_t n, float out[4]);

// y[i] += a * x[i]
void AxpyF32(float a, const float* x, float* y, int64_t n);

// out = x / sqrt(mean(x^2) + eps) * weight. ggml accumulates the squares in double and rounds
// the mean to float before adding eps; so does this.
void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// When add != nullptr: x[i] += add[i] (written back, in F32, as ggml's add). Then
// RmsNorm(x, weight) into out. out may equal x.
void AddRmsNorm(float* x, const float* add, const float* weight, int64_t n, float eps, float* out);

// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)). Element-wise, so any split of a
// range gives the same values.
void SwiGlu(const float* gate, const float* up, int64_t n, float* out);

// Rotates the first n_rot dimensions of each of n_heads heads (head_dim apart) by the angles
// RopeTable::Angles wrote to cos_sin: x0' = x0 c - x1 s, x1' = x0 s + x1 c.
void RopeRotate(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cos_sin);

// The same rotation in Qwen's layout (llama.cpp's NEOX RoPE): dimension i turns with i + n_rot/2,
// by pair i's angle. One scalar version serves every level: the loop is contiguous, so the
// compiler vectorises it, and it is a small share of a layer's time.
void RopeRotateNeox(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cos_sin);

// The per-row kernels of one kernel level: the scalar functions above for kScalar and
// kReference, the kernels/ops_avx2.h ones for kAvx2.
struct RowKernels {
  void (*add_rms_norm)(float* x, const float* add, const float* weight, int64_t n, float eps, float* out);
  void (*swiglu)(const float* gate, const float* up, int64_t n, float* out);
  void (*rope_rotate)(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cos_sin);
};
// level: a resolved level (not kAuto).
const RowKernels& RowKernelsFor(KernelLevel level);

// llama.cpp parity: with quantized weights every layer re-quantizes its activations to 8 bits,
// which turns last-bit differences into whole quantization steps and, later, other tokens. So
// the float dot products sum in double (DotF32) and SiLU's exp is ggml's vectorised exp
// algorithm (ExpPoly), not the C library's.
float ExpPoly(float x);

// Rounds every element to the nearest F16 (or BF16) value, kept in F32: what llama.cpp does to
// activations before multiplying them with F16 (BF16) weights.
void RoundToF16(const float* x, float* out, int64_t n);
void RoundToBf16(const float* x, float* out, int64_t n);

// Rotary embedding angles (for LLAMA_ROPE_TYPE_NORM, adjacent pairs (2i, 2i+1) rotate together;
// for NEOX, i and i + n_rot/2).
// theta_i = pos * base^(-2i/n_rot) / freq_factor[i]; dimensions past n_rot are left alone.
class RopeTable {
 public:
  // freq_factors: n_rot/2 divisors (Llama 3.1 rope_freqs) or empty.
  RopeTable(int64_t head_dim, int64_t n_rot, float freq_base, std::vector<float> freq_factors);
  int64_t head_dim() const { return head_dim_; }
  int64_t n_rot() const { return n_rot_; }
  // The rotation of position pos: cos_sin[2i] = cos(theta_i), cos_sin[2i + 1] = sin(theta_i) for
  // the n_rot / 2 pairs. Computed once per token and used by every layer (RowKernels::rope_rotate).
  void Angles(int32_t pos, float* cos_sin) const;

 private:
  int64_t head_dim_;
  int64_t n_rot_;
  float theta_scale_;  // base^(-2/n_rot), multiplied in step by step as ggml does
  std::vector<float> freq_factors_;
};

}  // namespace ps::cpu
