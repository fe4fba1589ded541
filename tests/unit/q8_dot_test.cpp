// Tests of common/quant/q8_activation.h: which activation format each weight type uses, the
// activation quantizers against hand-computed blocks (ggml's reference roundings), the dot kernels
// against a double-precision sum over the decoded values and against ggml's float association,
// and the AVX2 kernels against the scalar ones bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "common/quant/blocks.h"
#include "common/quant/q8_activation.h"
#include "common/quant/quant.h"

namespace ps {
namespace {

constexpr GgmlType kQuantized[] = {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q8_0,
                                   GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

// Byte buffers over uint32_t so q8_K blocks (float d) are aligned.
struct Row {
  std::vector<uint32_t> words;
  void* data() { return words.data(); }
  const void* data() const { return words.data(); }
  unsigned char* bytes() { return reinterpret_cast<unsigned char*>(words.data()); }
};

Row Bytes(GgmlType type, int64_t n) {
  const Result<size_t> bytes = RowBytes(type, n);
  EXPECT_TRUE(bytes.ok());
  return Row{std::vector<uint32_t>((bytes.ok() ? *bytes : 0) / 4 + 1)};
}

Row QuantizeActivations(GgmlType act_type, const std::vector<float>& x) {
  Row out = Bytes(act_type, static_cast<int64_t>(x.size()));
  QuantizeActivationRow(act_type, x.data(), out.data(), static_cast<int64_t>(x.size()));
  return out;
}

Row QuantizeWeights(GgmlType type, const std::vector<float>& x) {
  Row out = Bytes(type, static_cast<int64_t>(x.size()));
  QuantizeRow(type, x.data(), out.data(), static_cast<int64_t>(x.size()));
  return out;
}

std::vector<float> Gaussian(int64_t n, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = dist(rng);
  return x;
}

// The activation values as the kernels see them: d * q per element.
std::vector<double> DecodeActivations(GgmlType act_type, const Row& row, int64_t n) {
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (act_type == GgmlType::Q8_0) {
      const auto& blk = static_cast<const block_q8_0*>(row.data())[i / kQK];
      out[i] = static_cast<double>(Fp16ToFp32(blk.d)) * blk.qs[i % kQK];
    } else if (act_type == GgmlType::Q8_1) {
      const auto& blk = static_cast<const block_q8_1*>(row.data())[i / kQK];
      out[i] = static_cast<double>(Fp16ToFp32(blk.d)) * blk.qs[i % kQK];
    } else {
      const auto& blk = static_cast<const block_q8_K*>(row.data())[i / kQK_K];
      out[i] = static_cast<double>(blk.d) * blk.qs[i % kQK_K];
    }
  }
  return out;
}

TEST(ActivationTypeTest, MatchesGgmlVecDotTypes) {
  EXPECT_EQ(ActivationType(GgmlType::Q4_0), GgmlType::Q8_0);
  EXPECT_EQ(ActivationType(GgmlType::Q5_0), GgmlType::Q8_0);
  EXPECT_EQ(ActivationType(GgmlType::Q8_0), GgmlType::Q8_0);
  EXPECT_EQ(ActivationType(GgmlType::Q4_1), GgmlType::Q8_1);
  EXPECT_EQ(ActivationType(GgmlType::Q4_K), GgmlType::Q8_K);
  EXPECT_EQ(ActivationType(GgmlType::Q5_K), GgmlType::Q8_K);
  EXPECT_EQ(ActivationType(GgmlType::Q6_K), GgmlType::Q8_K);
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q5_1, GgmlType::Q2_K}) {
    EXPECT_FALSE(ActivationType(t).has_value()) << TypeName(t);
    EXPECT_EQ(FindQuantizedDot(t), nullptr) << TypeName(t);
  }
  for (GgmlType t : kQuantized) {
    EXPECT_NE(FindQuantizedDot(t, DotKernels::kScalar), nullptr) << TypeName(t);
    EXPECT_NE(FindQuantizedDot(t), nullptr) << TypeName(t);
  }
}

