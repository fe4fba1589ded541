// What a worker on a CUDA device reports about its data plane (worker.proto
// TransportCapabilities): its machine, its GPU's UUID and PCI bus id, and that it can use NCCL
// (the library answers) and CUDA IPC (Linux, and the device is not in a mode that forbids it).
// Thread-safety: may be called from any thread.
#pragma once

#include "common/util/status.h"
#include "proto/worker.pb.h"

namespace ps::gpu {

// Errors when the device cannot be queried (no driver, bad index): the worker then cannot run a
// CUDA stage at all.
Result<pipeshard::v1::TransportCapabilities> ProbeGpuTransport(int device);

}  // namespace ps::gpu
