#include "worker/backend/sim/sim_backend.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "common/plan/model_cost.h"
#include "worker/backend/common/batch_check.h"

namespace ps {

namespace {
// The logit of the placeholder token: far enough above the others (0) that temperature, top-k,
// top-p, min-p and the penalties all leave it the only choice.
constexpr float kPlaceholderLogit = 100.0f;
}  // namespace

Result<std::unique_ptr<SimBackend>> SimBackend::Create(const gguf::GgufFile& file, const LlamaConfig& config,
                                                       LayerRange range, const SimBackendOptions& options) {
  if (options.n_ctx < 1 || options.max_seqs < 1) {
    return Status::InvalidArgument("sim backend: n_ctx and max_seqs must be positive");
  }
  PS_ASSIGN_OR_RETURN(plan::ModelCost cost, plan::ModelCostFromFile(file, config, options.kv_elem_bytes));
  return std::unique_ptr<SimBackend>(
      new SimBackend(plan::StageCostModel(cost, range.first, range.last, options.device), config, range, options));
}

SimBackend::SimBackend(plan::StageCostModel cost, const LlamaConfig& config, LayerRange range,
                       const SimBackendOptions& options)
    : cost_(std::move(cost)),
      config_(config),
      first_stage_(range.has_embedding(config)),
      last_stage_(range.has_head(config)),
      options_(options),
      length_(static_cast<size_t>(options.max_seqs), 0),
      end_pos_(static_cast<size_t>(options.max_seqs), 0) {}

int32_t SimBackend::PlaceholderToken(int32_t seq, int32_t pos, int64_t n_vocab) {
  const int64_t span = std::max<int64_t>(1, n_vocab / 2);
  const int64_t mix = (static_cast<int64_t>(pos) * 7919 + static_cast<int64_t>(seq) * 104729) % span;
  return static_cast<int32_t>(n_vocab / 4 + mix);
}

double SimBackend::ModelledSeconds(const Batch& batch) const {
  plan::StepWork work;
  work.rows = static_cast<int64_t>(batch.size());
  std::map<int32_t, int32_t> span;
  for (size_t i = 0; i < batch.size(); ++i) {
    work.attended_positions += batch.positions[i] + 1.0;
    int32_t& s = span[batch.seq_ids[i]];
    s = std::max(s, batch.positions[i] + 1);
    if (last_stage_ && i < batch.logits.size() && batch.logits[i] != 0) ++work.logits_rows;
  }
  for (const auto& [seq, s] : span) work.kv_positions_read += s;
  return cost_.Step(work).seconds;
}

Status SimBackend::Forward(const Batch& batch, BatchOutput* out) {
  const auto start = std::chrono::steady_clock::now();
  BatchLimits limits;
  limits.first_stage = first_stage_;
  limits.last_stage = last_stage_;
  limits.n_embd = config_.n_embd;
  limits.n_vocab = config_.n_vocab;
  limits.n_ctx = options_.n_ctx;
  limits.max_seqs = options_.max_seqs;
  end_pos_ = length_;
  PS_RETURN_IF_ERROR(ValidateBatch(batch, limits, &end_pos_));
  const double seconds = ModelledSeconds(batch);

  const size_t n = batch.size();
  out->hidden.clear();
  out->logits.clear();
  if (last_stage_) {
    size_t rows = 0;
    for (size_t i = 0; i < n; ++i) rows += batch.logits[i] != 0 ? 1 : 0;
    out->logits.assign(rows * static_cast<size_t>(config_.n_vocab), 0.0f);
    size_t row = 0;
    for (size_t i = 0; i < n; ++i) {
      if (batch.logits[i] == 0) continue;
      const int32_t token = PlaceholderToken(batch.seq_ids[i], batch.positions[i], config_.n_vocab);
      out->logits[row * static_cast<size_t>(config_.n_vocab) + static_cast<size_t>(token)] = kPlaceholderLogit;
      ++row;
    }
  } else {
    out->hidden.assign(n * static_cast<size_t>(config_.n_embd), 0.0f);
  }
  length_ = end_pos_;
  std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                            std::chrono::duration<double>(seconds)));
  return Status::Ok();
}

void SimBackend::FreeSequence(int32_t seq_id) {
  if (seq_id >= 0 && seq_id < options_.max_seqs) length_[static_cast<size_t>(seq_id)] = 0;
}

int32_t SimBackend::SequenceLength(int32_t seq_id) const {
  return seq_id >= 0 && seq_id < options_.max_seqs ? length_[static_cast<size_t>(seq_id)] : 0;
}

}  // namespace ps
