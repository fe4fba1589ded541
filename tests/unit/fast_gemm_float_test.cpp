// The avx2 float-weight GEMM kernels (kernels/gemm_float_avx2.cpp, contract in fast_gemm.h):
// accuracy against a double-precision dot, bitwise reproducibility across batch sizes, row splits
// and tile positions, IEEE specials, and MatMul at avx2 against reference.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "common/quant/quant.h"
#include "worker/backend/cpu/kernel_level.h"
#include "tests/support/fast_gemm_support.h"
#include "worker/backend/cpu/kernels/fast_gemm.h"
#include "worker/backend/cpu/matmul.h"
#include "worker/backend/cpu/thread_pool.h"

namespace ps::cpu {
namespace {

constexpr GgmlType kTypes[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16};

size_t ElementBytes(GgmlType t) { return t == GgmlType::F32 ? 4 : 2; }

// A rows x k weight matrix in its stored type, and the same values as F32 for the reference.
struct Weights {
  GgmlType type;
  int64_t rows, k;
  std::vector<uint8_t> bytes;
  std::vector<float> values;

  size_t row_bytes() const { return static_cast<size_t>(k) * ElementBytes(type); }
  const uint8_t* row(int64_t r) const { return bytes.data() + static_cast<size_t>(r) * row_bytes(); }

  void Set(int64_t r, int64_t j, float v) {
    uint8_t* p = bytes.data() + static_cast<size_t>(r) * row_bytes() + static_cast<size_t>(j) * ElementBytes(type);
    if (type == GgmlType::F32) {
      std::memcpy(p, &v, 4);
      values[r * k + j] = v;
      return;
    }
    const uint16_t h = type == GgmlType::F16 ? Fp32ToFp16(v) : Fp32ToBf16(v);
    std::memcpy(p, &h, 2);
    values[r * k + j] = type == GgmlType::F16 ? Fp16ToFp32(h) : Bf16ToFp32(h);
  }
};

Weights RandomWeights(GgmlType type, int64_t rows, int64_t k, std::mt19937& rng) {
  Weights w{type, rows, k, std::vector<uint8_t>(static_cast<size_t>(rows * k) * ElementBytes(type)),
            std::vector<float>(rows * k)};
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < k; ++j) w.Set(r, j, dist(rng));
  }
  return w;
}

std::vector<float> RandomActivations(int64_t n, int64_t k, std::mt19937& rng) {
  std::vector<float> x(n * k);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (float& v : x) v = dist(rng);
  return x;
}

using test::PreparedRows;

// Weights w as the kernels see them.
test::GemmWeights View(const Weights& w) { return {w.bytes.data(), w.row_bytes(), w.rows, w.k}; }

// y[i * ldy + r] for r in [r0, r1), prepared rows [i0, i0 + n).
void RunGemm(const FastGemmKernel& kernel, const Weights& w, const PreparedRows& p, int64_t i0, int64_t n, int64_t r0,
             int64_t r1, float* y, int64_t ldy) {
  test::RunFastGemm(kernel, View(w), p, i0, n, r0, r1, y, ldy);
}

const FastGemmKernel& KernelFor(GgmlType type) {
  const FastGemmKernel* kernel = FindFloatGemmAvx2(type);
  EXPECT_NE(kernel, nullptr) << TypeName(type);
  return *kernel;
}

#define SKIP_WITHOUT_AVX2() \
  if (!CpuHasAvx2Fma()) GTEST_SKIP() << "the avx2 float kernels need AVX2, FMA and F16C; this CPU lacks one"

TEST(FastGemmFloatTest, OnlyFloatTypesHaveAKernel) {
  for (GgmlType t : kTypes) EXPECT_NE(FindFloatGemmAvx2(t), nullptr) << TypeName(t);
  EXPECT_EQ(FindFloatGemmAvx2(GgmlType::Q8_0), nullptr);
  EXPECT_EQ(FindFloatGemmAvx2(GgmlType::Q4_K), nullptr);
}

// Each element is k/8 + 1 FMAs into 8 lanes and a 3-step horizontal sum, so its rounding error
// is at most (k/8 + 4) * eps * sum|w x| (float summation bound); a lost or doubled term would
// cost about sum|w x| / k, far more for every k tested.
TEST(FastGemmFloatTest, MatchesADoubleDotForOddShapes) {
  SKIP_WITHOUT_AVX2();
  std::mt19937 rng(7);
  for (GgmlType type : kTypes) {
    const FastGemmKernel& kernel = KernelFor(type);
    for (int64_t k : {1, 7, 8, 33, 1024 + 8}) {
      for (int64_t rows : {1, 5, 16, 37}) {
        const Weights w = RandomWeights(type, rows, k, rng);
        for (int64_t n : {1, 2, 3, 5, 7, 64 + 3}) {
          const std::vector<float> x = RandomActivations(n, k, rng);
          const PreparedRows p(kernel, x, n, k);
          std::vector<float> y(n * rows, NAN);
          RunGemm(kernel, w, p, 0, n, 0, rows, y.data(), rows);
          for (int64_t i = 0; i < n; ++i) {
            for (int64_t r = 0; r < rows; ++r) {
              double want = 0.0, magnitude = 0.0;
              for (int64_t j = 0; j < k; ++j) {
                const double prod = static_cast<double>(w.values[r * k + j]) * x[i * k + j];
                want += prod;
                magnitude += std::fabs(prod);
              }
              const double tol = static_cast<double>(k / 8 + 4) * FLT_EPSILON * magnitude;
              ASSERT_NEAR(y[i * rows + r], want, tol)
                  << TypeName(type) << " k=" << k << " rows=" << rows << " n=" << n << " i=" << i << " r=" << r;
            }
          }
        }
      }
    }
  }
}

