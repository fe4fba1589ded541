// The fast (KernelLevel::kAvx2) matrix-product kernels: y[i, r] = x[i, :] . W[r, :] for weight
// rows r in [r0, r1) and n activation rows, W in its stored GGUF type, read in place.
//
// Each weight type has a FastGemmKernel. MatMul first runs `prepare` on every activation row
// (quantize to the kernel's 8-bit format, or convert to F16 / keep F32), then splits the weight
// rows over the threads and calls `gemm` once per thread on its row range and all n prepared
// rows. The kernel does its own register tiling and cache blocking inside that call.
//
// Contract every kernel keeps (tests/unit/fast_gemm_*_test.cpp check it):
//   - accuracy: within the stated tolerance of the scalar reference (the dequantized weights times
//     the prepared activations, summed in double);
//   - reproducibility: y[i, r] depends only on weight row r and prepared row i, never on n, r0,
//     r1, i's place in the batch or the tile the pair falls in (the tail paths compute with the
//     same instruction sequence per element as the full tiles);
//   - no allocation, no locks; only reads W and the prepared rows, only writes its own y cells.
// The AVX2 kernels carry __attribute__((target("avx2,fma,f16c"))) and are returned only when
// CpuHasAvx2Fma(), so the build never assumes the build machine's CPU. A kernel's AVX-512 VNNI
// variant (target adds avx512f/bw/vl/vnni) is returned instead where UseAvx512Vnni() says so; it
// keeps the same prepared rows, copy and per-element arithmetic, so it gives the same bits.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/quant/ggml_type.h"

namespace ps::cpu {

struct FastGemmArgs {
  const uint8_t* w = nullptr;  // weight row 0
  size_t w_row_bytes = 0;      // bytes between weight rows
  int64_t r0 = 0, r1 = 0;      // weight rows to compute
  const uint8_t* act = nullptr;  // prepared activation row 0
  size_t act_stride = 0;         // bytes between prepared rows (a multiple of 64)
  int64_t n = 0;                 // activation rows
  int64_t k = 0;                 // elements per row (a whole number of the weight's blocks)
  float* y = nullptr;            // y[i * ldy + r]
  int64_t ldy = 0;
  // The kernel's load-time copy of W (FastGemmKernel::repack), or nullptr. Kernels that have
  // one may read it for some batch sizes and W for others: both give the same bits.
  const uint8_t* repacked = nullptr;
};

struct FastGemmKernel {
  // Bytes one prepared activation row of k elements takes.
  size_t (*prepared_row_bytes)(int64_t k);
  // Writes the prepared form of x[0..k) to dst (64-byte aligned).
  void (*prepare)(const float* x, void* dst, int64_t k);
  void (*gemm)(const FastGemmArgs& args);
  // Optional (nullptr: the kernel reads W in place only): a layout of W made once at load time
  // that the kernel reads faster for some batch sizes (decode), as llama.cpp repacks q4_0.
  // repacked_bytes(rows, k) sizes it; repack writes it (64-byte aligned dst) from the GGUF rows.
  size_t (*repacked_bytes)(int64_t rows, int64_t k) = nullptr;
  void (*repack)(const uint8_t* w, size_t w_row_bytes, int64_t rows, int64_t k, uint8_t* dst) = nullptr;
};

// The fast kernel for `weight`, or nullptr when there is none or the CPU lacks AVX2/FMA/F16C
// (MatMul then falls back to the reference kernels for that matrix).
const FastGemmKernel* FindFastGemm(GgmlType weight);

// Per-family lookups behind FindFastGemm; each returns nullptr for types it does not handle.
// kernels/gemm_legacy_avx2.cpp: Q5_0 and Q4_1.
const FastGemmKernel* FindLegacyGemmAvx2(GgmlType weight);
// kernels/gemm_q8_0_avx2.cpp: Q8_0, from a copy interleaved in groups of 8 rows.
const FastGemmKernel* FindQ8_0GemmAvx2(GgmlType weight);
// The same, with AVX-512 VNNI tiles (same file); call only when CpuHasAvx512Vnni().
const FastGemmKernel* FindQ8_0GemmVnni(GgmlType weight);
// kernels/gemm_q4_0_avx2.cpp: Q4_0, from a copy interleaved in groups of 8 rows.
const FastGemmKernel* FindQ4_0GemmAvx2(GgmlType weight);
// The same, with AVX-512 VNNI tiles (same file); call only when CpuHasAvx512Vnni().
const FastGemmKernel* FindQ4_0GemmVnni(GgmlType weight);
// kernels/gemm_scale_min_k_avx2.cpp: Q4_K and Q5_K, from copies interleaved in groups of 8 rows.
const FastGemmKernel* FindScaleMinKGemmAvx2(GgmlType weight);
// The same, with AVX-512 VNNI tiles (same file); call only when CpuHasAvx512Vnni().
const FastGemmKernel* FindScaleMinKGemmVnni(GgmlType weight);
// kernels/gemm_q6_k_avx2.cpp: Q6_K.
const FastGemmKernel* FindQ6_KGemmAvx2(GgmlType weight);
// kernels/gemm_q6_k_vnni.cpp: the same with AVX-512 VNNI; call only when CpuHasAvx512Vnni().
const FastGemmKernel* FindQ6_KGemmVnni(GgmlType weight);
// kernels/gemm_float_avx2.cpp: F32, F16, BF16.
const FastGemmKernel* FindFloatGemmAvx2(GgmlType weight);

}  // namespace ps::cpu
