#include "worker/backend/cpu/kernels/fast_gemm.h"

#include "worker/backend/cpu/kernel_level.h"

namespace ps::cpu {

const FastGemmKernel* FindFastGemm(GgmlType weight) {
  if (!CpuHasAvx2Fma()) return nullptr;
  // ResolveKernelLevel reported a bad PIPESHARD_CPU_ISA before any backend got here; a direct
  // caller with a bad value gets the AVX2 kernels.
  const Result<bool>& vnni = UseAvx512Vnni();
  if (vnni.ok() && *vnni) {
    if (const FastGemmKernel* k = FindQ8_0GemmVnni(weight)) return k;
    if (const FastGemmKernel* k = FindQ4_0GemmVnni(weight)) return k;
    if (const FastGemmKernel* k = FindScaleMinKGemmVnni(weight)) return k;
    if (const FastGemmKernel* k = FindQ6_KGemmVnni(weight)) return k;
  }
  if (const FastGemmKernel* k = FindLegacyGemmAvx2(weight)) return k;
  if (const FastGemmKernel* k = FindQ8_0GemmAvx2(weight)) return k;
  if (const FastGemmKernel* k = FindQ4_0GemmAvx2(weight)) return k;
  if (const FastGemmKernel* k = FindScaleMinKGemmAvx2(weight)) return k;
  if (const FastGemmKernel* k = FindQ6_KGemmAvx2(weight)) return k;
  return FindFloatGemmAvx2(weight);
}

}  // namespace ps::cpu
