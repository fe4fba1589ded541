#include "coordinator/control/cluster_controller.h"

#include "common/log/log.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>

#include "common/plan/transport_choice.h"
#include "common/util/elapsed.h"
#include "coordinator/control/stage_order.h"
#include "coordinator/cluster/worker_client.h"
#include "coordinator/pipeline/hop_setup.h"
#include "transport/tls/identities.h"

namespace ps::coord {

namespace {

constexpr auto kPollPeriod = std::chrono::milliseconds(200);
constexpr auto kRetryAfterLoadFailure = std::chrono::seconds(3);
constexpr int kRecoveryAttempts = 3;
constexpr double kLoadFailurePenaltySeconds = 30;

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

}  // namespace

const char* ClusterStateName(ClusterState state) {
  switch (state) {
    case ClusterState::kWaiting: return "waiting for workers";
    case ClusterState::kLoading: return "loading";
    case ClusterState::kServing: return "serving";
    case ClusterState::kRecovering: return "recovering";
    case ClusterState::kDegraded: return "degraded";
  }
  return "unknown";
}

ClusterController::ClusterController(ControllerOptions options, plan::ModelCost cost, const Tokenizer& tokenizer,
                                     WorkerRegistry& registry)
    : options_(std::move(options)), cost_(std::move(cost)), registry_(registry) {
  SchedulerOptions scheduler;
  scheduler.max_seqs = options_.max_seqs;
  scheduler.ubatch = options_.ubatch;
  scheduler.max_ubatch = std::max(kDefaultMaxUbatch, options_.ubatch);
  scheduler.stages = options_.stages;
  scheduler.queue_limit = options_.queue;
  pipeline_ = std::make_unique<Pipeline>(scheduler, options_.n_ctx, tokenizer, registry_, options_.timeouts,
                                         [this](StageFailure failure) {
                                           std::lock_guard<std::mutex> lock(mu_);
                                           failures_.push_back(std::move(failure));
                                           wake_.notify_all();
                                         },
                                         options_.security);
}

std::string ClusterController::prompt_chunking() const {
  std::string s;
  if (options_.ubatch > 0) {
    s = "fixed at ";
    s += std::to_string(options_.ubatch);
    s += " tokens (--ubatch)";
    return s;
  }
  s = "chosen per prompt: at least ";
  s += std::to_string(kChunksPerStage);
  s += " per stage, ";
  s += std::to_string(kMinPromptChunk);
  s += " to ";
  s += std::to_string(kMaxPipelinedChunk);
  s += " tokens (one stage: ";
  s += std::to_string(kDefaultMaxUbatch);
  s += ")";
  return s;
}

ClusterController::~ClusterController() {
  Stop();
  pipeline_.reset();  // before the failures it may still post into
}

void ClusterController::Start() { thread_ = std::thread([this] { Loop(); }); }

void ClusterController::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

bool ClusterController::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

ControllerSnapshot ClusterController::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

void ClusterController::SetState(ClusterState state, std::string reason) {
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_.state = state;
  snapshot_.reason = std::move(reason);
}

std::vector<WorkerRecord> ClusterController::HealthyWorkers() {
  std::vector<WorkerRecord> healthy;
  for (WorkerRecord& w : registry_.Snapshot()) {
    if (registry_.Health(w.id).ok() && WorkerRegistry::Plannable(w)) healthy.push_back(std::move(w));
  }
  return healthy;
}

void ClusterController::Loop() {
  log::Info("waiting for workers", {{"stages", std::to_string(options_.stages)}});
  auto next_try = std::chrono::steady_clock::now();
  while (!stopping()) {
    std::optional<StageFailure> failure;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, kPollPeriod, [&] { return stopping_ || !failures_.empty(); });
      if (stopping_) break;
      if (!failures_.empty()) {
        failure = std::move(failures_.front());
        failures_.pop_front();
      }
    }
    const ClusterState state = Snapshot().state;
    if (failure.has_value()) {
      if (failure->epoch == Snapshot().epoch && state == ClusterState::kServing) Recover(std::move(*failure));
      continue;
    }
    if (std::chrono::steady_clock::now() < next_try) continue;
    if (state == ClusterState::kWaiting) {
      std::vector<WorkerRecord> healthy = HealthyWorkers();
      if (static_cast<int32_t>(healthy.size()) < options_.stages) continue;
      OrderForStages(options_.stage_order, &healthy);
      healthy.resize(static_cast<size_t>(options_.stages));  // the rest are standbys
      SetState(ClusterState::kLoading, "");
      std::string failed_worker;
      const Status loaded = LoadPlan(healthy, nullptr, &failed_worker);
      if (!loaded.ok()) {
        log::Warn(loaded.ToString() + "; waiting for workers again");
        SetState(ClusterState::kWaiting, loaded.message());
        next_try = std::chrono::steady_clock::now() + kRetryAfterLoadFailure;
      } else {
        log::Info("serving");
      }
    } else if (state == ClusterState::kDegraded) {
      if (!TryPlanFromDegraded()) next_try = std::chrono::steady_clock::now() + kRetryAfterLoadFailure;
    }
  }
}

