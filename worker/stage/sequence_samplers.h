// The last stage's samplers: one ps::Sampler per live sequence, created from the sequence's
// SequenceStart and dropped when the sequence is freed. The repetition history follows
// `pipeshard run`: a row's token enters the history only when its position equals the history
// length (prompt tokens); a sampled token enters it when it is sampled, so the same token coming
// back as the next frame's input is not counted twice.
// Thread-safety: none; owned by the stage executor's thread.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/sampling/logprobs.h"
#include "common/sampling/sampler.h"
#include "common/util/status.h"
#include "proto/stage.pb.h"

namespace ps {

// The engine's sampler settings from their wire form, and to it.
SamplingParams SamplingParamsFromProto(const pipeshard::v1::SamplingParams& p);
pipeshard::v1::SamplingParams SamplingParamsToProto(const SamplingParams& p);

class SequenceSamplers {
 public:
  // Creates (or replaces: the slot was reused) the samplers of the frame's `starts`.
  void Start(const pipeshard::v1::Frame& frame);
  void Drop(int32_t seq_id) { samplers_.erase(seq_id); }
  size_t size() const { return samplers_.size(); }

  // InvalidArgument when a row that needs logits has no sampler (no SequenceStart seen).
  Status CheckCanSample(const pipeshard::v1::Frame& frame) const;

  // Updates histories and samples one token per row with need_logits, in row order. `logits` is
  // [rows with need_logits, n_vocab] in row order. Call CheckCanSample first. `logprobs` gets one
  // entry per sampled token when a sequence of the frame asked for them, else stays empty.
  std::vector<int32_t> Sample(const pipeshard::v1::Frame& frame, const std::vector<float>& logits, int64_t n_vocab,
                              google::protobuf::RepeatedPtrField<pipeshard::v1::SampledLogprobs>* logprobs);

 private:
  struct Entry {
    explicit Entry(const SamplingParams& params) : sampler(params) {}
    Sampler sampler;
    int32_t history = 0;  // tokens accepted so far
    bool logprobs = false;
    int32_t top_logprobs = 0;
  };
  std::unordered_map<int32_t, Entry> samplers_;
};

}  // namespace ps
