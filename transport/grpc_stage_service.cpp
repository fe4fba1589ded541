#include "transport/grpc_stage_service.h"

#include <atomic>
#include <climits>

namespace ps {

namespace {

using pipeshard::v1::Frame;

// Reads one stream: a read is always outstanding until the stream ends; each frame is moved to
// the handler before the next read starts, which keeps the stream's order.
class FrameReader : public grpc::ServerReadReactor<Frame> {
 public:
  FrameReader(grpc::CallbackServerContext* context, const FrameHandler& on_frame,
              const StreamEndHandler& on_stream_end)
      : peer_(context->peer()), on_frame_(on_frame), on_stream_end_(on_stream_end) {
    StartRead(&frame_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The sender half-closed (clean end) or the call was cancelled (sender gone).
      Finish(grpc::Status::OK);
      return;
    }
    if (epoch_ == 0) epoch_ = frame_.epoch();
    on_frame_(std::move(frame_));
    frame_.Clear();
    StartRead(&frame_);
  }

  void OnCancel() override { cancelled_ = true; }

  void OnDone() override {
    if (on_stream_end_) {
      on_stream_end_(peer_, epoch_,
                     cancelled_ ? Status::Unavailable("frame stream from " + peer_ + " broke") : Status::Ok());
    }
    delete this;
  }

 private:
  const std::string peer_;
  const FrameHandler& on_frame_;
  const StreamEndHandler& on_stream_end_;
  Frame frame_;
  uint64_t epoch_ = 0;  // of the stream's first frame; reads run one at a time
  std::atomic<bool> cancelled_{false};  // OnCancel may run on another thread
};

}  // namespace

GrpcStageService::GrpcStageService(FrameHandler on_frame, StreamEndHandler on_stream_end)
    : on_frame_(std::move(on_frame)), on_stream_end_(std::move(on_stream_end)) {}

grpc::ServerReadReactor<Frame>* GrpcStageService::Stream(grpc::CallbackServerContext* context,
                                                         pipeshard::v1::StreamAck* /*ack*/) {
  return new FrameReader(context, on_frame_, on_stream_end_);
}

void AllowLargeFrames(grpc::ServerBuilder& builder) { builder.SetMaxReceiveMessageSize(INT_MAX); }

}  // namespace ps
