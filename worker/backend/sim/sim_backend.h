// An emulated device (`pipeshard-worker --device sim:NAME`): a stage backend that computes
// nothing. It checks each batch as every backend does, keeps each sequence's length, and waits
// the time the what-if cost model (common/plan/step_cost.h) gives the catalog device NAME for
// that micro-batch; then it returns placeholder activations (zeros) or, on the last stage,
// logits that make any sampler pick a deterministic token (a function of the sequence and the
// position, in the middle of the vocabulary, away from the special tokens at either end). The
// real worker, protocol, scheduling and transports run around it, so clusters larger than the
// host can be timed. Only the file's tensor shapes are read: the weights are never touched.
// Thread-safety: one Forward at a time (the stage executor's thread), like every backend.
#pragma once

#include <memory>
#include <vector>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "common/model/llama_weights.h"
#include "common/plan/hardware_catalog.h"
#include "common/plan/step_cost.h"
#include "worker/backend/backend.h"

namespace ps {

struct SimBackendOptions {
  plan::DeviceProfile device;
  int32_t n_ctx = 0;
  int32_t max_seqs = 1;
  int kv_elem_bytes = 2;
};

class SimBackend : public Backend {
 public:
  static Result<std::unique_ptr<SimBackend>> Create(const gguf::GgufFile& file, const LlamaConfig& config,
                                                    LayerRange range, const SimBackendOptions& options);

  Status Forward(const Batch& batch, BatchOutput* out) override;
  void FreeSequence(int32_t seq_id) override;
  int32_t SequenceLength(int32_t seq_id) const override;

  // The token the last stage makes every sampler choose for a row.
  static int32_t PlaceholderToken(int32_t seq, int32_t pos, int64_t n_vocab);
  // The modelled time of a batch, without waiting it.
  double ModelledSeconds(const Batch& batch) const;

 private:
  SimBackend(plan::StageCostModel cost, const LlamaConfig& config, LayerRange range, const SimBackendOptions& options);

  plan::StageCostModel cost_;
  LlamaConfig config_;
  bool first_stage_ = false;
  bool last_stage_ = false;
  SimBackendOptions options_;
  std::vector<int32_t> length_;   // [max_seqs] cached positions
  std::vector<int32_t> end_pos_;  // scratch for ValidateBatch
};

}  // namespace ps
