// Partition planner: balanced splits, speed-proportional splits, plans cut for the workload (one
// stream: balanced for prefill; many streams and long generations: the head's decode weight moves
// layers off the last stage), stable plans under probe noise, memory limits and the errors that
// name the stage at fault.
#include "common/plan/partition_planner.h"

#include <gtest/gtest.h>

namespace ps::plan {
namespace {

// n blocks of 1 GFLOP/token and 100 bytes each; the head costs `head_gflop`.
ModelCost Uniform(int n, double head_gflop = 0.0) {
  ModelCost cost;
  PartCost layer;
  layer.flops_per_token = 1e9;
  layer.weight_bytes = 100;
  layer.kv_bytes_per_token = 1;
  cost.layers.assign(static_cast<size_t>(n), layer);
  cost.embedding = {10, 1e3, 0};
  cost.head = {50, head_gflop * 1e9, 0};
  return cost;
}

std::vector<std::pair<int, int>> Ranges(const PartitionPlan& plan) {
  std::vector<std::pair<int, int>> r;
  for (const StagePlan& s : plan.stages) r.emplace_back(s.first_layer, s.last_layer);
  return r;
}

TEST(PartitionPlanner, EqualSpeedsSplitEvenly) {
  auto plan = Simulate(Uniform(12), {10, 10, 10});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(Ranges(*plan), (std::vector<std::pair<int, int>>{{0, 4}, {4, 8}, {8, 12}}));
  EXPECT_TRUE(plan->stages[0].embedding);
  EXPECT_FALSE(plan->stages[0].head);
  EXPECT_TRUE(plan->stages[2].head);
  EXPECT_NEAR(plan->stages[0].decode_seconds_per_token, 0.4, 1e-6);
  EXPECT_NEAR(plan->prefill_tokens_per_second, 2.5, 1e-3);
  EXPECT_NEAR(plan->decode_tokens_per_second, 1.0 / 1.2, 1e-3);
  EXPECT_NEAR(plan->aggregate_decode_tokens_per_second, 1.0 / 1.2, 1e-3);  // one stream by default
  EXPECT_FALSE(plan->explanation.empty());
}

TEST(PartitionPlanner, FasterWorkerGetsMoreLayers) {
  auto plan = Simulate(Uniform(12), {30, 10});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(Ranges(*plan), (std::vector<std::pair<int, int>>{{0, 9}, {9, 12}}));
  auto reversed = Simulate(Uniform(12), {10, 30});
  ASSERT_TRUE(reversed.ok());
  EXPECT_EQ(Ranges(*reversed), (std::vector<std::pair<int, int>>{{0, 3}, {3, 12}}));
  EXPECT_NEAR(plan->stages[0].relative_cost, 0.3 / 0.3, 1e-9);
}

TEST(PartitionPlanner, OneStreamIsCutForPrefill) {
  // A head worth 2.5 blocks runs once per prompt: with one stream the split cannot change decode
  // (a token crosses every stage in turn), so the layers are balanced for prefill.
  auto plan = Simulate(Uniform(8, 2.5), {10, 10});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(Ranges(*plan), (std::vector<std::pair<int, int>>{{0, 4}, {4, 8}}));
  EXPECT_NEAR(plan->stages[1].flops_per_token, 6.5e9, 1);
  EXPECT_NEAR(plan->stages[1].decode_seconds_per_token, 0.65, 1e-6);
  EXPECT_NEAR(plan->stages[1].prefill_seconds_per_token, (4 + 2.5 / 512) / 10, 1e-6);
  EXPECT_NEAR(plan->prefill_tokens_per_second, 1 / ((4 + 2.5 / 512) / 10), 1e-6);
  EXPECT_NEAR(plan->decode_tokens_per_second, 1 / 1.05, 1e-6);
  EXPECT_NE(plan->explanation.find("balances prefill"), std::string::npos) << plan->explanation;
}

TEST(PartitionPlanner, ManyLongStreamsMoveLayersOffTheHead) {
  // Short prompts, long generations, 8 at a time: decode dominates and the head's stage gets two
  // blocks fewer, exactly the split that is best for decode alone.
  const Workload decode_heavy{16, 1024, 8};
  auto plan = Simulate(Uniform(8, 2.5), {10, 10}, decode_heavy);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(Ranges(*plan), (std::vector<std::pair<int, int>>{{0, 5}, {5, 8}}));
  EXPECT_EQ(plan->bottleneck, 1);
  EXPECT_NEAR(plan->aggregate_decode_tokens_per_second, 1 / 0.55, 1e-6);
  EXPECT_NE(plan->explanation.find("output head"), std::string::npos);
  EXPECT_NE(plan->explanation.find("8 requests at a time"), std::string::npos) << plan->explanation;
}

TEST(PartitionPlanner, MixedWorkloadWeighsBothPhases) {
  // The shape: 16 blocks and a head worth 8.6 of them. Prompts twice as long as the
  // generations: prefill's balance wins even with many streams; generations much longer than the
  // prompts move the cut towards decode's.
  ModelCost cost = Uniform(16, 8.6);
  auto prompt_heavy = Simulate(cost, {10, 10}, Workload{1024, 512, 4});
  ASSERT_TRUE(prompt_heavy.ok());
  EXPECT_EQ(Ranges(*prompt_heavy), (std::vector<std::pair<int, int>>{{0, 8}, {8, 16}}));
  auto gen_heavy = Simulate(cost, {10, 10}, Workload{64, 1024, 4});
  ASSERT_TRUE(gen_heavy.ok());
  EXPECT_EQ(Ranges(*gen_heavy), (std::vector<std::pair<int, int>>{{0, 12}, {12, 16}}));
  // One stream: always prefill's balance, however long the generations.
  auto one = Simulate(cost, {10, 10}, Workload{64, 4096, 1});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(Ranges(*one), (std::vector<std::pair<int, int>>{{0, 8}, {8, 16}}));
}

TEST(PartitionPlanner, AttentionGrowsWithThePosition) {
  ModelCost cost = Uniform(4);
  for (PartCost& l : cost.layers) l.attention_flops_per_position = 1e6;
  auto plan = Simulate(cost, {10, 10}, Workload{1001, 2001, 1});
  ASSERT_TRUE(plan.ok());
  // Mean prompt position 500, mean generated position 1001 + 1000.
  // Stage 0 also looks up the embedding (1e3 FLOPs).
  EXPECT_NEAR(plan->stages[0].prefill_seconds_per_token, (2 * (1e9 + 500 * 1e6) + 1e3) / 10e9, 1e-12);
  EXPECT_NEAR(plan->stages[0].decode_seconds_per_token, (2 * (1e9 + 2001 * 1e6) + 1e3) / 10e9, 1e-12);
}

TEST(PartitionPlanner, ProbeNoiseDoesNotMoveTheSplit) {
  // Equal workers measure a few percent apart, in either order: one plan, the even one.
  const ModelCost cost = Uniform(16, 8.6);
  const std::vector<std::pair<int, int>> even = {{0, 8}, {8, 16}};
  for (const std::vector<double>& speeds : std::vector<std::vector<double>>{{90, 90}, {88, 93}, {93, 88}, {80, 99}}) {
    auto plan = Simulate(cost, speeds);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(Ranges(*plan), even) << speeds[0] << " " << speeds[1];
    EXPECT_DOUBLE_EQ(plan->stages[0].speed_gflops, plan->stages[1].speed_gflops);
  }
  auto noisy = Simulate(cost, {88, 93});
  ASSERT_TRUE(noisy.ok());
  EXPECT_NE(noisy->explanation.find("probe noise"), std::string::npos) << noisy->explanation;
  // A real difference (1.5x) still counts: 6 blocks at 60 against 10 (+ the head once) at 90.
  auto real = Simulate(cost, {60, 90});
  ASSERT_TRUE(real.ok());
  EXPECT_EQ(Ranges(*real), (std::vector<std::pair<int, int>>{{0, 6}, {6, 16}}));
}

TEST(PartitionPlanner, BadWorkloadNamesTheField) {
  auto plan = Simulate(Uniform(4), {1, 1}, Workload{0, 10, 1});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("prompt tokens"), std::string::npos);
  plan = Simulate(Uniform(4), {1, 1}, Workload{10, 10, 0});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("concurrency"), std::string::npos);
}

