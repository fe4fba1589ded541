// Matrix products against weights in their stored type: y[n, rows] = x[n, cols] · W^T, where W is
// a GGUF matrix of `rows` rows of `cols` elements (ne = [cols, rows]). Work is split by weight
// rows over the pool; quantized weight rows are dequantized once, four at a time, into per-thread
// scratch and dotted with every batch row, so each output element is computed the same way whatever the
// batch size, batch composition or thread count.
// Thread-safety: a MatMul owns scratch; one call at a time per instance.
#pragma once

#include <cstdint>
#include <vector>

#include "common/gguf/gguf_file.h"
#include "common/quant/ggml_type.h"
#include "worker/backend/cpu/thread_pool.h"

namespace ps::cpu {

// A weight matrix viewed in place in the mapped file.
struct WeightMatrix {
  GgmlType type = GgmlType::F32;
  const uint8_t* data = nullptr;
  int64_t cols = 0;      // elements per row (ne[0]): the input width
  int64_t rows = 0;      // number of rows (ne[1]): the output width
  size_t row_bytes = 0;

  static WeightMatrix Of(const gguf::TensorInfo& t);
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
};

class MatMul {
 public:
  // max_cols: the widest input of any matrix this instance will multiply.
  MatMul(int threads, int64_t max_cols);

  // y[i * w.rows + r] = dot(W row r, x[i * w.cols ...]) for i < n. x and y must not overlap.
  // F16 / BF16 weights see x rounded to F16 / BF16 first, as llama.cpp converts activations to
  // the weight's dot type; other types see x unchanged. Needs n * w.cols <= Reserve()d size.
  void Multiply(ThreadPool& pool, const WeightMatrix& w, const float* x, int64_t n, float* y);

  // Grows the activation-rounding buffer to hold n rows of max_cols; call outside hot loops.
  void Reserve(int64_t n);

 private:
  int64_t max_cols_;
  std::vector<std::vector<float>> row_scratch_;  // [threads][4 * max_cols]: dequantized rows
  std::vector<float> rounded_x_;                 // [n, max_cols]: x in the weight's dot type
};

}  // namespace ps::cpu
