// Scheduler: prompt chunking at ubatch cuts, one in-flight row per decoding sequence, decode
// groups per stage, continuous batching, the bounded queue, cancel and slot reuse after free.
#include "coordinator/scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <numeric>

namespace ps::coord {
namespace {

std::vector<int32_t> Prompt(int n, int first = 100) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), first);
  return p;
}

SchedulerOptions Options(int max_seqs, int ubatch, int stages, int queue = 4) {
  SchedulerOptions o;
  o.max_seqs = max_seqs;
  o.ubatch = ubatch;
  o.max_ubatch = ubatch;
  o.stages = stages;
  o.queue_limit = queue;
  return o;
}

// Completes a plan as the last stage would: token 7 for every row that needs logits.
MicroBatchOutcome Finish(Scheduler& s, const MicroBatchPlan& plan, int32_t token = 7) {
  std::vector<int32_t> sampled;
  for (const PlannedRow& r : plan.rows) {
    if (r.need_logits) sampled.push_back(token);
  }
  auto out = s.Complete(plan.id, sampled, false);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? *out : MicroBatchOutcome{};
}

TEST(Scheduler, PromptIsCutAtUbatchAndOnlyTheLastRowNeedsLogits) {
  Scheduler s(Options(2, 4, 4));
  auto id = s.Add(Prompt(10));
  ASSERT_TRUE(id.ok());
  // Chunks of one sequence follow each other without waiting: 4 + 4 + 2.
  auto plans = s.Schedule();
  ASSERT_EQ(plans.size(), 3u);
  EXPECT_EQ(plans[0].rows.size(), 4u);
  EXPECT_EQ(plans[1].rows.size(), 4u);
  EXPECT_EQ(plans[2].rows.size(), 2u);
  ASSERT_EQ(plans[0].starts.size(), 1u);
  EXPECT_EQ(plans[0].starts[0].request, *id);
  EXPECT_TRUE(plans[1].starts.empty());
  int pos = 0;
  for (const auto& p : plans) {
    for (const auto& r : p.rows) {
      EXPECT_EQ(r.pos, pos);
      EXPECT_EQ(r.token, 100 + pos);
      EXPECT_EQ(r.seq, 0);
      EXPECT_EQ(r.need_logits, pos == 9);
      ++pos;
    }
  }
  EXPECT_TRUE(Finish(s, plans[0]).sampled.empty());
  EXPECT_TRUE(Finish(s, plans[1]).sampled.empty());
  auto last = Finish(s, plans[2], 42);
  ASSERT_EQ(last.sampled.size(), 1u);
  EXPECT_EQ(last.sampled[0].request, *id);
  EXPECT_EQ(last.sampled[0].token, 42);
}

TEST(Scheduler, OneRowInFlightPerDecodingSequence) {
  Scheduler s(Options(1, 8, 4));
  auto id = s.Add(Prompt(3));
  auto plans = s.Schedule();
  ASSERT_EQ(plans.size(), 1u);
  auto out = Finish(s, plans[0], 5);
  ASSERT_EQ(out.sampled.size(), 1u);
  EXPECT_TRUE(s.Schedule().empty());  // nothing to send until the caller continues
  ASSERT_TRUE(s.Continue(*id, 5).ok());
  plans = s.Schedule();
  ASSERT_EQ(plans.size(), 1u);  // even with 4 stages: the next token depends on this one
  ASSERT_EQ(plans[0].rows.size(), 1u);
  EXPECT_EQ(plans[0].rows[0].pos, 3);
  EXPECT_EQ(plans[0].rows[0].token, 5);
  EXPECT_TRUE(plans[0].rows[0].need_logits);
  EXPECT_TRUE(plans[0].starts.empty());
  EXPECT_FALSE(s.Continue(*id, 6).ok());  // still in flight
  EXPECT_TRUE(s.Schedule().empty());
  Finish(s, plans[0]);
  ASSERT_TRUE(s.Continue(*id, 6).ok());
  plans = s.Schedule();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].rows[0].pos, 4);
}

