// The pipeline executor: carries the scheduler's micro-batch plans to stage 0 as frames, takes
// the last stage's frames (which arrive at the coordinator's own Stage service) back to the
// scheduler, streams text to each request and ends it (EOS, n_predict, full context, cancel,
// error frame, broken hop), freeing its sequence on every stage before the slot is reused.
// All of that runs on one thread fed by an event queue, so the gRPC threads that call Submit,
// Cancel, OnFrame and OnStreamEnd only queue and never block.
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <atomic>
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
#include "coordinator/pipeline/request_progress.h"
#include "coordinator/scheduler/scheduler.h"
#include "proto/inference.pb.h"
#include "proto/stage.pb.h"
#include "worker/transport/frame_transport.h"

namespace ps::coord {

// Where a request's results go. Called on the pipeline thread; must not block.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  virtual void OnText(std::string piece) = 0;
  virtual void OnFinished(pipeshard::v1::GenerateSummary summary) = 0;
  virtual void OnFailed(Status status) = 0;
};

struct PipelineRequest {
  std::vector<int32_t> prompt;
  int32_t n_predict = -1;
  pipeshard::v1::SamplingParams sampling;  // the seed already resolved (never 0xFFFFFFFF)
  bool ignore_eos = false;
  std::shared_ptr<RequestSink> sink;
};

struct PipelineStage {
  int32_t index = 0;
  std::string worker_id;
  std::string name;
  std::string address;
  std::string transport;  // to the next hop, for status: "nccl 10.0.0.3:5001" (empty: gRPC)
  std::string Describe() const;  // "stage 1 (gpu-b, 10.0.0.2:5001)"
};

struct PipelineStats {
  int32_t active_requests = 0;
  int32_t queued_requests = 0;
  int32_t microbatches_in_flight = 0;
  uint64_t tokens_generated = 0;
};

class Pipeline {
 public:
  Pipeline(const SchedulerOptions& options, int32_t n_ctx, const Tokenizer& tokenizer, WorkerRegistry& registry,
           std::vector<PipelineStage> stages, std::unique_ptr<FrameSender> to_first_stage);
  ~Pipeline();  // fails what is still running (Unavailable) and stops the thread
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Returns a handle for Cancel. The sink hears the outcome (failure included: queue full,
  // a stage down).
  uint64_t Submit(PipelineRequest request);
  void Cancel(uint64_t handle);
  // From the coordinator's Stage service.
  void OnFrame(pipeshard::v1::Frame&& frame);
  void OnStreamEnd(const Status& status);

  // OK, or Unavailable naming the first unhealthy stage (index, name, address) and why.
  Status Health() const;
  PipelineStats stats() const;
  std::string transport() const;  // stage 0's link, for status

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
  struct SlotFreedOnStage {
    int32_t seq;
    Status status;
  };
  struct LinkBroken {
    Status status;
  };
  using Event = std::variant<Submitted, Cancelled, FrameBack, SlotFreedOnStage, LinkBroken>;

  struct Live {
    uint64_t handle;
    PipelineRequest request;
    RequestProgress progress;
  };

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
  void Handle(SlotFreedOnStage& e);
  void Handle(LinkBroken& e);
  void CheckHealth();
  void FailEverything(const Status& status);
  void EndRequest(RequestId id);
  void Fail(RequestId id, const Status& status);
  void SendPlans();
  void FreeSlots();

  const int32_t n_ctx_;
  const Tokenizer& tokenizer_;
  WorkerRegistry& registry_;
  const std::vector<PipelineStage> stages_;
  std::vector<std::unique_ptr<WorkerClient>> clients_;
  std::unique_ptr<FrameSender> to_first_;

  const std::shared_ptr<Inbox> inbox_;
  std::atomic<uint64_t> next_handle_{1};

  mutable std::mutex mu_;  // guards stats_ and link_error_
  PipelineStats stats_;
  Status link_error_;  // a hop broke: the pipeline is down for good

  // Pipeline thread only.
  Scheduler scheduler_;
  std::map<RequestId, Live> live_;
  std::map<uint64_t, RequestId> by_handle_;
  std::map<int32_t, int> frees_pending_;  // slot -> stages that have not confirmed yet
  bool was_healthy_ = true;
  uint64_t tokens_generated_ = 0;

  std::thread thread_;
};

}  // namespace ps::coord
