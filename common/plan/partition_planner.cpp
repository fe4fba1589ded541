#include "common/plan/partition_planner.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <limits>

namespace ps::plan {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Prefix sums over the blocks so that any range's cost is O(1).
class RangeCost {
 public:
  RangeCost(const ModelCost& cost, const PlanOptions& options) : cost_(cost), kv_tokens_(options.kv_cache_tokens) {
    const size_t n = cost.layers.size();
    flops_.assign(n + 1, 0);
    bytes_.assign(n + 1, 0);
    for (size_t i = 0; i < n; ++i) {
      flops_[i + 1] = flops_[i] + cost.layers[i].flops_per_token;
      bytes_[i + 1] = bytes_[i] + cost.layers[i].weight_bytes + kv_tokens_ * cost.layers[i].kv_bytes_per_token;
    }
  }
  int64_t n_layer() const { return cost_.n_layer(); }
  double Flops(int64_t first, int64_t last) const {
    return flops_[last] - flops_[first] + (first == 0 ? cost_.embedding.flops_per_token : 0) +
           (last == n_layer() ? cost_.head.flops_per_token : 0);
  }
  uint64_t Bytes(int64_t first, int64_t last) const {
    return bytes_[last] - bytes_[first] + (first == 0 ? cost_.embedding.weight_bytes : 0) +
           (last == n_layer() ? cost_.head.weight_bytes : 0);
  }

