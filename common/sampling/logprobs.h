// Log-probabilities of a sampled token and of the most likely tokens, as OpenAI's `logprobs` and
// `top_logprobs` report them: from the model's own distribution (log-softmax of the raw logits,
// before penalties, filters and temperature), as llama-server does by default.
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace ps {

// OpenAI's limit on top_logprobs.
inline constexpr int32_t kMaxTopLogprobs = 20;

struct TokenLogprobs {
  float logprob = 0.0f;                         // of the sampled token
  std::vector<std::pair<int32_t, float>> top;   // (token, logprob), most likely first, ties by lower id
};

// `top_n` is clamped to [0, kMaxTopLogprobs]. NaN logits count as -inf; a token outside
// [0, n_vocab) gets -inf.
TokenLogprobs ComputeLogprobs(const float* logits, int32_t n_vocab, int32_t token, int32_t top_n);

}  // namespace ps
