#include "coordinator/scheduler/scheduler.h"

#include <algorithm>

namespace ps::coord {

int32_t ChoosePromptChunk(int64_t prompt_len, int32_t stages, int32_t max_ubatch) {
  max_ubatch = std::max(1, max_ubatch);
  if (stages <= 1) return max_ubatch;
  const int64_t chunks = static_cast<int64_t>(kChunksPerStage) * stages;
  int64_t chunk = (std::max<int64_t>(1, prompt_len) + chunks - 1) / chunks;
  chunk = (chunk + 15) / 16 * 16;
  chunk = std::clamp<int64_t>(chunk, kMinPromptChunk, kMaxPipelinedChunk);
  return static_cast<int32_t>(std::min<int64_t>(chunk, max_ubatch));
}

Scheduler::Scheduler(const SchedulerOptions& options) : options_(options) {
  options_.max_seqs = std::max(1, options_.max_seqs);
  options_.max_ubatch = std::max(1, options_.max_ubatch);
  options_.ubatch = options_.ubatch > 0 ? std::min(options_.ubatch, options_.max_ubatch) : 0;
  options_.stages = std::max(1, options_.stages);
  options_.queue_limit = std::max(0, options_.queue_limit);
  for (int32_t s = 0; s < options_.max_seqs; ++s) free_slots_.push_back(s);
}

Result<RequestId> Scheduler::Add(std::vector<int32_t> prompt) {
  if (prompt.empty()) return Status::InvalidArgument("the prompt is empty");
  // Requests that will get a slot without waiting for a running one do not count against the
  // queue: the free slots, and those of ended requests still being freed on the stages (a client
  // that sends its next request as soon as the answer arrives must not find the queue full).
  const int32_t freeing = options_.max_seqs - free_slots() - running();
  const int32_t waiting_for_running = static_cast<int32_t>(queue_.size()) - free_slots() - std::max(0, freeing);
  if (waiting_for_running >= options_.queue_limit) {
    return Status::ResourceExhausted("the request queue is full (" + std::to_string(options_.queue_limit) +
                                     " waiting); retry later");
  }
  const RequestId id = next_request_++;
  queue_.emplace_back(id, std::move(prompt));
  return id;
}

int32_t Scheduler::running() const {
  int32_t n = 0;
  for (const auto& [id, r] : running_) n += r.ended ? 0 : 1;
  return n;
}

int32_t Scheduler::SlotOf(RequestId request) const {
  auto it = running_.find(request);
  return it == running_.end() ? -1 : it->second.seq;
}

int32_t Scheduler::ChunkOf(RequestId request) const {
  auto it = running_.find(request);
  return it == running_.end() ? 0 : static_cast<int32_t>(it->second.chunk);
}

void Scheduler::Admit() {
  while (!queue_.empty() && !free_slots_.empty()) {
    Request r;
    r.prompt = std::move(queue_.front().second);
    r.prompt_len = r.prompt.size();
    r.chunk = static_cast<size_t>(options_.ubatch > 0 ? options_.ubatch
                                                     : ChoosePromptChunk(static_cast<int64_t>(r.prompt_len),
                                                                         options_.stages, options_.max_ubatch));
    r.seq = free_slots_.front();
    free_slots_.erase(free_slots_.begin());
    running_.emplace(queue_.front().first, std::move(r));
    queue_.pop_front();
  }
}

std::vector<MicroBatchPlan> Scheduler::Schedule() {
  Admit();
  std::vector<MicroBatchPlan> plans;
  while (static_cast<int32_t>(in_flight_.size()) < options_.stages + 1) {
    MicroBatchPlan plan;
    // The extra micro-batch is for prompt chunks only: decode rows wait and go as whole groups,
    // since splitting a group costs every stage a pass over its weights per piece.
    int32_t decoding = 0;
    for (const auto& [id, record] : in_flight_) decoding += record.decode ? 1 : 0;
    const bool decode = decoding < options_.stages;
    if (!BuildMicroBatch(&plan, decode)) break;
    plans.push_back(std::move(plan));
  }
  return plans;
}

bool Scheduler::BuildMicroBatch(MicroBatchPlan* plan, bool decode) {
  InFlight record;
  auto add_row = [&](RequestId id, const Request& r, int32_t pos, int32_t token, bool logits, bool generated) {
    plan->rows.push_back({r.seq, pos, token, logits, generated});
    record.requests.push_back(id);
    record.need_logits.push_back(logits);
  };

  // Generation: split the decoding sequences into `stages` groups so each stage has one.
  int32_t decoding = 0;
  for (const auto& [id, r] : running_) decoding += (!r.ended && r.decoding()) ? 1 : 0;
  const int32_t group = (decoding + options_.stages - 1) / options_.stages;
  int32_t taken = 0;
  for (auto& [id, r] : running_) {
    if (taken == group || !decode) break;
    if (r.ended || !r.has_token || r.in_flight > 0) continue;
    add_row(id, r, r.next_pos, r.token, true, true);
    ++r.next_pos;
    r.has_token = false;
    ++r.in_flight;
    ++taken;
  }

  // Prefill: whole chunks (cut at multiples of each request's chunk), one per sequence, up to
  // max_ubatch rows.
  int32_t prompt_rows = 0;
  for (auto& [id, r] : running_) {
    if (r.ended || r.decoding()) continue;
    const size_t ub = r.chunk;
    // A replay's generated tokens go one row a chunk, as they first did: the same cuts give the
    // same caches bit for bit.
    const size_t end = r.prompt_sent < r.prompt_len ? std::min(r.prompt_len, (r.prompt_sent / ub + 1) * ub)
                                                    : r.prompt_sent + 1;
    const int32_t len = static_cast<int32_t>(end - r.prompt_sent);
    if (prompt_rows + len > options_.max_ubatch) break;
    if (r.prompt_sent == 0) plan->starts.push_back({r.seq, id});
    for (size_t i = r.prompt_sent; i < end; ++i) {
      add_row(id, r, static_cast<int32_t>(i), r.prompt[i], i + 1 == r.prompt.size(), false);
    }
    r.prompt_sent = end;
    r.next_pos = static_cast<int32_t>(end);
    ++r.in_flight;
    prompt_rows += len;
  }

  if (plan->rows.empty()) return false;
  record.decode = taken > 0;
  plan->id = next_microbatch_++;
  in_flight_.emplace(plan->id, std::move(record));
  return true;
}

Result<MicroBatchOutcome> Scheduler::Complete(uint64_t microbatch_id, const std::vector<int32_t>& sampled,
                                              bool failed) {
  auto it = in_flight_.find(microbatch_id);
  if (it == in_flight_.end()) {
    return Status::NotFound("micro-batch " + std::to_string(microbatch_id) + " is not in flight");
  }
  InFlight record = std::move(it->second);
  in_flight_.erase(it);

  MicroBatchOutcome outcome;
  const size_t want = static_cast<size_t>(std::count(record.need_logits.begin(), record.need_logits.end(), true));
  if (!failed && sampled.size() != want) {
    failed = true;
    outcome.failure = "micro-batch " + std::to_string(microbatch_id) + " came back with " +
                      std::to_string(sampled.size()) + " sampled tokens for " + std::to_string(want) +
                      " rows that need logits";
  }
  size_t next_sample = 0;
  RequestId previous = 0;
  for (size_t row = 0; row < record.requests.size(); ++row) {
    const RequestId id = record.requests[row];
    const int32_t index = record.need_logits[row] && !failed ? static_cast<int32_t>(next_sample++) : -1;
    const int32_t token = index >= 0 ? sampled[static_cast<size_t>(index)] : 0;
    auto rit = running_.find(id);
    if (rit == running_.end()) continue;
    Request& r = rit->second;
    // Rows of one request are contiguous and the request counts the micro-batch once.
    if (id != previous) {
      --r.in_flight;
      if (failed && !r.ended) outcome.failed.push_back(id);
    }
    previous = id;
    if (!failed && record.need_logits[row] && !r.ended) outcome.sampled.push_back({id, token, index});
  }
  for (const RequestId id : record.requests) {
    auto rit = running_.find(id);
    if (rit != running_.end() && rit->second.ended && rit->second.in_flight == 0) Release(id, rit->second);
  }
  return outcome;
}

Status Scheduler::Continue(RequestId request, int32_t token) {
  auto it = running_.find(request);
  if (it == running_.end() || it->second.ended || !it->second.decoding() || it->second.has_token ||
      it->second.in_flight > 0) {
    return Status::InvalidArgument("request " + std::to_string(request) + " is not waiting for a token");
  }
  it->second.has_token = true;
  it->second.token = token;
  return Status::Ok();
}

void Scheduler::End(RequestId request) {
  for (auto q = queue_.begin(); q != queue_.end(); ++q) {
    if (q->first == request) {
      queue_.erase(q);
      return;
    }
  }
  auto it = running_.find(request);
  if (it == running_.end() || it->second.ended) return;
  it->second.ended = true;
  if (it->second.in_flight == 0) Release(request, it->second);
}

void Scheduler::Release(RequestId id, Request& r) {
  to_free_.push_back(r.seq);
  running_.erase(id);
}

std::vector<RequestId> Scheduler::AbandonInFlight() {
  std::vector<RequestId> lost;
  for (auto& [mb, record] : in_flight_) {
    for (const RequestId id : record.requests) {
      auto it = running_.find(id);
      if (it == running_.end()) continue;
      if (!it->second.ended && std::find(lost.begin(), lost.end(), id) == lost.end()) lost.push_back(id);
      it->second.in_flight = 0;
    }
  }
  in_flight_.clear();
  for (auto it = running_.begin(); it != running_.end();) {
    auto next = std::next(it);
    if (it->second.ended) Release(it->first, it->second);
    it = next;
  }
  return lost;
}

std::vector<RequestId> Scheduler::Rewind(const std::function<std::vector<int32_t>(RequestId)>& generated) {
  in_flight_.clear();
  for (int32_t seq : to_free_) SlotFreed(seq);
  to_free_.clear();
  std::vector<RequestId> replayed;
  for (auto it = running_.begin(); it != running_.end();) {
    Request& r = it->second;
    if (r.ended) {
      SlotFreed(r.seq);
      it = running_.erase(it);
      continue;
    }
    r.prompt.resize(r.prompt_len);
    for (int32_t t : generated(it->first)) r.prompt.push_back(t);
    r.prompt_sent = 0;
    r.next_pos = 0;
    r.has_token = false;
    r.token = 0;
    r.in_flight = 0;
    replayed.push_back(it->first);
    ++it;
  }
  return replayed;
}

void Scheduler::SetStages(int32_t stages) { options_.stages = std::max(1, stages); }

std::vector<int32_t> Scheduler::TakeSlotsToFree() {
  std::vector<int32_t> slots;
  slots.swap(to_free_);
  return slots;
}

void Scheduler::SlotFreed(int32_t seq) {
  if (seq < 0 || seq >= options_.max_seqs) return;
  if (std::find(free_slots_.begin(), free_slots_.end(), seq) != free_slots_.end()) return;
  free_slots_.insert(std::lower_bound(free_slots_.begin(), free_slots_.end(), seq), seq);
}

}  // namespace ps::coord