Status ClusterController::LoadPlan(const std::vector<WorkerRecord>& workers, const plan::PartitionPlan* keep_ranges,
                                   std::string* failed_worker) {
  failed_worker->clear();
  plan::PartitionPlan partition;
  if (keep_ranges != nullptr) {
    partition = *keep_ranges;
    for (size_t i = 0; i < workers.size(); ++i) partition.stages[i].worker = workers[i].name;
  } else {
    std::vector<plan::WorkerCapacity> capacities;
    for (const WorkerRecord& w : workers) {
      // A worker that could not measure itself counts as average: 1 GFLOP/s like everyone unmeasured.
      const double gflops = w.device.matmul_gflops() > 0 ? w.device.matmul_gflops() : 1.0;
      capacities.push_back({w.name, gflops, w.device.memory_free_bytes()});
    }
    plan::PlanOptions plan_options;
    plan_options.kv_cache_tokens = static_cast<uint64_t>(options_.n_ctx) * static_cast<uint64_t>(options_.max_seqs);
    plan_options.workload = options_.workload;
    auto planned = plan::PlanPartition(cost_, capacities, plan_options);
    if (!planned.ok()) return planned.status();
    partition = std::move(planned).value();
  }
  std::vector<plan::StageEndpoint> endpoints;
  for (const WorkerRecord& w : workers) endpoints.push_back(EndpointOf(w));
  const std::vector<plan::HopChoice> hops = plan::ChooseTransports(endpoints);
  if (keep_ranges == nullptr) partition.explanation += plan::ExplainTransports(hops);

  uint64_t epoch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    epoch = std::max(next_epoch_, registry_.max_reported_epoch() + 1);
    next_epoch_ = epoch + 1;
  }
  log::Info(partition.explanation, {{"epoch", std::to_string(epoch)}});

  // Load the shards in stage order: a stage's reply carries what it created for its GPU hop to
  // the next stage (NCCL id, CUDA IPC ring), which that stage's request then gets.
  std::vector<PipelineStage> stages;
  for (size_t i = 0; i < workers.size(); ++i) {
    stages.push_back({static_cast<int32_t>(i), workers[i].id, workers[i].name, workers[i].address,
                      plan::DescribeHop(endpoints, hops, i)});
  }
  pipeshard::v1::LoadShardResponse previous;
  for (size_t i = 0; i < workers.size(); ++i) {
    pipeshard::v1::LoadShardRequest request;
    request.set_model_path(options_.model_path);
    request.set_first_layer(partition.stages[i].first_layer);
    request.set_last_layer(partition.stages[i].last_layer);
    request.set_stage_index(static_cast<int32_t>(i));
    request.set_stage_count(static_cast<int32_t>(workers.size()));
    request.set_next_address(i + 1 < workers.size() ? workers[i + 1].address : own_address_);
    request.set_next_identity(i + 1 < workers.size() ? tls::WorkerIdentity(workers[i + 1].name)
                                                      : std::string(tls::kCoordinatorIdentity));
    request.set_prev_identity(i > 0 ? tls::WorkerIdentity(workers[i - 1].name) : std::string(tls::kCoordinatorIdentity));
    request.set_n_ctx(options_.n_ctx);
    request.set_max_seqs(options_.max_seqs);
    request.set_kv_type(options_.kv_type);
    request.set_epoch(epoch);
    const Status hop = SetHopFields(hops, i, previous, &request);
    if (!hop.ok()) {
      *failed_worker = workers[i].id;
      return Status::Internal(hop.WithContext(stages[i].Describe()).message());
    }
    WorkerClient client(workers[i].address, workers[i].name, options_.security);
    const std::string id = workers[i].id;
    auto loaded = client.LoadShard(request, options_.load_timeout_seconds, [this, id]() -> std::string {
      if (stopping()) return "the coordinator is shutting down";
      const Status health = registry_.Health(id);
      return health.ok() ? "" : "the worker " + health.message();
    });
    if (!loaded.ok()) {
      *failed_worker = id;
      registry_.MarkLoadFailed(id, "its LoadShard failed: " + loaded.status().message(), kLoadFailurePenaltySeconds);
      return Status::Unavailable(loaded.status().WithContext(stages[i].Describe()).message());
    }
    previous = *loaded;
    registry_.SetMemoryUsed(workers[i].id, loaded->memory_used_bytes());
    log::Info(stages[i].Describe() + " loaded layers [" + std::to_string(request.first_layer()) + ", " +
                  std::to_string(request.last_layer()) + ")" + (loaded->kept_weights() ? " (kept its weights)" : ""),
              {{"epoch", std::to_string(epoch)},
               {"stage", std::to_string(i)},
               {"load_seconds", std::to_string(loaded->load_seconds())}});
    if (stopping()) return Status::Cancelled("the coordinator is shutting down");
  }
  auto to_first = ConnectGrpcFrameSender(workers[0].address, 10.0,
                                         HopPeer{options_.security, tls::WorkerIdentity(workers[0].name)});
  if (!to_first.ok()) {
    *failed_worker = workers[0].id;
    return Status::Unavailable(to_first.status().WithContext(stages[0].Describe()).message());
  }
  // The pipeline serves the plan before the state says so: a request let in by "serving" always
  // finds it (the pipeline handles events in order).
  pipeline_->Resume(PipelinePlan{epoch, stages, std::move(to_first).value()});
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_.epoch = epoch;
  snapshot_.plan = partition;
  snapshot_.stages = std::move(stages);
  snapshot_.state = ClusterState::kServing;
  snapshot_.reason.clear();
  return Status::Ok();
}

