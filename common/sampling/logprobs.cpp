#include "common/sampling/logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ps {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

float Clean(float l) {
  if (std::isnan(l)) return kNegInf;
  if (l == std::numeric_limits<float>::infinity()) return std::numeric_limits<float>::max();
  return l;
}

bool Better(const std::pair<int32_t, float>& a, const std::pair<int32_t, float>& b) {
  if (a.second != b.second) return a.second > b.second;
  return a.first < b.first;
}

}  // namespace

TokenLogprobs ComputeLogprobs(const float* logits, int32_t n_vocab, int32_t token, int32_t top_n) {
  TokenLogprobs out;
  if (logits == nullptr || n_vocab <= 0) {
    out.logprob = kNegInf;
    return out;
  }
  top_n = std::clamp(top_n, 0, std::min(kMaxTopLogprobs, n_vocab));
  float max_logit = kNegInf;
  for (int32_t i = 0; i < n_vocab; ++i) max_logit = std::max(max_logit, Clean(logits[i]));
  if (max_logit == kNegInf) {  // no token has any probability
    out.logprob = kNegInf;
    return out;
  }
  double sum = 0.0;
  // The top n kept as a small sorted list: one pass over the vocabulary, no copy of it.
  std::vector<std::pair<int32_t, float>>& top = out.top;
  top.reserve(static_cast<size_t>(top_n) + 1);
  for (int32_t i = 0; i < n_vocab; ++i) {
    const float l = Clean(logits[i]);
    sum += std::exp(static_cast<double>(l) - static_cast<double>(max_logit));
    if (top_n == 0) continue;
    if (static_cast<int32_t>(top.size()) == top_n && !Better({i, l}, top.back())) continue;
    top.insert(std::upper_bound(top.begin(), top.end(), std::pair<int32_t, float>{i, l}, Better), {i, l});
    if (static_cast<int32_t>(top.size()) > top_n) top.pop_back();
  }
  const double log_z = static_cast<double>(max_logit) + std::log(sum);
  for (auto& [id, value] : top) value = static_cast<float>(static_cast<double>(value) - log_z);
  out.logprob = token >= 0 && token < n_vocab ? static_cast<float>(static_cast<double>(Clean(logits[token])) - log_z)
                                              : kNegInf;
  return out;
}

}  // namespace ps
