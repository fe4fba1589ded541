#include "coordinator/cluster/coordinator_service.h"

#include "transport/grpc_status.h"
#include "transport/tls/identities.h"

namespace ps::coord {

grpc::ServerUnaryReactor* CoordinatorService::Register(grpc::CallbackServerContext* context,
                                                       const pipeshard::v1::RegisterRequest* request,
                                                       pipeshard::v1::RegisterResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->address().empty()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "RegisterRequest.address is empty"));
    return reactor;
  }
  if (security_->tls()) {
    // The name is the identity: only its certificate's holder registers under it, and a worker
    // restarting elsewhere replaces its own record, never another worker's at the same address.
    const Status allowed = security_->Authorize(*context, tls::WorkerIdentity(request->name()),
                                                "Register as worker '" + request->name() + "'");
    if (!allowed.ok() || request->name().empty()) {
      reactor->Finish(ToGrpcStatus(allowed.ok() ? Status::InvalidArgument("RegisterRequest.name is empty") : allowed));
      return reactor;
    }
  }
  response->set_worker_id(registry_.Register(*request, security_->tls() ? WorkerRegistry::Match::kName
                                                                         : WorkerRegistry::Match::kAddress));
  response->set_heartbeat_interval_seconds(registry_.heartbeat_interval_seconds());
  response->set_coordinator_id(registry_.coordinator_id());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* CoordinatorService::Heartbeat(grpc::CallbackServerContext* context,
                                                        const pipeshard::v1::HeartbeatRequest* request,
                                                        pipeshard::v1::HeartbeatResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (Status allowed = AuthorizeWorker(*context, request->worker_id(), "Heartbeat"); !allowed.ok()) {
    reactor->Finish(ToGrpcStatus(allowed));
    return reactor;
  }
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

Status CoordinatorService::AuthorizeWorker(const grpc::CallbackServerContext& context, const std::string& id,
                                           const std::string& action) {
  if (!security_->tls()) return Status::Ok();
  WorkerRecord record;
  // An unknown id is no one's: the call goes on and is answered "reregister" / refused as before.
  if (!registry_.Find(id, &record)) return Status::Ok();
  return security_->Authorize(context, tls::WorkerIdentity(record.name), action + " of worker '" + record.name + "'");
}

grpc::ServerWriteReactor<pipeshard::v1::WatchEvent>* CoordinatorService::Watch(
    grpc::CallbackServerContext* context, const pipeshard::v1::WatchRequest* request) {
  if (Status allowed = AuthorizeWorker(*context, request->worker_id(), "Watch"); !allowed.ok()) {
    auto* refused = new WatchReactor(registry_, "");
    refused->Finish(ToGrpcStatus(allowed));
    return refused;
  }
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
