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

namespace {

// One worker's Watch: never writes; ends when the worker goes away (or the server stops).
class WatchReactor : public grpc::ServerWriteReactor<pipeshard::v1::WatchEvent> {
 public:
  WatchReactor(WorkerRegistry& registry, std::string worker_id) : registry_(registry), worker_id_(std::move(worker_id)) {}
  void OnCancel() override {
    // The worker's connection closed (its process died) or the server is shutting down; marking
    // a live worker failed is harmless: its next heartbeat clears it.
    registry_.MarkFailed(worker_id_, "its control connection to the coordinator closed");
    Finish(grpc::Status::CANCELLED);
  }
  void OnDone() override { delete this; }

 private:
  WorkerRegistry& registry_;
  const std::string worker_id_;
};

}  // namespace

grpc::ServerWriteReactor<pipeshard::v1::WatchEvent>* CoordinatorService::Watch(
    grpc::CallbackServerContext*, const pipeshard::v1::WatchRequest* request) {
  WorkerRecord record;
  if (request->coordinator_id() != registry_.coordinator_id() || !registry_.Find(request->worker_id(), &record)) {
    auto* refused = new WatchReactor(registry_, "");
    refused->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                 "Watch: worker '" + request->worker_id() + "' is not registered with this coordinator"));
    return refused;
  }
  return new WatchReactor(registry_, request->worker_id());
}

}  // namespace ps::coord
