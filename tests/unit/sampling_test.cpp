// Sampler: greedy, repetition penalty, top-k / top-p / min-p filtering, seeding and the
// distribution of draws.
#include "common/sampling/sampler.h"
#include "common/sampling/logprobs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

namespace ps {
namespace {

SamplingParams AllFiltersOff(float temperature) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.repeat_penalty = 1.0f;
  p.seed = 1234;
  return p;
}

// Logits whose softmax is exactly `probs`.
std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

// Which ids a sampler ever draws over `draws` tries.
std::set<int32_t> Support(const SamplingParams& params, const std::vector<float>& logits, int draws = 2000) {
  Sampler s(params);
  std::set<int32_t> seen;
  for (int i = 0; i < draws; ++i) seen.insert(s.Sample(logits.data(), static_cast<int32_t>(logits.size())));
  return seen;
}

TEST(Sampler, GreedyPicksArgmaxAndLowestIdOnTies) {
  Sampler s(AllFiltersOff(0.0f));
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 1.9f};
  EXPECT_EQ(s.Sample(logits.data(), 4), 1);
  const std::vector<float> ties = {0.5f, 3.0f, 3.0f, 1.0f};
  EXPECT_EQ(s.Sample(ties.data(), 4), 1);
  const std::vector<float> negative = {-5.0f, -2.0f, -3.0f};
  EXPECT_EQ(s.Sample(negative.data(), 3), 1);
}

TEST(Sampler, BadInputAndNonFiniteLogits) {
  Sampler s(AllFiltersOff(1.0f));
  EXPECT_EQ(s.Sample(nullptr, 4), -1);
  const std::vector<float> one = {1.0f};
  EXPECT_EQ(s.Sample(one.data(), 0), -1);
  const float inf = INFINITY;
  const std::vector<float> with_nan = {NAN, -inf, 0.5f, NAN};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.Sample(with_nan.data(), 4), 2);
  const std::vector<float> all_neg_inf = {-inf, -inf, -inf};
  EXPECT_EQ(s.Sample(all_neg_inf.data(), 3), 0);
  const std::vector<float> pos_inf = {0.0f, inf, 1.0f};
  EXPECT_EQ(s.Sample(pos_inf.data(), 3), 1);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  SamplingParams p = AllFiltersOff(0.0f);
  p.repeat_penalty = 2.0f;
  p.penalty_last_n = 3;
  Sampler s(p);
  // Token 0 (logit 3) is penalised to 1.5 < 2: token 1 wins.
  std::vector<float> logits = {3.0f, 2.0f, 0.0f};
  s.Accept(0);
  EXPECT_EQ(s.Sample(logits.data(), 3), 1);
  // Negative logits become more negative: -1 * 2 = -2 < -1.5.
  std::vector<float> negative = {-1.0f, -1.5f, -4.0f};
  EXPECT_EQ(s.Sample(negative.data(), 3), 1);
  // Repeats count once: 3 / 2 = 1.5, not 3 / 8.
  s.Accept(0);
  s.Accept(0);
  std::vector<float> close = {3.0f, 1.4f, 0.0f};
  EXPECT_EQ(s.Sample(close.data(), 3), 0);
  // The window is the last 3 tokens: after three others, token 0 is no longer penalised.
  s.Accept(2);
  s.Accept(2);
  s.Accept(2);
  EXPECT_EQ(s.Sample(logits.data(), 3), 0);
  // Out-of-range remembered tokens are ignored.
  s.Accept(99);
  s.Accept(-5);
  EXPECT_EQ(s.Sample(logits.data(), 3), 0);
}

TEST(Sampler, FrequencyPenaltyCountsOccurrencesAndPresenceCountsOnce) {
  SamplingParams p = AllFiltersOff(0.0f);
  p.penalty_last_n = 8;
  p.frequency_penalty = 0.5f;
  Sampler freq(p);
  freq.Accept(0);
  freq.Accept(0);
  freq.Accept(0);
  // 3.0 - 3 * 0.5 = 1.5 < 1.6: token 1 wins; after one occurrence only (3.0 - 0.5) it would not.
  const std::vector<float> logits = {3.0f, 1.6f, 0.0f};
  EXPECT_EQ(freq.Sample(logits.data(), 3), 1);
  Sampler once(p);
  once.Accept(0);
  EXPECT_EQ(once.Sample(logits.data(), 3), 0);

  p.frequency_penalty = 0.0f;
  p.presence_penalty = 1.0f;
  Sampler presence(p);
  presence.Accept(0);
  presence.Accept(0);
  presence.Accept(0);
  // Presence counts once: 3.0 - 1.0 = 2.0 > 1.6.
  EXPECT_EQ(presence.Sample(logits.data(), 3), 0);
  // A negative presence penalty raises seen tokens (OpenAI allows [-2, 2]).
  p.presence_penalty = -2.0f;
  Sampler encourage(p);
  encourage.Accept(2);
  EXPECT_EQ(encourage.Sample(logits.data(), 3), 0);
  const std::vector<float> near = {1.0f, 0.5f, 0.0f};
  EXPECT_EQ(encourage.Sample(near.data(), 3), 2);  // 0 + 2 = 2 > 1

  // With the repeat penalty too, llama.cpp's order: divide first, then subtract.
  p.presence_penalty = 0.5f;
  p.repeat_penalty = 2.0f;
  Sampler both(p);
  both.Accept(0);
  // 3.0 / 2 - 0.5 = 1.0 < 1.2.
  const std::vector<float> close = {3.0f, 1.2f, 0.0f};
  EXPECT_EQ(both.Sample(close.data(), 3), 1);
}

