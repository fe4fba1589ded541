// Test support for the fast GEMM kernels (worker/backend/cpu/kernels/fast_gemm.h): activation
// rows prepared as MatMul lays them out, one kernel call on a slice of a matrix, and the check
// that a product's bits do not depend on the batch or the row split.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "worker/backend/cpu/kernels/fast_gemm.h"

namespace ps::cpu::test {

// n prepared activation rows, 64-byte aligned, at the 64-byte-multiple stride MatMul uses.
class PreparedRows {
 public:
  PreparedRows(const FastGemmKernel& kernel, const std::vector<float>& x, int64_t n, int64_t k)
      : stride_((kernel.prepared_row_bytes(k) + 63) / 64 * 64), bytes_(static_cast<size_t>(n) * stride_ + 64) {
    const auto base = reinterpret_cast<uintptr_t>(bytes_.data());
    start_ = bytes_.data() + (64 - base % 64) % 64;
    for (int64_t i = 0; i < n; ++i) kernel.prepare(x.data() + i * k, start_ + static_cast<size_t>(i) * stride_, k);
  }
  const uint8_t* row(int64_t i) const { return start_ + static_cast<size_t>(i) * stride_; }
  size_t stride() const { return stride_; }

 private:
  size_t stride_;
  std::vector<uint8_t> bytes_;
  uint8_t* start_ = nullptr;
};

// The kernel's load-time copy of a weight matrix (FastGemmKernel::repack), 64-byte aligned as
// RepackedWeights makes it; data() is nullptr when the kernel reads the GGUF rows only. Safe to
// copy: the aligned start is found again in each copy's own bytes.
class KernelCopy {
 public:
  KernelCopy() = default;
  KernelCopy(const FastGemmKernel& kernel, const uint8_t* w, size_t row_bytes, int64_t rows, int64_t k) {
    if (kernel.repack == nullptr) return;
    bytes_.assign(kernel.repacked_bytes(rows, k) + 64, 0);
    kernel.repack(w, row_bytes, rows, k, start());
  }
  const uint8_t* data() const { return bytes_.empty() ? nullptr : const_cast<KernelCopy*>(this)->start(); }

 private:
  uint8_t* start() {
    const auto base = reinterpret_cast<uintptr_t>(bytes_.data());
    return bytes_.data() + (64 - base % 64) % 64;
  }
  std::vector<uint8_t> bytes_;
};

// A weight matrix as the kernels see it: rows of k elements in their stored type.
struct GemmWeights {
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  int64_t rows = 0;
  int64_t k = 0;
  const uint8_t* repacked = nullptr;  // the kernel's load-time copy, if any
};

// y[i * ldy + r] for weight rows [r0, r1) and prepared rows [i0, i0 + n), one kernel call.
inline void RunFastGemm(const FastGemmKernel& kernel, const GemmWeights& w, const PreparedRows& p, int64_t i0,
                        int64_t n, int64_t r0, int64_t r1, float* y, int64_t ldy) {
  FastGemmArgs a;
  a.w = w.data;
  a.w_row_bytes = w.row_bytes;
  a.r0 = r0;
  a.r1 = r1;
  a.act = p.row(i0);
  a.act_stride = p.stride();
  a.n = n;
  a.k = w.k;
  a.y = y;
  a.ldy = ldy;
  a.repacked = w.repacked;
  kernel.gemm(a);
}

// The same (activation row, weight row) pair gives the same bits alone, in a big batch, at any
// place in a batch and in any row range. Needs at least 24 weight rows.
inline void ExpectSameBitsForAnyBatchOrRowSplit(const FastGemmKernel& kernel, const GemmWeights& w,
                                                const PreparedRows& p, int64_t n, const std::string& what) {
  const int64_t rows = w.rows;
  ASSERT_GE(rows, 24) << what;
  std::vector<float> full(n * rows);
  RunFastGemm(kernel, w, p, 0, n, 0, rows, full.data(), rows);

  std::vector<float> other(n * rows, NAN);
  for (int64_t i = 0; i < n; ++i) RunFastGemm(kernel, w, p, i, 1, 0, rows, other.data() + i * rows, rows);
  EXPECT_EQ(std::memcmp(full.data(), other.data(), full.size() * sizeof(float)), 0)
      << what << ": one row at a time differs from the batch";

  std::fill(other.begin(), other.end(), NAN);
  const int64_t cuts[] = {0, 3, 5, 22, 23, rows};
  for (size_t c = 0; c + 1 < std::size(cuts); ++c) {
    RunFastGemm(kernel, w, p, 0, n, cuts[c], cuts[c + 1], other.data(), rows);
  }
  EXPECT_EQ(std::memcmp(full.data(), other.data(), full.size() * sizeof(float)), 0)
      << what << ": odd row splits differ from one call";

  // Batches of 2, 5 and 7 starting at odd rows put each pair in another tile position.
  std::fill(other.begin(), other.end(), NAN);
  for (int64_t i = 0, step = 2; i < n; i += step, step = step == 2 ? 5 : step == 5 ? 7 : 2) {
    const int64_t m = std::min(step, n - i);
    RunFastGemm(kernel, w, p, i, m, 1, rows, other.data() + i * rows, rows);
    RunFastGemm(kernel, w, p, i, m, 0, 1, other.data() + i * rows, rows);
  }
  EXPECT_EQ(std::memcmp(full.data(), other.data(), full.size() * sizeof(float)), 0)
      << what << ": small batches differ from one big batch";
}

// Reading the kernel's load-time copy (w.repacked) gives the bits of reading the GGUF rows, for
// row ranges that start and end inside the copy's row groups. Needs at least 24 weight rows.
inline void ExpectCopyGivesTheRowsBits(const FastGemmKernel& kernel, const GemmWeights& w, const PreparedRows& p,
                                       int64_t n, const std::string& what) {
  const int64_t rows = w.rows;
  ASSERT_GE(rows, 24) << what;
  ASSERT_NE(w.repacked, nullptr) << what;
  GemmWeights in_place = w;
  in_place.repacked = nullptr;
  std::vector<float> from_rows(n * rows), from_copy(n * rows, NAN);
  RunFastGemm(kernel, in_place, p, 0, n, 0, rows, from_rows.data(), rows);
  const int64_t cuts[] = {0, 5, 8, 13, 14, 21, 24, rows};
  for (size_t c = 0; c + 1 < std::size(cuts); ++c) {
    RunFastGemm(kernel, w, p, 0, n, cuts[c], cuts[c + 1], from_copy.data(), rows);
  }
  EXPECT_EQ(std::memcmp(from_rows.data(), from_copy.data(), from_rows.size() * sizeof(float)), 0)
      << what << ": the copy's bits differ from the GGUF rows'";
}

}  // namespace ps::cpu::test
