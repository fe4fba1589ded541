// The GPU transports on a real device: activations sent through an NCCL hop (two GPUs) and
// through a CUDA IPC ring (one GPU is enough: the receiver is a second process, as between two
// workers) arrive byte for byte, in order, and the IPC sender learns that the receiver consumed
// them. Without a CUDA device (or, for NCCL, a second one) each test skips and says so.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <vector>

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include "tests/support/subprocess.h"
#include "transport/hop_setup_check.h"
#include "transport/gpu/cuda_ipc_frame_link.h"
#include "transport/gpu/gpu_capabilities.h"
#include "transport/gpu/nccl_frame_link.h"

namespace ps::gpu {
namespace {

using pipeshard::v1::Frame;

int DeviceCount() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

// Stands in for the gRPC metadata stream: keeps what was sent.
class CapturingSender : public FrameSender {
 public:
  explicit CapturingSender(std::vector<Frame>* sent) : sent_(sent) {}
  Status Send(Frame frame) override {
    sent_->push_back(std::move(frame));
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  Status health() const override { return Status::Ok(); }
  std::string Describe() const override { return "grpc 127.0.0.1:1"; }

 private:
  std::vector<Frame>* sent_;
};

Frame ActivationFrame(uint64_t id, int rows, int cols) {
  Frame f;
  f.set_microbatch_id(id);
  f.set_rows(rows);
  f.set_cols(cols);
  f.set_dtype(pipeshard::v1::DTYPE_F32);
  std::vector<float> values(static_cast<size_t>(rows) * static_cast<size_t>(cols));
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(id * 1000 + i) * 0.5f;
  f.set_payload(values.data(), values.size() * sizeof(float));
  return f;
}

TEST(GpuTransport, CapabilitiesOfDevice0) {
  if (DeviceCount() < 1) GTEST_SKIP() << "no CUDA device: GPU transports compiled, not run";
  auto caps = ProbeGpuTransport(0);
  ASSERT_TRUE(caps.ok()) << caps.status().ToString();
  EXPECT_TRUE(caps->has_cuda());
  EXPECT_EQ(caps->gpu_uuid().rfind("GPU-", 0), 0u) << caps->gpu_uuid();
  EXPECT_FALSE(caps->pci_bus_id().empty());
  EXPECT_TRUE(caps->nccl());
}

TEST(GpuTransport, NcclHopMovesActivationsInOrder) {
  if (DeviceCount() < 2) GTEST_SKIP() << "needs two CUDA devices (NCCL refuses two ranks on one GPU)";
  std::string id;
  auto sender_hop = NcclHop::CreateAsSender(0, &id);
  ASSERT_TRUE(sender_hop.ok()) << sender_hop.status().ToString();
  ASSERT_TRUE(CheckNcclUniqueId(id, "id").ok());
  auto receiver_hop = NcclHop::JoinAsReceiver(1, id);
  ASSERT_TRUE(receiver_hop.ok()) << receiver_hop.status().ToString();
  std::vector<Frame> metadata;
  auto sender = MakeNcclFrameSender(std::move(*sender_hop), std::make_unique<CapturingSender>(&metadata));
  ASSERT_TRUE(sender.ok()) << sender.status().ToString();
  auto fetcher = MakeNcclPayloadFetcher(std::move(*receiver_hop), 1 << 20);
  ASSERT_TRUE(fetcher.ok()) << fetcher.status().ToString();
  EXPECT_EQ((*sender)->Describe(), "nccl 127.0.0.1:1");
  // Odd sizes, and more frames than staging slots (each is received before the next is sent:
  // the test is both ends in one thread).
  for (uint64_t i = 0; i < 9; ++i) {
    const Frame original = ActivationFrame(i, 1 + static_cast<int>(i % 3), 33);
    ASSERT_TRUE((*sender)->Send(original).ok());
    ASSERT_EQ(metadata.size(), i + 1);
    Frame& arrived = metadata.back();
    EXPECT_TRUE(arrived.payload().empty());
    EXPECT_EQ(arrived.device_payload().sequence(), i);
    ASSERT_TRUE((*fetcher)->Fetch(arrived).ok());
    EXPECT_EQ(arrived.payload(), original.payload()) << "frame " << i;
    EXPECT_FALSE(arrived.has_device_payload());
  }
  EXPECT_TRUE((*sender)->Close().ok());
}

constexpr const char* kIpcFileEnv = "PIPESHARD_TEST_IPC_FILE";

// The receiving worker of the CUDA IPC test, run as a second process by the test below.
TEST(GpuTransport, DISABLED_CudaIpcReceiverChild) {
  const char* path = std::getenv(kIpcFileEnv);
  ASSERT_NE(path, nullptr);
  std::ifstream in(path, std::ios::binary);
  // The file: the ring (a LoadShardResponse with next_ipc), then the metadata frames, each
  // length-prefixed.
  pipeshard::v1::LoadShardResponse shared;
  uint32_t ring_bytes = 0, frames = 0;
  in.read(reinterpret_cast<char*>(&ring_bytes), sizeof ring_bytes);
  std::string ring(ring_bytes, '\0');
  in.read(ring.data(), ring_bytes);
  ASSERT_TRUE(shared.ParseFromString(ring));
  in.read(reinterpret_cast<char*>(&frames), sizeof frames);
  auto fetcher = OpenCudaIpcPayloadFetcher(0, shared.next_ipc(), 1 << 20);
  ASSERT_TRUE(fetcher.ok()) << fetcher.status().ToString();
  for (uint32_t i = 0; i < frames; ++i) {
    uint32_t n = 0;
    in.read(reinterpret_cast<char*>(&n), sizeof n);
    std::string bytes(n, '\0');
    in.read(bytes.data(), n);
    Frame f;
    ASSERT_TRUE(f.ParseFromString(bytes));
    ASSERT_TRUE((*fetcher)->Fetch(f).ok()) << "frame " << i;
    const Frame expected = ActivationFrame(f.microbatch_id(), f.rows(), f.cols());
    ASSERT_EQ(f.payload(), expected.payload()) << "frame " << i;
  }
}

TEST(GpuTransport, CudaIpcRingBetweenTwoProcesses) {
  if (DeviceCount() < 1) GTEST_SKIP() << "no CUDA device: GPU transports compiled, not run";
  pipeshard::v1::LoadShardResponse shared;
  auto ring = ExportCudaIpcRing(0, 4, 1 << 20, shared.mutable_next_ipc());
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  ASSERT_TRUE(CheckCudaIpcRing(shared.next_ipc(), "next_ipc", 1 << 20).ok());
  std::vector<Frame> metadata;
  auto sender = MakeCudaIpcFrameSender(std::move(*ring), std::make_unique<CapturingSender>(&metadata));
  ASSERT_TRUE(sender.ok()) << sender.status().ToString();
  // As many frames as slots: the sender does not wait for the receiver before the child starts.
  for (uint64_t i = 0; i < 4; ++i) ASSERT_TRUE((*sender)->Send(ActivationFrame(i, 2 + static_cast<int>(i), 17)).ok());

  test::TempDir dir;
  const std::string path = (dir.path() / "ipc.bin").string();
  {
    std::ofstream out(path, std::ios::binary);
    const std::string ring_bytes = shared.SerializeAsString();
    const auto n = static_cast<uint32_t>(ring_bytes.size());
    out.write(reinterpret_cast<const char*>(&n), sizeof n);
    out.write(ring_bytes.data(), n);
    const auto frames = static_cast<uint32_t>(metadata.size());
    out.write(reinterpret_cast<const char*>(&frames), sizeof frames);
    for (const Frame& f : metadata) {
      const std::string bytes = f.SerializeAsString();
      const auto m = static_cast<uint32_t>(bytes.size());
      out.write(reinterpret_cast<const char*>(&m), sizeof m);
      out.write(bytes.data(), m);
    }
  }
  setenv(kIpcFileEnv, path.c_str(), 1);
  const test::ProcessResult child =
      test::RunProgram({std::filesystem::read_symlink("/proc/self/exe").string(),
                        "--gtest_filter=GpuTransport.DISABLED_CudaIpcReceiverChild", "--gtest_also_run_disabled_tests"});
  EXPECT_EQ(child.exit_code, 0) << child.out << child.err;
  // Close waits until the receiver's counter says every frame was consumed.
  EXPECT_TRUE((*sender)->Close().ok());
}

}  // namespace
}  // namespace ps::gpu
