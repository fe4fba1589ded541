#include "coordinator/service/generate_reactor.h"

#include "transport/grpc_status.h"

namespace ps::coord {

GenerateReactor::GenerateReactor(const Status& status) { Finish(ToGrpcStatus(status)); }

GenerateReactor::GenerateReactor(Pipeline& pipeline, PipelineRequest request)
    : pipeline_(&pipeline), sink_(std::make_shared<Sink>(this)) {
  request.sink = sink_;
  handle_ = pipeline.Submit(std::move(request));
}

void GenerateReactor::OnWriteDone(bool ok) { sink_->WriteDone(ok); }

void GenerateReactor::OnCancel() {
  if (!sink_) return;
  pipeline_->Cancel(handle_);
  sink_->Cancelled();
}

void GenerateReactor::OnDone() {
  if (sink_) sink_->Detach();
  delete this;
}

void GenerateReactor::Sink::OnText(std::string piece) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (ending_) return;
  pipeshard::v1::GenerateResponse response;
  response.set_text(std::move(piece));
  queue_.push_back(std::move(response));
  PumpLocked();
}

void GenerateReactor::Sink::OnFinished(pipeshard::v1::GenerateSummary summary) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (ending_) return;
  pipeshard::v1::GenerateResponse response;
  *response.mutable_summary() = std::move(summary);
  queue_.push_back(std::move(response));
  EndLocked(grpc::Status::OK);
}

void GenerateReactor::Sink::OnFailed(Status status) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (ending_) return;
  EndLocked(ToGrpcStatus(status));
}

void GenerateReactor::Sink::WriteDone(bool ok) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  write_in_flight_ = false;
  if (!ok && !ending_) {  // the client went away
    queue_.clear();
    EndLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading"));
    return;
  }
  PumpLocked();
}

void GenerateReactor::Sink::Cancelled() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  queue_.clear();
  if (!ending_) {
    EndLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
    return;
  }
  PumpLocked();
}

void GenerateReactor::Sink::Detach() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  reactor_ = nullptr;
}

void GenerateReactor::Sink::EndLocked(const grpc::Status& status) {
  ending_ = true;
  final_ = status;
  PumpLocked();
}

void GenerateReactor::Sink::PumpLocked() {
  if (reactor_ == nullptr || finish_called_ || write_in_flight_) return;
  if (!queue_.empty()) {
    writing_ = std::move(queue_.front());
    queue_.pop_front();
    write_in_flight_ = true;
    reactor_->StartWrite(&writing_);
    return;
  }
  if (ending_) {
    finish_called_ = true;
    reactor_->Finish(final_);
  }
}

}  // namespace ps::coord
