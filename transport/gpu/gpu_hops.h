// A GPU stage's two hops, set up from its LoadShardRequest: what the shard calls to load, to open
// its link to the next stage, and to receive from the previous one. For a NCCL or CUDA IPC hop to
// the next stage it starts the communicator or exports the ring at load time and reports what the
// next stage needs in the LoadShardResponse; for one from the previous stage it joins the
// communicator or opens the ring. gRPC hops need nothing here.
// Thread-safety: none; the shard calls Open on its load thread, ConnectNext on the executor
// thread and TakePreviousFetcher once while loading.
#pragma once

#include <memory>
#include <string>

#include "common/util/status.h"
#include "proto/worker.pb.h"
#include "transport/device_payload_receiver.h"
#include "transport/frame_transport.h"
#include "transport/gpu/cuda_ipc_frame_link.h"
#include "transport/gpu/nccl_hop.h"

namespace ps::gpu {

// Slots of the CUDA IPC ring a sending stage exports.
inline constexpr int kCudaIpcSlots = 4;

class GpuHops {
 public:
  // `device`: the stage's CUDA device; `max_frame_bytes`: the largest activation frame either
  // hop carries (max rows x n_embd x 4). Validates the request's hop fields (CheckHopSetup).
  // `next_peer`: who the metadata stream's other end must be (TLS).
  static Result<std::unique_ptr<GpuHops>> Open(const pipeshard::v1::LoadShardRequest& request, int device,
                                               uint64_t max_frame_bytes, HopPeer next_peer,
                                               pipeshard::v1::LoadShardResponse* response);

  // The link to the next stage: gRPC, or NCCL / CUDA IPC beside a gRPC stream for the metadata.
  // A GPU hop opens once: its transfer sequence cannot restart, so after it broke this errors
  // (the coordinator then fails the pipeline over to reloading).
  Result<std::unique_ptr<FrameSender>> ConnectNext();
  // The fetcher for the previous hop's device payloads; nullptr when that hop is gRPC.
  std::unique_ptr<PayloadFetcher> TakePreviousFetcher() { return std::move(previous_); }

 private:
  GpuHops() = default;
  std::string next_address_;
  HopPeer next_peer_;
  pipeshard::v1::HopTransport next_transport_ = pipeshard::v1::HOP_TRANSPORT_GRPC;
  std::unique_ptr<NcclHop> next_nccl_;
  std::unique_ptr<CudaIpcRing> next_ring_;
  bool next_opened_ = false;
  std::unique_ptr<PayloadFetcher> previous_;
};

}  // namespace ps::gpu
