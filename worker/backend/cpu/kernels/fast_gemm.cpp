#include "worker/backend/cpu/kernels/fast_gemm.h"

#include "worker/backend/cpu/kernel_level.h"

namespace ps::cpu {

const FastGemmKernel* FindFastGemm(GgmlType weight) {
  if (!CpuHasAvx2Fma()) return nullptr;
  if (const FastGemmKernel* k = FindLegacyGemmAvx2(weight)) return k;
  if (const FastGemmKernel* k = FindQ4_0GemmAvx2(weight)) return k;
  if (const FastGemmKernel* k = FindScaleMinKGemmAvx2(weight)) return k;
  if (const FastGemmKernel* k = FindQ6_KGemmAvx2(weight)) return k;
  return FindFloatGemmAvx2(weight);
}

}  // namespace ps::cpu
