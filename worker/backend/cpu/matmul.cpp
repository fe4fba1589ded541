#include "worker/backend/cpu/matmul.h"

#include "common/quant/quant.h"
#include "worker/backend/cpu/ops.h"

namespace ps::cpu {

WeightMatrix WeightMatrix::Of(const gguf::TensorInfo& t) {
  WeightMatrix w;
  w.type = t.type;
  w.data = t.data;
  w.cols = t.ne.empty() ? 0 : t.ne[0];
  w.rows = t.n_rows();
  w.row_bytes = t.row_bytes();
  return w;
}

MatMul::MatMul(int threads, int64_t max_cols)
    : max_cols_(max_cols), row_scratch_(threads, std::vector<float>(4 * max_cols)) {}

void MatMul::Reserve(int64_t n) {
  if (static_cast<int64_t>(rounded_x_.size()) < n * max_cols_) rounded_x_.resize(n * max_cols_);
}

void MatMul::Multiply(ThreadPool& pool, const WeightMatrix& w, const float* x, int64_t n, float* y) {
  const int64_t cols = w.cols;
  const float* xs = x;
  if (w.type == GgmlType::F16 || w.type == GgmlType::BF16) {
    if (w.type == GgmlType::F16) {
      RoundToF16(x, rounded_x_.data(), n * cols);
    } else {
      RoundToBf16(x, rounded_x_.data(), n * cols);
    }
    xs = rounded_x_.data();
  }
  // Weight rows go in blocks of four, so each activation row is read once per block; Dot4F32
  // rounds exactly as DotF32 does, so the blocking never shows in the results.
  pool.ParallelFor(w.rows, [&](int thread, int64_t r0, int64_t r1) {
    float* deq = row_scratch_[thread].data();
    const float* rows[4];
    float out[4];
    for (int64_t r = r0; r < r1; r += 4) {
      const int block = static_cast<int>(r1 - r < 4 ? r1 - r : 4);
      for (int j = 0; j < 4; ++j) {
        const int64_t rj = r + (j < block ? j : 0);  // a short block repeats its first row
        if (w.type == GgmlType::F32) {
          rows[j] = reinterpret_cast<const float*>(w.row(rj));
        } else {
          if (j < block) DequantizeRow(w.type, w.row(rj), deq + j * cols, cols);
          rows[j] = deq + (j < block ? j : 0) * cols;
        }
      }
      for (int64_t i = 0; i < n; ++i) {
        Dot4F32(rows, xs + i * cols, cols, out);
        for (int j = 0; j < block; ++j) y[i * w.rows + r + j] = out[j];
      }
    }
  });
}

}  // namespace ps::cpu
