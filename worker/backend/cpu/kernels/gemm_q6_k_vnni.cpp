// The q6_K kernel of gemm_q6_k_avx2.cpp compiled for AVX-512 VNNI (gemm_q6_k_impl.h): the same
// bits, with vpdpwssd for the scaled sums and 32 vector registers. Used where UseAvx512Vnni().
// Thread-safety: pure functions.
#include <immintrin.h>

#include <algorithm>

#include "common/quant/blocks.h"
#include "worker/backend/cpu/kernels/fast_gemm.h"
#include "worker/backend/cpu/kernels/kquant_act_avx2.h"
#include "worker/backend/cpu/kernels/simd_avx2.h"

#define PS_Q6K_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define PS_Q6K_VNNI 1
#define PS_Q6K_TILE_ACTS 8

namespace ps::cpu {
namespace {
#include "worker/backend/cpu/kernels/gemm_q6_k_impl.h"
constexpr FastGemmKernel kQ6K = {KQuantActRowBytes, PrepareKQuantActAvx2, Gemm<Q6K>};
}  // namespace

const FastGemmKernel* FindQ6_KGemmVnni(GgmlType weight) { return weight == GgmlType::Q6_K ? &kQ6K : nullptr; }

}  // namespace ps::cpu
