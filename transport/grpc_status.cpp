#include "transport/grpc_status.h"

namespace ps {

namespace {

grpc::StatusCode CodeOf(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return grpc::StatusCode::OK;
    case StatusCode::kInvalidArgument: return grpc::StatusCode::INVALID_ARGUMENT;
    case StatusCode::kNotFound: return grpc::StatusCode::NOT_FOUND;
    case StatusCode::kCorruption: return grpc::StatusCode::DATA_LOSS;
    case StatusCode::kUnsupported: return grpc::StatusCode::UNIMPLEMENTED;
    case StatusCode::kOutOfRange: return grpc::StatusCode::OUT_OF_RANGE;
    case StatusCode::kResourceExhausted: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case StatusCode::kUnavailable: return grpc::StatusCode::UNAVAILABLE;
    case StatusCode::kCancelled: return grpc::StatusCode::CANCELLED;
    case StatusCode::kUnauthenticated: return grpc::StatusCode::UNAUTHENTICATED;
    case StatusCode::kPermissionDenied: return grpc::StatusCode::PERMISSION_DENIED;
    case StatusCode::kIOError:
    case StatusCode::kInternal: break;
  }
  return grpc::StatusCode::INTERNAL;
}

}  // namespace

grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return {CodeOf(status.code()), status.message()};
}

grpc::Status DeviceFailureToGrpcStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
    case StatusCode::kUnavailable:
    case StatusCode::kResourceExhausted:
    case StatusCode::kCancelled: return ToGrpcStatus(status);
    default: return {grpc::StatusCode::FAILED_PRECONDITION, status.message()};
  }
}

int32_t ToGrpcCode(const Status& status) { return static_cast<int32_t>(CodeOf(status.code())); }

Status FromGrpcCode(int32_t code, std::string message) {
  switch (static_cast<grpc::StatusCode>(code)) {
    case grpc::StatusCode::OK: return Status::Ok();
    case grpc::StatusCode::INVALID_ARGUMENT: return Status::InvalidArgument(std::move(message));
    case grpc::StatusCode::PERMISSION_DENIED: return Status::PermissionDenied(std::move(message));
    case grpc::StatusCode::UNAUTHENTICATED: return Status::Unauthenticated(std::move(message));
    case grpc::StatusCode::NOT_FOUND: return Status::NotFound(std::move(message));
    case grpc::StatusCode::DATA_LOSS: return Status::Corruption(std::move(message));
    case grpc::StatusCode::UNIMPLEMENTED: return Status::Unsupported(std::move(message));
    case grpc::StatusCode::OUT_OF_RANGE: return Status::OutOfRange(std::move(message));
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return Status::ResourceExhausted(std::move(message));
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ABORTED: return Status::Unavailable(std::move(message));
    case grpc::StatusCode::CANCELLED: return Status::Cancelled(std::move(message));
    default: return Status::Internal(std::move(message));
  }
}

Status FromGrpcStatus(const grpc::Status& status, const std::string& context) {
  if (status.ok()) return Status::Ok();
  std::string message = status.error_message();
  if (message.empty()) message = "gRPC error code " + std::to_string(static_cast<int>(status.error_code()));
  return FromGrpcCode(static_cast<int32_t>(status.error_code()), context + ": " + message);
}

}  // namespace ps
