// The avx2 k-quant GEMM kernels (kernels/gemm_scale_min_k_avx2.cpp and gemm_q6_k_avx2.cpp,
// contract in fast_gemm.h) and their
// prepared activations (kernels/kquant_act_avx2.h): accuracy against a double-precision product of
// the dequantized weights and the dequantized prepared activations, closeness to the float product
// within the activation quantization error, bitwise reproducibility across batch sizes, row splits
// and tile positions, zero / tiny / huge / non-finite activation rows, and MatMul at avx2.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "common/quant/blocks.h"
#include "common/quant/quant.h"
#include "worker/backend/cpu/kernel_level.h"
#include "tests/support/fast_gemm_support.h"
#include "worker/backend/cpu/kernels/fast_gemm.h"
#include "worker/backend/cpu/kernels/kquant_act_avx2.h"
#include "worker/backend/cpu/matmul.h"
#include "worker/backend/cpu/thread_pool.h"

namespace ps::cpu {
namespace {

constexpr GgmlType kTypes[] = {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

size_t BlockBytes(GgmlType t) {
  return t == GgmlType::Q4_K ? sizeof(block_q4_K) : t == GgmlType::Q5_K ? sizeof(block_q5_K) : sizeof(block_q6_K);
}

// A rows x k weight matrix in its stored type, its dequantized values, and per element the
// magnitude of the offset part (the q4_K / q5_K min, the q6_K -32 * scale) that the kernels
// subtract separately: errors scale with |scaled q| + |offset|, not with their difference.
struct Weights {
  GgmlType type;
  int64_t rows, k;
  std::vector<uint8_t> bytes;
  std::vector<float> values;
  std::vector<float> offsets;
  test::KernelCopy copy;  // the kernel's load-time copy, if it has one (q4_K, q5_K), as CpuBackend has it

  size_t row_bytes() const { return static_cast<size_t>(k / kQK_K) * BlockBytes(type); }
};

// The bytes of each block that hold the quantized values (the rest are scales).
void ClearValues(GgmlType type, uint8_t* block) {
  if (type == GgmlType::Q4_K) {
    std::memset(block + offsetof(block_q4_K, qs), 0, sizeof(block_q4_K::qs));
  } else if (type == GgmlType::Q5_K) {
    std::memset(block + offsetof(block_q5_K, qh), 0, sizeof(block_q5_K::qh) + sizeof(block_q5_K::qs));
  } else {
    std::memset(block + offsetof(block_q6_K, ql), 0, sizeof(block_q6_K::ql) + sizeof(block_q6_K::qh));
  }
}

const FastGemmKernel& KernelFor(GgmlType type);

// Dequantizes w and makes its kernel's copy.
void Decode(Weights& w) {
  w.copy = test::KernelCopy(KernelFor(w.type), w.bytes.data(), w.row_bytes(), w.rows, w.k);
  w.values.resize(w.rows * w.k);
  w.offsets.resize(w.rows * w.k);
  std::vector<uint8_t> cleared = w.bytes;
  for (size_t b = 0; b < cleared.size(); b += BlockBytes(w.type)) ClearValues(w.type, cleared.data() + b);
  for (int64_t r = 0; r < w.rows; ++r) {
    DequantizeRow(w.type, w.bytes.data() + r * w.row_bytes(), w.values.data() + r * w.k, w.k);
    DequantizeRow(w.type, cleared.data() + r * w.row_bytes(), w.offsets.data() + r * w.k, w.k);
  }
  for (float& v : w.offsets) v = std::fabs(v);
}

// Rows quantized from Gaussian values (our own k-quant fit), with row scales from 0.01 to 10.
Weights FittedWeights(GgmlType type, int64_t rows, int64_t k, std::mt19937& rng) {
  Weights w{type, rows, k, {}, {}, {}, {}};
  w.bytes.resize(static_cast<size_t>(rows) * w.row_bytes());
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> row(k);
  for (int64_t r = 0; r < rows; ++r) {
    const float scale = std::pow(10.0f, static_cast<float>(r % 5) - 2.0f);
    for (float& v : row) v = scale * dist(rng);
    QuantizeRow(type, row.data(), w.bytes.data() + r * w.row_bytes(), k);
  }
  Decode(w);
  return w;
}

// Random bytes everywhere except the half-precision super-block scales, so every value and every
// 6-bit / 8-bit scale pattern (q6_K's -128 included) occurs.
Weights RandomByteWeights(GgmlType type, int64_t rows, int64_t k, std::mt19937& rng) {
  Weights w{type, rows, k, {}, {}, {}, {}};
  w.bytes.resize(static_cast<size_t>(rows) * w.row_bytes());
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(1e-3f, 1e-2f);
  for (uint8_t& b : w.bytes) b = static_cast<uint8_t>(byte(rng));
  for (size_t b = 0; b < w.bytes.size(); b += BlockBytes(type)) {
    uint8_t* blk = w.bytes.data() + b;
    const uint16_t d = Fp32ToFp16(scale(rng)), dmin = Fp32ToFp16(scale(rng));
    if (type == GgmlType::Q6_K) {
      std::memcpy(blk + offsetof(block_q6_K, d), &d, 2);
    } else {
      std::memcpy(blk, &d, 2);  // d then dmin open both q4_K and q5_K blocks
      std::memcpy(blk + 2, &dmin, 2);
    }
  }
  Decode(w);
  return w;
}

std::vector<float> Activations(int64_t n, int64_t k, std::mt19937& rng) {
  std::vector<float> x(n * k);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  return x;
}

// Prepared activation rows (as MatMul lays them out), read back as the kernels' blocks.
struct Prepared : test::PreparedRows {
  using PreparedRows::PreparedRows;
  const KQuantActBlock* blocks(int64_t i) const { return reinterpret_cast<const KQuantActBlock*>(row(i)); }

  // The value the kernels see for element j of row i: d * q.
  double value(int64_t i, int64_t j) const {
    const KQuantActBlock& b = blocks(i)[j / kKQuantActBlockElems];
    return static_cast<double>(b.d) * b.q[j % kKQuantActBlockElems];
  }
};

// Weights w as the kernels see them: with the copy, if any.
test::GemmWeights View(const Weights& w) { return {w.bytes.data(), w.row_bytes(), w.rows, w.k, w.copy.data()}; }

void RunGemm(const FastGemmKernel& kernel, const Weights& w, const Prepared& p, int64_t i0, int64_t n, int64_t r0,
             int64_t r1, float* y, int64_t ldy) {
  test::RunFastGemm(kernel, View(w), p, i0, n, r0, r1, y, ldy);
}

const FastGemmKernel& KernelFor(GgmlType type) {
  const FastGemmKernel* kernel = FindFastGemm(type);
  EXPECT_NE(kernel, nullptr) << TypeName(type);
  return *kernel;
}

#define SKIP_WITHOUT_AVX2() \
  if (!CpuHasAvx2Fma()) GTEST_SKIP() << "the avx2 k-quant kernels need AVX2, FMA and F16C; this CPU lacks one"

TEST(FastGemmKQuantTest, OnlyKQuantTypesHaveAKernel) {
  SKIP_WITHOUT_AVX2();
  const Result<bool>& vnni = UseAvx512Vnni();
  const bool use_vnni = vnni.ok() && *vnni;
  for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q5_K}) {
    EXPECT_NE(FindScaleMinKGemmAvx2(t), nullptr) << TypeName(t);
    EXPECT_EQ(FindFastGemm(t), use_vnni ? FindScaleMinKGemmVnni(t) : FindScaleMinKGemmAvx2(t)) << TypeName(t);
    EXPECT_EQ(FindQ6_KGemmAvx2(t), nullptr) << TypeName(t);
  }
  EXPECT_NE(FindScaleMinKGemmAvx2(GgmlType::Q4_K), FindScaleMinKGemmAvx2(GgmlType::Q5_K));
  EXPECT_NE(FindQ6_KGemmAvx2(GgmlType::Q6_K), nullptr);
  EXPECT_EQ(FindFastGemm(GgmlType::Q6_K), use_vnni ? FindQ6_KGemmVnni(GgmlType::Q6_K) : FindQ6_KGemmAvx2(GgmlType::Q6_K));
  EXPECT_EQ(FindScaleMinKGemmAvx2(GgmlType::Q6_K), nullptr);
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::F32, GgmlType::Q8_K}) {
    EXPECT_EQ(FindQ6_KGemmAvx2(t), nullptr) << TypeName(t);
    EXPECT_EQ(FindScaleMinKGemmAvx2(t), nullptr) << TypeName(t);
  }
}