TEST(Scheduler, DecodingSequencesAreGroupedPerStage) {
  Scheduler s(Options(4, 16, 2));
  std::vector<RequestId> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(*s.Add(Prompt(2, 10 * i)));
  auto plans = s.Schedule();
  ASSERT_EQ(plans.size(), 1u);  // all four prompts fit one micro-batch of 16 rows
  EXPECT_EQ(plans[0].rows.size(), 8u);
  EXPECT_EQ(plans[0].starts.size(), 4u);
  auto out = Finish(s, plans[0]);
  ASSERT_EQ(out.sampled.size(), 4u);
  for (const auto& t : out.sampled) ASSERT_TRUE(s.Continue(t.request, t.token).ok());
  plans = s.Schedule();
  ASSERT_EQ(plans.size(), 2u);  // two stages: two groups of two
  EXPECT_EQ(plans[0].rows.size(), 2u);
  EXPECT_EQ(plans[1].rows.size(), 2u);
  EXPECT_NE(plans[0].rows[0].seq, plans[1].rows[0].seq);
  EXPECT_EQ(s.microbatches_in_flight(), 2);
  // The first group comes back and goes straight out again while the second is in flight.
  out = Finish(s, plans[0]);
  for (const auto& t : out.sampled) ASSERT_TRUE(s.Continue(t.request, t.token).ok());
  auto again = s.Schedule();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].rows.size(), 2u);
  EXPECT_EQ(again[0].rows[0].seq, plans[0].rows[0].seq);
}

TEST(Scheduler, NewPromptsJoinBetweenDecodeSteps) {
  Scheduler s(Options(2, 8, 1));
  auto a = s.Add(Prompt(2));
  auto plans = s.Schedule();
  auto out = Finish(s, plans[0]);
  ASSERT_TRUE(s.Continue(*a, out.sampled[0].token).ok());
  auto b = s.Add(Prompt(3, 50));
  plans = s.Schedule();
  ASSERT_EQ(plans.size(), 1u);
  ASSERT_EQ(plans[0].rows.size(), 4u);  // a's decode row and b's whole prompt
  EXPECT_EQ(plans[0].rows[0].seq, 0);
  EXPECT_EQ(plans[0].rows[1].seq, 1);
  ASSERT_EQ(plans[0].starts.size(), 1u);
  EXPECT_EQ(plans[0].starts[0].request, *b);
  out = Finish(s, plans[0]);
  ASSERT_EQ(out.sampled.size(), 2u);
  EXPECT_EQ(out.sampled[0].request, *a);
  EXPECT_EQ(out.sampled[1].request, *b);
}

TEST(Scheduler, BoundedQueue) {
  Scheduler s(Options(1, 8, 1, 2));
  EXPECT_FALSE(s.Add({}).ok());
  ASSERT_TRUE(s.Add(Prompt(2)).ok());
  s.Schedule();  // the first takes the only slot
  ASSERT_TRUE(s.Add(Prompt(2)).ok());
  ASSERT_TRUE(s.Add(Prompt(2)).ok());
  auto full = s.Add(Prompt(2));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.queued(), 2);
  EXPECT_EQ(s.running(), 1);
}

// A slot whose request ended is as good as free for the queue: a client that sends its next
// request the moment its answer arrives, while the stages still free the slot, is not refused.
TEST(Scheduler, ASlotBeingFreedDoesNotCountAsTaken) {
  Scheduler s(Options(1, 8, 1, 0));  // one slot, no queue
  auto a = s.Add(Prompt(2));
  ASSERT_TRUE(a.ok());
  auto plans = s.Schedule();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(s.Add(Prompt(2)).status().code(), StatusCode::kResourceExhausted);  // a still runs
  Finish(s, plans[0]);
  s.End(*a);
  auto b = s.Add(Prompt(2));  // slot 0 is being freed: b waits for it, not for a running request
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(s.Add(Prompt(2)).status().code(), StatusCode::kResourceExhausted);  // but only one may
  EXPECT_EQ(s.TakeSlotsToFree(), std::vector<int32_t>{0});
  s.SlotFreed(0);
  plans = s.Schedule();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(s.SlotOf(*b), 0);
}

