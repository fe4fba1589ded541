// Activations through CUDA IPC, between two worker processes on one machine (on two GPUs or on
// the same one). The sending stage owns a ring of device buffers, one interprocess event per
// buffer and a device counter of frames the receiver has consumed; it exports their handles once
// at load time (LoadShardResponse.next_ipc) and the coordinator hands them to the receiving stage
// (LoadShardRequest.prev_ipc), which opens them. Per frame the sender copies the payload into
// slot `sequence % slots`, records that slot's event and sends the metadata (with a DevicePayload
// naming sequence and slot) on the gRPC stream; the receiver waits for the event, copies the slot
// out and advances the counter, which the sender reads before it writes a slot again.
// The payload arrives from the backend in host memory, as in nccl_frame_link.h.
// Thread-safety: the sender's methods may be called from any thread (serialised by a mutex); the
// fetcher is used by one thread (DevicePayloadReceiver's).
#pragma once

#include <memory>
#include <vector>

#include "proto/worker.pb.h"
#include "worker/backend/cuda/runtime/device_resources.h"
#include "transport/device_payload_receiver.h"
#include "transport/frame_transport.h"
#include "transport/gpu/cuda_event.h"

namespace ps::gpu {

// The sending stage's ring, created and exported at load time; the sender takes it over at the
// first frame.
struct CudaIpcRing {
  int device = 0;
  uint64_t slot_bytes = 0;
  std::vector<cuda::DeviceBuffer> buffers;
  std::vector<Event> written;  // interprocess: recorded after a slot was written
  cuda::DeviceBuffer consumed;  // uint64: frames the receiver has copied out
};

// A ring of `slots` buffers of `slot_bytes` on `device`; its handles go to `exported`.
Result<std::unique_ptr<CudaIpcRing>> ExportCudaIpcRing(int device, int slots, uint64_t slot_bytes,
                                                       pipeshard::v1::CudaIpcRing* exported);

Result<std::unique_ptr<FrameSender>> MakeCudaIpcFrameSender(std::unique_ptr<CudaIpcRing> ring, std::unique_ptr<FrameSender> metadata);

// Opens the sender's ring (validated with CheckCudaIpcRing) on `device`; frames larger than
// `max_bytes` are refused.
Result<std::unique_ptr<PayloadFetcher>> OpenCudaIpcPayloadFetcher(int device, const pipeshard::v1::CudaIpcRing& ring,
                                                                  uint64_t max_bytes);

}  // namespace ps::gpu