// Per super-block the kernels add an exact integer vector, rounded once to float, times a rounded
// scale product, with one FMA per lane (two for q4_K / q5_K); then a 3-step horizontal sum. So
// an element is within (2 * blocks + 8) * eps * sum(|w| + |offset|) * |a| of the exact product;
// the reference's own float dequantization adds at most 3 eps of the same. A wrong scale, nibble
// or bit in one 16-element group costs orders of magnitude more at every k tested.
TEST(FastGemmKQuantTest, MatchesADoubleProductOfTheDequantizedValues) {
  SKIP_WITHOUT_AVX2();
  std::mt19937 rng(7);
  for (GgmlType type : kTypes) {
    const FastGemmKernel& kernel = KernelFor(type);
    for (int64_t k : {256, 512 + 256, 4096}) {
      const int64_t rows = 37;
      for (bool random_bytes : {false, true}) {
        const Weights w = random_bytes ? RandomByteWeights(type, rows, k, rng) : FittedWeights(type, rows, k, rng);
        for (int64_t n : {1, 2, 3, 5, 7, 64 + 3}) {
          const std::vector<float> x = Activations(n, k, rng);
          const Prepared p(kernel, x, n, k);
          std::vector<float> y(n * rows, NAN);
          RunGemm(kernel, w, p, 0, n, 0, rows, y.data(), rows);
          for (int64_t i = 0; i < n; ++i) {
            for (int64_t r = 0; r < rows; ++r) {
              double want = 0.0, magnitude = 0.0;
              for (int64_t j = 0; j < k; ++j) {
                const double a = p.value(i, j);
                want += static_cast<double>(w.values[r * k + j]) * a;
                magnitude += (std::fabs(w.values[r * k + j]) + w.offsets[r * k + j]) * std::fabs(a);
              }
              const double tol = static_cast<double>(2 * (k / kQK_K) + 11) * FLT_EPSILON * magnitude;
              ASSERT_NEAR(y[i * rows + r], want, tol) << TypeName(type) << " k=" << k << " random_bytes="
                                                      << random_bytes << " n=" << n << " i=" << i << " r=" << r;
            }
          }
        }
      }
    }
  }
}

