#include "worker/backend/cuda/runtime/device_matmul.h"

#include <algorithm>

#include "worker/backend/cuda/launch_config.h"
#include "worker/backend/cuda/runtime/cuda_check.h"

namespace ps::cuda {

Result<DeviceMatMul> DeviceMatMul::Create(cudaStream_t stream, cublasHandle_t cublas, int64_t max_weight_elems) {
  DeviceMatMul m;
  m.stream_ = stream;
  m.cublas_ = cublas;
  const int64_t elems = std::min(max_weight_elems, kWeightScratchElems);
  PS_ASSIGN_OR_RETURN(m.weight_f16_, DeviceBuffer::Allocate(static_cast<size_t>(elems) * sizeof(uint16_t)));
  return m;
}

Status DeviceMatMul::Multiply(const DeviceMatrix& w, const float* x, int64_t n, float* y) {
  if (n == 0) return Status::Ok();
  if (UseGemv(n)) return Gemv(w.view(), x, n, y, stream_);

  const int64_t rows = w.rows();
  const int64_t cols = w.cols();
  const size_t x_bytes = static_cast<size_t>(n * cols) * sizeof(uint16_t);
  if (x_f16_.bytes() < x_bytes) {
    // Earlier products on the stream may still read the old buffer: let them finish first.
    PS_CUDA_CHECK(cudaStreamSynchronize(stream_));
    PS_RETURN_IF_ERROR(EnsureCapacity(x_f16_, x_bytes));
  }
  PS_RETURN_IF_ERROR(ToF16(x, n * cols, x_f16_.as<uint16_t>(), stream_));
  const int64_t budget = static_cast<int64_t>(weight_f16_.bytes() / sizeof(uint16_t));
  const int64_t chunk = GemmChunkRows(rows, cols, budget);
  if (chunk * cols > budget) {
    return Status::Internal("CUDA matmul: a " + std::to_string(cols) + "-wide row does not fit the F16 scratch of " +
                            std::to_string(budget) + " elements");
  }
  const float alpha = 1.0f;
  const float beta = 0.0f;
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t m = std::min(chunk, rows - r0);
    PS_RETURN_IF_ERROR(DequantizeRowsF16(w.view(), r0, m, weight_f16_.as<uint16_t>(), stream_));
    // Column-major view: y^T[rows, n] (ld rows) = W[rows, cols] · x^T[cols, n]. The chunk stored
    // row-major [m, cols] is W_chunk^T column-major (ld cols), hence OP_T; x row-major [n, cols] is
    // x^T column-major (ld cols). The chunk's outputs start at row r0 of y^T.
    PS_CUBLAS_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(m), static_cast<int>(n),
                                 static_cast<int>(cols), &alpha, weight_f16_.as<uint16_t>(), CUDA_R_16F,
                                 static_cast<int>(cols), x_f16_.as<uint16_t>(), CUDA_R_16F, static_cast<int>(cols),
                                 &beta, y + r0, CUDA_R_32F, static_cast<int>(rows), CUBLAS_COMPUTE_32F,
                                 CUBLAS_GEMM_DEFAULT));
  }
  return Status::Ok();
}

}  // namespace ps::cuda
