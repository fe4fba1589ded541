// pipeshard-gemm-bench: one weight matrix product, fast kernel (KernelLevel::kAvx2) against the
// reference path (KernelLevel::kReference), through MatMul exactly as the CPU backend runs it
// (activation preparation included), single-threaded and with --threads threads.
//   decode:  n = 1 activation row over a --rows x --cols matrix; reports GB/s of weights read
//            (make the matrix larger than the last-level cache to see memory bandwidth);
//   prefill: n = --batch rows over a --prefill-rows x --cols matrix; reports GOPS (2 ops per
//            multiply-add).
// Each figure is the median (with --best: the fastest) of --runs runs, each run repeating the
// product for at least --min-ms milliseconds. Random weights (quantized from uniform floats) and
// activations.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/quant/ggml_type.h"
#include "common/quant/quant.h"
#include "worker/backend/cpu/kernel_level.h"
#include "worker/backend/cpu/matmul.h"
#include "worker/backend/cpu/thread_pool.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Matrix {
  std::vector<uint8_t> bytes;
  ps::cpu::WeightMatrix view;         // the GGUF rows (the reference level reads these)
  ps::cpu::WeightMatrix fast_view;    // plus the fast kernel's load-time copy, as CpuBackend has it
  ps::cpu::RepackedWeights repacked;  // owns that copy
};

void FillRandom(Matrix& m, ps::GgmlType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  const size_t row_bytes = *ps::RowBytes(type, cols);
  m.bytes.resize(row_bytes * static_cast<size_t>(rows));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = dist(rng);
    ps::QuantizeRow(type, row.data(), m.bytes.data() + static_cast<size_t>(r) * row_bytes, cols);
  }
  m.view.type = type;
  m.view.data = m.bytes.data();
  m.view.cols = cols;
  m.view.rows = rows;
  m.view.row_bytes = row_bytes;
  m.fast_view = m.view;
  m.repacked.Add(ps::cpu::KernelLevel::kAvx2, &m.fast_view);
}

// Seconds per product over `runs` runs: the median, or the fastest run with `best` (on a shared
// machine other tenants only ever add time, so the fastest run is the steadiest figure for
// comparing two builds of a kernel).
double TimeProduct(ps::cpu::KernelLevel level, int threads, const ps::cpu::WeightMatrix& w, const float* x,
                   int64_t n, float* y, int runs, double min_ms, bool best) {
  ps::cpu::ThreadPool pool(threads);
  ps::cpu::MatMul mm(threads, w.cols, level);
  mm.Reserve(n);
  mm.Multiply(pool, w, x, n, y);  // warm-up: caches, page faults
  std::vector<double> per_product;
  for (int run = 0; run < runs; ++run) {
    int reps = 0;
    const auto start = Clock::now();
    double elapsed_ms = 0.0;
    do {
      mm.Multiply(pool, w, x, n, y);
      ++reps;
      elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    } while (elapsed_ms < min_ms);
    per_product.push_back(elapsed_ms / 1e3 / reps);
  }
  std::sort(per_product.begin(), per_product.end());
  return best ? per_product.front() : per_product[per_product.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pipeshard-gemm-bench: fast vs reference CPU matrix product for one weight type"};
  std::string type_name = "q8_0";
  int64_t rows = 16384;
  int64_t prefill_rows = 4096;
  int64_t cols = 4096;
  int64_t batch = 512;
  int threads = 2;
  int runs = 5;
  double min_ms = 200.0;
  bool skip_reference = false;
  bool best = false;
  app.add_option("--type", type_name, "weight type (q8_0, q4_0, q5_0, ...)");
  app.add_option("--rows", rows, "weight rows of the decode matrix")->check(CLI::PositiveNumber);
  app.add_option("--prefill-rows", prefill_rows, "weight rows of the prefill matrix")->check(CLI::PositiveNumber);
  app.add_option("--cols", cols, "elements per weight row")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "activation rows of the prefill product")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "threads of the multi-threaded figures")->check(CLI::Range(1, 256));
  app.add_option("--runs", runs, "runs per figure (the median, or with --best the fastest, is reported)")->check(CLI::Range(1, 1000));
  app.add_option("--min-ms", min_ms, "minimum milliseconds per run")->check(CLI::PositiveNumber);
  app.add_flag("--skip-reference", skip_reference, "time only the fast kernel");
  app.add_flag("--best", best, "report the fastest run instead of the median");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  const std::optional<ps::GgmlType> type = ps::ParseTypeName(type_name);
  if (!type || !ps::TraitsOf(*type).supported) {
    std::fprintf(stderr, "pipeshard-gemm-bench: --type %s is not a supported weight type\n", type_name.c_str());
    return 2;
  }
  if (cols % ps::TraitsOf(*type).block_size != 0) {
    std::fprintf(stderr, "pipeshard-gemm-bench: --cols %lld is not a multiple of %s's block size %lld\n",
                 static_cast<long long>(cols), type_name.c_str(), static_cast<long long>(ps::TraitsOf(*type).block_size));
    return 2;
  }
  if (!ps::cpu::CpuHasAvx2Fma()) {
    std::fprintf(stderr, "pipeshard-gemm-bench: this CPU lacks AVX2/FMA/F16C, there is no fast kernel to time\n");
    return 1;
  }
  if (ps::cpu::FindFastGemm(*type) == nullptr) {
    std::fprintf(stderr, "pipeshard-gemm-bench: %s has no fast kernel; the avx2 figures time the reference path\n",
                 type_name.c_str());
  }

  std::mt19937 rng(7);
  Matrix decode_w, prefill_w;
  FillRandom(decode_w, *type, rows, cols, rng);
  FillRandom(prefill_w, *type, prefill_rows, cols, rng);
  std::vector<float> x(static_cast<size_t>(batch * cols));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);
  std::vector<float> y(static_cast<size_t>(batch * std::max(rows, prefill_rows)));

  const double decode_gb = static_cast<double>(decode_w.bytes.size()) / 1e9;
  const double prefill_gop = 2.0 * static_cast<double>(prefill_rows * cols) * static_cast<double>(batch) / 1e9;
  std::printf("%s: decode %lld x %lld (%.1f MB), prefill %lld x %lld x batch %lld; %s of %d runs\n",
              type_name.c_str(), static_cast<long long>(rows), static_cast<long long>(cols), decode_gb * 1e3,
              static_cast<long long>(prefill_rows), static_cast<long long>(cols), static_cast<long long>(batch),
              best ? "fastest" : "median", runs);
  std::printf("%-10s %7s %14s %14s\n", "kernels", "threads", "decode GB/s", "prefill GOPS");
  std::vector<ps::cpu::KernelLevel> levels = {ps::cpu::KernelLevel::kAvx2};
  if (!skip_reference) levels.push_back(ps::cpu::KernelLevel::kReference);
  for (ps::cpu::KernelLevel level : levels) {
    for (int t : {1, threads}) {
      const bool fast = level == ps::cpu::KernelLevel::kAvx2;
      const double decode_s =
          TimeProduct(level, t, fast ? decode_w.fast_view : decode_w.view, x.data(), 1, y.data(), runs, min_ms,
                      best);
      const double prefill_s =
          TimeProduct(level, t, fast ? prefill_w.fast_view : prefill_w.view, x.data(), batch, y.data(), runs,
                      min_ms, best);
      std::printf("%-10s %7d %14.2f %14.2f\n", ps::cpu::KernelLevelName(level), t, decode_gb / decode_s,
                  prefill_gop / prefill_s);
      if (threads == 1) break;
    }
  }
  return 0;
}
