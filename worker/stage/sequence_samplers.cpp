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
  s.presence_penalty = p.presence_penalty();
  s.frequency_penalty = p.frequency_penalty();
  s.logprobs = p.logprobs() || p.top_logprobs() > 0;
  s.top_logprobs = p.top_logprobs();
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
  s.set_presence_penalty(p.presence_penalty);
  s.set_frequency_penalty(p.frequency_penalty);
  s.set_logprobs(p.logprobs);
  s.set_top_logprobs(p.top_logprobs);
  s.set_seed(p.seed);
  return s;
}

void SequenceSamplers::Start(const pipeshard::v1::Frame& frame) {
  for (const auto& start : frame.starts()) {
    samplers_.erase(start.seq_id());
    const SamplingParams params = SamplingParamsFromProto(start.sampling());
    auto [it, inserted] = samplers_.emplace(start.seq_id(), Entry(params));
    it->second.logprobs = params.logprobs;
    it->second.top_logprobs = params.top_logprobs;
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
                                              int64_t n_vocab,
                                              google::protobuf::RepeatedPtrField<pipeshard::v1::SampledLogprobs>* logprobs) {
  std::vector<int32_t> sampled;
  logprobs->Clear();
  bool any_logprobs = false;
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
    pipeshard::v1::SampledLogprobs* entry = logprobs->Add();  // aligned with `sampled`
    if (e.logprobs) {
      any_logprobs = true;
      const TokenLogprobs lp = ComputeLogprobs(row_logits, static_cast<int32_t>(n_vocab), token, e.top_logprobs);
      entry->set_logprob(lp.logprob);
      for (const auto& [id, value] : lp.top) {
        entry->add_top_tokens(id);
        entry->add_top_logprobs(value);
      }
    }
  }
  if (!any_logprobs) logprobs->Clear();  // nobody asked: nothing extra on the wire
  return sampled;
}

}  // namespace ps
