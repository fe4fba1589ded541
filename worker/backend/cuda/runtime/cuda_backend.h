// CUDA backend: the forward pass of a Llama layer range on one GPU, the same steps as the CPU
// backend (cpu_backend.cpp) with weights resident in their stored type, activations in F32 and
// an F16 KV cache in device memory. Everything runs on one stream; Forward waits for it.
// Use through CreateCudaBackend (cuda_backend_factory.h), which also builds without CUDA.
// Thread-safety: one caller at a time; any thread (each call selects the backend's device).
#pragma once

#include <memory>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "common/model/llama_weights.h"
#include "worker/backend/backend.h"
#include "worker/backend/cuda/cuda_backend_factory.h"

namespace ps {

namespace cuda {
// Devices the runtime sees; Unavailable naming the runtime's error when there is no usable
// driver or device.
Result<int> DeviceCount();
}  // namespace cuda

class CudaBackend : public Backend {
 public:
  static Result<std::unique_ptr<CudaBackend>> Create(const gguf::GgufFile& file, const LlamaConfig& config,
                                                     LayerRange range, const CudaBackendOptions& options);
  ~CudaBackend() override;
  Status Forward(const Batch& batch, BatchOutput* out) override;
  void FreeSequence(int32_t seq_id) override;
  int32_t SequenceLength(int32_t seq_id) const override;

 private:
  struct Impl;
  explicit CudaBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ps
