// The receiving end of a hop: the Stage service. Each incoming Stream gets one reactor that reads
// frames one after another and hands each to the FrameHandler (which queues it), so frames of a
// stream reach the handler in arrival order and no gRPC thread ever blocks.
// Thread-safety: the handler is called from gRPC threads, one call at a time per stream; streams
// from different senders may call it concurrently.
#pragma once

#include <functional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "proto/stage.grpc.pb.h"
#include "transport/frame_transport.h"

namespace ps {

// Called when an incoming stream ends: `peer` is gRPC's peer string, `epoch` the epoch of the
// stream's first frame (0 when it carried none: a stream that never carried a frame of the current
// plan says nothing about it), `status` OK when the sender closed the stream and Unavailable when
// it broke (sender gone).
using StreamEndHandler = std::function<void(const std::string& peer, uint64_t epoch, const Status& status)>;

class GrpcStageService : public pipeshard::v1::Stage::CallbackService {
 public:
  explicit GrpcStageService(FrameHandler on_frame, StreamEndHandler on_stream_end = nullptr);

  grpc::ServerReadReactor<pipeshard::v1::Frame>* Stream(grpc::CallbackServerContext* context,
                                                        pipeshard::v1::StreamAck* ack) override;

 private:
  FrameHandler on_frame_;
  StreamEndHandler on_stream_end_;
};

// Lets a server receive frames of any size (gRPC's default cap is 4 MiB; one 512-row frame of a
// 4096-wide model is 8 MiB). Every server that hosts a GrpcStageService must call this.
void AllowLargeFrames(grpc::ServerBuilder& builder);

}  // namespace ps
