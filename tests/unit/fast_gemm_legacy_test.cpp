// The legacy fast kernels (worker/backend/cpu/kernels/gemm_legacy_avx2.cpp, gemm_q4_0_avx2.cpp,
// legacy_act_avx2.h):
// the activation preparer's rounding, the product against a double-precision oracle and against
// the float product, bitwise reproducibility across batch sizes and row splits, and MatMul at
// kAvx2 against kReference.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bit>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "common/quant/blocks.h"
#include "common/quant/quant.h"
#include "worker/backend/cpu/kernel_level.h"
#include "tests/support/fast_gemm_support.h"
#include "worker/backend/cpu/kernels/fast_gemm.h"
#include "worker/backend/cpu/kernels/legacy_act_avx2.h"
#include "worker/backend/cpu/matmul.h"
#include "worker/backend/cpu/thread_pool.h"

namespace ps::cpu {
namespace {

constexpr GgmlType kTypes[] = {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q4_1};

#define SKIP_WITHOUT_AVX2()                                                                     \
  if (!CpuHasAvx2Fma()) GTEST_SKIP() << "skipped: this CPU lacks AVX2/FMA/F16C, so there are " \
                                        "no fast kernels to test"

// Prepared activation rows (as MatMul lays them out), read back as the kernels' values.
class PreparedRows : public test::PreparedRows {
 public:
  PreparedRows(const FastGemmKernel& kernel, const std::vector<float>& x, int64_t n, int64_t k)
      : test::PreparedRows(kernel, x, n, k), k_(k) {}
  // The activation value the kernel multiplies with: d[b] * q[e].
  double Value(int64_t i, int64_t e) const {
    const LegacyActLayout l = LegacyActLayout::Of(k_, /*with_sums=*/false);  // q and d sit alike
    const auto* q = reinterpret_cast<const int8_t*>(row(i));
    const auto* d = reinterpret_cast<const float*>(row(i) + l.scales_offset);
    return static_cast<double>(d[e / kQK]) * q[e];
  }

 private:
  int64_t k_;
};

struct Weights {
  GgmlType type;
  int64_t rows, k;
  size_t row_bytes;
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // dequantized
  // The kernel's load-time copy when it has one (RandomWeights makes it, as CpuBackend does):
  // RunGemm reads it; without one, the GGUF rows.
  test::KernelCopy copy;

  // The size of the terms the kernel sums for w[r, e] = d q + m: |d q| + |m|, where the affine
  // types keep the offset m apart (Q4_1: its stored m; Q5_0, run with unsigned q: m = -16 d), so
  // d q and m may nearly cancel; |w| for Q8_0 and for Q4_0, whose -8 is inside the exact integer
  // dot.
  double Magnitude(int64_t r, int64_t e) const {
    double m = 0.0;
    const uint8_t* row = bytes.data() + r * row_bytes;
    if (type == GgmlType::Q4_1) m = Fp16ToFp32(reinterpret_cast<const block_q4_1*>(row)[e / kQK].m);
    if (type == GgmlType::Q5_0) m = -16.0 * Fp16ToFp32(reinterpret_cast<const block_q5_0*>(row)[e / kQK].d);
    return std::fabs(values[r * k + e] - m) + std::fabs(m);
  }
};

// Random rows of `type`, with the fast kernel's copy when it has one.
Weights RandomWeights(GgmlType type, int64_t rows, int64_t k, std::mt19937& rng) {
  Weights w{type, rows, k, *RowBytes(type, k), {}, {}, {}};
  w.bytes.resize(w.row_bytes * rows);
  w.values.resize(rows * k);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  std::vector<float> src(k);
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : src) v = dist(rng);
    QuantizeRow(type, src.data(), w.bytes.data() + r * w.row_bytes, k);
    DequantizeRow(type, w.bytes.data() + r * w.row_bytes, w.values.data() + r * k, k);
  }
  if (const FastGemmKernel* kernel = FindFastGemm(type)) w.copy = test::KernelCopy(*kernel, w.bytes.data(), w.row_bytes, rows, k);
  return w;
}

