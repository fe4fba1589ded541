// Check macros for every CUDA runtime and cuBLAS call: a failure returns a ps::Status from the
// enclosing function (which returns Status or Result<T>) naming the call, file and line; nothing
// aborts. Usage: PS_CUDA_CHECK(cudaMalloc(&p, n)); PS_CUBLAS_CHECK(cublasCreate(&h));
// Thread-safety: stateless.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "worker/backend/cuda/cuda_status.h"

namespace ps::cuda {

inline Status CudaFailure(cudaError_t error, const char* call, const char* file, int line) {
  FailureKind kind = FailureKind::kOther;
  if (error == cudaErrorMemoryAllocation) {
    kind = FailureKind::kOutOfMemory;
  } else if (error == cudaErrorNoDevice || error == cudaErrorInsufficientDriver || error == cudaErrorInvalidDevice) {
    kind = FailureKind::kNoDevice;
  }
  return CallFailure("CUDA", call, cudaGetErrorName(error), cudaGetErrorString(error), kind, file, line);
}

inline Status CublasFailure(cublasStatus_t status, const char* call, const char* file, int line) {
  const FailureKind kind = status == CUBLAS_STATUS_ALLOC_FAILED ? FailureKind::kOutOfMemory : FailureKind::kOther;
  return CallFailure("cuBLAS", call, cublasGetStatusName(status), cublasGetStatusString(status), kind, file, line);
}

}  // namespace ps::cuda

#define PS_CUDA_CHECK(call)                                                          \
  do {                                                                               \
    const cudaError_t ps_cuda_error_ = (call);                                       \
    if (ps_cuda_error_ != cudaSuccess) {                                             \
      return ::ps::cuda::CudaFailure(ps_cuda_error_, #call, __FILE__, __LINE__);     \
    }                                                                                \
  } while (0)

#define PS_CUBLAS_CHECK(call)                                                        \
  do {                                                                               \
    const cublasStatus_t ps_cublas_status_ = (call);                                 \
    if (ps_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                                \
      return ::ps::cuda::CublasFailure(ps_cublas_status_, #call, __FILE__, __LINE__); \
    }                                                                                \
  } while (0)

// After a kernel launch: the launch's own error (bad configuration, no kernel image for this
// GPU). `kernel` is a string naming it.
#define PS_CUDA_CHECK_LAUNCH(kernel)                                                       \
  do {                                                                                     \
    const cudaError_t ps_cuda_error_ = cudaGetLastError();                                 \
    if (ps_cuda_error_ != cudaSuccess) {                                                   \
      return ::ps::cuda::CudaFailure(ps_cuda_error_, kernel, __FILE__, __LINE__);          \
    }                                                                                      \
  } while (0)
