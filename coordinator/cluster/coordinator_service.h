// The Coordinator gRPC service: workers Register and Heartbeat here; both only update the
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

 private:
  WorkerRegistry& registry_;
};

}  // namespace ps::coord
