// Matrix products y[n, rows] = x[n, cols] · W^T against a DeviceMatrix in its stored type:
// batches of up to kGemvMaxRows rows run the GEMV kernel; larger ones (prompts) dequantize the
// weight to F16 a chunk of rows at a time, cast x to F16 and call cublasGemmEx (F16 inputs, F32
// accumulation and output, tensor cores).
// Thread-safety: owns scratch; one call at a time per instance.
#pragma once

#include <cstdint>

#include "worker/backend/cuda/runtime/device_resources.h"
#include "worker/backend/cuda/runtime/device_weights.h"

namespace ps::cuda {

class DeviceMatMul {
 public:
  DeviceMatMul() = default;
  // Calls run on `stream` through `cublas` (whose stream must be `stream`); both must outlive
  // this. max_weight_elems: the largest rows * cols of any matrix it will multiply (bounds the
  // F16 weight scratch, together with kWeightScratchElems).
  static Result<DeviceMatMul> Create(cudaStream_t stream, cublasHandle_t cublas, int64_t max_weight_elems);

  // y must not overlap x. Grows its activation scratch on the first large batch.
  Status Multiply(const DeviceMatrix& w, const float* x, int64_t n, float* y);

 private:
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  DeviceBuffer weight_f16_;  // [chunk rows, cols] F16
  DeviceBuffer x_f16_;       // [n, cols] F16
};

}  // namespace ps::cuda
