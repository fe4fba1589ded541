// CPU kernel levels (kernel_level.h): names, PIPESHARD_CPU_KERNELS and what auto resolves to.
#include "worker/backend/cpu/kernel_level.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace ps::cpu {
namespace {

// Sets PIPESHARD_CPU_KERNELS (or unsets it) for one test and restores the old value after.
class ScopedKernelEnv {
 public:
  explicit ScopedKernelEnv(const char* value) {
    if (const char* old = std::getenv(kKernelLevelEnv)) old_ = old;
    if (value == nullptr) {
      unsetenv(kKernelLevelEnv);
    } else {
      setenv(kKernelLevelEnv, value, 1);
    }
  }
  ~ScopedKernelEnv() {
    if (old_) {
      setenv(kKernelLevelEnv, old_->c_str(), 1);
    } else {
      unsetenv(kKernelLevelEnv);
    }
  }
  ScopedKernelEnv(const ScopedKernelEnv&) = delete;
  ScopedKernelEnv& operator=(const ScopedKernelEnv&) = delete;

 private:
  std::optional<std::string> old_;
};

KernelLevel Fastest() { return CpuHasAvx2Fma() ? KernelLevel::kAvx2 : KernelLevel::kReference; }

TEST(KernelLevelTest, ParsesEveryNameItPrints) {
  for (KernelLevel level : {KernelLevel::kAuto, KernelLevel::kScalar, KernelLevel::kReference, KernelLevel::kAvx2}) {
    const Result<KernelLevel> parsed = ParseKernelLevel(KernelLevelName(level));
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(*parsed, level) << KernelLevelName(level);
  }
  EXPECT_EQ(ParseKernelLevel("").value(), KernelLevel::kAuto);
}

TEST(KernelLevelTest, RejectsUnknownNames) {
  for (const char* bad : {"AVX2", "avx512", "scalar ", "fast", "ref"}) {
    const Result<KernelLevel> parsed = ParseKernelLevel(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(std::string("'") + bad + "'"), std::string::npos)
        << parsed.status().message();
  }
}

TEST(KernelLevelTest, AutoWithoutTheVariableIsTheFastestLevel) {
  ScopedKernelEnv env(nullptr);
  EXPECT_EQ(ResolveKernelLevel(KernelLevel::kAuto).value(), Fastest());
  ScopedKernelEnv empty("");
  EXPECT_EQ(ResolveKernelLevel(KernelLevel::kAuto).value(), Fastest());
  ScopedKernelEnv spelled("auto");
  EXPECT_EQ(ResolveKernelLevel(KernelLevel::kAuto).value(), Fastest());
}

TEST(KernelLevelTest, AutoFollowsTheVariable) {
  {
    ScopedKernelEnv env("scalar");
    EXPECT_EQ(ResolveKernelLevel(KernelLevel::kAuto).value(), KernelLevel::kScalar);
  }
  {
    ScopedKernelEnv env("reference");
    EXPECT_EQ(ResolveKernelLevel(KernelLevel::kAuto).value(), KernelLevel::kReference);
  }
}

TEST(KernelLevelTest, BadVariableNamesTheVariableAndTheValue) {
  for (const char* bad : {"turbo", "AVX2", " avx2"}) {
    ScopedKernelEnv env(bad);
    const Result<KernelLevel> level = ResolveKernelLevel(KernelLevel::kAuto);
    ASSERT_FALSE(level.ok()) << bad;
    EXPECT_EQ(level.status().code(), StatusCode::kInvalidArgument);
    const std::string& msg = level.status().message();
    EXPECT_NE(msg.find("PIPESHARD_CPU_KERNELS"), std::string::npos) << msg;
    EXPECT_NE(msg.find(bad), std::string::npos) << msg;
  }
}

TEST(KernelLevelTest, AnExplicitLevelIgnoresTheVariable) {
  ScopedKernelEnv env("not-a-level");
  EXPECT_EQ(ResolveKernelLevel(KernelLevel::kScalar).value(), KernelLevel::kScalar);
  EXPECT_EQ(ResolveKernelLevel(KernelLevel::kReference).value(), KernelLevel::kReference);
}

TEST(KernelLevelTest, Avx2NeedsTheCpuFeatures) {
  ScopedKernelEnv env("avx2");
  for (KernelLevel requested : {KernelLevel::kAvx2, KernelLevel::kAuto}) {
    const Result<KernelLevel> level = ResolveKernelLevel(requested);
    if (CpuHasAvx2Fma()) {
      ASSERT_TRUE(level.ok()) << level.status().ToString();
      EXPECT_EQ(*level, KernelLevel::kAvx2);
    } else {
      ASSERT_FALSE(level.ok());
      EXPECT_EQ(level.status().code(), StatusCode::kUnsupported);
      EXPECT_NE(level.status().message().find("AVX2"), std::string::npos) << level.status().message();
    }
  }
}

}  // namespace
}  // namespace ps::cpu
