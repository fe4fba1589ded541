#include "simulator/pipeline_sim.h"

#include <algorithm>
#include <deque>
#include <map>
#include <queue>
#include <string>

namespace ps::sim {

namespace {

enum class EventKind { kArrival, kAtStage, kStageDone, kAtCoordinator };

struct Event {
  double time = 0;
  uint64_t order = 0;  // ties run in the order they were made
  EventKind kind = EventKind::kArrival;
  size_t stage = 0;
  uint64_t microbatch = 0;
  size_t request = 0;
  bool operator>(const Event& o) const { return time != o.time ? time > o.time : order > o.order; }
};

struct Flight {
  plan::StepWork work;
  int64_t logits_rows = 0;
};

plan::StepWork WorkOf(const coord::MicroBatchPlan& plan) {
  plan::StepWork w;
  w.rows = static_cast<int64_t>(plan.rows.size());
  std::map<int32_t, int32_t> span;  // seq -> longest attended span
  for (const coord::PlannedRow& r : plan.rows) {
    w.attended_positions += r.pos + 1.0;
    if (r.need_logits) ++w.logits_rows;
    int32_t& s = span[r.seq];
    s = std::max(s, r.pos + 1);
  }
  for (const auto& [seq, s] : span) w.kv_positions_read += s;
  return w;
}

double Transfer(const plan::LinkProfile& link, double bytes) {
  return link.bandwidth > 0 ? bytes / link.bandwidth : 0;
}

class Simulation {
 public:
  Simulation(const std::vector<SimStage>& stages, const SimOptions& options, const std::vector<SimRequest>& requests)
      : stages_(stages), options_(options), requests_(requests), scheduler_(SchedulerOptionsFor(options, stages, requests)) {
    result_.requests.resize(requests.size());
    result_.stages.resize(stages.size());
    stage_free_.assign(stages.size(), true);
    stage_queue_.resize(stages.size());
    link_free_at_.assign(stages.size(), 0.0);
  }

  Result<SimResult> Run() {
    for (size_t i = 0; i < requests_.size(); ++i) {
      result_.requests[i].arrival_s = requests_[i].arrival_s;
      Push({requests_[i].arrival_s, 0, EventKind::kArrival, 0, 0, i});
    }
    int64_t handled = 0;
    while (!events_.empty()) {
      if (++handled > options_.max_events) {
        return Status::ResourceExhausted("the simulation passed its bound of " + std::to_string(options_.max_events) +
                                         " events");
      }
      const Event e = events_.top();
      events_.pop();
      now_ = e.time;
      switch (e.kind) {
        case EventKind::kArrival:
          PS_RETURN_IF_ERROR(Arrive(e.request));
          break;
        case EventKind::kAtStage:
          stage_queue_[e.stage].push_back(e.microbatch);
          StartNext(e.stage);
          break;
        case EventKind::kStageDone:
          StageDone(e.stage, e.microbatch);
          break;
        case EventKind::kAtCoordinator:
          PS_RETURN_IF_ERROR(Returned(e.microbatch));
          break;
      }
    }
    for (size_t i = 0; i < requests_.size(); ++i) {
      if (result_.requests[i].generated < requests_[i].gen_tokens) {
        return Status::Internal("the simulation stopped with request " + std::to_string(i) + " unfinished");
      }
    }
    result_.makespan_s = now_;
    return std::move(result_);
  }

 private:
  static coord::SchedulerOptions SchedulerOptionsFor(const SimOptions& options, const std::vector<SimStage>& stages,
                                                     const std::vector<SimRequest>& requests) {
    coord::SchedulerOptions o = options.scheduler;
    o.stages = static_cast<int32_t>(stages.size());
    o.queue_limit = std::max<int32_t>(o.queue_limit, static_cast<int32_t>(requests.size()));
    return o;
  }

  void Push(Event e) {
    e.order = next_order_++;
    events_.push(e);
  }

  Status Arrive(size_t index) {
    const SimRequest& r = requests_[index];
    PS_ASSIGN_OR_RETURN(coord::RequestId id,
                        scheduler_.Add(std::vector<int32_t>(static_cast<size_t>(r.prompt_tokens), 0)));
    ids_[id] = index;
    // Admission is handled by the coordinator's thread like a returned frame.
    const double at = std::max(now_, coordinator_free_at_) + options_.coordinator_turn_s;
    coordinator_free_at_ = at;
    result_.coordinator_busy_s += options_.coordinator_turn_s;
    SendScheduled(at);
    return Status::Ok();
  }

  void SendScheduled(double at) {
    for (coord::MicroBatchPlan& plan : scheduler_.Schedule()) {
      Flight f;
      f.work = WorkOf(plan);
      f.logits_rows = f.work.logits_rows;
      const double bytes = static_cast<double>(f.work.rows) * 8.0;  // token ids and positions
      // One ordered stream: frames leave and arrive in the order they were sent.
      const double start = std::max(at + options_.coordinator_hop_overhead_s, coordinator_link_free_at_);
      coordinator_link_free_at_ = start + Transfer(options_.coordinator_link, bytes);
      const double arrive = coordinator_link_free_at_ + options_.coordinator_link.latency_s;
      result_.link_busy_s += arrive - at;
      in_flight_[plan.id] = f;
      ++result_.microbatches;
      Push({arrive, 0, EventKind::kAtStage, 0, plan.id, 0});
    }
  }