TEST(Scheduler, SlotIsReusedOnlyAfterItWasFreed) {
  Scheduler s(Options(1, 8, 1));
  auto a = s.Add(Prompt(2));
  auto b = s.Add(Prompt(2));
  auto plans = s.Schedule();
  ASSERT_EQ(plans.size(), 1u);
  Finish(s, plans[0]);
  s.End(*a);
  EXPECT_TRUE(s.Schedule().empty());  // slot 0 not yet freed on the stages
  EXPECT_EQ(s.SlotOf(*b), -1);
  EXPECT_EQ(s.TakeSlotsToFree(), std::vector<int32_t>{0});
  EXPECT_TRUE(s.TakeSlotsToFree().empty());
  s.SlotFreed(0);
  plans = s.Schedule();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(s.SlotOf(*b), 0);
  EXPECT_EQ(plans[0].starts[0].request, *b);
}

TEST(Scheduler, CancelWhileInFlightWaitsForTheMicroBatch) {
  Scheduler s(Options(2, 4, 2));
  auto a = s.Add(Prompt(6));
  auto plans = s.Schedule();
  ASSERT_EQ(plans.size(), 2u);
  s.End(*a);
  EXPECT_TRUE(s.TakeSlotsToFree().empty());  // rows still in the pipe
  EXPECT_TRUE(Finish(s, plans[0]).sampled.empty());
  EXPECT_TRUE(s.TakeSlotsToFree().empty());
  auto out = Finish(s, plans[1]);
  EXPECT_TRUE(out.sampled.empty());  // ended requests get no tokens
  EXPECT_EQ(s.TakeSlotsToFree(), std::vector<int32_t>{0});
  // Cancelling a queued request just drops it.
  Scheduler q(Options(1, 4, 1));
  auto x = q.Add(Prompt(2));
  auto y = q.Add(Prompt(2));
  q.Schedule();
  q.End(*y);
  EXPECT_EQ(q.queued(), 0);
  q.End(*x);
  EXPECT_EQ(q.TakeSlotsToFree().size(), 0u);  // x's prompt is still in flight
}

TEST(Scheduler, ErrorFrameFailsOnlyItsRequests) {
  Scheduler s(Options(2, 2, 2));
  auto a = s.Add(Prompt(2));
  auto b = s.Add(Prompt(2, 9));
  auto plans = s.Schedule();
  ASSERT_EQ(plans.size(), 2u);  // a's and b's prompts do not share a 2-row micro-batch
  auto failed = s.Complete(plans[0].id, {}, true);
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->failed, std::vector<RequestId>{*a});
  auto ok = Finish(s, plans[1]);
  ASSERT_EQ(ok.sampled.size(), 1u);
  EXPECT_EQ(ok.sampled[0].request, *b);
  // A result with the wrong number of tokens fails its requests too.
  ASSERT_TRUE(s.Continue(*b, 1).ok());
  plans = s.Schedule();
  ASSERT_EQ(plans.size(), 1u);
  auto wrong = s.Complete(plans[0].id, {1, 2}, false);
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->failed, std::vector<RequestId>{*b});
  EXPECT_FALSE(wrong->failure.empty());
  EXPECT_FALSE(s.Complete(plans[0].id, {1}, false).ok());  // no longer in flight
}

TEST(Scheduler, AbandonInFlightReturnsTheLostRequests) {
  Scheduler s(Options(3, 4, 1));
  auto a = s.Add(Prompt(3));
  auto b = s.Add(Prompt(3));
  auto c = s.Add(Prompt(3));
  auto plans = s.Schedule();
  // b's 3 rows do not fit beside a's in 4 rows: one stage holds a's micro-batch and b's waits
  // at it (stages + 1 in flight); c never left.
  ASSERT_EQ(plans.size(), 2u);
  auto lost = s.AbandonInFlight();
  EXPECT_EQ(lost, (std::vector<RequestId>{*a, *b}));
  EXPECT_EQ(s.microbatches_in_flight(), 0);
  s.End(*a);
  s.End(*b);
  s.End(*c);
  EXPECT_EQ(s.TakeSlotsToFree(), (std::vector<int32_t>{0, 1, 2}));
}

