#include "coordinator/pipeline/hop_setup.h"

#include "transport/hop_setup_check.h"

namespace ps::coord {

namespace pb = pipeshard::v1;

namespace {

pb::HopTransport ToProto(plan::HopKind kind) {
  switch (kind) {
    case plan::HopKind::kNccl: return pb::HOP_TRANSPORT_NCCL;
    case plan::HopKind::kCudaIpc: return pb::HOP_TRANSPORT_CUDA_IPC;
    case plan::HopKind::kGrpc: break;
  }
  return pb::HOP_TRANSPORT_GRPC;
}

}  // namespace

plan::StageEndpoint EndpointOf(const WorkerRecord& worker) {
  const pb::TransportCapabilities& caps = worker.device.transport();
  plan::StageEndpoint e;
  e.address = worker.address;
  e.host_id = caps.host_id();
  // The device the stage runs on decides, not what the machine has: a CPU worker on a GPU host
  // has no device buffers to send from.
  e.gpu = worker.device.kind() == "cuda" && caps.has_cuda();
  e.nccl = caps.nccl();
  e.cuda_ipc = caps.cuda_ipc();
  e.gpu_uuid = caps.gpu_uuid();
  return e;
}

Status SetHopFields(const std::vector<plan::HopChoice>& hops, size_t stage, const pb::LoadShardResponse& previous,
                    pb::LoadShardRequest* request) {
  if (stage < hops.size()) {
    request->set_next_transport(ToProto(hops[stage].kind));
    if (hops[stage].kind == plan::HopKind::kNccl) {
      request->mutable_next_nccl()->set_rank(kNcclSenderRank);
      request->mutable_next_nccl()->set_nranks(kNcclHopRanks);
    }
  }
  if (stage == 0 || stage > hops.size()) return Status::Ok();
  const plan::HopKind prev = hops[stage - 1].kind;
  request->set_prev_transport(ToProto(prev));
  const std::string from = "stage " + std::to_string(stage - 1) + "'s LoadShard reply: ";
  if (prev == plan::HopKind::kNccl) {
    const Status id = CheckNcclUniqueId(previous.next_nccl_unique_id(), from + "next_nccl_unique_id");
    if (!id.ok()) return Status::Internal(id.message());
    pb::NcclBootstrap* b = request->mutable_prev_nccl();
    b->set_rank(kNcclReceiverRank);
    b->set_nranks(kNcclHopRanks);
    b->set_unique_id(previous.next_nccl_unique_id());
  } else if (prev == plan::HopKind::kCudaIpc) {
    // The slot size against this stage's largest frame is the receiver's check: it knows n_embd.
    const Status ring = CheckCudaIpcRing(previous.next_ipc(), from + "next_ipc", 1);
    if (!ring.ok()) return Status::Internal(ring.message());
    *request->mutable_prev_ipc() = previous.next_ipc();
  }
  return Status::Ok();
}

}  // namespace ps::coord
