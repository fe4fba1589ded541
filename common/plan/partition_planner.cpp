#include "common/plan/partition_planner.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

namespace ps::plan {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Costs that differ by less than this ratio are equal (floating-point noise).
constexpr double kTie = 1e-9;
// The search tries at most about this many steps of its inner table (candidates * stages * n^2).
constexpr double kSearchBudget = 4e7;

// Prefix sums over the blocks so that any range's costs are O(1).
class RangeCost {
 public:
  RangeCost(const ModelCost& cost, const PlanOptions& options) : cost_(cost), workload_(options.workload) {
    const size_t n = cost.layers.size();
    flops_.assign(n + 1, 0);
    attention_.assign(n + 1, 0);
    bytes_.assign(n + 1, 0);
    for (size_t i = 0; i < n; ++i) {
      flops_[i + 1] = flops_[i] + cost.layers[i].flops_per_token;
      attention_[i + 1] = attention_[i] + cost.layers[i].attention_flops_per_position;
      bytes_[i + 1] = bytes_[i] + cost.layers[i].weight_bytes + options.kv_cache_tokens * cost.layers[i].kv_bytes_per_token;
    }
    const double p = workload_.prompt_tokens;
    const double g = workload_.gen_tokens;
    prefill_position_ = (p - 1) / 2;
    decode_position_ = p + std::max(0.0, g - 1) / 2;
  }
  int64_t n_layer() const { return cost_.n_layer(); }
  // A generated token at position 0.
  double Flops(int64_t first, int64_t last) const { return Layers(first, last, 0, 1.0); }
  // Per prompt token: the head runs for the prompt's last row only.
  double PrefillFlops(int64_t first, int64_t last) const {
    return Layers(first, last, prefill_position_, 1.0 / workload_.prompt_tokens);
  }
  double DecodeFlops(int64_t first, int64_t last) const { return Layers(first, last, decode_position_, 1.0); }
  uint64_t Bytes(int64_t first, int64_t last) const {
    return bytes_[last] - bytes_[first] + (first == 0 ? cost_.embedding.weight_bytes : 0) +
           (last == n_layer() ? cost_.head.weight_bytes : 0);
  }

 private:
  double Layers(int64_t first, int64_t last, double position, double head_share) const {
    return flops_[last] - flops_[first] + position * (attention_[last] - attention_[first]) +
           (first == 0 ? cost_.embedding.flops_per_token : 0) +
           (last == n_layer() ? head_share * cost_.head.flops_per_token : 0);
  }