// Against the float activations: each prepared value is within amax / 254 (half a step) plus
// 2 eps * amax of x, amax being its block's largest magnitude.
TEST(FastGemmKQuantTest, StaysWithinActivationQuantizationErrorOfTheFloatProduct) {
  SKIP_WITHOUT_AVX2();
  std::mt19937 rng(5);
  const int64_t k = 4096, rows = 21, n = 5;
  for (GgmlType type : kTypes) {
    const FastGemmKernel& kernel = KernelFor(type);
    const Weights w = FittedWeights(type, rows, k, rng);
    std::vector<float> x = Activations(n, k, rng);
    for (int64_t j = 0; j < k; j += 97) x[j] *= 30.0f;  // outliers widen some blocks' steps
    const Prepared p(kernel, x, n, k);
    std::vector<float> y(n * rows, NAN);
    RunGemm(kernel, w, p, 0, n, 0, rows, y.data(), rows);
    for (int64_t i = 0; i < n; ++i) {
      std::vector<double> amax(k / kQK_K, 0.0);
      for (int64_t j = 0; j < k; ++j) amax[j / kQK_K] = std::max(amax[j / kQK_K], std::fabs(double{x[i * k + j]}));
      for (int64_t r = 0; r < rows; ++r) {
        double want = 0.0, bound = 0.0, magnitude = 0.0;
        for (int64_t j = 0; j < k; ++j) {
          const double wv = w.values[r * k + j];
          want += wv * x[i * k + j];
          bound += std::fabs(wv) * amax[j / kQK_K] * (1.0 / 254 + 2 * FLT_EPSILON);
          magnitude += (std::fabs(wv) + w.offsets[r * k + j]) * std::fabs(p.value(i, j));
        }
        bound += 48 * FLT_EPSILON * magnitude;
        EXPECT_NEAR(y[i * rows + r], want, bound) << TypeName(type) << " i=" << i << " r=" << r;
      }
    }
  }
}

