// The worker's control service (LoadShard, FreeSequence) and the entry point of its data plane:
// frames from the Stage service go to the loaded shard's executor. Loading runs on one control
// thread so no gRPC thread blocks; it answers when done. FreeSequence answers once the executor
// freed the sequences, after every frame queued before it.
// Fencing: the loaded shard has the epoch of the plan that loaded it. A LoadShard of an older
// epoch is refused (FAILED_PRECONDITION), FreeSequence must name the shard's epoch, and frames of
// any other epoch are dropped before they reach the executor, so a worker that froze and woke up,
// or a coordinator that was replaced, cannot write into a newer plan. A LoadShard the worker's device cannot serve (no CUDA, no driver, out of device
// memory) fails with the device's gRPC code (DeviceFailureToGrpcStatus); the worker keeps serving.
// With mutual TLS, LoadShard and FreeSequence are taken only from the coordinator's certificate,
// and frames only from the identity the loaded plan names as the previous stage (AdmitFrames).
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "proto/worker.grpc.pb.h"
#include "transport/tls/link_security.h"
#include "worker/service/shard.h"

namespace ps {

struct WorkerServiceOptions {
  int threads = 1;
  std::string name;
  std::string model_path_override;  // --model
  DeviceSpec device;                // --device: where the shard's layers run
  plan::DeviceProfile sim_profile;  // with --device sim:NAME, the catalog device it emulates
  std::shared_ptr<const LinkSecurity> security = LinkSecurity::Plain();
};

// What heartbeats report.
// Memory is the device's: host memory for a CPU worker (this process's resident set, the host's
// available memory), device memory for a CUDA worker (used and free on the whole GPU; 0 when the
// device cannot be queried).
struct WorkerStats {
  uint64_t memory_used_bytes = 0;
  uint64_t memory_free_bytes = 0;
  uint64_t tokens_processed = 0;  // over every shard this worker served
  uint64_t bytes_sent = 0;        // to the next hop, over every shard this worker served
  int32_t microbatches_in_flight = 0;
  std::string error;  // last load or frame error
  uint64_t epoch = 0;            // the loaded shard's (0: none)
  std::string hop_error;         // this shard's link to the next stage broke: why
  std::string prev_hop_error;    // a stream of this epoch's frames from the previous stage broke
  uint64_t last_microbatch = 0;  // the highest micro-batch id this shard sent on
};

class WorkerService : public pipeshard::v1::Worker::CallbackService {
 public:
  explicit WorkerService(WorkerServiceOptions options);
  ~WorkerService() override;  // unloads; pending control calls are answered with CANCELLED

  // The Stage service's FrameHandler: queues the frame on the executor (never blocks).
  void OnFrame(pipeshard::v1::Frame&& frame);
  // The Stage service's StreamEndHandler: a stream of this epoch's frames that broke means the
  // previous stage went away; heartbeats report it (prev_hop_error).
  void OnStreamEnd(uint64_t epoch, const Status& status);
  // The Stage service's StreamAdmission: with TLS, Ok only for the previous stage of the loaded
  // plan (PermissionDenied before any plan is loaded).
  Status AdmitFrames(const std::string& peer_identity);
  // The device, with its matmul speed measured on the first call and cached. A CUDA worker also
  // reports its GPU transport capabilities, so the coordinator may give it NCCL or CUDA IPC hops;
  // a CPU worker reports none and gets gRPC hops.
  pipeshard::v1::DeviceInfo Device();
  WorkerStats Stats();

  grpc::ServerUnaryReactor* LoadShard(grpc::CallbackServerContext* context,
                                      const pipeshard::v1::LoadShardRequest* request,
                                      pipeshard::v1::LoadShardResponse* response) override;
  grpc::ServerUnaryReactor* FreeSequence(grpc::CallbackServerContext* context,
                                         const pipeshard::v1::FreeSequenceRequest* request,
                                         pipeshard::v1::FreeSequenceResponse* response) override;

 private:
  // Runs `work` on the control thread; `cancel` instead when the service stops first.
  void RunOnControlThread(std::function<void()> work, std::function<void()> cancel);
  void ControlLoop();
  grpc::Status DoLoad(const pipeshard::v1::LoadShardRequest& request, pipeshard::v1::LoadShardResponse* response);
  // {used, free} as WorkerStats reports them.
  std::pair<uint64_t, uint64_t> MemoryUsedAndFree() const;
  void DoUnload();
  void Retire(const StageStats& stats);  // counts an unloaded shard's work (mu_ held)

  const WorkerServiceOptions options_;

  std::mutex mu_;  // guards everything below
  std::unique_ptr<Shard> shard_;
  uint64_t epoch_ = 0;            // the newest epoch a LoadShard named; frames of others are dropped
  uint64_t stale_frames_ = 0;     // frames dropped for their epoch
  std::string prev_hop_error_;    // for epoch_
  std::string prev_identity_;     // who may send frames at epoch_ (TLS)
  uint64_t retired_tokens_ = 0;  // tokens of shards already unloaded
  uint64_t retired_bytes_ = 0;   // bytes they sent
  std::string load_error_;
  std::string frame_error_;

  std::mutex device_mu_;  // held while measuring: callers wait for the first measurement
  std::optional<pipeshard::v1::DeviceInfo> device_;

  std::mutex control_mu_;
  std::condition_variable control_cv_;
  std::deque<std::pair<std::function<void()>, std::function<void()>>> control_queue_;
  bool control_stopping_ = false;
  std::thread control_thread_;
};

}  // namespace ps