 private:
  const ModelCost& cost_;
  uint64_t kv_tokens_;
  std::vector<double> flops_;
  std::vector<uint64_t> bytes_;
};

double Seconds(const RangeCost& rc, const WorkerCapacity& w, int64_t first, int64_t last) {
  return rc.Flops(first, last) / (w.gflops * 1e9);
}

bool Fits(const RangeCost& rc, const WorkerCapacity& w, int64_t first, int64_t last) {
  return w.memory_free_bytes == 0 || rc.Bytes(first, last) <= w.memory_free_bytes;
}

std::string GiB(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

std::string StageName(size_t s, const WorkerCapacity& w) {
  return "stage " + std::to_string(s) + " (worker '" + w.name + "')";
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

std::string Explain(const PartitionPlan& plan, const RangeCost& rc, const ModelCost& cost,
                    const std::vector<WorkerCapacity>& workers, bool memory_bound) {
  char buf[512];
  std::string text;
  std::snprintf(buf, sizeof buf,
                "%" PRId64 " layers over %zu stage%s, each a contiguous range chosen so that the slowest stage "
                "(FLOPs per token / measured GFLOP/s) is as fast as possible.",
                rc.n_layer(), plan.stages.size(), plan.stages.size() == 1 ? "" : "s");
  text += buf;
  for (size_t s = 0; s < plan.stages.size(); ++s) {
    const StagePlan& st = plan.stages[s];
    std::snprintf(buf, sizeof buf, " Stage %zu (%s, %.1f GFLOP/s): layers %d-%d%s%s, %.2f GFLOP/token, %.2f ms/token, %s.",
                  s, st.worker.c_str(), workers[s].gflops, st.first_layer, st.last_layer - 1,
                  st.embedding ? " + embedding" : "", st.head ? " + output head" : "", st.flops_per_token / 1e9,
                  st.seconds_per_token * 1e3, GiB(st.memory_bytes).c_str());
    text += buf;
  }
  const StagePlan& b = plan.stages[static_cast<size_t>(plan.bottleneck)];
  std::snprintf(buf, sizeof buf, " The bottleneck is stage %d", plan.bottleneck);
  text += buf;
  if (b.head && cost.head.flops_per_token > 0) {
    std::snprintf(buf, sizeof buf, "; the output head alone is %.0f%% of its work, so it gets fewer layers",
                  100.0 * cost.head.flops_per_token / b.flops_per_token);
    text += buf;
  }
  if (memory_bound) text += "; free memory, not speed, limits the split";
  std::snprintf(buf, sizeof buf,
                ". Predicted: %.2f tokens/s with every stage busy (micro-batches in flight), "
                "%.2f tokens/s for one sequence alone.",
                plan.pipelined_tokens_per_second, plan.single_sequence_tokens_per_second);
  text += buf;
  return text;
}

// Best bottleneck over stages [0, s) covering blocks [0, b): dp[s][b]. With `cap` set, instead
// minimises the sum of squared stage times among splits whose every stage is within cap.
struct Table {
  std::vector<std::vector<double>> value;
  std::vector<std::vector<int64_t>> cut;  // first block of stage s-1
};

Table Solve(const RangeCost& rc, const std::vector<WorkerCapacity>& workers, double cap) {
  const int64_t n = rc.n_layer();
  const size_t stages = workers.size();
  Table t;
  t.value.assign(stages + 1, std::vector<double>(static_cast<size_t>(n) + 1, kInf));
  t.cut.assign(stages + 1, std::vector<int64_t>(static_cast<size_t>(n) + 1, -1));
  t.value[0][0] = 0;
  for (size_t s = 1; s <= stages; ++s) {
    const WorkerCapacity& w = workers[s - 1];
    for (int64_t b = static_cast<int64_t>(s); b <= n; ++b) {
      for (int64_t a = static_cast<int64_t>(s) - 1; a < b; ++a) {
        const double prev = t.value[s - 1][static_cast<size_t>(a)];
        if (prev == kInf || !Fits(rc, w, a, b)) continue;
        const double sec = Seconds(rc, w, a, b);
        double v;
        if (cap == kInf) {
          v = std::max(prev, sec);
        } else {
          if (sec > cap) continue;
          v = prev + sec * sec;
        }
        if (v < t.value[s][static_cast<size_t>(b)]) {
          t.value[s][static_cast<size_t>(b)] = v;
          t.cut[s][static_cast<size_t>(b)] = a;
        }
      }
    }
  }
  return t;
}

}  // namespace

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
  const RangeCost rc(cost, options);
  const size_t stages = workers.size();
  const double best = Solve(rc, workers, kInf).value[stages][static_cast<size_t>(n)];
  if (best == kInf) return ExplainMemoryFailure(rc, workers);
  // A hair of slack so that ties in floating point still count as the bottleneck.
  const Table even = Solve(rc, workers, best * (1 + 1e-9));

  PartitionPlan plan;
  plan.stages.resize(stages);
  int64_t last = n;
  for (size_t s = stages; s >= 1; --s) {
    const int64_t first = even.cut[s][static_cast<size_t>(last)];
    StagePlan& st = plan.stages[s - 1];
    st.worker = workers[s - 1].name;
    st.first_layer = static_cast<int32_t>(first);
    st.last_layer = static_cast<int32_t>(last);
    st.embedding = first == 0;
    st.head = last == n;
    st.flops_per_token = rc.Flops(first, last);
    st.memory_bytes = rc.Bytes(first, last);
    st.seconds_per_token = Seconds(rc, workers[s - 1], first, last);
    last = first;
  }
  double total = 0;
  for (size_t s = 0; s < stages; ++s) {
    total += plan.stages[s].seconds_per_token;
    if (plan.stages[s].seconds_per_token > plan.stages[static_cast<size_t>(plan.bottleneck)].seconds_per_token) {
      plan.bottleneck = static_cast<int32_t>(s);
    }
  }
  const double slowest = plan.stages[static_cast<size_t>(plan.bottleneck)].seconds_per_token;
  for (StagePlan& st : plan.stages) st.relative_cost = slowest > 0 ? st.seconds_per_token / slowest : 1.0;
  plan.pipelined_tokens_per_second = slowest > 0 ? 1.0 / slowest : 0;
  plan.single_sequence_tokens_per_second = total > 0 ? 1.0 / total : 0;

  // Did memory bind? Compare with the split the speeds alone would give.
  std::vector<WorkerCapacity> unlimited = workers;
  for (WorkerCapacity& w : unlimited) w.memory_free_bytes = 0;
  const double free_best = Solve(rc, unlimited, kInf).value[stages][static_cast<size_t>(n)];
  plan.explanation = Explain(plan, rc, cost, workers, free_best < best * (1 - 1e-9));
  return plan;
}

Result<PartitionPlan> Simulate(const ModelCost& cost, const std::vector<double>& gflops) {
  std::vector<WorkerCapacity> workers;
  for (size_t i = 0; i < gflops.size(); ++i) workers.push_back({"sim" + std::to_string(i), gflops[i], 0});
  return PlanPartition(cost, workers);
}

}  // namespace ps::plan