// A block whose extreme is 127 has d = 1 and id = 1, so the quants are x rounded: q8_0 and q8_1
// round halves away from zero (roundf).
TEST(QuantizeActivationTest, Q8_0AndQ8_1RoundHalvesAwayFromZero) {
  std::vector<float> x(kQK, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 0.49f;
  x[4] = -126.5f;
  const int8_t expected[5] = {127, 3, -3, 0, -127};
  for (GgmlType act : {GgmlType::Q8_0, GgmlType::Q8_1}) {
    SCOPED_TRACE(TypeName(act));
    const Row row = QuantizeActivations(act, x);
    const uint16_t d = act == GgmlType::Q8_0 ? static_cast<const block_q8_0*>(row.data())->d
                                             : static_cast<const block_q8_1*>(row.data())->d;
    const int8_t* qs = act == GgmlType::Q8_0 ? static_cast<const block_q8_0*>(row.data())->qs
                                             : static_cast<const block_q8_1*>(row.data())->qs;
    EXPECT_EQ(Fp16ToFp32(d), 1.0f);
    for (int j = 0; j < 5; ++j) EXPECT_EQ(qs[j], expected[j]) << j;
    for (int j = 5; j < kQK; ++j) EXPECT_EQ(qs[j], 0) << j;
  }
  // q8_1 also stores s = d * sum(q) = 127 + 3 - 3 + 0 - 127.
  const Row q81 = QuantizeActivations(GgmlType::Q8_1, x);
  EXPECT_EQ(Fp16ToFp32(static_cast<const block_q8_1*>(q81.data())->s), 0.0f);
}

TEST(QuantizeActivationTest, Q8_1SumIsScaledInHalfPrecision) {
  const std::vector<float> x = Gaussian(2 * kQK, 3);
  const Row row = QuantizeActivations(GgmlType::Q8_1, x);
  for (int b = 0; b < 2; ++b) {
    const auto& blk = static_cast<const block_q8_1*>(row.data())[b];
    int sum = 0;
    for (int8_t q : blk.qs) sum += q;
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[b * kQK + j]));
    const float d = amax / 127.0f;
    EXPECT_EQ(blk.d, Fp32ToFp16(d));
    EXPECT_EQ(blk.s, Fp32ToFp16(static_cast<float>(sum) * d));
  }
}

// q8_K scales by the signed extreme (it becomes -127), rounds to nearest even and keeps d in F32.
TEST(QuantizeActivationTest, Q8_KUsesSignedExtremeAndRoundsToEven) {
  std::vector<float> x(kQK_K, 0.0f);
  x[0] = -127.0f;  // iscale = -127 / -127 = 1
  x[1] = 2.5f;
  x[2] = 3.5f;
  x[3] = -2.5f;
  x[17] = 100.0f;
  const Row row = QuantizeActivations(GgmlType::Q8_K, x);
  const auto& blk = *static_cast<const block_q8_K*>(row.data());
  EXPECT_EQ(blk.d, 1.0f);
  EXPECT_EQ(blk.qs[0], -127);
  EXPECT_EQ(blk.qs[1], 2);
  EXPECT_EQ(blk.qs[2], 4);
  EXPECT_EQ(blk.qs[3], -2);
  EXPECT_EQ(blk.bsums[0], -127 + 2 + 4 - 2);
  EXPECT_EQ(blk.bsums[1], 100);
  for (int g = 2; g < kQK_K / 16; ++g) EXPECT_EQ(blk.bsums[g], 0) << g;

  x[0] = 127.0f;  // a positive extreme flips every sign: iscale = -1, d = -1
  const Row flipped = QuantizeActivations(GgmlType::Q8_K, x);
  const auto& fb = *static_cast<const block_q8_K*>(flipped.data());
  EXPECT_EQ(fb.d, -1.0f);
  EXPECT_EQ(fb.qs[0], -127);
  EXPECT_EQ(fb.qs[1], -2);
  EXPECT_EQ(fb.qs[17], -100);
}