TEST(Scheduler, DecodeGroupsAreNotSplitByTheExtraMicroBatch) {
  // 4 streams on 2 stages: two groups of 2 in flight, never a third (1-row) micro-batch; the
  // slot beyond `stages` carries prompt chunks only.
  Scheduler s(Options(5, 8, 2, 4));
  std::vector<RequestId> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(*s.Add(Prompt(2, 100 * i)));
  std::vector<MicroBatchPlan> plans = s.Schedule();
  ASSERT_EQ(plans.size(), 1u);  // the four prompts share one micro-batch
  Finish(s, plans[0]);
  for (RequestId id : ids) ASSERT_TRUE(s.Continue(id, 5).ok());
  plans = s.Schedule();
  ASSERT_EQ(plans.size(), 2u);
  EXPECT_EQ(plans[0].rows.size(), 2u);
  EXPECT_EQ(plans[1].rows.size(), 2u);
  // A new prompt may take the extra slot, alone.
  auto late = s.Add(Prompt(3, 900));
  ASSERT_TRUE(late.ok());
  std::vector<MicroBatchPlan> more = s.Schedule();
  ASSERT_EQ(more.size(), 1u);
  for (const PlannedRow& r : more[0].rows) EXPECT_FALSE(r.generated);
  EXPECT_TRUE(s.Schedule().empty());  // 3 in flight
  // The first group back goes on whole: one decode micro-batch is out, the prompt's does not count.
  Finish(s, plans[0]);
  ASSERT_TRUE(s.Continue(ids[0], 6).ok());
  ASSERT_TRUE(s.Continue(ids[1], 6).ok());
  more = s.Schedule();
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].rows.size(), 2u);
  EXPECT_TRUE(more[0].rows[0].generated);
}

TEST(Scheduler, PromptChunkFillsThePipeline) {
  // One stage: the largest chunk. More: at least 4 chunks per stage, multiples of 16, 64 to 128.
  EXPECT_EQ(ChoosePromptChunk(1024, 1, 512), 512);
  EXPECT_EQ(ChoosePromptChunk(1024, 2, 512), 128);
  EXPECT_EQ(ChoosePromptChunk(2048, 2, 512), 128);  // 16 chunks: the kernels are at full speed at 128
  EXPECT_EQ(ChoosePromptChunk(600, 2, 512), 80);    // 75 rounded up to 16
  EXPECT_EQ(ChoosePromptChunk(1024, 4, 512), 64);
  EXPECT_EQ(ChoosePromptChunk(300, 4, 512), 64);    // never under 64 rows
  EXPECT_EQ(ChoosePromptChunk(8192, 2, 512), 128);
  EXPECT_EQ(ChoosePromptChunk(10, 3, 512), 64);
  EXPECT_EQ(ChoosePromptChunk(1024, 2, 32), 32);
}

TEST(Scheduler, PromptsAreCutForTheStageCountUnlessUbatchIsGiven) {
  SchedulerOptions o;
  o.stages = 2;
  Scheduler chosen(o);
  auto id = chosen.Add(Prompt(1024));
  auto plans = chosen.Schedule();
  EXPECT_EQ(chosen.ChunkOf(*id), 128);
  ASSERT_EQ(plans.size(), 3u);  // stages + 1 chunks in flight
  for (const MicroBatchPlan& p : plans) EXPECT_EQ(p.rows.size(), 128u);
  EXPECT_EQ(plans[2].rows.front().pos, 256);

  o.ubatch = 100;
  Scheduler fixed(o);
  id = fixed.Add(Prompt(1024));
  plans = fixed.Schedule();
  EXPECT_EQ(fixed.ChunkOf(*id), 100);
  ASSERT_EQ(plans.size(), 3u);
  EXPECT_EQ(plans[1].rows.front().pos, 100);
}

}  // namespace
}  // namespace ps::coord

