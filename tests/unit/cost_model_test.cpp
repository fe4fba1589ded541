// The cost model on hand-computed cases: a Llama 3 8B block's bytes, FLOPs and KV cache; the
// roofline step (memory-bound decode, compute-bound prompt, attention growing with the position,
// the head only when logits are asked for); and each stage's memory and whether it fits.
#include <gtest/gtest.h>

#include "common/plan/hardware_catalog.h"
#include "common/plan/memory_fit.h"
#include "common/plan/model_cost.h"
#include "common/plan/step_cost.h"
#include "tests/support/model_shapes.h"

namespace ps::plan {
namespace {

LlamaConfig Llama3_8B() { return test::Llama3_8BConfig(); }

constexpr double kQ8_0 = 34.0 / 32.0;  // bytes per weight: 32 int8 and one f16 scale per block

TEST(CostModel, Llama3_8BBlockByHand) {
  const ModelCost cost = ModelCostFromConfig(Llama3_8B(), kQ8_0, 2);
  ASSERT_EQ(cost.n_layer(), 32);
  // wq, wo 4096x4096; wk, wv 4096x1024 (8 KV heads of 128); gate, up, down 4096x14336.
  const double weights = 4096.0 * 4096 * 2 + 4096.0 * 1024 * 2 + 4096.0 * 14336 * 3;
  EXPECT_EQ(weights, 218103808.0);
  EXPECT_DOUBLE_EQ(cost.layers[0].flops_per_token, 436207616.0);
  // Q8_0 matrices plus two F32 norm vectors.
  EXPECT_EQ(cost.layers[0].weight_bytes, 231735296u + 2u * 4096 * 4);
  // K and V, 1024 values each, F16.
  EXPECT_EQ(cost.layers[0].kv_bytes_per_token, 4096u);
  // QK^T and AV: 32 heads x 128 x 2 multiply-adds per attended position.
  EXPECT_DOUBLE_EQ(cost.layers[0].attention_flops_per_position, 16384.0);
  EXPECT_DOUBLE_EQ(cost.head.flops_per_token, 2.0 * 4096 * 128256);
  EXPECT_EQ(cost.precision, MatmulPrecision::kQuantized);
  EXPECT_EQ(ModelCostFromConfig(Llama3_8B(), 2.0, 2, PrecisionOf(GgmlType::F16)).precision, MatmulPrecision::kF16);
  EXPECT_EQ(PrecisionOf(GgmlType::F32), MatmulPrecision::kF32);
  EXPECT_EQ(PrecisionOf(GgmlType::Q4_K), MatmulPrecision::kQuantized);
}

// A device with round numbers: 100 GB/s at full efficiency, 1 TFLOP/s of int8 and of float.
DeviceProfile RoundDevice() {
  DeviceProfile d;
  d.name = "round";
  d.memory_bytes = 10'000'000'000;
  d.memory_bandwidth = 100e9;
  d.f32_flops = 1e12;
  d.f16_flops = 1e12;
  d.int8_ops = 1e12;
  d.bandwidth_efficiency = 1;
  d.compute_efficiency = 1;
  d.launch_overhead_s = 1e-5;
  return d;
}

ModelCost TwoBlocks() {
  ModelCost cost;
  cost.n_embd = 100;
  cost.n_vocab = 1000;
  cost.n_head = 1;
  PartCost block;
  block.weight_bytes = 1'000'000'000;  // 10 ms at 100 GB/s
  block.flops_per_token = 1e9;         // 1 ms per row at 1 TFLOP/s
  block.kv_bytes_per_token = 1000;
  block.attention_flops_per_position = 1e6;
  cost.layers.assign(2, block);
  cost.embedding = {100'000, 100, 0, 0};
  cost.head = {200'000'000, 2e8, 0, 0};  // 2 ms to read
  return cost;
}

TEST(StepCost, DecodeIsMemoryBoundAndPromptComputeBound) {
  const StageCostModel stage(TwoBlocks(), 0, 1, RoundDevice());  // block 0 and the embedding
  // One row at position 0: reads 1 GB (10 ms) and does 1 GFLOP (1 ms).
  StepTime one = stage.Step({1, 1, 1, 0});
  EXPECT_TRUE(one.memory_bound());
  EXPECT_NEAR(one.memory_seconds, (1e9 + 100 + 1000) / 100e9, 1e-9);  // one embedding row, one KV position
  EXPECT_NEAR(one.seconds, one.memory_seconds + 1e-5, 1e-9);
  // 64 rows: 64 GFLOP (64 ms) against the same 10 ms of weights.
  StepTime chunk = stage.Step({64, 64 * 32.5, 64, 0});
  EXPECT_FALSE(chunk.memory_bound());
  EXPECT_NEAR(chunk.compute_seconds, (64 * (1e9 + 100) + 64 * 32.5 * 1e6) / 1e12, 1e-9);
  // Attention grows with the position: the same row 10000 positions in costs 10 GFLOP more.
  StepTime late = stage.Step({1, 10001, 10001, 0});
  EXPECT_NEAR(late.compute_seconds - one.compute_seconds, 10000 * 1e6 / 1e12, 1e-9);
  EXPECT_NEAR(late.memory_seconds - one.memory_seconds, 10000 * 1000 / 100e9, 1e-12);
}

TEST(StepCost, HeadOnlyOnTheLastStageAndOnlyForLogitsRows) {
  const StageCostModel last(TwoBlocks(), 1, 2, RoundDevice());
  const StepTime without = last.Step({1, 1, 1, 0});
  const StepTime with = last.Step({1, 1, 1, 1});
  EXPECT_NEAR(with.memory_seconds - without.memory_seconds, 2e8 / 100e9, 1e-9);
  EXPECT_NEAR(with.fixed_seconds - without.fixed_seconds, 1e-5, 1e-12);
  const StageCostModel first(TwoBlocks(), 0, 1, RoundDevice());
  EXPECT_NEAR(first.Step({1, 1, 1, 1}).seconds, first.Step({1, 1, 1, 0}).seconds, 1e-12);
  EXPECT_EQ(StageCostModel(TwoBlocks(), 0, 2, RoundDevice()).weight_bytes(), 2'000'000'000u + 100'000 + 200'000'000);
}

TEST(StepCost, EfficienciesScaleTheRoofline) {
  DeviceProfile d = RoundDevice();
  d.bandwidth_efficiency = 0.5;
  d.compute_efficiency = 0.25;
  const StageCostModel stage(TwoBlocks(), 1, 2, d);
  EXPECT_NEAR(stage.Step({1, 1, 1, 0}).memory_seconds, (1e9 + 1000) / 50e9, 1e-9);
  EXPECT_NEAR(stage.Step({64, 64, 64, 0}).compute_seconds, (64 * 1e9 + 64 * 1e6) / 0.25e12, 1e-9);
}

// A measured curve replaces the roofline for the weights of its type: time = FLOPs over the
// curve's ops/s at the step's row count (interpolated in log2 of the rows), plus the measured
// attention and per-row element-wise work.
TEST(StepCost, MeasuredCurveSetsTheWeightsTime) {
  ModelCost cost = TwoBlocks();
  cost.weight_type = GgmlType::Q8_0;
  cost.n_embd = 1000;
  cost.n_embd_kv = 100;
  cost.n_ff = 2000;
  DeviceProfile d = RoundDevice();
  d.launch_overhead_s = 0;
  d.attention_flops = 1e11;
  d.row_elements_per_s = 5300;  // one row of element-wise work (3000 + 300 + 2000) takes 1 s
  d.kernels["q8_0"] = KernelRates{1, 1, {{4096, {{1, 1e9}, {4, 4e9}, {64, 1e10}}}, {1024, {{1, 2e9}, {4, 1e10}}}}};
  const StageCostModel stage(cost, 1, 2, d);  // one block: 1 GFLOP a row
  // Width 1000 picks the 1024 curve: 1 row at 2 GOPS = 0.5 s; 2 rows halfway (in log2) to 4 rows.
  StepTime one = stage.Step({1, 1, 1, 0});
  EXPECT_NEAR(one.memory_seconds, 0.5, 1e-9);
  EXPECT_NEAR(one.compute_seconds, 1e6 / 1e11 + 1.0, 1e-9);
  EXPECT_NEAR(one.seconds, one.memory_seconds + one.compute_seconds, 1e-9);
  EXPECT_NEAR(stage.Step({2, 2, 2, 0}).memory_seconds, 2e9 / 6e9, 1e-9);
  EXPECT_NEAR(stage.Step({16, 16, 16, 0}).memory_seconds, 16e9 / 1e10, 1e-9);  // flat past the last point
  // The down projection's rows are n_ff long: with n_ff 4000 its 2 x 4000 x 1000 FLOPs a row
  // read the 4096 curve, the rest of the block the 1024 one.
  cost.n_ff = 4000;
  const StageCostModel wide(cost, 1, 2, d);
  EXPECT_NEAR(wide.Step({1, 1, 1, 0}).memory_seconds, (1e9 - 8e6) / 2e9 + 8e6 / 1e9, 1e-9);
  EXPECT_NEAR(wide.Step({4, 4, 4, 0}).memory_seconds, 4 * (1e9 - 8e6) / 1e10 + 4 * 8e6 / 4e9, 1e-9);
  // Another type keeps the roofline.
  cost.weight_type = GgmlType::Q4_K;
  EXPECT_NEAR(StageCostModel(cost, 1, 2, d).Step({1, 1, 1, 0}).memory_seconds, (1e9 + 1000) / 100e9, 1e-9);
}

TEST(MemoryFit, Llama3_8BAt32kContext) {
  const ModelCost cost = ModelCostFromConfig(Llama3_8B(), kQ8_0, 2);
  const MemoryUse whole = StageMemory(cost, 0, 32, 32768, 1, 512);
  EXPECT_EQ(whole.kv_cache, 4ull << 30);  // 32 layers x 4096 B x 32768 positions
  const uint64_t table = static_cast<uint64_t>(4096.0 * 128256 * kQ8_0);
  EXPECT_EQ(whole.weights, 32ull * (231735296 + 2 * 4096 * 4) + table + table + 4096 * 4);
  // Buffers: 512 rows of activations, score tiles, and one logits row.
  EXPECT_EQ(whole.buffers, 512ull * (6 * 4096 + 3 * 14336) * 4 + 512ull * 32 * 256 * 4 + 128256ull * 4);
  EXPECT_EQ(whole.total(), whole.weights + whole.kv_cache + whole.buffers);
  const HardwareCatalog& catalog = HardwareCatalog::BuiltIn();
  EXPECT_LE(whole.total(), catalog.FindDevice("P40")->memory_bytes);
  // In F16 (2 bytes a weight) the same model does not fit a 16 GB T4.
  const MemoryUse f16 = StageMemory(ModelCostFromConfig(Llama3_8B(), 2.0, 2, MatmulPrecision::kF16), 0, 32, 32768, 1, 512);
  EXPECT_GT(f16.total(), catalog.FindDevice("T4")->memory_bytes);
  // Half the blocks hold half the KV cache; only the last stage holds the head and the logits.
  const MemoryUse front = StageMemory(cost, 0, 16, 32768, 1, 512);
  const MemoryUse back = StageMemory(cost, 16, 32, 32768, 1, 512);
  EXPECT_EQ(front.kv_cache, 2ull << 30);
  EXPECT_EQ(front.kv_cache + back.kv_cache, whole.kv_cache);
  EXPECT_EQ(back.buffers - front.buffers, 128256ull * 4);
  // Four sequences cache four times the positions.
  EXPECT_EQ(StageMemory(cost, 0, 32, 32768, 4, 512).kv_cache, 16ull << 30);
}

}  // namespace
}  // namespace ps::plan
