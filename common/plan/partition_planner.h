// The partition planner: cuts a model's blocks into contiguous ranges, one per worker in stage
// order, for the work the cluster expects, while every stage fits its worker's free memory.
//
// Prefill and decode load the stages differently: a prompt needs the output head for one row
// only, a generated token needs it every time, and attention grows with the position. So each
// stage gets two costs per token (prefill and decode, FLOPs over the worker's speed) and the plan
// minimises the predicted time of the expected workload (`Workload`: K requests of P prompt and
// G generated tokens at once):
//   prefill  K*P * the slowest stage's prefill cost       (chunks pipeline through the stages)
//   decode   max(K*G * the slowest stage's decode cost,   (K streams keep the stages busy)
//                G * the sum of the decode costs)         (a token crosses every stage in turn)
// With one stream the split cannot change decode, so it is cut for prefill; with many streams
// and long generations it moves layers off the stage holding the head. Among equal plans it picks
// the most even one. Workers whose speeds differ by less than kSpeedTolerance count as equally
// fast, so that probe noise does not move the split between two identical runs.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/plan/model_cost.h"
#include "common/util/status.h"

namespace ps::plan {

// Speeds within this ratio of the slowest of their group are one speed (their geometric mean).
inline constexpr double kSpeedTolerance = 1.25;

struct WorkerCapacity {
  std::string name;
  double gflops = 0;               // measured matmul speed, GFLOP/s (> 0)
  uint64_t memory_free_bytes = 0;  // 0: unknown, not checked
};

// The work the plan is cut for: `concurrency` requests at once, each of `prompt_tokens` prompt
// tokens and `gen_tokens` generated ones.
struct Workload {
  int32_t prompt_tokens = 512;
  int32_t gen_tokens = 256;
  int32_t concurrency = 1;
  std::string Describe() const;  // "512 prompt + 256 generated tokens, 1 at a time"
};

// InvalidArgument naming the field when a count is below 1 (prompt, concurrency) or below 0.
Status CheckWorkload(const Workload& workload);

struct PlanOptions {
  // Cached positions each stage must hold (n_ctx * max_seqs): their KV bytes count against memory.
  uint64_t kv_cache_tokens = 0;
  Workload workload;
};

struct StagePlan {
  std::string worker;
  int32_t first_layer = 0;  // [first_layer, last_layer)
  int32_t last_layer = 0;
  bool embedding = false;
  bool head = false;
  double speed_gflops = 0;          // the speed planned with (after the tolerance)
  double flops_per_token = 0;       // a generated token's FLOPs at position 0
  uint64_t memory_bytes = 0;        // weights + KV cache
  double prefill_seconds_per_token = 0;  // per prompt token, at the workload's mean prompt position
  double decode_seconds_per_token = 0;   // per generated token, at the workload's mean position
  double relative_cost = 0;  // this stage's busy time over the workload / the busiest stage's (1 = busiest)
};

struct PartitionPlan {
  std::vector<StagePlan> stages;
  int32_t bottleneck = 0;  // the busiest stage over the workload
  Workload workload;
  // Predictions for the workload (FLOPs over speed; transfer, chunking bubbles and kernel
  // efficiency left out): prompt tokens/s of one long prompt with every stage busy, tokens/s of
  // one stream, and tokens/s of `workload.concurrency` streams together.
  double prefill_tokens_per_second = 0;
  double decode_tokens_per_second = 0;
  double aggregate_decode_tokens_per_second = 0;
  std::string explanation;  // one paragraph: which layers where and why, what each phase gets
};

// Workers in stage order. Errors (InvalidArgument): no workers, more stages than blocks, a
// speed <= 0 (naming the worker), a bad workload, or a model that cannot fit (ResourceExhausted,
// naming the stage that overflows).
Result<PartitionPlan> PlanPartition(const ModelCost& cost, const std::vector<WorkerCapacity>& workers,
                                    const PlanOptions& options = {});

// What-if: the plan for workers of these speeds (GFLOP/s) with memory not limiting.
Result<PartitionPlan> Simulate(const ModelCost& cost, const std::vector<double>& gflops,
                               const Workload& workload = {});

}  // namespace ps::plan