std::vector<float> RandomActivations(int64_t n, int64_t k, std::mt19937& rng) {
  std::vector<float> x(n * k);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  // A few outliers, as real activations have, so blocks get very different scales.
  for (size_t i = 0; i < x.size(); i += 97) x[i] *= 40.0f;
  return x;
}

// y[i * ldy + r] for rows [r0, r1) and all n prepared rows, from w's copy when it has one.
void RunGemm(const FastGemmKernel& kernel, const Weights& w, const PreparedRows& act, int64_t n, int64_t r0,
             int64_t r1, float* y, int64_t ldy) {
  test::RunFastGemm(kernel, {w.bytes.data(), w.row_bytes, w.rows, w.k, w.copy.data()}, act, 0, n, r0, r1, y, ldy);
}

// The stated accuracy of one output: each of the nb block steps rounds once in the scale product
// and once in the FMA, each by at most 2^-24 of a partial sum bounded by sum|w * a|; the final
// horizontal sum adds three more roundings.
double Tolerance(int64_t k, double abs_sum) {
  return static_cast<double>(k / kQK + 4) * 0x1p-23 * abs_sum + 1e-30;
}

TEST(LegacyPrepareTest, RoundsEachBlockToItsOwnScale) {
  SKIP_WITHOUT_AVX2();
  std::mt19937 rng(1);
  const int64_t k = 256;
  const std::vector<float> x = RandomActivations(1, k, rng);
  const FastGemmKernel& kernel = *FindFastGemm(GgmlType::Q8_0);
  PreparedRows p(kernel, x, 1, k);
  const LegacyActLayout l = LegacyActLayout::Of(k, false);
  const auto* q = reinterpret_cast<const int8_t*>(p.row(0));
  const auto* d = reinterpret_cast<const float*>(p.row(0) + l.scales_offset);
  for (int64_t b = 0; b < k / kQK; ++b) {
    float amax = 0.0f;
    for (int e = 0; e < kQK; ++e) amax = std::max(amax, std::fabs(x[b * kQK + e]));
    EXPECT_EQ(d[b], amax / 127.0f) << "block " << b;
    for (int e = 0; e < kQK; ++e) {
      const int64_t idx = b * kQK + e;
      EXPECT_GE(q[idx], -127) << idx;
      // Nearest rounding: within half a step (plus the rounding of x * 127 / amax).
      EXPECT_LE(std::fabs(x[idx] - static_cast<double>(d[b]) * q[idx]), 0.5001 * d[b]) << idx;
    }
  }
}

