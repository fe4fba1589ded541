// The CPU backend's element-wise ops where their rounding is chosen on purpose (ops.h), and the
// avx2 level's element-wise ops and attention (kernels/ops_avx2.h, kernels/attention_avx2.h)
// against the scalar ones, within stated tolerances, on sizes that are not multiples of 8.
#include "worker/backend/cpu/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "common/quant/quant.h"
#include "worker/backend/cpu/attention.h"
#include "worker/backend/cpu/kernel_level.h"
#include "worker/backend/cpu/kernels/ops_avx2.h"
#include "worker/backend/cpu/kernels/simd_avx2.h"
#include "worker/backend/cpu/kv_cache.h"
#include "worker/backend/cpu/thread_pool.h"

namespace ps::cpu {
namespace {

TEST(CpuOpsTest, ExpPolyIsWithinTwoUlpOfExp) {
  for (float x = -87.0f; x <= 88.0f; x += 0.0371f) {
    const float want = std::exp(x);
    const float got = ExpPoly(x);
    EXPECT_LE(std::fabs(got - want), 2.0f * (std::nextafter(want, INFINITY) - want)) << "x = " << x;
  }
}

TEST(CpuOpsTest, ExpPolyOverflowsAndUnderflowsCleanly) {
  EXPECT_EQ(ExpPoly(0.0f), 1.0f);
  EXPECT_EQ(ExpPoly(200.0f), std::numeric_limits<float>::infinity());
  EXPECT_EQ(ExpPoly(-200.0f), 0.0f);
  EXPECT_GT(ExpPoly(-100.0f), 0.0f);  // subnormal range still positive
  EXPECT_LT(ExpPoly(-100.0f), 1e-40f);
}

TEST(CpuOpsTest, DotSumsInDoubleWhateverTheLength) {
  // 1 + 1e-8 * n: a float accumulator would lose every small term after the first.
  for (int64_t n : {1, 15, 16, 17, 1000}) {
    std::vector<float> a(n, 1e-8f), b(n, 1.0f);
    a[0] = 1.0f;
    const double want = 1.0 + 1e-8 * static_cast<double>(n - 1);
    EXPECT_EQ(DotF32(a.data(), b.data(), n), static_cast<float>(want)) << "n = " << n;
  }
}

TEST(CpuOpsTest, SwiGluIsSiluTimesUp) {
  const std::vector<float> gate = {-3.0f, -0.5f, 0.0f, 0.5f, 3.0f};
  const std::vector<float> up = {1.0f, 2.0f, 3.0f, -1.0f, 0.25f};
  std::vector<float> out(gate.size());
  SwiGlu(gate.data(), up.data(), static_cast<int64_t>(gate.size()), out.data());
  for (size_t i = 0; i < gate.size(); ++i) {
    const double silu = gate[i] / (1.0 + std::exp(-static_cast<double>(gate[i])));
    EXPECT_NEAR(out[i], silu * up[i], 1e-6) << i;
  }
}

// ---------------------------------------------------------------------------------------------
// avx2 level against the scalar ops.

#define SKIP_WITHOUT_AVX2()                                                 \
  do {                                                                      \
    if (!CpuHasAvx2Fma()) GTEST_SKIP() << "this CPU lacks AVX2, FMA or F16C"; \
  } while (0)

// Sizes around the 8-lane and 32-element steps, and a model width plus a tail.
const int64_t kOddSizes[] = {1, 3, 7, 8, 9, 15, 31, 33, 100, 1029};

std::vector<float> Random(int64_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

PS_TARGET_AVX2 void Exp8Of(const float* x, float* out) { _mm256_storeu_ps(out, simd::Exp8(_mm256_loadu_ps(x))); }

TEST(CpuOpsAvx2Test, Exp8IsWithinTwoUlpOfExp) {
  SKIP_WITHOUT_AVX2();
  std::vector<float> xs;
  for (float x = -103.0f; x <= 88.5f; x += 0.0173f) xs.push_back(x);
  while (xs.size() % 8 != 0) xs.push_back(0.0f);
  std::vector<float> got(xs.size());
  for (size_t i = 0; i < xs.size(); i += 8) Exp8Of(&xs[i], &got[i]);
  for (size_t i = 0; i < xs.size(); ++i) {
    const float want = std::exp(xs[i]);
    if (want < std::numeric_limits<float>::min()) {
      // Subnormal results: the split-scale path keeps them, within one subnormal step or so.
      EXPECT_NEAR(got[i], want, 4 * std::numeric_limits<float>::denorm_min()) << "x = " << xs[i];
      continue;
    }
    EXPECT_LE(std::fabs(got[i] - want), 2.0f * (std::nextafter(want, INFINITY) - want)) << "x = " << xs[i];
  }
  const float inf = std::numeric_limits<float>::infinity();
  const float edges[8] = {-inf, inf, -200.0f, 200.0f, 0.0f, -0.0f, 89.0f, -150.0f};
  float out[8];
  Exp8Of(edges, out);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], inf);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], inf);
  EXPECT_EQ(out[4], 1.0f);
  EXPECT_EQ(out[5], 1.0f);
  EXPECT_EQ(out[6], inf);  // exp(89) > FLT_MAX
  EXPECT_GE(out[7], 0.0f);
}

