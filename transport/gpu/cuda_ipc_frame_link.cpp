#include "transport/gpu/cuda_ipc_frame_link.h"

#include <chrono>
#include <cstring>
#include <thread>

#include "worker/backend/cuda/runtime/cuda_check.h"
#include "transport/hop_setup_check.h"
#include "transport/gpu/device_hop_sender.h"

namespace ps::gpu {

static_assert(CUDA_IPC_HANDLE_SIZE == kCudaIpcHandleBytes, "hop_setup_check.h's CUDA IPC handle size differs");
static_assert(sizeof(cudaIpcMemHandle_t) == kCudaIpcHandleBytes && sizeof(cudaIpcEventHandle_t) == kCudaIpcHandleBytes);

namespace {

using pipeshard::v1::Frame;

template <typename Handle>
std::string HandleBytes(const Handle& h) {
  return std::string(reinterpret_cast<const char*>(&h), sizeof h);
}

template <typename Handle>
Handle HandleFrom(const std::string& bytes) {  // the size was checked by CheckCudaIpcRing
  Handle h;
  std::memcpy(&h, bytes.data(), sizeof h);
  return h;
}

class CudaIpcFrameSender : public DeviceHopSender {
 public:
  CudaIpcFrameSender(std::unique_ptr<CudaIpcRing> ring, std::unique_ptr<FrameSender> metadata, cuda::Stream stream)
      : DeviceHopSender(std::move(metadata), "cuda-ipc", "CUDA IPC hop"),
        ring_(std::move(ring)),
        stream_(std::move(stream)) {}

  ~CudaIpcFrameSender() override { (void)Close(); }

 private:
  // The ring outlives the frames already announced only while the receiver still reads them:
  // wait until it consumed everything sent (bounded), then let the buffers go.
  Status FinishTransfers() override { return sequence_ > 0 ? WaitConsumed(sequence_) : Status::Ok(); }

