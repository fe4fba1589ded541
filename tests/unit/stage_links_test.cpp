// A stage's hops as LoadShard asks for them: gRPC hops give a gRPC sender and no fetcher on any
// device; a CPU stage refuses NCCL and CUDA IPC hops as the device's fault, naming the field; bad
// hop fields are the request's fault; a CUDA stage's GPU hops are set up by gpu::GpuHops (here:
// refused without the GPU transports or a device, and a 128-byte NCCL id with one). Also the
// frame-size bound both ends of a hop share, and the gRPC codes of device failures.
#include "worker/service/stage_links.h"

#include <gtest/gtest.h>

#include "worker/backend/cuda/cuda_backend_factory.h"
#include "transport/grpc_status.h"
#include "transport/hop_setup_check.h"

namespace ps {
namespace {

namespace pb = pipeshard::v1;

constexpr uint64_t kMaxFrameBytes = 64 * 1024;
const DeviceSpec kCpu{};
const DeviceSpec kCuda0{DeviceSpec::Kind::kCuda, 0};

// Stage 1 of 3 with gRPC on both hops, as every CPU cluster sends it.
pb::LoadShardRequest MiddleStage() {
  pb::LoadShardRequest r;
  r.set_stage_index(1);
  r.set_stage_count(3);
  r.set_next_address("127.0.0.1:1");
  return r;
}

pb::LoadShardRequest WithNcclToNext(pb::LoadShardRequest r) {
  r.set_next_transport(pb::HOP_TRANSPORT_NCCL);
  r.mutable_next_nccl()->set_rank(kNcclSenderRank);
  r.mutable_next_nccl()->set_nranks(kNcclHopRanks);
  return r;
}

pb::LoadShardRequest WithIpcFromPrevious(pb::LoadShardRequest r) {
  r.set_prev_transport(pb::HOP_TRANSPORT_CUDA_IPC);
  pb::CudaIpcRing* ring = r.mutable_prev_ipc();
  for (int i = 0; i < 4; ++i) {
    ring->add_buffers(std::string(kCudaIpcHandleBytes, 1));
    ring->add_events(std::string(kCudaIpcHandleBytes, 2));
  }
  ring->set_consumed(std::string(kCudaIpcHandleBytes, 3));
  ring->set_slot_bytes(kMaxFrameBytes);
  return r;
}

bool HaveCudaDevice() {
  const Result<int> count = CudaDeviceCount();
  return count.ok() && *count > 0;
}

void ExpectGrpcLinks(StageLinks& links) {
  auto sender = links.sender_factory()();
  ASSERT_TRUE(sender.ok()) << sender.status().ToString();
  EXPECT_EQ((*sender)->Describe(), "grpc 127.0.0.1:1");
  EXPECT_EQ(links.TakePreviousFetcher(), nullptr);
}

TEST(StageLinks, GrpcHopsOnTheCpuAreWhatTheyWere) {
  pb::LoadShardResponse response;
  auto links = StageLinks::Open(MiddleStage(), kCpu, kMaxFrameBytes, HopPeer{}, &response, nullptr);
  ASSERT_TRUE(links.ok()) << links.status().ToString();
  ExpectGrpcLinks(**links);
  // Nothing for the next stage: the reply a CPU stage sends is unchanged.
  EXPECT_EQ(response.ByteSizeLong(), 0u);
}

TEST(StageLinks, GrpcHopsOnACudaStageNeedNoDevice) {
  // gpu::GpuHops makes no CUDA call for gRPC hops, so this holds with or without a device.
  pb::LoadShardResponse response;
  auto links = StageLinks::Open(MiddleStage(), kCuda0, kMaxFrameBytes, HopPeer{}, &response, nullptr);
  ASSERT_TRUE(links.ok()) << links.status().ToString();
  ExpectGrpcLinks(**links);
  EXPECT_EQ(response.ByteSizeLong(), 0u);
}

TEST(StageLinks, ACpuStageRefusesGpuHopsAsTheDevicesFault) {
  for (const auto& [request, field] :
       {std::pair{WithNcclToNext(MiddleStage()), std::string("next_transport HOP_TRANSPORT_NCCL")},
        std::pair{WithIpcFromPrevious(MiddleStage()), std::string("prev_transport HOP_TRANSPORT_CUDA_IPC")}}) {
    pb::LoadShardResponse response;
    StageLinks::Failure failure = StageLinks::Failure::kRequest;
    auto links = StageLinks::Open(request, kCpu, kMaxFrameBytes, HopPeer{}, &response, &failure);
    ASSERT_FALSE(links.ok()) << field;
    EXPECT_EQ(failure, StageLinks::Failure::kDevice);
    EXPECT_EQ(links.status().message(), "LoadShard: " + field + " needs a CUDA stage, but this worker runs on cpu");
    EXPECT_EQ(DeviceFailureToGrpcStatus(links.status()).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
}

TEST(StageLinks, BadHopFieldsAreTheRequestsFault) {
  for (const DeviceSpec& device : {kCpu, kCuda0}) {
    pb::LoadShardRequest request = MiddleStage();
    request.set_stage_index(0);
    request.set_prev_transport(pb::HOP_TRANSPORT_NCCL);  // stage 0 hears from the coordinator
    StageLinks::Failure failure = StageLinks::Failure::kDevice;
    pb::LoadShardResponse response;
    auto links = StageLinks::Open(request, device, kMaxFrameBytes, HopPeer{}, &response, &failure);
    ASSERT_FALSE(links.ok());
    EXPECT_EQ(failure, StageLinks::Failure::kRequest) << device.ToString();
    EXPECT_EQ(links.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(links.status().message().find("stage 0 receives from the coordinator over gRPC"), std::string::npos)
        << links.status().message();

    // A ring whose slots are smaller than the largest frame this stage accepts.
    request = WithIpcFromPrevious(MiddleStage());
    request.mutable_prev_ipc()->set_slot_bytes(kMaxFrameBytes - 1);
    links = StageLinks::Open(request, device, kMaxFrameBytes, HopPeer{}, &response, &failure);
    ASSERT_FALSE(links.ok());
    EXPECT_EQ(failure, StageLinks::Failure::kRequest) << device.ToString();
    EXPECT_NE(links.status().message().find("prev_ipc"), std::string::npos) << links.status().message();
  }
}

TEST(StageLinks, ACudaStageSetsUpItsNcclHopOrSaysWhyNot) {
  pb::LoadShardResponse response;
  StageLinks::Failure failure = StageLinks::Failure::kRequest;
  auto links = StageLinks::Open(WithNcclToNext(MiddleStage()), kCuda0, kMaxFrameBytes, HopPeer{}, &response, &failure);
  if (!CudaBackendBuilt()) {
    ASSERT_FALSE(links.ok());
    EXPECT_EQ(failure, StageLinks::Failure::kDevice);
    EXPECT_EQ(links.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(links.status().message().find("-DPIPESHARD_CUDA=ON"), std::string::npos) << links.status().message();
    return;
  }
  if (!HaveCudaDevice()) {
    // NCCL or the runtime finds no device: a Status naming cuda:0, never an abort or a hang.
    ASSERT_FALSE(links.ok());
    EXPECT_EQ(failure, StageLinks::Failure::kDevice);
    EXPECT_EQ(links.status().message().rfind("cuda:0: ", 0), 0u) << links.status().message();
    EXPECT_TRUE(response.next_nccl_unique_id().empty());
    return;
  }
  ASSERT_TRUE(links.ok()) << links.status().ToString();
  EXPECT_EQ(response.next_nccl_unique_id().size(), kNcclUniqueIdBytes);
  EXPECT_TRUE(CheckNcclUniqueId(response.next_nccl_unique_id(), "next_nccl_unique_id").ok());
  EXPECT_EQ((*links)->TakePreviousFetcher(), nullptr);  // the previous hop is gRPC
}

TEST(StageLinks, MaxActivationFrameBytesIsRowsTimesEmbeddingOfFloats) {
  FrameLimits limits;
  limits.n_embd = 4096;
  limits.max_rows = MaxFrameRows(4096, 8);
  EXPECT_EQ(MaxActivationFrameBytes(limits), static_cast<uint64_t>(limits.max_rows) * 4096 * 4);
  limits.max_rows = 0;
  EXPECT_EQ(MaxActivationFrameBytes(limits), 0u);
}

TEST(GrpcStatus, DeviceFailuresDoNotBlameTheRequest) {
  EXPECT_EQ(DeviceFailureToGrpcStatus(Status::Unsupported("no CUDA")).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DeviceFailureToGrpcStatus(Status::InvalidArgument("cuda:3 not present")).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DeviceFailureToGrpcStatus(Status::Internal("kernel launch")).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(DeviceFailureToGrpcStatus(Status::Unavailable("no driver")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(DeviceFailureToGrpcStatus(Status::ResourceExhausted("out of memory")).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(DeviceFailureToGrpcStatus(Status::Unavailable("no driver")).error_message(), "no driver");
  EXPECT_TRUE(DeviceFailureToGrpcStatus(Status::Ok()).ok());
  // The request's own errors keep their codes.
  EXPECT_EQ(ToGrpcStatus(Status::Unsupported("tensor type")).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace ps
