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

bool CpuHasAvx512Vnni() {
#if defined(__x86_64__) || defined(__i386__)
  // As above, libgcc's checks include the OS saving the ZMM and mask registers.
  static const bool has = [] {
    __builtin_cpu_init();
    return CpuHasAvx2Fma() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  }();
  return has;
#else
  return false;
#endif
}

const Result<bool>& UseAvx512Vnni() {
  static const Result<bool> use = []() -> Result<bool> {
    const char* env = std::getenv(kCpuIsaEnv);
    const std::string value = env == nullptr ? "" : env;
    if (value.empty() || value == "auto") return CpuHasAvx512Vnni();
    if (value == "avx2") return false;
    if (value == "avx512vnni") {
      if (!CpuHasAvx512Vnni()) {
        return Status::Unsupported(std::string(kCpuIsaEnv) +
                                   "=avx512vnni: this CPU lacks AVX-512 F/BW/VL/VNNI (use avx2 or auto)");
      }
      return true;
    }
    return Status::InvalidArgument(std::string(kCpuIsaEnv) + "=" + value + ": not one of avx2, avx512vnni, auto");
  }();
  return use;
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
  if (level == KernelLevel::kAuto) level = CpuHasAvx2Fma() ? KernelLevel::kAvx2 : KernelLevel::kReference;
  if (level == KernelLevel::kAvx2 && !CpuHasAvx2Fma()) {
    return Status::Unsupported("CPU kernel level avx2: this CPU lacks AVX2, FMA or F16C (use reference or scalar)");
  }
  if (level == KernelLevel::kAvx2) PS_RETURN_IF_ERROR(UseAvx512Vnni().status());
  return level;
}

}  // namespace ps::cpu