TEST(LegacyPrepareTest, ZeroExtremeAndTinyBlocksAreSane) {
  SKIP_WITHOUT_AVX2();
  const int64_t k = 128;
  std::vector<float> x(k, 0.0f);  // block 0: zeros
  for (int e = 0; e < kQK; ++e) x[kQK + e] = (e % 2 ? 1e30f : -1e30f) * (e + 1) / 32;  // block 1: huge
  for (int e = 0; e < kQK; ++e) x[2 * kQK + e] = 1e-35f * (e - 16);  // block 2: below 2^-100
  for (int e = 0; e < kQK; ++e) x[3 * kQK + e] = 1e-20f * (e - 16);  // block 3: small but normal
  const FastGemmKernel& kernel = *FindFastGemm(GgmlType::Q8_0);
  PreparedRows p(kernel, x, 1, k);
  const LegacyActLayout l = LegacyActLayout::Of(k, false);
  const auto* q = reinterpret_cast<const int8_t*>(p.row(0));
  const auto* d = reinterpret_cast<const float*>(p.row(0) + l.scales_offset);
  EXPECT_EQ(d[0], 0.0f);
  EXPECT_EQ(d[2], 0.0f);
  for (int e = 0; e < kQK; ++e) {
    EXPECT_EQ(q[e], 0);
    EXPECT_EQ(q[2 * kQK + e], 0);
  }
  EXPECT_TRUE(std::isfinite(d[1]));
  EXPECT_EQ(q[kQK + 31], 127);  // the largest, +1e30
  EXPECT_EQ(q[kQK + 30], -123);  // -1e30 * 31 / 32 at a step of 1e30 / 127
  for (int e = 0; e < kQK; ++e) {
    const double v = static_cast<double>(d[1]) * q[kQK + e];
    EXPECT_LE(std::fabs(v - x[kQK + e]), 0.5001 * d[1]) << e;
    const double t = static_cast<double>(d[3]) * q[3 * kQK + e];
    EXPECT_LE(std::fabs(t - x[3 * kQK + e]), 0.5001 * d[3]) << e;
  }
  EXPECT_GT(d[3], 0.0f);

  // The product of such a row with real weights is finite and close to the float product.
  std::mt19937 rng(2);
  const Weights w = RandomWeights(GgmlType::Q8_0, 3, k, rng);
  float y[3];
  RunGemm(kernel, w, p, 1, 0, 3, y, 3);
  for (int r = 0; r < 3; ++r) {
    double exact = 0.0, bound = 0.0;
    for (int64_t e = 0; e < k; ++e) {
      exact += static_cast<double>(w.values[r * k + e]) * x[e];
      bound += std::fabs(w.values[r * k + e]) * (0.5001 * d[e / kQK] + 1e-30);
    }
    EXPECT_TRUE(std::isfinite(y[r]));
    EXPECT_LE(std::fabs(y[r] - exact), bound + 1e-5 * std::fabs(exact)) << r;
  }
}

class LegacyGemmTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(LegacyGemmTest, MatchesDoubleOracleAndFloatProduct) {
  SKIP_WITHOUT_AVX2();
  const GgmlType type = GetParam();
  const FastGemmKernel* kernel = FindFastGemm(type);
  ASSERT_NE(kernel, nullptr);
  std::mt19937 rng(3);
  for (int64_t k : {32, 96, 1024 + 32}) {
    for (int64_t rows : {1, 3, 4, 7, 18}) {
      const int64_t n = 67;
      const Weights w = RandomWeights(type, rows, k, rng);
      const std::vector<float> x = RandomActivations(n, k, rng);
      PreparedRows p(*kernel, x, n, k);
      std::vector<float> y(n * rows);
      RunGemm(*kernel, w, p, n, 0, rows, y.data(), rows);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t r = 0; r < rows; ++r) {
          double oracle = 0.0, abs_sum = 0.0, exact = 0.0, quant_bound = 0.0;
          for (int64_t e = 0; e < k; ++e) {
            const double wv = w.values[r * k + e];
            const double a = p.Value(i, e);
            oracle += wv * a;
            abs_sum += w.Magnitude(r, e) * std::fabs(a);
            exact += wv * x[i * k + e];
            // Half a quantization step of the activation's block.
            float amax = 0.0f;
            for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[i * k + e / kQK * kQK + j]));
            quant_bound += std::fabs(wv) * 0.5001 * amax / 127.0;
          }
          const float got = y[i * rows + r];
          ASSERT_LE(std::fabs(got - oracle), Tolerance(k, abs_sum))
              << TypeName(type) << " k " << k << " rows " << rows << " i " << i << " r " << r;
          ASSERT_LE(std::fabs(got - exact), quant_bound + Tolerance(k, abs_sum))
              << TypeName(type) << " k " << k << " rows " << rows << " i " << i << " r " << r;
        }
      }
    }
  }
}