TEST(QuantizeActivationTest, Q8_KZeroBlockIsAllZero) {
  std::vector<float> x(2 * kQK_K, 0.0f);
  x[kQK_K + 5] = 1.0f;
  const Row row = QuantizeActivations(GgmlType::Q8_K, x);
  const auto& zero = static_cast<const block_q8_K*>(row.data())[0];
  EXPECT_EQ(zero.d, 0.0f);
  for (int8_t q : zero.qs) EXPECT_EQ(q, 0);
  for (int16_t s : zero.bsums) EXPECT_EQ(s, 0);
  EXPECT_EQ(static_cast<const block_q8_K*>(row.data())[1].qs[5], -127);
}

// Every kernel equals the exact dot product of the decoded weights and decoded activations up to
// float rounding (q4_1's offset term uses the stored half-precision block sum, as ggml does).
TEST(DotQuantizedTest, ScalarKernelsMatchDecodedDoubleDot) {
  for (GgmlType type : kQuantized) {
    SCOPED_TRACE(TypeName(type));
    const int64_t n = 1024;
    const GgmlType act = *ActivationType(type);
    const Row w = QuantizeWeights(type, Gaussian(n, 11));
    const Row a = QuantizeActivations(act, Gaussian(n, 12, 3.0f));
    const std::vector<float> wf = [&] {
      std::vector<float> v(n);
      DequantizeRow(type, w.data(), v.data(), n);
      return v;
    }();
    const std::vector<double> af = DecodeActivations(act, a, n);
    double exact = 0.0;
    double magnitude = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      double wi = wf[i];
      if (type == GgmlType::Q4_1) wi -= Fp16ToFp32(static_cast<const block_q4_1*>(w.data())[i / kQK].m);
      exact += wi * af[i];
      magnitude += std::fabs(wi * af[i]);
    }
    if (type == GgmlType::Q4_1) {
      for (int64_t b = 0; b < n / kQK; ++b) {
        const double m = Fp16ToFp32(static_cast<const block_q4_1*>(w.data())[b].m);
        const double s = Fp16ToFp32(static_cast<const block_q8_1*>(a.data())[b].s);
        exact += m * s;
        magnitude += std::fabs(m * s);
      }
    }
    const float got = FindQuantizedDot(type, DotKernels::kScalar)(w.data(), a.data(), n);
    EXPECT_NEAR(got, exact, 1e-5 * magnitude);
  }
}

// ggml's q8_0 kernel: sumf += sumi * (d_w * d_a), block by block, in float.
TEST(DotQuantizedTest, Q8_0FollowsGgmlAssociation) {
  const int64_t n = 8 * kQK;
  const Row w = QuantizeWeights(GgmlType::Q8_0, Gaussian(n, 21));
  const Row a = QuantizeActivations(GgmlType::Q8_0, Gaussian(n, 22));
  const auto* wb = static_cast<const block_q8_0*>(w.data());
  const auto* ab = static_cast<const block_q8_0*>(a.data());
  float expected = 0.0f;
  for (int b = 0; b < n / kQK; ++b) {
    int sumi = 0;
    for (int j = 0; j < kQK; ++j) sumi += wb[b].qs[j] * ab[b].qs[j];
    expected += static_cast<float>(sumi) * (Fp16ToFp32(wb[b].d) * Fp16ToFp32(ab[b].d));
  }
  for (DotKernels k : {DotKernels::kScalar, DotKernels::kFastest}) {
    EXPECT_EQ(FindQuantizedDot(GgmlType::Q8_0, k)(w.data(), a.data(), n), expected);
  }
}

