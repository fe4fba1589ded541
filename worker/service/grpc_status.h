// The edge between ps::Status and gRPC: the worker's RPCs answer with the gRPC code that matches
// the Status code, and the message unchanged.
// Thread-safety: pure functions.
#pragma once

#include <grpcpp/support/status.h>

#include "common/util/status.h"

namespace ps {

grpc::Status ToGrpcStatus(const Status& status);
// An RPC's outcome as a Status naming what was called: "Register to 127.0.0.1:5000: ...".
Status FromGrpcStatus(const grpc::Status& status, const std::string& context);

}  // namespace ps
