// The one edge between ps::Status and gRPC status codes, for every process: services answer with
// ToGrpcStatus, clients read answers with FromGrpcStatus, and error frames carry their Status code
// as a gRPC code number (ToGrpcCode / FromGrpcCode) so the coordinator never has to guess a code
// from a message. Each Status code has its own gRPC code and comes back as itself; gRPC codes no
// Status code produces map to the nearest meaning (DEADLINE_EXCEEDED and FAILED_PRECONDITION to
// Unavailable: the server could not do it now; UNAUTHENTICATED and PERMISSION_DENIED to
// InvalidArgument: the caller's credentials are the caller's input).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include <grpcpp/support/status.h>

#include "common/util/status.h"

namespace ps {

grpc::Status ToGrpcStatus(const Status& status);
// For a call that was valid but this worker's device cannot serve (LoadShard on a CUDA device
// without a driver, out of device memory, a tensor type its kernels cannot read): UNAVAILABLE for
// Unavailable, RESOURCE_EXHAUSTED for ResourceExhausted, FAILED_PRECONDITION otherwise, so the
// caller does not blame its own request.
grpc::Status DeviceFailureToGrpcStatus(const Status& status);
// An RPC's outcome as a Status whose message names what was called: "<context>: <message>".
Status FromGrpcStatus(const grpc::Status& status, const std::string& context);

// A Status code as a gRPC code number (for Frame.error_code), and back.
int32_t ToGrpcCode(const Status& status);
Status FromGrpcCode(int32_t code, std::string message);

}  // namespace ps
