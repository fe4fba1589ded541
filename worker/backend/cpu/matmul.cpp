#include "worker/backend/cpu/matmul.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/quant/q8_activation.h"
#include "common/quant/quant.h"
#include "worker/backend/cpu/ops.h"

namespace ps::cpu {

namespace {

// Bytes of the widest activation row of `cols` elements in any activation format (Q8_0, Q8_1 or
// Q8_K), counting a partial block as whole, rounded up to 32 so every row starts aligned.
size_t ActivationStride(int64_t cols) {
  size_t widest = 0;
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K}) {
    const TypeTraits traits = TraitsOf(t);
    const auto blocks = static_cast<size_t>((cols + traits.block_size - 1) / traits.block_size);
    widest = std::max(widest, blocks * traits.block_bytes);
  }
  return (widest + 31) / 32 * 32;
}

// Weight rows per tile: a tile's rows stay in L1/L2 while every activation row passes over them.
constexpr int64_t kRowTile = 16;

}  // namespace

WeightMatrix WeightMatrix::Of(const gguf::TensorInfo& t) {
  WeightMatrix w;
  w.type = t.type;
  w.data = t.data;
  w.cols = t.ne.empty() ? 0 : t.ne[0];
  w.rows = t.n_rows();
  w.row_bytes = t.row_bytes();
  return w;
}

void RepackedWeights::Add(KernelLevel level, WeightMatrix* w, bool release_source) {
  if (level != KernelLevel::kAvx2) return;
  const FastGemmKernel* kernel = FindFastGemm(w->type);
  const bool repack = kernel != nullptr && kernel->repack != nullptr;
  const size_t rows_bytes = w->row_bytes * static_cast<size_t>(w->rows);
  uint8_t* dst = arena_.Allocate(repack ? kernel->repacked_bytes(w->rows, w->cols) : rows_bytes);
  if (dst == nullptr) return;
  const uint8_t* source = w->data;
  if (repack) {
    kernel->repack(w->data, w->row_bytes, w->rows, w->cols, dst);
    w->repacked = dst;
  } else {
    std::memcpy(dst, w->data, rows_bytes);
    w->data = dst;
  }
  if (release_source) {
    // Whole pages inside the rows only; a failure (a kernel without MADV_PAGEOUT) just keeps them.
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto begin = (reinterpret_cast<uintptr_t>(source) + page - 1) / page * page;
    const auto end = (reinterpret_cast<uintptr_t>(source) + rows_bytes) / page * page;
    if (begin < end) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT);
  }
}

MatMul::MatMul(int threads, int64_t max_cols, KernelLevel level)
    : level_(level),
      max_cols_(max_cols),
      act_stride_(ActivationStride(max_cols)),
      row_scratch_(threads, std::vector<float>(4 * max_cols)) {}

void MatMul::Reserve(int64_t n) {
  if (static_cast<int64_t>(rounded_x_.size()) < n * max_cols_) rounded_x_.resize(n * max_cols_);
  const size_t act_bytes = static_cast<size_t>(n) * act_stride_;
  if (quantized_x_.size() < act_bytes) quantized_x_.resize(act_bytes);
}

void MatMul::Multiply(ThreadPool& pool, const WeightMatrix& w, const float* x, int64_t n, float* y) {
  if (n <= 0) return;
  if (level_ == KernelLevel::kAvx2) {
    if (const FastGemmKernel* kernel = FindFastGemm(w.type)) {
      MultiplyFast(pool, *kernel, w, x, n, y);
      return;
    }
  }
  const std::optional<GgmlType> act_type = ActivationType(w.type);
  if (act_type) {
    MultiplyQuantized(pool, w, *act_type, x, n, y);
  } else {
    MultiplyFloat(pool, w, x, n, y);
  }
}

void MatMul::MultiplyQuantized(ThreadPool& pool, const WeightMatrix& w, GgmlType act_type, const float* x, int64_t n,
                               float* y) {
  const int64_t cols = w.cols;
  uint8_t* qx = quantized_x_.data();
  // The model loader checked that cols is a whole number of the weight's blocks, which for every
  // quantized type is also a whole number of its activation format's blocks.
  pool.ParallelFor(n, [&](int, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      QuantizeActivationRow(act_type, x + i * cols, qx + static_cast<size_t>(i) * act_stride_, cols);
    }
  });
  const QuantizedDotFn dot =
      FindQuantizedDot(w.type, level_ == KernelLevel::kScalar ? DotKernels::kScalar : DotKernels::kFastest);
  pool.ParallelFor(w.rows, [&](int, int64_t r0, int64_t r1) {
    for (int64_t t0 = r0; t0 < r1; t0 += kRowTile) {
      const int64_t t1 = std::min(r1, t0 + kRowTile);
      for (int64_t i = 0; i < n; ++i) {
        const uint8_t* act = qx + static_cast<size_t>(i) * act_stride_;
        for (int64_t r = t0; r < t1; ++r) y[i * w.rows + r] = dot(w.row(r), act, cols);
      }
    }
  });
}

