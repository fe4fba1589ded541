#include "cli/local_generation.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "coordinator/engine/engine_loop.h"
#include "transport/frame_transport.h"
#include "transport/grpc_status.h"
#include "worker/stage/frame_check.h"
#include "worker/stage/sequence_samplers.h"
#include "worker/stage/stage_executor.h"

namespace ps::cli {

namespace {

using pipeshard::v1::Frame;

// The frames the stage sends on, back to the loop.
struct Returned {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Frame> frames;

  Frame Pop() {
    std::unique_lock lock(mu);
    cv.wait(lock, [this] { return !frames.empty(); });
    Frame f = std::move(frames.front());
    frames.pop_front();
    return f;
  }
};

// The in-process stage's "next hop": the loop itself.
class LoopbackSender : public FrameSender {
 public:
  explicit LoopbackSender(std::shared_ptr<Returned> returned) : returned_(std::move(returned)) {}
  Status Send(Frame frame) override {
    {
      std::lock_guard lock(returned_->mu);
      returned_->frames.push_back(std::move(frame));
    }
    returned_->cv.notify_one();
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  Status health() const override { return Status::Ok(); }
  std::string Describe() const override { return "in-process"; }

 private:
  std::shared_ptr<Returned> returned_;
};

// Collects the request's outcome; called on this thread (inside EngineLoop::OnFrame).
class LocalSink : public coord::RequestSink {
 public:
  explicit LocalSink(const std::function<void(const std::string&)>& on_text) : on_text_(on_text) {}
  void OnText(std::string piece) override { on_text_(piece); }
  void OnFinished(pipeshard::v1::GenerateSummary summary) override { summary_ = std::move(summary); }
  void OnFailed(Status status) override { failure_ = std::move(status); }
  bool done() const { return summary_.has_value() || !failure_.ok(); }
  const std::optional<pipeshard::v1::GenerateSummary>& summary() const { return summary_; }
  const Status& failure() const { return failure_; }

 private:
  const std::function<void(const std::string&)>& on_text_;
  std::optional<pipeshard::v1::GenerateSummary> summary_;
  Status failure_;
};

}  // namespace

Result<GenerationResult> GenerateLocally(std::unique_ptr<Backend> backend, const LlamaConfig& config,
                                         const Tokenizer& tokenizer, const GenerationRequest& request,
                                         const std::function<void(const std::string&)>& on_text) {
  const auto& prompt = request.prompt;
  if (prompt.empty()) return Status::InvalidArgument("the prompt is empty (no text and no BOS token)");
  if (static_cast<int64_t>(prompt.size()) > request.n_ctx) {
    return Status::OutOfRange("the prompt has " + std::to_string(prompt.size()) +
                              " tokens but the context holds " + std::to_string(request.n_ctx) +
                              " (raise --ctx or shorten the prompt)");
  }
  if (request.ubatch <= 0) return Status::InvalidArgument("ubatch must be positive");

  // One stage holding everything: it embeds the tokens and samples like the cluster's last stage.
  StageConfig stage;
  stage.stage_index = 0;
  stage.name = "run";
  stage.last_stage = true;
  stage.limits.first_stage = true;
  stage.limits.n_vocab = config.n_vocab;
  stage.limits.n_embd = config.n_embd;
  stage.limits.n_ctx = request.n_ctx;
  stage.limits.max_seqs = 1;
  stage.limits.max_rows = MaxFrameRows(request.n_ctx, 1);
  auto returned = std::make_shared<Returned>();
  StageExecutor executor(std::move(backend), stage, [returned]() -> Result<std::unique_ptr<FrameSender>> {
    return std::unique_ptr<FrameSender>(new LoopbackSender(returned));
  });

  coord::SchedulerOptions options;
  options.max_seqs = 1;
  options.ubatch = request.ubatch;
  options.max_ubatch = request.ubatch;
  options.stages = 1;
  options.queue_limit = 1;
  coord::EngineLoop loop(options, request.n_ctx, tokenizer);
  auto sink = std::make_shared<LocalSink>(on_text);
  coord::PipelineRequest submitted;
  submitted.prompt = prompt;
  submitted.n_predict = request.n_predict;
  submitted.sampling = SamplingParamsToProto(request.sampling);
  submitted.ignore_eos = request.ignore_eos;
  submitted.sink = sink;
  loop.Submit(1, std::move(submitted));

  int32_t prefilled = 0;
  while (!sink->done()) {
    std::vector<Frame> frames = loop.TakeFrames(0);
    if (frames.empty() && loop.microbatches_in_flight() == 0) {
      return Status::Internal("the engine loop stopped with nothing in flight and no outcome");
    }
    for (Frame& f : frames) executor.Enqueue(std::move(f));
    const Frame back = returned->Pop();
    if (const int32_t prompt_rows = back.seq_ids_size() - back.decode_rows(); prompt_rows > 0 && request.on_prefill) {
      prefilled += prompt_rows;
      request.on_prefill(prefilled, static_cast<int32_t>(prompt.size()));
    }
    const Status error = back.error().empty() ? Status::Ok() : FromGrpcCode(back.error_code(), back.error());
    (void)loop.OnFrame(back, error);
  }
  if (!sink->failure().ok()) return sink->failure();
  const pipeshard::v1::GenerateSummary& s = *sink->summary();
  GenerationResult result;
  result.tokens.assign(s.tokens().begin(), s.tokens().end());
  result.prompt_tokens = s.prompt_tokens();
  result.prefill_seconds = s.prefill_seconds();
  result.decode_steps = s.decode_steps();
  result.decode_seconds = s.decode_seconds();
  result.stop_reason = s.stop_reason();
  return result;
}

}  // namespace ps::cli
