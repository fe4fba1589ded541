#include "worker/backend/cuda/cuda_backend_factory.h"

#if PIPESHARD_HAVE_CUDA
#include "worker/backend/cuda/runtime/cuda_backend.h"
#endif

namespace ps {

#if PIPESHARD_HAVE_CUDA

bool CudaBackendBuilt() { return true; }

Result<int> CudaDeviceCount() { return cuda::DeviceCount(); }

Result<std::unique_ptr<Backend>> CreateCudaBackend(const gguf::GgufFile& file, const LlamaConfig& config,
                                                   LayerRange range, const CudaBackendOptions& options) {
  PS_ASSIGN_OR_RETURN(std::unique_ptr<CudaBackend> backend, CudaBackend::Create(file, config, range, options));
  return std::unique_ptr<Backend>(std::move(backend));
}

#else

namespace {
Status NotBuilt() {
  return Status::Unsupported(
      "this build has no CUDA backend (configure with -DPIPESHARD_CUDA=ON on a machine with nvcc to use cuda:N)");
}
}  // namespace

bool CudaBackendBuilt() { return false; }

Result<int> CudaDeviceCount() { return NotBuilt(); }

Result<std::unique_ptr<Backend>> CreateCudaBackend(const gguf::GgufFile&, const LlamaConfig&, LayerRange,
                                                   const CudaBackendOptions&) {
  return NotBuilt();
}

#endif

}  // namespace ps
