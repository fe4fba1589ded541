#include "coordinator/cluster/coordinator_service.h"

namespace ps::coord {

grpc::ServerUnaryReactor* CoordinatorService::Register(grpc::CallbackServerContext* context,
                                                       const pipeshard::v1::RegisterRequest* request,
                                                       pipeshard::v1::RegisterResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->address().empty()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "RegisterRequest.address is empty"));
    return reactor;
  }
  response->set_worker_id(registry_.Register(*request));
  response->set_heartbeat_interval_seconds(registry_.heartbeat_interval_seconds());
  response->set_coordinator_id(registry_.coordinator_id());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* CoordinatorService::Heartbeat(grpc::CallbackServerContext* context,
                                                        const pipeshard::v1::HeartbeatRequest* request,
                                                        pipeshard::v1::HeartbeatResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  response->set_reregister(!registry_.Heartbeat(*request));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace ps::coord