  void StartNext(size_t s) {
    if (!stage_free_[s] || stage_queue_[s].empty()) return;
    const uint64_t mb = stage_queue_[s].front();
    stage_queue_[s].pop_front();
    plan::StepWork work = in_flight_[mb].work;
    if (s + 1 != stages_.size()) work.logits_rows = 0;  // only the last stage holds the head
    const plan::StepTime t = stages_[s].cost.Step(work);
    StageUse& use = result_.stages[s];
    use.busy_s += t.seconds;
    use.compute_s += t.compute_seconds;
    use.memory_s += t.memory_seconds;
    if (t.memory_bound()) use.memory_bound_s += t.seconds;
    ++use.steps;
    stage_free_[s] = false;
    Push({now_ + t.seconds, 0, EventKind::kStageDone, s, mb, 0});
  }

  void StageDone(size_t s, uint64_t mb) {
    stage_free_[s] = true;
    const Flight& f = in_flight_[mb];
    const bool last = s + 1 == stages_.size();
    const double bytes = last ? static_cast<double>(f.logits_rows) * 8.0
                              : static_cast<double>(f.work.rows * options_.activation_bytes_per_row);
    const SimStage& st = stages_[s];
    // The sender's software cost, then the wire, one frame at a time per hop.
    const double start = std::max(now_ + st.hop_overhead_s, link_free_at_[s]);
    link_free_at_[s] = start + Transfer(st.link, bytes);
    const double arrive = link_free_at_[s] + st.link.latency_s;
    result_.link_busy_s += arrive - now_;
    if (last) {
      Push({arrive, 0, EventKind::kAtCoordinator, 0, mb, 0});
    } else {
      Push({arrive, 0, EventKind::kAtStage, s + 1, mb, 0});
    }
    StartNext(s);
  }

  Status Returned(uint64_t mb) {
    const auto it = in_flight_.find(mb);
    const int64_t logits_rows = it->second.logits_rows;
    in_flight_.erase(it);
    const double at = std::max(now_, coordinator_free_at_) + options_.coordinator_turn_s;
    coordinator_free_at_ = at;
    result_.coordinator_busy_s += options_.coordinator_turn_s;
    PS_ASSIGN_OR_RETURN(coord::MicroBatchOutcome outcome,
                        scheduler_.Complete(mb, std::vector<int32_t>(static_cast<size_t>(logits_rows), 1), false));
    if (!outcome.failed.empty()) return Status::Internal("the scheduler failed a simulated micro-batch: " + outcome.failure);
    for (const coord::SampledToken& t : outcome.sampled) {
      const size_t index = ids_.at(t.request);
      RequestTiming& timing = result_.requests[index];
      if (timing.generated == 0) timing.first_token_s = at;
      ++timing.generated;
      if (timing.generated >= requests_[index].gen_tokens) {
        timing.finished_s = at;
        scheduler_.End(t.request);
      } else {
        PS_RETURN_IF_ERROR(scheduler_.Continue(t.request, 1));
      }
    }
    // Freeing a slot on the stages is a small message off the critical path.
    for (int32_t seq : scheduler_.TakeSlotsToFree()) scheduler_.SlotFreed(seq);
    SendScheduled(at);
    return Status::Ok();
  }

  const std::vector<SimStage>& stages_;
  const SimOptions& options_;
  const std::vector<SimRequest>& requests_;
  coord::Scheduler scheduler_;
  SimResult result_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  uint64_t next_order_ = 0;
  double now_ = 0;
  double coordinator_free_at_ = 0;
  double coordinator_link_free_at_ = 0;
  std::vector<bool> stage_free_;
  std::vector<std::deque<uint64_t>> stage_queue_;
  std::vector<double> link_free_at_;
  std::map<uint64_t, Flight> in_flight_;
  std::map<coord::RequestId, size_t> ids_;
};

}  // namespace

Result<SimResult> SimulatePipeline(const std::vector<SimStage>& stages, const SimOptions& options,
                                   const std::vector<SimRequest>& requests) {
  if (stages.empty()) return Status::InvalidArgument("the simulated pipeline has no stages");
  for (size_t i = 0; i < requests.size(); ++i) {
    const SimRequest& r = requests[i];
    if (r.prompt_tokens < 1 || r.gen_tokens < 1 || !(r.arrival_s >= 0)) {
      return Status::InvalidArgument("simulated request " + std::to_string(i) + " needs a prompt and a token to generate (prompt " +
                                     std::to_string(r.prompt_tokens) + ", generate " + std::to_string(r.gen_tokens) + ")");
    }
  }
  return Simulation(stages, options, requests).Run();
}

}  // namespace ps::sim
