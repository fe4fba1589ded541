// What a worker hosting a CUDA stage reports about its GPU: name, device memory, the speed of the
// product the CUDA backend runs for prompts (F16 x F16 -> F32 through cuBLAS), and the data-plane
// capabilities the coordinator picks GPU hops from. The CPU counterparts are system_info.h and
// calibration.h. Every function answers a Status: Unsupported in a build without CUDA,
// Unavailable (naming the runtime's error) without a driver or device.
// Thread-safety: may be called from any thread (each call selects the device on its thread).
#pragma once

#include <cstdint>
#include <string>

#include "common/util/status.h"
#include "proto/worker.pb.h"

namespace ps {

struct CudaMemory {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;  // free on the whole device (other processes' allocations count as used)
};

Result<std::string> CudaDeviceName(int device);
Result<CudaMemory> QueryCudaMemory(int device);
// GFLOP/s of a prompt-sized product on `device` (best of a few after a warm-up).
Result<double> MeasureCudaMatmulGflops(int device);
// gpu::ProbeGpuTransport where the GPU transports are built.
Result<pipeshard::v1::TransportCapabilities> ProbeCudaTransport(int device);

}  // namespace ps
