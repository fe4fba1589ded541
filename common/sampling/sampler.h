// Picks the next token from logits with llama.cpp's default sampler chain:
// penalties (repeat, frequency and presence, over the last `penalty_last_n` tokens) -> top-k -> top-p -> min-p -> temperature ->
// seeded random draw. temperature <= 0 means greedy (argmax of the raw logits after penalties).
// Thread-safety: one Sampler per sequence; not shared.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace ps {

struct SamplingParams {
  float temperature = 0.8f;
  int32_t top_k = 40;          // <= 0: off
  float top_p = 0.95f;         // >= 1: off
  float min_p = 0.05f;         // <= 0: off
  float repeat_penalty = 1.0f; // 1: off
  int32_t penalty_last_n = 64;
  float presence_penalty = 0.0f;   // subtracted once from each token in the window; 0 = off
  float frequency_penalty = 0.0f;  // subtracted once per occurrence in the window; 0 = off
  // Reported beside each sampled token (common/sampling/logprobs.h); the draw ignores them.
  bool logprobs = false;
  int32_t top_logprobs = 0;
  uint32_t seed = 0xFFFFFFFF;  // 0xFFFFFFFF: a random seed, as llama.cpp's LLAMA_DEFAULT_SEED
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // Remembers prompt or generated tokens for the repetition penalty.
  void Accept(int32_t token);
  int32_t Sample(const float* logits, int32_t n_vocab);
  // Goes on as a sampler that already sampled `samples` tokens: the random state skips their
  // draws (two engine outputs per sampled token when temperature > 0, none when greedy), so a
  // request replayed on a new plan samples what it would have sampled undisturbed. (A draw is
  // also skipped when every logit was -inf; such a step had no valid token anyway.)
  void SkipSamples(int64_t samples);
  uint32_t seed() const { return seed_; }

 private:
  SamplingParams params_;
  uint32_t seed_;
  std::mt19937 rng_;
  std::deque<int32_t> recent_;
  std::vector<std::pair<float, int32_t>> candidates_;  // reused between calls
};

}  // namespace ps