void ClusterController::Recover(StageFailure failure) {
  const auto start = std::chrono::steady_clock::now();
  const ControllerSnapshot before = Snapshot();
  const int32_t in_flight = pipeline_->stats().active_requests;
  SetState(ClusterState::kRecovering, failure.reason.message());
  log::Warn(failure.reason.message() + "; recovering", {{"worker", failure.worker_id}});
  if (failure.retired != nullptr) (void)failure.retired->Close();  // bounded: a frozen peer is cut off

  std::set<std::string> excluded = {failure.worker_id};
  Status last_error = failure.reason;
  std::string what;
  for (int attempt = 0; attempt < kRecoveryAttempts && !stopping(); ++attempt) {
    // Who is left of the plan, and who can stand in.
    std::vector<WorkerRecord> healthy = HealthyWorkers();
    auto usable = [&](const WorkerRecord& w) { return !excluded.contains(w.id); };
    std::vector<WorkerRecord> standbys;
    for (const WorkerRecord& w : healthy) {
      const bool in_plan = std::any_of(before.stages.begin(), before.stages.end(),
                                       [&](const PipelineStage& s) { return s.worker_id == w.id; });
      if (!in_plan && usable(w)) standbys.push_back(w);
    }
    std::vector<std::optional<WorkerRecord>> kept;
    std::vector<std::string> lost;
    for (const PipelineStage& s : before.stages) {
      auto it = std::find_if(healthy.begin(), healthy.end(), [&](const WorkerRecord& w) { return w.id == s.worker_id; });
      if (it != healthy.end() && usable(*it)) {
        kept.emplace_back(*it);
      } else {
        kept.emplace_back(std::nullopt);
        lost.push_back(s.Describe());
      }
    }
    std::vector<WorkerRecord> workers;
    const plan::PartitionPlan* keep_ranges = nullptr;
    if (lost.size() <= standbys.size()) {
      // Standbys take the lost stages' places and layers, if their memory holds them.
      size_t next = 0;
      bool fits = true;
      std::vector<std::string> swaps;
      for (size_t i = 0; i < kept.size(); ++i) {
        if (kept[i].has_value()) {
          workers.push_back(*kept[i]);
          continue;
        }
        const WorkerRecord& standby = standbys[next++];
        const uint64_t need = before.plan.stages[i].memory_bytes;
        const uint64_t free = standby.device.memory_free_bytes();
        if (free != 0 && need > free) fits = false;
        swaps.push_back("standby " + standby.name + " took stage " + std::to_string(i) + "'s place");
        workers.push_back(standby);
      }
      if (fits) {
        keep_ranges = &before.plan;
        what = Join(swaps);
      } else {
        workers.clear();
      }
    }
    if (workers.empty()) {
      // Re-plan over the survivors (in their stage order) and any standbys.
      for (const auto& k : kept) {
        if (k.has_value()) workers.push_back(*k);
      }
      for (const WorkerRecord& s : standbys) workers.push_back(s);
      if (static_cast<int32_t>(workers.size()) > options_.stages) workers.resize(static_cast<size_t>(options_.stages));
      what = "re-planned over " + std::to_string(workers.size()) + " worker(s)";
    }
    if (workers.empty()) {
      last_error = Status::Unavailable(failure.reason.message() + "; no worker is left to re-plan over");
      break;
    }
    std::string failed_worker;
    const Status loaded = LoadPlan(workers, keep_ranges, &failed_worker);
    if (loaded.ok()) {
      const double seconds = SecondsSince(start);
      char line[512];
      std::snprintf(line, sizeof line, "recovery %d (epoch %llu -> %llu): %s; %s; %d request(s) replayed; serving again after %.2f s",
                    before.recoveries + 1, static_cast<unsigned long long>(before.epoch),
                    static_cast<unsigned long long>(Snapshot().epoch), failure.reason.message().c_str(), what.c_str(),
                    in_flight, seconds);
      log::Info(line);
      std::lock_guard<std::mutex> lock(mu_);
      snapshot_.recoveries = before.recoveries + 1;
      snapshot_.last_recovery_seconds = seconds;
      snapshot_.last_recovery = line;
      return;
    }
    last_error = loaded;
    if (failed_worker.empty()) {
      // The plan itself: the workers left cannot hold the model (memory). No retry helps.
      last_error = Status::Unavailable(failure.reason.message() + "; no re-plan over the " +
                                       std::to_string(workers.size()) + " worker(s) left fits: " + loaded.message());
      break;
    }
    // One worker failed to load: leave it out and try again with the others.
    excluded.insert(failed_worker);
    log::Warn("recovery attempt failed: " + loaded.ToString(), {{"attempt", std::to_string(attempt + 1)}});
  }
  if (last_error.code() != StatusCode::kUnavailable) {
    last_error = Status::Unavailable(failure.reason.message() + "; recovery failed: " + last_error.message());
  }
  log::Error("degraded: " + last_error.message());
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot_.state = ClusterState::kDegraded;
    snapshot_.reason = last_error.message();
    snapshot_.stages.clear();
  }
  pipeline_->Degrade(last_error);
}

bool ClusterController::TryPlanFromDegraded() {
  std::vector<WorkerRecord> healthy = HealthyWorkers();
  if (healthy.empty()) return false;
  OrderForStages(options_.stage_order, &healthy);
  if (static_cast<int32_t>(healthy.size()) > options_.stages) healthy.resize(static_cast<size_t>(options_.stages));
  const std::string reason = Snapshot().reason;
  std::string failed_worker;
  const Status loaded = LoadPlan(healthy, nullptr, &failed_worker);
  if (!loaded.ok()) {
    SetState(ClusterState::kDegraded, reason);
    return false;
  }
  log::Info("serving again on " + std::to_string(healthy.size()) + " worker(s) after being degraded");
  return true;
}

}  // namespace ps::coord