// The same (activation row, weight row) pair gives the same bits alone, in a big batch, at any
// place in a batch and in any row range.
TEST(FastGemmKQuantTest, ResultsDoNotDependOnBatchOrRowSplit) {
  SKIP_WITHOUT_AVX2();
  std::mt19937 rng(11);
  for (GgmlType type : kTypes) {
    const FastGemmKernel& kernel = KernelFor(type);
    for (int64_t k : {256, 512 + 256}) {
      const int64_t rows = 37, n = 64 + 3;
      const Weights w = RandomByteWeights(type, rows, k, rng);
      const std::vector<float> x = Activations(n, k, rng);
      const Prepared p(kernel, x, n, k);
      test::ExpectSameBitsForAnyBatchOrRowSplit(kernel, View(w), p, n,
                                                std::string(TypeName(type)) + " k=" + std::to_string(k));
    }
  }
}

// The q4_K and q5_K load-time copies (groups of 8 rows) give the bits of the per-row path over the
// GGUF rows, for decode and prompt batch sizes, every tile width and row ranges that cut groups.
TEST(FastGemmKQuantTest, ScaleMinCopiesGiveTheRowsBits) {
  SKIP_WITHOUT_AVX2();
  std::mt19937 rng(17);
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q5_K}) {
    const FastGemmKernel& kernel = KernelFor(type);
    ASSERT_NE(kernel.repack, nullptr) << TypeName(type);
    for (int64_t k : {256, 512 + 256}) {
      for (bool random_bytes : {false, true}) {
        const int64_t rows = 37;
        const Weights w = random_bytes ? RandomByteWeights(type, rows, k, rng) : FittedWeights(type, rows, k, rng);
        for (int64_t n : {1, 2, 3, 4, 5, 67}) {
          const std::vector<float> x = Activations(n, k, rng);
          const Prepared p(kernel, x, n, k);
          test::ExpectCopyGivesTheRowsBits(kernel, View(w), p, n,
                                           std::string(TypeName(type)) + " k=" + std::to_string(k) +
                                               " random_bytes=" + std::to_string(random_bytes) +
                                               " n=" + std::to_string(n));
        }
      }
    }
  }
}

