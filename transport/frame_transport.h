// Transport: how a stage hands frames to the next stage (or the last stage back to the
// coordinator). A sender keeps frames in order and does the network I/O on its own thread, so
// Send never waits for the network; a receiver hands every frame of every incoming stream to one
// handler, in arrival order per stream. gRPC streams now; NCCL and CUDA IPC implement the same
// interface later.
// Thread-safety: FrameSender::Send may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/util/status.h"
#include "proto/stage.pb.h"
#include "transport/tls/link_security.h"

namespace ps {

class FrameSender {
 public:
  virtual ~FrameSender() = default;
  // Queues a frame. Error (Unavailable, naming the peer) once the link has failed; frames
  // queued before the failure may be lost, which the caller learns from this error.
  virtual Status Send(pipeshard::v1::Frame frame) = 0;
  // Flushes queued frames and ends the stream.
  virtual Status Close() = 0;
  // The link's last error, OK while healthy.
  virtual Status health() const = 0;
  // "grpc 127.0.0.1:5001": what `status` shows as the stage's transport.
  virtual std::string Describe() const = 0;
};

// Who must be at the other end of a hop: with mutual TLS, the next stage's certificate identity
// (the handshake fails for anyone else). A null or plain `security` means plain TCP.
struct HopPeer {
  std::shared_ptr<const LinkSecurity> security;
  std::string identity;
};

// A sender for the Stage service at `address`. It connects on its own thread at the first Send,
// waiting up to `connect_timeout_seconds`; after that health() and Send report the failure.
Result<std::unique_ptr<FrameSender>> ConnectGrpcFrameSender(const std::string& address,
                                                            double connect_timeout_seconds = 10.0,
                                                            HopPeer peer = {});

// Called for each received frame, on a gRPC thread: must not block (queue the work).
using FrameHandler = std::function<void(pipeshard::v1::Frame&& frame)>;

}  // namespace ps
