#include "transport/gpu/gpu_hops.h"

#include "transport/hop_setup_check.h"
#include "transport/gpu/nccl_frame_link.h"

namespace ps::gpu {

namespace pb = pipeshard::v1;

Result<std::unique_ptr<GpuHops>> GpuHops::Open(const pb::LoadShardRequest& request, int device,
                                               uint64_t max_frame_bytes, HopPeer next_peer,
                                               pb::LoadShardResponse* response) {
  PS_RETURN_IF_ERROR(CheckHopSetup(request, max_frame_bytes));
  std::unique_ptr<GpuHops> hops(new GpuHops());
  hops->next_address_ = request.next_address();
  hops->next_peer_ = std::move(next_peer);
  hops->next_transport_ = request.next_transport();
  if (request.next_transport() == pb::HOP_TRANSPORT_NCCL) {
    std::string id;
    PS_ASSIGN_OR_RETURN(hops->next_nccl_, NcclHop::CreateAsSender(device, &id));
    response->set_next_nccl_unique_id(std::move(id));
  } else if (request.next_transport() == pb::HOP_TRANSPORT_CUDA_IPC) {
    PS_ASSIGN_OR_RETURN(hops->next_ring_,
                        ExportCudaIpcRing(device, kCudaIpcSlots, max_frame_bytes, response->mutable_next_ipc()));
  }
  if (request.prev_transport() == pb::HOP_TRANSPORT_NCCL) {
    PS_ASSIGN_OR_RETURN(std::unique_ptr<NcclHop> hop, NcclHop::JoinAsReceiver(device, request.prev_nccl().unique_id()));
    PS_ASSIGN_OR_RETURN(hops->previous_, MakeNcclPayloadFetcher(std::move(hop), max_frame_bytes));
  } else if (request.prev_transport() == pb::HOP_TRANSPORT_CUDA_IPC) {
    PS_ASSIGN_OR_RETURN(hops->previous_, OpenCudaIpcPayloadFetcher(device, request.prev_ipc(), max_frame_bytes));
  }
  return hops;
}

Result<std::unique_ptr<FrameSender>> GpuHops::ConnectNext() {
  PS_ASSIGN_OR_RETURN(std::unique_ptr<FrameSender> metadata, ConnectGrpcFrameSender(next_address_, 10.0, next_peer_));
  if (next_transport_ == pb::HOP_TRANSPORT_GRPC) return metadata;
  if (next_opened_) {
    return Status::Unavailable("the " + pb::HopTransport_Name(next_transport_) + " hop to " + next_address_ +
                               " broke and cannot reopen without reloading the stage");
  }
  next_opened_ = true;
  if (next_transport_ == pb::HOP_TRANSPORT_NCCL) return MakeNcclFrameSender(std::move(next_nccl_), std::move(metadata));
  return MakeCudaIpcFrameSender(std::move(next_ring_), std::move(metadata));
}

}  // namespace ps::gpu
