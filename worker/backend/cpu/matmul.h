// Matrix products against weights in their stored type: y[n, rows] = x[n, cols] · W^T, where W is
// a GGUF matrix of `rows` rows of `cols` elements (ne = [cols, rows]). Work is split by weight
// rows over the pool. Numerics follow llama.cpp's CPU backend, whose roundings decide its tokens:
//   - quantized weights: each activation row is first quantized to the weight type's 8-bit
//     activation format, then every (activation row, weight row) pair is an integer block dot
//     product scaled in float (common/quant/q8_activation.h);
//   - F16 / BF16 weights: activations are rounded to F16 / BF16 and the dot runs in F32;
//   - F32 weights: a plain F32 dot.
// Each output element is computed by one kernel call on one activation row and one weight row,
// so results are the same whatever the batch size, batch composition or thread count.
// At KernelLevel::kAvx2 the types with a fast kernel (kernels/fast_gemm.h) run it instead: other
// roundings, the same reproducibility.
// Thread-safety: a MatMul owns scratch; one call at a time per instance.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "common/gguf/gguf_file.h"
#include "common/quant/ggml_type.h"
#include "worker/backend/cpu/huge_page_arena.h"
#include "worker/backend/cpu/kernel_level.h"
#include "worker/backend/cpu/kernels/fast_gemm.h"
#include "worker/backend/cpu/thread_pool.h"

namespace ps::cpu {

// A weight matrix viewed in place in the mapped file.
struct WeightMatrix {
  GgmlType type = GgmlType::F32;
  const uint8_t* data = nullptr;
  int64_t cols = 0;      // elements per row (ne[0]): the input width
  int64_t rows = 0;      // number of rows (ne[1]): the output width
  size_t row_bytes = 0;
  // The fast kernel's load-time copy (FastGemmKernel::repack), or nullptr; see RepackedWeights.
  const uint8_t* repacked = nullptr;

  static WeightMatrix Of(const gguf::TensorInfo& t);
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
};

// Owns the load-time copies of weight matrices at KernelLevel::kAvx2, in huge pages
// (huge_page_arena.h): a matrix whose fast kernel reads a repacked layout gets that layout (its
// `repacked` points at it); any other matrix gets a plain copy of its rows (its `data` points at
// it). Either way the decode stream reads huge pages instead of the model file's 4 KiB pages.
// Thread-safety: Add before any product runs; the copies are immutable afterwards.
class RepackedWeights {
 public:
  // Copies w as above when level is kAvx2; else leaves it. When the system refuses the memory,
  // w is left as it was (the kernels read the rows in place).
  // release_source: w's rows lie in a read-only file mapping (the model file), so once copied
  // their pages are handed back to the kernel (MADV_PAGEOUT: contents never change, a later read
  // faults them in again). The kernels read only the copy from then on, so the copy takes the
  // place of the rows in memory instead of adding to it.
  void Add(KernelLevel level, WeightMatrix* w, bool release_source = false);
  size_t bytes() const { return arena_.allocated(); }

 private:
  HugePageArena arena_;
};

class MatMul {
 public:
  // max_cols: the widest input of any matrix this instance will multiply. level: a resolved
  // level (not kAuto).
  MatMul(int threads, int64_t max_cols, KernelLevel level);

  // y[i * w.rows + r] = dot(W row r, x[i * w.cols ...]) for i < n, with llama.cpp's numerics for
  // w.type (see above). x and y must not overlap. Needs n <= the last Reserve(n).
  void Multiply(ThreadPool& pool, const WeightMatrix& w, const float* x, int64_t n, float* y);

  // One product of a MultiplyShared call: y[i * w->rows + r] as Multiply computes it.
  struct Product {
    const WeightMatrix* w;
    float* y;
  };
  // Several products of the same input x (q/k/v, gate/up), with the same results as one Multiply
  // each. When every matrix has the same type and width and a fast kernel, x is prepared once and
  // all their rows are split over the threads in one parallel pass: one barrier instead of
  // several, and even work for small matrices such as k and v.
  void MultiplyShared(ThreadPool& pool, std::initializer_list<Product> products, const float* x, int64_t n);

  // Grows the activation buffers to hold n rows of max_cols; call outside hot loops.
  void Reserve(int64_t n);

 private:
  void MultiplyQuantized(ThreadPool& pool, const WeightMatrix& w, GgmlType act_type, const float* x, int64_t n,
                         float* y);
  // Prepares n rows of x for `kernel` into prepared_; returns the first row and sets *stride.
  const uint8_t* Prepare(ThreadPool& pool, const FastGemmKernel& kernel, int64_t cols, const float* x, int64_t n,
                         size_t* stride);
  void MultiplyFast(ThreadPool& pool, const FastGemmKernel& kernel, const WeightMatrix& w, const float* x,
                    int64_t n, float* y);
  void MultiplyFloat(ThreadPool& pool, const WeightMatrix& w, const float* x, int64_t n, float* y);

  KernelLevel level_;
  int64_t max_cols_;
  size_t act_stride_;                            // bytes between quantized activation rows
  std::vector<std::vector<float>> row_scratch_;  // [threads][4 * max_cols]: F16/BF16 rows as F32
  std::vector<float> rounded_x_;                 // [n, max_cols]: x rounded to F16 / BF16
  std::vector<uint8_t> quantized_x_;             // [n, act_stride_]: x in the activation format
  std::vector<uint8_t> prepared_;                // fast kernels' prepared rows (+ 64 for alignment)
};

}  // namespace ps::cpu
