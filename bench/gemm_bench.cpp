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
#include "worker/backend/cpu/kernel_level.h"
#include "worker/backend/cpu/kernel_probe.h"

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
  auto decode_w = ps::cpu::ProbeMatrix::Random(*type, rows, cols, rng);
  auto prefill_w = ps::cpu::ProbeMatrix::Random(*type, prefill_rows, cols, rng);
  if (!decode_w.ok() || !prefill_w.ok()) {
    std::fprintf(stderr, "pipeshard-gemm-bench: %s\n", (decode_w.ok() ? prefill_w.status() : decode_w.status()).ToString().c_str());
    return 2;
  }
  std::vector<float> x(static_cast<size_t>(batch * cols));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : x) v = normal(rng);
  std::vector<float> y(static_cast<size_t>(batch * std::max(rows, prefill_rows)));

  const double decode_gb = static_cast<double>((*decode_w)->bytes()) / 1e9;
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
      const ps::cpu::ProbeTiming timing{runs, min_ms, best};
      const double decode_s = ps::cpu::TimeProduct(level, t, (*decode_w)->View(level), x.data(), 1, y.data(), timing);
      const double prefill_s =
          ps::cpu::TimeProduct(level, t, (*prefill_w)->View(level), x.data(), batch, y.data(), timing);
      std::printf("%-10s %7d %14.2f %14.2f\n", ps::cpu::KernelLevelName(level), t, decode_gb / decode_s,
                  prefill_gop / prefill_s);
      if (threads == 1) break;
    }
  }
  return 0;
}
