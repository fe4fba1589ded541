#include "coordinator/cluster/worker_client.h"

#include <chrono>

namespace ps::coord {

namespace {
std::chrono::system_clock::time_point DeadlineIn(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(seconds));
}
}  // namespace

Status FromGrpc(const grpc::Status& status, const std::string& context) {
  if (status.ok()) return Status::Ok();
  const std::string message = context + ": " + status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT: return Status::InvalidArgument(message);
    case grpc::StatusCode::NOT_FOUND: return Status::NotFound(message);
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return Status::ResourceExhausted(message);
    case grpc::StatusCode::OUT_OF_RANGE: return Status::OutOfRange(message);
    case grpc::StatusCode::UNIMPLEMENTED: return Status::Unsupported(message);
    case grpc::StatusCode::CANCELLED: return Status::Cancelled(message);
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED: return Status::Unavailable(message);
    default: return Status::Internal(message);
  }
}

WorkerClient::WorkerClient(const std::string& address)
    : address_(address),
      stub_(pipeshard::v1::Worker::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {}

Result<pipeshard::v1::LoadShardResponse> WorkerClient::LoadShard(const pipeshard::v1::LoadShardRequest& request,
                                                                 double timeout_seconds) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(timeout_seconds));
  pipeshard::v1::LoadShardResponse response;
  const grpc::Status status = stub_->LoadShard(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, "LoadShard on " + address_);
  return response;
}

void WorkerClient::FreeSequenceAsync(std::vector<int32_t> seq_ids, double timeout_seconds,
                                     std::function<void(Status)> done) {
  struct Call {
    grpc::ClientContext context;
    pipeshard::v1::FreeSequenceRequest request;
    pipeshard::v1::FreeSequenceResponse response;
  };
  auto call = std::make_shared<Call>();
  call->context.set_deadline(DeadlineIn(timeout_seconds));
  for (int32_t s : seq_ids) call->request.add_seq_ids(s);
  const std::string context = "FreeSequence on " + address_;
  stub_->async()->FreeSequence(&call->context, &call->request, &call->response,
                               [call, context, done = std::move(done)](grpc::Status status) {
                                 done(FromGrpc(status, context));
                               });
}

}  // namespace ps::coord
