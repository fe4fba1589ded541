#include "worker/service/registration.h"
#include "common/log/log.h"
#include "transport/tls/identities.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <iostream>

#include "transport/grpc_status.h"

namespace ps {

namespace pb = pipeshard::v1;

class WatchCall : public grpc::ClientReadReactor<pb::WatchEvent> {
 public:
  WatchCall(pb::Coordinator::Stub* stub, std::string worker_id, std::string coordinator_id) {
    request_.set_worker_id(std::move(worker_id));
    request_.set_coordinator_id(std::move(coordinator_id));
    stub->async()->Watch(&context_, &request_, this);
    StartRead(&event_);
    StartCall();
  }
  // Cancels the call and waits until gRPC is done with this object.
  ~WatchCall() override {
    context_.TryCancel();
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return done_; });
  }
  bool done() {
    std::lock_guard lock(mu_);
    return done_;
  }
  void OnReadDone(bool ok) override {
    if (ok) StartRead(&event_);  // the coordinator sends nothing; keep the read posted anyway
  }
  void OnDone(const grpc::Status&) override {
    std::lock_guard lock(mu_);
    done_ = true;
    cv_.notify_all();
  }

 private:
  grpc::ClientContext context_;
  pb::WatchRequest request_;
  pb::WatchEvent event_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

namespace {
constexpr double kRpcDeadlineSeconds = 5.0;
constexpr int kMissedBeatsBeforeRegister = 4;
}  // namespace

bool RegistrationClient::BeginCall(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(kRpcDeadlineSeconds * 1000)));
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  active_ = context;
  return true;
}

void RegistrationClient::EndCall() {
  std::lock_guard lock(mu_);
  active_ = nullptr;
}

RegistrationClient::RegistrationClient(RegistrationOptions options, std::function<pb::DeviceInfo()> device,
                                       std::function<WorkerStats()> stats)
    : options_(std::move(options)), device_(std::move(device)), stats_(std::move(stats)) {
  stub_ = pb::Coordinator::NewStub(options_.security->Connect(options_.coordinator, tls::kCoordinatorIdentity));
  thread_ = std::thread([this] { Loop(); });
}

RegistrationClient::~RegistrationClient() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (active_ != nullptr) active_->TryCancel();  // do not wait out an RPC's deadline
    cv_.notify_one();
  }
  thread_.join();
  watch_.reset();
}

void RegistrationClient::Watch(const std::string& worker_id, const std::string& coordinator_id) {
  watch_.reset();  // the old call ends before the new one starts
  watch_ = std::make_unique<WatchCall>(stub_.get(), worker_id, coordinator_id);
}

std::string RegistrationClient::worker_id() const {
  std::lock_guard lock(mu_);
  return worker_id_;
}

bool RegistrationClient::WaitFor(double seconds) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6)),
                       [this] { return stopping_; });
}

void RegistrationClient::Loop() {
  while (true) {
    if (worker_id().empty()) {
      if (!Register() && !WaitFor(options_.retry_seconds)) return;
      continue;
    }
    double interval;
    {
      std::lock_guard lock(mu_);
      interval = interval_seconds_;
    }
    if (!WaitFor(interval)) return;
    Heartbeat();
  }
}

bool RegistrationClient::Register() {
  pb::RegisterRequest request;
  request.set_name(options_.name);
  request.set_address(options_.address);
  *request.mutable_device() = device_();
  request.set_epoch(stats_().epoch);
  pb::RegisterResponse response;
  grpc::ClientContext context;
  if (!BeginCall(&context)) return false;
  const Status status = FromGrpcStatus(stub_->Register(&context, request, &response), "Register with " + options_.coordinator);
  EndCall();
  if (!status.ok()) {
    // The coordinator may not be up yet, or is restarting: retry, saying so now and then.
    ++failed_attempts_;
    if (failed_attempts_ == 1 || failed_attempts_ % 20 == 0) {
      log::Warn("waiting for the coordinator at " + options_.coordinator + " (attempt " +
                    std::to_string(failed_attempts_) + "): " + status.message());
    }
    return false;
  }
  failed_attempts_ = 0;
  {
    std::lock_guard lock(mu_);
    worker_id_ = response.worker_id();
    coordinator_id_ = response.coordinator_id();
    if (response.heartbeat_interval_seconds() > 0) interval_seconds_ = response.heartbeat_interval_seconds();
  }
  log::Info("registered with the coordinator at " + options_.coordinator + " as " + response.worker_id());
  Watch(response.worker_id(), response.coordinator_id());
  return true;
}

void RegistrationClient::Heartbeat() {
  const WorkerStats stats = stats_();
  pb::HeartbeatRequest request;
  request.set_worker_id(worker_id());
  request.set_memory_used_bytes(stats.memory_used_bytes);
  request.set_memory_free_bytes(stats.memory_free_bytes);
  request.set_tokens_processed(stats.tokens_processed);
  request.set_bytes_sent(stats.bytes_sent);
  request.set_microbatches_in_flight(stats.microbatches_in_flight);
  request.set_error(stats.error);
  request.set_epoch(stats.epoch);
  request.set_hop_error(stats.hop_error);
  request.set_last_microbatch(stats.last_microbatch);
  request.set_prev_hop_error(stats.prev_hop_error);
  {
    std::lock_guard lock(mu_);
    request.set_coordinator_id(coordinator_id_);
  }
  pb::HeartbeatResponse response;
  grpc::ClientContext context;
  if (!BeginCall(&context)) return;
  const bool answered = stub_->Heartbeat(&context, request, &response).ok();
  EndCall();
  if (!answered) {
    // Missed beat; the next one retries. A coordinator that stays unreachable may have been
    // replaced: register again (the new one answers reregister anyway, this only saves time).
    if (++missed_beats_ >= kMissedBeatsBeforeRegister) {
      missed_beats_ = 0;
  if (!response.reregister() && watch_ != nullptr && watch_->done()) Watch(request.worker_id(), request.coordinator_id());
      std::lock_guard lock(mu_);
      worker_id_.clear();
    }
    return;
  }
  missed_beats_ = 0;
  if (response.reregister()) {
    std::lock_guard lock(mu_);
    worker_id_.clear();
  }
}

}  // namespace ps