TEST(CpuOpsAvx2Test, AddRmsNormMatchesScalar) {
  SKIP_WITHOUT_AVX2();
  for (int64_t n : kOddSizes) {
    for (bool with_add : {false, true}) {
      SCOPED_TRACE("n " + std::to_string(n) + (with_add ? " with add" : ""));
      const std::vector<float> x0 = Random(n, 2.0f, 1), add = Random(n, 0.5f, 2), w = Random(n, 1.0f, 3);
      std::vector<float> xs = x0, xv = x0, out_s(n), out_v(n);
      AddRmsNorm(xs.data(), with_add ? add.data() : nullptr, w.data(), n, 1e-5f, out_s.data());
      AddRmsNormAvx2(xv.data(), with_add ? add.data() : nullptr, w.data(), n, 1e-5f, out_v.data());
      // The residual add is one F32 add either way; the norm's float sum of squares (32 partial
      // sums) and the double one differ by a few ulp of the scale.
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_TRUE(SameBits(xv[i], xs[i])) << i;
        ASSERT_NEAR(out_v[i], out_s[i], 2e-6f * std::fabs(out_s[i]) + 1e-7f) << i;
      }
      // In place (out == x), as the head norms its gathered rows.
      std::vector<float> in_place = xv;
      AddRmsNormAvx2(in_place.data(), nullptr, w.data(), n, 1e-5f, in_place.data());
      for (int64_t i = 0; i < n; ++i) ASSERT_TRUE(SameBits(in_place[i], out_v[i])) << i;
    }
  }
}

TEST(CpuOpsAvx2Test, SwiGluMatchesScalarAndAnySplit) {
  SKIP_WITHOUT_AVX2();
  std::vector<float> gate = Random(1029, 3.0f, 4), up = Random(1029, 1.0f, 5);
  // Saturating inputs: exp(-g) overflows or underflows.
  gate[0] = -100.0f;
  gate[1] = 100.0f;
  gate[2] = -88.7f;
  gate[3] = 0.0f;
  for (int64_t n : kOddSizes) {
    SCOPED_TRACE("n " + std::to_string(n));
    std::vector<float> out_s(n), out_v(n);
    SwiGlu(gate.data(), up.data(), n, out_s.data());
    SwiGluAvx2(gate.data(), up.data(), n, out_v.data());
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(out_v[i], out_s[i], 4e-7f * std::fabs(out_s[i]) + 1e-30f) << i;
  }
  // The backend splits the flat [rows, n_ff] range over threads anywhere: same bits.
  const int64_t n = 1029;
  std::vector<float> whole(n), pieces(n);
  SwiGluAvx2(gate.data(), up.data(), n, whole.data());
  for (int64_t begin = 0, len = 1; begin < n; begin += len, len = len * 3 % 37 + 1) {
    const int64_t end = std::min(n, begin + len);
    SwiGluAvx2(gate.data() + begin, up.data() + begin, end - begin, pieces.data() + begin);
  }
  for (int64_t i = 0; i < n; ++i) ASSERT_TRUE(SameBits(pieces[i], whole[i])) << i;
}

