// The edge between ps::Status and gRPC: the worker's RPCs answer with the gRPC code that matches
// the Status code, and the message unchanged.
// Thread-safety: pure functions.
#pragma once

#include <grpcpp/support/status.h>

#include "common/util/status.h"

namespace ps {

grpc::Status ToGrpcStatus(const Status& status);
// For a call that was valid but this worker's device cannot serve (LoadShard on a CUDA device
// without a driver, out of device memory, a tensor type its kernels cannot read): UNAVAILABLE for
// Unavailable, RESOURCE_EXHAUSTED for ResourceExhausted, FAILED_PRECONDITION otherwise, so the
// caller does not blame its own request.
grpc::Status DeviceFailureToGrpcStatus(const Status& status);
// An RPC's outcome as a Status naming what was called: "Register to 127.0.0.1:5000: ...".
Status FromGrpcStatus(const grpc::Status& status, const std::string& context);

}  // namespace ps
