#include "transport/gpu/nccl_frame_link.h"

#include <array>

#include "worker/backend/cuda/runtime/cuda_check.h"
#include "worker/backend/cuda/runtime/device_resources.h"
#include "transport/hop_setup_check.h"
#include "transport/gpu/cuda_event.h"
#include "transport/gpu/device_hop_sender.h"
#include "transport/gpu/nccl_check.h"

namespace ps::gpu {

namespace {

using pipeshard::v1::Frame;

// Staging buffers in flight: the executor can stage frame n+1 while frame n is still on the wire.
constexpr size_t kSendSlots = 4;

class NcclFrameSender : public DeviceHopSender {
 public:
  NcclFrameSender(std::unique_ptr<NcclHop> hop, std::unique_ptr<FrameSender> metadata, cuda::Stream stream)
      : DeviceHopSender(std::move(metadata), "nccl", "NCCL hop"), hop_(std::move(hop)), stream_(std::move(stream)) {}

  ~NcclFrameSender() override { (void)Close(); }

  Status Init() {
    for (Slot& slot : slots_) {
      PS_ASSIGN_OR_RETURN(slot.sent, Event::Create(false));
    }
    return Status::Ok();
  }

 private:
  struct Slot {
    cuda::DeviceBuffer buffer;
    Event sent;
    bool used = false;
  };

  Status FinishTransfers() override {
    for (Slot& slot : slots_) {
      if (!slot.used) continue;
      PS_RETURN_IF_ERROR(hop_->WaitEvent(slot.sent.get(), kGpuHopTimeoutSeconds, "ncclSend"));
    }
    return Status::Ok();
  }

  // Copies the payload to a staging buffer, posts the ncclSend and replaces the payload by its
  // DevicePayload.
  Status MovePayload(Frame& frame) override {
    PS_CUDA_CHECK(cudaSetDevice(hop_->device()));
    PS_RETURN_IF_ERROR(hop_->WaitReady(kGpuHopTimeoutSeconds));
    Slot& slot = slots_[sequence_ % kSendSlots];
    if (slot.used) PS_RETURN_IF_ERROR(hop_->WaitEvent(slot.sent.get(), kGpuHopTimeoutSeconds, "ncclSend"));
    const size_t bytes = frame.payload().size();
    PS_RETURN_IF_ERROR(cuda::EnsureCapacity(slot.buffer, bytes));
    // From pageable memory the call returns once the source is staged, so the frame may drop it.
    PS_CUDA_CHECK(cudaMemcpyAsync(slot.buffer.as<char>(), frame.payload().data(), bytes, cudaMemcpyHostToDevice,
                                  stream_.get()));
    PS_NCCL_HOP_CHECK(*hop_, ncclSend(slot.buffer.as<char>(), bytes, ncclUint8, hop_->peer(), hop_->comm(),
                                      stream_.get()));
    PS_CUDA_CHECK(cudaEventRecord(slot.sent.get(), stream_.get()));
    slot.used = true;
    frame.clear_payload();
    frame.mutable_device_payload()->set_sequence(sequence_);
    frame.mutable_device_payload()->set_bytes(bytes);
    ++sequence_;
    return Status::Ok();
  }

  const std::unique_ptr<NcclHop> hop_;
  const cuda::Stream stream_;
  std::array<Slot, kSendSlots> slots_;
  uint64_t sequence_ = 0;
};

class NcclPayloadFetcher : public PayloadFetcher {
 public:
  NcclPayloadFetcher(std::unique_ptr<NcclHop> hop, uint64_t max_bytes, cuda::Stream stream, Event received)
      : hop_(std::move(hop)), max_bytes_(max_bytes), stream_(std::move(stream)), received_(std::move(received)) {}

  Status Fetch(Frame& frame) override {
    PS_RETURN_IF_ERROR(CheckDevicePayload(frame, sequence_, max_bytes_, 0));
    PS_CUDA_CHECK(cudaSetDevice(hop_->device()));
    PS_RETURN_IF_ERROR(hop_->WaitReady(kGpuHopTimeoutSeconds));
    const size_t bytes = frame.device_payload().bytes();
    PS_RETURN_IF_ERROR(cuda::EnsureCapacity(buffer_, bytes));
    PS_NCCL_HOP_CHECK(*hop_, ncclRecv(buffer_.as<char>(), bytes, ncclUint8, hop_->peer(), hop_->comm(), stream_.get()));
    PS_CUDA_CHECK(cudaEventRecord(received_.get(), stream_.get()));
    PS_RETURN_IF_ERROR(hop_->WaitEvent(received_.get(), kGpuHopTimeoutSeconds, "ncclRecv"));
    std::string payload(bytes, '\0');
    PS_CUDA_CHECK(cudaMemcpy(payload.data(), buffer_.as<char>(), bytes, cudaMemcpyDeviceToHost));
    frame.set_payload(std::move(payload));
    frame.clear_device_payload();
    ++sequence_;
    return Status::Ok();
  }

 private:
  const std::unique_ptr<NcclHop> hop_;
  const uint64_t max_bytes_;
  const cuda::Stream stream_;
  const Event received_;
  cuda::DeviceBuffer buffer_;
  uint64_t sequence_ = 0;
};

}  // namespace

Result<std::unique_ptr<FrameSender>> MakeNcclFrameSender(std::unique_ptr<NcclHop> hop,
                                                         std::unique_ptr<FrameSender> metadata) {
  PS_CUDA_CHECK(cudaSetDevice(hop->device()));
  PS_ASSIGN_OR_RETURN(cuda::Stream stream, cuda::Stream::Create());
  auto sender = std::make_unique<NcclFrameSender>(std::move(hop), std::move(metadata), std::move(stream));
  PS_RETURN_IF_ERROR(sender->Init());
  return std::unique_ptr<FrameSender>(std::move(sender));
}

Result<std::unique_ptr<PayloadFetcher>> MakeNcclPayloadFetcher(std::unique_ptr<NcclHop> hop, uint64_t max_bytes) {
  PS_CUDA_CHECK(cudaSetDevice(hop->device()));
  PS_ASSIGN_OR_RETURN(cuda::Stream stream, cuda::Stream::Create());
  PS_ASSIGN_OR_RETURN(Event received, Event::Create(false));
  return std::unique_ptr<PayloadFetcher>(
      new NcclPayloadFetcher(std::move(hop), max_bytes, std::move(stream), std::move(received)));
}

}  // namespace ps::gpu
