// The coordinator's control loop: it turns registered workers into a served plan, and makes a new
// one when a stage fails. States (docs/pipeline.md, "Failure and recovery"):
//   waiting    -- fewer healthy workers than --stages; nothing served yet;
//   loading    -- planning and loading the shards of the first plan;
//   serving    -- the pipeline runs on the current plan (epoch);
//   recovering -- a stage failed: admission is paused (requests wait), a standby takes the failed
//                 stage's place (same layers) or the survivors are re-planned, every stage loads
//                 at a new epoch, then the pipeline replays what was in flight and serves again;
//   degraded   -- no plan fits the healthy workers: every request fails with UNAVAILABLE naming
//                 the lost stage and why; a plan is tried again whenever a worker registers.
// Workers beyond the plan's stages are standbys. Every (re)load gets a new epoch, above any a
// worker reported at registration, so a restarted coordinator's first plan fences the old one.
// It owns the pipeline and the plan; `main` only parses flags and calls in.
// Thread-safety: Start/Stop from one thread; Snapshot and pipeline() from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/plan/partition_planner.h"
#include "coordinator/cluster/worker_registry.h"
#include "coordinator/pipeline/pipeline.h"

namespace ps::coord {

enum class ClusterState { kWaiting, kLoading, kServing, kRecovering, kDegraded };
// "waiting for workers", "loading", "serving", "recovering", "degraded".
const char* ClusterStateName(ClusterState state);

struct ControllerOptions {
  std::string model_path;   // sent in LoadShard: each worker's own copy
  int32_t stages = 1;       // stages of the first plan
  // Worker names in the order their stages should run in a plan made from scratch (the first, and
  // one after being degraded): named workers first, in this order, then the others in the order
  // they registered. Empty: registration order, which races when workers start together.
  std::vector<std::string> stage_order;
  int32_t n_ctx = 0;
  int32_t max_seqs = 8;
  int32_t ubatch = 0;       // prompt chunk; 0: chosen per prompt (ChoosePromptChunk)
  plan::Workload workload;  // what the split is cut for
  int32_t queue = 64;
  std::string kv_type = "f16";
  double load_timeout_seconds = 600;
  PipelineTimeouts timeouts;
  // How the links to and between the workers are secured (mutual TLS: every stage is told whom to
  // expect on each side).
  std::shared_ptr<const LinkSecurity> security = LinkSecurity::Plain();
};

struct ControllerSnapshot {
  ClusterState state = ClusterState::kWaiting;
  std::string reason;  // why the state is not serving
  uint64_t epoch = 0;
  plan::PartitionPlan plan;
  std::vector<PipelineStage> stages;
  int32_t recoveries = 0;
  double last_recovery_seconds = 0;
  std::string last_recovery;  // the one line logged for it
};

class ClusterController {
 public:
  ClusterController(ControllerOptions options, plan::ModelCost cost, const Tokenizer& tokenizer,
                    WorkerRegistry& registry);
  ~ClusterController();  // Stop()
  ClusterController(const ClusterController&) = delete;
  ClusterController& operator=(const ClusterController&) = delete;

  // Where the last stage sends its frames; set once the server listens, before Start.
  void SetOwnAddress(std::string address) { own_address_ = std::move(address); }
  // Starts the control thread (after the server listens: workers must be able to register).
  void Start();
  void Stop();

  Pipeline& pipeline() { return *pipeline_; }
  ControllerSnapshot Snapshot() const;
  // How prompts are cut, for status: "fixed at N tokens (--ubatch)" or the rule that picks it.
  std::string prompt_chunking() const;

 private:
  void Loop();
  // Plans over `workers` (stage order), loads every stage at a new epoch and resumes the
  // pipeline. When a worker fails to load (or stops heartbeating while it loads), it is kept out
  // of plans for a while, named in `failed_worker`, and its error returned; an error with
  // `failed_worker` empty is the plan's own (nothing fits).
  Status LoadPlan(const std::vector<WorkerRecord>& workers, const plan::PartitionPlan* keep_ranges,
                  std::string* failed_worker);
  // After `failure`: a standby in its place, or a re-plan over the survivors, or degraded.
  void Recover(StageFailure failure);
  // Degraded: tries a plan over every healthy worker; true when serving again.
  bool TryPlanFromDegraded();
  std::vector<WorkerRecord> HealthyWorkers();
  void SetState(ClusterState state, std::string reason);
  bool stopping() const;

  const ControllerOptions options_;
  std::string own_address_;  // written before Start, read by the control thread
  const plan::ModelCost cost_;
  WorkerRegistry& registry_;
  std::unique_ptr<Pipeline> pipeline_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::deque<StageFailure> failures_;
  ControllerSnapshot snapshot_;
  uint64_t next_epoch_ = 1;

  std::thread thread_;
};

}  // namespace ps::coord
