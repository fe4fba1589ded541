// GPU-hop setup messages: the NCCL bootstrap (id length, ranks), the CUDA IPC ring (handle sizes,
// counts, slot size), the transports of a LoadShardRequest and a frame's device payload are all
// checked with errors that name the field, before any CUDA or NCCL call sees them.
#include "transport/hop_setup_check.h"

#include <gtest/gtest.h>

namespace ps {
namespace {

namespace pb = pipeshard::v1;

std::string Id(char fill = 7) { return std::string(kNcclUniqueIdBytes, fill); }

pb::NcclBootstrap Bootstrap(int32_t rank, std::string id) {
  pb::NcclBootstrap b;
  b.set_rank(rank);
  b.set_nranks(kNcclHopRanks);
  b.set_unique_id(std::move(id));
  return b;
}

pb::CudaIpcRing Ring(int slots, uint64_t slot_bytes) {
  pb::CudaIpcRing r;
  for (int i = 0; i < slots; ++i) {
    r.add_buffers(std::string(kCudaIpcHandleBytes, 1));
    r.add_events(std::string(kCudaIpcHandleBytes, 2));
  }
  r.set_consumed(std::string(kCudaIpcHandleBytes, 3));
  r.set_slot_bytes(slot_bytes);
  return r;
}

// Stage 1 of 3, a GPU stage receiving and sending over NCCL.
pb::LoadShardRequest MiddleStage() {
  pb::LoadShardRequest r;
  r.set_stage_index(1);
  r.set_stage_count(3);
  r.set_prev_transport(pb::HOP_TRANSPORT_NCCL);
  *r.mutable_prev_nccl() = Bootstrap(kNcclReceiverRank, Id());
  r.set_next_transport(pb::HOP_TRANSPORT_NCCL);
  *r.mutable_next_nccl() = Bootstrap(kNcclSenderRank, "");
  return r;
}

void ExpectError(const Status& s, const std::string& fragment) {
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.ToString();
}

TEST(NcclBootstrap, ReceiverNeedsTheSendersIdExactly) {
  EXPECT_TRUE(CheckNcclBootstrap(Bootstrap(1, Id()), "prev_nccl", kNcclReceiverRank).ok());
  ExpectError(CheckNcclBootstrap(Bootstrap(1, Id().substr(1)), "prev_nccl", kNcclReceiverRank),
              "prev_nccl.unique_id is 127 bytes, an NCCL unique id is exactly 128 bytes");
  ExpectError(CheckNcclBootstrap(Bootstrap(1, Id() + "x"), "prev_nccl", kNcclReceiverRank), "is 129 bytes");
  ExpectError(CheckNcclBootstrap(Bootstrap(1, ""), "prev_nccl", kNcclReceiverRank), "is 0 bytes");
  ExpectError(CheckNcclBootstrap(Bootstrap(1, Id(0)), "prev_nccl", kNcclReceiverRank), "all zero bytes");
}

TEST(NcclBootstrap, SenderCreatesTheIdItself) {
  EXPECT_TRUE(CheckNcclBootstrap(Bootstrap(0, ""), "next_nccl", kNcclSenderRank).ok());
  ExpectError(CheckNcclBootstrap(Bootstrap(0, Id()), "next_nccl", kNcclSenderRank),
              "next_nccl.unique_id is set (128 bytes) but rank 0 creates the id itself");
}

TEST(NcclBootstrap, RanksAreChecked) {
  pb::NcclBootstrap b = Bootstrap(2, Id());
  ExpectError(CheckNcclBootstrap(b, "prev_nccl", kNcclReceiverRank), "prev_nccl.rank 2 is not inside [0, nranks 2)");
  b.set_rank(-1);
  ExpectError(CheckNcclBootstrap(b, "prev_nccl", kNcclReceiverRank), "rank -1 is not inside");
  b.set_rank(1);
  b.set_nranks(3);
  ExpectError(CheckNcclBootstrap(b, "prev_nccl", kNcclReceiverRank), "prev_nccl.nranks is 3, a hop communicator has 2");
  b.set_nranks(0);
  ExpectError(CheckNcclBootstrap(b, "prev_nccl", kNcclReceiverRank), "nranks is 0");
  // The right range but the wrong end of the hop.
  ExpectError(CheckNcclBootstrap(Bootstrap(1, Id()), "next_nccl", kNcclSenderRank),
              "next_nccl.rank is 1 but this end of the hop is rank 0");
}

TEST(NcclBootstrap, RelayedIdIsChecked) {
  EXPECT_TRUE(CheckNcclUniqueId(Id(), "next_nccl_unique_id").ok());
  ExpectError(CheckNcclUniqueId("", "next_nccl_unique_id"), "next_nccl_unique_id is 0 bytes");
}

TEST(CudaIpcRing, HandlesCountsAndSlotSize) {
  EXPECT_TRUE(CheckCudaIpcRing(Ring(4, 1024), "prev_ipc", 1024).ok());
  ExpectError(CheckCudaIpcRing(Ring(0, 1024), "prev_ipc", 1024), "prev_ipc has 0 buffers, expected 1 to 16");
  ExpectError(CheckCudaIpcRing(Ring(kMaxCudaIpcSlots + 1, 1024), "prev_ipc", 1024), "has 17 buffers");
  ExpectError(CheckCudaIpcRing(Ring(4, 1023), "prev_ipc", 1024), "prev_ipc.slot_bytes 1023 is smaller");
  ExpectError(CheckCudaIpcRing(Ring(4, 0), "prev_ipc", 0), "slot_bytes 0");
  pb::CudaIpcRing r = Ring(4, 1024);
  r.mutable_events()->RemoveLast();
  ExpectError(CheckCudaIpcRing(r, "prev_ipc", 1024), "has 3 events for 4 buffers");
  r = Ring(4, 1024);
  r.set_buffers(2, std::string(63, 1));
  ExpectError(CheckCudaIpcRing(r, "prev_ipc", 1024), "prev_ipc.buffers[2] is 63 bytes, a CUDA IPC handle is exactly 64");
  r = Ring(4, 1024);
  r.set_events(3, std::string(65, 1));
  ExpectError(CheckCudaIpcRing(r, "prev_ipc", 1024), "prev_ipc.events[3] is 65 bytes");
  r = Ring(4, 1024);
  r.clear_consumed();
  ExpectError(CheckCudaIpcRing(r, "prev_ipc", 1024), "prev_ipc.consumed is 0 bytes");
}

TEST(HopSetup, GrpcEverywhereIsWhatOldCoordinatorsSend) {
  pb::LoadShardRequest r;
  r.set_stage_index(0);
  r.set_stage_count(1);
  EXPECT_TRUE(CheckHopSetup(r, 4096).ok());
}

TEST(HopSetup, GpuHopsNeedTheirFields) {
  EXPECT_TRUE(CheckHopSetup(MiddleStage(), 4096).ok());
  pb::LoadShardRequest r = MiddleStage();
  r.clear_prev_nccl();
  ExpectError(CheckHopSetup(r, 4096), "prev_transport is NCCL but prev_nccl is missing");
  r = MiddleStage();
  r.clear_next_nccl();
  ExpectError(CheckHopSetup(r, 4096), "next_transport is NCCL but next_nccl is missing");
  r = MiddleStage();
  r.mutable_prev_nccl()->set_unique_id("short");
  ExpectError(CheckHopSetup(r, 4096), "LoadShard: prev_nccl.unique_id is 5 bytes");
  r = MiddleStage();
  r.set_prev_transport(pb::HOP_TRANSPORT_CUDA_IPC);
  ExpectError(CheckHopSetup(r, 4096), "prev_transport is CUDA IPC but prev_ipc is missing");
  *r.mutable_prev_ipc() = Ring(2, 4096);
  EXPECT_TRUE(CheckHopSetup(r, 4096).ok());
  ExpectError(CheckHopSetup(r, 8192), "slot_bytes 4096 is smaller than one frame of the largest size, 8192 bytes");
}

TEST(HopSetup, CoordinatorHopsStayGrpcAndValuesAreKnown) {
  pb::LoadShardRequest r = MiddleStage();
  r.set_stage_index(2);  // the last stage
  ExpectError(CheckHopSetup(r, 4096), "the last stage sends to the coordinator over gRPC, but next_transport is HOP_TRANSPORT_NCCL");
  r = MiddleStage();
  r.set_stage_index(0);
  ExpectError(CheckHopSetup(r, 4096), "stage 0 receives from the coordinator over gRPC");
  r = MiddleStage();
  r.set_next_transport(static_cast<pb::HopTransport>(7));
  ExpectError(CheckHopSetup(r, 4096), "next_transport 7 is not a known transport");
  r = MiddleStage();
  r.set_prev_transport(static_cast<pb::HopTransport>(-1));
  ExpectError(CheckHopSetup(r, 4096), "prev_transport -1 is not a known transport");
}

pb::Frame DeviceFrame(uint64_t sequence, int rows, int cols, int slot = 0) {
  pb::Frame f;
  f.set_microbatch_id(9);
  f.set_rows(rows);
  f.set_cols(cols);
  f.set_dtype(pb::DTYPE_F32);
  f.mutable_device_payload()->set_sequence(sequence);
  f.mutable_device_payload()->set_bytes(static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) * 4);
  f.mutable_device_payload()->set_slot(slot);
  return f;
}

TEST(DevicePayload, SequenceSizeAndSlot) {
  EXPECT_TRUE(CheckDevicePayload(DeviceFrame(5, 2, 8), 5, 64, 0).ok());
  ExpectError(CheckDevicePayload(DeviceFrame(6, 2, 8), 5, 64, 0),
              "frame 9: device_payload.sequence 6 but the hop expects 5 (a frame was lost)");
  ExpectError(CheckDevicePayload(DeviceFrame(5, 4, 8), 5, 64, 0), "device_payload.bytes 128 exceeds the limit 64");
  pb::Frame f = DeviceFrame(5, 2, 8);
  f.mutable_device_payload()->set_bytes(60);
  ExpectError(CheckDevicePayload(f, 5, 64, 0), "device_payload.bytes 60 but rows x cols x 4 is 64");
  f = DeviceFrame(5, 2, 8);
  f.set_dtype(pb::DTYPE_F16);
  ExpectError(CheckDevicePayload(f, 5, 64, 0), "do not describe F32 activations");
  f = DeviceFrame(5, 2, 8);
  f.set_payload("abcd");
  ExpectError(CheckDevicePayload(f, 5, 64, 0), "also carries 4 bytes of payload");
  // A 4-slot ring: sequence 5 lives in slot 1.
  EXPECT_TRUE(CheckDevicePayload(DeviceFrame(5, 2, 8, 1), 5, 64, 4).ok());
  ExpectError(CheckDevicePayload(DeviceFrame(5, 2, 8, 2), 5, 64, 4), "slot 2 but sequence 5 of a 4-slot ring is in slot 1");
  ExpectError(CheckDevicePayload(DeviceFrame(5, 2, 8, -1), 5, 64, 4), "slot -1");
}

}  // namespace
}  // namespace ps
