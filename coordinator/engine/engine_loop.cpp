#include "coordinator/engine/engine_loop.h"

#include <algorithm>
#include <cstdio>

#include "common/log/log.h"

namespace ps::coord {

EngineLoop::EngineLoop(const SchedulerOptions& options, int32_t n_ctx, const Tokenizer& tokenizer)
    : n_ctx_(n_ctx), tokenizer_(tokenizer), scheduler_(options) {}

void EngineLoop::Submit(uint64_t handle, PipelineRequest request) {
  const int32_t prompt_tokens = static_cast<int32_t>(request.prompt.size());
  auto id = scheduler_.Add(request.prompt);
  if (!id.ok()) {
    log::Info("request refused: " + id.status().ToString(), {{"request_id", request.request_id}});
    request.sink->OnFailed(id.status());
    return;
  }
  log::Debug("request queued", {{"request_id", request.request_id},
                                {"prompt_tokens", std::to_string(prompt_tokens)},
                                {"n_predict", std::to_string(request.n_predict)}});
  const bool ignore_eos = request.ignore_eos;
  const int32_t n_predict = request.n_predict;
  const uint32_t seed = request.sampling.seed();
  live_.emplace(*id, Live{handle, std::move(request),
                          RequestProgress(tokenizer_, prompt_tokens, n_predict, ignore_eos, n_ctx_, seed)});
  by_handle_[handle] = *id;
}

void EngineLoop::Cancel(uint64_t handle) {
  auto it = by_handle_.find(handle);
  if (it == by_handle_.end()) return;
  if (auto live = live_.find(it->second); live != live_.end()) {
    log::Info("request cancelled", {{"request_id", live->second.request.request_id},
                                    {"generated", std::to_string(live->second.progress.generated())}});
  }
  EndRequest(it->second);
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
      start->set_request_id(it->second.request.request_id);
      log::Debug("request started", {{"request_id", it->second.request.request_id},
                                     {"seq", std::to_string(s.seq)},
                                     {"microbatch", std::to_string(plan.id)},
                                     {"epoch", std::to_string(epoch)}});
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
    // Only for a token that became part of the answer (not the end-of-generation token).
    if (live.progress.generated() > before && s.index >= 0 && s.index < f.logprobs_size()) {
      ReportLogprob(live, s.token, f.logprobs(s.index));
    }
    if (!step.text.empty()) live.request.sink->OnText(std::move(step.text));
    if (step.finished) {
      pipeshard::v1::GenerateSummary summary = live.progress.Summary();
      summary.set_prompt_chunk(scheduler_.ChunkOf(s.request));
      summary.set_request_id(live.request.request_id);
      log::Info("request finished",
                {{"request_id", live.request.request_id},
                 {"prompt_tokens", std::to_string(summary.prompt_tokens())},
                 {"generated", std::to_string(summary.tokens_size())},
                 {"stop_reason", summary.stop_reason()},
                 {"prefill_s", std::to_string(summary.prefill_seconds())},
                 {"decode_s", std::to_string(summary.decode_seconds())}});
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
    log::Info("request replayed on a new plan", {{"request_id", it->second.request.request_id},
                                                 {"replays", std::to_string(it->second.replays)},
                                                 {"generated", std::to_string(it->second.progress.generated())}});
    ++count;
  }
  return count;
}

void EngineLoop::FailAll(const Status& status) {
  (void)scheduler_.AbandonInFlight();
  while (!live_.empty()) Fail(live_.begin()->first, status);
}

void EngineLoop::ReportLogprob(Live& live, int32_t token, const pipeshard::v1::SampledLogprobs& wire) {
  const pipeshard::v1::SamplingParams& asked = live.request.sampling;
  if (!asked.logprobs() && asked.top_logprobs() <= 0) return;
  TokenLogprob entry;
  entry.token = token;
  entry.piece = tokenizer_.TokenToPiece(token);
  entry.logprob = wire.logprob();
  // The last stage is trusted only as far as the bounds: never more than asked, ids in range.
  const int n = std::min({wire.top_tokens_size(), wire.top_logprobs_size(), asked.top_logprobs()});
  for (int i = 0; i < n; ++i) {
    const int32_t id = wire.top_tokens(i);
    if (id < 0 || id >= tokenizer_.n_vocab()) continue;
    entry.top.push_back({id, tokenizer_.TokenToPiece(id), wire.top_logprobs(i)});
  }
  live.request.sink->OnLogprob(std::move(entry));
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
  if (it != live_.end()) {
    log::Warn("request failed: " + status.ToString(), {{"request_id", it->second.request.request_id}});
    it->second.request.sink->OnFailed(status);
  }
  EndRequest(id);
}

}  // namespace ps::coord