  const ModelCost& cost_;
  const Workload workload_;
  double prefill_position_ = 0;
  double decode_position_ = 0;
  std::vector<double> flops_;
  std::vector<double> attention_;
  std::vector<uint64_t> bytes_;
};

bool Fits(const RangeCost& rc, const WorkerCapacity& w, int64_t first, int64_t last) {
  return w.memory_free_bytes == 0 || rc.Bytes(first, last) <= w.memory_free_bytes;
}

std::string GiB(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

std::string StageName(size_t s, const WorkerCapacity& w) {
  std::string name = "stage ";
  name += std::to_string(s);
  name += " (worker '";
  name += w.name;
  name += "')";
  return name;
}

// Why no plan fits: fill stages greedily with as many blocks as their memory takes (leaving one
// per later stage); the first stage that cannot take a single block, or the last one left with
// more than it can hold, is the one to name.
Status ExplainMemoryFailure(const RangeCost& rc, const std::vector<WorkerCapacity>& workers) {
  const int64_t n = rc.n_layer();
  const int64_t stages = static_cast<int64_t>(workers.size());
  int64_t first = 0;
  for (int64_t s = 0; s < stages; ++s) {
    const WorkerCapacity& w = workers[static_cast<size_t>(s)];
    const int64_t max_last = s + 1 == stages ? n : n - (stages - s - 1);
    const int64_t min_last = s + 1 == stages ? n : first + 1;
    if (!Fits(rc, w, first, min_last)) {
      return Status::ResourceExhausted(
          "the model does not fit: " + StageName(static_cast<size_t>(s), w) + " has " + GiB(w.memory_free_bytes) +
          " free but layers [" + std::to_string(first) + ", " + std::to_string(min_last) + ") need " +
          GiB(rc.Bytes(first, min_last)) + " (weights and KV cache; lower --ctx or --max-seqs, or add workers)");
    }
    int64_t last = min_last;
    while (last < max_last && Fits(rc, w, first, last + 1)) ++last;
    first = last;
  }
  return Status::ResourceExhausted("the model does not fit the workers' free memory");
}

// Sorted speeds are grouped while each stays within kSpeedTolerance of its group's slowest; a
// group plans with its geometric mean. Returns the speeds to plan with, in worker order.
std::vector<double> SnapSpeeds(const std::vector<WorkerCapacity>& workers) {
  std::vector<size_t> order(workers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return workers[a].gflops < workers[b].gflops; });
  std::vector<double> snapped(workers.size());
  size_t begin = 0;
  while (begin < order.size()) {
    size_t end = begin + 1;
    const double slowest = workers[order[begin]].gflops;
    while (end < order.size() && workers[order[end]].gflops <= slowest * kSpeedTolerance) ++end;
    double log_sum = 0;
    for (size_t i = begin; i < end; ++i) log_sum += std::log(workers[order[i]].gflops);
    const double mean = std::exp(log_sum / static_cast<double>(end - begin));
    for (size_t i = begin; i < end; ++i) snapped[order[i]] = end - begin == 1 ? workers[order[i]].gflops : mean;
    begin = end;
  }
  return snapped;
}

// One way to cut the blocks: cuts[s] is stage s's first block, cuts[S] = n.
struct Split {
  std::vector<int64_t> cuts;
  double max_prefill = 0, max_decode = 0, sum_decode = 0;  // seconds per token
  double objective = kInf;                                  // predicted seconds for the workload
};

class Search {
 public:
  Search(const RangeCost& rc, const std::vector<WorkerCapacity>& workers, const std::vector<double>& speeds,
         const Workload& w)
      : rc_(rc), workers_(workers), speeds_(speeds), w_(w) {}

  double Prefill(size_t s, int64_t a, int64_t b) const { return rc_.PrefillFlops(a, b) / (speeds_[s] * 1e9); }
  double Decode(size_t s, int64_t a, int64_t b) const { return rc_.DecodeFlops(a, b) / (speeds_[s] * 1e9); }
  // Seconds stage s is busy over the whole workload.
  double Busy(size_t s, int64_t a, int64_t b) const {
    return w_.concurrency * (w_.prompt_tokens * Prefill(s, a, b) + w_.gen_tokens * Decode(s, a, b));
  }
  bool Allowed(size_t s, int64_t a, int64_t b) const { return Fits(rc_, workers_[s], a, b); }

  void Evaluate(Split* split) const {
    split->max_prefill = split->max_decode = split->sum_decode = 0;
    for (size_t s = 0; s + 1 < split->cuts.size(); ++s) {
      split->max_prefill = std::max(split->max_prefill, Prefill(s, split->cuts[s], split->cuts[s + 1]));
      const double d = Decode(s, split->cuts[s], split->cuts[s + 1]);
      split->max_decode = std::max(split->max_decode, d);
      split->sum_decode += d;
    }
    const double k = w_.concurrency;
    split->objective = k * w_.prompt_tokens * split->max_prefill +
                       std::max(k * w_.gen_tokens * split->max_decode, w_.gen_tokens * split->sum_decode);
  }

  // Every prefill cost a stage could have: the caps worth trying, ascending.
  std::vector<double> PrefillCaps() const {
    const int64_t n = rc_.n_layer();
    const auto stages = static_cast<int64_t>(workers_.size());
    std::vector<double> caps;
    for (int64_t s = 0; s < stages; ++s) {
      const int64_t a_lo = s == 0 ? 0 : s, a_hi = s == 0 ? 0 : n - (stages - s);
      for (int64_t a = a_lo; a <= a_hi; ++a) {
        const int64_t b_lo = s + 1 == stages ? n : a + 1, b_hi = s + 1 == stages ? n : n - (stages - s - 1);
        for (int64_t b = b_lo; b <= b_hi; ++b) {
          if (Allowed(static_cast<size_t>(s), a, b)) caps.push_back(Prefill(static_cast<size_t>(s), a, b));
        }
      }
    }
    std::sort(caps.begin(), caps.end());
    std::vector<double> unique;
    for (double c : caps) {
      if (unique.empty() || c > unique.back() * (1 + kTie)) unique.push_back(c);
    }
    return unique;
  }

