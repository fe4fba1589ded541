#include "worker/service/calibration.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "worker/backend/cpu/matmul.h"
#include "worker/backend/cpu/thread_pool.h"

namespace ps {

double MeasureMatmulGflops(int threads) {
  // Big enough to leave the caches (4 MiB of weights), small enough to take ~0.2 s in all.
  constexpr int64_t kCols = 1024, kRows = 1024, kBatch = 32;
  constexpr int kRepeats = 5;
  std::vector<float> weights(static_cast<size_t>(kCols * kRows));
  std::vector<float> x(static_cast<size_t>(kCols * kBatch));
  std::vector<float> y(static_cast<size_t>(kRows * kBatch));
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<float>(i % 97) * 0.01f - 0.5f;
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 89) * 0.01f - 0.4f;

  cpu::WeightMatrix w;
  w.type = GgmlType::F32;
  w.data = reinterpret_cast<const uint8_t*>(weights.data());
  w.cols = kCols;
  w.rows = kRows;
  w.row_bytes = static_cast<size_t>(kCols) * sizeof(float);
  cpu::ThreadPool pool(std::max(1, threads));
  // The level the worker's backend will run (an invalid PIPESHARD_CPU_KERNELS fails the load
  // later, with its own error; calibration then measures the reference kernels).
  const Result<cpu::KernelLevel> level = cpu::ResolveKernelLevel(cpu::KernelLevel::kAuto);
  cpu::MatMul matmul(pool.threads(), kCols, level.ok() ? *level : cpu::KernelLevel::kReference);
  matmul.Reserve(kBatch);
  matmul.Multiply(pool, w, x.data(), kBatch, y.data());  // warm-up: page in, spin up threads

  double best = 1e30;
  for (int r = 0; r < kRepeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    matmul.Multiply(pool, w, x.data(), kBatch, y.data());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  const double flops = 2.0 * static_cast<double>(kCols * kRows * kBatch);
  return flops / std::max(best, 1e-9) / 1e9;
}

}  // namespace ps