TEST_P(LegacyGemmTest, BitwiseSameForAnyBatchAndRowSplit) {
  SKIP_WITHOUT_AVX2();
  const GgmlType type = GetParam();
  const FastGemmKernel* kernel = FindFastGemm(type);
  ASSERT_NE(kernel, nullptr);
  std::mt19937 rng(4);
  const int64_t k = 1024 + 32, rows = 23, n = 64 + 3;
  const Weights w = RandomWeights(type, rows, k, rng);
  const std::vector<float> x = RandomActivations(n, k, rng);
  PreparedRows p(*kernel, x, n, k);
  std::vector<float> whole(n * rows);
  RunGemm(*kernel, w, p, n, 0, rows, whole.data(), rows);

  // Row splits at odd places, all rows at once.
  std::vector<float> split(n * rows, NAN);
  const int64_t cuts[] = {0, 1, 6, 13, 14, rows};
  for (size_t c = 0; c + 1 < std::size(cuts); ++c) RunGemm(*kernel, w, p, n, cuts[c], cuts[c + 1], split.data(), rows);
  EXPECT_EQ(std::memcmp(whole.data(), split.data(), whole.size() * sizeof(float)), 0);

  // Each activation row alone and in small batches that start at odd rows (other tile positions).
  for (int64_t batch : {1, 2, 3, 5, 7}) {
    std::vector<float> parts(n * rows, NAN);
    for (int64_t i = 0; i < n; i += batch) {
      const int64_t b = std::min(batch, n - i);
      // Rows 3.. first, then 0..3: a tile grid shifted by three rows.
      const test::GemmWeights view{w.bytes.data(), w.row_bytes, rows, k, w.copy.data()};
      test::RunFastGemm(*kernel, view, p, i, b, 3, rows, parts.data() + i * rows, rows);
      test::RunFastGemm(*kernel, view, p, i, b, 0, 3, parts.data() + i * rows, rows);
    }
    EXPECT_EQ(std::memcmp(whole.data(), parts.data(), whole.size() * sizeof(float)), 0) << "batch " << batch;
  }
}

TEST_P(LegacyGemmTest, MatMulAvx2AgreesWithReference) {
  SKIP_WITHOUT_AVX2();
  const GgmlType type = GetParam();
  std::mt19937 rng(5);
  const int64_t k = 512, rows = 70, n = 9;
  const Weights w = RandomWeights(type, rows, k, rng);
  const std::vector<float> x = RandomActivations(n, k, rng);
  WeightMatrix wm;
  wm.type = type;
  wm.data = w.bytes.data();
  wm.cols = k;
  wm.rows = rows;
  wm.row_bytes = w.row_bytes;
  ThreadPool pool(2);
  std::vector<float> fast(n * rows), ref(n * rows);
  MatMul fast_mm(2, k, KernelLevel::kAvx2);
  fast_mm.Reserve(n);
  WeightMatrix fast_wm = wm;
  fast_wm.repacked = w.copy.data();
  fast_mm.Multiply(pool, fast_wm, x.data(), n, fast.data());
  MatMul ref_mm(2, k, KernelLevel::kReference);
  ref_mm.Reserve(n);
  ref_mm.Multiply(pool, wm, x.data(), n, ref.data());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t r = 0; r < rows; ++r) {
      // Both quantize the activations (the reference with a binary16 scale): each is within half
      // a step (d = amax / 127, +0.1% for the binary16 rounding) of the float product. Q4_1's
      // reference also rounds the block sum d * sum(q) to binary16 (2^-11 of sum |m a|).
      double bound = 0.0, abs_sum = 0.0;
      for (int64_t e = 0; e < k; ++e) {
        float amax = 0.0f;
        for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[i * k + e / kQK * kQK + j]));
        bound += std::fabs(w.values[r * k + e]) * 1.002 * amax / 127.0;
        abs_sum += w.Magnitude(r, e) * std::fabs(x[i * k + e]);
        bound += (w.Magnitude(r, e) - std::fabs(w.values[r * k + e])) * std::fabs(x[i * k + e]) * 0x1p-10;
      }
      EXPECT_LE(std::fabs(fast[i * rows + r] - ref[i * rows + r]), bound + 2 * Tolerance(k, abs_sum))
          << TypeName(type) << " i " << i << " r " << r;
    }
  }
}

