// The coordinator's Prometheus metrics: every family is present in the text format, the
// per-request counters and histograms grow with the requests a wrapped sink sees (finished,
// failed or dropped without an end: cancelled), and the live gauges come from the callback.
#include "coordinator/metrics/request_metrics.h"

#include <gtest/gtest.h>

namespace ps::coord {
namespace {

class NullSink : public RequestSink {
 public:
  void OnText(std::string piece) override { text += piece; }
  void OnFinished(pipeshard::v1::GenerateSummary) override { finished = true; }
  void OnFailed(Status) override { failed = true; }
  std::string text;
  bool finished = false;
  bool failed = false;
};

bool Has(const std::string& text, const std::string& line) { return text.find(line) != std::string::npos; }

TEST(RequestMetrics, FamiliesGrowWithTheWork) {
  LiveGauges live;
  live.requests_running = 2;
  live.generation_tokens = 17;
  live.stages.push_back({0, "w0", true, 3, 120.5, 0.25, 4096});
  RequestMetrics metrics([&live] { return live; });
  const std::string before = metrics.Text();
  for (const char* family :
       {"pipeshard:time_to_first_token_seconds", "pipeshard:time_per_output_token_seconds",
        "pipeshard:e2e_request_latency_seconds", "pipeshard:prompt_tokens_total", "pipeshard:num_requests_running",
        "pipeshard:num_requests_waiting", "pipeshard:generation_tokens_total", "pipeshard:recoveries_total",
        "pipeshard:stage_healthy", "pipeshard:stage_busy_fraction", "pipeshard:stage_microbatches_in_flight",
        "pipeshard:stage_sent_bytes_total"}) {
    EXPECT_TRUE(Has(before, std::string("# TYPE ") + family)) << family << "\n" << before;
  }
  EXPECT_TRUE(Has(before, "pipeshard:num_requests_running 2")) << before;
  EXPECT_TRUE(Has(before, "pipeshard:stage_busy_fraction{stage=\"0\",worker=\"w0\"} 0.25")) << before;
  EXPECT_TRUE(Has(before, "pipeshard:stage_sent_bytes_total{stage=\"0\",worker=\"w0\"} 4096")) << before;

  auto inner = std::make_shared<NullSink>();
  {
    std::shared_ptr<RequestSink> finished = metrics.Wrap(inner, 5);
    finished->OnText("a");
    finished->OnText("b");
    pipeshard::v1::GenerateSummary summary;
    summary.add_tokens(1);
    summary.add_tokens(2);
    summary.set_stop_reason("length");
    finished->OnFinished(summary);
  }
  EXPECT_EQ(inner->text, "ab");
  EXPECT_TRUE(inner->finished);
  { metrics.Wrap(std::make_shared<NullSink>(), 3)->OnFailed(Status::Unavailable("down")); }
  { metrics.Wrap(std::make_shared<NullSink>(), 4)->OnText("x"); }  // dropped: cancelled
  const std::string after = metrics.Text();
  EXPECT_TRUE(Has(after, "pipeshard:prompt_tokens_total 12")) << after;
  EXPECT_TRUE(Has(after, "pipeshard:request_success_total{finished_reason=\"length\"} 1")) << after;
  EXPECT_TRUE(Has(after, "pipeshard:request_success_total{finished_reason=\"error\"} 1")) << after;
  EXPECT_TRUE(Has(after, "pipeshard:request_success_total{finished_reason=\"cancelled\"} 1")) << after;
  EXPECT_TRUE(Has(after, "pipeshard:e2e_request_latency_seconds_count 3")) << after;
  EXPECT_TRUE(Has(after, "pipeshard:time_to_first_token_seconds_count 2")) << after;
  EXPECT_TRUE(Has(after, "pipeshard:time_per_output_token_seconds_count 1")) << after;
}

}  // namespace
}  // namespace ps::coord
