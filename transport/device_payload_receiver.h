// The receiving end of a GPU hop (NCCL or CUDA IPC). The frame's metadata arrives on the gRPC
// stream; its activations arrive beside it, device to device. This stage sits between the Stage
// service and the executor: on its own thread, in arrival order, it has a PayloadFetcher bring
// each frame's activations into `payload` and then hands the frame on, so the executor sees
// ordinary frames and no gRPC thread waits for a GPU. A frame whose fetch fails travels on as an
// error frame (docs/pipeline.md); after a failed fetch the hop is broken (the sequence of device
// payloads is lost), so every later device frame fails too, naming the first error.
// Thread-safety: OnFrame may be called from any thread; the fetcher runs on the receiver's thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/util/status.h"
#include "proto/stage.pb.h"
#include "transport/frame_transport.h"

namespace ps {

// Brings a frame's device payload into its `payload` and clears `device_payload`. Called for
// every frame with a device payload, in the order they were sent; may block.
class PayloadFetcher {
 public:
  virtual ~PayloadFetcher() = default;
  virtual Status Fetch(pipeshard::v1::Frame& frame) = 0;
};

class DevicePayloadReceiver {
 public:
  // `stage_index` and `name` label error frames like the executor does.
  DevicePayloadReceiver(std::unique_ptr<PayloadFetcher> fetcher, FrameHandler next, int32_t stage_index,
                        std::string name);
  // Stops after the frame being fetched; queued frames are dropped.
  ~DevicePayloadReceiver();
  DevicePayloadReceiver(const DevicePayloadReceiver&) = delete;
  DevicePayloadReceiver& operator=(const DevicePayloadReceiver&) = delete;

  // A FrameHandler: queues the frame, never blocks.
  void OnFrame(pipeshard::v1::Frame&& frame);
  // The first fetch error, OK while healthy.
  Status health() const;

 private:
  void Loop();
  void Receive(pipeshard::v1::Frame& frame);

  const std::unique_ptr<PayloadFetcher> fetcher_;
  const FrameHandler next_;
  const int32_t stage_index_;
  const std::string name_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<pipeshard::v1::Frame> queue_;
  bool stopping_ = false;
  Status broken_;
  std::thread thread_;
};

}  // namespace ps