// The Q4_0 and Q8_0 load-time copies (FastGemmKernel::repack, groups of 8 rows) give the bits of the per-row
// path that reads the GGUF rows, for row counts that leave a short last group, row ranges that
// start and end inside a group, and decode and prompt batch sizes; through MatMul too, with
// RepackedWeights.
TEST(LegacyRowGroupsTest, RepackedCopyGivesTheInPlaceBits) {
  SKIP_WITHOUT_AVX2();
  std::mt19937 rng(8);
  for (const auto& [type, k] : {std::pair{GgmlType::Q4_0, int64_t{32}}, {GgmlType::Q4_0, int64_t{1024 + 32}},
                                {GgmlType::Q8_0, int64_t{32}}, {GgmlType::Q8_0, int64_t{1024 + 32}}}) {
    const FastGemmKernel& kernel = *FindFastGemm(type);
    ASSERT_NE(kernel.repack, nullptr);
    const int64_t rows = 37;
    const Weights w = RandomWeights(type, rows, k, rng);
    for (int64_t n : {1, 2, 3, 4, 5, 67}) {
      const std::vector<float> x = RandomActivations(n, k, rng);
      PreparedRows p(kernel, x, n, k);
      test::ExpectCopyGivesTheRowsBits(kernel, {w.bytes.data(), w.row_bytes, rows, k, w.copy.data()}, p, n,
                                       std::string(TypeName(type)) + " k " + std::to_string(k) + " n " +
                                           std::to_string(n));
    }
    // MatMul with and without the copy.
    WeightMatrix plain;
    plain.type = type;
    plain.data = w.bytes.data();
    plain.cols = k;
    plain.rows = rows;
    plain.row_bytes = w.row_bytes;
    WeightMatrix packed = plain;
    RepackedWeights copies;
    copies.Add(KernelLevel::kAvx2, &packed);
    ASSERT_NE(packed.repacked, nullptr);
    ThreadPool pool(2);
    MatMul mm(2, k, KernelLevel::kAvx2);
    mm.Reserve(1);
    const std::vector<float> x = RandomActivations(1, k, rng);
    std::vector<float> a(rows), b(rows);
    mm.Multiply(pool, plain, x.data(), 1, a.data());
    mm.Multiply(pool, packed, x.data(), 1, b.data());
    for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(std::bit_cast<uint32_t>(a[r]), std::bit_cast<uint32_t>(b[r])) << r;
  }
}

