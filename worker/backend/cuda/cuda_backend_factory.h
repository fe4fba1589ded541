// The entry point to the CUDA backend for the worker and the bench. Compiles with or without the
// CUDA toolkit: a build without it (-DPIPESHARD_CUDA=OFF, or no nvcc) answers Unsupported with a
// message naming the flag. Thread-safety: functions may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "common/model/llama_weights.h"
#include "worker/backend/backend.h"

namespace ps {

struct CudaBackendOptions {
  int device = 0;         // CUDA device ordinal (the N of cuda:N)
  int32_t n_ctx = 4096;   // positions per sequence
  int32_t max_seqs = 8;   // sequence ids are 0..max_seqs-1
  LayersLoadedFn on_layers_loaded;  // may be empty
};

// True when this binary was built with the CUDA backend.
bool CudaBackendBuilt();

// Devices the CUDA runtime sees. Unsupported without the backend; Unavailable naming the
// runtime's error when there is no usable driver or device.
Result<int> CudaDeviceCount();

// Uploads the range's weights to the device and returns the backend (worker/backend/cuda/
// runtime/cuda_backend.h). Errors: Unsupported without the backend or for a tensor type or shape
// the kernels cannot read; InvalidArgument for bad options or a device index not present;
// Unavailable without a device; ResourceExhausted when device memory runs out.
Result<std::unique_ptr<Backend>> CreateCudaBackend(const gguf::GgufFile& file, const LlamaConfig& config,
                                                   LayerRange range, const CudaBackendOptions& options);

}  // namespace ps
