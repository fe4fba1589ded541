// The coordinator's per-request stop rules and text pieces: they must end a request on exactly
// the token `pipeshard run` stops on (cli/local_generation.cpp).
#include "coordinator/engine/request_progress.h"

#include <gtest/gtest.h>

#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/tokenizer_data.h"

namespace ps::coord {
namespace {

constexpr int32_t kBos = 256;
constexpr int32_t kEos = 257;

// One token per byte (ids 0..255), then <s> and </s>.
std::unique_ptr<Tokenizer> ByteTokenizer() {
  TokenizerData d;
  d.model = "gpt2";
  d.pre = "llama-bpe";
  for (int b = 0; b < 256; ++b) d.tokens.push_back(byte_level::Encode(std::string(1, static_cast<char>(b))));
  d.tokens.push_back("<s>");
  d.tokens.push_back("</s>");
  d.token_types.assign(256, static_cast<int32_t>(TokenType::kNormal));
  d.token_types.push_back(static_cast<int32_t>(TokenType::kControl));
  d.token_types.push_back(static_cast<int32_t>(TokenType::kControl));
  d.bos_id = kBos;
  d.eos_id = kEos;
  auto t = CreateTokenizer(std::move(d));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

class RequestProgressTest : public ::testing::Test {
 protected:
  std::unique_ptr<Tokenizer> tokenizer_ = ByteTokenizer();
};

TEST_F(RequestProgressTest, StopsAfterNPredictTokens) {
  RequestProgress p(*tokenizer_, /*prompt_tokens=*/3, /*n_predict=*/3, /*ignore_eos=*/false, /*n_ctx=*/64, 7);
  RequestProgress::Step a = p.OnSampled('a');
  EXPECT_TRUE(a.go_on);
  EXPECT_FALSE(a.finished);
  EXPECT_EQ(a.text, "a");
  EXPECT_TRUE(p.OnSampled('b').go_on);
  RequestProgress::Step c = p.OnSampled('c');
  EXPECT_TRUE(c.finished);
  EXPECT_FALSE(c.go_on);
  EXPECT_EQ(c.text, "c");
  const auto summary = p.Summary();
  EXPECT_EQ(summary.stop_reason(), "length");
  EXPECT_EQ(summary.tokens_size(), 3);
  EXPECT_EQ(summary.decode_steps(), 2);  // forward passes after the prefill, as `run` counts them
  EXPECT_EQ(summary.prompt_tokens(), 3);
  EXPECT_EQ(summary.seed(), 7u);
}

TEST_F(RequestProgressTest, EndOfGenerationStopsUnlessIgnored) {
  RequestProgress stops(*tokenizer_, 2, 10, false, 64, 1);
  EXPECT_TRUE(stops.OnSampled('x').go_on);
  RequestProgress::Step eos = stops.OnSampled(kEos);
  EXPECT_TRUE(eos.finished);
  EXPECT_EQ(stops.Summary().stop_reason(), "eos");
  EXPECT_EQ(stops.Summary().tokens_size(), 1);  // the end-of-generation token is not reported

  RequestProgress ignores(*tokenizer_, 2, 10, true, 64, 1);
  RequestProgress::Step past = ignores.OnSampled(kEos);
  EXPECT_TRUE(past.go_on);
  EXPECT_EQ(past.text, "");  // a control token has no text
  EXPECT_EQ(ignores.generated(), 1);
}

TEST_F(RequestProgressTest, StopsWhenTheContextIsFull) {
  // Prompt of 4 in a context of 6: tokens sampled at positions 4, 5 and 6; the third would need
  // position 6, past the context, so `run` stops there too.
  RequestProgress p(*tokenizer_, 4, -1, false, 6, 1);
  EXPECT_TRUE(p.OnSampled('a').go_on);
  EXPECT_TRUE(p.OnSampled('b').go_on);
  RequestProgress::Step last = p.OnSampled('c');
  EXPECT_TRUE(last.finished);
  EXPECT_EQ(p.Summary().stop_reason(), "context");
  EXPECT_EQ(p.Summary().tokens_size(), 3);
}

TEST_F(RequestProgressTest, NPredictZeroSamplesNothing) {
  RequestProgress p(*tokenizer_, 2, 0, false, 64, 1);
  RequestProgress::Step step = p.OnSampled('a');
  EXPECT_TRUE(step.finished);
  EXPECT_EQ(p.Summary().tokens_size(), 0);
  EXPECT_EQ(p.Summary().stop_reason(), "length");
}

TEST_F(RequestProgressTest, TextPiecesAreWholeCharacters) {
  // "é" is two bytes, so two tokens: nothing to stream until the second arrives.
  RequestProgress p(*tokenizer_, 1, 3, false, 64, 1);
  EXPECT_EQ(p.OnSampled(0xC3).text, "");
  EXPECT_EQ(p.OnSampled(0xA9).text, "\xC3\xA9");
  // A character cut off by the end of the request comes out as U+FFFD, never as a raw byte.
  EXPECT_EQ(p.OnSampled(0xE4).text, "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace ps::coord
