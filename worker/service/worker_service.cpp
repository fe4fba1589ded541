#include "worker/service/worker_service.h"
#include "common/log/log.h"

#include <algorithm>
#include <chrono>
#include <new>
#include <cstdio>
#include <tuple>

#include "worker/service/calibration.h"
#include "worker/service/cuda_device_info.h"
#include "transport/grpc_status.h"
#include "transport/tls/identities.h"
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
  if (frame.epoch() != epoch_) {
    // Another plan's frame: a stage that froze and woke up, or one the coordinator gave up on.
    if (stale_frames_++ == 0) {
      log::Info("dropping frames of an old epoch",
                {{"frame_epoch", std::to_string(frame.epoch())}, {"epoch", std::to_string(epoch_)}});
    }
    return;
  }
  if (shard_ == nullptr) {
    // No next hop is known before LoadShard, so the frame cannot even travel on as an error.
    frame_error_ = "frame " + std::to_string(frame.microbatch_id()) + " arrived while no shard is loaded; dropped";
    return;
  }
  shard_->OnFrame(std::move(frame));
}

Status WorkerService::AdmitFrames(const std::string& peer_identity) {
  if (!options_.security->tls()) return Status::Ok();
  std::lock_guard lock(mu_);
  if (prev_identity_.empty()) return Status::PermissionDenied("frames refused: no plan is loaded on this stage");
  if (peer_identity == prev_identity_) return Status::Ok();
  return Status::PermissionDenied("frames refused: the sender is '" +
                                  (peer_identity.empty() ? std::string("(no certificate)") : peer_identity) +
                                  "', and only the previous stage '" + prev_identity_ + "' may send here");
}

void WorkerService::OnStreamEnd(uint64_t epoch, const Status& status) {
  std::lock_guard lock(mu_);
  if (status.ok() || epoch == 0 || epoch != epoch_ || !prev_hop_error_.empty()) return;
  prev_hop_error_ = status.message();
}

namespace {

// A CUDA worker's device as Register reports it; what could not be found out is said in the
// description rather than failing the registration (main checked the device at start-up; a
// device that fails since is named in LoadShard's error too).
pb::DeviceInfo DescribeCudaDevice(int index) {
  pb::DeviceInfo d;
  d.set_kind("cuda");
  d.set_index(index);
  const Result<std::string> name = CudaDeviceName(index);
  if (!name.ok()) {
    d.set_description("cuda:" + std::to_string(index) + " (not usable: " + name.status().ToString() + ")");
    return d;
  }
  std::string description = *name;
  const Result<double> gflops = MeasureCudaMatmulGflops(index);
  if (gflops.ok()) {
    d.set_matmul_gflops(*gflops);
  } else {
    description += " (speed not measured: " + gflops.status().ToString() + ")";
  }
  // Reported only because the shard wires GPU hops (stage_links.h): a capability the stage
  // ignored would have the coordinator ask for hops nobody carries.
  Result<pb::TransportCapabilities> transport = ProbeCudaTransport(index);
  if (transport.ok()) {
    *d.mutable_transport() = std::move(transport).value();
  } else {
    description += " (GPU transports unavailable, gRPC only: " + transport.status().ToString() + ")";
  }
  d.set_description(description);
  return d;
}

// An emulated device: kind "sim", its catalog name in the description, and the speed the
// planner should weigh it with (its effective int8 throughput, what its prompt GEMMs reach).
pb::DeviceInfo DescribeSimDevice(const plan::DeviceProfile& profile) {
  pb::DeviceInfo d;
  d.set_kind("sim");
  d.set_index(0);
  d.set_description("emulated " + profile.name + " (sim: catalog timings, no compute)");
  d.set_matmul_gflops(std::max(profile.int8_ops, profile.f32_flops) * profile.compute_efficiency / 1e9);
  return d;
}

}  // namespace

