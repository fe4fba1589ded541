#include "transport/grpc_stage_service.h"
#include "common/log/log.h"

#include <atomic>
#include <cstdio>

#include "transport/grpc_status.h"
#include "transport/tls/link_security.h"

namespace ps {

namespace {

using pipeshard::v1::Frame;

// Reads one stream: a read is always outstanding until the stream ends; each frame is moved to
// the handler before the next read starts, which keeps the stream's order.
class FrameReader : public grpc::ServerReadReactor<Frame> {
 public:
  FrameReader(grpc::CallbackServerContext* context, const FrameHandler& on_frame,
              const StreamEndHandler& on_stream_end, const StreamAdmission& admit)
      : peer_(context->peer()),
        identity_(LinkSecurity::PeerIdentity(*context)),
        on_frame_(on_frame),
        on_stream_end_(on_stream_end),
        admit_(admit) {
    if (!Admitted()) return;
    StartRead(&frame_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The sender half-closed (clean end) or the call was cancelled (sender gone).
      Finish(grpc::Status::OK);
      return;
    }
    if (!Admitted()) return;
    if (epoch_ == 0) epoch_ = frame_.epoch();
    on_frame_(std::move(frame_));
    frame_.Clear();
    StartRead(&frame_);
  }

  void OnCancel() override { cancelled_ = true; }

  void OnDone() override {
    if (on_stream_end_ && !refused_) {
      on_stream_end_(peer_, epoch_,
                     cancelled_ ? Status::Unavailable("frame stream from " + peer_ + " broke") : Status::Ok());
    }
    delete this;
  }

 private:
  // False (and the stream finished with the refusal) when the sender may not send here (now:
  // a re-plan can change who the previous stage is).
  bool Admitted() {
    if (!admit_) return true;
    const Status admitted = admit_(identity_);
    if (admitted.ok()) return true;
    log::Warn("refused a frame stream: " + admitted.message(), {{"peer", peer_}});
    refused_ = true;
    Finish(ToGrpcStatus(admitted));
    return false;
  }

  const std::string peer_;
  const std::string identity_;
  const FrameHandler& on_frame_;
  const StreamEndHandler& on_stream_end_;
  const StreamAdmission& admit_;
  bool refused_ = false;  // its stream end says nothing about the plan's previous stage
  Frame frame_;
  uint64_t epoch_ = 0;  // of the stream's first frame; reads run one at a time
  std::atomic<bool> cancelled_{false};  // OnCancel may run on another thread
};

}  // namespace

GrpcStageService::GrpcStageService(FrameHandler on_frame, StreamEndHandler on_stream_end, StreamAdmission admit)
    : on_frame_(std::move(on_frame)), on_stream_end_(std::move(on_stream_end)), admit_(std::move(admit)) {}

grpc::ServerReadReactor<Frame>* GrpcStageService::Stream(grpc::CallbackServerContext* context,
                                                         pipeshard::v1::StreamAck* /*ack*/) {
  return new FrameReader(context, on_frame_, on_stream_end_, admit_);
}

void AllowLargeFrames(grpc::ServerBuilder& builder) { builder.SetMaxReceiveMessageSize(kMaxStageMessageBytes); }

}  // namespace ps