TEST(PartitionPlanner, BottleneckIsTheSlowestStage) {
  auto plan = Simulate(Uniform(3), {10, 1, 10});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(Ranges(*plan), (std::vector<std::pair<int, int>>{{0, 1}, {1, 2}, {2, 3}}));
  EXPECT_EQ(plan->bottleneck, 1);
  EXPECT_DOUBLE_EQ(plan->stages[1].relative_cost, 1.0);
  EXPECT_LT(plan->stages[0].relative_cost, 0.2);
}

TEST(PartitionPlanner, MemoryLimitMovesLayers) {
  // Speed alone would give the fast worker 9 blocks; its memory holds only 4 (+ embedding + KV).
  const ModelCost cost = Uniform(12);
  PlanOptions options;
  options.kv_cache_tokens = 10;  // 10 bytes of cache per block
  std::vector<WorkerCapacity> workers = {{"fast", 30, 10 + 4 * 110}, {"slow", 10, 0}};
  auto plan = PlanPartition(cost, workers, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(Ranges(*plan), (std::vector<std::pair<int, int>>{{0, 4}, {4, 12}}));
  EXPECT_EQ(plan->stages[0].memory_bytes, 10u + 4 * 110);
  EXPECT_EQ(plan->stages[1].memory_bytes, 50u + 8 * 110);
  EXPECT_NE(plan->explanation.find("memory"), std::string::npos);
}

TEST(PartitionPlanner, ModelThatDoesNotFitNamesTheStage) {
  std::vector<WorkerCapacity> workers = {{"a", 10, 10000}, {"b", 10, 120}};
  auto plan = PlanPartition(Uniform(4), workers);  // b must hold at least a block + head = 150
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(plan.status().message().find("stage 1 (worker 'b')"), std::string::npos) << plan.status().ToString();

  workers = {{"a", 10, 50}, {"b", 10, 0}};
  plan = PlanPartition(Uniform(4), workers);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("stage 0 (worker 'a')"), std::string::npos) << plan.status().ToString();
}

