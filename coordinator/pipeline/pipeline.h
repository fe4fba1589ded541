// The pipeline executor: carries the engine loop's micro-batches (engine_loop.h) to stage 0 as
// frames, takes the last stage's frames back (the Pipeline hosts the ring's return leg:
// return_leg_service) into the loop, which streams text to each request and ends it (EOS,
// n_predict, full context, cancel, error frame), and frees ended sequences on every stage before
// a slot is reused.
//
// It lives as long as the coordinator and serves one plan (epoch) at a time. It watches that
// plan: a stage has failed when its worker's heartbeats stop or it is marked failed, when a hop to
// or from it breaks (the link to stage 0, a stage's reported hop_error, the return stream), when a
// FreeSequence on it fails, or when a micro-batch misses its deadline at it. Then it stops sending,
// drops every frame of the old epoch and tells the controller (on_failure); requests keep arriving
// and wait. Resume gives it the new plan: every live request is replayed from the tokens held here
// (prompt plus what was generated, with the first cuts) and goes on where it stopped; the client's
// stream sees neither a gap nor a duplicate. Degrade fails everything with the reason instead.
// All of that runs on one thread fed by an event queue, so the gRPC threads that call Submit,
// Cancel and the return leg only queue and never block.
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "common/tokenizer/tokenizer.h"
#include "coordinator/cluster/worker_client.h"
#include "coordinator/cluster/worker_registry.h"
#include "coordinator/engine/engine_loop.h"
#include "coordinator/metrics/request_metrics.h"
#include "coordinator/pipeline/trace_log.h"
#include "coordinator/scheduler/scheduler.h"
#include "proto/inference.pb.h"
#include "proto/stage.pb.h"
#include "transport/frame_transport.h"
#include "transport/grpc_stage_service.h"

