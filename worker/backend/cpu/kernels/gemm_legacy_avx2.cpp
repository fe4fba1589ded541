// PLACEHOLDER until the legacy fast kernels land: no fast kernel, MatMul uses the reference ones.
#include "worker/backend/cpu/kernels/fast_gemm.h"

namespace ps::cpu {

const FastGemmKernel* FindLegacyGemmAvx2(GgmlType) { return nullptr; }

}  // namespace ps::cpu