  // Polls the receiver's counter until at least `count` frames were consumed.
  Status WaitConsumed(uint64_t count) {
    const auto start = std::chrono::steady_clock::now();
    while (true) {
      uint64_t consumed = 0;
      PS_CUDA_CHECK(cudaMemcpy(&consumed, ring_->consumed.as<uint64_t>(), sizeof consumed, cudaMemcpyDeviceToHost));
      if (consumed >= count) return Status::Ok();
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > kGpuHopTimeoutSeconds) {
        return Status::Unavailable("the receiver consumed " + std::to_string(consumed) + " of " + std::to_string(count) +
                                   " frames within " + std::to_string(kGpuHopTimeoutSeconds) + " s");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  Status MovePayload(Frame& frame) override {
    PS_CUDA_CHECK(cudaSetDevice(ring_->device));
    const size_t bytes = frame.payload().size();
    if (bytes > ring_->slot_bytes) {
      return Status::Internal("a frame of " + std::to_string(bytes) + " bytes exceeds the ring's slot of " +
                              std::to_string(ring_->slot_bytes));
    }
    const uint64_t slots = ring_->buffers.size();
    const size_t slot = static_cast<size_t>(sequence_ % slots);
    // The slot last held frame sequence_ - slots: the receiver must have copied it out.
    if (sequence_ >= slots) PS_RETURN_IF_ERROR(WaitConsumed(sequence_ - slots + 1));
    PS_CUDA_CHECK(cudaMemcpyAsync(ring_->buffers[slot].as<char>(), frame.payload().data(), bytes,
                                  cudaMemcpyHostToDevice, stream_.get()));
    PS_CUDA_CHECK(cudaEventRecord(ring_->written[slot].get(), stream_.get()));
    frame.clear_payload();
    pipeshard::v1::DevicePayload* d = frame.mutable_device_payload();
    d->set_sequence(sequence_);
    d->set_bytes(bytes);
    d->set_slot(static_cast<int32_t>(slot));
    ++sequence_;
    return Status::Ok();
  }

  const std::unique_ptr<CudaIpcRing> ring_;
  const cuda::Stream stream_;
  uint64_t sequence_ = 0;
};

// The receiver's view of the sender's ring: pointers and events opened from its handles.
class CudaIpcPayloadFetcher : public PayloadFetcher {
 public:
  ~CudaIpcPayloadFetcher() override {
    for (void* p : buffers_) (void)cudaIpcCloseMemHandle(p);
    if (consumed_ != nullptr) (void)cudaIpcCloseMemHandle(consumed_);
  }

  Status Open(int device, const pipeshard::v1::CudaIpcRing& ring, uint64_t max_bytes) {
    PS_RETURN_IF_ERROR(CheckCudaIpcRing(ring, "prev_ipc", 1));
    device_ = device;
    max_bytes_ = std::min<uint64_t>(max_bytes, ring.slot_bytes());
    PS_CUDA_CHECK(cudaSetDevice(device));
    PS_ASSIGN_OR_RETURN(stream_, cuda::Stream::Create());
    PS_ASSIGN_OR_RETURN(arrived_, Event::Create(false));
    for (int i = 0; i < ring.buffers_size(); ++i) {
      void* p = nullptr;
      PS_CUDA_CHECK(cudaIpcOpenMemHandle(&p, HandleFrom<cudaIpcMemHandle_t>(ring.buffers(i)),
                                         cudaIpcMemLazyEnablePeerAccess));
      buffers_.push_back(p);
      PS_ASSIGN_OR_RETURN(Event written, Event::Open(HandleFrom<cudaIpcEventHandle_t>(ring.events(i))));
      written_.push_back(std::move(written));
    }
    PS_CUDA_CHECK(cudaIpcOpenMemHandle(&consumed_, HandleFrom<cudaIpcMemHandle_t>(ring.consumed()),
                                       cudaIpcMemLazyEnablePeerAccess));
    return Status::Ok();
  }

  Status Fetch(Frame& frame) override {
    const int slots = static_cast<int>(buffers_.size());
    PS_RETURN_IF_ERROR(CheckDevicePayload(frame, sequence_, max_bytes_, slots));
    PS_CUDA_CHECK(cudaSetDevice(device_));
    const size_t slot = static_cast<size_t>(frame.device_payload().slot());
    const size_t bytes = frame.device_payload().bytes();
    // The sender recorded the slot's event before it sent this metadata, so this waits for
    // exactly that write.
    PS_CUDA_CHECK(cudaStreamWaitEvent(stream_.get(), written_[slot].get(), 0));
    PS_CUDA_CHECK(cudaEventRecord(arrived_.get(), stream_.get()));
    PS_RETURN_IF_ERROR(WaitEvent(arrived_.get(), kGpuHopTimeoutSeconds, "the CUDA IPC slot write"));
    std::string payload(bytes, '\0');
    PS_CUDA_CHECK(cudaMemcpy(payload.data(), buffers_[slot], bytes, cudaMemcpyDeviceToHost));
    // Only now may the sender write the slot again.
    const uint64_t consumed = sequence_ + 1;
    PS_CUDA_CHECK(cudaMemcpy(consumed_, &consumed, sizeof consumed, cudaMemcpyHostToDevice));
    frame.set_payload(std::move(payload));
    frame.clear_device_payload();
    ++sequence_;
    return Status::Ok();
  }

 private:
  int device_ = 0;
  uint64_t max_bytes_ = 0;
  cuda::Stream stream_;
  Event arrived_;
  std::vector<void*> buffers_;
  std::vector<Event> written_;
  void* consumed_ = nullptr;
  uint64_t sequence_ = 0;
};

}  // namespace

Result<std::unique_ptr<CudaIpcRing>> ExportCudaIpcRing(int device, int slots, uint64_t slot_bytes,
                                                       pipeshard::v1::CudaIpcRing* exported) {
  if (slots < 1 || slots > kMaxCudaIpcSlots || slot_bytes == 0) {
    return Status::InvalidArgument("CUDA IPC ring of " + std::to_string(slots) + " slots of " +
                                   std::to_string(slot_bytes) + " bytes (1 to " + std::to_string(kMaxCudaIpcSlots) +
                                   " non-empty slots)");
  }
  PS_CUDA_CHECK(cudaSetDevice(device));
  auto ring = std::make_unique<CudaIpcRing>();
  ring->device = device;
  ring->slot_bytes = slot_bytes;
  exported->Clear();
  exported->set_slot_bytes(slot_bytes);
  for (int i = 0; i < slots; ++i) {
    PS_ASSIGN_OR_RETURN(cuda::DeviceBuffer buffer, cuda::DeviceBuffer::Allocate(slot_bytes));
    PS_ASSIGN_OR_RETURN(Event written, Event::Create(true));
    cudaIpcMemHandle_t mem;
    PS_CUDA_CHECK(cudaIpcGetMemHandle(&mem, buffer.as<void>()));
    cudaIpcEventHandle_t event;
    PS_CUDA_CHECK(cudaIpcGetEventHandle(&event, written.get()));
    exported->add_buffers(HandleBytes(mem));
    exported->add_events(HandleBytes(event));
    ring->buffers.push_back(std::move(buffer));
    ring->written.push_back(std::move(written));
  }
  PS_ASSIGN_OR_RETURN(ring->consumed, cuda::DeviceBuffer::Allocate(sizeof(uint64_t)));
  PS_CUDA_CHECK(cudaMemset(ring->consumed.as<void>(), 0, sizeof(uint64_t)));
  cudaIpcMemHandle_t consumed;
  PS_CUDA_CHECK(cudaIpcGetMemHandle(&consumed, ring->consumed.as<void>()));
  exported->set_consumed(HandleBytes(consumed));
  return ring;
}

Result<std::unique_ptr<FrameSender>> MakeCudaIpcFrameSender(std::unique_ptr<CudaIpcRing> ring,
                                                            std::unique_ptr<FrameSender> metadata) {
  PS_CUDA_CHECK(cudaSetDevice(ring->device));
  PS_ASSIGN_OR_RETURN(cuda::Stream stream, cuda::Stream::Create());
  return std::unique_ptr<FrameSender>(new CudaIpcFrameSender(std::move(ring), std::move(metadata), std::move(stream)));
}

Result<std::unique_ptr<PayloadFetcher>> OpenCudaIpcPayloadFetcher(int device, const pipeshard::v1::CudaIpcRing& ring,
                                                                  uint64_t max_bytes) {
  auto fetcher = std::make_unique<CudaIpcPayloadFetcher>();
  PS_RETURN_IF_ERROR(fetcher->Open(device, ring, max_bytes));
  return std::unique_ptr<PayloadFetcher>(std::move(fetcher));
}

}  // namespace ps::gpu
