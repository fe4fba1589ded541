// Host-side logic of the CUDA backend, run on any machine: the weight formats the kernels decode
// agree with common/quant's block geometry, launch sizes, and the checks that reject tensor
// types and shapes the kernels cannot read.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "common/quant/ggml_type.h"
#include "worker/backend/cuda/launch_config.h"
#include "worker/backend/cuda/weight_format.h"

namespace ps::cuda {
namespace {

constexpr GgmlType kReadable[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q4_1,
                                  GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

TEST(CudaWeightFormat, MatchesTheStoredBlockGeometry) {
  for (GgmlType t : kReadable) {
    SCOPED_TRACE(TypeName(t));
    const WeightFormat f = FormatOf(t);
    ASSERT_TRUE(f.readable());
    const TypeTraits traits = TraitsOf(t);
    // A "block" of a float type is 32 values; of a quantized type, the stored block.
    const int64_t stored_per_block = f.block_elems / traits.block_size;
    EXPECT_EQ(f.block_elems % traits.block_size, 0);
    EXPECT_EQ(static_cast<size_t>(f.block_bytes), traits.block_bytes * stored_per_block);
    EXPECT_EQ(f.block_elems % kUnitElems, 0);
    // The GEMV stage is whole 16-byte loads and gives every lane of a warp at least one unit.
    EXPECT_EQ(f.tile_bytes() % 16, 0);
    EXPECT_GE(f.tile_blocks * f.units_per_block(), kWarpSize);
  }
}

TEST(CudaWeightFormat, OtherTypesAreNotReadable) {
  for (GgmlType t : {GgmlType::Q5_1, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q8_K, GgmlType::I32, GgmlType::F64}) {
    EXPECT_FALSE(FormatOf(t).readable()) << TypeName(t);
  }
}

TEST(CudaWeightFormat, RowPitchIsTheNextMultipleOf16) {
  EXPECT_EQ(RowPitch(0), 0u);
  EXPECT_EQ(RowPitch(1), 16u);
  EXPECT_EQ(RowPitch(16), 16u);
  EXPECT_EQ(RowPitch(210 * 3), 640u);   // three q6_K blocks
  EXPECT_EQ(RowPitch(34 * 128), 4352u);  // a 4096-wide q8_0 row is already aligned
}

TEST(CudaLaunch, GridBlocksRoundsUp) {
  EXPECT_EQ(GridBlocks(1, 256).value(), 1u);
  EXPECT_EQ(GridBlocks(256, 256).value(), 1u);
  EXPECT_EQ(GridBlocks(257, 256).value(), 2u);
  EXPECT_EQ(GridBlocks(37, kGemvWarpsPerBlock).value(), 10u);
}

TEST(CudaLaunch, GridBlocksRejectsEmptyAndOversizedGrids) {
  const auto empty = GridBlocks(0, 256);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("0 items"), std::string::npos) << empty.status().message();
  EXPECT_FALSE(GridBlocks(10, 0).ok());
  const int64_t too_many = int64_t{std::numeric_limits<int32_t>::max()} * 2 + 2;
  const auto big = GridBlocks(too_many, 2);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("grid limit"), std::string::npos) << big.status().message();
  EXPECT_TRUE(GridBlocks(too_many - 2, 2).ok());
}

TEST(CudaLaunch, SmallBatchesUseTheGemvKernel) {
  EXPECT_TRUE(UseGemv(1));
  EXPECT_TRUE(UseGemv(kGemvMaxRows));
  EXPECT_FALSE(UseGemv(kGemvMaxRows + 1));
  EXPECT_FALSE(UseGemv(512));
}

TEST(CudaLaunch, GemmChunkRowsFitTheScratch) {
  EXPECT_EQ(GemmChunkRows(4096, 4096, kWeightScratchElems), 4096);   // 16 M elements fit whole
  EXPECT_EQ(GemmChunkRows(128256, 4096, kWeightScratchElems), 8192);  // the 8B output head: 16 chunks
  EXPECT_EQ(GemmChunkRows(10, 1000, 999), 1);                         // one row at least
  EXPECT_EQ(GemmChunkRows(10, 100, 1 << 20), 10);                     // never more than the matrix
}

TEST(CudaChecks, AcceptsEveryReadableTypeOnWholeUnits) {
  for (GgmlType t : kReadable) {
    const int64_t cols = FormatOf(t).block_elems * 3;
    EXPECT_TRUE(CheckWeightMatrix("blk.0.attn_q.weight", t, cols).ok()) << TypeName(t);
  }
}

TEST(CudaChecks, RejectsAnUnreadableTypeNamingTensorAndType) {
  const Status s = CheckWeightMatrix("blk.3.ffn_down.weight", GgmlType::Q3_K, 4096);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("blk.3.ffn_down.weight"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("q3_K"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("no CUDA kernel"), std::string::npos) << s.message();
}

TEST(CudaChecks, RejectsRowsThatAreNotWholeUnits) {
  const Status f16 = CheckWeightMatrix("w", GgmlType::F16, 100);
  ASSERT_FALSE(f16.ok());
  EXPECT_EQ(f16.code(), StatusCode::kUnsupported);
  EXPECT_NE(f16.message().find("100"), std::string::npos) << f16.message();
  EXPECT_NE(f16.message().find("multiple of 32"), std::string::npos) << f16.message();
  const Status q4k = CheckWeightMatrix("w", GgmlType::Q4_K, 384);
  ASSERT_FALSE(q4k.ok());
  EXPECT_NE(q4k.message().find("multiple of 256"), std::string::npos) << q4k.message();
  EXPECT_FALSE(CheckWeightMatrix("w", GgmlType::F32, 0).ok());
}

TEST(CudaChecks, HeadDimMustFitTheAttentionKernel) {
  EXPECT_TRUE(CheckHeadDim(64).ok());
  EXPECT_TRUE(CheckHeadDim(kMaxHeadDim).ok());
  const Status s = CheckHeadDim(kMaxHeadDim + 2);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("head_dim 258"), std::string::npos) << s.message();
  EXPECT_FALSE(CheckHeadDim(0).ok());
}

}  // namespace
}  // namespace ps::cuda
