// The worker's control service (LoadShard, Unload, Calibrate, FreeSequence, Health) and the
// entry point of its data plane: frames from the Stage service go to the loaded shard's executor.
// Slow calls (loading, calibrating) run on one control thread so no gRPC thread blocks; they
// answer when done. FreeSequence answers once the executor freed the sequences, after every frame
// queued before it.
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

#include "proto/worker.grpc.pb.h"
#include "worker/service/shard.h"

namespace ps {

struct WorkerServiceOptions {
  int threads = 1;
  std::string name;
  std::string model_path_override;  // --model
};

// What heartbeats report.
struct WorkerStats {
  uint64_t memory_used_bytes = 0;
  uint64_t memory_free_bytes = 0;
  uint64_t tokens_processed = 0;  // over every shard this worker served
  int32_t microbatches_in_flight = 0;
  std::string error;  // last load or frame error
};

class WorkerService : public pipeshard::v1::Worker::CallbackService {
 public:
  explicit WorkerService(WorkerServiceOptions options);
  ~WorkerService() override;  // unloads; pending control calls are answered with CANCELLED

  // The Stage service's FrameHandler: queues the frame on the executor (never blocks).
  void OnFrame(pipeshard::v1::Frame&& frame);
  // The device, with its matmul speed measured on the first call and cached.
  pipeshard::v1::DeviceInfo Device();
  WorkerStats Stats();

  grpc::ServerUnaryReactor* LoadShard(grpc::CallbackServerContext* context,
                                      const pipeshard::v1::LoadShardRequest* request,
                                      pipeshard::v1::LoadShardResponse* response) override;
  grpc::ServerUnaryReactor* Unload(grpc::CallbackServerContext* context, const pipeshard::v1::UnloadRequest* request,
                                   pipeshard::v1::UnloadResponse* response) override;
  grpc::ServerUnaryReactor* Calibrate(grpc::CallbackServerContext* context,
                                      const pipeshard::v1::CalibrateRequest* request,
                                      pipeshard::v1::CalibrateResponse* response) override;
  grpc::ServerUnaryReactor* FreeSequence(grpc::CallbackServerContext* context,
                                         const pipeshard::v1::FreeSequenceRequest* request,
                                         pipeshard::v1::FreeSequenceResponse* response) override;
  grpc::ServerUnaryReactor* Health(grpc::CallbackServerContext* context, const pipeshard::v1::HealthRequest* request,
                                   pipeshard::v1::HealthResponse* response) override;

 private:
  // Runs `work` on the control thread; `cancel` instead when the service stops first.
  void RunOnControlThread(std::function<void()> work, std::function<void()> cancel);
  void ControlLoop();
  Status DoLoad(const pipeshard::v1::LoadShardRequest& request, pipeshard::v1::LoadShardResponse* response);
  void DoUnload();

  const WorkerServiceOptions options_;

  std::mutex mu_;  // guards everything below
  std::unique_ptr<Shard> shard_;
  uint64_t retired_tokens_ = 0;  // tokens of shards already unloaded
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
