// Host-callable launchers of the CUDA backend's kernels. Every pointer is device memory; every
// launcher enqueues on `stream` and returns a Status naming the kernel when the launch fails (an
// empty launch, n == 0, does nothing). Shapes: a row-major [n, cols] buffer holds n rows of cols
// floats; F16 buffers hold IEEE binary16 bits as uint16_t.
// Thread-safety: launchers are stateless; ordering is the stream's.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "common/quant/ggml_type.h"
#include "common/util/status.h"

namespace ps::cuda {

// A weight matrix on the device in its stored type: `rows` rows of `cols` elements, row r at
// data + r * pitch (pitch = RowPitch(row bytes), weight_format.h; padding bytes zeroed).
struct DeviceMatrixView {
  GgmlType type = GgmlType::F32;
  const uint8_t* data = nullptr;
  size_t pitch = 0;
  int64_t rows = 0;
  int64_t cols = 0;
};

// ---- matrix kernels (matmul_kernels.cu) ----

// y[i, r] = sum_c W[r, c] * x[i, c] for i < n <= kGemvMaxRows: one warp per weight row, the row
// staged through shared memory with 16-byte loads, F32 accumulation, warp-shuffle reduction.
// x: [n, w.cols], y: [n, w.rows].
Status Gemv(const DeviceMatrixView& w, const float* x, int64_t n, float* y, cudaStream_t stream);

// out[r - first_row, :] = F16(W[r, :]) for r in [first_row, first_row + n_rows).
Status DequantizeRowsF16(const DeviceMatrixView& w, int64_t first_row, int64_t n_rows, uint16_t* out,
                         cudaStream_t stream);

// out[i, :] = W[row_ids[i], :] in F32 for i < n (the embedding lookup). Ids must be < w.rows.
Status GatherRowsF32(const DeviceMatrixView& w, const int32_t* row_ids, int64_t n, float* out, cudaStream_t stream);

// out[i] = F16(x[i]) (round to nearest even) for i < count.
Status ToF16(const float* x, int64_t count, uint16_t* out, cudaStream_t stream);

// ---- per-row and element-wise kernels (layer_kernels.cu) ----

// out[i, :] = x[i, :] / sqrt(mean(x[i, :]^2) + eps) * weight for i < n. out may equal x.
Status RmsNorm(const float* x, const float* weight, int64_t n, int64_t cols, float eps, float* out,
               cudaStream_t stream);

struct RopeParams {
  int64_t n_heads = 0;     // heads in each row: row width is n_heads * head_dim
  int64_t head_dim = 0;
  int64_t n_rot = 0;       // even, <= head_dim; dimensions past it are left alone
  float theta_scale = 0;   // freq_base^(-2 / n_rot), computed on the host as the CPU backend does
  const float* freq_factors = nullptr;  // [n_rot / 2] divisors, or null
};
// Rotates adjacent pairs (2i, 2i+1) of every head of row i by positions[i] * theta_scale^i /
// freq_factors[i] (LLAMA_ROPE_TYPE_NORM), in place. x: [n, n_heads * head_dim].
Status Rope(float* x, int64_t n, const int32_t* positions, const RopeParams& params, cudaStream_t stream);

// gate[i] = silu(gate[i]) * up[i] for i < count.
Status SwiGlu(float* gate, const float* up, int64_t count, cudaStream_t stream);

// dst[i] += src[i] for i < count.
Status AddInPlace(float* dst, const float* src, int64_t count, cudaStream_t stream);

// One layer of the F16 KV cache: sequence s's keys of position p are the n_embd_kv halves at
// keys[s] + layer_offset + p * n_embd_kv (likewise values). keys/values are device arrays of
// per-sequence device pointers.
struct KvLayerView {
  uint16_t* const* keys = nullptr;
  uint16_t* const* values = nullptr;
  int64_t layer_offset = 0;
  int64_t n_embd_kv = 0;
};

// Writes row i of k and v ([n, n_embd_kv] F32) as F16 at (seq_ids[i], positions[i]).
Status StoreKv(const float* k, const float* v, int64_t n, const int32_t* seq_ids, const int32_t* positions,
               const KvLayerView& kv, cudaStream_t stream);

// ---- attention (attention_kernel.cu) ----

struct AttentionParams {
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // <= kMaxHeadDim
  float scale = 0;       // 1 / sqrt(head_dim)
};
// Causal grouped-query attention: head h of row i (sequence seq_ids[i], position p = positions[i])
// attends to kv head h / (n_head / n_head_kv) at positions 0..p of its sequence; softmax of
// scaled scores, online over tiles of kAttentionTile positions, F32 accumulation.
// q, out: [n, n_head * head_dim].
Status Attention(const float* q, int64_t n, const int32_t* seq_ids, const int32_t* positions,
                 const KvLayerView& kv, const AttentionParams& params, float* out, cudaStream_t stream);

}  // namespace ps::cuda
