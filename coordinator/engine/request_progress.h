// One request's generation as the coordinator follows it: what to do with each sampled token
// (stream it, stop on end of generation unless ignore_eos, on n_predict, on a full context),
// the text pieces (whole UTF-8 characters) and the summary. The stop rules are exactly
// `pipeshard run`'s (cli/local_generation.cpp), so both stop on the same token.
// Thread-safety: none; owned by the pipeline thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/tokenizer/tokenizer.h"
#include "proto/inference.pb.h"

namespace ps::coord {

class RequestProgress {
 public:
  RequestProgress(const Tokenizer& tokenizer, int32_t prompt_tokens, int32_t n_predict, bool ignore_eos,
                  int32_t n_ctx, uint32_t seed);

  struct Step {
    std::string text;      // to stream now (may be empty)
    bool go_on = false;    // send the token down the pipe at the next position
    bool finished = false; // the summary is ready
  };
  Step OnSampled(int32_t token);

  pipeshard::v1::GenerateSummary Summary() const;
  int32_t generated() const { return static_cast<int32_t>(tokens_.size()); }
  // The tokens generated so far, in order (what a replay prefills after the prompt).
  const std::vector<int32_t>& tokens() const { return tokens_; }

 private:
  Step Finish(std::string reason, std::string text);

  const Tokenizer& tokenizer_;
  StreamDecoder decoder_;
  const int32_t prompt_tokens_;
  const int32_t n_predict_;
  const bool ignore_eos_;
  const int32_t n_ctx_;
  const uint32_t seed_;
  std::vector<int32_t> tokens_;
  int32_t decode_steps_ = 0;
  bool sampled_any_ = false;
  std::string stop_reason_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point decode_start_;
  double prefill_seconds_ = 0;
  double decode_seconds_ = 0;
};

}  // namespace ps::coord
