// The partition planner: cuts a model's blocks into contiguous ranges, one per worker in stage
// order, so that the slowest stage (its FLOPs per token over the worker's measured speed) is as
// fast as possible while every stage fits its worker's free memory. Among the plans with that
// bottleneck it picks the most even one. Also predicts throughput for what-if speeds (Simulate).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/plan/model_cost.h"
#include "common/util/status.h"

namespace ps::plan {

struct WorkerCapacity {
  std::string name;
  double gflops = 0;               // measured matmul speed, GFLOP/s (> 0)
  uint64_t memory_free_bytes = 0;  // 0: unknown, not checked
};

struct PlanOptions {
  // Cached positions each stage must hold (n_ctx * max_seqs): their KV bytes count against memory.
  uint64_t kv_cache_tokens = 0;
};

struct StagePlan {
  std::string worker;
  int32_t first_layer = 0;  // [first_layer, last_layer)
  int32_t last_layer = 0;
  bool embedding = false;
  bool head = false;
  double flops_per_token = 0;
  uint64_t memory_bytes = 0;  // weights + KV cache
  double seconds_per_token = 0;
  double relative_cost = 0;   // seconds_per_token / the bottleneck's (1 = slowest)
};

struct PartitionPlan {
  std::vector<StagePlan> stages;
  int32_t bottleneck = 0;                       // index of the slowest stage
  double pipelined_tokens_per_second = 0;       // every stage busy: 1 / bottleneck time
  double single_sequence_tokens_per_second = 0; // one token crossing all stages: 1 / sum
  std::string explanation;                      // one paragraph: which layers where and why
};

// Workers in stage order. Errors (InvalidArgument): no workers, more stages than blocks, a
// speed <= 0 (naming the worker), or a model that cannot fit (naming the stage that overflows).
Result<PartitionPlan> PlanPartition(const ModelCost& cost, const std::vector<WorkerCapacity>& workers,
                                    const PlanOptions& options = {});

// What-if: the plan for workers of these speeds (GFLOP/s) with memory not limiting.
Result<PartitionPlan> Simulate(const ModelCost& cost, const std::vector<double>& gflops);

}  // namespace ps::plan
