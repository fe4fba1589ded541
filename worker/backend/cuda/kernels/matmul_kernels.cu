// Kernels that read weight matrices in their stored type: the decode GEMV, dequantization to
// F16 for the cuBLAS prompt path, and the embedding lookup; plus the F32 -> F16 activation cast.
// Every one decodes with weight_decode.cuh, so all types share one code path per kernel.
#include <cuda_fp16.h>

#include <string>
#include <type_traits>

#include "worker/backend/cuda/kernels/kernels.h"
#include "worker/backend/cuda/kernels/warp_reduce.cuh"
#include "worker/backend/cuda/kernels/weight_decode.cuh"
#include "worker/backend/cuda/launch_config.h"
#include "worker/backend/cuda/runtime/cuda_check.h"

namespace ps::cuda {

namespace {

// Calls fn(std::integral_constant<GgmlType, T>) for the runtime type, so each launcher is
// written once and instantiated for every readable type.
template <typename Fn>
Status ForType(GgmlType type, Fn&& fn) {
  using G = GgmlType;
  switch (type) {
    case G::F32: return fn(std::integral_constant<G, G::F32>{});
    case G::F16: return fn(std::integral_constant<G, G::F16>{});
    case G::BF16: return fn(std::integral_constant<G, G::BF16>{});
    case G::Q4_0: return fn(std::integral_constant<G, G::Q4_0>{});
    case G::Q4_1: return fn(std::integral_constant<G, G::Q4_1>{});
    case G::Q5_0: return fn(std::integral_constant<G, G::Q5_0>{});
    case G::Q8_0: return fn(std::integral_constant<G, G::Q8_0>{});
    case G::Q4_K: return fn(std::integral_constant<G, G::Q4_K>{});
    case G::Q5_K: return fn(std::integral_constant<G, G::Q5_K>{});
    case G::Q6_K: return fn(std::integral_constant<G, G::Q6_K>{});
    default: break;
  }
  return Status::Unsupported("CUDA kernels: no decoder for type " + std::string(TypeName(type)));
}

// One warp per weight row. Per tile: the warp copies tile_blocks whole blocks of its row into
// its shared-memory slice with coalesced 16-byte loads, then lane l decodes units l, l + 32, ...
// of the tile and multiplies them with the matching 32 activations of each batch row.
template <GgmlType T>
__global__ void __launch_bounds__(kGemvWarpsPerBlock * kWarpSize)
    GemvKernel(const uint8_t* __restrict__ w, size_t pitch, int64_t rows, int64_t cols,
               const float* __restrict__ x, int n, float* __restrict__ y) {
  constexpr WeightFormat kF = FormatOf(T);
  constexpr int kUnits = kF.units_per_block();
  static_assert(kF.tile_bytes() % 16 == 0, "a tile must be whole 16-byte chunks");
  __shared__ uint4 stage_all[kGemvWarpsPerBlock][kF.tile_bytes() / 16];

  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kGemvWarpsPerBlock + warp;
  if (row >= rows) return;  // the whole warp leaves together; no block-wide barrier follows

  uint4* stage = stage_all[warp];
  const uint8_t* staged = reinterpret_cast<const uint8_t*>(stage);
  const uint8_t* w_row = w + row * pitch;
  const int64_t n_blocks = cols / kF.block_elems;
  float acc[kGemvMaxRows] = {};

  for (int64_t first = 0; first < n_blocks; first += kF.tile_blocks) {
    const int blocks = static_cast<int>(n_blocks - first < kF.tile_blocks ? n_blocks - first : kF.tile_blocks);
    // Rounded up to 16 bytes: the last tile may read row padding, never past the pitch.
    const int chunks = (blocks * kF.block_bytes + 15) / 16;
    const uint4* src = reinterpret_cast<const uint4*>(w_row + first * kF.block_bytes);
    for (int c = lane; c < chunks; c += kWarpSize) stage[c] = __ldg(src + c);
    __syncwarp();

    const int units = blocks * kUnits;
    for (int u = lane; u < units; u += kWarpSize) {
      float wv[kUnitElems];
      DecodeUnit<T>(staged, u, wv);
      const int64_t e0 = (first + u / kUnits) * kF.block_elems + (u % kUnits) * kUnitElems;
#pragma unroll
      for (int j = 0; j < kGemvMaxRows; ++j) {
        if (j < n) {
          const float4* xv = reinterpret_cast<const float4*>(x + j * cols + e0);
          float s = 0.0f;
#pragma unroll
          for (int k = 0; k < kUnitElems / 4; ++k) {
            const float4 a = __ldg(xv + k);
            s += wv[4 * k] * a.x + wv[4 * k + 1] * a.y + wv[4 * k + 2] * a.z + wv[4 * k + 3] * a.w;
          }
          acc[j] += s;
        }
      }
    }
    __syncwarp();  // the stage is rewritten by the next tile
  }
#pragma unroll
  for (int j = 0; j < kGemvMaxRows; ++j) {
    if (j < n) {
      const float total = WarpSum(acc[j]);
      if (lane == 0) y[j * rows + row] = total;
    }
  }
}

// One thread per 32-element unit of rows [first_row, first_row + n_rows).
template <GgmlType T>
__global__ void DequantizeF16Kernel(const uint8_t* __restrict__ w, size_t pitch, int64_t first_row, int64_t n_rows,
                                    int64_t cols, __half* __restrict__ out) {
  const int64_t units_per_row = cols / kUnitElems;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n_rows * units_per_row) return;
  const int64_t r = idx / units_per_row;
  const int64_t u = idx % units_per_row;
  float v[kUnitElems];
  DecodeUnit<T>(w + (first_row + r) * pitch, u, v);
  __half2* dst = reinterpret_cast<__half2*>(out + r * cols + u * kUnitElems);
#pragma unroll
  for (int k = 0; k < kUnitElems / 2; ++k) dst[k] = __floats2half2_rn(v[2 * k], v[2 * k + 1]);
}

// One thread per 32-element unit of the gathered rows.
template <GgmlType T>
__global__ void GatherRowsKernel(const uint8_t* __restrict__ w, size_t pitch, int64_t cols,
                                 const int32_t* __restrict__ row_ids, int64_t n, float* __restrict__ out) {
  const int64_t units_per_row = cols / kUnitElems;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * units_per_row) return;
  const int64_t i = idx / units_per_row;
  const int64_t u = idx % units_per_row;
  float v[kUnitElems];
  DecodeUnit<T>(w + row_ids[i] * static_cast<int64_t>(pitch), u, v);
  float4* dst = reinterpret_cast<float4*>(out + i * cols + u * kUnitElems);
#pragma unroll
  for (int k = 0; k < kUnitElems / 4; ++k) dst[k] = make_float4(v[4 * k], v[4 * k + 1], v[4 * k + 2], v[4 * k + 3]);
}

