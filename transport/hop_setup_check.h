// Validation of the GPU-hop setup a stage receives (LoadShardRequest's transports, the NCCL
// bootstrap, the CUDA IPC ring) and the coordinator relays (LoadShardResponse's unique id and
// ring): every field is checked before a CUDA or NCCL call sees it, and errors name the field,
// the value and the limit. Pure: no CUDA needed, so it is tested on any machine.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/util/status.h"
#include "proto/stage.pb.h"
#include "proto/worker.pb.h"

namespace ps {

// NCCL_UNIQUE_ID_BYTES and CUDA_IPC_HANDLE_SIZE; the GPU transport static_asserts both against
// the headers, so a change there breaks the build instead of a run.
inline constexpr size_t kNcclUniqueIdBytes = 128;
inline constexpr size_t kCudaIpcHandleBytes = 64;
// Ranks of a hop communicator: the sending stage is 0, the receiving stage 1.
inline constexpr int32_t kNcclHopRanks = 2;
inline constexpr int32_t kNcclSenderRank = 0;
inline constexpr int32_t kNcclReceiverRank = 1;
// Slots of a CUDA IPC ring: enough to keep a few frames in flight, few enough to bound memory.
inline constexpr int kMaxCudaIpcSlots = 16;

// `field` names the message in errors ("next_nccl"). The sender's rank creates the id, so its
// unique_id must be empty; the receiver's must be the sender's id, exactly kNcclUniqueIdBytes.
Status CheckNcclBootstrap(const pipeshard::v1::NcclBootstrap& bootstrap, const std::string& field,
                          int32_t expected_rank);

// A unique id relayed by the coordinator: exactly kNcclUniqueIdBytes and not all zero.
Status CheckNcclUniqueId(const std::string& id, const std::string& field);

// Handle sizes, matching counts, slot count in [1, kMaxCudaIpcSlots], slots of at least
// `min_slot_bytes` (one frame of the largest size the receiver accepts).
Status CheckCudaIpcRing(const pipeshard::v1::CudaIpcRing& ring, const std::string& field, uint64_t min_slot_bytes);

// The transports of a LoadShardRequest: known values, gRPC to and from the coordinator (stage 0's
// input, the last stage's output), and the NCCL / IPC fields each GPU hop needs.
// `min_slot_bytes` as for CheckCudaIpcRing.
Status CheckHopSetup(const pipeshard::v1::LoadShardRequest& request, uint64_t min_slot_bytes);

// A frame whose activations travel beside it: `expected_sequence` is the next device payload of
// the hop, `max_bytes` the largest the receiver accepts, `slots` the ring size (0 for NCCL).
// Checks the sequence, that bytes equal rows * cols * 4 (F32) and fit, and that the slot is
// sequence % slots (the ring is used round-robin).
Status CheckDevicePayload(const pipeshard::v1::Frame& frame, uint64_t expected_sequence, uint64_t max_bytes,
                          int slots);

}  // namespace ps