// The q4_K, q5_K and q6_K AVX-512 VNNI kernels give the AVX2 kernels' bits: fitted, random-byte
// and all-0xff blocks (largest q, scales and mins), decode and prompt batch sizes around every
// tile width, row ranges that cut groups and a short last group.
TEST(FastGemmKQuantTest, VnniTilesGiveTheAvx2Bits) {
  SKIP_WITHOUT_AVX2();
  if (!CpuHasAvx512Vnni()) GTEST_SKIP() << "this CPU lacks AVX-512 VNNI; the AVX2 tiles are tested above";
  std::mt19937 rng(23);
  for (GgmlType type : kTypes) {
    const bool q6 = type == GgmlType::Q6_K;
    const FastGemmKernel& avx2 = *(q6 ? FindQ6_KGemmAvx2(type) : FindScaleMinKGemmAvx2(type));
    const FastGemmKernel& vnni = *(q6 ? FindQ6_KGemmVnni(type) : FindScaleMinKGemmVnni(type));
    for (int kind = 0; kind < 3; ++kind) {
      const int64_t rows = 37, k = 512 + 256;
      Weights w = kind == 0 ? FittedWeights(type, rows, k, rng) : RandomByteWeights(type, rows, k, rng);
      if (kind == 2) {
        std::memset(w.bytes.data(), 0xff, w.bytes.size());
        for (size_t b = 0; b < w.bytes.size(); b += BlockBytes(type)) {
          const uint16_t d = Fp32ToFp16(0.01f), dmin = Fp32ToFp16(0.02f);
          if (q6) {
            auto* blk = reinterpret_cast<block_q6_K*>(w.bytes.data() + b);
            std::memset(blk->scales, 0x80, sizeof(blk->scales));  // -128, the largest magnitude
            blk->d = d;
          } else {
            std::memcpy(w.bytes.data() + b, &d, 2);
            std::memcpy(w.bytes.data() + b + 2, &dmin, 2);
          }
        }
        w.copy = test::KernelCopy(avx2, w.bytes.data(), w.row_bytes(), rows, k);
      }
      ASSERT_EQ(w.copy.data() == nullptr, q6) << TypeName(type);
      for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 67}) {
        std::vector<float> x = Activations(n, k, rng);
        if (kind == 2) {
          for (float& v : x) v = v < 0 ? -1.0f : 1.0f;
        }
        const Prepared p(avx2, x, n, k);
        std::vector<float> want(n * rows), got(n * rows, NAN);
        RunGemm(avx2, w, p, 0, n, 0, rows, want.data(), rows);
        for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 5}, {5, 8}, {8, 21}, {21, rows}}) {
          RunGemm(vnni, w, p, 0, n, r0, r1, got.data(), rows);
        }
        EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
            << TypeName(type) << " kind " << kind << " n " << n;
      }
    }
  }
}

// The int16 sums inside a sub-block are the one place a kernel could overflow: every weight at its
// largest q with the largest scales and mins, against activations all at +-127, must still give
// the double product, through the tiles (rows from 0) and through the per-row path (rows from 1).
TEST(FastGemmKQuantTest, ExtremeBlocksDoNotOverflow) {
  SKIP_WITHOUT_AVX2();
  const int64_t k = 2 * kQK_K, rows = 8;
  for (GgmlType type : kTypes) {
    const FastGemmKernel& kernel = KernelFor(type);
    Weights w{type, rows, k, {}, {}, {}, {}};
    w.bytes.resize(static_cast<size_t>(rows) * w.row_bytes());
    for (int64_t r = 0; r < rows; ++r) {
      uint8_t* row = w.bytes.data() + r * w.row_bytes();
      std::memset(row, r % 2 == 0 ? 0xff : 0x00, w.row_bytes());  // all q at the top or at zero
      for (size_t b = 0; b < w.row_bytes(); b += BlockBytes(type)) {
        const uint16_t d = Fp32ToFp16(0.01f), dmin = Fp32ToFp16(0.02f);
        if (type == GgmlType::Q6_K) {
          auto* blk = reinterpret_cast<block_q6_K*>(row + b);
          std::memset(blk->scales, 127, sizeof(blk->scales));
          blk->d = d;
        } else {
          std::memset(row + b + 4, 0xff, kKScaleSize);  // every 6-bit scale and min 63
          std::memcpy(row + b, &d, 2);
          std::memcpy(row + b + 2, &dmin, 2);
        }
      }
    }
    Decode(w);
    for (float sign : {1.0f, -1.0f}) {
      const std::vector<float> x(k, sign);
      const Prepared p(kernel, x, 1, k);
      for (int64_t r0 : {0, 1}) {
        std::vector<float> y(rows, NAN);
        RunGemm(kernel, w, p, 0, 1, r0, rows, y.data(), rows);
        for (int64_t r = r0; r < rows; ++r) {
          double want = 0.0, magnitude = 0.0;
          for (int64_t j = 0; j < k; ++j) {
            want += static_cast<double>(w.values[r * k + j]) * p.value(0, j);
            magnitude += (std::fabs(w.values[r * k + j]) + w.offsets[r * k + j]) * std::fabs(p.value(0, j));
          }
          EXPECT_NEAR(y[r], want, 16 * FLT_EPSILON * magnitude)
              << TypeName(type) << " sign=" << sign << " r0=" << r0 << " r=" << r;
        }
      }
    }
  }
}

