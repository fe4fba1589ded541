// The per-row and element-wise steps of a Llama layer on the device: RMSNorm, RoPE, SwiGLU, the
// residual add and the F16 KV-cache store. Float arithmetic follows the CPU backend's ops.h
// (norm scales then multiplies by the weight; rope's theta advances by repeated multiplication),
// except that sums run in F32 in a block-reduction order and exp/sin/cos are CUDA's.
#include <cuda_fp16.h>

#include "worker/backend/cuda/kernels/kernels.h"
#include "worker/backend/cuda/kernels/warp_reduce.cuh"
#include "worker/backend/cuda/launch_config.h"
#include "worker/backend/cuda/runtime/cuda_check.h"

namespace ps::cuda {

namespace {

// One block per row.
__global__ void __launch_bounds__(kNormThreads)
    RmsNormKernel(const float* __restrict__ x, const float* __restrict__ weight, int64_t cols, float eps,
                  float* out) {
  __shared__ float scratch[32];
  const float* xr = x + static_cast<int64_t>(blockIdx.x) * cols;
  float* yr = out + static_cast<int64_t>(blockIdx.x) * cols;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) sum += xr[i] * xr[i];
  sum = BlockSum(sum, scratch);
  const float scale = 1.0f / sqrtf(sum / static_cast<float>(cols) + eps);
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) yr[i] = (xr[i] * scale) * weight[i];
}

// One thread per (row, head, pair).
__global__ void RopeKernel(float* x, int64_t n, const int32_t* __restrict__ positions, RopeParams p) {
  const int64_t pairs = p.n_rot / 2;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * p.n_heads * pairs) return;
  const int64_t i = idx % pairs;
  const int64_t head = (idx / pairs) % p.n_heads;
  const int64_t row = idx / (pairs * p.n_heads);
  float theta = static_cast<float>(positions[row]);
  for (int64_t k = 0; k < i; ++k) theta *= p.theta_scale;  // the CPU's rounding of theta
  if (p.freq_factors != nullptr) theta /= p.freq_factors[i];
  float s, c;
  sincosf(theta, &s, &c);
  float* v = x + row * p.n_heads * p.head_dim + head * p.head_dim + 2 * i;
  const float x0 = v[0];
  const float x1 = v[1];
  v[0] = x0 * c - x1 * s;
  v[1] = x0 * s + x1 * c;
}

__global__ void SwiGluKernel(float* gate, const float* __restrict__ up, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) {
    const float g = gate[i];
    gate[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

__global__ void AddKernel(float* dst, const float* __restrict__ src, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) dst[i] += src[i];
}

// One thread per (row, element).
__global__ void StoreKvKernel(const float* __restrict__ k, const float* __restrict__ v, int64_t n,
                              const int32_t* __restrict__ seq_ids, const int32_t* __restrict__ positions,
                              KvLayerView kv) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * kv.n_embd_kv) return;
  const int64_t row = idx / kv.n_embd_kv;
  const int64_t e = idx % kv.n_embd_kv;
  const int64_t at = kv.layer_offset + static_cast<int64_t>(positions[row]) * kv.n_embd_kv + e;
  const int32_t seq = seq_ids[row];
  kv.keys[seq][at] = __half_as_ushort(__float2half_rn(k[idx]));
  kv.values[seq][at] = __half_as_ushort(__float2half_rn(v[idx]));
}

}  // namespace

Status RmsNorm(const float* x, const float* weight, int64_t n, int64_t cols, float eps, float* out,
               cudaStream_t stream) {
  if (n == 0) return Status::Ok();
  PS_ASSIGN_OR_RETURN(const uint32_t grid, GridBlocks(n, 1));
  RmsNormKernel<<<grid, kNormThreads, 0, stream>>>(x, weight, cols, eps, out);
  PS_CUDA_CHECK_LAUNCH("RmsNormKernel");
  return Status::Ok();
}

Status Rope(float* x, int64_t n, const int32_t* positions, const RopeParams& params, cudaStream_t stream) {
  if (n == 0) return Status::Ok();
  PS_ASSIGN_OR_RETURN(const uint32_t grid, GridBlocks(n * params.n_heads * (params.n_rot / 2), kElementwiseThreads));
  RopeKernel<<<grid, kElementwiseThreads, 0, stream>>>(x, n, positions, params);
  PS_CUDA_CHECK_LAUNCH("RopeKernel");
  return Status::Ok();
}

Status SwiGlu(float* gate, const float* up, int64_t count, cudaStream_t stream) {
  if (count == 0) return Status::Ok();
  PS_ASSIGN_OR_RETURN(const uint32_t grid, GridBlocks(count, kElementwiseThreads));
  SwiGluKernel<<<grid, kElementwiseThreads, 0, stream>>>(gate, up, count);
  PS_CUDA_CHECK_LAUNCH("SwiGluKernel");
  return Status::Ok();
}

Status AddInPlace(float* dst, const float* src, int64_t count, cudaStream_t stream) {
  if (count == 0) return Status::Ok();
  PS_ASSIGN_OR_RETURN(const uint32_t grid, GridBlocks(count, kElementwiseThreads));
  AddKernel<<<grid, kElementwiseThreads, 0, stream>>>(dst, src, count);
  PS_CUDA_CHECK_LAUNCH("AddKernel");
  return Status::Ok();
}

Status StoreKv(const float* k, const float* v, int64_t n, const int32_t* seq_ids, const int32_t* positions,
               const KvLayerView& kv, cudaStream_t stream) {
  if (n == 0) return Status::Ok();
  PS_ASSIGN_OR_RETURN(const uint32_t grid, GridBlocks(n * kv.n_embd_kv, kElementwiseThreads));
  StoreKvKernel<<<grid, kElementwiseThreads, 0, stream>>>(k, v, n, seq_ids, positions, kv);
  PS_CUDA_CHECK_LAUNCH("StoreKvKernel");
  return Status::Ok();
}

}  // namespace ps::cuda