pb::DeviceInfo WorkerService::Device() {
  std::lock_guard lock(device_mu_);
  if (!device_.has_value()) {
    if (options_.device.kind == DeviceSpec::Kind::kCuda) {
      device_ = DescribeCudaDevice(options_.device.index);
    } else if (options_.device.kind == DeviceSpec::Kind::kSim) {
      device_ = DescribeSimDevice(options_.sim_profile);
    } else {
      pb::DeviceInfo d;
      d.set_kind("cpu");
      d.set_index(0);
      d.set_description(CpuDescription());
      d.set_threads(options_.threads);
      d.set_matmul_gflops(MeasureMatmulGflops(options_.threads));
      device_ = d;
    }
  }
  pb::DeviceInfo d = *device_;
  if (options_.device.kind == DeviceSpec::Kind::kCuda) {
    const Result<CudaMemory> memory = QueryCudaMemory(options_.device.index);
    d.set_memory_total_bytes(memory.ok() ? memory->total_bytes : 0);
    d.set_memory_free_bytes(memory.ok() ? memory->free_bytes : 0);
  } else if (options_.device.kind == DeviceSpec::Kind::kSim) {
    // The emulated device's memory, as the planner should see it (nothing is allocated).
    d.set_memory_total_bytes(options_.sim_profile.memory_bytes);
    d.set_memory_free_bytes(options_.sim_profile.memory_bytes);
  } else {
    d.set_memory_total_bytes(TotalMemoryBytes());
    d.set_memory_free_bytes(AvailableMemoryBytes());
  }
  return d;
}

std::pair<uint64_t, uint64_t> WorkerService::MemoryUsedAndFree() const {
  if (options_.device.kind == DeviceSpec::Kind::kCpu) return {ResidentBytes(), AvailableMemoryBytes()};
  if (options_.device.kind == DeviceSpec::Kind::kSim) return {ResidentBytes(), options_.sim_profile.memory_bytes};
  const Result<CudaMemory> memory = QueryCudaMemory(options_.device.index);
  if (!memory.ok()) return {0, 0};
  return {memory->total_bytes - std::min(memory->free_bytes, memory->total_bytes), memory->free_bytes};
}

WorkerStats WorkerService::Stats() {
  WorkerStats s;
  std::tie(s.memory_used_bytes, s.memory_free_bytes) = MemoryUsedAndFree();
  std::lock_guard lock(mu_);
  s.tokens_processed = retired_tokens_;
  s.bytes_sent = retired_bytes_;
  std::string executor_error;
  std::string link_error;
  s.epoch = epoch_;
  s.prev_hop_error = prev_hop_error_;
  if (shard_ != nullptr) {
    const StageStats stage = shard_->executor().stats();
    s.tokens_processed += stage.tokens_processed;
    s.bytes_sent += stage.bytes_sent;
    s.microbatches_in_flight = stage.in_flight;
    executor_error = stage.last_error;
    link_error = shard_->link_error();
    s.hop_error = stage.hop_error;
    s.last_microbatch = stage.last_microbatch;
    // A broken incoming GPU hop cannot reopen: the coordinator must re-plan, as for a broken stream.
    if (s.prev_hop_error.empty()) s.prev_hop_error = link_error;
  }
  // The first of: the load's, the executor's, the incoming GPU hop's, a dropped frame's.
  for (const std::string* error : {&load_error_, &executor_error, &link_error, &frame_error_}) {
    if (!error->empty()) {
      s.error = *error;
      break;
    }
  }
  return s;
}

