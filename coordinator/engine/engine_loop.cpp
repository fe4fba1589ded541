#include "coordinator/engine/engine_loop.h"

#include <cstdio>

namespace ps::coord {

EngineLoop::EngineLoop(const SchedulerOptions& options, int32_t n_ctx, const Tokenizer& tokenizer)
    : n_ctx_(n_ctx), tokenizer_(tokenizer), scheduler_(options) {}

void EngineLoop::Submit(uint64_t handle, PipelineRequest request) {
  const int32_t prompt_tokens = static_cast<int32_t>(request.prompt.size());
  auto id = scheduler_.Add(request.prompt);
  if (!id.ok()) {
    request.sink->OnFailed(id.status());
    return;
  }
  const bool ignore_eos = request.ignore_eos;
  const int32_t n_predict = request.n_predict;
  const uint32_t seed = request.sampling.seed();
  live_.emplace(*id, Live{handle, std::move(request),
                          RequestProgress(tokenizer_, prompt_tokens, n_predict, ignore_eos, n_ctx_, seed)});
  by_handle_[handle] = *id;
}

void EngineLoop::Cancel(uint64_t handle) {
  auto it = by_handle_.find(handle);
  if (it != by_handle_.end()) EndRequest(it->second);
}

std::vector<pipeshard::v1::Frame> EngineLoop::TakeFrames(uint64_t epoch) {
  std::vector<pipeshard::v1::Frame> frames;
  for (MicroBatchPlan& plan : scheduler_.Schedule()) {
    pipeshard::v1::Frame& frame = frames.emplace_back();
    frame.set_microbatch_id(plan.id);
    frame.set_epoch(epoch);
    frame.set_rows(static_cast<int32_t>(plan.rows.size()));
    std::string need_logits(plan.rows.size(), '\0');
    int32_t decode_rows = 0;
    for (size_t i = 0; i < plan.rows.size(); ++i) {
      const PlannedRow& r = plan.rows[i];
      decode_rows += r.generated ? 1 : 0;
      frame.add_seq_ids(r.seq);
      frame.add_positions(r.pos);
      frame.add_tokens(r.token);
      need_logits[i] = r.need_logits ? 1 : 0;
    }
    frame.set_need_logits(std::move(need_logits));
    frame.set_decode_rows(decode_rows);
    for (const PlannedStart& s : plan.starts) {
      auto it = live_.find(s.request);
      if (it == live_.end()) continue;
      pipeshard::v1::SequenceStart* start = frame.add_starts();
      start->set_seq_id(s.seq);
      *start->mutable_sampling() = it->second.request.sampling;
      start->set_ignore_eos(it->second.request.ignore_eos);
      start->set_samples_drawn(it->second.progress.generated());
    }
  }
  return frames;
}

bool EngineLoop::OnFrame(const pipeshard::v1::Frame& f, const Status& error) {
  const std::vector<int32_t> sampled(f.sampled().begin(), f.sampled().end());
  auto outcome = scheduler_.Complete(f.microbatch_id(), sampled, !error.ok());
  if (!outcome.ok()) return false;
  const Status failure = !error.ok() ? error : Status::Internal(outcome->failure);
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
      pipeshard::v1::GenerateSummary summary = live.progress.Summary();
      summary.set_prompt_chunk(scheduler_.ChunkOf(s.request));
      live.request.sink->OnFinished(std::move(summary));
      EndRequest(s.request);
    } else if (step.go_on) {
      const Status st = scheduler_.Continue(s.request, s.token);
      if (!st.ok()) Fail(s.request, Status::Internal(st.message()));
    }
  }
  return true;
}

int32_t EngineLoop::Rewind(int32_t stages) {
  scheduler_.SetStages(stages);
  const std::vector<RequestId> replayed = scheduler_.Rewind([this](RequestId id) {
    auto it = live_.find(id);
    return it == live_.end() ? std::vector<int32_t>() : it->second.progress.tokens();
  });
  int32_t count = 0;
  for (RequestId id : replayed) {
    auto it = live_.find(id);
    if (it == live_.end()) continue;
    if (++it->second.replays > kMaxReplays) {
      Fail(id, Status::Unavailable("the request was replayed on " + std::to_string(kMaxReplays) +
                                   " new plans and a stage failed under it each time; giving up"));
      continue;
    }
    ++count;
  }
  return count;
}

void EngineLoop::FailAll(const Status& status) {
  (void)scheduler_.AbandonInFlight();
  while (!live_.empty()) Fail(live_.begin()->first, status);
}

void EngineLoop::EndRequest(RequestId id) {
  scheduler_.End(id);
  auto it = live_.find(id);
  if (it == live_.end()) return;
  by_handle_.erase(it->second.handle);
  live_.erase(it);
}

void EngineLoop::Fail(RequestId id, const Status& status) {
  auto it = live_.find(id);
  if (it != live_.end()) it->second.request.sink->OnFailed(status);
  EndRequest(id);
}

}  // namespace ps::coord
