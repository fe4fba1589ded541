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

// Asked when a stream opens and before each of its frames is handed on, with the sender's
// verified certificate identity ("" on a plain link): Ok lets it in; an error ends the stream with
// that error (PERMISSION_DENIED) and the frame is dropped. Must not block.
using StreamAdmission = std::function<Status(const std::string& peer_identity)>;

class GrpcStageService : public pipeshard::v1::Stage::CallbackService {
 public:
  explicit GrpcStageService(FrameHandler on_frame, StreamEndHandler on_stream_end = nullptr,
                            StreamAdmission admit = nullptr);

  grpc::ServerReadReactor<pipeshard::v1::Frame>* Stream(grpc::CallbackServerContext* context,
                                                        pipeshard::v1::StreamAck* ack) override;

 private:
  FrameHandler on_frame_;
  StreamEndHandler on_stream_end_;
  StreamAdmission admit_;
};

// The largest frame a stage server takes: 512 rows (the largest prompt chunk) of a 32768-wide
// model in F32, plus room for the rows' metadata. gRPC refuses a bigger message before reading it
// (its default cap, 4 MiB, is smaller than one 512-row frame of a 4096-wide model).
inline constexpr int kMaxStageMessageBytes = 512 * 32768 * 4 + (16 << 20);

// Sets a stage server's receive limit to kMaxStageMessageBytes. Every server that hosts a
// GrpcStageService must call this.
void AllowLargeFrames(grpc::ServerBuilder& builder);

}  // namespace ps
