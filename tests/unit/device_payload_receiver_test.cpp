// The receiving end of a GPU hop, with a fake fetcher standing in for NCCL / CUDA IPC: frames
// reach the executor in arrival order with their payload filled, frames without a device payload
// pass untouched, and after a failed fetch every later device frame travels on as an error frame
// naming the stage and the first failure. Also the host id the transport choice compares.
#include "transport/device_payload_receiver.h"

#include <chrono>
#include <cstring>
#include <condition_variable>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "transport/host_identity.h"

namespace ps {
namespace {

using pipeshard::v1::Frame;

// Fills the payload with `rows * cols` floats of value sequence+1; fails at `fail_at`.
class FakeFetcher : public PayloadFetcher {
 public:
  explicit FakeFetcher(uint64_t fail_at = UINT64_MAX) : fail_at_(fail_at) {}
  Status Fetch(Frame& frame) override {
    const uint64_t seq = frame.device_payload().sequence();
    if (seq == fail_at_) return Status::Internal("ncclRecv failed (fake)");
    std::vector<float> values(static_cast<size_t>(frame.rows()) * static_cast<size_t>(frame.cols()),
                              static_cast<float>(seq + 1));
    frame.set_payload(values.data(), values.size() * sizeof(float));
    frame.clear_device_payload();
    return Status::Ok();
  }

 private:
  uint64_t fail_at_;
};

class Collected {
 public:
  void Add(Frame&& f) {
    std::lock_guard lock(mu_);
    frames_.push_back(std::move(f));
    cv_.notify_all();
  }
  std::vector<Frame> WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return frames_.size() >= n; });
    return frames_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Frame> frames_;
};

Frame DeviceFrame(uint64_t id, uint64_t sequence) {
  Frame f;
  f.set_microbatch_id(id);
  f.set_rows(2);
  f.set_cols(3);
  f.set_dtype(pipeshard::v1::DTYPE_F32);
  f.mutable_device_payload()->set_sequence(sequence);
  f.mutable_device_payload()->set_bytes(24);
  return f;
}

float FirstValue(const Frame& f) {
  float v = 0;
  std::memcpy(&v, f.payload().data(), sizeof v);
  return v;
}

TEST(DevicePayloadReceiver, FillsPayloadsInArrivalOrder) {
  Collected out;
  DevicePayloadReceiver receiver(std::make_unique<FakeFetcher>(), [&](Frame&& f) { out.Add(std::move(f)); }, 1, "gpu-b");
  for (uint64_t i = 0; i < 50; ++i) receiver.OnFrame(DeviceFrame(100 + i, i));
  const std::vector<Frame> frames = out.WaitFor(50);
  ASSERT_EQ(frames.size(), 50u);
  for (uint64_t i = 0; i < 50; ++i) {
    EXPECT_EQ(frames[i].microbatch_id(), 100 + i);
    EXPECT_FALSE(frames[i].has_device_payload());
    ASSERT_EQ(frames[i].payload().size(), 24u);
    EXPECT_EQ(FirstValue(frames[i]), static_cast<float>(i + 1));
  }
  EXPECT_TRUE(receiver.health().ok());
}

TEST(DevicePayloadReceiver, FramesWithoutDevicePayloadPassUntouched) {
  Collected out;
  DevicePayloadReceiver receiver(std::make_unique<FakeFetcher>(), [&](Frame&& f) { out.Add(std::move(f)); }, 1, "");
  Frame error_frame;
  error_frame.set_microbatch_id(7);
  error_frame.set_error("stage 0 (a): InvalidArgument: bad token");
  error_frame.set_error_stage(0);
  receiver.OnFrame(Frame(error_frame));
  const std::vector<Frame> frames = out.WaitFor(1);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].SerializeAsString(), error_frame.SerializeAsString());
}

TEST(DevicePayloadReceiver, AFailedFetchBreaksTheHopAndTravelsAsErrorFrames) {
  Collected out;
  DevicePayloadReceiver receiver(std::make_unique<FakeFetcher>(1), [&](Frame&& f) { out.Add(std::move(f)); }, 2, "gpu-c");
  for (uint64_t i = 0; i < 3; ++i) receiver.OnFrame(DeviceFrame(i, i));
  const std::vector<Frame> frames = out.WaitFor(3);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_TRUE(frames[0].error().empty());
  EXPECT_EQ(frames[0].payload().size(), 24u);
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(frames[i].error(), "stage 2 (gpu-c): receiving activations: internal error: ncclRecv failed (fake)");
    EXPECT_EQ(frames[i].error_stage(), 2);
    EXPECT_TRUE(frames[i].payload().empty());
    EXPECT_FALSE(frames[i].has_device_payload());
    EXPECT_EQ(frames[i].cols(), 0);
  }
  EXPECT_EQ(receiver.health().code(), StatusCode::kInternal);
}

TEST(DevicePayloadReceiver, ForwardedErrorFramesKeepTheirOwnError) {
  Collected out;
  DevicePayloadReceiver receiver(std::make_unique<FakeFetcher>(0), [&](Frame&& f) { out.Add(std::move(f)); }, 2, "");
  Frame f = DeviceFrame(4, 0);
  f.set_error("stage 0: Internal: out of memory");
  receiver.OnFrame(std::move(f));
  const std::vector<Frame> frames = out.WaitFor(1);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].error(), "stage 0: Internal: out of memory");
}

TEST(HostIdentity, StableAndNamesTheBoot) {
  const std::string id = HostId();
  ASSERT_FALSE(id.empty()) << "this Linux machine has /proc/sys/kernel/random/boot_id";
  EXPECT_EQ(id, HostId());
  EXPECT_NE(id.find('/'), std::string::npos) << id;
}

}  // namespace
}  // namespace ps
