// Launch sizes of the CUDA kernels and the shape/type checks the backend makes before uploading
// anything: host-side arithmetic kept apart from the kernels so it is tested without a GPU.
// Thread-safety: constants and pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "common/quant/ggml_type.h"
#include "common/util/status.h"

namespace ps::cuda {

inline constexpr int kWarpSize = 32;
// GEMV: one warp per output row, four warps per block.
inline constexpr int kGemvWarpsPerBlock = 4;
// Batches of up to this many rows multiply with the GEMV kernel (each warp keeps one accumulator
// per row); larger ones dequantize the weight to F16 and call cuBLAS.
inline constexpr int kGemvMaxRows = 8;
inline constexpr int kElementwiseThreads = 256;
inline constexpr int kNormThreads = 256;
// Attention: one block per (row, head); scores of kAttentionTile positions at a time.
inline constexpr int kAttentionThreads = 128;
inline constexpr int kAttentionTile = 64;
inline constexpr int kMaxHeadDim = 256;
static_assert(kMaxHeadDim % kAttentionThreads == 0, "each attention thread owns whole output dims");
// Elements of the F16 scratch a weight matrix is dequantized into for cuBLAS (64 MiB).
inline constexpr int64_t kWeightScratchElems = int64_t{32} << 20;

// Blocks of `threads` covering `items` work items. InvalidArgument when items < 1 (a kernel
// with an empty grid is a CUDA error; callers skip empty launches) or the grid would exceed
// CUDA's 2^31 - 1 blocks.
Result<uint32_t> GridBlocks(int64_t items, int threads);

inline bool UseGemv(int64_t n_rows) { return n_rows <= kGemvMaxRows; }

// Weight rows dequantized per cuBLAS call so that a chunk fits `budget_elems` F16 values:
// at least 1, at most `rows`.
int64_t GemmChunkRows(int64_t rows, int64_t cols, int64_t budget_elems);

// Unsupported naming the tensor and type when the kernels cannot read `type`, or when a row of
// `cols` elements is not a whole number of 32-element units.
Status CheckWeightMatrix(const std::string& name, GgmlType type, int64_t cols);

// Unsupported when the attention kernel cannot hold a head of head_dim values.
Status CheckHeadDim(int64_t head_dim);

}  // namespace ps::cuda
