// What-if planning of a cluster that may not exist: for a model's cost and a cluster spec, the
// memory each device needs and whether it fits, the layer split and prompt chunk for 1..N of the
// devices, and the predicted prefill, single-stream decode and aggregate decode throughput from
// the pipeline simulation; then which device count serves the workload best, and why.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/plan/hardware_catalog.h"
#include "common/plan/memory_fit.h"
#include "common/plan/model_cost.h"
#include "common/util/status.h"

namespace ps::sim {

// WhatIfQuestion::ubatch for "as the coordinator cuts by default" (plan --simulate --ubatch auto).
inline constexpr int32_t kSchedulerChunk = -1;

// Software costs the roofline does not see, measured on pipeshard's own runs (docs/benchmarks.md,
// "Decode step breakdown" and "Prediction against measurement").
struct Overheads {
  double grpc_hop_s = 2.0e-4;        // a frame through gRPC: serialise, send, receive, thread hand-off
  double device_hop_s = 3.0e-5;      // GPU to GPU in one host (NCCL / CUDA IPC): an estimate
  double coordinator_turn_s = 8e-5;  // a returned frame handled, the next sent
};

struct WhatIfQuestion {
  plan::ModelCost cost;
  std::vector<plan::ClusterGroup> cluster;  // in stage order
  int64_t ctx = 4096;          // positions cached per sequence
  int32_t prompt_tokens = 512;
  int32_t gen_tokens = 128;
  int32_t concurrency = 1;     // streams at once; also the sequences each stage caches
  // Prompt chunk rows; 0: the fastest of the candidates per device count; kSchedulerChunk: the
  // coordinator's own default cut (what a cluster started without --ubatch does).
  int32_t ubatch = 0;
  Overheads overheads;
};

struct StagePrediction {
  std::string device;
  int32_t first_layer = 0, last_layer = 0;
  plan::MemoryUse memory;
  uint64_t capacity = 0;
  bool fits = true;
  double prefill_utilisation = 0;  // busy share of the prefill run
  double decode_utilisation = 0;   // busy share of the concurrent run
  bool memory_bound = false;       // in decode
};

struct Prediction {
  int32_t devices = 0;
  bool fits = false;
  std::string why_not;  // when it does not fit
  std::vector<StagePrediction> stages;
  int32_t ubatch = 0;   // the prompt chunk the prediction used
  double prefill_tokens_per_s = 0;
  double decode_tokens_per_s = 0;            // one stream
  double aggregate_decode_tokens_per_s = 0;  // `concurrency` streams, generated tokens over the run
  double workload_seconds = 0;               // the concurrent run, start to last token
  int32_t bottleneck = 0;
  std::string bottleneck_why;
};

struct WhatIfAnswer {
  std::vector<Prediction> by_devices;  // 1..N devices, the first n of the spec
  int32_t best = -1;                   // index into by_devices; -1 when nothing fits
  std::string best_why;
};

// InvalidArgument for an empty cluster or a bad workload (the field named).
Result<WhatIfAnswer> AnswerWhatIf(const WhatIfQuestion& question);

// One prediction for a fixed number of the spec's first devices.
Result<Prediction> PredictFor(const WhatIfQuestion& question, int32_t devices);

}  // namespace ps::sim