  // The split with every stage's prefill cost within `prefill_cap` (and decode cost within
  // `decode_cap`) that minimises the slowest decode cost (even = false) or the sum of squared
  // busy times (even = true). Empty cuts when none exists.
  Split Solve(double prefill_cap, double decode_cap, bool even) const {
    const int64_t n = rc_.n_layer();
    const size_t stages = workers_.size();
    std::vector<std::vector<double>> value(stages + 1, std::vector<double>(static_cast<size_t>(n) + 1, kInf));
    std::vector<std::vector<int64_t>> cut(stages + 1, std::vector<int64_t>(static_cast<size_t>(n) + 1, -1));
    value[0][0] = 0;
    for (size_t s = 1; s <= stages; ++s) {
      for (int64_t b = static_cast<int64_t>(s); b <= n; ++b) {
        if (s == stages && b != n) continue;
        for (int64_t a = static_cast<int64_t>(s) - 1; a < b; ++a) {
          const double prev = value[s - 1][static_cast<size_t>(a)];
          if (prev == kInf || !Allowed(s - 1, a, b)) continue;
          if (Prefill(s - 1, a, b) > prefill_cap * (1 + kTie)) continue;
          const double d = Decode(s - 1, a, b);
          if (d > decode_cap * (1 + kTie)) continue;
          double v;
          if (even) {
            const double busy = Busy(s - 1, a, b);
            v = prev + busy * busy;
          } else {
            v = std::max(prev, d);
          }
          if (v < value[s][static_cast<size_t>(b)]) {
            value[s][static_cast<size_t>(b)] = v;
            cut[s][static_cast<size_t>(b)] = a;
          }
        }
      }
    }
    Split split;
    if (value[stages][static_cast<size_t>(n)] == kInf) return split;
    split.cuts.assign(stages + 1, 0);
    split.cuts[stages] = n;
    for (size_t s = stages; s >= 1; --s) split.cuts[s - 1] = cut[s][static_cast<size_t>(split.cuts[s])];
    Evaluate(&split);
    return split;
  }

  // The best split for the workload; empty cuts when nothing fits.
  Split Best() const {
    std::vector<double> caps = PrefillCaps();
    const double n = static_cast<double>(rc_.n_layer());
    const double per_solve = static_cast<double>(workers_.size()) * n * n;
    const size_t limit = std::max<size_t>(2, static_cast<size_t>(kSearchBudget / std::max(1.0, per_solve)));
    if (caps.size() > limit) {  // thin evenly, keeping the smallest and the largest
      std::vector<double> thinned;
      for (size_t i = 0; i < limit; ++i) thinned.push_back(caps[i * (caps.size() - 1) / (limit - 1)]);
      caps.swap(thinned);
    }
    Split best;
    double floor_decode = kInf;  // the slowest stage's decode cost when prefill does not matter
    if (!caps.empty()) floor_decode = Solve(kInf, kInf, false).max_decode;
    for (double cap : caps) {
      Split s = Solve(cap, kInf, false);
      if (s.cuts.empty()) continue;
      if (s.objective < best.objective * (1 - kTie)) best = s;
      // A higher cap cannot lower the decode cost further, only raise the prefill cost.
      if (s.max_decode <= floor_decode * (1 + kTie)) break;
    }
    if (best.cuts.empty()) return best;
    // Among the splits as good as the best, the most even one.
    Split even = Solve(best.max_prefill, best.max_decode, true);
    if (!even.cuts.empty() && even.objective <= best.objective * (1 + kTie)) return even;
    return best;
  }

