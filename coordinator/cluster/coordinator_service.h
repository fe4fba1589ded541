// The Coordinator gRPC service: workers Register, Heartbeat and hold a Watch call here (a Watch
// that ends before the coordinator stops means the worker's process is gone: it is marked
// failed at once). All of them only update the
// WorkerRegistry, so no reaction ever blocks.
// Thread-safety: gRPC calls it from any thread; the registry does the locking.
#pragma once

#include <grpcpp/grpcpp.h>

#include "coordinator/cluster/worker_registry.h"
#include "proto/worker.grpc.pb.h"

namespace ps::coord {

class CoordinatorService : public pipeshard::v1::Coordinator::CallbackService {
 public:
  explicit CoordinatorService(WorkerRegistry& registry) : registry_(registry) {}

  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* context,
                                     const pipeshard::v1::RegisterRequest* request,
                                     pipeshard::v1::RegisterResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const pipeshard::v1::HeartbeatRequest* request,
                                      pipeshard::v1::HeartbeatResponse* response) override;
  grpc::ServerWriteReactor<pipeshard::v1::WatchEvent>* Watch(grpc::CallbackServerContext* context,
                                                             const pipeshard::v1::WatchRequest* request) override;

 private:
  WorkerRegistry& registry_;
};

}  // namespace ps::coord
