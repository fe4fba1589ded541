// The coordinator's log of recent micro-batch timelines: when each was sent, what every stage did
// with it (the frame's StageSpans) and when the coordinator had handled its return. Bounded: the
// oldest are dropped past `capacity`. `pipeshard bench --server --trace` reads it through the
// Inference service's GetTrace and writes a Chrome trace (docs/benchmarks.md).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/util/elapsed.h"  // NowMicros: the unit of every span
#include "proto/inference.pb.h"
#include "proto/stage.pb.h"

namespace ps::coord {

class TraceLog {
 public:
  static constexpr size_t kDefaultCapacity = 8192;
  explicit TraceLog(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  void SetStageNames(std::vector<std::string> names);
  // `frame` is about to go to stage 0.
  void Sent(const pipeshard::v1::Frame& frame, int64_t now_us);
  // Its frame came back (spans and error are copied); unknown ids are ignored.
  void Returned(const pipeshard::v1::Frame& frame, int64_t now_us);
  // The coordinator finished its turn: every micro-batch returned since the last call is logged.
  void Handled(int64_t now_us);
  // A new plan: micro-batches still out will never come back.
  void DropPending();

  pipeshard::v1::TraceResponse Since(int64_t since_us) const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<std::string> stage_names_;
  std::map<uint64_t, pipeshard::v1::MicroBatchTrace> pending_;  // sent, not back
  std::vector<pipeshard::v1::MicroBatchTrace> returned_;        // back, turn not over
  std::deque<pipeshard::v1::MicroBatchTrace> done_;
  uint64_t dropped_ = 0;
};

}  // namespace ps::coord
