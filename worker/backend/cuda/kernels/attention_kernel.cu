// Causal grouped-query attention over the F16 KV cache, flash-attention style: one block per
// (row, query head) walks the row's cached positions in tiles of kAttentionTile, keeping a
// running maximum and sum (online softmax) and an F32 output accumulator, so memory does not
// grow with the context. Scores: one warp per position (lanes split the head dimensions);
// output: one thread per head dimension.
// Not done: splitting one long row over several blocks (split-K), which decode at long
// contexts needs to fill the GPU; here a decode step runs n_head blocks.
#include <cuda_fp16.h>

#include <cmath>

#include "worker/backend/cuda/kernels/kernels.h"
#include "worker/backend/cuda/kernels/warp_reduce.cuh"
#include "worker/backend/cuda/launch_config.h"
#include "worker/backend/cuda/runtime/cuda_check.h"

namespace ps::cuda {

namespace {

constexpr int kDimsPerThread = kMaxHeadDim / kAttentionThreads;
constexpr int kWarps = kAttentionThreads / kWarpSize;

__global__ void __launch_bounds__(kAttentionThreads)
    AttentionKernel(const float* __restrict__ q, const int32_t* __restrict__ seq_ids,
                    const int32_t* __restrict__ positions, KvLayerView kv, AttentionParams p,
                    float* __restrict__ out) {
  __shared__ float q_s[kMaxHeadDim];
  __shared__ float p_s[kAttentionTile];  // scores, then their exponentials
  const int64_t row = blockIdx.x / p.n_head;
  const int64_t head = blockIdx.x % p.n_head;
  const int tid = static_cast<int>(threadIdx.x);
  const int warp = tid / kWarpSize;
  const int lane = tid % kWarpSize;
  const int64_t d = p.head_dim;
  const int64_t width = p.n_head * d;

  for (int64_t i = tid; i < d; i += kAttentionThreads) q_s[i] = q[row * width + head * d + i];
  __syncthreads();

  const int32_t seq = seq_ids[row];
  const int32_t n_pos = positions[row] + 1;  // causal: 0..position
  const int64_t kv_head = head / (p.n_head / p.n_head_kv);
  const __half* keys = reinterpret_cast<const __half*>(kv.keys[seq]) + kv.layer_offset + kv_head * d;
  const __half* values = reinterpret_cast<const __half*>(kv.values[seq]) + kv.layer_offset + kv_head * d;

  float m = -INFINITY;  // running maximum score
  float sum = 0.0f;     // running sum of exp(score - m)
  float acc[kDimsPerThread] = {};
  for (int32_t t0 = 0; t0 < n_pos; t0 += kAttentionTile) {
    const int tile = n_pos - t0 < kAttentionTile ? n_pos - t0 : kAttentionTile;
    for (int j = warp; j < tile; j += kWarps) {
      const __half* k = keys + static_cast<int64_t>(t0 + j) * kv.n_embd_kv;
      float s = 0.0f;
      for (int64_t i = lane; i < d; i += kWarpSize) s += q_s[i] * __half2float(k[i]);
      s = WarpSum(s);
      if (lane == 0) p_s[j] = s * p.scale;
    }
    __syncthreads();
    float tile_max = -INFINITY;
    for (int j = 0; j < tile; ++j) tile_max = fmaxf(tile_max, p_s[j]);
    const float new_m = fmaxf(m, tile_max);
    const float rescale = expf(m - new_m);  // 0 on the first tile (m = -inf)
    __syncthreads();                        // every thread has read the scores
    for (int j = tid; j < tile; j += kAttentionThreads) p_s[j] = expf(p_s[j] - new_m);
    __syncthreads();
    float tile_sum = 0.0f;
    for (int j = 0; j < tile; ++j) tile_sum += p_s[j];
    sum = sum * rescale + tile_sum;
#pragma unroll
    for (int a = 0; a < kDimsPerThread; ++a) {
      const int64_t i = tid + a * kAttentionThreads;
      if (i < d) {
        float v = acc[a] * rescale;
        for (int j = 0; j < tile; ++j) v += p_s[j] * __half2float(values[static_cast<int64_t>(t0 + j) * kv.n_embd_kv + i]);
        acc[a] = v;
      }
    }
    m = new_m;
    __syncthreads();  // p_s is rewritten by the next tile
  }
  const float inv = sum == 0.0f ? 0.0f : 1.0f / sum;
#pragma unroll
  for (int a = 0; a < kDimsPerThread; ++a) {
    const int64_t i = tid + a * kAttentionThreads;
    if (i < d) out[row * width + head * d + i] = acc[a] * inv;
  }
}

}  // namespace

Status Attention(const float* q, int64_t n, const int32_t* seq_ids, const int32_t* positions, const KvLayerView& kv,
                 const AttentionParams& params, float* out, cudaStream_t stream) {
  if (n == 0) return Status::Ok();
  PS_RETURN_IF_ERROR(CheckHeadDim(params.head_dim));
  PS_ASSIGN_OR_RETURN(const uint32_t grid, GridBlocks(n * params.n_head, 1));
  AttentionKernel<<<grid, kAttentionThreads, 0, stream>>>(q, seq_ids, positions, kv, params, out);
  PS_CUDA_CHECK_LAUNCH("AttentionKernel");
  return Status::Ok();
}

}  // namespace ps::cuda
