// `pipeshard run`'s generation, in one process and without a network: the cluster's engine loop
// (coordinator/engine/engine_loop.h: the scheduler's cuts, the stop rules, the text pieces)
// drives one in-process stage (a StageExecutor holding the whole model, sampling like a last
// stage), whose frames come straight back. Local and cluster generation are one code path, so
// they cannot drift: with the same ubatch they give the same tokens.
// Thread-safety: one call at a time per backend.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/model/llama_config.h"
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
  int32_t ubatch = 512;      // prompt tokens per forward call
  // Prompt tokens processed so far, of the prompt's: after each prompt chunk, before any text
  // of that chunk's sampled token reaches on_text. May be empty.
  std::function<void(int32_t done, int32_t total)> on_prefill;
};

struct GenerationResult {
  std::vector<int32_t> tokens;   // generated ids (end-of-generation token excluded)
  int32_t prompt_tokens = 0;
  double prefill_seconds = 0;
  int32_t decode_steps = 0;      // forward calls of one token each
  double decode_seconds = 0;
  std::string stop_reason;       // "length", "eos" or "context"
};

// `backend` holds every layer (embedding and head included) for one sequence of n_ctx positions.
// on_text sees each piece of text (whole UTF-8 characters) as soon as it is sampled.
Result<GenerationResult> GenerateLocally(std::unique_ptr<Backend> backend, const LlamaConfig& config,
                                         const Tokenizer& tokenizer, const GenerationRequest& request,
                                         const std::function<void(const std::string&)>& on_text);

}  // namespace ps::cli
