#include "coordinator/pipeline/pipeline.h"

#include <cstdio>

#include "transport/grpc_status.h"

namespace ps::coord {

namespace {

constexpr auto kHealthCheckPeriod = std::chrono::milliseconds(100);

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// What a failed micro-batch means for its requests. The stage's code travels with the frame; a
// frame the coordinator built and a stage refused as malformed is not the client's fault (its
// request was checked here), so those codes become Internal.
Status StatusOfErrorFrame(const pipeshard::v1::Frame& frame) {
  if (frame.error_code() == 0) return Status::Internal(frame.error());
  Status status = FromGrpcCode(frame.error_code(), frame.error());
  if (status.IsBadInput()) return Status::Internal(frame.error());
  return status;
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
                   WorkerRegistry& registry, PipelineTimeouts timeouts, std::function<void(StageFailure)> on_failure)
    : n_ctx_(n_ctx),
      tokenizer_(tokenizer),
      registry_(registry),
      timeouts_(timeouts),
      on_failure_(std::move(on_failure)),
      return_leg_([this](pipeshard::v1::Frame&& frame) { inbox_->Post(FrameBack{std::move(frame)}); },
                  [this](const std::string&, uint64_t epoch, const Status& status) {
                    inbox_->Post(StreamEnded{epoch, status});
                  }),
      inbox_(std::make_shared<Inbox>()),
      scheduler_(options) {
  thread_ = std::thread([this] { Loop(); });
}

Pipeline::~Pipeline() {
  {
    std::lock_guard<std::mutex> lock(inbox_->mu);
    inbox_->closed = true;
  }
  inbox_->wake.notify_one();
  thread_.join();
  if (to_first_ != nullptr) (void)to_first_->Close();
}

uint64_t Pipeline::Submit(PipelineRequest request) {
  const uint64_t handle = next_handle_++;
  inbox_->Post(Submitted{handle, std::move(request)});
  return handle;
}

void Pipeline::Cancel(uint64_t handle) { inbox_->Post(Cancelled{handle}); }

void Pipeline::Resume(PipelinePlan plan) { inbox_->Post(Resumed{std::make_shared<PipelinePlan>(std::move(plan))}); }

void Pipeline::Degrade(Status why) { inbox_->Post(Degraded{std::move(why)}); }

PipelineStats Pipeline::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

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
    if (mode_ == PipelineMode::kServing) CheckHealth();
    if (mode_ == PipelineMode::kServing) CheckDeadline();
    if (mode_ == PipelineMode::kServing) SendPlans();
    if (mode_ == PipelineMode::kServing) FreeSlots();
    std::lock_guard<std::mutex> lock(mu_);
    stats_.active_requests = scheduler_.running();
    stats_.queued_requests = scheduler_.queued();
    stats_.microbatches_in_flight = scheduler_.microbatches_in_flight();
    stats_.tokens_generated = tokens_generated_;
    stats_.mode = mode_;
    stats_.epoch = epoch_;
    stats_.replayed_requests = replayed_;
    stats_.transport = to_first_ != nullptr ? to_first_->Describe() : "";
  }
  const Status down = Status::Unavailable("the coordinator is shutting down");
  while (!live_.empty()) Fail(live_.begin()->first, down);
}