// RepackedWeights with release_source hands the rows' pages back (CpuBackend does so for the
// model file's mapping): the rows keep their contents, in a file mapping and in ordinary memory,
// and the products are unchanged.
TEST(LegacyQ4_0Test, ReleasingTheSourceRowsKeepsThem) {
  SKIP_WITHOUT_AVX2();
  std::mt19937 rng(9);
  const int64_t rows = 64, k = 4096;  // 144 KiB of rows: whole pages to release
  const Weights w = RandomWeights(GgmlType::Q4_0, rows, k, rng);
  char path[] = "/tmp/pipeshard-release-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, w.bytes.data(), w.bytes.size()), static_cast<ssize_t>(w.bytes.size()));
  void* map = mmap(nullptr, w.bytes.size(), PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  unlink(path);
  ASSERT_NE(map, MAP_FAILED);
  std::vector<uint8_t> heap = w.bytes;
  const std::vector<float> x = RandomActivations(1, k, rng);
  ThreadPool pool(2);
  MatMul mm(2, k, KernelLevel::kAvx2);
  mm.Reserve(1);
  std::vector<float> want(rows), got(rows);
  for (const uint8_t* data : {static_cast<const uint8_t*>(map), static_cast<const uint8_t*>(heap.data())}) {
    WeightMatrix m;
    m.type = GgmlType::Q4_0;
    m.data = data;
    m.cols = k;
    m.rows = rows;
    m.row_bytes = w.row_bytes;
    WeightMatrix kept = m;
    RepackedWeights copies;
    copies.Add(KernelLevel::kAvx2, &kept);
    copies.Add(KernelLevel::kAvx2, &m, /*release_source=*/true);
    ASSERT_NE(m.repacked, nullptr);
    EXPECT_EQ(std::memcmp(data, w.bytes.data(), w.bytes.size()), 0);
    mm.Multiply(pool, kept, x.data(), 1, want.data());
    mm.Multiply(pool, m, x.data(), 1, got.data());
    EXPECT_EQ(std::memcmp(want.data(), got.data(), rows * sizeof(float)), 0);
  }
  munmap(map, w.bytes.size());
}

// Extreme Q4_0 blocks: all-15 and all-0 nibbles against activations of +-127 give the largest
// int16 pair sums the copy's kernel adds (8 x 3810); nothing may saturate.
TEST(LegacyQ4_0Test, ExtremeBlocksDoNotSaturate) {
  SKIP_WITHOUT_AVX2();
  const int64_t k = 64, rows = 8;
  Weights w{GgmlType::Q4_0, rows, k, *RowBytes(GgmlType::Q4_0, k), {}, {}, {}};
  w.bytes.resize(w.row_bytes * rows);
  for (int64_t r = 0; r < rows; ++r) {
    auto* blocks = reinterpret_cast<block_q4_0*>(w.bytes.data() + r * w.row_bytes);
    for (int b = 0; b < 2; ++b) {
      blocks[b].d = Fp32ToFp16(0.5f);
      const uint8_t nibble = r % 2 == 0 ? 15 : 0;
      for (int e = 0; e < kQK / 2; ++e) blocks[b].qs[e] = static_cast<uint8_t>(nibble | nibble << 4);
    }
  }
  w.values.resize(rows * k);
  for (int64_t r = 0; r < rows; ++r) DequantizeRow(GgmlType::Q4_0, w.bytes.data() + r * w.row_bytes, w.values.data() + r * k, k);
  const FastGemmKernel& kernel = *FindFastGemm(GgmlType::Q4_0);
  w.copy = test::KernelCopy(kernel, w.bytes.data(), w.row_bytes, rows, k);
  for (float sign : {1.0f, -1.0f}) {
    const std::vector<float> x(k, sign);
    PreparedRows p(kernel, x, 1, k);
    std::vector<float> y(rows);
    RunGemm(kernel, w, p, 1, 0, rows, y.data(), rows);
    for (int64_t r = 0; r < rows; ++r) {
      double oracle = 0.0;
      for (int64_t e = 0; e < k; ++e) oracle += w.values[r * k + e] * p.Value(0, e);
      EXPECT_EQ(y[r], static_cast<float>(oracle)) << "row " << r << " sign " << sign;
    }
  }
}

// The AVX-512 VNNI tiles of Q4_0 and Q8_0 give their AVX2 tiles' bits (the same exact integer
// dot, the same float steps): decode and prompt batch sizes around both tile widths, odd row
// ranges and a short last group, random blocks and extreme ones (Q4_0: all-15 and all-0 nibbles;
// Q8_0: -128 and 127) against +-127.
TEST(LegacyRowGroupsTest, VnniTilesGiveTheAvx2Bits) {
  SKIP_WITHOUT_AVX2();
  if (!CpuHasAvx512Vnni()) GTEST_SKIP() << "this CPU lacks AVX-512 VNNI; the AVX2 tiles are tested above";
  std::mt19937 rng(12);
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q8_0}) {
    const bool q8 = type == GgmlType::Q8_0;
    const FastGemmKernel& avx2 = *(q8 ? FindQ8_0GemmAvx2(type) : FindQ4_0GemmAvx2(type));
    const FastGemmKernel& vnni = *(q8 ? FindQ8_0GemmVnni(type) : FindQ4_0GemmVnni(type));
    for (int64_t k : {32, 1024 + 32}) {
      const int64_t rows = 37;
      Weights w = RandomWeights(type, rows, k, rng);
      for (bool extreme : {false, true}) {
        if (extreme) {
          for (int64_t r = 0; r < rows; ++r) {
            uint8_t* row = w.bytes.data() + r * w.row_bytes;
            for (int64_t b = 0; b < k / kQK; ++b) {
              if (q8) {
                auto* blk = reinterpret_cast<block_q8_0*>(row) + b;
                for (int e = 0; e < kQK; ++e) blk->qs[e] = static_cast<int8_t>((r + e) % 2 == 0 ? -128 : 127);
              } else {
                const uint8_t nibble = r % 3 == 0 ? 0 : 15;
                std::memset(reinterpret_cast<block_q4_0*>(row)[b].qs, nibble | nibble << 4, kQK / 2);
              }
            }
          }
          w.copy = test::KernelCopy(avx2, w.bytes.data(), w.row_bytes, rows, k);
        }
        const test::GemmWeights view{w.bytes.data(), w.row_bytes, rows, k, w.copy.data()};
        ASSERT_NE(view.repacked, nullptr);
        for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 8, 13, 67}) {
          std::vector<float> x = RandomActivations(n, k, rng);
          if (extreme) {
            for (float& v : x) v = v < 0 ? -1.0f : 1.0f;
          }
          PreparedRows p(avx2, x, n, k);
          std::vector<float> want(n * rows), got(n * rows, NAN);
          test::RunFastGemm(avx2, view, p, 0, n, 0, rows, want.data(), rows);
          for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, 5}, {5, 8}, {8, 21}, {21, rows}}) {
            test::RunFastGemm(vnni, view, p, 0, n, r0, r1, got.data(), rows);
          }
          EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
              << TypeName(type) << " k " << k << " n " << n << " extreme " << extreme;
        }
      }
    }
  }
}

