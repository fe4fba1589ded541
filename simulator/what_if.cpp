#include "simulator/what_if.h"

#include <algorithm>
#include <cstdio>

#include "common/plan/partition_planner.h"
#include "common/plan/step_cost.h"
#include "coordinator/scheduler/scheduler.h"
#include "simulator/pipeline_sim.h"

namespace ps::sim {

namespace {

// Device counts whose workload times differ by less than this share are equal: the fewer wins.
constexpr double kFewerDevicesTolerance = 0.03;
// Prompt chunks tried when --ubatch is not given (0: the scheduler's own choice).
constexpr int32_t kChunkCandidates[] = {0, 128, 256, 512};

struct Placed {
  plan::DeviceProfile device;
  plan::LinkProfile link;  // to the next device
};

std::vector<Placed> FirstDevices(const std::vector<plan::ClusterGroup>& cluster, int32_t n) {
  std::vector<Placed> out;
  for (const plan::ClusterGroup& g : cluster) {
    for (int i = 0; i < g.count && static_cast<int32_t>(out.size()) < n; ++i) out.push_back({g.device, g.link});
  }
  return out;
}

// Links inside one host that GPU stages cross with NCCL or CUDA IPC rather than gRPC.
bool InHostLink(const plan::LinkProfile& link) {
  return link.name.rfind("pcie", 0) == 0 || link.name.rfind("nvlink", 0) == 0;
}

plan::LinkProfile Loopback() {
  if (const plan::LinkProfile* l = plan::HardwareCatalog::BuiltIn().FindLink("loopback")) return *l;
  return plan::LinkProfile{"loopback", {}, 2e9, 5e-5};
}

double WeightThroughput(const plan::DeviceProfile& d, plan::MatmulPrecision precision) {
  const double peak = precision == plan::MatmulPrecision::kQuantized && d.int8_ops > 0 ? d.int8_ops
                      : precision == plan::MatmulPrecision::kF32                      ? d.f32_flops
                                                                                       : std::max(d.f16_flops, d.f32_flops);
  return peak * d.compute_efficiency;
}

Status CheckQuestion(const WhatIfQuestion& q) {
  if (q.cluster.empty()) return Status::InvalidArgument("the cluster names no devices");
  if (q.cost.n_layer() < 1) return Status::InvalidArgument("the model has no layers");
  if (q.prompt_tokens < 1) return Status::InvalidArgument("--prompt-tokens must be at least 1 (got " + std::to_string(q.prompt_tokens) + ")");
  if (q.gen_tokens < 1) return Status::InvalidArgument("--gen-tokens must be at least 1 (got " + std::to_string(q.gen_tokens) + ")");
  if (q.concurrency < 1) return Status::InvalidArgument("--concurrency must be at least 1 (got " + std::to_string(q.concurrency) + ")");
  if (q.ubatch < 0 && q.ubatch != kSchedulerChunk) {
    return Status::InvalidArgument("--ubatch must not be negative (got " + std::to_string(q.ubatch) + ")");
  }
  if (q.ctx < 1) return Status::InvalidArgument("--ctx must be at least 1 (got " + std::to_string(q.ctx) + ")");
  if (static_cast<int64_t>(q.prompt_tokens) + q.gen_tokens > q.ctx) {
    return Status::InvalidArgument("--prompt-tokens " + std::to_string(q.prompt_tokens) + " + --gen-tokens " +
                                   std::to_string(q.gen_tokens) + " do not fit --ctx " + std::to_string(q.ctx));
  }
  return Status::Ok();
}

std::string Fixed(double v, int digits) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

struct Runner {
  const WhatIfQuestion& q;
  std::vector<SimStage> stages;
  SimOptions options;