// Qwen's layout pairs dimension i with i + n_rot/2 and gives pair i the angle Llama gives (2i, 2i+1).
TEST(CpuOpsTest, RopeRotateNeoxTurnsHalvesTogether) {
  const int64_t n_rot = 4, head_dim = 6, heads = 2;
  const RopeTable table(head_dim, n_rot, 10000.0f, {});
  std::vector<float> cs(n_rot);
  table.Angles(3, cs.data());
  std::vector<float> x(heads * head_dim);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.5f + static_cast<float>(i);
  std::vector<float> neox = x;
  RopeRotateNeox(neox.data(), heads, head_dim, n_rot, cs.data());
  for (int64_t h = 0; h < heads; ++h) {
    const float* v = &x[h * head_dim];
    const float* got = &neox[h * head_dim];
    for (int64_t i = 0; i < n_rot / 2; ++i) {
      const float c = cs[2 * i], sn = cs[2 * i + 1];
      EXPECT_FLOAT_EQ(got[i], v[i] * c - v[i + n_rot / 2] * sn) << h << " " << i;
      EXPECT_FLOAT_EQ(got[i + n_rot / 2], v[i] * sn + v[i + n_rot / 2] * c) << h << " " << i;
    }
    for (int64_t i = n_rot; i < head_dim; ++i) EXPECT_EQ(got[i], v[i]) << "past n_rot: " << i;
  }
  // Position 0 is the identity in both layouts; elsewhere the layouts differ.
  std::vector<float> normal = x;
  RopeRotate(normal.data(), heads, head_dim, n_rot, cs.data());
  EXPECT_NE(normal[1], neox[1]);
}

TEST(CpuOpsAvx2Test, RopeRotateMatchesScalar) {
  SKIP_WITHOUT_AVX2();
  for (int64_t n_rot : {2, 6, 8, 14, 16, 64}) {
    for (int64_t head_dim : {n_rot, n_rot + 6}) {
      SCOPED_TRACE("n_rot " + std::to_string(n_rot) + " head_dim " + std::to_string(head_dim));
      const RopeTable table(head_dim, n_rot, 10000.0f, {});
      for (int32_t pos : {0, 1, 17, 4000}) {
        std::vector<float> cs(n_rot);
        table.Angles(pos, cs.data());
        const int64_t heads = 3;
        const std::vector<float> x = Random(heads * head_dim, 1.0f, 6 + pos);
        std::vector<float> xs = x, xv = x;
        RopeRotate(xs.data(), heads, head_dim, n_rot, cs.data());
        RopeRotateAvx2(xv.data(), heads, head_dim, n_rot, cs.data());
        for (int64_t h = 0; h < heads; ++h) {
          for (int64_t i = 0; i < head_dim; ++i) {
            const int64_t at = h * head_dim + i;
            if (i >= n_rot) {
              ASSERT_TRUE(SameBits(xv[at], x[at])) << "dimension past n_rot changed: " << at;
            } else {
              ASSERT_NEAR(xv[at], xs[at], 1e-6f) << at;
            }
          }
        }
      }
    }
  }
}

TEST(CpuOpsAvx2Test, F16RoundingEqualsScalarConversion) {
  SKIP_WITHOUT_AVX2();
  std::vector<float> x = Random(1029, 10.0f, 7);
  const float edge[] = {0.0f, -0.0f, 65504.0f, 65520.0f, 1e6f, -1e6f, 6e-8f, 3e-8f, 1e-5f, -2.5e-6f, 1.0f + 0x1p-11f};
  std::copy(std::begin(edge), std::end(edge), x.begin());
  for (int64_t n : kOddSizes) {
    std::vector<uint16_t> got(n);
    RoundToF16RowAvx2(x.data(), got.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], Fp32ToFp16(x[i])) << "n " << n << " x = " << x[i];
  }
}

