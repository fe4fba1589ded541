// The fast (avx2) matrix product for q6_K weights (fast_gemm.h); q4_K and q5_K have their own
// kernel, on interleaved copies (gemm_scale_min_k_avx2.cpp).
//
// Activations are prepared once per row into 256-element int8 blocks with a float scale and
// 16-element group sums (kquant_act_avx2.h). A weight super-block meets an activation block in
// integers: the unsigned 6-bit weights (q + 32) times the int8 activations with maddubs (pairs
// summed to int16), the 8-bit sub-block scales applied with madd (int16 pairs summed to int32),
// and the sub-block results added into one 8 x int32 vector. The offset of -32 only needs the
// activation group sums: one more madd. Each super-block then costs one float FMA into the output
// element's 8-lane accumulator; a fixed horizontal sum ends the row. No per-block horizontal sums.
//
// Reproducibility: every output element y[i, r] owns its accumulator and sees exactly this
// sequence per super-block, in k order: an exact int32 vector (its lanes fixed by the element
// layout, so the same however it was computed), cvt, the product of the two scales, FMA. Tiles
// only decide which elements run side by side, never the per-element arithmetic, so results are
// bitwise the same for any n, r0/r1 split or tile position.
//
// Work order: weight rows in groups of about kRowGroupBytes (they stay in L2); for each group,
// activation rows in tiles of kTileActs; for each tile, each weight row of the group streams over
// all of k once, its super-blocks decoded in registers (nibbles, high bits, scale broadcasts)
// and shared by the tile's activation rows, which stay in L1. A big batch's
// activations are read from L3 once per group; a decode batch (n <= kTileActs) reads every weight
// once, streaming at memory bandwidth.
// Thread-safety: pure functions.
#include <immintrin.h>

#include <algorithm>

#include "common/quant/blocks.h"
#include "worker/backend/cpu/kernel_level.h"
#include "worker/backend/cpu/kernels/fast_gemm.h"
#include "worker/backend/cpu/kernels/kquant_act_avx2.h"
#include "worker/backend/cpu/kernels/simd_avx2.h"

#define PS_Q6K_TARGET __attribute__((target("avx2,fma,f16c")))
#define PS_Q6K_VNNI 0
#define PS_Q6K_TILE_ACTS 4

namespace ps::cpu {
namespace {
#include "worker/backend/cpu/kernels/gemm_q6_k_impl.h"
constexpr FastGemmKernel kQ6K = {KQuantActRowBytes, PrepareKQuantActAvx2, Gemm<Q6K>};
}  // namespace

const FastGemmKernel* FindQ6_KGemmAvx2(GgmlType weight) {
  if (!CpuHasAvx2Fma()) return nullptr;
  return weight == GgmlType::Q6_K ? &kQ6K : nullptr;
}

}  // namespace ps::cpu
