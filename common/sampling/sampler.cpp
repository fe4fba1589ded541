#include "common/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ps {

namespace {

constexpr uint32_t kRandomSeed = 0xFFFFFFFF;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Descending logit, ascending id on ties: a total order, so the candidate order (and with it the
// token a given random draw lands on) does not depend on the sort implementation.
bool HigherLogit(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  if (a.first != b.first) return a.first > b.first;
  return a.second < b.second;
}

// A uniform double in [0, 1) built from two mt19937 outputs (53 random bits). std::uniform_real_
// distribution is avoided on purpose: its output differs between standard library versions.
double UniformUnit(std::mt19937& rng) {
  const uint64_t hi = rng() >> 5;  // 27 bits
  const uint64_t lo = rng() >> 6;  // 26 bits
  return static_cast<double>((hi << 26) | lo) * (1.0 / 9007199254740992.0);  // 2^-53
}

}  // namespace

Sampler::Sampler(const SamplingParams& params)
    : params_(params), seed_(params.seed == kRandomSeed ? std::random_device{}() : params.seed), rng_(seed_) {}

void Sampler::Accept(int32_t token) {
  if (params_.penalty_last_n == 0) return;
  recent_.push_back(token);
  // A negative window keeps every token, as llama.cpp's -1 ("the whole context") does.
  if (params_.penalty_last_n > 0 && recent_.size() > static_cast<size_t>(params_.penalty_last_n)) {
    recent_.pop_front();
  }
}

void Sampler::SkipSamples(int64_t samples) {
  if (params_.temperature <= 0.0f || samples <= 0) return;
  rng_.discard(static_cast<unsigned long long>(samples) * 2);  // UniformUnit takes two outputs
}

int32_t Sampler::Sample(const float* logits, int32_t n_vocab) {
  if (logits == nullptr || n_vocab <= 0) return -1;

  // candidates_[id] = (logit, id) until the first filter reorders them. NaN would break the sort's
  // ordering, so it becomes -inf (never chosen unless nothing else is left); +inf becomes the
  // largest finite float so that softmax differences stay finite.
  candidates_.resize(static_cast<size_t>(n_vocab));
  for (int32_t id = 0; id < n_vocab; ++id) {
    float l = logits[id];
    if (std::isnan(l)) l = kNegInf;
    if (l == std::numeric_limits<float>::infinity()) l = std::numeric_limits<float>::max();
    candidates_[static_cast<size_t>(id)] = {l, id};
  }

  // Penalties (llama.cpp's penalties sampler), per distinct recent token: the repeat penalty once
  // however often it occurred (dividing a positive logit and multiplying a negative one both lower
  // it), then the frequency penalty per occurrence and the presence penalty once.
  const bool repeat = params_.repeat_penalty != 1.0f && params_.repeat_penalty > 0.0f;
  if ((repeat || params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f) && !recent_.empty()) {
    std::vector<int32_t> sorted(recent_.begin(), recent_.end());
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size();) {
      const int32_t token = sorted[i];
      size_t count = 0;
      for (; i < sorted.size() && sorted[i] == token; ++i) ++count;
      if (token < 0 || token >= n_vocab) continue;
      float& l = candidates_[static_cast<size_t>(token)].first;
      if (repeat) l = l > 0.0f ? l / params_.repeat_penalty : l * params_.repeat_penalty;
      l -= static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty;
    }
  }

  // The first maximum, i.e. the lowest id among equal logits.
  size_t best = 0;
  for (size_t i = 1; i < candidates_.size(); ++i) {
    if (candidates_[i].first > candidates_[best].first) best = i;
  }
  // Greedy; and when every logit is -inf no token has any probability to draw from.
  if (params_.temperature <= 0.0f || candidates_[best].first == kNegInf) return candidates_[best].second;

  bool sorted = false;
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < candidates_.size()) {
    const auto k = static_cast<std::ptrdiff_t>(params_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + k, candidates_.end(), HigherLogit);
    candidates_.resize(static_cast<size_t>(k));
    sorted = true;
  }

  // Top-p and min-p work on probabilities at temperature 1 (llama.cpp applies the temperature
  // after them in its default chain).
  if (params_.top_p < 1.0f) {
    if (!sorted) std::sort(candidates_.begin(), candidates_.end(), HigherLogit);
    sorted = true;
    const float max_logit = candidates_.front().first;
    double total = 0.0;
    for (const auto& c : candidates_) total += std::exp(static_cast<double>(c.first - max_logit));
    double cumulative = 0.0;
    size_t keep = candidates_.size();
    for (size_t i = 0; i < candidates_.size(); ++i) {
      cumulative += std::exp(static_cast<double>(candidates_[i].first - max_logit)) / total;
      if (cumulative >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
    candidates_.resize(keep);
  }

  if (params_.min_p > 0.0f) {
    // p_i >= min_p * p_max  <=>  logit_i >= max_logit + log(min_p).
    float max_logit = kNegInf;
    for (const auto& c : candidates_) max_logit = std::max(max_logit, c.first);
    const float threshold = max_logit + std::log(params_.min_p);
    if (threshold > max_logit) {
      // min_p > 1 leaves no token above the threshold; llama.cpp keeps the most likely one then
      // (an empty list here once read past the end of the candidates).
      std::iter_swap(candidates_.begin(), std::min_element(candidates_.begin(), candidates_.end(), HigherLogit));
      candidates_.resize(1);
    } else {
      std::erase_if(candidates_, [&](const std::pair<float, int32_t>& c) { return c.first < threshold; });
    }
  }

  if (!sorted) std::sort(candidates_.begin(), candidates_.end(), HigherLogit);
  const float max_logit = candidates_.front().first;

  // Softmax at the requested temperature (weights replace the logits), then the seeded draw.
  double total = 0.0;
  for (auto& c : candidates_) {
    c.first = static_cast<float>(std::exp(static_cast<double>(c.first - max_logit) / params_.temperature));
    total += c.first;
  }
  const double target = UniformUnit(rng_) * total;
  double cumulative = 0.0;
  for (const auto& c : candidates_) {
    cumulative += c.first;
    if (target < cumulative) return c.second;
  }
  return candidates_.back().second;  // rounding left target just past the last weight
}

}  // namespace ps
