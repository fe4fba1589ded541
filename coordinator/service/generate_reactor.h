// The server side of one Generate call: a write reactor that streams the pipeline's text pieces
// and then the summary (or the error) to the client, one write at a time. The pipeline talks to
// a shared sink, not to the reactor, because gRPC deletes the reactor when the call is done while
// the pipeline may still be finishing the request. A client cancel ends the call at once and
// cancels the request in the pipeline (which frees its sequence on every stage).
// Thread-safety: the sink may be called from any thread; reactions never block.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include <grpcpp/grpcpp.h>

#include "coordinator/pipeline/pipeline.h"
#include "proto/inference.grpc.pb.h"

namespace ps::coord {

class GenerateReactor : public grpc::ServerWriteReactor<pipeshard::v1::GenerateResponse> {
 public:
  // Ends the call at once with `status` (validation failed before anything was submitted).
  explicit GenerateReactor(const Status& status);
  // Submits `request` (its sink is filled in here) to the pipeline.
  GenerateReactor(Pipeline& pipeline, PipelineRequest request);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // What the pipeline holds: queues responses and drives the reactor's writes.
  class Sink : public RequestSink {
   public:
    explicit Sink(GenerateReactor* reactor) : reactor_(reactor) {}
    void OnText(std::string piece) override;
    void OnFinished(pipeshard::v1::GenerateSummary summary) override;
    void OnFailed(Status status) override;

    void WriteDone(bool ok);
    void Cancelled();
    void Detach();

   private:
    void EndLocked(const grpc::Status& status);
    void PumpLocked();

    // Recursive: gRPC may run a reaction inline inside StartWrite/Finish on this thread.
    std::recursive_mutex mu_;
    GenerateReactor* reactor_;  // null once gRPC is done with the call
    std::deque<pipeshard::v1::GenerateResponse> queue_;
    pipeshard::v1::GenerateResponse writing_;
    bool write_in_flight_ = false;
    bool ending_ = false;
    bool finish_called_ = false;
    grpc::Status final_;
  };

  Pipeline* pipeline_ = nullptr;
  uint64_t handle_ = 0;
  std::shared_ptr<Sink> sink_;
};

}  // namespace ps::coord