// The same (activation row, weight row) pair gives the same bits alone, in a big batch, at any
// place in a batch and in any row range.
TEST(FastGemmFloatTest, ResultsDoNotDependOnBatchOrRowSplit) {
  SKIP_WITHOUT_AVX2();
  std::mt19937 rng(11);
  for (GgmlType type : kTypes) {
    const FastGemmKernel& kernel = KernelFor(type);
    for (int64_t k : {33, 1024 + 8}) {
      const int64_t rows = 37, n = 64 + 3;
      const Weights w = RandomWeights(type, rows, k, rng);
      const std::vector<float> x = RandomActivations(n, k, rng);
      const PreparedRows p(kernel, x, n, k);
      test::ExpectSameBitsForAnyBatchOrRowSplit(kernel, View(w), p, n,
                                                std::string(TypeName(type)) + " k=" + std::to_string(k));
    }
  }
}

// Inf and NaN come out as a plain float dot gives them: Inf * finite is Inf, Inf * 0 and
// Inf - Inf are NaN, NaN spreads; in a whole chunk and in the k % 8 tail alike.
TEST(FastGemmFloatTest, InfAndNanPropagateLikeAPlainDot) {
  SKIP_WITHOUT_AVX2();
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const int64_t k = 33;
  for (GgmlType type : kTypes) {
    const FastGemmKernel& kernel = KernelFor(type);
    for (int64_t pos : {3, 32}) {  // a whole chunk, the tail
      // Rows: +Inf weight; +Inf and -Inf weights; NaN weight; +Inf weight where x is 0; finite.
      const int64_t rows = 5;
      Weights w{type, rows, k, std::vector<uint8_t>(static_cast<size_t>(rows * k) * ElementBytes(type)),
                std::vector<float>(rows * k)};
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < k; ++j) w.Set(r, j, 0.5f);
      }
      w.Set(0, pos, inf);
      w.Set(1, pos, inf);
      w.Set(1, pos == 3 ? 20 : 4, -inf);
      w.Set(2, pos, nan);
      w.Set(3, pos == 3 ? 10 : 31, inf);
      std::vector<float> x(2 * k, 1.0f);
      x[pos == 3 ? 10 : 31] = 0.0f;
      x[k + pos] = nan;  // second activation row: NaN meets the finite row 4
      const PreparedRows p(kernel, x, 2, k);
      std::vector<float> y(2 * rows);
      RunGemm(kernel, w, p, 0, 2, 0, rows, y.data(), rows);
      for (int64_t i = 0; i < 2; ++i) {
        for (int64_t r = 0; r < rows; ++r) {
          float want = 0.0f;
          for (int64_t j = 0; j < k; ++j) want += w.values[r * k + j] * x[i * k + j];
          const float got = y[i * rows + r];
          EXPECT_EQ(std::isnan(got), std::isnan(want)) << TypeName(type) << " pos=" << pos << " i=" << i << " r=" << r;
          if (!std::isnan(want)) {
            EXPECT_EQ(std::isinf(got), std::isinf(want)) << TypeName(type) << " pos=" << pos << " r=" << r;
            if (std::isinf(want)) {
              EXPECT_EQ(got, want) << TypeName(type) << " pos=" << pos << " r=" << r;
            }
          }
        }
      }
    }
  }
}

// MatMul at avx2 runs these kernels; at reference it rounds activations to F16 / BF16 and sums in
// double. The two agree to the activation rounding (2^-9 relative for BF16), and avx2 gives the
// same bits with one thread or two.
TEST(FastGemmFloatTest, MatMulAtAvx2AgreesWithReference) {
  SKIP_WITHOUT_AVX2();
  std::mt19937 rng(3);
  const int64_t rows = 53, k = 256 + 8, n = 9;
  for (GgmlType type : kTypes) {
    const Weights w = RandomWeights(type, rows, k, rng);
    const std::vector<float> x = RandomActivations(n, k, rng);
    WeightMatrix m;
    m.type = type;
    m.data = w.bytes.data();
    m.cols = k;
    m.rows = rows;
    m.row_bytes = w.row_bytes();
    std::vector<float> fast(n * rows), fast1(n * rows), ref(n * rows);
    ThreadPool pool2(2), pool1(1);
    MatMul avx2(2, k, KernelLevel::kAvx2), avx2_one(1, k, KernelLevel::kAvx2), reference(2, k, KernelLevel::kReference);
    for (MatMul* mm : {&avx2, &avx2_one, &reference}) mm->Reserve(n);
    avx2.Multiply(pool2, m, x.data(), n, fast.data());
    avx2_one.Multiply(pool1, m, x.data(), n, fast1.data());
    reference.Multiply(pool2, m, x.data(), n, ref.data());
    EXPECT_EQ(std::memcmp(fast.data(), fast1.data(), fast.size() * sizeof(float)), 0) << TypeName(type);
    const double rel = type == GgmlType::BF16 ? 1.0 / 256 : type == GgmlType::F16 ? 1.0 / 2048 : 1e-5;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t r = 0; r < rows; ++r) {
        double magnitude = 0.0;
        for (int64_t j = 0; j < k; ++j) magnitude += std::fabs(static_cast<double>(w.values[r * k + j]) * x[i * k + j]);
        ASSERT_NEAR(fast[i * rows + r], ref[i * rows + r], rel * magnitude) << TypeName(type) << " i=" << i << " r=" << r;
      }
    }
  }
}

}  // namespace
}  // namespace ps::cpu