void Pipeline::Handle(Submitted& e) {
  if (mode_ == PipelineMode::kWaiting) {
    e.request.sink->OnFailed(Status::Unavailable("the cluster is not serving yet"));
    return;
  }
  if (mode_ == PipelineMode::kDegraded) {
    e.request.sink->OnFailed(degraded_);
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
  if (mode_ != PipelineMode::kServing || f.epoch() != epoch_) {
    // A frame of a plan given up (a stage that woke up, or one still draining): never used.
    ++stale_frames_;
    return;
  }
  const std::vector<int32_t> sampled(f.sampled().begin(), f.sampled().end());
  auto outcome = scheduler_.Complete(f.microbatch_id(), sampled, !f.error().empty());
  if (!outcome.ok()) {
    std::fprintf(stderr, "pipeshard-coordinator: ignoring a frame: %s\n", outcome.status().ToString().c_str());
    return;
  }
  sent_at_.erase(f.microbatch_id());
  last_return_ = std::chrono::steady_clock::now();
  const Status failure = !f.error().empty() ? StatusOfErrorFrame(f) : Status::Internal(outcome->failure);
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

void Pipeline::Handle(StreamEnded& e) {
  // A stream that carried none of this plan's frames says nothing about it (an old stage's, or a
  // stranger's that never sent one).
  if (e.status.ok() || e.epoch != epoch_ || mode_ != PipelineMode::kServing || stages_.empty()) return;
  StageFailed(static_cast<int32_t>(stages_.size()) - 1, "its frame stream to the coordinator broke: " + e.status.message());
}

void Pipeline::Handle(SlotFreedOnStage& e) {
  if (e.epoch != epoch_ || mode_ != PipelineMode::kServing) return;  // the new plan's caches are new
  if (!e.status.ok()) {
    // A stage that cannot confirm a free may still hold the sequence: the slot is unsafe to reuse
    // on this plan, and the stage is not answering its control calls.
    StageFailed(e.stage, "FreeSequence failed: " + e.status.message());
    return;
  }
  auto it = frees_pending_.find(e.seq);
  if (it == frees_pending_.end()) return;
  if (--it->second == 0) {
    frees_pending_.erase(it);
    scheduler_.SlotFreed(e.seq);
  }
}

void Pipeline::Handle(Resumed& e) {
  PipelinePlan& plan = *e.plan;
  const bool recovering = mode_ == PipelineMode::kRecovering || mode_ == PipelineMode::kDegraded;
  if (to_first_ != nullptr) (void)to_first_->Close();
  epoch_ = plan.epoch;
  stages_ = std::move(plan.stages);
  to_first_ = std::move(plan.to_first);
  clients_.clear();
  for (const PipelineStage& s : stages_) clients_.push_back(std::make_unique<WorkerClient>(s.address));
  scheduler_.SetStages(static_cast<int32_t>(stages_.size()));
  // Every stage's caches are new: slots waiting for frees are free, live requests start over.
  for (const auto& [seq, pending] : frees_pending_) scheduler_.SlotFreed(seq);
  frees_pending_.clear();
  sent_at_.clear();
  const std::vector<RequestId> replayed = scheduler_.Rewind([this](RequestId id) {
    auto it = live_.find(id);
    return it == live_.end() ? std::vector<int32_t>() : it->second.progress.tokens();
  });
  if (recovering) replayed_ += static_cast<int32_t>(replayed.size());
  last_return_ = std::chrono::steady_clock::now();
  mode_ = PipelineMode::kServing;
}

void Pipeline::Handle(Degraded& e) {
  mode_ = PipelineMode::kDegraded;
  degraded_ = e.why;
  sent_at_.clear();
  (void)scheduler_.AbandonInFlight();
  while (!live_.empty()) Fail(live_.begin()->first, degraded_);
}

void Pipeline::CheckHealth() {
  for (size_t i = 0; i < stages_.size(); ++i) {
    const PipelineStage& s = stages_[i];
    const Status health = registry_.Health(s.worker_id);
    if (!health.ok()) {
      StageFailed(static_cast<int32_t>(i), "is unavailable: " + health.message());
      return;
    }
    WorkerRecord record;
    if (registry_.Find(s.worker_id, &record) && record.epoch == epoch_ && !record.hop_error.empty()) {
      // The sender saw the hop break; the receiving end is the one that went away.
      const size_t receiver = i + 1 < stages_.size() ? i + 1 : i;
      StageFailed(static_cast<int32_t>(receiver), "the hop from stage " + std::to_string(i) + " broke: " + record.hop_error);
      return;
    }
    if (i > 0 && record.epoch == epoch_ && !record.prev_hop_error.empty()) {
      // The receiver saw its incoming stream break: the sender went away.
      StageFailed(static_cast<int32_t>(i - 1),
                  "its stream to stage " + std::to_string(i) + " broke: " + record.prev_hop_error);
      return;
    }
  }
  if (to_first_ != nullptr) {
    const Status link = to_first_->health();
    if (!link.ok()) StageFailed(0, "is unreachable: " + link.message());
  }
}

void Pipeline::CheckDeadline() {
  if (sent_at_.empty() || stages_.empty()) return;
  const auto& [id, sent] = *sent_at_.begin();  // frames keep their order: the oldest is due first
  const auto since = std::max(sent, last_return_);
  const double waited = SecondsSince(since);
  if (waited <= timeouts_.stage_seconds) return;
  // Every stage sends micro-batches on in id order: the first one that has not sent this one on
  // holds it (or dropped it).
  size_t culprit = stages_.size() - 1;
  for (size_t i = 0; i < stages_.size(); ++i) {
    WorkerRecord record;
    if (!registry_.Find(stages_[i].worker_id, &record) || record.epoch != epoch_ || record.last_microbatch < id) {
      culprit = i;
      break;
    }
  }
  char why[160];
  std::snprintf(why, sizeof why, "micro-batch %llu has not come back for %.1f s (--stage-timeout %.1f s)",
                static_cast<unsigned long long>(id), waited, timeouts_.stage_seconds);
  StageFailed(static_cast<int32_t>(culprit), why);
}

void Pipeline::StageFailed(int32_t index, const std::string& why) {
  if (mode_ != PipelineMode::kServing || index < 0 || static_cast<size_t>(index) >= stages_.size()) return;
  mode_ = PipelineMode::kRecovering;
  const PipelineStage& stage = stages_[static_cast<size_t>(index)];
  registry_.MarkFailed(stage.worker_id, why);
  sent_at_.clear();
  StageFailure failure;
  failure.epoch = epoch_;
  failure.stage = index;
  failure.worker_id = stage.worker_id;
  failure.reason = Status::Unavailable(stage.Describe() + " " + why);
  failure.retired = std::move(to_first_);
  on_failure_(std::move(failure));
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
    frame.set_epoch(epoch_);
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
      start->set_samples_drawn(it->second.progress.generated());
    }
    sent_at_[plan.id] = std::chrono::steady_clock::now();
    const Status sent = to_first_->Send(std::move(frame));
    if (!sent.ok()) {
      StageFailed(0, "is unreachable: " + sent.message());
      return;
    }
  }
}

void Pipeline::FreeSlots() {
  for (int32_t seq : scheduler_.TakeSlotsToFree()) {
    frees_pending_[seq] = static_cast<int>(clients_.size());
    for (size_t i = 0; i < clients_.size(); ++i) {
      clients_[i]->FreeSequenceAsync({seq}, epoch_, timeouts_.free_seconds,
                                     [inbox = inbox_, seq, epoch = epoch_, stage = static_cast<int32_t>(i)](Status status) {
                                       inbox->Post(SlotFreedOnStage{seq, epoch, stage, std::move(status)});
                                     });
    }
  }
}

}  // namespace ps::coord
