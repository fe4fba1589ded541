// HugePageArena (worker/backend/cpu/huge_page_arena.h) and the plain copies RepackedWeights makes
// in it for matrices whose fast kernel has no repacked layout.
#include "worker/backend/cpu/huge_page_arena.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <random>
#include <utility>
#include <vector>

#include "common/quant/quant.h"
#include "worker/backend/cpu/kernel_level.h"
#include "worker/backend/cpu/matmul.h"
#include "worker/backend/cpu/thread_pool.h"

namespace ps::cpu {
namespace {

// Allocations are 64-byte aligned, zero-filled, writable and disjoint, across slab boundaries
// and for blocks bigger than a slab; allocated() counts them.
TEST(HugePageArenaTest, AllocationsAreAlignedZeroedAndDisjoint) {
  HugePageArena arena;
  const std::vector<size_t> sizes = {1, 63, 64, 4096, HugePageArena::kSlabBytes - 100, 3 * HugePageArena::kSlabBytes + 5,
                                     1000};
  std::vector<std::pair<uint8_t*, size_t>> blocks;
  for (size_t n : sizes) {
    uint8_t* p = arena.Allocate(n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << n;
    EXPECT_TRUE(std::all_of(p, p + n, [](uint8_t b) { return b == 0; })) << n;
    std::memset(p, static_cast<int>(blocks.size() + 1), n);
    blocks.emplace_back(p, n);
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto [p, n] = blocks[i];
    EXPECT_TRUE(std::all_of(p, p + n, [&](uint8_t b) { return b == i + 1; })) << "block " << i << " was overwritten";
  }
  EXPECT_GE(arena.allocated(), 1 + 63 + 64 + 4096 + (HugePageArena::kSlabBytes - 100) +
                                   (3 * HugePageArena::kSlabBytes + 5) + 1000);
  HugePageArena moved = std::move(arena);
  EXPECT_EQ(arena.allocated(), 0u);
  EXPECT_EQ(blocks[0].first[0], 1);  // still mapped, now owned by `moved`
  EXPECT_GT(moved.allocated(), 0u);
}

// A size no system can map is refused (nullptr), not wrapped around into a small block.
TEST(HugePageArenaTest, ImpossibleSizesAreRefused) {
  HugePageArena arena;
  EXPECT_EQ(arena.Allocate(SIZE_MAX), nullptr);
  EXPECT_EQ(arena.Allocate(SIZE_MAX - 10), nullptr);
  EXPECT_EQ(arena.allocated(), 0u);
  EXPECT_NE(arena.Allocate(100), nullptr);
}

// At the fast level a matrix without a repacked layout (f16 here) is copied into the arena: its
// data moves, its bytes and products stay. At the reference levels nothing is copied.
TEST(HugePageArenaTest, PlainCopiesKeepTheRowsAndTheProducts) {
  if (!CpuHasAvx2Fma()) GTEST_SKIP() << "needs AVX2/FMA/F16C for the fast level";
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const int64_t rows = 19, k = 96;
  std::vector<float> values(rows * k);
  for (float& v : values) v = dist(rng);
  const Result<size_t> row_bytes = RowBytes(GgmlType::F16, k);
  ASSERT_TRUE(row_bytes.ok());
  std::vector<uint8_t> bytes(*row_bytes * rows);
  QuantizeRow(GgmlType::F16, values.data(), bytes.data(), rows * k);
  WeightMatrix original;
  original.type = GgmlType::F16;
  original.data = bytes.data();
  original.cols = k;
  original.rows = rows;
  original.row_bytes = *row_bytes;

  RepackedWeights copies;
  WeightMatrix untouched = original;
  copies.Add(KernelLevel::kReference, &untouched);
  EXPECT_EQ(untouched.data, bytes.data());
  EXPECT_EQ(copies.bytes(), 0u);

  WeightMatrix copied = original;
  copies.Add(KernelLevel::kAvx2, &copied);
  ASSERT_NE(copied.data, bytes.data());
  EXPECT_EQ(copied.repacked, nullptr);
  EXPECT_EQ(std::memcmp(copied.data, bytes.data(), bytes.size()), 0);
  EXPECT_GE(copies.bytes(), bytes.size());

  ThreadPool pool(2);
  MatMul mm(2, k, KernelLevel::kAvx2);
  mm.Reserve(3);
  std::vector<float> x(3 * k);
  for (float& v : x) v = dist(rng);
  std::vector<float> want(3 * rows), got(3 * rows);
  mm.Multiply(pool, original, x.data(), 3, want.data());
  mm.Multiply(pool, copied, x.data(), 3, got.data());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(std::bit_cast<uint32_t>(want[i]), std::bit_cast<uint32_t>(got[i])) << i;
  }
}

}  // namespace
}  // namespace ps::cpu