// Attention at avx2 against the scalar level on a random cache: GQA, a head_dim that is not a
// multiple of 8, positions across several tiles.
struct AttentionCase {
  int64_t n_head, n_head_kv, head_dim;
  bool f16;
};

class AttentionAvx2Test : public testing::TestWithParam<AttentionCase> {};

TEST_P(AttentionAvx2Test, MatchesScalarAndIgnoresTheBatch) {
  SKIP_WITHOUT_AVX2();
  const AttentionCase c = GetParam();
  const int64_t width = c.n_head * c.head_dim, kv_width = c.n_head_kv * c.head_dim;
  constexpr int32_t kPositions = 75;  // tiles of 32: two whole, one partial
  KvCache cache(1, 128, kv_width, 2, c.f16, KernelLevel::kAvx2);
  ASSERT_TRUE(cache.Reserve(0).ok());
  ASSERT_TRUE(cache.Reserve(1).ok());
  for (int32_t seq = 0; seq < 2; ++seq) {
    for (int32_t p = 0; p < kPositions; ++p) {
      const std::vector<float> k = Random(kv_width, 1.0f, 100 * seq + 2 * p), v = Random(kv_width, 1.0f, 100 * seq + 2 * p + 1);
      cache.Store(seq, 0, p, k.data(), v.data());
    }
    cache.Commit(seq, kPositions);
  }
  // Rows: sequence 0 at positions 0, 31, 32, 74 and sequence 1 at 40; queries large enough
  // that the softmax is far from uniform.
  const std::vector<int32_t> seqs = {0, 0, 0, 0, 1}, pos = {0, 31, 32, 74, 40};
  const int64_t n = static_cast<int64_t>(seqs.size());
  const std::vector<float> q = Random(n * width, 3.0f, 9);
  const std::vector<uint8_t> half(n, 0);
  const AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim};

  ThreadPool pool1(1), pool3(3);
  Attention scalar(1, shape, KernelLevel::kScalar), fast1(1, shape, KernelLevel::kAvx2),
      fast3(3, shape, KernelLevel::kAvx2);
  std::vector<float> want(n * width), got(n * width), got3(n * width);
  scalar.Run(pool1, cache, 0, q.data(), seqs.data(), pos.data(), half.data(), n, want.data());
  fast1.Run(pool1, cache, 0, q.data(), seqs.data(), pos.data(), half.data(), n, got.data());
  fast3.Run(pool3, cache, 0, q.data(), seqs.data(), pos.data(), half.data(), n, got3.data());
  // F32 accumulation in another order and a polynomial exp: within a few ulp of outputs of
  // magnitude about 1.
  for (int64_t i = 0; i < n * width; ++i) {
    ASSERT_NEAR(got[i], want[i], 2e-5f) << "row " << i / width << " element " << i % width;
    ASSERT_TRUE(SameBits(got3[i], got[i])) << "thread count changed element " << i;
  }
  // Each row alone gives the same bits as in the batch.
  for (int64_t r = 0; r < n; ++r) {
    std::vector<float> alone(width);
    fast3.Run(pool3, cache, 0, q.data() + r * width, &seqs[r], &pos[r], half.data(), 1, alone.data());
    for (int64_t i = 0; i < width; ++i) ASSERT_TRUE(SameBits(alone[i], got[r * width + i])) << "row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionAvx2Test,
                         testing::Values(AttentionCase{16, 4, 64, true}, AttentionCase{16, 4, 64, false},
                                         AttentionCase{6, 2, 20, true}, AttentionCase{5, 5, 12, false},
                                         AttentionCase{8, 1, 16, true}),
                         [](const testing::TestParamInfo<AttentionCase>& info) {
                           const AttentionCase& c = info.param;
                           std::string name = "h";  // appended piece by piece: GCC 12 -Wrestrict
                           name += std::to_string(c.n_head);
                           name += "_kv";
                           name += std::to_string(c.n_head_kv);
                           name += "_d";
                           name += std::to_string(c.head_dim);
                           name += c.f16 ? "_f16" : "_f32";
                           return name;
                         });

}  // namespace
}  // namespace ps::cpu