 private:
  const RangeCost& rc_;
  const std::vector<WorkerCapacity>& workers_;
  const std::vector<double>& speeds_;
  const Workload w_;
};

std::string Explain(const PartitionPlan& plan, const RangeCost& rc, const ModelCost& cost,
                    const std::vector<WorkerCapacity>& workers, bool memory_bound) {
  char buf[512];
  std::string text;
  const Workload& w = plan.workload;
  std::snprintf(buf, sizeof buf, "%" PRId64 " layers over %zu stage%s, cut for the expected workload (%s)", rc.n_layer(),
                plan.stages.size(), plan.stages.size() == 1 ? "" : "s", w.Describe().c_str());
  text += buf;
  if (plan.stages.size() > 1) {
    text += w.concurrency == 1 || w.gen_tokens == 0
                ? ": one stream's tokens cross every stage in turn whatever the split, so the split balances prefill."
                : ": the split minimises the prefill time plus the decode time of that many streams.";
  } else {
    text += ".";
  }
  bool snapped = false;
  for (size_t s = 0; s < plan.stages.size(); ++s) snapped |= plan.stages[s].speed_gflops != workers[s].gflops;
  if (snapped) {
    std::snprintf(buf, sizeof buf, " Speeds within %.0f%% of each other count as one (probe noise):", (kSpeedTolerance - 1) * 100);
    text += buf;
    for (size_t s = 0; s < plan.stages.size(); ++s) {
      std::snprintf(buf, sizeof buf, "%s %s %.1f -> %.1f", s == 0 ? "" : ",", workers[s].name.c_str(), workers[s].gflops,
                    plan.stages[s].speed_gflops);
      text += buf;
    }
    text += " GFLOP/s.";
  }
  for (size_t s = 0; s < plan.stages.size(); ++s) {
    const StagePlan& st = plan.stages[s];
    std::snprintf(buf, sizeof buf,
                  " Stage %zu (%s, %.1f GFLOP/s): layers %d-%d%s%s, prefill %.3f ms/token, decode %.3f ms/token, %s.", s,
                  st.worker.c_str(), st.speed_gflops, st.first_layer, st.last_layer - 1, st.embedding ? " + embedding" : "",
                  st.head ? " + output head" : "", st.prefill_seconds_per_token * 1e3, st.decode_seconds_per_token * 1e3,
                  GiB(st.memory_bytes).c_str());
    text += buf;
  }
  const StagePlan& b = plan.stages[static_cast<size_t>(plan.bottleneck)];
  std::snprintf(buf, sizeof buf, " The busiest stage over the workload is stage %d", plan.bottleneck);
  text += buf;
  if (b.head && cost.head.flops_per_token > 0 && w.gen_tokens > 0) {
    std::snprintf(buf, sizeof buf, "; the output head is %.0f%% of its decode work and runs once per prompt",
                  100.0 * cost.head.flops_per_token / rc.DecodeFlops(b.first_layer, b.last_layer));
    text += buf;
  }
  if (memory_bound) text += "; free memory, not speed, limits the split";
  std::snprintf(buf, sizeof buf,
                ". Predicted (compute only): prefill %.1f tokens/s with every stage busy, decode %.2f tokens/s for "
                "one stream",
                plan.prefill_tokens_per_second, plan.decode_tokens_per_second);
  text += buf;
  if (w.concurrency > 1) {
    std::snprintf(buf, sizeof buf, " and %.2f tokens/s for %d streams", plan.aggregate_decode_tokens_per_second,
                  w.concurrency);
    text += buf;
  }
  text += ".";
  return text;
}

}  // namespace

std::string Workload::Describe() const {
  std::string s = std::to_string(prompt_tokens);
  s += " prompt + ";
  s += std::to_string(gen_tokens);
  s += " generated tokens, ";
  s += std::to_string(concurrency);
  s += concurrency == 1 ? " request at a time" : " requests at a time";
  return s;
}

Status CheckWorkload(const Workload& w) {
  if (w.prompt_tokens < 1) {
    return Status::InvalidArgument("workload prompt tokens must be at least 1 (got " + std::to_string(w.prompt_tokens) + ")");
  }
  if (w.gen_tokens < 0) {
    return Status::InvalidArgument("workload generated tokens must be at least 0 (got " + std::to_string(w.gen_tokens) + ")");
  }
  if (w.concurrency < 1) {
    return Status::InvalidArgument("workload concurrency must be at least 1 (got " + std::to_string(w.concurrency) + ")");
  }
  return Status::Ok();
}

