#include "worker/backend/cpu/kernel_probe.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "common/quant/quant.h"
#include "worker/backend/cpu/attention.h"
#include "worker/backend/cpu/kv_cache.h"
#include "worker/backend/cpu/ops.h"
#include "worker/backend/cpu/thread_pool.h"

namespace ps::cpu {

namespace {
constexpr int64_t kDistinctRows = 256;
}  // namespace

Result<std::unique_ptr<ProbeMatrix>> ProbeMatrix::Random(GgmlType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  if (!TraitsOf(type).supported) return Status::InvalidArgument(std::string(TypeName(type)) + " is not a supported weight type");
  auto row_bytes = RowBytes(type, cols);
  if (!row_bytes.ok()) return row_bytes.status();
  std::unique_ptr<ProbeMatrix> m(new ProbeMatrix());
  m->bytes_.resize(*row_bytes * static_cast<size_t>(rows));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> row(static_cast<size_t>(cols));
  // Quantizing is far slower than the products timed: a few hundred distinct rows, repeated,
  // fill a matrix of any size (the kernels' speed does not depend on the values).
  const int64_t distinct = std::min<int64_t>(rows, kDistinctRows);
  for (int64_t r = 0; r < distinct; ++r) {
    for (float& v : row) v = dist(rng);
    QuantizeRow(type, row.data(), m->bytes_.data() + static_cast<size_t>(r) * *row_bytes, cols);
  }
  for (int64_t r = distinct; r < rows; ++r) {
    std::memcpy(m->bytes_.data() + static_cast<size_t>(r) * *row_bytes,
                m->bytes_.data() + static_cast<size_t>(r % distinct) * *row_bytes, *row_bytes);
  }
  m->view_.type = type;
  m->view_.data = m->bytes_.data();
  m->view_.cols = cols;
  m->view_.rows = rows;
  m->view_.row_bytes = *row_bytes;
  m->fast_view_ = m->view_;
  m->repacked_.Add(KernelLevel::kAvx2, &m->fast_view_);
  return m;
}

namespace {

// The median (or fastest) seconds per call of `step` over timing.runs runs of at least min_ms.
template <typename Step>
double TimeCalls(const ProbeTiming& timing, Step step) {
  using Clock = std::chrono::steady_clock;
  step();  // warm-up
  std::vector<double> per_call;
  for (int run = 0; run < std::max(1, timing.runs); ++run) {
    int reps = 0;
    const auto start = Clock::now();
    double elapsed_ms = 0.0;
    do {
      step();
      ++reps;
      elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    } while (elapsed_ms < timing.min_ms);
    per_call.push_back(elapsed_ms / 1e3 / reps);
  }
  std::sort(per_call.begin(), per_call.end());
  return timing.best ? per_call.front() : per_call[per_call.size() / 2];
}

}  // namespace

double TimeAttention(KernelLevel level, int threads, int64_t n_head, int64_t n_head_kv, int64_t head_dim,
                     int32_t first_pos, int64_t rows, const ProbeTiming& timing) {
  const int64_t e = n_head * head_dim, ekv = n_head_kv * head_dim;
  const int32_t n_ctx = first_pos + static_cast<int32_t>(rows);
  KvCache cache(1, n_ctx, ekv, 1, /*f16=*/true, level);
  if (!cache.Reserve(0).ok()) return 0;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> k(static_cast<size_t>(ekv)), v(static_cast<size_t>(ekv));
  for (int32_t pos = 0; pos < n_ctx; ++pos) {
    for (float& x : k) x = normal(rng);
    for (float& x : v) x = normal(rng);
    cache.Store(0, 0, pos, k.data(), v.data());
  }
  cache.Commit(0, n_ctx);
  std::vector<float> q(static_cast<size_t>(rows * e)), out(q.size());
  for (float& x : q) x = normal(rng);
  std::vector<int32_t> seqs(static_cast<size_t>(rows), 0), positions(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) positions[static_cast<size_t>(i)] = first_pos + static_cast<int32_t>(i);
  std::vector<uint8_t> half(static_cast<size_t>(rows), rows < kF32AttentionMinTokens ? 1 : 0);
  ThreadPool pool(threads);
  Attention attention(threads, {n_head, n_head_kv, head_dim}, level);
  return TimeCalls(timing, [&] {
    attention.Run(pool, cache, 0, q.data(), seqs.data(), positions.data(), half.data(), rows, out.data());
  });
}

double TimeRowOps(KernelLevel level, int64_t n_embd, int64_t n_head, int64_t n_head_kv, int64_t n_ff,
                  const ProbeTiming& timing) {
  constexpr int64_t kRows = 64;
  const int64_t head_dim = n_embd / n_head, ekv = n_head_kv * head_dim;
  const RowKernels& ops = RowKernelsFor(level);
  const RopeTable rope(head_dim, head_dim, 10000.0f, {});
  std::vector<float> cs(static_cast<size_t>(head_dim));
  rope.Angles(100, cs.data());
  KvCache cache(1, kRows, ekv, 1, /*f16=*/true, level);
  if (!cache.Reserve(0).ok()) return 0;
  std::vector<float> x(static_cast<size_t>(kRows * n_embd), 0.5f), add(x.size(), 0.25f), h(x.size());
  std::vector<float> weight(static_cast<size_t>(n_embd), 1.0f), q(x.size(), 0.1f);
  std::vector<float> k(static_cast<size_t>(kRows * ekv), 0.1f), v(k.size(), 0.2f);
  std::vector<float> gate(static_cast<size_t>(kRows * n_ff), 0.3f), up(gate.size(), 0.7f);
  const double per_call = TimeCalls(timing, [&] {
    for (int64_t i = 0; i < kRows; ++i) {
      ops.add_rms_norm(&x[i * n_embd], &add[i * n_embd], weight.data(), n_embd, 1e-5f, &h[i * n_embd]);
      ops.rope_rotate(&q[i * n_embd], n_head, head_dim, head_dim, cs.data());
      ops.rope_rotate(&k[i * ekv], n_head_kv, head_dim, head_dim, cs.data());
      cache.Store(0, 0, static_cast<int32_t>(i), &k[i * ekv], &v[i * ekv]);
      ops.add_rms_norm(&x[i * n_embd], &add[i * n_embd], weight.data(), n_embd, 1e-5f, &h[i * n_embd]);
      ops.swiglu(&gate[i * n_ff], &up[i * n_ff], n_ff, &gate[i * n_ff]);
    }
  });
  return per_call / kRows;
}

double TimeProduct(KernelLevel level, int threads, const WeightMatrix& w, const float* x, int64_t n, float* y,
                   const ProbeTiming& timing) {
  ThreadPool pool(threads);
  MatMul mm(threads, w.cols, level);
  mm.Reserve(n);
  return TimeCalls(timing, [&] { mm.Multiply(pool, w, x, n, y); });
}

double TimeProductChain(KernelLevel level, int threads, const std::vector<const WeightMatrix*>& chain, const float* x,
                        int64_t n, float* y, const ProbeTiming& timing) {
  if (chain.empty()) return 0;
  ThreadPool pool(threads);
  MatMul mm(threads, chain.front()->cols, level);
  mm.Reserve(n);
  return TimeCalls(timing, [&] {
    for (const WeightMatrix* w : chain) mm.Multiply(pool, *w, x, n, y);
  });
}

}  // namespace ps::cpu