TEST(Logprobs, AreTheLogSoftmaxOfTheRawLogitsWithTheTopInOrder) {
  const std::vector<double> probs = {0.1, 0.4, 0.2, 0.3};
  const std::vector<float> logits = LogitsOf(probs);
  const TokenLogprobs lp = ComputeLogprobs(logits.data(), 4, 2, 3);
  EXPECT_NEAR(lp.logprob, std::log(0.2), 1e-5);
  ASSERT_EQ(lp.top.size(), 3u);
  EXPECT_EQ(lp.top[0].first, 1);
  EXPECT_EQ(lp.top[1].first, 3);
  EXPECT_EQ(lp.top[2].first, 2);
  EXPECT_NEAR(lp.top[0].second, std::log(0.4), 1e-5);
  // Shifting every logit changes nothing; ties go to the lower id.
  const std::vector<float> shifted = {5.0f, 7.0f, 7.0f, 1.0f};
  const TokenLogprobs tie = ComputeLogprobs(shifted.data(), 4, 0, 2);
  EXPECT_EQ(tie.top[0].first, 1);
  EXPECT_EQ(tie.top[1].first, 2);
  EXPECT_NEAR(tie.top[0].second, tie.top[1].second, 1e-6);
  EXPECT_LT(tie.logprob, tie.top[1].second);
}

TEST(Logprobs, BoundsAndNonFiniteLogits) {
  const std::vector<float> logits = {NAN, 0.0f, -INFINITY, 1.0f};
  const TokenLogprobs lp = ComputeLogprobs(logits.data(), 4, 0, 100);  // top clamped to the vocabulary
  EXPECT_EQ(lp.logprob, -INFINITY);  // NaN counts as -inf
  EXPECT_EQ(lp.top.size(), 4u);
  for (const auto& [id, value] : lp.top) EXPECT_LE(value, 0.0f) << id;
  EXPECT_EQ(ComputeLogprobs(logits.data(), 4, 99, 0).logprob, -INFINITY);  // out of range
  EXPECT_TRUE(ComputeLogprobs(logits.data(), 4, 1, 0).top.empty());
  std::vector<float> big(1000, 0.0f);
  EXPECT_EQ(ComputeLogprobs(big.data(), 1000, 0, 50).top.size(), static_cast<size_t>(kMaxTopLogprobs));
  const std::vector<float> none = {-INFINITY, -INFINITY};
  EXPECT_EQ(ComputeLogprobs(none.data(), 2, 0, 2).logprob, -INFINITY);
  EXPECT_EQ(ComputeLogprobs(nullptr, 2, 0, 2).logprob, -INFINITY);
}

TEST(Sampler, PenaltyOffWhenWindowIsZero) {
  SamplingParams p = AllFiltersOff(0.0f);
  p.repeat_penalty = 2.0f;
  p.penalty_last_n = 0;
  Sampler s(p);
  s.Accept(0);
  std::vector<float> logits = {3.0f, 2.0f};
  EXPECT_EQ(s.Sample(logits.data(), 2), 0);
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplingParams p = AllFiltersOff(1.5f);
  p.top_k = 1;
  Sampler s(p);
  Sampler greedy(AllFiltersOff(0.0f));
  std::vector<float> logits(100);
  for (int step = 0; step < 50; ++step) {
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i * 7 + step * 13));
    EXPECT_EQ(s.Sample(logits.data(), 100), greedy.Sample(logits.data(), 100));
  }
}

TEST(Sampler, TopKKeepsOnlyTheKBest) {
  SamplingParams p = AllFiltersOff(1.0f);
  p.top_k = 2;
  const auto logits = LogitsOf({0.3, 0.1, 0.35, 0.25});
  EXPECT_EQ(Support(p, logits), (std::set<int32_t>{0, 2}));
}

TEST(Sampler, TopPKeepsSmallestSetReachingP) {
  const auto logits = LogitsOf({0.1, 0.5, 0.05, 0.3, 0.05});
  SamplingParams p = AllFiltersOff(1.0f);
  p.top_p = 0.75f;  // 0.5 + 0.3 = 0.8 >= 0.75
  EXPECT_EQ(Support(p, logits), (std::set<int32_t>{1, 3}));
  p.top_p = 0.85f;  // 0.5 + 0.3 + 0.1 = 0.9
  EXPECT_EQ(Support(p, logits), (std::set<int32_t>{0, 1, 3}));
  p.top_p = 0.01f;  // always at least one token
  EXPECT_EQ(Support(p, logits), (std::set<int32_t>{1}));
}

