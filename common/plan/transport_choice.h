// The transport choice: for each hop of the pipeline (stage i -> stage i+1) the fastest way to
// move activations that both ends support. Two GPU stages on one machine use CUDA IPC (NCCL when
// IPC is unavailable and the GPUs differ), GPU stages on different machines use NCCL, and
// anything with a CPU end, or an end that reports neither, uses gRPC (the activations go
// through host memory). The last stage's hop back to the coordinator is always gRPC.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

namespace ps::plan {

enum class HopKind { kGrpc, kNccl, kCudaIpc };

// What a stage's worker reported about its data plane (worker.proto TransportCapabilities).
struct StageEndpoint {
  std::string address;   // its Stage service
  std::string host_id;   // empty: unknown, never taken for "same machine"
  bool gpu = false;      // the stage runs on a CUDA device
  bool nccl = false;
  bool cuda_ipc = false;
  std::string gpu_uuid;  // empty: unknown
};

struct HopChoice {
  HopKind kind = HopKind::kGrpc;
  std::string reason;  // "GPUs on different hosts", for the plan explanation
};

// "grpc", "nccl" or "cuda-ipc".
const char* HopKindName(HopKind kind);

// The transport from `from` to `to` (the next stage).
HopChoice ChooseHop(const StageEndpoint& from, const StageEndpoint& to);

// One choice per hop between stages: stages.size() - 1 entries (none for one stage).
std::vector<HopChoice> ChooseTransports(const std::vector<StageEndpoint>& stages);

// What status shows as stage i's transport: "<kind> <next address>", and "grpc coordinator"
// for the last stage. `hops` as returned by ChooseTransports for `stages`.
std::string DescribeHop(const std::vector<StageEndpoint>& stages, const std::vector<HopChoice>& hops, size_t stage);

// One sentence for the plan explanation: " Transports: stage 0 -> 1 nccl (GPUs on different
// hosts), ..." (empty for a single stage).
std::string ExplainTransports(const std::vector<HopChoice>& hops);

}  // namespace ps::plan
