#include "transport/device_payload_receiver.h"

#include "transport/grpc_status.h"

namespace ps {

using pipeshard::v1::Frame;

DevicePayloadReceiver::DevicePayloadReceiver(std::unique_ptr<PayloadFetcher> fetcher, FrameHandler next,
                                             int32_t stage_index, std::string name)
    : fetcher_(std::move(fetcher)), next_(std::move(next)), stage_index_(stage_index), name_(std::move(name)) {
  thread_ = std::thread([this] { Loop(); });
}

DevicePayloadReceiver::~DevicePayloadReceiver() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_one();
  }
  thread_.join();
}

void DevicePayloadReceiver::OnFrame(Frame&& frame) {
  std::lock_guard lock(mu_);
  queue_.push_back(std::move(frame));
  cv_.notify_one();
}

Status DevicePayloadReceiver::health() const {
  std::lock_guard lock(mu_);
  return broken_;
}

void DevicePayloadReceiver::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Frame frame = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    Receive(frame);
    next_(std::move(frame));
    lock.lock();
  }
}

void DevicePayloadReceiver::Receive(Frame& frame) {
  // Frames without a device payload (error frames, a sender that fell back) pass as they are.
  if (!frame.has_device_payload()) return;
  Status status;
  {
    std::lock_guard lock(mu_);
    status = broken_;
  }
  if (status.ok()) {
    status = fetcher_->Fetch(frame);
    if (!status.ok()) {
      std::lock_guard lock(mu_);
      broken_ = status;
    }
  }
  if (status.ok()) return;
  frame.clear_device_payload();
  frame.clear_payload();
  // An error frame a previous stage sent keeps its own error.
  if (!frame.error().empty()) return;
  std::string error = "stage " + std::to_string(stage_index_);
  if (!name_.empty()) error += " (" + name_ + ")";
  frame.set_error(error + ": receiving activations: " + status.ToString());
  frame.set_error_stage(stage_index_);
  // The hop is broken, not the request: the coordinator re-plans (the worker reports the hop in
  // its heartbeat) and these requests are replayed, so the frame says Unavailable.
  frame.set_error_code(ToGrpcCode(Status::Unavailable(status.message())));
  frame.set_cols(0);
  frame.set_dtype(pipeshard::v1::DTYPE_UNSPECIFIED);
}

}  // namespace ps