grpc::Status WorkerService::DoLoad(const pb::LoadShardRequest& request, pb::LoadShardResponse* response) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Shard> previous;
  {
    std::lock_guard lock(mu_);
    if (request.epoch() < epoch_) {
      return {grpc::StatusCode::FAILED_PRECONDITION,
              "LoadShard of epoch " + std::to_string(request.epoch()) + " refused: this worker is at epoch " +
                  std::to_string(epoch_) + " (an older plan cannot take it back)"};
    }
    epoch_ = request.epoch();  // from now on the old plan's frames are dropped
    prev_identity_ = request.prev_identity();
    stale_frames_ = 0;
    prev_hop_error_.clear();
    // In the same step the old shard leaves: no new-epoch frame reaches it, and no heartbeat
    // reports the new epoch with the old shard's hop errors. Load keeps its weights when the
    // range is the same and otherwise frees them before the new file is mapped.
    if (shard_ != nullptr) Retire(shard_->executor().stats());
    previous = std::move(shard_);
  }
  ShardOptions options;
  options.threads = options_.threads;
  options.name = options_.name;
  options.model_path_override = options_.model_path_override;
  options.device = options_.device;
  options.sim_profile = options_.sim_profile;
  options.security = options_.security;
  LoadFailure failure = LoadFailure::kRequest;
  Result<std::unique_ptr<Shard>> shard = Shard::Load(request, options, response, &failure, std::move(previous));
  std::lock_guard lock(mu_);
  if (!shard.ok()) {
    load_error_ = shard.status().ToString();
    return failure == LoadFailure::kDevice ? DeviceFailureToGrpcStatus(shard.status()) : ToGrpcStatus(shard.status());
  }
  shard_ = std::move(shard).value();
  load_error_.clear();
  frame_error_.clear();
  response->set_memory_used_bytes(MemoryUsedAndFree().first);
  response->set_load_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return grpc::Status::OK;
}

void WorkerService::Retire(const StageStats& stats) {
  retired_tokens_ += stats.tokens_processed;
  retired_bytes_ += stats.bytes_sent;
}

void WorkerService::DoUnload() {
  std::unique_ptr<Shard> old;
  {
    std::lock_guard lock(mu_);
    if (shard_ != nullptr) Retire(shard_->executor().stats());
    old = std::move(shard_);
  }
  old.reset();  // joins the executor outside the lock, so frames keep being accepted (and dropped)
}

grpc::ServerUnaryReactor* WorkerService::LoadShard(grpc::CallbackServerContext* context,
                                                   const pb::LoadShardRequest* request,
                                                   pb::LoadShardResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (Status allowed = options_.security->Authorize(*context, tls::kCoordinatorIdentity, "LoadShard");
      !allowed.ok()) {
    reactor->Finish(ToGrpcStatus(allowed));
    return reactor;
  }
  RunOnControlThread(
      [this, reactor, request, response] {
        grpc::Status loaded;
        try {
          loaded = DoLoad(*request, response);
        } catch (const std::bad_alloc&) {
          // Sizes from the file are checked before they allocate; this is the last line of
          // defence, so that a shard too big for this machine fails its load, not the worker.
          loaded = {grpc::StatusCode::RESOURCE_EXHAUSTED, "out of memory loading layers [" +
                                                              std::to_string(request->first_layer()) + ", " +
                                                              std::to_string(request->last_layer()) + ")"};
        }
        reactor->Finish(loaded);
      },
                     [reactor] { reactor->Finish({grpc::StatusCode::CANCELLED, "the worker is shutting down"}); });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerService::FreeSequence(grpc::CallbackServerContext* context,
                                                      const pb::FreeSequenceRequest* request,
                                                      pb::FreeSequenceResponse*) {
  auto* reactor = context->DefaultReactor();
  if (Status allowed = options_.security->Authorize(*context, tls::kCoordinatorIdentity, "FreeSequence");
      !allowed.ok()) {
    reactor->Finish(ToGrpcStatus(allowed));
    return reactor;
  }
  std::lock_guard lock(mu_);
  if (request->epoch() != epoch_) {
    reactor->Finish({grpc::StatusCode::FAILED_PRECONDITION,
                     "FreeSequence of epoch " + std::to_string(request->epoch()) + " refused: this worker is at epoch " +
                         std::to_string(epoch_)});
    return reactor;
  }
  if (shard_ == nullptr) {
    reactor->Finish(grpc::Status::OK);  // nothing is cached without a shard
    return reactor;
  }
  shard_->executor().FreeSequences({request->seq_ids().begin(), request->seq_ids().end()},
                                   [reactor] { reactor->Finish(grpc::Status::OK); });
  return reactor;
}

}  // namespace ps
