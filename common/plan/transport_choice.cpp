#include "common/plan/transport_choice.h"

namespace ps::plan {

const char* HopKindName(HopKind kind) {
  switch (kind) {
    case HopKind::kNccl: return "nccl";
    case HopKind::kCudaIpc: return "cuda-ipc";
    case HopKind::kGrpc: break;
  }
  return "grpc";
}

HopChoice ChooseHop(const StageEndpoint& from, const StageEndpoint& to) {
  if (!from.gpu || !to.gpu) {
    return {HopKind::kGrpc, std::string(!from.gpu && !to.gpu ? "both stages" : !from.gpu ? "the sender" : "the receiver") +
                                " on the CPU"};
  }
  const bool same_host = !from.host_id.empty() && from.host_id == to.host_id;
  // NCCL refuses two ranks of one communicator on one GPU; CUDA IPC between two processes on
  // one GPU works, and is the only device path there.
  const bool same_gpu = same_host && !from.gpu_uuid.empty() && from.gpu_uuid == to.gpu_uuid;
  if (same_host && from.cuda_ipc && to.cuda_ipc) {
    return {HopKind::kCudaIpc, same_gpu ? "two workers on one GPU" : "GPUs on one host"};
  }
  if (same_gpu) return {HopKind::kGrpc, "two workers on one GPU without CUDA IPC"};
  if (from.nccl && to.nccl) return {HopKind::kNccl, same_host ? "GPUs on one host without CUDA IPC" : "GPUs on different hosts"};
  return {HopKind::kGrpc, std::string("GPUs without a common device transport (") + (from.nccl ? "the receiver" : "the sender") +
                              " has no NCCL)"};
}

std::vector<HopChoice> ChooseTransports(const std::vector<StageEndpoint>& stages) {
  std::vector<HopChoice> hops;
  for (size_t i = 0; i + 1 < stages.size(); ++i) hops.push_back(ChooseHop(stages[i], stages[i + 1]));
  return hops;
}

std::string DescribeHop(const std::vector<StageEndpoint>& stages, const std::vector<HopChoice>& hops, size_t stage) {
  if (stage + 1 >= stages.size() || stage >= hops.size()) return "grpc coordinator";
  return std::string(HopKindName(hops[stage].kind)) + " " + stages[stage + 1].address;
}

std::string ExplainTransports(const std::vector<HopChoice>& hops) {
  if (hops.empty()) return "";
  std::string text = " Transports:";
  for (size_t i = 0; i < hops.size(); ++i) {
    text += (i == 0 ? " stage " : ", stage ") + std::to_string(i) + " -> " + std::to_string(i + 1) + " " +
            HopKindName(hops[i].kind) + " (" + hops[i].reason + ")";
  }
  return text + "; the last stage returns tokens to the coordinator over gRPC.";
}

}  // namespace ps::plan
