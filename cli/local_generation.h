// Generation in one process (no network): prefill the prompt in micro-batches through a backend
// that holds the whole model, then decode token by token with the sampler chain.
// Thread-safety: one call at a time per backend.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/sampling/sampler.h"
#include "common/tokenizer/tokenizer.h"
#include "worker/backend/backend.h"

namespace ps::cli {

struct GenerationRequest {
  std::vector<int32_t> prompt;
  int32_t n_predict = 128;   // < 0: until end of generation or a full context
  SamplingParams sampling;
  bool ignore_eos = false;
  int32_t n_ctx = 0;         // positions available to the sequence
  int32_t n_vocab = 0;
  int32_t ubatch = 512;      // prompt tokens per forward call
};

struct GenerationResult {
  std::vector<int32_t> tokens;   // generated ids (end-of-generation token excluded)
  int32_t prompt_tokens = 0;
  double prefill_seconds = 0;
  int32_t decode_steps = 0;      // forward calls of one token each
  double decode_seconds = 0;
  std::string stop_reason;       // "length", "eos" or "context"
};

// on_token sees each generated token as soon as it is sampled (for streaming).
Result<GenerationResult> GenerateLocally(Backend& backend, const Tokenizer& tokenizer,
                                         const GenerationRequest& request,
                                         const std::function<void(int32_t)>& on_token);

}  // namespace ps::cli
