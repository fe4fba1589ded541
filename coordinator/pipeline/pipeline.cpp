#include "coordinator/pipeline/pipeline.h"
#include "common/log/log.h"

#include <cstdio>

#include "common/util/elapsed.h"
#include "transport/grpc_status.h"
#include "transport/tls/identities.h"

namespace ps::coord {

namespace {

constexpr auto kHealthCheckPeriod = std::chrono::milliseconds(100);

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
                   WorkerRegistry& registry, PipelineTimeouts timeouts, std::function<void(StageFailure)> on_failure,
                   std::shared_ptr<const LinkSecurity> security)
    : security_(std::move(security)),
      registry_(registry),
      timeouts_(timeouts),
      on_failure_(std::move(on_failure)),
      inbox_(std::make_shared<Inbox>()),
      return_leg_([inbox = inbox_](pipeshard::v1::Frame&& frame) { inbox->Post(FrameBack{std::move(frame)}); },
                  [inbox = inbox_](const std::string&, uint64_t epoch, const Status& status) {
                    inbox->Post(StreamEnded{epoch, status});
                  },
                  [this](const std::string& peer) { return AdmitReturnLeg(peer); }),
      loop_(options, n_ctx, tokenizer) {
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
  if (RequestMetrics* metrics = metrics_.load(); metrics != nullptr && request.sink != nullptr) {
    request.sink = metrics->Wrap(std::move(request.sink), static_cast<int32_t>(request.prompt.size()));
  }
  inbox_->Post(Submitted{handle, std::move(request)});
  return handle;
}

void Pipeline::Cancel(uint64_t handle) { inbox_->Post(Cancelled{handle}); }

void Pipeline::Resume(PipelinePlan plan) {
  {
    // Before the plan is served: its last stage's first frame may come right after.
    std::lock_guard<std::mutex> lock(return_leg_mu_);
    return_leg_identity_ = plan.stages.empty() ? "" : tls::WorkerIdentity(plan.stages.back().name);
  }
  inbox_->Post(Resumed{std::move(plan)});
}

Status Pipeline::AdmitReturnLeg(const std::string& peer_identity) const {
  if (!security_->tls()) return Status::Ok();
  std::lock_guard<std::mutex> lock(return_leg_mu_);
  if (!return_leg_identity_.empty() && peer_identity == return_leg_identity_) return Status::Ok();
  return Status::PermissionDenied("frames refused: the sender is '" +
                                  (peer_identity.empty() ? std::string("(no certificate)") : peer_identity) +
                                  "', and only the last stage '" +
                                  (return_leg_identity_.empty() ? std::string("(none: no plan)") : return_leg_identity_) +
                                  "' may send to the coordinator");
}

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
    trace_.Handled(NowMicros());
    std::lock_guard<std::mutex> lock(mu_);
    stats_.active_requests = loop_.running();
    stats_.queued_requests = loop_.queued();
    stats_.microbatches_in_flight = loop_.microbatches_in_flight();
    stats_.tokens_generated = loop_.tokens_generated();
    stats_.mode = mode_;
    stats_.epoch = epoch_;
    stats_.replayed_requests = replayed_;
  }
  loop_.FailAll(Status::Unavailable("the coordinator is shutting down"));
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
  loop_.Submit(e.handle, std::move(e.request));
}

void Pipeline::Handle(Cancelled& e) { loop_.Cancel(e.handle); }

