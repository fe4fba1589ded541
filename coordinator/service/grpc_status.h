// ps::Status -> grpc::Status at the service edge.
// Thread-safety: pure function.
#pragma once

#include <grpcpp/grpcpp.h>

#include "common/util/status.h"

namespace ps::coord {

grpc::Status ToGrpc(const Status& status);

}  // namespace ps::coord
