// The stage executor: one thread that takes frames (and sequence frees) from a queue in arrival
// order, checks each frame, runs the backend's Forward on it and sends the result to the next hop:
// activations, or on the last stage the sampled tokens. A frame that fails its check or its
// Forward travels on as an error frame (docs/pipeline.md); error frames received are passed on
// untouched. The stage keeps serving after either.
// Thread-safety: Enqueue, FreeSequences and stats may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "worker/backend/backend.h"
#include "worker/stage/frame_check.h"
#include "worker/stage/sequence_requests.h"
#include "worker/stage/sequence_samplers.h"
#include "transport/frame_transport.h"

namespace ps {

struct StageConfig {
  int32_t stage_index = 0;
  std::string name;         // the worker's name, for error messages
  bool last_stage = false;  // samples tokens instead of sending activations
  FrameLimits limits;       // also gives n_vocab and n_embd
};

// Opens the link to the next hop; called on the executor thread at the first frame and again
// after the link broke.
using SenderFactory = std::function<Result<std::unique_ptr<FrameSender>>()>;

struct StageStats {
  uint64_t tokens_processed = 0;  // rows run through Forward successfully
  uint64_t bytes_sent = 0;        // frames (and GPU-hop activations) handed to the next hop
  int32_t in_flight = 0;          // frames queued or running
  std::string last_error;         // last frame or link error, empty if none
  std::string hop_error;          // the first failure of the link to the next hop, empty while healthy
  uint64_t last_microbatch = 0;   // the highest micro-batch id sent on (0: none yet)
  std::string transport;          // the next hop's Describe(), empty before the first frame
};

class StageExecutor {
 public:
  // A frame arriving with this many timeline spans (StageSpan) gets no more: a stranger cannot
  // make every stage grow it.
  static constexpr int kMaxSpans = 256;

  StageExecutor(std::unique_ptr<Backend> backend, StageConfig config, SenderFactory connect_next);
  // Stops the thread after the frame it is running; queued frames are dropped, queued frees run
  // their `done` callbacks. Then flushes and closes the link.
  ~StageExecutor();
  StageExecutor(const StageExecutor&) = delete;
  StageExecutor& operator=(const StageExecutor&) = delete;

  // Stops the executor as the destructor does and hands back its backend (weights loaded, caches
  // as the frames left them), for a shard that keeps its layers under a new plan.
  static std::unique_ptr<Backend> Retire(std::unique_ptr<StageExecutor> executor);

  void Enqueue(pipeshard::v1::Frame frame);
  // Frees the sequences' KV caches and samplers after every frame queued before this call;
  // `done` runs on the executor thread when that happened (or when the executor stops).
  void FreeSequences(std::vector<int32_t> seq_ids, std::function<void()> done);

  StageStats stats() const;

 private:
  struct FreeRequest {
    std::vector<int32_t> seq_ids;
    std::function<void()> done;
  };
  using Item = std::variant<pipeshard::v1::Frame, FreeRequest>;

  void Loop();
  void Process(pipeshard::v1::Frame& frame);
  Status Run(pipeshard::v1::Frame& frame);
  void MarkError(pipeshard::v1::Frame& frame, const Status& status);
  void SendNext(pipeshard::v1::Frame&& frame);
  void RecordError(const std::string& error);
  void RecordHopError(const std::string& error);

  void Shutdown();  // idempotent: stops the thread, runs dropped frees' callbacks, closes the link

  std::unique_ptr<Backend> backend_;
  const StageConfig config_;
  const SenderFactory connect_next_;

  // Executor thread only.
  SequenceSamplers samplers_;
  SequenceRequests requests_;
  std::unique_ptr<FrameSender> next_;
  Batch batch_;
  BatchOutput output_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool running_item_ = false;
  bool stopping_ = false;
  uint64_t tokens_processed_ = 0;
  uint64_t bytes_sent_ = 0;
  uint64_t last_microbatch_ = 0;
  std::string last_error_;
  std::string hop_error_;
  std::string transport_;
  std::thread thread_;
};

}  // namespace ps