// Prepared blocks: zeros stay exact zeros; tiny blocks (below kKQuantTinyBlock) become zero; huge
// but finite ones keep their values to half a step; an infinity or NaN anywhere in a block makes
// every product with that row NaN rather than some finite number.
TEST(FastGemmKQuantTest, PrepareHandlesZeroTinyHugeAndNonFiniteRows) {
  SKIP_WITHOUT_AVX2();
  std::mt19937 rng(13);
  const int64_t k = 512, rows = 5;
  const FastGemmKernel& kernel = KernelFor(GgmlType::Q4_K);
  EXPECT_EQ(kernel.prepared_row_bytes(k), 2 * sizeof(KQuantActBlock));
  const Weights w = FittedWeights(GgmlType::Q4_K, rows, k, rng);

  const std::vector<float> base = Activations(1, k, rng);
  // Rows: zero; tiny; huge (block 0) next to normal (block 1); +Inf in block 1; NaN in block 0;
  // the largest finite magnitudes (block 0).
  const int64_t n = 6;
  std::vector<float> x(n * k, 0.0f);
  for (int64_t j = 0; j < k; ++j) {
    x[1 * k + j] = 1e-32f * base[j];
    x[2 * k + j] = j < kQK_K ? 1e33f * base[j] : base[j];
    x[3 * k + j] = base[j];
    x[4 * k + j] = base[j];
    x[5 * k + j] = j < kQK_K ? 1e37f * base[j] : base[j];
  }
  x[2 * k + 7] = -1e35f;
  x[3 * k + 300] = std::numeric_limits<float>::infinity();
  x[4 * k + 9] = std::numeric_limits<float>::quiet_NaN();
  x[5 * k + 8] = -FLT_MAX;
  const Prepared p(kernel, x, n, k);

  for (int64_t i : {0, 1}) {
    for (int64_t b = 0; b < 2; ++b) {
      const KQuantActBlock& blk = p.blocks(i)[b];
      EXPECT_EQ(blk.d, 0.0f) << "row " << i << " block " << b;
      for (int8_t q : blk.q) ASSERT_EQ(q, 0) << "row " << i << " block " << b;
      for (int16_t s : blk.group_sums) ASSERT_EQ(s, 0) << "row " << i << " block " << b;
      for (int16_t s : blk.sub_sums) ASSERT_EQ(s, 0) << "row " << i << " block " << b;
    }
  }
  for (int64_t i : {2, 5}) {
    for (int64_t b = 0; b < 2; ++b) {
      const KQuantActBlock& blk = p.blocks(i)[b];
      double amax = 0.0;
      for (int64_t j = 0; j < kQK_K; ++j) amax = std::max(amax, std::fabs(double{x[i * k + b * kQK_K + j]}));
      ASSERT_TRUE(std::isfinite(blk.d)) << "row " << i << " block " << b;
      for (int64_t j = 0; j < kQK_K; ++j) {
        ASSERT_LE(blk.q[j], 127);
        ASSERT_GE(blk.q[j], -127);
        ASSERT_NEAR(p.value(i, b * kQK_K + j), x[i * k + b * kQK_K + j], amax * (1.0 / 254 + 2 * FLT_EPSILON))
            << "row " << i << " block " << b << " element " << j;
      }
      for (int g = 0; g < kQK_K / 16; ++g) {
        int sum = 0;
        for (int j = 0; j < 16; ++j) sum += blk.q[16 * g + j];
        ASSERT_EQ(blk.group_sums[g], sum) << "row " << i << " block " << b << " group " << g;
      }
      for (int j = 0; j < kQK_K / 32; ++j) {
        int sum = 0;
        for (int e = 0; e < 32; ++e) sum += blk.q[32 * j + e];
        ASSERT_EQ(blk.sub_sums[j], sum) << "row " << i << " block " << b << " sub-block " << j;
      }
    }
  }
  EXPECT_TRUE(std::isnan(p.blocks(3)[1].d));
  EXPECT_TRUE(std::isfinite(p.blocks(3)[0].d));
  EXPECT_TRUE(std::isnan(p.blocks(4)[0].d));

  std::vector<float> y(n * rows, 1.0f);
  RunGemm(kernel, w, p, 0, n, 0, rows, y.data(), rows);
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_EQ(y[0 * rows + r], 0.0f) << "zero row, r=" << r;
    EXPECT_EQ(y[1 * rows + r], 0.0f) << "tiny row, r=" << r;
    EXPECT_TRUE(std::isfinite(y[2 * rows + r])) << "huge row, r=" << r;
    EXPECT_TRUE(std::isnan(y[3 * rows + r])) << "row with Inf, r=" << r;
    EXPECT_TRUE(std::isnan(y[4 * rows + r])) << "row with NaN, r=" << r;
  }
}