void Pipeline::Handle(FrameBack& e) {
  const int64_t back_us = NowMicros();
  const pipeshard::v1::Frame& f = e.frame;
  if (mode_ != PipelineMode::kServing || f.epoch() != epoch_) {
    // A frame of a plan given up (a stage that woke up, or one still draining): never used.
    return;
  }
  const Status error = f.error().empty() ? Status::Ok() : StatusOfErrorFrame(f);
  if (error.code() == StatusCode::kUnavailable && f.error_stage() >= 0 &&
      static_cast<size_t>(f.error_stage()) < stages_.size()) {
    // A stage whose incoming hop broke (a GPU hop cannot reopen): its requests are replayed on
    // a new plan, not failed.
    StageFailed(f.error_stage(), "cannot take frames any more: " + f.error());
    return;
  }
  if (!sent_at_.empty() && sent_at_.begin()->first < f.microbatch_id()) {
    // Frames come back in the order they were sent: an older one still out was lost on the way.
    const uint64_t lost = sent_at_.begin()->first;
    StageFailed(static_cast<int32_t>(HolderOf(lost)),
                "lost micro-batch " + std::to_string(lost) + " (micro-batch " + std::to_string(f.microbatch_id()) +
                    " came back before it)");
    return;
  }
  if (!loop_.OnFrame(f, error)) {
    log::Debug("ignoring a frame that is not in flight", {{"microbatch", std::to_string(f.microbatch_id())}});
    return;
  }
  sent_at_.erase(f.microbatch_id());
  trace_.Returned(f, back_us);
  last_return_ = std::chrono::steady_clock::now();
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
    loop_.SlotFreed(e.seq);
  }
}

void Pipeline::Handle(Resumed& e) {
  PipelinePlan& plan = e.plan;
  const bool recovering = mode_ == PipelineMode::kRecovering || mode_ == PipelineMode::kDegraded;
  if (to_first_ != nullptr) (void)to_first_->Close();
  epoch_ = plan.epoch;
  stages_ = std::move(plan.stages);
  to_first_ = std::move(plan.to_first);
  clients_.clear();
  for (const PipelineStage& s : stages_) clients_.push_back(std::make_unique<WorkerClient>(s.address, s.name, security_));
  // Every stage's caches are new: slots waiting for frees are free, live requests start over.
  for (const auto& [seq, pending] : frees_pending_) loop_.SlotFreed(seq);
  frees_pending_.clear();
  sent_at_.clear();
  trace_.DropPending();
  std::vector<std::string> names;
  for (const PipelineStage& s : stages_) names.push_back(s.Describe());
  trace_.SetStageNames(std::move(names));
  const int32_t replayed = loop_.Rewind(static_cast<int32_t>(stages_.size()));
  if (recovering) replayed_ += replayed;
  last_return_ = std::chrono::steady_clock::now();
  mode_ = PipelineMode::kServing;
}

void Pipeline::Handle(Degraded& e) {
  mode_ = PipelineMode::kDegraded;
  degraded_ = e.why;
  sent_at_.clear();
  loop_.FailAll(degraded_);
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
  const size_t culprit = HolderOf(id);
  char why[160];
  std::snprintf(why, sizeof why, "micro-batch %llu has not come back for %.1f s (--stage-timeout %.1f s)",
                static_cast<unsigned long long>(id), waited, timeouts_.stage_seconds);
  StageFailed(static_cast<int32_t>(culprit), why);
}

size_t Pipeline::HolderOf(uint64_t microbatch) const {
  // Every stage sends micro-batches on in id order: the first one that has not sent this one on
  // holds it (or dropped it); when all of them did, the return leg lost it: the last stage's.
  for (size_t i = 0; i < stages_.size(); ++i) {
    WorkerRecord record;
    if (!registry_.Find(stages_[i].worker_id, &record) || record.epoch != epoch_ ||
        record.last_microbatch < microbatch) {
      return i;
    }
  }
  return stages_.empty() ? 0 : stages_.size() - 1;
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

void Pipeline::SendPlans() {
  for (pipeshard::v1::Frame& frame : loop_.TakeFrames(epoch_)) {
    sent_at_[frame.microbatch_id()] = std::chrono::steady_clock::now();
    trace_.Sent(frame, NowMicros());
    const Status sent = to_first_->Send(std::move(frame));
    if (!sent.ok()) {
      StageFailed(0, "is unreachable: " + sent.message());
      return;
    }
  }
}

void Pipeline::FreeSlots() {
  for (int32_t seq : loop_.TakeSlotsToFree()) {
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