TEST(Sampler, MinPIsRelativeToTheMostLikelyToken) {
  const auto logits = LogitsOf({0.1, 0.5, 0.04, 0.3, 0.06});
  SamplingParams p = AllFiltersOff(1.0f);
  p.min_p = 0.15f;  // threshold 0.075
  EXPECT_EQ(Support(p, logits), (std::set<int32_t>{0, 1, 3}));
  p.min_p = 0.7f;  // threshold 0.35
  EXPECT_EQ(Support(p, logits), (std::set<int32_t>{1}));
}

// Found by fuzz/frame_check_fuzzer: min_p above 1 (a SequenceStart from the wire) left no
// candidate, and the draw read past the end of an empty list. As in llama.cpp, the most likely
// token stays (the lowest id among equal logits), with and without top-k sorting first.
TEST(Sampler, MinPAboveOneKeepsTheMostLikelyToken) {
  const auto logits = LogitsOf({0.1, 0.4, 0.05, 0.4, 0.05});
  SamplingParams p = AllFiltersOff(1.0f);
  for (float min_p : {1.1f, 1000.0f, INFINITY}) {
    p.min_p = min_p;
    p.top_k = 0;
    EXPECT_EQ(Support(p, logits, 50), (std::set<int32_t>{1})) << min_p;
    p.top_k = 3;
    EXPECT_EQ(Support(p, logits, 50), (std::set<int32_t>{1})) << min_p;
  }
}

TEST(Sampler, FiltersUseTemperatureOneProbabilities) {
  // At temperature 5 the distribution is nearly flat, yet top-p still cuts on the raw logits.
  const auto logits = LogitsOf({0.6, 0.3, 0.1});
  SamplingParams p = AllFiltersOff(5.0f);
  p.top_p = 0.85f;
  EXPECT_EQ(Support(p, logits), (std::set<int32_t>{0, 1}));
}

TEST(Sampler, SameSeedSameSequenceDifferentSeedsDiffer) {
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = 0.1f * static_cast<float>(i % 7);
  auto run = [&](uint32_t seed) {
    SamplingParams p = AllFiltersOff(1.0f);
    p.seed = seed;
    Sampler s(p);
    EXPECT_EQ(s.seed(), seed);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.Sample(logits.data(), 50));
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(Sampler, DefaultSeedIsRandomAndReported) {
  SamplingParams p;
  Sampler a(p);
  Sampler b(p);
  // Two draws from std::random_device colliding, or hitting the sentinel, is a 2^-32 event.
  EXPECT_NE(a.seed(), 0xFFFFFFFFu);
  EXPECT_NE(a.seed(), b.seed());
}

TEST(Sampler, EmpiricalFrequenciesMatchProbabilities) {
  const std::vector<double> probs = {0.4, 0.25, 0.15, 0.1, 0.06, 0.04};
  const auto logits = LogitsOf(probs);
  Sampler s(AllFiltersOff(1.0f));
  const int n = 40000;
  std::vector<int> counts(probs.size(), 0);
  for (int i = 0; i < n; ++i) ++counts[static_cast<size_t>(s.Sample(logits.data(), 6))];
  for (size_t i = 0; i < probs.size(); ++i) {
    // Binomial standard deviation is at most 0.0025 here; 0.015 is six of them.
    EXPECT_NEAR(static_cast<double>(counts[i]) / n, probs[i], 0.015) << "token " << i;
  }
}

TEST(Sampler, TemperatureSharpensAndFlattens) {
  const auto logits = LogitsOf({0.5, 0.3, 0.2});
  auto share_of_top = [&](float temperature) {
    Sampler s(AllFiltersOff(temperature));
    int top = 0;
    for (int i = 0; i < 20000; ++i) top += s.Sample(logits.data(), 3) == 0;
    return top / 20000.0;
  };
  EXPECT_GT(share_of_top(0.3f), 0.75);  // p^(1/0.3) renormalised: ~0.82
  EXPECT_LT(share_of_top(4.0f), 0.40);  // ~0.37
}

// A sampler that skips n samples draws what an undisturbed one draws from its n-th sample on:
// a request replayed on a new plan goes on with the same seeded tokens.
TEST(Sampler, SkipSamplesContinuesTheSeededSequence) {
  const std::vector<float> logits = LogitsOf({0.1, 0.2, 0.3, 0.25, 0.15});
  const int32_t n = static_cast<int32_t>(logits.size());
  Sampler undisturbed(AllFiltersOff(1.0f));
  std::vector<int32_t> expected;
  for (int i = 0; i < 40; ++i) expected.push_back(undisturbed.Sample(logits.data(), n));
  for (int skip : {0, 1, 7, 39}) {
    Sampler resumed(AllFiltersOff(1.0f));
    resumed.SkipSamples(skip);
    for (int i = skip; i < 40; ++i) EXPECT_EQ(resumed.Sample(logits.data(), n), expected[static_cast<size_t>(i)]) << skip;
  }
  // Greedy draws nothing: skipping changes nothing.
  Sampler greedy(AllFiltersOff(0.0f));
  greedy.SkipSamples(5);
  EXPECT_EQ(greedy.Sample(logits.data(), n), 2);
}

}  // namespace
}  // namespace ps
