// The pipeline simulation against hand-computed timelines: a 2-stage prompt's fill and drain
// bubble, one stream's decode crossing every stage in turn, two streams keeping two stages busy,
// hop and coordinator costs on the critical path, determinism; and the what-if answer's memory
// verdicts, device-count choice and errors.
#include "simulator/pipeline_sim.h"

#include <gtest/gtest.h>

#include "simulator/what_if.h"
#include "tests/support/model_shapes.h"

namespace ps::sim {
namespace {

// Compute-only device: 1 TFLOP/s, memory free, no launch cost.
plan::DeviceProfile ComputeOnly() {
  plan::DeviceProfile d;
  d.name = "compute";
  d.memory_bytes = 1ull << 40;
  d.memory_bandwidth = 1e30;
  d.f32_flops = d.f16_flops = d.int8_ops = 1e12;
  d.bandwidth_efficiency = d.compute_efficiency = 1;
  return d;
}

// n blocks of 1 GFLOP per row (1 ms on ComputeOnly), no attention, a free head.
plan::ModelCost Blocks(int n) {
  plan::ModelCost cost;
  cost.n_embd = 64;
  cost.n_vocab = 100;
  cost.n_head = 1;
  plan::PartCost block;
  block.weight_bytes = 1000;
  block.flops_per_token = 1e9;
  cost.layers.assign(static_cast<size_t>(n), block);
  return cost;
}

plan::LinkProfile FreeLink() { return plan::LinkProfile{"free", {}, 1e30, 0}; }

std::vector<SimStage> Stages(const plan::ModelCost& cost, int stages) {
  std::vector<SimStage> out;
  const int64_t per = cost.n_layer() / stages;
  for (int s = 0; s < stages; ++s) {
    out.push_back({plan::StageCostModel(cost, s * per, (s + 1) * per, ComputeOnly()), FreeLink(), 0});
  }
  return out;
}

SimOptions Options(int32_t ubatch) {
  SimOptions o;
  o.scheduler.ubatch = ubatch;
  o.scheduler.max_seqs = 4;
  o.coordinator_link = FreeLink();
  return o;
}

TEST(PipelineSim, TwoStagePromptPaysOneChunkOfBubble) {
  const plan::ModelCost cost = Blocks(4);  // 4 ms per row on one stage, 2 ms per row per stage on two
  // 256 prompt tokens in 4 chunks of 64 rows: one stage takes 4 x 256 ms; two stages take a chunk
  // of 128 ms each, 4 chunks + 1 of fill: 5 x 128 ms.
  auto one = SimulatePipeline(Stages(cost, 1), Options(64), {{256, 1, 0}});
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_NEAR(one->requests[0].first_token_s, 4 * 0.256, 1e-9);
  auto two = SimulatePipeline(Stages(cost, 2), Options(64), {{256, 1, 0}});
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_NEAR(two->requests[0].first_token_s, 5 * 0.128, 1e-9);
  EXPECT_EQ(two->microbatches, 4);
  for (const StageUse& use : two->stages) {
    EXPECT_EQ(use.steps, 4);
    EXPECT_NEAR(use.busy_s, 4 * 0.128, 1e-9);
  }
  // The same prompt in 2 chunks: 3 x 256 ms, a bigger bubble.
  auto coarse = SimulatePipeline(Stages(cost, 2), Options(128), {{256, 1, 0}});
  ASSERT_TRUE(coarse.ok());
  EXPECT_NEAR(coarse->requests[0].first_token_s, 3 * 0.256, 1e-9);
}

TEST(PipelineSim, OneStreamCrossesEveryStageInTurn) {
  const plan::ModelCost cost = Blocks(4);
  // 10 tokens after a 1-token prompt: every step is 4 ms, whatever the stage count.
  for (int stages : {1, 2, 4}) {
    auto r = SimulatePipeline(Stages(cost, stages), Options(0), {{1, 11, 0}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_NEAR(r->requests[0].finished_s - r->requests[0].first_token_s, 10 * 0.004, 1e-9) << stages;
    EXPECT_EQ(r->requests[0].generated, 11);
  }
}

TEST(PipelineSim, TwoStreamsKeepTwoStagesBusy) {
  const plan::ModelCost cost = Blocks(4);
  auto one = SimulatePipeline(Stages(cost, 2), Options(0), {{1, 101, 0}});
  auto two = SimulatePipeline(Stages(cost, 2), Options(0), {{1, 101, 0}, {1, 101, 0}});
  ASSERT_TRUE(one.ok() && two.ok());
  // The second stream runs in the first one's bubble: nearly the same time for twice the tokens.
  EXPECT_LT(two->makespan_s, one->makespan_s * 1.05);
  EXPECT_GT(two->stages[0].busy_s / two->makespan_s, 0.95);
}

TEST(PipelineSim, HopsAndTurnsAreOnTheCriticalPath) {
  const plan::ModelCost cost = Blocks(4);
  std::vector<SimStage> stages = Stages(cost, 2);
  for (SimStage& s : stages) {
    s.hop_overhead_s = 1e-4;
    s.link.latency_s = 5e-5;
  }
  SimOptions o = Options(0);
  o.coordinator_hop_overhead_s = 1e-4;
  o.coordinator_link.latency_s = 5e-5;
  o.coordinator_turn_s = 2e-5;
  auto r = SimulatePipeline(stages, o, {{1, 11, 0}});
  ASSERT_TRUE(r.ok());
  // Per token: 4 ms of compute, 3 hops of 0.15 ms, one turn.
  EXPECT_NEAR((r->requests[0].finished_s - r->requests[0].first_token_s) / 10, 0.004 + 3 * 1.5e-4 + 2e-5, 1e-9);
}

TEST(PipelineSim, DeterministicAndChecksItsInput) {
  const plan::ModelCost cost = Blocks(4);
  const std::vector<SimRequest> reqs = {{100, 20, 0}, {37, 5, 0.01}, {300, 9, 0.02}};
  auto a = SimulatePipeline(Stages(cost, 2), Options(0), reqs);
  auto b = SimulatePipeline(Stages(cost, 2), Options(0), reqs);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->makespan_s, b->makespan_s);
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(a->requests[i].generated, reqs[i].gen_tokens);
    EXPECT_GE(a->requests[i].first_token_s, reqs[i].arrival_s);
  }
  EXPECT_EQ(SimulatePipeline({}, Options(0), reqs).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SimulatePipeline(Stages(cost, 2), Options(0), {{0, 1, 0}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SimulatePipeline(Stages(cost, 2), Options(0), {{5, 0, 0}}).status().code(), StatusCode::kInvalidArgument);
  SimOptions tight = Options(0);
  tight.max_events = 10;
  EXPECT_EQ(SimulatePipeline(Stages(cost, 2), tight, reqs).status().code(), StatusCode::kResourceExhausted);
}

WhatIfQuestion Llama8BOn(const char* spec) {
  WhatIfQuestion q;
  q.cost = plan::ModelCostFromConfig(test::Llama3_8BConfig(), 34.0 / 32.0, 2);
  auto cluster = plan::ParseClusterSpec(spec, plan::HardwareCatalog::BuiltIn());
  EXPECT_TRUE(cluster.ok()) << cluster.status().ToString();
  if (cluster.ok()) q.cluster = *cluster;
  q.ctx = 8192;
  q.prompt_tokens = 2048;
  q.gen_tokens = 32;
  return q;
}

TEST(WhatIf, MemoryDecidesHowManyDevicesAreNeeded) {
  // 8B Q8_0 with an 8k F16 cache: about 9 GiB, more than an 8 GiB share of one device.
  WhatIfQuestion q = Llama8BOn("3xcpu-xeon-spr-2c 10gbe");
  auto a = AnswerWhatIf(q);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->by_devices.size(), 3u);
  EXPECT_FALSE(a->by_devices[0].fits);
  EXPECT_NE(a->by_devices[0].why_not.find("does not fit"), std::string::npos) << a->by_devices[0].why_not;
  EXPECT_TRUE(a->by_devices[1].fits);
  EXPECT_GE(a->best, 1);
  for (const StagePrediction& s : a->by_devices[1].stages) EXPECT_LE(s.memory.total(), s.capacity);
}

TEST(WhatIf, PromptScalesWithGpusAndDecodeStaysFlat) {
  WhatIfQuestion q = Llama8BOn("4xP40 pcie3");
  auto a = AnswerWhatIf(q);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->by_devices.size(), 4u);
  const Prediction& one = a->by_devices[0];
  const Prediction& four = a->by_devices[3];
  ASSERT_TRUE(one.fits && four.fits);
  EXPECT_GT(four.prefill_tokens_per_s, 3.0 * one.prefill_tokens_per_s);
  EXPECT_GT(four.decode_tokens_per_s, 0.97 * one.decode_tokens_per_s);
  EXPECT_LE(four.decode_tokens_per_s, one.decode_tokens_per_s * 1.0001);
  EXPECT_EQ(a->best, 3);
  EXPECT_FALSE(four.bottleneck_why.empty());
}

TEST(WhatIf, SlowLinksMakeFewerDevicesBetter) {
  // Decode-only work over 1 Gbit/s between fast GPUs: each hop costs more than it saves.
  WhatIfQuestion q = Llama8BOn("4xH100-SXM 1gbe");
  q.prompt_tokens = 8;
  q.gen_tokens = 64;
  auto a = AnswerWhatIf(q);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->best, 0);
  EXPECT_NE(a->best_why.find("use 1 of the 4 devices"), std::string::npos) << a->best_why;
}

TEST(WhatIf, BadQuestionsNameTheField) {
  WhatIfQuestion q = Llama8BOn("2xP40 pcie3");
  q.prompt_tokens = 9000;
  auto a = AnswerWhatIf(q);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("--ctx 8192"), std::string::npos) << a.status().message();
  q = Llama8BOn("2xP40 pcie3");
  q.concurrency = 0;
  EXPECT_NE(AnswerWhatIf(q).status().message().find("--concurrency"), std::string::npos);
  q = Llama8BOn("2xP40 pcie3");
  q.cluster.clear();
  EXPECT_EQ(AnswerWhatIf(q).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ps::sim
