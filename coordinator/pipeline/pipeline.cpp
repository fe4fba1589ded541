#include "coordinator/pipeline/pipeline.h"

#include <cstdio>

namespace ps::coord {

namespace {

constexpr double kFreeTimeoutSeconds = 10.0;
constexpr auto kHealthCheckPeriod = std::chrono::milliseconds(100);

// An error frame's message is "stage i (name): Code: text"; a check failure (bad input) is the
// client's problem, anything the stage hit while computing is ours.
Status StatusOfErrorFrame(const std::string& error) {
  if (error.find(": Internal: ") != std::string::npos || error.find(": IOError: ") != std::string::npos) {
    return Status::Internal(error);
  }
  return Status::InvalidArgument(error);
}

}  // namespace

std::string PipelineStage::Describe() const {
  return "stage " + std::to_string(index) + " (" + name + ", " + address + ")";
}

void Pipeline::Inbox::Post(Event event) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (closed) return;
    events.push_back(std::move(event));
  }
  wake.notify_one();
}

Pipeline::Pipeline(const SchedulerOptions& options, int32_t n_ctx, const Tokenizer& tokenizer,
                   WorkerRegistry& registry, std::vector<PipelineStage> stages,
                   std::unique_ptr<FrameSender> to_first_stage)
    : n_ctx_(n_ctx),
      tokenizer_(tokenizer),
      registry_(registry),
      stages_(std::move(stages)),
      to_first_(std::move(to_first_stage)),
      inbox_(std::make_shared<Inbox>()),
      scheduler_(options) {
  for (const PipelineStage& s : stages_) clients_.push_back(std::make_unique<WorkerClient>(s.address));
  thread_ = std::thread([this] { Loop(); });
}

Pipeline::~Pipeline() {
  {
    std::lock_guard<std::mutex> lock(inbox_->mu);
    inbox_->closed = true;
  }
  inbox_->wake.notify_one();
  thread_.join();
  (void)to_first_->Close();
}

uint64_t Pipeline::Submit(PipelineRequest request) {
  const uint64_t handle = next_handle_++;
  inbox_->Post(Submitted{handle, std::move(request)});
  return handle;
}

void Pipeline::Cancel(uint64_t handle) { inbox_->Post(Cancelled{handle}); }

void Pipeline::OnFrame(pipeshard::v1::Frame&& frame) { inbox_->Post(FrameBack{std::move(frame)}); }

void Pipeline::OnStreamEnd(const Status& status) {
  if (status.ok() || stages_.empty()) return;
  const PipelineStage& last = stages_.back();
  const std::string error = last.Describe() + ": its stream to the coordinator broke: " + status.message();
  registry_.MarkLinkError(last.worker_id, error);
  inbox_->Post(LinkBroken{Status::Unavailable(error)});
}

Status Pipeline::Health() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!link_error_.ok()) return link_error_;
  }
  if (!stages_.empty()) {
    const Status link = to_first_->health();
    if (!link.ok()) return Status::Unavailable(stages_[0].Describe() + " is unreachable: " + link.message());
  }
  for (const PipelineStage& s : stages_) {
    const Status h = registry_.Health(s.worker_id);
    if (!h.ok()) return Status::Unavailable(s.Describe() + " is unavailable: " + h.message());
  }
  return Status::Ok();
}

PipelineStats Pipeline::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::string Pipeline::transport() const { return to_first_->Describe(); }

void Pipeline::Loop() {
  for (;;) {
    std::deque<Event> batch;
    {
      std::unique_lock<std::mutex> lock(inbox_->mu);
      inbox_->wake.wait_for(lock, kHealthCheckPeriod, [&] { return inbox_->closed || !inbox_->events.empty(); });
      if (inbox_->closed) break;
      batch.swap(inbox_->events);
    }
    for (Event& e : batch) std::visit([this](auto& ev) { Handle(ev); }, e);
    CheckHealth();
    if (was_healthy_) SendPlans();
    FreeSlots();
    std::lock_guard<std::mutex> lock(mu_);
    stats_.active_requests = scheduler_.running();
    stats_.queued_requests = scheduler_.queued();
    stats_.microbatches_in_flight = scheduler_.microbatches_in_flight();
    stats_.tokens_generated = tokens_generated_;
  }
  const Status down = Status::Unavailable("the coordinator is shutting down");
  while (!live_.empty()) Fail(live_.begin()->first, down);
}

void Pipeline::Handle(Submitted& e) {
  const Status health = Health();
  if (!health.ok()) {
    e.request.sink->OnFailed(health);
    return;
  }
  const int32_t prompt_tokens = static_cast<int32_t>(e.request.prompt.size());
  auto id = scheduler_.Add(e.request.prompt);
  if (!id.ok()) {
    e.request.sink->OnFailed(id.status());
    return;
  }
  const bool ignore_eos = e.request.ignore_eos;
  const int32_t n_predict = e.request.n_predict;
  const uint32_t seed = e.request.sampling.seed();
  live_.emplace(*id, Live{e.handle, std::move(e.request),
                          RequestProgress(tokenizer_, prompt_tokens, n_predict, ignore_eos, n_ctx_, seed)});
  by_handle_[e.handle] = *id;
}