namespace ps::coord {

struct PipelineStage {
  int32_t index = 0;
  std::string worker_id;
  std::string name;
  std::string address;
  std::string transport;  // to the next hop, for status: "nccl 10.0.0.3:5001" (empty: gRPC)
  std::string Describe() const;  // "stage 1 (gpu-b, 10.0.0.2:5001)"
};

// A loaded plan to serve on.
struct PipelinePlan {
  uint64_t epoch = 0;
  std::vector<PipelineStage> stages;
  std::unique_ptr<FrameSender> to_first;  // the coordinator's link to stage 0
};

// A stage of the plan being served failed; the pipeline has stopped sending.
struct StageFailure {
  uint64_t epoch = 0;
  int32_t stage = 0;
  std::string worker_id;
  Status reason;                          // Unavailable naming the stage and why
  std::unique_ptr<FrameSender> retired;   // the old link to stage 0: the controller closes it
};

struct PipelineTimeouts {
  // A micro-batch must come back within this long of the later of its sending and the previous
  // micro-batch's return; otherwise the first stage that has not passed it on has failed.
  double stage_seconds = 30;
  // A FreeSequence call: answered after the frames queued before it, so at least as long as
  // those may take (RunCoordinator sets it from --stage-timeout and the stage count).
  double free_seconds = 10;
};

enum class PipelineMode { kWaiting, kServing, kRecovering, kDegraded };

struct PipelineStats {
  int32_t active_requests = 0;
  int32_t queued_requests = 0;
  int32_t microbatches_in_flight = 0;
  uint64_t tokens_generated = 0;
  PipelineMode mode = PipelineMode::kWaiting;
  uint64_t epoch = 0;
  int32_t replayed_requests = 0;  // over every recovery
};

class Pipeline {
 public:
  // `on_failure` runs on the pipeline thread and must not block (queue the work). `security`:
  // how the calls to the workers are secured, and who may stream frames back (with TLS, only the
  // last stage of the plan being served).
  Pipeline(const SchedulerOptions& options, int32_t n_ctx, const Tokenizer& tokenizer, WorkerRegistry& registry,
           PipelineTimeouts timeouts, std::function<void(StageFailure)> on_failure,
           std::shared_ptr<const LinkSecurity> security = LinkSecurity::Plain());
  ~Pipeline();  // fails what is still running (Unavailable) and stops the thread
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Returns a handle for Cancel. The sink hears the outcome (failure included: queue full, no
  // plan to serve on). While recovering, requests wait for the new plan.
  uint64_t Submit(PipelineRequest request);
  // Every request submitted from now on is measured (`metrics` must outlive the pipeline's
  // requests); call before serving.
  void SetMetrics(RequestMetrics* metrics) { metrics_ = metrics; }
  void Cancel(uint64_t handle);

  // The Stage service the last stage streams its frames to; register it on the coordinator's
  // server, which must stop before the pipeline is destroyed.
  grpc::Service* return_leg_service() { return &return_leg_; }

  // From the controller: serve on `plan` (replaying every live request), or fail everything
  // (and every later request) with `why` until the next Resume.
  void Resume(PipelinePlan plan);
  void Degrade(Status why);

  PipelineStats stats() const;
  // The recent micro-batches' timelines (trace_log.h).
  pipeshard::v1::TraceResponse Trace(int64_t since_us) const { return trace_.Since(since_us); }

 private:
  struct Submitted {
    uint64_t handle;
    PipelineRequest request;
  };
  struct Cancelled {
    uint64_t handle;
  };
  struct FrameBack {
    pipeshard::v1::Frame frame;
  };
  struct StreamEnded {
    uint64_t epoch;
    Status status;
  };
  struct SlotFreedOnStage {
    int32_t seq;
    uint64_t epoch;
    int32_t stage;
    Status status;
  };
  struct Resumed {
    PipelinePlan plan;
  };
  struct Degraded {
    Status why;
  };
  using Event = std::variant<Submitted, Cancelled, FrameBack, StreamEnded, SlotFreedOnStage, Resumed, Degraded>;

  // The event queue outlives the pipeline while asynchronous FreeSequence calls still hold it.
  struct Inbox {
    std::mutex mu;
    std::condition_variable wake;
    std::deque<Event> events;
    bool closed = false;
    void Post(Event event);
  };

  void Loop();
  void Handle(Submitted& e);
  void Handle(Cancelled& e);
  void Handle(FrameBack& e);
  void Handle(StreamEnded& e);
  void Handle(SlotFreedOnStage& e);
  void Handle(Resumed& e);
  void Handle(Degraded& e);
  void CheckHealth();
  void CheckDeadline();
  void StageFailed(int32_t index, const std::string& why);
  size_t HolderOf(uint64_t microbatch) const;  // the stage that has not passed it on
  void SendPlans();
  void FreeSlots();

  const std::shared_ptr<const LinkSecurity> security_;
  WorkerRegistry& registry_;
  const PipelineTimeouts timeouts_;
  const std::function<void(StageFailure)> on_failure_;
  // Before return_leg_: its handlers hold the inbox itself, not the pipeline.
  const std::shared_ptr<Inbox> inbox_;
  GrpcStageService return_leg_;

  std::atomic<uint64_t> next_handle_{1};
  std::atomic<RequestMetrics*> metrics_{nullptr};
  TraceLog trace_;

  // The return leg's StreamAdmission: with TLS, Ok only for the served plan's last stage.
  Status AdmitReturnLeg(const std::string& peer_identity) const;

  mutable std::mutex return_leg_mu_;
  std::string return_leg_identity_;  // guarded by return_leg_mu_; set by Resume

  mutable std::mutex mu_;  // guards stats_
  PipelineStats stats_;

  // Pipeline thread only.
  PipelineMode mode_ = PipelineMode::kWaiting;
  Status degraded_;
  uint64_t epoch_ = 0;
  std::vector<PipelineStage> stages_;
  std::vector<std::unique_ptr<WorkerClient>> clients_;
  std::unique_ptr<FrameSender> to_first_;
  EngineLoop loop_;  // the requests, the scheduler and the stop rules (shared with `pipeshard run`)
  std::map<int32_t, int> frees_pending_;  // slot -> stages that have not confirmed yet
  std::map<uint64_t, std::chrono::steady_clock::time_point> sent_at_;  // micro-batches in flight
  std::chrono::steady_clock::time_point last_return_;
  int32_t replayed_ = 0;

  std::thread thread_;
};

}  // namespace ps::coord