const uint8_t* MatMul::Prepare(ThreadPool& pool, const FastGemmKernel& kernel, int64_t cols, const float* x,
                               int64_t n, size_t* stride) {
  *stride = (kernel.prepared_row_bytes(cols) + 63) / 64 * 64;
  const size_t bytes = static_cast<size_t>(n) * *stride + 64;
  // Grows only when a batch is larger than any before, so steady-state calls allocate nothing.
  if (prepared_.size() < bytes) prepared_.resize(bytes);
  const auto base = reinterpret_cast<uintptr_t>(prepared_.data());
  uint8_t* act = prepared_.data() + ((64 - base % 64) % 64);
  const size_t s = *stride;
  pool.ParallelFor(n, [&](int, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) kernel.prepare(x + i * cols, act + static_cast<size_t>(i) * s, cols);
  });
  return act;
}

namespace {

// Runs kernel.gemm over row groups [g0, g1) of the concatenation of the products' matrices, each
// matrix's rows cut into groups of kRowTile (so no tile straddles two matrices).
void GemmGroups(const FastGemmKernel& kernel, std::initializer_list<MatMul::Product> products, const uint8_t* act,
                size_t stride, int64_t n, int64_t g0, int64_t g1) {
  int64_t first = 0;  // first group of the current matrix
  for (const MatMul::Product& p : products) {
    const int64_t groups = (p.w->rows + kRowTile - 1) / kRowTile;
    const int64_t lo = std::max(g0, first), hi = std::min(g1, first + groups);
    if (lo < hi) {
      FastGemmArgs a;
      a.w = p.w->data;
      a.w_row_bytes = p.w->row_bytes;
      a.r0 = (lo - first) * kRowTile;
      a.r1 = std::min(p.w->rows, (hi - first) * kRowTile);
      a.act = act;
      a.act_stride = stride;
      a.n = n;
      a.k = p.w->cols;
      a.y = p.y;
      a.ldy = p.w->rows;
      a.repacked = p.w->repacked;
      kernel.gemm(a);
    }
    first += groups;
  }
}

}  // namespace

void MatMul::MultiplyFast(ThreadPool& pool, const FastGemmKernel& kernel, const WeightMatrix& w, const float* x,
                          int64_t n, float* y) {
  size_t stride = 0;
  const uint8_t* act = Prepare(pool, kernel, w.cols, x, n, &stride);
  const std::initializer_list<Product> one = {Product{&w, y}};
  // Rows go to threads in groups of kRowTile so that tiles rarely straddle two threads.
  pool.ParallelFor((w.rows + kRowTile - 1) / kRowTile,
                   [&](int, int64_t g0, int64_t g1) { GemmGroups(kernel, one, act, stride, n, g0, g1); });
}

void MatMul::MultiplyShared(ThreadPool& pool, std::initializer_list<Product> products, const float* x, int64_t n) {
  if (n <= 0 || products.size() == 0) return;
  const WeightMatrix& w0 = *products.begin()->w;
  const FastGemmKernel* kernel = level_ == KernelLevel::kAvx2 ? FindFastGemm(w0.type) : nullptr;
  bool shared = kernel != nullptr;
  int64_t groups = 0;
  for (const Product& p : products) {
    shared = shared && p.w->type == w0.type && p.w->cols == w0.cols;
    groups += (p.w->rows + kRowTile - 1) / kRowTile;
  }
  if (!shared) {
    for (const Product& p : products) Multiply(pool, *p.w, x, n, p.y);
    return;
  }
  size_t stride = 0;
  const uint8_t* act = Prepare(pool, *kernel, w0.cols, x, n, &stride);
  pool.ParallelFor(groups, [&](int, int64_t g0, int64_t g1) { GemmGroups(*kernel, products, act, stride, n, g0, g1); });
}

void MatMul::MultiplyFloat(ThreadPool& pool, const WeightMatrix& w, const float* x, int64_t n, float* y) {
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
