#include "coordinator/metrics/request_metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include "common/util/elapsed.h"

namespace ps::coord {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(const std::string& name, const std::string& help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void Add(MetricFamily& family, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (family.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  family.metric.push_back(std::move(m));
}

}  // namespace

// The cluster's state, read when scraped.
class RequestMetrics::Live : public prometheus::Collectable {
 public:
  explicit Live(std::function<LiveGauges()> read) : read_(std::move(read)) {}
  std::vector<MetricFamily> Collect() const override {
    const LiveGauges g = read_();
    std::vector<MetricFamily> out;
    out.push_back(Family("pipeshard:num_requests_running", "Requests holding a sequence slot.", MetricType::Gauge));
    Add(out.back(), g.requests_running);
    out.push_back(Family("pipeshard:num_requests_waiting", "Requests queued for a slot.", MetricType::Gauge));
    Add(out.back(), g.requests_waiting);
    out.push_back(Family("pipeshard:generation_tokens_total", "Tokens generated.", MetricType::Counter));
    Add(out.back(), static_cast<double>(g.generation_tokens));
    out.push_back(Family("pipeshard:recoveries_total", "Times the cluster re-planned after losing a stage.",
                         MetricType::Counter));
    Add(out.back(), g.recoveries);
    out.push_back(Family("pipeshard:requests_replayed_total", "Requests replayed on a new plan after a recovery.",
                         MetricType::Counter));
    Add(out.back(), g.requests_replayed);
    MetricFamily healthy = Family("pipeshard:stage_healthy", "1 while the stage's worker heartbeats.", MetricType::Gauge);
    MetricFamily in_flight =
        Family("pipeshard:stage_microbatches_in_flight", "Micro-batches the stage holds.", MetricType::Gauge);
    MetricFamily speed = Family("pipeshard:stage_tokens_per_second", "Tokens the stage processed per second.",
                                MetricType::Gauge);
    MetricFamily busy = Family("pipeshard:stage_busy_fraction",
                               "Share of the last 10 seconds the stage spent computing.", MetricType::Gauge);
    MetricFamily sent = Family("pipeshard:stage_sent_bytes_total",
                               "Bytes the stage's worker sent to its next hop (frames and GPU-hop activations).",
                               MetricType::Counter);
    for (const StageGauges& s : g.stages) {
      const std::vector<ClientMetric::Label> labels = {{"stage", std::to_string(s.index)}, {"worker", s.worker}};
      Add(healthy, s.healthy ? 1 : 0, labels);
      Add(in_flight, s.microbatches_in_flight, labels);
      Add(speed, s.tokens_per_second, labels);
      Add(busy, s.busy_fraction, labels);
      Add(sent, static_cast<double>(s.bytes_sent), labels);
    }
    for (MetricFamily* f : {&healthy, &in_flight, &speed, &busy, &sent}) out.push_back(std::move(*f));
    return out;
  }

 private:
  std::function<LiveGauges()> read_;
};

// Passes events on and times them: the first text piece ends the time to first token.
class RequestMetrics::Sink : public RequestSink {
 public:
  Sink(RequestMetrics* metrics, std::shared_ptr<RequestSink> inner)
      : metrics_(metrics), inner_(std::move(inner)), start_(std::chrono::steady_clock::now()) {}
  ~Sink() override {
    // Cancelled (the client left, a stop string matched): the request ends without an event.
    if (!ended_) metrics_->Finished(first_ ? -1 : first_seconds_, SecondsSince(start_), 0, "cancelled");
  }
  void OnLogprob(TokenLogprob entry) override { inner_->OnLogprob(std::move(entry)); }
  void OnText(std::string piece) override {
    if (first_) {
      first_ = false;
      first_seconds_ = SecondsSince(start_);
    }
    inner_->OnText(std::move(piece));
  }
  void OnFinished(pipeshard::v1::GenerateSummary summary) override {
    ended_ = true;
    const double e2e = SecondsSince(start_);
    metrics_->Finished(first_ ? e2e : first_seconds_, e2e, summary.tokens_size(),
                       summary.stop_reason() == "eos" ? "stop" : "length");
    inner_->OnFinished(std::move(summary));
  }
  void OnFailed(Status status) override {
    ended_ = true;
    metrics_->Finished(-1, SecondsSince(start_), 0, "error");
    inner_->OnFailed(std::move(status));
  }

 private:
  RequestMetrics* metrics_;
  std::shared_ptr<RequestSink> inner_;
  const std::chrono::steady_clock::time_point start_;
  bool first_ = true;
  bool ended_ = false;
  double first_seconds_ = 0;
};

RequestMetrics::RequestMetrics(std::function<LiveGauges()> live)
    : registry_(std::make_shared<prometheus::Registry>()), live_(std::make_shared<Live>(std::move(live))) {
  // vLLM's buckets, so dashboards made for it read these.
  ttft_ = &prometheus::BuildHistogram()
               .Name("pipeshard:time_to_first_token_seconds")
               .Help("Time from a request's arrival to its first generated text.")
               .Register(*registry_)
               .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25,
                                                                0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0});
  tpot_ = &prometheus::BuildHistogram()
               .Name("pipeshard:time_per_output_token_seconds")
               .Help("Mean time per generated token after the first, per request.")
               .Register(*registry_)
               .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                                                                0.75, 1.0, 2.5});
  e2e_ = &prometheus::BuildHistogram()
              .Name("pipeshard:e2e_request_latency_seconds")
              .Help("Time from a request's arrival to its end.")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0,
                                                               20.0, 30.0, 40.0, 50.0, 60.0});
  prompt_tokens_ = &prometheus::BuildCounter()
                        .Name("pipeshard:prompt_tokens_total")
                        .Help("Prompt tokens of accepted requests.")
                        .Register(*registry_)
                        .Add({});
  outcomes_ = &prometheus::BuildCounter()
                   .Name("pipeshard:request_success_total")
                   .Help("Requests that ended, by finish reason (stop, length, cancelled, error).")
                   .Register(*registry_);
}

RequestMetrics::~RequestMetrics() = default;

std::shared_ptr<RequestSink> RequestMetrics::Wrap(std::shared_ptr<RequestSink> inner, int32_t prompt_tokens) {
  prompt_tokens_->Increment(prompt_tokens);
  return std::make_shared<Sink>(this, std::move(inner));
}

void RequestMetrics::Finished(double ttft, double e2e, int32_t generated, const std::string& outcome) {
  if (ttft >= 0) ttft_->Observe(ttft);
  if (ttft >= 0 && generated > 1) tpot_->Observe((e2e - ttft) / (generated - 1));
  e2e_->Observe(e2e);
  outcomes_->Add({{"finished_reason", outcome}}).Increment();
}

std::string RequestMetrics::Text() const {
  std::vector<MetricFamily> families = registry_->Collect();
  std::vector<MetricFamily> live = live_->Collect();
  families.insert(families.end(), std::make_move_iterator(live.begin()), std::make_move_iterator(live.end()));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace ps::coord
