#include "worker/service/grpc_status.h"

namespace ps {

grpc::Status ToGrpcStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument:
    case StatusCode::kCorruption:
    case StatusCode::kUnsupported: return {grpc::StatusCode::INVALID_ARGUMENT, status.message()};
    case StatusCode::kNotFound: return {grpc::StatusCode::NOT_FOUND, status.message()};
    case StatusCode::kOutOfRange: return {grpc::StatusCode::OUT_OF_RANGE, status.message()};
    case StatusCode::kResourceExhausted: return {grpc::StatusCode::RESOURCE_EXHAUSTED, status.message()};
    case StatusCode::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, status.message()};
    case StatusCode::kCancelled: return {grpc::StatusCode::CANCELLED, status.message()};
    case StatusCode::kIOError:
    case StatusCode::kInternal: break;
  }
  return {grpc::StatusCode::INTERNAL, status.message()};
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

Status FromGrpcStatus(const grpc::Status& status, const std::string& context) {
  if (status.ok()) return Status::Ok();
  const std::string message = context + ": " + status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT: return Status::InvalidArgument(message);
    case grpc::StatusCode::NOT_FOUND: return Status::NotFound(message);
    case grpc::StatusCode::OUT_OF_RANGE: return Status::OutOfRange(message);
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return Status::ResourceExhausted(message);
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED: return Status::Unavailable(message);
    case grpc::StatusCode::CANCELLED: return Status::Cancelled(message);
    default: return Status::Internal(message);
  }
}

}  // namespace ps
