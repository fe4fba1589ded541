// CheckFrame: every field of a received frame is bounds-checked against the stage's role, and
// each error names the field and the value.
#include <gtest/gtest.h>

#include <cmath>

#include "worker/stage/frame_check.h"

namespace ps {
namespace {

using pipeshard::v1::Frame;

FrameLimits Limits(bool first) {
  FrameLimits l;
  l.first_stage = first;
  l.n_vocab = 100;
  l.n_embd = 8;
  l.n_ctx = 64;
  l.max_seqs = 4;
  l.max_rows = 16;
  return l;
}

// A valid frame of `rows` rows: sequence 1 at positions 10.., tokens 5.., last row wants logits.
Frame Good(int rows, bool first) {
  Frame f;
  f.set_rows(rows);
  for (int i = 0; i < rows; ++i) {
    f.add_seq_ids(1);
    f.add_positions(10 + i);
    f.add_tokens(5 + i);
  }
  std::string flags(static_cast<size_t>(rows), '\0');
  flags.back() = 1;
  f.set_need_logits(flags);
  if (!first) {
    f.set_cols(8);
    f.set_dtype(pipeshard::v1::DTYPE_F32);
    f.set_payload(std::string(static_cast<size_t>(rows) * 8 * 4, '\0'));
  }
  return f;
}

void ExpectError(const Frame& f, bool first, StatusCode code, const std::string& needle) {
  const Status s = CheckFrame(f, Limits(first));
  EXPECT_EQ(s.code(), code) << s.ToString();
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message() << " lacks " << needle;
}

TEST(FrameCheckTest, GoodFramesPass) {
  EXPECT_TRUE(CheckFrame(Good(1, true), Limits(true)).ok());
  EXPECT_TRUE(CheckFrame(Good(16, true), Limits(true)).ok());
  EXPECT_TRUE(CheckFrame(Good(3, false), Limits(false)).ok());
  Frame with_start = Good(2, true);
  with_start.add_starts()->set_seq_id(3);
  EXPECT_TRUE(CheckFrame(with_start, Limits(true)).ok());
}

TEST(FrameCheckTest, RowCount) {
  Frame f = Good(1, true);
  f.set_rows(0);
  ExpectError(f, true, StatusCode::kInvalidArgument, "rows = 0");
  f.set_rows(-3);
  ExpectError(f, true, StatusCode::kInvalidArgument, "rows = -3");
  ExpectError(Good(17, true), true, StatusCode::kInvalidArgument, "rows = 17");
}

TEST(FrameCheckTest, RepeatedFieldsMustMatchRows) {
  Frame f = Good(3, true);
  f.add_seq_ids(1);
  ExpectError(f, true, StatusCode::kInvalidArgument, "seq_ids has 4 entries for 3 rows");
  f = Good(3, true);
  f.mutable_positions()->RemoveLast();
  ExpectError(f, true, StatusCode::kInvalidArgument, "positions has 2 entries");
  f = Good(3, true);
  f.add_tokens(1);
  ExpectError(f, true, StatusCode::kInvalidArgument, "tokens has 4 entries");
  f = Good(3, true);
  f.set_need_logits(std::string(2, '\0'));
  ExpectError(f, true, StatusCode::kInvalidArgument, "need_logits has 2 entries");
}

TEST(FrameCheckTest, IdsAndPositionsInRange) {
  Frame f = Good(2, true);
  f.set_seq_ids(1, 4);
  ExpectError(f, true, StatusCode::kOutOfRange, "seq_ids = 4 (row 1)");
  f.set_seq_ids(1, -1);
  ExpectError(f, true, StatusCode::kOutOfRange, "seq_ids = -1");
  f = Good(2, true);
  f.set_positions(0, -1);
  ExpectError(f, true, StatusCode::kOutOfRange, "positions = -1 (row 0)");
  f.set_positions(0, 64);
  ExpectError(f, true, StatusCode::kOutOfRange, "positions = 64");
  f = Good(2, false);
  f.set_tokens(1, 100);
  ExpectError(f, false, StatusCode::kOutOfRange, "tokens = 100 (row 1)");
  f.set_tokens(1, -5);
  ExpectError(f, false, StatusCode::kOutOfRange, "tokens = -5");
  f = Good(2, true);
  f.set_need_logits(std::string("\x01\x02", 2));
  ExpectError(f, true, StatusCode::kInvalidArgument, "need_logits = 2");
  f = Good(2, true);
  f.add_starts()->set_seq_id(9);
  ExpectError(f, true, StatusCode::kOutOfRange, "starts[0].seq_id = 9");
}

TEST(FrameCheckTest, FirstStageTakesNoPayload) {
  Frame f = Good(2, true);
  f.set_payload("abcd");
  ExpectError(f, true, StatusCode::kInvalidArgument, "payload of 4 bytes");
}

TEST(FrameCheckTest, LaterStagePayloadShape) {
  Frame f = Good(2, false);
  f.set_payload(std::string(2 * 8 * 4 - 1, '\0'));
  ExpectError(f, false, StatusCode::kInvalidArgument, "payload has 63 bytes; rows x cols x 4 = 64");
  f = Good(2, false);
  f.set_payload("");
  ExpectError(f, false, StatusCode::kInvalidArgument, "payload has 0 bytes");
  f = Good(2, false);
  f.set_cols(7);
  ExpectError(f, false, StatusCode::kInvalidArgument, "cols = 7");
  f = Good(2, false);
  f.set_dtype(pipeshard::v1::DTYPE_F16);
  ExpectError(f, false, StatusCode::kUnsupported, "DTYPE_F16");
  f.set_dtype(pipeshard::v1::DTYPE_UNSPECIFIED);
  ExpectError(f, false, StatusCode::kUnsupported, "DTYPE_UNSPECIFIED");
}

TEST(FrameCheckTest, SampledOnlyFromTheLastStage) {
  Frame f = Good(1, false);
  f.add_sampled(3);
  ExpectError(f, false, StatusCode::kInvalidArgument, "sampled");
}

TEST(FrameCheckTest, MaxFrameRows) {
  EXPECT_EQ(MaxFrameRows(512, 4), 2048);
  EXPECT_EQ(MaxFrameRows(131072, 64), 65536);
  EXPECT_EQ(MaxFrameRows(0, 4), 1);
}

// A replayed sequence's sampler skips samples_drawn samples: never more than its context, and
// an absurd count (which would stall the stage in the skip) is refused.
TEST(FrameCheckTest, SamplesDrawnIsBoundedByTheContext) {
  Frame f = Good(1, true);
  f.add_starts()->set_seq_id(1);
  f.mutable_starts(0)->set_samples_drawn(64);
  EXPECT_TRUE(CheckFrame(f, Limits(true)).ok());
  f.mutable_starts(0)->set_samples_drawn(65);
  ExpectError(f, true, StatusCode::kOutOfRange, "starts[0].samples_drawn = 65");
  f.mutable_starts(0)->set_samples_drawn(-1);
  ExpectError(f, true, StatusCode::kOutOfRange, "samples_drawn = -1");
}

// Found by fuzz/frame_check_fuzzer: a SequenceStart with min_p 1.1 crashed the last stage's
// sampler. The settings are refused as a client's are (transport/sampling_check.h), naming the
// start, the setting and the value; the wire's zero defaults and the CLI's ranges pass.
TEST(FrameCheckTest, SamplerSettingsAreChecked) {
  Frame f = Good(1, true);
  f.add_starts()->set_seq_id(1);
  EXPECT_TRUE(CheckFrame(f, Limits(true)).ok());  // every setting 0
  pipeshard::v1::SamplingParams* p = f.mutable_starts(0)->mutable_sampling();
  p->set_temperature(0.8f);
  p->set_top_k(40);
  p->set_top_p(1.0f);
  p->set_min_p(1.0f);
  p->set_repeat_penalty(1.1f);
  p->set_penalty_last_n(-1);
  EXPECT_TRUE(CheckFrame(f, Limits(true)).ok());
  p->set_min_p(1.1f);
  ExpectError(f, true, StatusCode::kInvalidArgument, "starts[0].sampling.min_p = 1.1");
  p->set_min_p(-0.5f);
  ExpectError(f, true, StatusCode::kInvalidArgument, "min_p = -0.5");
  p->set_min_p(0.05f);
  p->set_top_p(2.0f);
  ExpectError(f, true, StatusCode::kInvalidArgument, "starts[0].sampling.top_p = 2");
  p->set_top_p(0.9f);
  p->set_temperature(NAN);
  ExpectError(f, true, StatusCode::kInvalidArgument, "temperature = nan is not a finite number");
  p->set_temperature(0.8f);
  p->set_repeat_penalty(-INFINITY);
  ExpectError(f, true, StatusCode::kInvalidArgument, "repeat_penalty = -inf");
  p->set_repeat_penalty(-1.0f);
  ExpectError(f, true, StatusCode::kInvalidArgument, "repeat_penalty = -1.000000 is negative");
}

}  // namespace
}  // namespace ps
