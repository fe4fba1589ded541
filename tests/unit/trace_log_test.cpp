// The coordinator's trace log: a micro-batch is logged once it came back and the coordinator's
// turn ended, with every stage's span; the log is bounded, strangers' ids are ignored, and a new
// plan forgets what is still out.
#include "coordinator/pipeline/trace_log.h"

#include <gtest/gtest.h>

namespace ps::coord {
namespace {

pipeshard::v1::Frame Frame(uint64_t id, int rows, int decode_rows) {
  pipeshard::v1::Frame f;
  f.set_microbatch_id(id);
  f.set_epoch(3);
  f.set_rows(rows);
  f.set_decode_rows(decode_rows);
  return f;
}

TEST(TraceLog, LogsAMicroBatchWithItsSpansOnceTheTurnEnds) {
  TraceLog log;
  log.SetStageNames({"stage 0 (a)", "stage 1 (b)"});
  log.Sent(Frame(7, 130, 2), 1000);
  pipeshard::v1::Frame back = Frame(7, 130, 2);
  for (int s = 0; s < 2; ++s) {
    pipeshard::v1::StageSpan* span = back.add_spans();
    span->set_stage(s);
    span->set_received_us(1010 + 100 * s);
    span->set_started_us(1020 + 100 * s);
    span->set_finished_us(1090 + 100 * s);
    span->set_sent_us(1091 + 100 * s);
  }
  log.Returned(back, 1300);
  EXPECT_EQ(log.Since(0).microbatches_size(), 0);  // the coordinator's turn is not over
  log.Handled(1350);
  const pipeshard::v1::TraceResponse t = log.Since(0);
  ASSERT_EQ(t.microbatches_size(), 1);
  const pipeshard::v1::MicroBatchTrace& mb = t.microbatches(0);
  EXPECT_EQ(mb.id(), 7u);
  EXPECT_EQ(mb.epoch(), 3u);
  EXPECT_EQ(mb.prompt_rows(), 128);
  EXPECT_EQ(mb.decode_rows(), 2);
  EXPECT_EQ(mb.sent_us(), 1000);
  EXPECT_EQ(mb.returned_us(), 1300);
  EXPECT_EQ(mb.handled_us(), 1350);
  ASSERT_EQ(mb.spans_size(), 2);
  EXPECT_EQ(mb.spans(1).started_us(), 1120);
  EXPECT_EQ(t.stage_names_size(), 2);
  EXPECT_EQ(log.Since(1001).microbatches_size(), 0);  // sent before
}

TEST(TraceLog, IgnoresUnknownIdsAndForgetsWhatANewPlanLost) {
  TraceLog log;
  log.Returned(Frame(9, 1, 1), 10);  // never sent
  log.Sent(Frame(1, 1, 1), 20);
  log.DropPending();                 // a new plan: 1 will not come back
  log.Returned(Frame(1, 1, 1), 30);
  log.Handled(40);
  EXPECT_EQ(log.Since(0).microbatches_size(), 0);
}

TEST(TraceLog, KeepsOnlyTheNewest) {
  TraceLog log(3);
  for (uint64_t id = 1; id <= 5; ++id) {
    log.Sent(Frame(id, 1, 1), static_cast<int64_t>(id) * 10);
    log.Returned(Frame(id, 1, 1), static_cast<int64_t>(id) * 10 + 5);
    log.Handled(static_cast<int64_t>(id) * 10 + 6);
  }
  const pipeshard::v1::TraceResponse t = log.Since(0);
  ASSERT_EQ(t.microbatches_size(), 3);
  EXPECT_EQ(t.microbatches(0).id(), 3u);
  EXPECT_EQ(t.dropped(), 2u);
}

}  // namespace
}  // namespace ps::coord