Result<PartitionPlan> PlanPartition(const ModelCost& cost, const std::vector<WorkerCapacity>& workers,
                                    const PlanOptions& options) {
  const int64_t n = cost.n_layer();
  if (workers.empty()) return Status::InvalidArgument("cannot plan for zero workers");
  if (static_cast<int64_t>(workers.size()) > n) {
    return Status::InvalidArgument(std::to_string(workers.size()) + " stages but the model has only " +
                                   std::to_string(n) + " layers (every stage needs at least one)");
  }
  for (size_t s = 0; s < workers.size(); ++s) {
    if (!(workers[s].gflops > 0) || workers[s].gflops == kInf) {
      return Status::InvalidArgument(StageName(s, workers[s]) + " has no usable speed (" +
                                     std::to_string(workers[s].gflops) + " GFLOP/s)");
    }
  }
  PS_RETURN_IF_ERROR(CheckWorkload(options.workload));
  const RangeCost rc(cost, options);
  const std::vector<double> speeds = SnapSpeeds(workers);
  const Search search(rc, workers, speeds, options.workload);
  const Split best = search.Best();
  if (best.cuts.empty()) return ExplainMemoryFailure(rc, workers);

  PartitionPlan plan;
  plan.workload = options.workload;
  const size_t stages = workers.size();
  plan.stages.resize(stages);
  double busiest = 0;
  for (size_t s = 0; s < stages; ++s) {
    const int64_t first = best.cuts[s], last = best.cuts[s + 1];
    StagePlan& st = plan.stages[s];
    st.worker = workers[s].name;
    st.first_layer = static_cast<int32_t>(first);
    st.last_layer = static_cast<int32_t>(last);
    st.embedding = first == 0;
    st.head = last == n;
    st.speed_gflops = speeds[s];
    st.flops_per_token = rc.Flops(first, last);
    st.memory_bytes = rc.Bytes(first, last);
    st.prefill_seconds_per_token = search.Prefill(s, first, last);
    st.decode_seconds_per_token = search.Decode(s, first, last);
    st.relative_cost = search.Busy(s, first, last);
    if (st.relative_cost > busiest * (1 + kTie)) {
      busiest = st.relative_cost;
      plan.bottleneck = static_cast<int32_t>(s);
    }
  }
  for (StagePlan& st : plan.stages) st.relative_cost = busiest > 0 ? st.relative_cost / busiest : 1.0;
  plan.prefill_tokens_per_second = best.max_prefill > 0 ? 1.0 / best.max_prefill : 0;
  plan.decode_tokens_per_second = best.sum_decode > 0 ? 1.0 / best.sum_decode : 0;
  plan.aggregate_decode_tokens_per_second =
      best.max_decode > 0 ? std::min(1.0 / best.max_decode, options.workload.concurrency / best.sum_decode) : 0;

  // Did memory bind? Compare with the split the speeds alone would give (the same search again,
  // so only when some worker has a memory limit at all).
  bool memory_bound = false;
  if (std::any_of(workers.begin(), workers.end(), [](const WorkerCapacity& w) { return w.memory_free_bytes > 0; })) {
    std::vector<WorkerCapacity> unlimited = workers;
    for (WorkerCapacity& w : unlimited) w.memory_free_bytes = 0;
    const Split free_best = Search(rc, unlimited, speeds, options.workload).Best();
    memory_bound = free_best.objective < best.objective * (1 - kTie);
  }
  plan.explanation = Explain(plan, rc, cost, workers, memory_bound);
  return plan;
}

Result<PartitionPlan> Simulate(const ModelCost& cost, const std::vector<double>& gflops, const Workload& workload) {
  std::vector<WorkerCapacity> workers;
  for (size_t i = 0; i < gflops.size(); ++i) workers.push_back({"sim" + std::to_string(i), gflops[i], 0});
  PlanOptions options;
  options.workload = workload;
  return PlanPartition(cost, workers, options);
}

}  // namespace ps::plan
