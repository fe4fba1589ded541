// The CPU backend's element-wise ops where their rounding is chosen on purpose (ops.h).
#include "worker/backend/cpu/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

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

}  // namespace
}  // namespace ps::cpu