__global__ void ToF16Kernel(const float* __restrict__ x, int64_t count, __half* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) out[i] = __float2half_rn(x[i]);
}

}  // namespace

Status Gemv(const DeviceMatrixView& w, const float* x, int64_t n, float* y, cudaStream_t stream) {
  if (n == 0) return Status::Ok();
  if (n < 0 || n > kGemvMaxRows) {
    return Status::Internal("Gemv: " + std::to_string(n) + " rows, at most " + std::to_string(kGemvMaxRows));
  }
  PS_ASSIGN_OR_RETURN(const uint32_t grid, GridBlocks(w.rows, kGemvWarpsPerBlock));
  return ForType(w.type, [&](auto tag) -> Status {
    GemvKernel<decltype(tag)::value><<<grid, kGemvWarpsPerBlock * kWarpSize, 0, stream>>>(
        w.data, w.pitch, w.rows, w.cols, x, static_cast<int>(n), y);
    PS_CUDA_CHECK_LAUNCH("GemvKernel");
    return Status::Ok();
  });
}

Status DequantizeRowsF16(const DeviceMatrixView& w, int64_t first_row, int64_t n_rows, uint16_t* out,
                         cudaStream_t stream) {
  if (n_rows == 0) return Status::Ok();
  PS_ASSIGN_OR_RETURN(const uint32_t grid, GridBlocks(n_rows * (w.cols / kUnitElems), kElementwiseThreads));
  return ForType(w.type, [&](auto tag) -> Status {
    DequantizeF16Kernel<decltype(tag)::value><<<grid, kElementwiseThreads, 0, stream>>>(
        w.data, w.pitch, first_row, n_rows, w.cols, reinterpret_cast<__half*>(out));
    PS_CUDA_CHECK_LAUNCH("DequantizeF16Kernel");
    return Status::Ok();
  });
}

Status GatherRowsF32(const DeviceMatrixView& w, const int32_t* row_ids, int64_t n, float* out, cudaStream_t stream) {
  if (n == 0) return Status::Ok();
  PS_ASSIGN_OR_RETURN(const uint32_t grid, GridBlocks(n * (w.cols / kUnitElems), kElementwiseThreads));
  return ForType(w.type, [&](auto tag) -> Status {
    GatherRowsKernel<decltype(tag)::value><<<grid, kElementwiseThreads, 0, stream>>>(w.data, w.pitch, w.cols,
                                                                                      row_ids, n, out);
    PS_CUDA_CHECK_LAUNCH("GatherRowsKernel");
    return Status::Ok();
  });
}

Status ToF16(const float* x, int64_t count, uint16_t* out, cudaStream_t stream) {
  if (count == 0) return Status::Ok();
  PS_ASSIGN_OR_RETURN(const uint32_t grid, GridBlocks(count, kElementwiseThreads));
  ToF16Kernel<<<grid, kElementwiseThreads, 0, stream>>>(x, count, reinterpret_cast<__half*>(out));
  PS_CUDA_CHECK_LAUNCH("ToF16Kernel");
  return Status::Ok();
}

}  // namespace ps::cuda