// MatMul at avx2 runs these kernels: the same bits with one thread or two as one direct call, and
// within the activation rounding of the reference level (ggml's Q8_K numerics).
TEST(FastGemmKQuantTest, MatMulAtAvx2MatchesTheKernelAndAgreesWithReference) {
  SKIP_WITHOUT_AVX2();
  std::mt19937 rng(3);
  const int64_t rows = 53, k = 512 + 256, n = 9;
  for (GgmlType type : kTypes) {
    const Weights w = FittedWeights(type, rows, k, rng);
    const std::vector<float> x = Activations(n, k, rng);
    WeightMatrix m;
    m.type = type;
    m.data = w.bytes.data();
    m.cols = k;
    m.rows = rows;
    m.row_bytes = w.row_bytes();
    RepackedWeights copies;  // as CpuBackend makes them
    copies.Add(KernelLevel::kAvx2, &m);
    std::vector<float> fast(n * rows), fast1(n * rows), ref(n * rows), direct(n * rows);
    ThreadPool pool2(2), pool1(1);
    MatMul avx2(2, k, KernelLevel::kAvx2), avx2_one(1, k, KernelLevel::kAvx2), reference(2, k, KernelLevel::kReference);
    for (MatMul* mm : {&avx2, &avx2_one, &reference}) mm->Reserve(n);
    avx2.Multiply(pool2, m, x.data(), n, fast.data());
    avx2_one.Multiply(pool1, m, x.data(), n, fast1.data());
    reference.Multiply(pool2, m, x.data(), n, ref.data());
    const Prepared p(KernelFor(type), x, n, k);
    RunGemm(KernelFor(type), w, p, 0, n, 0, rows, direct.data(), rows);
    EXPECT_EQ(std::memcmp(fast.data(), fast1.data(), fast.size() * sizeof(float)), 0) << TypeName(type);
    EXPECT_EQ(std::memcmp(fast.data(), direct.data(), fast.size() * sizeof(float)), 0) << TypeName(type);
    for (int64_t i = 0; i < n; ++i) {
      double amax = 0.0;
      for (int64_t j = 0; j < k; ++j) amax = std::max(amax, std::fabs(double{x[i * k + j]}));
      for (int64_t r = 0; r < rows; ++r) {
        double wsum = 0.0;
        for (int64_t j = 0; j < k; ++j) wsum += std::fabs(w.values[r * k + j]) + w.offsets[r * k + j];
        // Both sides quantize the activations to half a step of amax / 127 (ggml's rounding and ours).
        ASSERT_NEAR(fast[i * rows + r], ref[i * rows + r], wsum * amax / 127)
            << TypeName(type) << " i=" << i << " r=" << r;
      }
    }
  }
}

}  // namespace
}  // namespace ps::cpu