void Pipeline::Handle(Cancelled& e) {
  auto it = by_handle_.find(e.handle);
  if (it != by_handle_.end()) EndRequest(it->second);
}

void Pipeline::Handle(FrameBack& e) {
  const pipeshard::v1::Frame& f = e.frame;
  const std::vector<int32_t> sampled(f.sampled().begin(), f.sampled().end());
  auto outcome = scheduler_.Complete(f.microbatch_id(), sampled, !f.error().empty());
  if (!outcome.ok()) {
    // A frame of a micro-batch given up for lost (its hop broke) may still come back.
    std::fprintf(stderr, "pipeshard-coordinator: ignoring a frame: %s\n", outcome.status().ToString().c_str());
    return;
  }
  const Status failure = !f.error().empty() ? StatusOfErrorFrame(f.error()) : Status::Internal(outcome->failure);
  for (RequestId id : outcome->failed) Fail(id, failure);
  for (const SampledToken& s : outcome->sampled) {
    auto it = live_.find(s.request);
    if (it == live_.end()) continue;
    Live& live = it->second;
    const int32_t before = live.progress.generated();
    RequestProgress::Step step = live.progress.OnSampled(s.token);
    tokens_generated_ += static_cast<uint64_t>(live.progress.generated() - before);
    if (!step.text.empty()) live.request.sink->OnText(std::move(step.text));
    if (step.finished) {
      live.request.sink->OnFinished(live.progress.Summary());
      EndRequest(s.request);
    } else if (step.go_on) {
      const Status st = scheduler_.Continue(s.request, s.token);
      if (!st.ok()) Fail(s.request, Status::Internal(st.message()));
    }
  }
}

void Pipeline::Handle(SlotFreedOnStage& e) {
  if (!e.status.ok()) {
    std::fprintf(stderr, "pipeshard-coordinator: freeing sequence %d: %s\n", e.seq, e.status.ToString().c_str());
  }
  auto it = frees_pending_.find(e.seq);
  if (it == frees_pending_.end()) return;
  if (--it->second == 0) {
    frees_pending_.erase(it);
    scheduler_.SlotFreed(e.seq);
  }
}

void Pipeline::Handle(LinkBroken& e) {
  std::lock_guard<std::mutex> lock(mu_);
  if (link_error_.ok()) link_error_ = e.status;
}

void Pipeline::CheckHealth() {
  const Status health = Health();
  if (!health.ok() && was_healthy_) FailEverything(health);
  was_healthy_ = health.ok();
}

void Pipeline::FailEverything(const Status& status) {
  (void)scheduler_.AbandonInFlight();
  while (!live_.empty()) Fail(live_.begin()->first, status);
}

void Pipeline::EndRequest(RequestId id) {
  scheduler_.End(id);
  auto it = live_.find(id);
  if (it == live_.end()) return;
  by_handle_.erase(it->second.handle);
  live_.erase(it);
}

void Pipeline::Fail(RequestId id, const Status& status) {
  auto it = live_.find(id);
  if (it != live_.end()) it->second.request.sink->OnFailed(status);
  EndRequest(id);
}

void Pipeline::SendPlans() {
  for (MicroBatchPlan& plan : scheduler_.Schedule()) {
    pipeshard::v1::Frame frame;
    frame.set_microbatch_id(plan.id);
    frame.set_rows(static_cast<int32_t>(plan.rows.size()));
    std::string need_logits(plan.rows.size(), '\0');
    for (size_t i = 0; i < plan.rows.size(); ++i) {
      const PlannedRow& r = plan.rows[i];
      frame.add_seq_ids(r.seq);
      frame.add_positions(r.pos);
      frame.add_tokens(r.token);
      need_logits[i] = r.need_logits ? 1 : 0;
    }
    frame.set_need_logits(std::move(need_logits));
    for (const PlannedStart& s : plan.starts) {
      auto it = live_.find(s.request);
      if (it == live_.end()) continue;
      pipeshard::v1::SequenceStart* start = frame.add_starts();
      start->set_seq_id(s.seq);
      *start->mutable_sampling() = it->second.request.sampling;
      start->set_ignore_eos(it->second.request.ignore_eos);
    }
    const Status sent = to_first_->Send(std::move(frame));
    if (!sent.ok()) {
      const std::string error = stages_[0].Describe() + " is unreachable: " + sent.message();
      registry_.MarkLinkError(stages_[0].worker_id, error);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (link_error_.ok()) link_error_ = Status::Unavailable(error);
      }
      CheckHealth();
      return;
    }
  }
}

void Pipeline::FreeSlots() {
  for (int32_t seq : scheduler_.TakeSlotsToFree()) {
    frees_pending_[seq] = static_cast<int>(clients_.size());
    for (auto& client : clients_) {
      client->FreeSequenceAsync({seq}, kFreeTimeoutSeconds, [inbox = inbox_, seq](Status status) {
        inbox->Post(SlotFreedOnStage{seq, std::move(status)});
      });
    }
  }
}

}  // namespace ps::coord