  Result<SimResult> Run(int32_t ubatch, int32_t requests, int32_t gen) const {
    SimOptions o = options;
    o.scheduler.ubatch = ubatch;
    o.scheduler.max_ubatch = std::max(coord::kDefaultMaxUbatch, ubatch);
    std::vector<SimRequest> reqs(static_cast<size_t>(requests), SimRequest{q.prompt_tokens, gen, 0});
    return SimulatePipeline(stages, o, reqs);
  }
};

std::string BottleneckWhy(const StagePrediction& s, const SimResult& run, size_t index, int32_t streams) {
  const StageUse& use = run.stages[index];
  const double share = run.makespan_s > 0 ? use.busy_s / run.makespan_s : 0;
  std::string why = "stage " + std::to_string(index) + " (" + s.device + ", layers [" + std::to_string(s.first_layer) +
                    ", " + std::to_string(s.last_layer) + ")) is busy " + Fixed(100 * share, 0) + "% of the time";
  if (share < 0.5) {
    why += ": the stages mostly wait, because ";
    why += streams == 1 ? "one stream's token crosses every stage and hop in turn"
                        : "too few streams are in flight to keep every stage busy";
    return why;
  }
  why += use.memory_s >= use.compute_s ? ", memory-bound: it reads its weights and KV cache for every step"
                                       : ", compute-bound: its matrix work outweighs the reads";
  return why;
}

}  // namespace

Result<Prediction> PredictFor(const WhatIfQuestion& q, int32_t devices) {
  PS_RETURN_IF_ERROR(CheckQuestion(q));
  const std::vector<Placed> placed = FirstDevices(q.cluster, devices);
  if (devices < 1 || static_cast<int32_t>(placed.size()) != devices) {
    return Status::InvalidArgument("the cluster has " + std::to_string(placed.size()) + " devices, not " + std::to_string(devices));
  }
  Prediction p;
  p.devices = devices;
  if (devices > q.cost.n_layer()) {
    p.why_not = std::to_string(devices) + " stages but the model has only " + std::to_string(q.cost.n_layer()) + " layers";
    return p;
  }
  const int32_t memory_ubatch = std::max(coord::kDefaultMaxUbatch, q.ubatch);
  // Buffers differ little between stages; the largest (the last stage's, with the logits) is
  // held back from every device so that the split leaves room for them.
  const uint64_t buffers = plan::StageMemory(q.cost, q.cost.n_layer(), q.cost.n_layer(), q.ctx, q.concurrency, memory_ubatch).buffers +
                           plan::StageMemory(q.cost, 0, 0, q.ctx, q.concurrency, memory_ubatch).buffers;
  std::vector<plan::WorkerCapacity> workers;
  for (size_t i = 0; i < placed.size(); ++i) {
    const plan::DeviceProfile& d = placed[i].device;
    workers.push_back({d.name + "#" + std::to_string(i), WeightThroughput(d, q.cost.precision) / 1e9,
                       d.memory_bytes > buffers ? d.memory_bytes - buffers : 1});
  }
  plan::PlanOptions po;
  po.kv_cache_tokens = static_cast<uint64_t>(q.ctx) * static_cast<uint64_t>(q.concurrency);
  po.workload = {q.prompt_tokens, q.gen_tokens, q.concurrency};
  auto split = plan::PlanPartition(q.cost, workers, po);
  if (!split.ok()) {
    if (split.status().code() != StatusCode::kResourceExhausted) return split.status();
    p.why_not = split.status().message();
    return p;
  }

  Runner runner{q, {}, {}};
  for (size_t i = 0; i < placed.size(); ++i) {
    const plan::StagePlan& sp = split->stages[i];
    StagePrediction s;
    s.device = placed[i].device.name;
    s.first_layer = sp.first_layer;
    s.last_layer = sp.last_layer;
    s.memory = plan::StageMemory(q.cost, sp.first_layer, sp.last_layer, q.ctx, q.concurrency, memory_ubatch);
    s.capacity = placed[i].device.memory_bytes;
    s.fits = s.memory.total() <= s.capacity;
    p.stages.push_back(s);

    const bool last = i + 1 == placed.size();
    const bool gpu_pair = !last && placed[i].device.gpu && placed[i + 1].device.gpu && InHostLink(placed[i].link);
    plan::LinkProfile link = last && InHostLink(placed[i].link) ? Loopback() : placed[i].link;
    runner.stages.push_back(SimStage{plan::StageCostModel(q.cost, sp.first_layer, sp.last_layer, placed[i].device), link,
                                     gpu_pair ? q.overheads.device_hop_s : q.overheads.grpc_hop_s});
  }
  p.fits = std::all_of(p.stages.begin(), p.stages.end(), [](const StagePrediction& s) { return s.fits; });
  if (!p.fits) {
    for (size_t i = 0; i < p.stages.size(); ++i) {
      if (!p.stages[i].fits) {
        p.why_not = "stage " + std::to_string(i) + " (" + p.stages[i].device + ") needs " + plan::FormatGiB(p.stages[i].memory.total()) +
                    " but has " + plan::FormatGiB(p.stages[i].capacity);
        break;
      }
    }
    return p;
  }
  runner.options.scheduler.max_seqs = q.concurrency;
  runner.options.coordinator_link = Loopback();
  runner.options.coordinator_hop_overhead_s = q.overheads.grpc_hop_s;
  runner.options.coordinator_turn_s = q.overheads.coordinator_turn_s;
  runner.options.activation_bytes_per_row = q.cost.n_embd * 4;

  // The prompt chunk: the one that prefills fastest.
  std::vector<int32_t> candidates;
  if (q.ubatch > 0) {
    candidates.push_back(q.ubatch);
  } else if (q.ubatch == kSchedulerChunk) {
    candidates.push_back(0);  // the scheduler's ChoosePromptChunk, as in the cluster
  } else {
    candidates.assign(std::begin(kChunkCandidates), std::end(kChunkCandidates));
  }
  double best_prefill = -1;
  int32_t chosen = candidates.front();
  SimResult prefill_run;
  for (int32_t u : candidates) {
    PS_ASSIGN_OR_RETURN(SimResult r, runner.Run(u, 1, 1));
    const double tps = r.requests[0].first_token_s > 0 ? q.prompt_tokens / r.requests[0].first_token_s : 0;
    if (tps > best_prefill * (1 + 1e-9)) {
      best_prefill = tps;
      chosen = u;
      prefill_run = std::move(r);
    }
  }
  p.ubatch = chosen > 0 ? chosen : coord::ChoosePromptChunk(q.prompt_tokens, devices, coord::kDefaultMaxUbatch);
  p.prefill_tokens_per_s = best_prefill;

  PS_ASSIGN_OR_RETURN(SimResult single, runner.Run(chosen, 1, q.gen_tokens));
  const RequestTiming& t = single.requests[0];
  p.decode_tokens_per_s = q.gen_tokens > 1 && t.finished_s > t.first_token_s ? (q.gen_tokens - 1) / (t.finished_s - t.first_token_s) : 0;

  PS_ASSIGN_OR_RETURN(SimResult many, runner.Run(chosen, q.concurrency, q.gen_tokens));
  p.workload_seconds = many.makespan_s;
  p.aggregate_decode_tokens_per_s =
      many.makespan_s > 0 ? static_cast<double>(q.concurrency) * q.gen_tokens / many.makespan_s : 0;
  size_t busiest = 0;
  for (size_t i = 0; i < p.stages.size(); ++i) {
    p.stages[i].prefill_utilisation = prefill_run.makespan_s > 0 ? prefill_run.stages[i].busy_s / prefill_run.makespan_s : 0;
    p.stages[i].decode_utilisation = many.makespan_s > 0 ? many.stages[i].busy_s / many.makespan_s : 0;
    p.stages[i].memory_bound = many.stages[i].memory_s >= many.stages[i].compute_s;
    if (many.stages[i].busy_s > many.stages[busiest].busy_s) busiest = i;
  }
  p.bottleneck = static_cast<int32_t>(busiest);
  p.bottleneck_why = BottleneckWhy(p.stages[busiest], many, busiest, q.concurrency);
  return p;
}

Result<WhatIfAnswer> AnswerWhatIf(const WhatIfQuestion& q) {
  PS_RETURN_IF_ERROR(CheckQuestion(q));
  int32_t total = 0;
  for (const plan::ClusterGroup& g : q.cluster) total += g.count;
  WhatIfAnswer a;
  for (int32_t n = 1; n <= total; ++n) {
    PS_ASSIGN_OR_RETURN(Prediction p, PredictFor(q, n));
    a.by_devices.push_back(std::move(p));
  }
  double fastest = 0;
  for (const Prediction& p : a.by_devices) {
    if (p.fits && (fastest == 0 || p.workload_seconds < fastest)) fastest = p.workload_seconds;
  }
  for (size_t i = 0; i < a.by_devices.size(); ++i) {
    const Prediction& p = a.by_devices[i];
    if (p.fits && p.workload_seconds <= fastest * (1 + kFewerDevicesTolerance)) {
      a.best = static_cast<int32_t>(i);
      break;
    }
  }
  if (a.best < 0) {
    a.best_why = "no number of these devices holds the model at this context: " +
                 (a.by_devices.empty() ? std::string("no devices") : a.by_devices.back().why_not);
    return a;
  }
  const Prediction& best = a.by_devices[static_cast<size_t>(a.best)];
  a.best_why = "use " + std::to_string(best.devices) + " of the " + std::to_string(total) + " devices: the workload (" +
               std::to_string(q.concurrency) + " x " + std::to_string(q.prompt_tokens) + " prompt + " +
               std::to_string(q.gen_tokens) + " generated tokens) takes " + Fixed(best.workload_seconds, 2) + " s";
  if (best.devices < total) {
    const Prediction& all = a.by_devices.back();
    a.best_why += all.fits ? "; all " + std::to_string(total) + " take " + Fixed(all.workload_seconds, 2) +
                                 " s, so the others add hops without paying for them"
                           : "; more do not fit or do not help";
  } else if (total > 1) {
    a.best_why += ", the fastest of 1.." + std::to_string(total);
  }
  if (best.devices > 1 && a.by_devices.front().fits) {
    a.best_why += " (1 device: " + Fixed(a.by_devices.front().workload_seconds, 2) + " s)";
  } else if (best.devices > 1) {
    a.best_why += " (1 device cannot hold it)";
  }
  return a;
}

}  // namespace ps::sim
