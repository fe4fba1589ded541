// The Coordinator gRPC service: workers Register, Heartbeat and hold a Watch call here (a Watch
// that ends before the coordinator stops means the worker's process is gone: it is marked
// failed at once). All of them only update the
// WorkerRegistry, so no reaction ever blocks. With mutual TLS a worker may register only under the
// name its certificate proves, and heartbeat or watch only its own record.
// Thread-safety: gRPC calls it from any thread; the registry does the locking.
#pragma once

#include <grpcpp/grpcpp.h>

#include "coordinator/cluster/worker_registry.h"
#include "proto/worker.grpc.pb.h"
#include "transport/tls/link_security.h"

namespace ps::coord {

class CoordinatorService : public pipeshard::v1::Coordinator::CallbackService {
 public:
  CoordinatorService(WorkerRegistry& registry, std::shared_ptr<const LinkSecurity> security = LinkSecurity::Plain())
      : registry_(registry), security_(std::move(security)) {}

  grpc::ServerUnaryReactor* Register(grpc::CallbackServerContext* context,
                                     const pipeshard::v1::RegisterRequest* request,
                                     pipeshard::v1::RegisterResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const pipeshard::v1::HeartbeatRequest* request,
                                      pipeshard::v1::HeartbeatResponse* response) override;
  grpc::ServerWriteReactor<pipeshard::v1::WatchEvent>* Watch(grpc::CallbackServerContext* context,
                                                             const pipeshard::v1::WatchRequest* request) override;

 private:
  // Ok when plain, or when the caller's certificate is that of the worker registered as `id`.
  Status AuthorizeWorker(const grpc::CallbackServerContext& context, const std::string& id, const std::string& action);

  WorkerRegistry& registry_;
  const std::shared_ptr<const LinkSecurity> security_;
};

}  // namespace ps::coord
