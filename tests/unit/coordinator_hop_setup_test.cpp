// The coordinator's hop setup: each LoadShardRequest gets its hops' transports, the receiving
// end of an NCCL hop gets the id the sending stage returned, the receiving end of a CUDA IPC hop
// gets its ring, and a sending stage that returned nothing usable fails the load naming it.
#include "coordinator/pipeline/hop_setup.h"

#include <gtest/gtest.h>

#include "transport/hop_setup_check.h"

namespace ps::coord {
namespace {

namespace pb = pipeshard::v1;

WorkerRecord Worker(const std::string& address, const std::string& kind, const std::string& host, bool nccl,
                    bool ipc) {
  WorkerRecord w;
  w.address = address;
  w.device.set_kind(kind);
  pb::TransportCapabilities* caps = w.device.mutable_transport();
  caps->set_host_id(host);
  caps->set_has_cuda(kind == "cuda");
  caps->set_nccl(nccl);
  caps->set_cuda_ipc(ipc);
  caps->set_gpu_uuid("GPU-" + address);
  return w;
}

std::vector<plan::HopChoice> Hops(const std::vector<WorkerRecord>& workers) {
  std::vector<plan::StageEndpoint> endpoints;
  for (const WorkerRecord& w : workers) endpoints.push_back(EndpointOf(w));
  return plan::ChooseTransports(endpoints);
}

pb::CudaIpcRing Ring() {
  pb::CudaIpcRing r;
  r.add_buffers(std::string(kCudaIpcHandleBytes, 1));
  r.add_events(std::string(kCudaIpcHandleBytes, 2));
  r.set_consumed(std::string(kCudaIpcHandleBytes, 3));
  r.set_slot_bytes(4096);
  return r;
}

TEST(CoordinatorHopSetup, EndpointNeedsACudaDeviceNotJustACudaHost) {
  WorkerRecord w = Worker("a:1", "cpu", "h1", true, true);
  w.device.mutable_transport()->set_has_cuda(true);  // the host has a GPU, the stage runs on the CPU
  EXPECT_FALSE(EndpointOf(w).gpu);
  const plan::StageEndpoint gpu = EndpointOf(Worker("a:2", "cuda", "h1", true, false));
  EXPECT_TRUE(gpu.gpu);
  EXPECT_TRUE(gpu.nccl);
  EXPECT_FALSE(gpu.cuda_ipc);
  EXPECT_EQ(gpu.host_id, "h1");
  EXPECT_EQ(gpu.gpu_uuid, "GPU-a:2");
  EXPECT_EQ(gpu.address, "a:2");
}

TEST(CoordinatorHopSetup, CpuWorkersGetTodaysRequests) {
  const std::vector<WorkerRecord> workers = {Worker("a:1", "cpu", "h1", false, false),
                                             Worker("a:2", "cpu", "h1", false, false)};
  const auto hops = Hops(workers);
  for (size_t i = 0; i < workers.size(); ++i) {
    pb::LoadShardRequest r;
    ASSERT_TRUE(SetHopFields(hops, i, pb::LoadShardResponse(), &r).ok());
    // Nothing set: the serialized request is what a coordinator without GPU transports sends.
    EXPECT_EQ(r.ByteSizeLong(), 0u) << r.DebugString();
  }
}

TEST(CoordinatorHopSetup, NcclIdGoesFromSenderToReceiver) {
  const std::vector<WorkerRecord> workers = {Worker("a:1", "cuda", "h1", true, false),
                                             Worker("b:1", "cuda", "h2", true, false),
                                             Worker("c:1", "cpu", "h3", false, false)};
  const auto hops = Hops(workers);
  pb::LoadShardRequest first;
  ASSERT_TRUE(SetHopFields(hops, 0, pb::LoadShardResponse(), &first).ok());
  EXPECT_EQ(first.next_transport(), pb::HOP_TRANSPORT_NCCL);
  EXPECT_EQ(first.prev_transport(), pb::HOP_TRANSPORT_GRPC);
  EXPECT_EQ(first.next_nccl().rank(), 0);
  EXPECT_EQ(first.next_nccl().nranks(), 2);
  EXPECT_TRUE(first.next_nccl().unique_id().empty());
  first.set_stage_count(3);
  EXPECT_TRUE(CheckHopSetup(first, 1).ok());

  pb::LoadShardResponse loaded;
  loaded.set_next_nccl_unique_id(std::string(kNcclUniqueIdBytes, 'x'));
  pb::LoadShardRequest second;
  second.set_stage_index(1);
  second.set_stage_count(3);
  ASSERT_TRUE(SetHopFields(hops, 1, loaded, &second).ok());
  EXPECT_EQ(second.prev_transport(), pb::HOP_TRANSPORT_NCCL);
  EXPECT_EQ(second.prev_nccl().rank(), 1);
  EXPECT_EQ(second.prev_nccl().unique_id(), loaded.next_nccl_unique_id());
  EXPECT_EQ(second.next_transport(), pb::HOP_TRANSPORT_GRPC);  // to the CPU stage
  EXPECT_TRUE(CheckHopSetup(second, 1).ok());

  pb::LoadShardRequest third;
  ASSERT_TRUE(SetHopFields(hops, 2, pb::LoadShardResponse(), &third).ok());
  EXPECT_EQ(third.prev_transport(), pb::HOP_TRANSPORT_GRPC);
  EXPECT_EQ(third.next_transport(), pb::HOP_TRANSPORT_GRPC);
}

TEST(CoordinatorHopSetup, MissingIdFailsNamingTheSender) {
  const auto hops = Hops({Worker("a:1", "cuda", "h1", true, false), Worker("b:1", "cuda", "h2", true, false)});
  pb::LoadShardResponse loaded;
  loaded.set_next_nccl_unique_id("tiny");
  pb::LoadShardRequest r;
  const Status s = SetHopFields(hops, 1, loaded, &r);
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("stage 0's LoadShard reply: next_nccl_unique_id is 4 bytes"), std::string::npos)
      << s.ToString();
}

TEST(CoordinatorHopSetup, CudaIpcRingGoesFromSenderToReceiver) {
  const auto hops = Hops({Worker("a:1", "cuda", "h1", true, true), Worker("a:2", "cuda", "h1", true, true)});
  ASSERT_EQ(hops[0].kind, plan::HopKind::kCudaIpc);
  pb::LoadShardRequest first;
  ASSERT_TRUE(SetHopFields(hops, 0, pb::LoadShardResponse(), &first).ok());
  EXPECT_EQ(first.next_transport(), pb::HOP_TRANSPORT_CUDA_IPC);
  EXPECT_FALSE(first.has_next_nccl());

  pb::LoadShardResponse loaded;
  *loaded.mutable_next_ipc() = Ring();
  pb::LoadShardRequest second;
  ASSERT_TRUE(SetHopFields(hops, 1, loaded, &second).ok());
  EXPECT_EQ(second.prev_transport(), pb::HOP_TRANSPORT_CUDA_IPC);
  EXPECT_EQ(second.prev_ipc().SerializeAsString(), Ring().SerializeAsString());

  loaded.mutable_next_ipc()->clear_events();
  const Status s = SetHopFields(hops, 1, loaded, &second);
  EXPECT_NE(s.message().find("stage 0's LoadShard reply: next_ipc has 0 events for 1 buffers"), std::string::npos)
      << s.ToString();
}

}  // namespace
}  // namespace ps::coord