TEST(LegacyQ8_0Test, WeightOfMinus128IsExact) {
  SKIP_WITHOUT_AVX2();
  // ggml's quantizer never writes -128, but a file may hold it; the sign trick must still be exact.
  const int64_t k = 64;
  Weights w{GgmlType::Q8_0, 1, k, *RowBytes(GgmlType::Q8_0, k), {}, {}, {}};
  w.bytes.resize(w.row_bytes);
  auto* blocks = reinterpret_cast<block_q8_0*>(w.bytes.data());
  for (int b = 0; b < 2; ++b) {
    blocks[b].d = Fp32ToFp16(b == 0 ? 0.5f : 0.25f);
    for (int e = 0; e < kQK; ++e) blocks[b].qs[e] = static_cast<int8_t>(e % 3 == 0 ? -128 : 127 - e);
  }
  w.values.resize(k);
  DequantizeRow(GgmlType::Q8_0, w.bytes.data(), w.values.data(), k);
  std::vector<float> x(k);
  for (int64_t e = 0; e < k; ++e) x[e] = (e % 2 ? -1.0f : 1.0f) * static_cast<float>(e % 13) / 12.0f;
  const FastGemmKernel& kernel = *FindFastGemm(GgmlType::Q8_0);
  PreparedRows p(kernel, x, 1, k);
  float y = 0.0f;
  RunGemm(kernel, w, p, 1, 0, 1, &y, 1);
  double oracle = 0.0, abs_sum = 0.0;
  for (int64_t e = 0; e < k; ++e) {
    oracle += w.values[e] * p.Value(0, e);
    abs_sum += std::fabs(w.values[e] * p.Value(0, e));
  }
  EXPECT_LE(std::fabs(y - oracle), Tolerance(k, abs_sum));
}

INSTANTIATE_TEST_SUITE_P(Types, LegacyGemmTest, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return std::string(TypeName(info.param)); });

}  // namespace
}  // namespace ps::cpu
