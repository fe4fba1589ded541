#include "worker/stage/sequence_samplers.h"

#include <string>

namespace ps {

SamplingParams SamplingParamsFromProto(const pipeshard::v1::SamplingParams& p) {
  SamplingParams s;
  s.temperature = p.temperature();
  s.top_k = p.top_k();
  s.top_p = p.top_p();
  s.min_p = p.min_p();
  s.repeat_penalty = p.repeat_penalty();
  s.penalty_last_n = p.penalty_last_n();
  s.seed = p.seed();
  return s;
}

pipeshard::v1::SamplingParams SamplingParamsToProto(const SamplingParams& p) {
  pipeshard::v1::SamplingParams s;
  s.set_temperature(p.temperature);
  s.set_top_k(p.top_k);
  s.set_top_p(p.top_p);
  s.set_min_p(p.min_p);
  s.set_repeat_penalty(p.repeat_penalty);
  s.set_penalty_last_n(p.penalty_last_n);
  s.set_seed(p.seed);
  return s;
}

void SequenceSamplers::Start(const pipeshard::v1::Frame& frame) {
  for (const auto& start : frame.starts()) {
    samplers_.erase(start.seq_id());
    auto [it, inserted] = samplers_.emplace(start.seq_id(), Entry(SamplingParamsFromProto(start.sampling())));
    (void)inserted;
    // A replayed request: its history comes back as rows, its draws are skipped here.
    if (start.samples_drawn() > 0) it->second.sampler.SkipSamples(start.samples_drawn());
  }
}

Status SequenceSamplers::CheckCanSample(const pipeshard::v1::Frame& frame) const {
  for (int i = 0; i < frame.rows(); ++i) {
    if (frame.need_logits()[static_cast<size_t>(i)] != 0 && !samplers_.contains(frame.seq_ids(i))) {
      return Status::InvalidArgument("sequence " + std::to_string(frame.seq_ids(i)) + " (row " + std::to_string(i) +
                                     ") needs a token but has no sampler: no SequenceStart was sent for it");
    }
  }
  return Status::Ok();
}

std::vector<int32_t> SequenceSamplers::Sample(const pipeshard::v1::Frame& frame, const std::vector<float>& logits,
                                              int64_t n_vocab) {
  std::vector<int32_t> sampled;
  size_t logits_row = 0;
  for (int i = 0; i < frame.rows(); ++i) {
    const bool needs_token = frame.need_logits()[static_cast<size_t>(i)] != 0;
    const float* row_logits = logits.data() + logits_row * static_cast<size_t>(n_vocab);
    if (needs_token) ++logits_row;
    auto it = samplers_.find(frame.seq_ids(i));
    if (it == samplers_.end()) continue;  // not sampled here (CheckCanSample ran)
    Entry& e = it->second;
    if (frame.positions(i) == e.history) {
      e.sampler.Accept(frame.tokens(i));
      ++e.history;
    }
    if (!needs_token) continue;
    const int32_t token = e.sampler.Sample(row_logits, static_cast<int32_t>(n_vocab));
    e.sampler.Accept(token);
    ++e.history;
    sampled.push_back(token);
  }
  return sampled;
}

}  // namespace ps