TEST(PartitionPlanner, Errors) {
  auto too_many = Simulate(Uniform(2), {1, 1, 1});
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_many.status().message().find("3 stages"), std::string::npos);
  EXPECT_FALSE(Simulate(Uniform(2), {}).ok());
  auto zero = Simulate(Uniform(2), {1, 0});
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("stage 1"), std::string::npos);
}

TEST(PartitionPlanner, EveryStageGetsALayer) {
  auto plan = Simulate(Uniform(4), {1000, 1, 1, 1});
  ASSERT_TRUE(plan.ok());
  for (const StagePlan& s : plan->stages) EXPECT_GE(s.last_layer - s.first_layer, 1);
  EXPECT_EQ(plan->stages.back().last_layer, 4);
}

TEST(ModelCost, FromConfigCountsHeadAndKv) {
  LlamaConfig c;
  c.n_embd = 64;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.n_ff = 128;
  c.n_layer = 3;
  c.n_vocab = 1000;
  const ModelCost cost = ModelCostFromConfig(c, 1.0, 2);
  ASSERT_EQ(cost.n_layer(), 3);
  EXPECT_DOUBLE_EQ(cost.head.flops_per_token, 2.0 * 64 * 1000);
  EXPECT_DOUBLE_EQ(cost.layers[0].flops_per_token, 2.0 * (64 * 64 * 2 + 64 * 32 * 2 + 64 * 128 * 3));
  EXPECT_EQ(cost.layers[0].kv_bytes_per_token, 2u * 32 * 2);
  EXPECT_LT(cost.embedding.flops_per_token, cost.head.flops_per_token / 100);
}

}  // namespace
}  // namespace ps::plan