// ggml's k-quant kernels: eight integer lanes (element index mod 8) per super-block, each scaled
// by d in its own float lane; mins subtracted from the running sum; lanes added last, in order.
TEST(DotQuantizedTest, Q6_KFollowsGgmlLaneOrder) {
  const int64_t n = 4 * kQK_K;
  const Row w = QuantizeWeights(GgmlType::Q6_K, Gaussian(n, 31));
  const Row a = QuantizeActivations(GgmlType::Q8_K, Gaussian(n, 32));
  std::vector<float> wf(n);
  DequantizeRow(GgmlType::Q6_K, w.data(), wf.data(), n);
  const auto* wb = static_cast<const block_q6_K*>(w.data());
  const auto* ab = static_cast<const block_q8_K*>(a.data());
  float lanes[8] = {};
  for (int b = 0; b < n / kQK_K; ++b) {
    const float d = Fp16ToFp32(wb[b].d);
    int lane_sums[8] = {};
    for (int e = 0; e < kQK_K; ++e) {
      // Recover the 6-bit value from the dequantized element: x = d * sc * q.
      const int sc = wb[b].scales[e / 16];
      const int q = sc == 0 ? 0 : static_cast<int>(std::lround(wf[b * kQK_K + e] / (d * static_cast<float>(sc))));
      lane_sums[e % 8] += sc * q * ab[b].qs[e];
    }
    for (int l = 0; l < 8; ++l) lanes[l] += (d * ab[b].d) * static_cast<float>(lane_sums[l]);
  }
  float expected = 0.0f;
  for (float l : lanes) expected += l;
  for (DotKernels k : {DotKernels::kScalar, DotKernels::kFastest}) {
    EXPECT_EQ(FindQuantizedDot(GgmlType::Q6_K, k)(w.data(), a.data(), n), expected);
  }
}

// Random bytes exercise every bit pattern of the quants (q8_0 weights of -128 included); the
// half-precision scales are replaced by finite values so the sums stay comparable.
void RandomizeBlocks(GgmlType type, Row& row, int64_t n, std::mt19937& rng) {
  const TypeTraits traits = TraitsOf(type);
  const size_t blocks = static_cast<size_t>(n / traits.block_size);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  unsigned char* p = row.bytes();
  for (size_t i = 0; i < blocks * traits.block_bytes; ++i) p[i] = static_cast<unsigned char>(byte(rng));
  for (size_t b = 0; b < blocks; ++b) {
    unsigned char* blk = p + b * traits.block_bytes;
    const uint16_t d = Fp32ToFp16(scale(rng));
    const uint16_t m = Fp32ToFp16(scale(rng));
    switch (type) {
      case GgmlType::Q6_K:
        std::memcpy(blk + offsetof(block_q6_K, d), &d, 2);
        break;
      case GgmlType::Q4_K:
      case GgmlType::Q5_K:
      case GgmlType::Q4_1:
        std::memcpy(blk, &d, 2);
        std::memcpy(blk + 2, &m, 2);
        break;
      default:
        std::memcpy(blk, &d, 2);
        break;
    }
  }
}

TEST(DotQuantizedTest, Avx2KernelsEqualScalarBitForBit) {
  if (!QuantizedDotUsesAvx2()) GTEST_SKIP() << "skipped: this CPU has no AVX2, only the scalar kernels run";
  std::mt19937 rng(7);
  for (GgmlType type : kQuantized) {
    SCOPED_TRACE(TypeName(type));
    const GgmlType act = *ActivationType(type);
    const QuantizedDotFn scalar = FindQuantizedDot(type, DotKernels::kScalar);
    const QuantizedDotFn fast = FindQuantizedDot(type, DotKernels::kFastest);
    ASSERT_NE(scalar, fast);
    for (int trial = 0; trial < 40; ++trial) {
      const int64_t n = TraitsOf(type).block_size * (1 + trial % 9);
      Row w = Bytes(type, n);
      if (trial % 2 == 0) {
        RandomizeBlocks(type, w, n, rng);
      } else {
        w = QuantizeWeights(type, Gaussian(n, static_cast<uint32_t>(100 + trial)));
      }
      std::vector<float> x = Gaussian(n, static_cast<uint32_t>(200 + trial), trial % 3 == 0 ? 50.0f : 1.0f);
      if (trial % 5 == 0) std::fill(x.begin(), x.begin() + std::min<int64_t>(n, kQK_K), 0.0f);  // zero blocks
      const Row a = QuantizeActivations(act, x);
      const float want = scalar(w.data(), a.data(), n);
      const float got = fast(w.data(), a.data(), n);
      EXPECT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want)) << "trial " << trial << ": " << got
                                                                             << " vs " << want;
    }
  }
}

}  // namespace
}  // namespace ps
