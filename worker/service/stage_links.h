// A loaded stage's two hops as LoadShard asked for them (docs/pipeline.md, "Transports"): the
// factory the executor calls to open its link to the next stage, and, when the previous hop is a
// GPU hop, the fetcher that brings each frame's activations across it (the shard puts it behind a
// DevicePayloadReceiver in front of the executor). gRPC hops are what they always were. A CUDA
// stage's NCCL and CUDA IPC hops come from gpu::GpuHops, which fills the LoadShardResponse with
// what the next stage needs; a CPU stage, or a build without the GPU transports, refuses them.
// Thread-safety: Open on the load thread; the factory runs on the executor thread, at most one
// call at a time; TakePreviousFetcher once while loading.
#pragma once

#include <cstdint>
#include <memory>

#include "common/util/status.h"
#include "proto/worker.pb.h"
#include "worker/backend/cuda/device_spec.h"
#include "worker/stage/stage_executor.h"
#include "transport/device_payload_receiver.h"

namespace ps {

#if PIPESHARD_HAVE_CUDA
namespace gpu {
class GpuHops;
}
#endif

class StageLinks {
 public:
  // Why Open failed: the request's hop fields, or this worker (its device cannot carry a GPU hop,
  // or setting one up failed).
  enum class Failure { kRequest, kDevice };

  // `max_frame_bytes`: the largest activation frame either hop carries (MaxActivationFrameBytes);
  // `next`: who must answer at the request's next_address.
  // Checks the hop fields (CheckHopSetup) before anything else sees them; on error `failure` (if
  // given) says whose the fault is.
  static Result<std::unique_ptr<StageLinks>> Open(const pipeshard::v1::LoadShardRequest& request,
                                                  const DeviceSpec& device, uint64_t max_frame_bytes, HopPeer next,
                                                  pipeshard::v1::LoadShardResponse* response, Failure* failure);
  ~StageLinks();
  StageLinks(const StageLinks&) = delete;
  StageLinks& operator=(const StageLinks&) = delete;

  // Opens the link to the next stage; valid while this object lives.
  SenderFactory sender_factory();
  // The previous GPU hop's fetcher; nullptr when that hop is gRPC (or it was taken already).
  std::unique_ptr<PayloadFetcher> TakePreviousFetcher();

 private:
  StageLinks() = default;
  std::string next_address_;
  HopPeer next_;
#if PIPESHARD_HAVE_CUDA  // a build without CUDA has no GPU hops to hold
  std::unique_ptr<gpu::GpuHops> gpu_;  // a CUDA stage's hops; null for a CPU stage
#endif
};

// Bytes of the largest activation frame a stage sends or receives: its most rows (MaxFrameRows)
// of n_embd F32 values. Both ends of a hop compute it from the same request fields, so a sender's
// CUDA IPC slots fit every frame the receiver accepts.
uint64_t MaxActivationFrameBytes(const FrameLimits& limits);

}  // namespace ps
