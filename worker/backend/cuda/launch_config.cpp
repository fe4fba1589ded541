#include "worker/backend/cuda/launch_config.h"

#include <algorithm>
#include <limits>

#include "worker/backend/cuda/weight_format.h"

namespace ps::cuda {

Result<uint32_t> GridBlocks(int64_t items, int threads) {
  if (items < 1 || threads < 1) {
    return Status::InvalidArgument("CUDA launch: " + std::to_string(items) + " items in blocks of " +
                                   std::to_string(threads) + " threads");
  }
  const int64_t blocks = (items + threads - 1) / threads;
  constexpr int64_t kMaxGrid = std::numeric_limits<int32_t>::max();  // gridDim.x limit
  if (blocks > kMaxGrid) {
    return Status::InvalidArgument("CUDA launch: " + std::to_string(items) + " items need " + std::to_string(blocks) +
                                   " blocks, more than the grid limit " + std::to_string(kMaxGrid));
  }
  return static_cast<uint32_t>(blocks);
}

int64_t GemmChunkRows(int64_t rows, int64_t cols, int64_t budget_elems) {
  if (rows < 1) return 1;
  const int64_t fit = cols > 0 ? budget_elems / cols : rows;
  return std::clamp<int64_t>(fit, 1, rows);
}

Status CheckWeightMatrix(const std::string& name, GgmlType type, int64_t cols) {
  const WeightFormat format = FormatOf(type);
  if (!format.readable()) {
    return Status::Unsupported("tensor " + name + ": type " + std::string(TypeName(type)) +
                               " has no CUDA kernel (CUDA reads f32, f16, bf16, q4_0, q4_1, q5_0, q8_0, q4_K, "
                               "q5_K, q6_K)");
  }
  if (cols <= 0 || cols % format.block_elems != 0) {
    return Status::Unsupported("tensor " + name + ": rows of " + std::to_string(cols) + " " +
                               std::string(TypeName(type)) + " elements; the CUDA kernels need a multiple of " +
                               std::to_string(format.block_elems));
  }
  return Status::Ok();
}

Status CheckHeadDim(int64_t head_dim) {
  if (head_dim < 1 || head_dim > kMaxHeadDim) {
    return Status::Unsupported("CUDA backend: head_dim " + std::to_string(head_dim) + " outside [1, " +
                               std::to_string(kMaxHeadDim) + "]");
  }
  return Status::Ok();
}

}  // namespace ps::cuda
