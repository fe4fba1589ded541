// Activations over NCCL: the sender stages a frame's payload in one of a few device buffers,
// ncclSends it to the next stage on a dedicated stream, and sends the frame's metadata, with a
// DevicePayload naming the transfer's sequence number instead of the payload, on the gRPC stream.
// The receiver's fetcher, given that metadata in the same order, ncclRecvs the bytes and checks
// the sequence number (NCCL matches sends to receives by order alone).
// The payload arrives from the backend in host memory (Backend::Forward's output), so a hop is
// host -> device -> NCCL -> device -> host; a backend that hands device buffers would skip both
// copies.
// Thread-safety: the sender's methods may be called from any thread (serialised by a mutex); the
// fetcher is used by one thread (DevicePayloadReceiver's).
#pragma once

#include <memory>
#include <string>

#include "transport/device_payload_receiver.h"
#include "transport/frame_transport.h"
#include "transport/gpu/nccl_hop.h"

namespace ps::gpu {

// `hop` is the rank-0 end; `metadata` the gRPC sender to the next stage, whose address
// `describe` shows.
Result<std::unique_ptr<FrameSender>> MakeNcclFrameSender(std::unique_ptr<NcclHop> hop,
                                                         std::unique_ptr<FrameSender> metadata);

// `hop` is the rank-1 end; frames larger than `max_bytes` are refused.
Result<std::unique_ptr<PayloadFetcher>> MakeNcclPayloadFetcher(std::unique_ptr<NcclHop> hop, uint64_t max_bytes);

}  // namespace ps::gpu