namespace ps::coord {
namespace {

// After a failed stage the request starts over on the new plan: its prompt with the first cuts
// (multiples of ubatch), then each generated token as a one-row chunk, as it first went; only the
// last row needs logits, and the sampled token continues the request.
TEST(Scheduler, RewindReplaysPromptAndGeneratedTokensWithTheFirstCuts) {
  Scheduler s(Options(2, 4, 4));
  auto id = s.Add(Prompt(6));
  ASSERT_TRUE(id.ok());
  auto plans = s.Schedule();
  ASSERT_EQ(plans.size(), 2u);  // 4 + 2
  Finish(s, plans[0]);
  auto out = Finish(s, plans[1], 50);
  ASSERT_EQ(out.sampled.size(), 1u);
  ASSERT_TRUE(s.Continue(*id, 50).ok());
  plans = s.Schedule();  // the decode row of token 50, then lost with the stage
  ASSERT_EQ(plans.size(), 1u);
  ASSERT_EQ(plans[0].rows.size(), 1u);

  const std::vector<int32_t> generated = {50, 51};  // what the coordinator holds (51 came back before)
  const std::vector<RequestId> replayed = s.Rewind([&](RequestId r) {
    EXPECT_EQ(r, *id);
    return generated;
  });
  ASSERT_EQ(replayed, std::vector<RequestId>{*id});
  EXPECT_EQ(s.microbatches_in_flight(), 0);
  EXPECT_FALSE(s.Complete(plans[0].id, {7}, false).ok());  // the old plan's micro-batch is gone
  plans = s.Schedule();
  // Cuts: [0,4) [4,6) then 6 and 7 one row each; all in flight at once (4 stages).
  ASSERT_EQ(plans.size(), 4u);
  const std::vector<size_t> sizes = {4, 2, 1, 1};
  int pos = 0;
  for (size_t p = 0; p < plans.size(); ++p) {
    ASSERT_EQ(plans[p].rows.size(), sizes[p]) << p;
    EXPECT_EQ(plans[p].starts.size(), p == 0 ? 1u : 0u);
    for (const PlannedRow& r : plans[p].rows) {
      EXPECT_EQ(r.pos, pos);
      EXPECT_EQ(r.token, pos < 6 ? 100 + pos : generated[static_cast<size_t>(pos - 6)]);
      EXPECT_EQ(r.need_logits, pos == 7);
      ++pos;
    }
  }
  for (size_t p = 0; p + 1 < plans.size(); ++p) EXPECT_TRUE(Finish(s, plans[p]).sampled.empty());
  out = Finish(s, plans.back(), 52);
  ASSERT_EQ(out.sampled.size(), 1u);
  EXPECT_EQ(out.sampled[0].token, 52);
  EXPECT_TRUE(s.Continue(*id, 52).ok());  // decoding again, at position 8
  plans = s.Schedule();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].rows[0].pos, 8);
}

// A request that ended while its rows were lost gives its slot back without a free.
TEST(Scheduler, RewindReleasesEndedRequests) {
  Scheduler s(Options(1, 4, 1));
  auto id = s.Add(Prompt(3));
  ASSERT_TRUE(id.ok());
  auto plans = s.Schedule();
  ASSERT_EQ(plans.size(), 1u);
  s.End(*id);  // cancelled while in flight
  EXPECT_EQ(s.free_slots(), 0);
  EXPECT_TRUE(s.Rewind([](RequestId) { return std::vector<int32_t>(); }).empty());
  EXPECT_EQ(s.free_slots(), 1);
  EXPECT_TRUE(s.TakeSlotsToFree().empty());
}

}  // namespace
}  // namespace ps::coord
