// What the NCCL and the CUDA IPC senders share: a FrameSender whose frames' metadata travels on
// an inner (gRPC) sender while each frame's activations move device to device. The first failed
// transfer breaks the hop for good (the receiver's sequence is lost): later sends, health and
// close report it. Subclasses move the payload and, at close, wait for transfers in flight.
// Thread-safety: Send, Close and health may be called from any thread; the subclass hooks run
// under the sender's lock. A subclass's destructor must call Close() itself (the hooks are its
// own and are gone by the time this base is destroyed).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "transport/frame_transport.h"

namespace ps::gpu {

class DeviceHopSender : public FrameSender {
 public:
  // kind: the transport's name in Describe ("nccl"); label: its name in errors ("NCCL hop").
  DeviceHopSender(std::unique_ptr<FrameSender> metadata, std::string kind, std::string label);

  Status Send(pipeshard::v1::Frame frame) override;
  Status Close() override;
  Status health() const override;
  // "<kind> HOST:PORT": the inner sender's peer, reached by this transport.
  std::string Describe() const override;

 protected:
  // Moves the frame's payload to the peer's device and replaces it by its DevicePayload.
  virtual Status MovePayload(pipeshard::v1::Frame& frame) = 0;
  // At close, once: waits (bounded) for the transfers already announced to finish.
  virtual Status FinishTransfers() = 0;

 private:
  const std::unique_ptr<FrameSender> metadata_;
  const std::string kind_;
  const std::string label_;
  mutable std::mutex mu_;
  bool closed_ = false;
  Status broken_;
};

}  // namespace ps::gpu
