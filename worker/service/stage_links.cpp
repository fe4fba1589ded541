#include "worker/service/stage_links.h"

#include <algorithm>

#include "transport/hop_setup_check.h"

#if PIPESHARD_HAVE_CUDA
#include "transport/gpu/gpu_hops.h"
#endif

namespace ps {

namespace pb = pipeshard::v1;

namespace {

bool IsGpuHop(pb::HopTransport t) { return t != pb::HOP_TRANSPORT_GRPC; }

// The first GPU hop of the request, as "next_transport HOP_TRANSPORT_NCCL"; empty when none.
std::string FirstGpuHop(const pb::LoadShardRequest& r) {
  if (IsGpuHop(r.next_transport())) return "next_transport " + pb::HopTransport_Name(r.next_transport());
  if (IsGpuHop(r.prev_transport())) return "prev_transport " + pb::HopTransport_Name(r.prev_transport());
  return "";
}

}  // namespace

// Out of line: gpu::GpuHops is complete only here.
StageLinks::~StageLinks() = default;

Result<std::unique_ptr<StageLinks>> StageLinks::Open(const pb::LoadShardRequest& request, const DeviceSpec& device,
                                                     uint64_t max_frame_bytes, HopPeer next,
                                                     pb::LoadShardResponse* response, Failure* failure) {
  const auto fail = [failure](Failure kind, Status status) {
    if (failure != nullptr) *failure = kind;
    return status;
  };
  if (Status s = CheckHopSetup(request, max_frame_bytes); !s.ok()) return fail(Failure::kRequest, s);
  std::unique_ptr<StageLinks> links(new StageLinks());
  links->next_address_ = request.next_address();
  links->next_ = next;
  const std::string gpu_hop = FirstGpuHop(request);
  if (device.kind != DeviceSpec::Kind::kCuda) {
    // The coordinator asks for a GPU hop only between workers that reported one; a CPU (or
    // emulated) worker reports none, so this request was meant for another worker (or a
    // confused coordinator).
    if (!gpu_hop.empty()) {
      return fail(Failure::kDevice, Status::Unsupported("LoadShard: " + gpu_hop +
                                                        " needs a CUDA stage, but this worker runs on " + device.ToString()));
    }
    return links;
  }
#if PIPESHARD_HAVE_CUDA
  auto hops = gpu::GpuHops::Open(request, device.index, max_frame_bytes, std::move(next), response);
  if (!hops.ok()) return fail(Failure::kDevice, hops.status().WithContext(device.ToString()));
  links->gpu_ = std::move(hops).value();
  return links;
#else
  (void)response;
  if (!gpu_hop.empty()) {
    return fail(Failure::kDevice,
                Status::Unsupported("LoadShard: " + gpu_hop +
                                    ": this build has no GPU transports (configure with -DPIPESHARD_CUDA=ON)"));
  }
  return links;
#endif
}

SenderFactory StageLinks::sender_factory() {
#if PIPESHARD_HAVE_CUDA
  if (gpu_ != nullptr) return [hops = gpu_.get()] { return hops->ConnectNext(); };
#endif
  return [address = next_address_, peer = next_] { return ConnectGrpcFrameSender(address, 10.0, peer); };
}

std::unique_ptr<PayloadFetcher> StageLinks::TakePreviousFetcher() {
#if PIPESHARD_HAVE_CUDA
  if (gpu_ != nullptr) return gpu_->TakePreviousFetcher();
#endif
  return nullptr;
}

uint64_t MaxActivationFrameBytes(const FrameLimits& limits) {
  // max_rows is capped by MaxFrameRows and n_embd comes from a checked model config, so the
  // product stays far below 2^64.
  return static_cast<uint64_t>(std::max<int32_t>(limits.max_rows, 0)) *
         static_cast<uint64_t>(std::max<int64_t>(limits.n_embd, 0)) * sizeof(float);
}

}  // namespace ps
