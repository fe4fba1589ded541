// Sums across a warp and a block by shuffles, used by the GEMV, norm and attention kernels.
// Thread-safety: device functions; BlockSum needs every thread of the block to call it.
#pragma once

namespace ps::cuda {

// Every lane gets the sum of v over the 32 lanes (butterfly order, the same on every lane).
__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Every thread gets the sum of v over the block (blockDim.x a multiple of 32, at most 1024).
// `scratch` is 32 floats of shared memory, free again when this returns.
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int warps = blockDim.x / 32;
  v = WarpSum(v);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = lane < warps ? scratch[lane] : 0.0f;
  total = WarpSum(total);
  __syncthreads();  // scratch may be reused by the caller
  return total;
}

}  // namespace ps::cuda
