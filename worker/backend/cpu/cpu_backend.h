// CPU backend: the forward pass of a Llama layer range in F32 activations over weights in their
// stored type, written to read like the paper. It is also the reference for faster kernels.
// Thread-safety: one caller at a time; internally splits matrix rows over `threads` threads.
#pragma once

#include <memory>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "common/model/llama_weights.h"
#include "worker/backend/backend.h"
#include "worker/backend/cpu/kernel_level.h"

namespace ps {

struct CpuBackendOptions {
  int threads = 1;
  int32_t n_ctx = 4096;   // positions per sequence
  int32_t max_seqs = 8;   // sequence ids are 0..max_seqs-1
  // Store K and V as F16 as llama.cpp's default cache does (attention numerics then follow
  // llama.cpp's F16 path, see attention.h); false keeps them, and everything else, in F32.
  bool kv_f16 = true;
  // Kernel family (kernel_level.h); kAuto reads PIPESHARD_CPU_KERNELS, else picks the fastest.
  cpu::KernelLevel kernels = cpu::KernelLevel::kAuto;
  LayersLoadedFn on_layers_loaded;  // may be empty
};

class CpuBackend : public Backend {
 public:
  static Result<std::unique_ptr<CpuBackend>> Create(const gguf::GgufFile& file, const LlamaConfig& config,
                                                    LayerRange range, const CpuBackendOptions& options);
  ~CpuBackend() override;
  Status Forward(const Batch& batch, BatchOutput* out) override;
  void FreeSequence(int32_t seq_id) override;
  int32_t SequenceLength(int32_t seq_id) const override;
  // The resolved kernel level this backend runs.
  cpu::KernelLevel kernel_level() const;

 private:
  struct Impl;
  explicit CpuBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ps
