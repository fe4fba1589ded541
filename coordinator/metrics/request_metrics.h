// The coordinator's Prometheus metrics (served as GET /metrics by the HTTP API), named as vLLM
// names its own with a `pipeshard:` prefix: per-request histograms (time to first token, time
// per output token, end-to-end latency), request outcomes and prompt tokens, observed by wrapping
// each request's sink as the pipeline accepts it; and the cluster's live state (requests running
// and waiting, tokens generated, recoveries, and per stage: health, micro-batches in flight,
// tokens per second, busy fraction) read at scrape time from a callback.
// Thread-safety: every method may be called from any thread (prometheus-cpp's metrics are atomic;
// the live callback must be thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "coordinator/engine/engine_loop.h"

namespace ps::coord {

struct StageGauges {
  int32_t index = 0;
  std::string worker;
  bool healthy = false;
  int32_t microbatches_in_flight = 0;
  double tokens_per_second = 0;
  double busy_fraction = 0;  // of the last few seconds, from the micro-batch timelines
  uint64_t bytes_sent = 0;   // to the next hop, over the worker's life
};

struct LiveGauges {
  int32_t requests_running = 0;
  int32_t requests_waiting = 0;
  uint64_t generation_tokens = 0;  // over the coordinator's life
  int32_t recoveries = 0;
  int32_t requests_replayed = 0;
  std::vector<StageGauges> stages;
};

class RequestMetrics {
 public:
  explicit RequestMetrics(std::function<LiveGauges()> live);
  ~RequestMetrics();

  // A sink that records the request's timings and outcome, then passes every event on.
  std::shared_ptr<RequestSink> Wrap(std::shared_ptr<RequestSink> inner, int32_t prompt_tokens);

  // Every family in the Prometheus text format (version 0.0.4).
  std::string Text() const;

 private:
  class Sink;
  class Live;
  void Finished(double ttft, double e2e, int32_t generated, const std::string& outcome);

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<Live> live_;
  prometheus::Histogram* ttft_;
  prometheus::Histogram* tpot_;
  prometheus::Histogram* e2e_;
  prometheus::Counter* prompt_tokens_;
  prometheus::Family<prometheus::Counter>* outcomes_;
};

}  // namespace ps::coord
