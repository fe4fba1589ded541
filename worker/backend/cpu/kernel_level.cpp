#include "worker/backend/cpu/kernel_level.h"

#include <cstdlib>
#include <string>

namespace ps::cpu {

bool CpuHasAvx2Fma() {
#if defined(__x86_64__) || defined(__i386__)
  // libgcc's checks include the OS saving the YMM registers (XGETBV) before reporting AVX2.
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  }();
  return has;
#else
  return false;
#endif
}

const char* KernelLevelName(KernelLevel level) {
  switch (level) {
    case KernelLevel::kAuto:
      return "auto";
    case KernelLevel::kScalar:
      return "scalar";
    case KernelLevel::kReference:
      return "reference";
    case KernelLevel::kAvx2:
      return "avx2";
  }
  return "?";
}

Result<KernelLevel> ParseKernelLevel(std::string_view name) {
  if (name.empty() || name == "auto") return KernelLevel::kAuto;
  if (name == "scalar") return KernelLevel::kScalar;
  if (name == "reference") return KernelLevel::kReference;
  if (name == "avx2") return KernelLevel::kAvx2;
  return Status::InvalidArgument("CPU kernel level '" + std::string(name) +
                                 "' is not one of scalar, reference, avx2, auto");
}

Result<KernelLevel> ResolveKernelLevel(KernelLevel requested) {
  KernelLevel level = requested;
  if (level == KernelLevel::kAuto) {
    const char* env = std::getenv(kKernelLevelEnv);
    Result<KernelLevel> parsed = ParseKernelLevel(env == nullptr ? "" : env);
    if (!parsed.ok()) {
      return Status::InvalidArgument(std::string(kKernelLevelEnv) + "=" + (env == nullptr ? "" : env) + ": " +
                                     parsed.status().message());
    }
    level = *parsed;
  }
  if (level == KernelLevel::kAuto) return CpuHasAvx2Fma() ? KernelLevel::kAvx2 : KernelLevel::kReference;
  if (level == KernelLevel::kAvx2 && !CpuHasAvx2Fma()) {
    return Status::Unsupported("CPU kernel level avx2: this CPU lacks AVX2, FMA or F16C (use reference or scalar)");
  }
  return level;
}

}  // namespace ps::cpu
