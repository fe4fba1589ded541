// A discrete-event simulation of the pipeline: the coordinator's real Scheduler decides which
// rows go down the ring and when (chunking, bubbles, decode groups, continuous batching), and each
// stage, hop and coordinator turn takes the modelled time instead of running. Stages serve their
// micro-batches one at a time in arrival order; a hop is busy while a frame crosses it; the
// coordinator handles one returning frame at a time. Results are deterministic.
// Thread-safety: SimulatePipeline is a pure function.
#pragma once

#include <cstdint>
#include <vector>

#include "common/plan/hardware_catalog.h"
#include "common/plan/step_cost.h"
#include "common/util/status.h"
#include "coordinator/scheduler/scheduler.h"

namespace ps::sim {

// One stage and the hop that leaves it (to the next stage; from the last, back to the coordinator).
struct SimStage {
  plan::StageCostModel cost;
  plan::LinkProfile link;
  double hop_overhead_s = 0;  // software per frame on that hop (serialise, send, receive, hand-off)
};

struct SimOptions {
  coord::SchedulerOptions scheduler;  // `stages` is set from the stage list
  plan::LinkProfile coordinator_link;  // coordinator -> stage 0
  double coordinator_hop_overhead_s = 0;
  double coordinator_turn_s = 0;       // a returned frame's handling: sampling bookkeeping, next sends
  int64_t activation_bytes_per_row = 0;  // what a row weighs on a hop between stages
  int64_t max_events = 50'000'000;       // a bound on the work of one simulation
};

struct SimRequest {
  int32_t prompt_tokens = 1;
  int32_t gen_tokens = 1;  // tokens sampled, the first one at the end of the prompt (>= 1)
  double arrival_s = 0;
};

struct RequestTiming {
  double arrival_s = 0;
  double first_token_s = 0;
  double finished_s = 0;
  int32_t generated = 0;
};

struct StageUse {
  double busy_s = 0;
  double memory_bound_s = 0;  // of busy_s, the steps that the memory time set
  double compute_s = 0;       // sum of the steps' compute times (the roofline's other side)
  double memory_s = 0;        // sum of the steps' memory times
  int64_t steps = 0;
};

struct SimResult {
  std::vector<RequestTiming> requests;  // in the order given
  std::vector<StageUse> stages;
  double makespan_s = 0;
  double link_busy_s = 0;  // all hops together
  double coordinator_busy_s = 0;
  int64_t microbatches = 0;
};

// InvalidArgument for no stages, a request with no prompt or no token to generate, or a negative
// arrival; ResourceExhausted when the scheduler's queue overflows or max_events is reached.
Result<SimResult> SimulatePipeline(const std::vector<SimStage>& stages, const SimOptions& options,
                                   const std::vector<SimRequest>& requests);

}  // namespace ps::sim
