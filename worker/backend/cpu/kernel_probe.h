// Timing one weight-matrix product exactly as the CPU backend runs it (load-time repacking,
// activation preparation, the thread pool): for pipeshard-gemm-bench and for `pipeshard bench
// --profile`, which turns the rates into a device profile of this host.
// Thread-safety: a ProbeMatrix is immutable after Random(); TimeProduct owns its pool and buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "common/quant/ggml_type.h"
#include "common/util/status.h"
#include "worker/backend/cpu/kernel_level.h"
#include "worker/backend/cpu/matmul.h"

namespace ps::cpu {

// A rows x cols matrix of random weights (uniform floats quantized to `type`), with the rows as
// the GGUF file holds them and the fast kernel's repacked copy.
class ProbeMatrix {
 public:
  // InvalidArgument when cols is not a whole number of `type`'s blocks or the type is unsupported.
  static Result<std::unique_ptr<ProbeMatrix>> Random(GgmlType type, int64_t rows, int64_t cols, std::mt19937& rng);
  // The view a kernel level reads: kAvx2 the repacked copy, kReference the file's rows.
  const WeightMatrix& View(KernelLevel level) const { return level == KernelLevel::kAvx2 ? fast_view_ : view_; }
  size_t bytes() const { return bytes_.size(); }

 private:
  ProbeMatrix() = default;
  std::vector<uint8_t> bytes_;
  WeightMatrix view_;
  WeightMatrix fast_view_;
  RepackedWeights repacked_;
};

struct ProbeTiming {
  int runs = 5;
  double min_ms = 200;  // each run repeats the product for at least this long
  bool best = false;    // the fastest run instead of the median
};

// Seconds per product of `n` activation rows `x` (n x w.cols) into `y` (n x w.rows), after one
// warm-up product.
double TimeProduct(KernelLevel level, int threads, const WeightMatrix& w, const float* x, int64_t n, float* y,
                   const ProbeTiming& timing);

// Seconds per pass of `n` rows through every matrix of `chain` in turn, as a model's layers
// pass them: each product starts cold, so the per-product costs a model pays are in the figure.
double TimeProductChain(KernelLevel level, int threads, const std::vector<const WeightMatrix*>& chain, const float* x,
                        int64_t n, float* y, const ProbeTiming& timing);

// Seconds per call of the attention kernel for `rows` rows of one sequence at positions
// first_pos .. first_pos + rows - 1 over an F16 cache (a prompt chunk; rows = 1 is a decode step).
double TimeAttention(KernelLevel level, int threads, int64_t n_head, int64_t n_head_kv, int64_t head_dim,
                     int32_t first_pos, int64_t rows, const ProbeTiming& timing);

// Seconds per row of a block's element-wise work outside the products and attention: two
// residual adds with RMS norms over n_embd, RoPE over the query and key heads, the K/V rows into
// an F16 cache, SwiGLU over n_ff.
double TimeRowOps(KernelLevel level, int64_t n_embd, int64_t n_head, int64_t n_head_kv, int64_t n_ff,
                  const ProbeTiming& timing);

}  // namespace ps::cpu
