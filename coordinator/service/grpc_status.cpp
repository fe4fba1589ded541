#include "coordinator/service/grpc_status.h"

namespace ps::coord {

grpc::Status ToGrpc(const Status& status) {
  using grpc::StatusCode;
  StatusCode code = StatusCode::INTERNAL;
  switch (status.code()) {
    case ps::StatusCode::kOk: return grpc::Status::OK;
    case ps::StatusCode::kInvalidArgument:
    case ps::StatusCode::kCorruption:
    case ps::StatusCode::kOutOfRange: code = StatusCode::INVALID_ARGUMENT; break;
    case ps::StatusCode::kNotFound: code = StatusCode::NOT_FOUND; break;
    case ps::StatusCode::kUnsupported: code = StatusCode::UNIMPLEMENTED; break;
    case ps::StatusCode::kResourceExhausted: code = StatusCode::RESOURCE_EXHAUSTED; break;
    case ps::StatusCode::kUnavailable: code = StatusCode::UNAVAILABLE; break;
    case ps::StatusCode::kCancelled: code = StatusCode::CANCELLED; break;
    case ps::StatusCode::kIOError:
    case ps::StatusCode::kInternal: code = StatusCode::INTERNAL; break;
  }
  return grpc::Status(code, status.message());
}

}  // namespace ps::coord
