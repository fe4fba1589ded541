// A running worker: one gRPC server on the listen address hosting Worker (control) and Stage
// (data), plus the registration/heartbeat client. Shutdown stops registering, stops the server
// (ending open streams) and unloads the shard.
// Thread-safety: Start, then Shutdown from one thread.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "worker/service/registration.h"
#include "worker/service/worker_service.h"
#include "transport/grpc_stage_service.h"

namespace ps {

struct WorkerServerOptions {
  std::string coordinator;  // HOST:PORT
  std::string listen;       // HOST:PORT, port 0 picks a free one
  std::string name;         // defaults to the bound address
  int threads = 1;
  std::string model_path_override;
  DeviceSpec device;  // cpu, cuda:N (checked by the caller: CudaDeviceCount) or sim:NAME
  plan::DeviceProfile sim_profile;  // with sim:NAME, the catalog device (looked up by the caller)
  // Plain, or mutual TLS: then every caller must hold a certificate of the cluster CA.
  std::shared_ptr<const LinkSecurity> security = LinkSecurity::Plain();
};

class WorkerServer {
 public:
  // InvalidArgument for a malformed listen address, Unavailable when it cannot be bound.
  static Result<std::unique_ptr<WorkerServer>> Start(const WorkerServerOptions& options);
  ~WorkerServer();

  // HOST:PORT actually bound (the port the kernel chose for port 0); registered as this address.
  const std::string& address() const { return address_; }
  void Shutdown();

 private:
  WorkerServer() = default;
  std::string address_;
  std::unique_ptr<WorkerService> worker_;
  std::unique_ptr<GrpcStageService> stage_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<RegistrationClient> registration_;
};

}  // namespace ps
