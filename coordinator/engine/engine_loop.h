// The engine loop: a request's whole life from prompt to summary, one implementation for the
// cluster (the Pipeline drives it with frames over the ring) and for `pipeshard run` (one
// in-process stage), so local and cluster generation cannot drift. It owns the scheduler (cuts,
// decode groups, slots, replay) and every request's RequestProgress (stop rules, text pieces,
// summary): plans go out as frames (TakeFrames), frames coming back become text, summaries and
// the next rows (OnFrame).
// Thread-safety: none; one owner thread (the sinks are called on it and must not block).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/tokenizer/tokenizer.h"
#include "coordinator/engine/request_progress.h"
#include "coordinator/scheduler/scheduler.h"
#include "proto/inference.pb.h"
#include "proto/stage.pb.h"

namespace ps::coord {

// A generated token's log-probability and the most likely tokens' (SamplingParams.logprobs),
// with each token's text as the tokenizer renders it alone (bytes; may be part of a character).
struct TokenLogprob {
  struct Alternative {
    int32_t token = 0;
    std::string piece;
    float logprob = 0.0f;
  };
  int32_t token = 0;
  std::string piece;
  float logprob = 0.0f;
  std::vector<Alternative> top;
};

// Where a request's results go. Called on the loop's thread; must not block.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  // Before the OnText that carries the token's text (which may come later: text is held back
  // until it is whole UTF-8). Only when the request asked for log-probabilities.
  virtual void OnLogprob(TokenLogprob) {}
  virtual void OnText(std::string piece) = 0;
  virtual void OnFinished(pipeshard::v1::GenerateSummary summary) = 0;
  virtual void OnFailed(Status status) = 0;
};

struct PipelineRequest {
  std::string request_id;  // for logs and the summary; may be empty (`pipeshard run`)
  std::vector<int32_t> prompt;
  int32_t n_predict = -1;
  pipeshard::v1::SamplingParams sampling;  // the seed already resolved (never 0xFFFFFFFF)
  bool ignore_eos = false;
  std::shared_ptr<RequestSink> sink;
};

class EngineLoop {
 public:
  EngineLoop(const SchedulerOptions& options, int32_t n_ctx, const Tokenizer& tokenizer);

  // Queues the request under `handle` (for Cancel); a refusal (queue full, empty prompt) goes to
  // its sink at once.
  void Submit(uint64_t handle, PipelineRequest request);
  void Cancel(uint64_t handle);

  // The micro-batches to send now, as frames of `epoch` (a sequence's first chunk carries its
  // sampler settings and, on a replay, the samples it already drew).
  std::vector<pipeshard::v1::Frame> TakeFrames(uint64_t epoch);
  // A frame came back from the last stage (its epoch already checked): streams text, ends
  // finished requests, fails an error frame's requests with `error` (when set) and schedules
  // the next rows. False when the micro-batch was not in flight (given up, or unknown).
  bool OnFrame(const pipeshard::v1::Frame& frame, const Status& error);

  // Slots of ended requests to free on every stage, then SlotFreed for each.
  std::vector<int32_t> TakeSlotsToFree() { return scheduler_.TakeSlotsToFree(); }
  void SlotFreed(int32_t seq) { scheduler_.SlotFreed(seq); }

  // A new plan with `stages` stages and fresh caches: every live request is replayed (see
  // Scheduler::Rewind). Returns how many. A request replayed kMaxReplays times already fails
  // instead (UNAVAILABLE): whatever keeps failing the plans under it is not going away.
  static constexpr int kMaxReplays = 3;
  int32_t Rewind(int32_t stages);
  // Fails every request, queued or running, with `status`.
  void FailAll(const Status& status);

  int32_t running() const { return scheduler_.running(); }
  int32_t queued() const { return scheduler_.queued(); }
  int32_t microbatches_in_flight() const { return scheduler_.microbatches_in_flight(); }
  uint64_t tokens_generated() const { return tokens_generated_; }

 private:
  struct Live {
    uint64_t handle;
    PipelineRequest request;
    RequestProgress progress;
    int replays = 0;
  };
  void EndRequest(RequestId id);
  void Fail(RequestId id, const Status& status);
  void ReportLogprob(Live& live, int32_t token, const pipeshard::v1::SampledLogprobs& wire);

  const int32_t n_ctx_;
  const Tokenizer& tokenizer_;
  Scheduler scheduler_;
  std::map<RequestId, Live> live_;
  std::map<uint64_t, RequestId> by_handle_;
  uint64_t tokens_generated_ = 0;
};

}  // namespace ps::coord
