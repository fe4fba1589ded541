// Transport choice: each hop gets the fastest transport both ends support (CUDA IPC on one host,
// NCCL across hosts, gRPC with a CPU end or no common device path), and status describes it.
#include "common/plan/transport_choice.h"

#include <gtest/gtest.h>

namespace ps::plan {
namespace {

StageEndpoint Cpu(const std::string& address, const std::string& host = "h1") {
  StageEndpoint e;
  e.address = address;
  e.host_id = host;
  return e;
}

StageEndpoint Gpu(const std::string& address, const std::string& host, const std::string& uuid, bool nccl = true,
                  bool ipc = true) {
  StageEndpoint e = Cpu(address, host);
  e.gpu = true;
  e.nccl = nccl;
  e.cuda_ipc = ipc;
  e.gpu_uuid = uuid;
  return e;
}

TEST(TransportChoice, CpuWorkersKeepGrpcAndTodaysStatusText) {
  const std::vector<StageEndpoint> stages = {Cpu("127.0.0.1:5001"), Cpu("127.0.0.1:5002"), Cpu("127.0.0.1:5003")};
  const std::vector<HopChoice> hops = ChooseTransports(stages);
  ASSERT_EQ(hops.size(), 2u);
  for (const HopChoice& h : hops) EXPECT_EQ(h.kind, HopKind::kGrpc);
  EXPECT_EQ(DescribeHop(stages, hops, 0), "grpc 127.0.0.1:5002");
  EXPECT_EQ(DescribeHop(stages, hops, 1), "grpc 127.0.0.1:5003");
  EXPECT_EQ(DescribeHop(stages, hops, 2), "grpc coordinator");
}

TEST(TransportChoice, GpusOnOneHostUseCudaIpc) {
  const HopChoice hop = ChooseHop(Gpu("a:1", "h1", "GPU-0"), Gpu("a:2", "h1", "GPU-1"));
  EXPECT_EQ(hop.kind, HopKind::kCudaIpc);
  EXPECT_EQ(hop.reason, "GPUs on one host");
}

TEST(TransportChoice, GpusOnDifferentHostsUseNccl) {
  const HopChoice hop = ChooseHop(Gpu("a:1", "h1", "GPU-0"), Gpu("b:1", "h2", "GPU-0"));
  EXPECT_EQ(hop.kind, HopKind::kNccl);
  EXPECT_EQ(hop.reason, "GPUs on different hosts");
}

TEST(TransportChoice, UnknownHostIsNeverTheSameHost) {
  // Two workers that report no host id might be anywhere: CUDA IPC would fail, NCCL works.
  EXPECT_EQ(ChooseHop(Gpu("a:1", "", "GPU-0"), Gpu("a:2", "", "GPU-1")).kind, HopKind::kNccl);
}

TEST(TransportChoice, OneHostWithoutIpcFallsBackToNccl) {
  const HopChoice hop = ChooseHop(Gpu("a:1", "h1", "GPU-0", true, false), Gpu("a:2", "h1", "GPU-1"));
  EXPECT_EQ(hop.kind, HopKind::kNccl);
  EXPECT_EQ(hop.reason, "GPUs on one host without CUDA IPC");
}

TEST(TransportChoice, TwoWorkersOnOneGpuNeverUseNccl) {
  // NCCL refuses two ranks on one device; CUDA IPC between the two processes works.
  EXPECT_EQ(ChooseHop(Gpu("a:1", "h1", "GPU-0"), Gpu("a:2", "h1", "GPU-0")).kind, HopKind::kCudaIpc);
  const HopChoice no_ipc = ChooseHop(Gpu("a:1", "h1", "GPU-0", true, false), Gpu("a:2", "h1", "GPU-0", true, false));
  EXPECT_EQ(no_ipc.kind, HopKind::kGrpc);
  EXPECT_EQ(no_ipc.reason, "two workers on one GPU without CUDA IPC");
}

TEST(TransportChoice, ACpuEndMeansGrpc) {
  EXPECT_EQ(ChooseHop(Cpu("a:1"), Gpu("a:2", "h1", "GPU-0")).reason, "the sender on the CPU");
  EXPECT_EQ(ChooseHop(Gpu("a:1", "h1", "GPU-0"), Cpu("a:2")).reason, "the receiver on the CPU");
  EXPECT_EQ(ChooseHop(Cpu("a:1"), Cpu("a:2")).reason, "both stages on the CPU");
  // A CPU worker that claims NCCL and IPC still has no device buffer to send from.
  StageEndpoint odd = Cpu("a:1");
  odd.nccl = odd.cuda_ipc = true;
  EXPECT_EQ(ChooseHop(odd, Gpu("a:2", "h1", "GPU-0")).kind, HopKind::kGrpc);
}

TEST(TransportChoice, GpusWithoutACommonTransportUseGrpc) {
  const HopChoice hop = ChooseHop(Gpu("a:1", "h1", "GPU-0", true, false), Gpu("b:1", "h2", "GPU-0", false, false));
  EXPECT_EQ(hop.kind, HopKind::kGrpc);
  EXPECT_NE(hop.reason.find("the receiver has no NCCL"), std::string::npos) << hop.reason;
}

TEST(TransportChoice, MixedPipelineDescribesEveryHop) {
  const std::vector<StageEndpoint> stages = {Gpu("a:1", "h1", "GPU-0"), Gpu("a:2", "h1", "GPU-1"),
                                             Gpu("b:1", "h2", "GPU-0"), Cpu("c:1", "h3")};
  const std::vector<HopChoice> hops = ChooseTransports(stages);
  ASSERT_EQ(hops.size(), 3u);
  EXPECT_EQ(DescribeHop(stages, hops, 0), "cuda-ipc a:2");
  EXPECT_EQ(DescribeHop(stages, hops, 1), "nccl b:1");
  EXPECT_EQ(DescribeHop(stages, hops, 2), "grpc c:1");
  EXPECT_EQ(DescribeHop(stages, hops, 3), "grpc coordinator");
  EXPECT_EQ(ExplainTransports(hops),
            " Transports: stage 0 -> 1 cuda-ipc (GPUs on one host), stage 1 -> 2 nccl (GPUs on different hosts), "
            "stage 2 -> 3 grpc (the receiver on the CPU); the last stage returns tokens to the coordinator over gRPC.");
}

TEST(TransportChoice, OneStageHasNoHops) {
  const std::vector<StageEndpoint> stages = {Gpu("a:1", "h1", "GPU-0")};
  EXPECT_TRUE(ChooseTransports(stages).empty());
  EXPECT_EQ(DescribeHop(stages, {}, 0), "grpc coordinator");
  EXPECT_EQ(ExplainTransports({}), "");
}

}  // namespace
}  // namespace ps::plan
