// The worker's side of the control plane: a thread that registers with the coordinator (retrying
// until it answers, and saying so now and then), then heartbeats every interval the coordinator
// asked for with the worker's memory, progress, epoch and hop health, and registers again when the
// coordinator says it does not know the worker: a restarted coordinator has another
// coordinator_id, so live workers join it on their own, without being restarted.
// Thread-safety: construct, then destroy (stops and joins the thread); worker_id from any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "proto/worker.grpc.pb.h"
#include "worker/service/worker_service.h"

namespace ps {

struct RegistrationOptions {
  std::string coordinator;  // HOST:PORT
  std::string name;
  std::string address;      // the bound address of this worker's services
  double retry_seconds = 0.5;
  std::shared_ptr<const LinkSecurity> security = LinkSecurity::Plain();  // the coordinator must prove its identity
};

// The worker's Watch call (worker.proto): opened after each registration and held for as long
// as the worker lives, so the coordinator sees this process die the moment its connection closes.
class WatchCall;

class RegistrationClient {
 public:
  // `device` and `stats` are called on the client's thread.
  RegistrationClient(RegistrationOptions options, std::function<pipeshard::v1::DeviceInfo()> device,
                     std::function<WorkerStats()> stats);
  ~RegistrationClient();
  RegistrationClient(const RegistrationClient&) = delete;
  RegistrationClient& operator=(const RegistrationClient&) = delete;

  std::string worker_id() const;  // empty until registered

 private:
  void Loop();
  bool Register();
  void Heartbeat();
  bool WaitFor(double seconds);  // false when stopping
  // Registers the call's context so the destructor can cancel it; false when stopping.
  bool BeginCall(grpc::ClientContext* context);
  void EndCall();
  // Opens a Watch for the current registration, ending the previous one (client thread only).
  void Watch(const std::string& worker_id, const std::string& coordinator_id);

  const RegistrationOptions options_;
  const std::function<pipeshard::v1::DeviceInfo()> device_;
  const std::function<WorkerStats()> stats_;
  std::unique_ptr<pipeshard::v1::Coordinator::Stub> stub_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  grpc::ClientContext* active_ = nullptr;  // the RPC in progress, if any
  std::string worker_id_;
  std::string coordinator_id_;
  std::unique_ptr<WatchCall> watch_;  // client thread only
  int failed_attempts_ = 0;  // registrations in a row that failed (client thread only)
  int missed_beats_ = 0;     // heartbeats in a row that got no answer (client thread only)
  double interval_seconds_ = 1.0;
  std::thread thread_;
};

}  // namespace ps
