// Which CPU kernels the backend runs. Two families with different numerics:
//   - scalar / reference: llama.cpp's portable numerics, bit for bit (the activations quantized
//     by ggml's reference quantizers, integer block dots, float steps in ggml's order, float dots
//     summed in double). These give exactly the tokens of a baseline x86-64 llama.cpp build such
//     as the npm llama.node. `scalar` runs the plain C++ kernels; `reference` runs the same
//     arithmetic with AVX2 integer parts where the CPU has AVX2 (bit-identical to scalar).
//   - avx2: the fast kernels (worker/backend/cpu/kernels): 8-wide float accumulators with FMA,
//     cache-blocked tiles for prompt batches, SIMD attention and element-wise ops. They round
//     differently from the reference (tests bound the difference), but every output element is
//     still computed by the same instruction sequence whatever the batch size, the batch
//     composition, the tile it falls in or the thread count, so results stay reproducible.
// PIPESHARD_CPU_KERNELS=scalar|reference|avx2|auto picks one for every CPU backend in the process;
// auto (or unset) is avx2 where the CPU has AVX2 and FMA, else reference.
// Inside the avx2 level some kernels have a variant that uses AVX-512 VNNI instructions (vpdpbusd
// on 256-bit vectors, 32 vector registers). It computes the same exact integers and the same float
// steps, so it gives the same bits; it only runs faster. PIPESHARD_CPU_ISA=avx2|avx512vnni|auto
// picks the instructions (auto: avx512vnni where the CPU has it); tests and benchmarks set avx2 to
// compare the two.
// Thread-safety: pure functions; CPU detection is done once, thread-safely.
#pragma once

#include <string_view>

#include "common/util/status.h"

namespace ps::cpu {

enum class KernelLevel {
  kAuto,       // resolve with ResolveKernelLevel
  kScalar,     // plain C++ reference kernels
  kReference,  // reference numerics, AVX2 integer parts where available
  kAvx2,       // fast kernels; needs AVX2 + FMA + F16C
};

inline constexpr const char* kKernelLevelEnv = "PIPESHARD_CPU_KERNELS";
inline constexpr const char* kCpuIsaEnv = "PIPESHARD_CPU_ISA";

// True when the CPU (and OS) support AVX2, FMA and F16C.
bool CpuHasAvx2Fma();

// True when the CPU (and OS) support AVX-512 F, BW, VL and VNNI besides AVX2/FMA/F16C.
bool CpuHasAvx512Vnni();

// Whether the avx2 level's kernels use their AVX-512 VNNI variants: PIPESHARD_CPU_ISA (read once)
// and the CPU. An error names the variable and the value, or the missing CPU feature. Decided
// once; the reference is to that one answer, so the per-product lookups copy nothing.
const Result<bool>& UseAvx512Vnni();

// "scalar", "reference", "avx2" or "auto".
const char* KernelLevelName(KernelLevel level);

// Parses a level name as the environment variable spells it ("" means auto).
Result<KernelLevel> ParseKernelLevel(std::string_view name);

// Turns `requested` into a concrete level: kAuto reads PIPESHARD_CPU_KERNELS (unset or "auto":
// the fastest level this CPU runs). Errors name the variable and the value, or the missing CPU
// feature when avx2 is asked for on a CPU without it; a resolved avx2 level also checks
// PIPESHARD_CPU_ISA (UseAvx512Vnni).
Result<KernelLevel> ResolveKernelLevel(KernelLevel requested);

}  // namespace ps::cpu
