#include "worker/service/cuda_device_info.h"

#if PIPESHARD_HAVE_CUDA

#include <algorithm>
#include <chrono>

#include "worker/backend/cuda/runtime/cuda_check.h"
#include "worker/backend/cuda/runtime/device_resources.h"
#include "transport/gpu/gpu_capabilities.h"

namespace ps {

Result<std::string> CudaDeviceName(int device) {
  cudaDeviceProp prop;
  PS_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return std::string(prop.name);
}

Result<CudaMemory> QueryCudaMemory(int device) {
  PS_CUDA_CHECK(cudaSetDevice(device));
  size_t free_bytes = 0, total_bytes = 0;
  PS_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return CudaMemory{total_bytes, free_bytes};
}

Result<double> MeasureCudaMatmulGflops(int device) {
  // A prompt chunk of 512 tokens through a 4096 x 4096 weight: the shape of a mid-sized model's
  // projections, large enough to keep the GPU's tensor cores busy. A few products per timing,
  // because one takes tens of microseconds on a large GPU.
  constexpr int kRows = 4096, kCols = 4096, kTokens = 512;
  constexpr int kProductsPerTiming = 8, kTimings = 3;
  PS_CUDA_CHECK(cudaSetDevice(device));
  PS_ASSIGN_OR_RETURN(cuda::Stream stream, cuda::Stream::Create());
  PS_ASSIGN_OR_RETURN(cuda::CublasHandle cublas, cuda::CublasHandle::Create(stream.get()));
  const size_t half = 2;
  PS_ASSIGN_OR_RETURN(cuda::DeviceBuffer w, cuda::DeviceBuffer::Allocate(size_t{kRows} * kCols * half));
  PS_ASSIGN_OR_RETURN(cuda::DeviceBuffer x, cuda::DeviceBuffer::Allocate(size_t{kCols} * kTokens * half));
  PS_ASSIGN_OR_RETURN(cuda::DeviceBuffer y, cuda::DeviceBuffer::Allocate(size_t{kRows} * kTokens * sizeof(float)));
  // Bytes 0x3c make every F16 element 0x3c3c (about 1.06): finite, so no value takes a slow path.
  PS_CUDA_CHECK(cudaMemsetAsync(w.as<void>(), 0x3c, w.bytes(), stream.get()));
  PS_CUDA_CHECK(cudaMemsetAsync(x.as<void>(), 0x3c, x.bytes(), stream.get()));
  const float alpha = 1.0f, beta = 0.0f;
  // The backend's prompt product: y^T [rows, tokens] = W [rows, cols] x^T, F32 accumulation.
  const auto product = [&]() -> Status {
    PS_CUBLAS_CHECK(cublasGemmEx(cublas.get(), CUBLAS_OP_T, CUBLAS_OP_N, kRows, kTokens, kCols, &alpha,
                                 w.as<void>(), CUDA_R_16F, kCols, x.as<void>(), CUDA_R_16F, kCols, &beta,
                                 y.as<void>(), CUDA_R_32F, kRows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return Status::Ok();
  };
  PS_RETURN_IF_ERROR(product());  // warm-up: cuBLAS picks and loads its kernel
  PS_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  double best = 1e30;
  for (int t = 0; t < kTimings; ++t) {
    const auto start = std::chrono::steady_clock::now();
    for (int p = 0; p < kProductsPerTiming; ++p) PS_RETURN_IF_ERROR(product());
    PS_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  const double flops = 2.0 * kRows * kCols * kTokens * kProductsPerTiming;
  return flops / std::max(best, 1e-9) / 1e9;
}

Result<pipeshard::v1::TransportCapabilities> ProbeCudaTransport(int device) { return gpu::ProbeGpuTransport(device); }

}  // namespace ps

#else

namespace ps {

namespace {
Status NotBuilt() {
  return Status::Unsupported("this build has no CUDA support (configure with -DPIPESHARD_CUDA=ON on a machine with nvcc)");
}
}  // namespace

Result<std::string> CudaDeviceName(int) { return NotBuilt(); }
Result<CudaMemory> QueryCudaMemory(int) { return NotBuilt(); }
Result<double> MeasureCudaMatmulGflops(int) { return NotBuilt(); }
Result<pipeshard::v1::TransportCapabilities> ProbeCudaTransport(int) { return NotBuilt(); }

}  // namespace ps

#endif
