// How the CUDA kernels read each weight type: every type is decoded in units of 32 consecutive
// elements (a legacy block, a k-quant sub-block pair, or 32 floats), and the GEMV kernel stages
// `tile_blocks` whole blocks per warp through shared memory with 16-byte loads. Shared by host
// code (launch sizes, checks) and device code (kernels), so it includes no CUDA header.
// Thread-safety: constants only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/quant/ggml_type.h"

// FormatOf and RowPitch are evaluated by kernels at compile time too.
#ifdef __CUDACC__
#define PS_HOST_DEVICE __host__ __device__
#else
#define PS_HOST_DEVICE
#endif

namespace ps::cuda {

inline constexpr int kUnitElems = 32;  // elements every decode step produces

struct WeightFormat {
  int block_elems = 0;  // elements per stored block (32 for the float types: 32 values)
  int block_bytes = 0;  // bytes per stored block
  int tile_blocks = 0;  // blocks a GEMV warp stages at once; tile_blocks * block_bytes % 16 == 0
  PS_HOST_DEVICE constexpr bool readable() const { return block_elems > 0; }
  PS_HOST_DEVICE constexpr int units_per_block() const { return block_elems / kUnitElems; }
  PS_HOST_DEVICE constexpr int tile_bytes() const { return tile_blocks * block_bytes; }
};

// The formats the kernels decode; {} (not readable) for every other type.
// Tiles hold 32 units (one per lane) except q6_K, whose 4-block tile (840 bytes) is not a
// multiple of 16 bytes, so it stages 8 blocks and each lane decodes two units.
PS_HOST_DEVICE constexpr WeightFormat FormatOf(GgmlType type) {
  switch (type) {
    case GgmlType::F32: return {32, 128, 32};
    case GgmlType::F16: return {32, 64, 32};
    case GgmlType::BF16: return {32, 64, 32};
    case GgmlType::Q4_0: return {32, 18, 32};
    case GgmlType::Q4_1: return {32, 20, 32};
    case GgmlType::Q5_0: return {32, 22, 32};
    case GgmlType::Q8_0: return {32, 34, 32};
    case GgmlType::Q4_K: return {256, 144, 4};
    case GgmlType::Q5_K: return {256, 176, 4};
    case GgmlType::Q6_K: return {256, 210, 8};
    default: return {};
  }
}

// Rows are uploaded with their start 16-byte aligned, so a warp's 16-byte loads never straddle
// rows; the last tile of a row may read into the padding (never past the pitch).
constexpr size_t kRowAlign = 16;
PS_HOST_DEVICE constexpr size_t RowPitch(size_t row_bytes) { return (row_bytes + kRowAlign - 1) / kRowAlign * kRowAlign; }

}  // namespace ps::cuda
