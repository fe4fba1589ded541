#include "worker/service/worker_service.h"

#include <chrono>

#include "worker/service/calibration.h"
#include "worker/service/grpc_status.h"
#include "worker/service/system_info.h"

namespace ps {

namespace pb = pipeshard::v1;

WorkerService::WorkerService(WorkerServiceOptions options) : options_(std::move(options)) {
  control_thread_ = std::thread([this] { ControlLoop(); });
}

WorkerService::~WorkerService() {
  {
    std::lock_guard lock(control_mu_);
    control_stopping_ = true;
    control_cv_.notify_one();
  }
  control_thread_.join();
  for (auto& [work, cancel] : control_queue_) cancel();
  DoUnload();
}

void WorkerService::RunOnControlThread(std::function<void()> work, std::function<void()> cancel) {
  std::lock_guard lock(control_mu_);
  if (control_stopping_) {
    cancel();
    return;
  }
  control_queue_.emplace_back(std::move(work), std::move(cancel));
  control_cv_.notify_one();
}

void WorkerService::ControlLoop() {
  std::unique_lock lock(control_mu_);
  while (true) {
    control_cv_.wait(lock, [this] { return control_stopping_ || !control_queue_.empty(); });
    if (control_stopping_) return;
    auto work = std::move(control_queue_.front().first);
    control_queue_.pop_front();
    lock.unlock();
    work();
    lock.lock();
  }
}

void WorkerService::OnFrame(pb::Frame&& frame) {
  std::lock_guard lock(mu_);
  if (shard_ == nullptr) {
    // No next hop is known before LoadShard, so the frame cannot even travel on as an error.
    frame_error_ = "frame " + std::to_string(frame.microbatch_id()) + " arrived while no shard is loaded; dropped";
    return;
  }
  shard_->executor().Enqueue(std::move(frame));
}

pb::DeviceInfo WorkerService::Device() {
  std::lock_guard lock(device_mu_);
  if (!device_.has_value()) {
    pb::DeviceInfo d;
    d.set_kind("cpu");
    d.set_index(0);
    d.set_description(CpuDescription());
    d.set_threads(options_.threads);
    d.set_matmul_gflops(MeasureMatmulGflops(options_.threads));
    device_ = d;
  }
  pb::DeviceInfo d = *device_;
  d.set_memory_total_bytes(TotalMemoryBytes());
  d.set_memory_free_bytes(AvailableMemoryBytes());
  return d;
}

WorkerStats WorkerService::Stats() {
  WorkerStats s;
  s.memory_used_bytes = ResidentBytes();
  s.memory_free_bytes = AvailableMemoryBytes();
  std::lock_guard lock(mu_);
  s.tokens_processed = retired_tokens_;
  std::string executor_error;
  if (shard_ != nullptr) {
    const StageStats stage = shard_->executor().stats();
    s.tokens_processed += stage.tokens_processed;
    s.microbatches_in_flight = stage.in_flight;
    executor_error = stage.last_error;
  }
  s.error = !load_error_.empty() ? load_error_ : !executor_error.empty() ? executor_error : frame_error_;
  return s;
}

Status WorkerService::DoLoad(const pb::LoadShardRequest& request, pb::LoadShardResponse* response) {
  const auto start = std::chrono::steady_clock::now();
  DoUnload();  // the old shard's memory goes before the new one is mapped
  ShardOptions options;
  options.threads = options_.threads;
  options.name = options_.name;
  options.model_path_override = options_.model_path_override;
  Result<std::unique_ptr<Shard>> shard = Shard::Load(request, options);
  std::lock_guard lock(mu_);
  if (!shard.ok()) {
    load_error_ = shard.status().ToString();
    return shard.status();
  }
  shard_ = std::move(shard).value();
  load_error_.clear();
  frame_error_.clear();
  response->set_memory_used_bytes(ResidentBytes());
  response->set_load_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return Status::Ok();
}

void WorkerService::DoUnload() {
  std::unique_ptr<Shard> old;
  {
    std::lock_guard lock(mu_);
    if (shard_ != nullptr) retired_tokens_ += shard_->executor().stats().tokens_processed;
    old = std::move(shard_);
  }
  old.reset();  // joins the executor outside the lock, so frames keep being accepted (and dropped)
}

grpc::ServerUnaryReactor* WorkerService::LoadShard(grpc::CallbackServerContext* context,
                                                   const pb::LoadShardRequest* request,
                                                   pb::LoadShardResponse* response) {
  auto* reactor = context->DefaultReactor();
  RunOnControlThread([this, reactor, request, response] { reactor->Finish(ToGrpcStatus(DoLoad(*request, response))); },
                     [reactor] { reactor->Finish({grpc::StatusCode::CANCELLED, "the worker is shutting down"}); });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerService::Unload(grpc::CallbackServerContext* context, const pb::UnloadRequest*,
                                                pb::UnloadResponse*) {
  auto* reactor = context->DefaultReactor();
  RunOnControlThread(
      [this, reactor] {
        DoUnload();
        reactor->Finish(grpc::Status::OK);
      },
      [reactor] { reactor->Finish({grpc::StatusCode::CANCELLED, "the worker is shutting down"}); });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerService::Calibrate(grpc::CallbackServerContext* context, const pb::CalibrateRequest*,
                                                   pb::CalibrateResponse* response) {
  auto* reactor = context->DefaultReactor();
  RunOnControlThread(
      [this, reactor, response] {
        *response->mutable_device() = Device();
        reactor->Finish(grpc::Status::OK);
      },
      [reactor] { reactor->Finish({grpc::StatusCode::CANCELLED, "the worker is shutting down"}); });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerService::FreeSequence(grpc::CallbackServerContext* context,
                                                      const pb::FreeSequenceRequest* request,
                                                      pb::FreeSequenceResponse*) {
  auto* reactor = context->DefaultReactor();
  std::lock_guard lock(mu_);
  if (shard_ == nullptr) {
    reactor->Finish(grpc::Status::OK);  // nothing is cached without a shard
    return reactor;
  }
  shard_->executor().FreeSequences({request->seq_ids().begin(), request->seq_ids().end()},
                                   [reactor] { reactor->Finish(grpc::Status::OK); });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerService::Health(grpc::CallbackServerContext* context, const pb::HealthRequest*,
                                                pb::HealthResponse* response) {
  auto* reactor = context->DefaultReactor();
  const WorkerStats stats = Stats();
  {
    std::lock_guard lock(mu_);
    response->set_loaded(shard_ != nullptr);
  }
  response->set_error(stats.error);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace ps
