#include "transport/hop_setup_check.h"

#include <algorithm>

namespace ps {

namespace pb = pipeshard::v1;

namespace {

std::string Bytes(size_t n) { return std::to_string(n) + " bytes"; }

Status CheckHandle(const std::string& handle, const std::string& field) {
  if (handle.size() != kCudaIpcHandleBytes) {
    return Status::InvalidArgument(field + " is " + Bytes(handle.size()) + ", a CUDA IPC handle is exactly " +
                                   Bytes(kCudaIpcHandleBytes));
  }
  return Status::Ok();
}

bool KnownTransport(int value) { return pb::HopTransport_IsValid(value); }

}  // namespace

Status CheckNcclUniqueId(const std::string& id, const std::string& field) {
  if (id.size() != kNcclUniqueIdBytes) {
    return Status::InvalidArgument(field + " is " + Bytes(id.size()) + ", an NCCL unique id is exactly " +
                                   Bytes(kNcclUniqueIdBytes) + " (NCCL_UNIQUE_ID_BYTES)");
  }
  // ncclGetUniqueId always writes the root's socket address: all zeros means it was never set.
  if (std::all_of(id.begin(), id.end(), [](char c) { return c == 0; })) {
    return Status::InvalidArgument(field + " is all zero bytes: the sending stage never created it");
  }
  return Status::Ok();
}

Status CheckNcclBootstrap(const pb::NcclBootstrap& b, const std::string& field, int32_t expected_rank) {
  if (b.nranks() != kNcclHopRanks) {
    return Status::InvalidArgument(field + ".nranks is " + std::to_string(b.nranks()) + ", a hop communicator has " +
                                   std::to_string(kNcclHopRanks) + " ranks");
  }
  if (b.rank() < 0 || b.rank() >= b.nranks()) {
    return Status::InvalidArgument(field + ".rank " + std::to_string(b.rank()) + " is not inside [0, nranks " +
                                   std::to_string(b.nranks()) + ")");
  }
  if (b.rank() != expected_rank) {
    return Status::InvalidArgument(field + ".rank is " + std::to_string(b.rank()) + " but this end of the hop is rank " +
                                   std::to_string(expected_rank) + " (the sender is " +
                                   std::to_string(kNcclSenderRank) + ")");
  }
  if (b.rank() == kNcclSenderRank) {
    if (!b.unique_id().empty()) {
      return Status::InvalidArgument(field + ".unique_id is set (" + Bytes(b.unique_id().size()) +
                                     ") but rank 0 creates the id itself");
    }
    return Status::Ok();
  }
  return CheckNcclUniqueId(b.unique_id(), field + ".unique_id");
}

Status CheckCudaIpcRing(const pb::CudaIpcRing& ring, const std::string& field, uint64_t min_slot_bytes) {
  const int slots = ring.buffers_size();
  if (slots < 1 || slots > kMaxCudaIpcSlots) {
    return Status::InvalidArgument(field + " has " + std::to_string(slots) + " buffers, expected 1 to " +
                                   std::to_string(kMaxCudaIpcSlots));
  }
  if (ring.events_size() != slots) {
    return Status::InvalidArgument(field + " has " + std::to_string(ring.events_size()) + " events for " +
                                   std::to_string(slots) + " buffers (one per buffer)");
  }
  for (int i = 0; i < slots; ++i) {
    PS_RETURN_IF_ERROR(CheckHandle(ring.buffers(i), field + ".buffers[" + std::to_string(i) + "]"));
    PS_RETURN_IF_ERROR(CheckHandle(ring.events(i), field + ".events[" + std::to_string(i) + "]"));
  }
  PS_RETURN_IF_ERROR(CheckHandle(ring.consumed(), field + ".consumed"));
  if (ring.slot_bytes() < min_slot_bytes || ring.slot_bytes() == 0) {
    return Status::InvalidArgument(field + ".slot_bytes " + std::to_string(ring.slot_bytes()) +
                                   " is smaller than one frame of the largest size, " + Bytes(min_slot_bytes));
  }
  return Status::Ok();
}

Status CheckHopSetup(const pb::LoadShardRequest& r, uint64_t min_slot_bytes) {
  if (!KnownTransport(r.next_transport())) {
    return Status::InvalidArgument("LoadShard: next_transport " + std::to_string(r.next_transport()) +
                                   " is not a known transport");
  }
  if (!KnownTransport(r.prev_transport())) {
    return Status::InvalidArgument("LoadShard: prev_transport " + std::to_string(r.prev_transport()) +
                                   " is not a known transport");
  }
  if (r.stage_index() == r.stage_count() - 1 && r.next_transport() != pb::HOP_TRANSPORT_GRPC) {
    return Status::InvalidArgument("LoadShard: the last stage sends to the coordinator over gRPC, but next_transport is " +
                                   pb::HopTransport_Name(r.next_transport()));
  }
  if (r.stage_index() == 0 && r.prev_transport() != pb::HOP_TRANSPORT_GRPC) {
    return Status::InvalidArgument("LoadShard: stage 0 receives from the coordinator over gRPC, but prev_transport is " +
                                   pb::HopTransport_Name(r.prev_transport()));
  }
  if (r.next_transport() == pb::HOP_TRANSPORT_NCCL) {
    if (!r.has_next_nccl()) return Status::InvalidArgument("LoadShard: next_transport is NCCL but next_nccl is missing");
    PS_RETURN_IF_ERROR(CheckNcclBootstrap(r.next_nccl(), "LoadShard: next_nccl", kNcclSenderRank));
  }
  if (r.prev_transport() == pb::HOP_TRANSPORT_NCCL) {
    if (!r.has_prev_nccl()) return Status::InvalidArgument("LoadShard: prev_transport is NCCL but prev_nccl is missing");
    PS_RETURN_IF_ERROR(CheckNcclBootstrap(r.prev_nccl(), "LoadShard: prev_nccl", kNcclReceiverRank));
  }
  if (r.prev_transport() == pb::HOP_TRANSPORT_CUDA_IPC) {
    if (!r.has_prev_ipc()) return Status::InvalidArgument("LoadShard: prev_transport is CUDA IPC but prev_ipc is missing");
    PS_RETURN_IF_ERROR(CheckCudaIpcRing(r.prev_ipc(), "LoadShard: prev_ipc", min_slot_bytes));
  }
  return Status::Ok();
}

Status CheckDevicePayload(const pb::Frame& frame, uint64_t expected_sequence, uint64_t max_bytes, int slots) {
  const pb::DevicePayload& d = frame.device_payload();
  const std::string where = "frame " + std::to_string(frame.microbatch_id()) + ": device_payload";
  if (d.sequence() != expected_sequence) {
    return Status::Internal(where + ".sequence " + std::to_string(d.sequence()) + " but the hop expects " +
                            std::to_string(expected_sequence) + " (a frame was lost)");
  }
  if (!frame.payload().empty()) {
    return Status::InvalidArgument(where + " is set but the frame also carries " + Bytes(frame.payload().size()) +
                                   " of payload");
  }
  if (frame.rows() < 0 || frame.cols() < 0 || frame.dtype() != pb::DTYPE_F32) {
    return Status::InvalidArgument(where + ": rows " + std::to_string(frame.rows()) + ", cols " +
                                   std::to_string(frame.cols()) + ", dtype " + std::to_string(frame.dtype()) +
                                   " do not describe F32 activations");
  }
  const uint64_t expected = static_cast<uint64_t>(frame.rows()) * static_cast<uint64_t>(frame.cols()) * sizeof(float);
  if (d.bytes() != expected) {
    return Status::InvalidArgument(where + ".bytes " + std::to_string(d.bytes()) + " but rows x cols x 4 is " +
                                   std::to_string(expected));
  }
  if (d.bytes() > max_bytes) {
    return Status::InvalidArgument(where + ".bytes " + std::to_string(d.bytes()) + " exceeds the limit " +
                                   std::to_string(max_bytes));
  }
  // Slots are used round-robin, so the sequence number fixes the slot.
  if (slots > 0 && static_cast<uint64_t>(d.slot()) != d.sequence() % static_cast<uint64_t>(slots)) {
    return Status::InvalidArgument(where + ".slot " + std::to_string(d.slot()) + " but sequence " +
                                   std::to_string(d.sequence()) + " of a " + std::to_string(slots) +
                                   "-slot ring is in slot " + std::to_string(d.sequence() % static_cast<uint64_t>(slots)));
  }
  return Status::Ok();
}

}  // namespace ps
