#include "transport/gpu/device_hop_sender.h"

namespace ps::gpu {

DeviceHopSender::DeviceHopSender(std::unique_ptr<FrameSender> metadata, std::string kind, std::string label)
    : metadata_(std::move(metadata)), kind_(std::move(kind)), label_(std::move(label)) {}

Status DeviceHopSender::Send(pipeshard::v1::Frame frame) {
  std::lock_guard lock(mu_);
  PS_RETURN_IF_ERROR(broken_);
  // Frames without activations (error frames) have nothing to move beside them.
  if (!frame.payload().empty()) {
    const Status moved = MovePayload(frame);
    if (!moved.ok()) {
      broken_ = Status::Unavailable(label_ + " (" + metadata_->Describe() + ") broke: " + moved.message());
      return broken_;
    }
  }
  return metadata_->Send(std::move(frame));
}

Status DeviceHopSender::Close() {
  std::lock_guard lock(mu_);
  if (!closed_) {
    closed_ = true;
    // The buffers must outlive the transfers already announced (the receiver has their
    // metadata); a dead receiver makes this an error, not a hang.
    if (broken_.ok()) broken_ = FinishTransfers();
    const Status closed = metadata_->Close();
    if (broken_.ok()) broken_ = closed;
  }
  return broken_;
}

Status DeviceHopSender::health() const {
  std::lock_guard lock(mu_);
  return broken_.ok() ? metadata_->health() : broken_;
}

std::string DeviceHopSender::Describe() const {
  // metadata_ describes itself as "grpc HOST:PORT"; the activations take this transport.
  const std::string inner = metadata_->Describe();
  const size_t space = inner.find(' ');
  return kind_ + (space == std::string::npos ? " " + inner : inner.substr(space));
}

}  // namespace ps::gpu
