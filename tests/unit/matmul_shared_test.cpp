// MatMul::MultiplyShared: several products of one input give, bit for bit, what one Multiply
// each gives, at every kernel level, for matrices of one type (prepared once, one parallel pass)
// and of mixed types (one Multiply each).
#include <gtest/gtest.h>

#include <bit>
#include <random>
#include <vector>

#include "common/quant/ggml_type.h"
#include "common/quant/quant.h"
#include "worker/backend/cpu/kernel_level.h"
#include "worker/backend/cpu/matmul.h"
#include "worker/backend/cpu/thread_pool.h"

namespace ps::cpu {
namespace {

// A random matrix of `rows` rows of k elements, stored as `type`.
struct OwnedMatrix {
  std::vector<uint8_t> bytes;
  WeightMatrix w;
  OwnedMatrix(GgmlType type, int64_t rows, int64_t k, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> row(k);
    const size_t row_bytes = RowBytes(type, k).value();
    bytes.resize(row_bytes * rows);
    for (int64_t r = 0; r < rows; ++r) {
      for (float& v : row) v = dist(rng);
      QuantizeRow(type, row.data(), bytes.data() + r * row_bytes, k);
    }
    w.type = type;
    w.data = bytes.data();
    w.cols = k;
    w.rows = rows;
    w.row_bytes = row_bytes;
  }
};

std::vector<KernelLevel> Levels() {
  std::vector<KernelLevel> levels = {KernelLevel::kScalar, KernelLevel::kReference};
  if (CpuHasAvx2Fma()) levels.push_back(KernelLevel::kAvx2);
  return levels;
}

void ExpectSharedEqualsSeparate(const std::vector<const OwnedMatrix*>& mats, int64_t k, int64_t n) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> x(n * k);
  for (float& v : x) v = dist(rng);
  for (KernelLevel level : Levels()) {
    SCOPED_TRACE(KernelLevelName(level));
    ThreadPool pool(3);
    MatMul mm(pool.threads(), k, level);
    mm.Reserve(n);
    std::vector<std::vector<float>> separate(mats.size()), shared(mats.size());
    for (size_t m = 0; m < mats.size(); ++m) {
      separate[m].assign(n * mats[m]->w.rows, 0.0f);
      shared[m].assign(n * mats[m]->w.rows, -1.0f);
      mm.Multiply(pool, mats[m]->w, x.data(), n, separate[m].data());
    }
    if (mats.size() == 2) {
      mm.MultiplyShared(pool, {{&mats[0]->w, shared[0].data()}, {&mats[1]->w, shared[1].data()}}, x.data(), n);
    } else {
      mm.MultiplyShared(pool,
                        {{&mats[0]->w, shared[0].data()}, {&mats[1]->w, shared[1].data()},
                         {&mats[2]->w, shared[2].data()}},
                        x.data(), n);
    }
    for (size_t m = 0; m < mats.size(); ++m) {
      ASSERT_EQ(shared[m].size(), separate[m].size());
      for (size_t i = 0; i < shared[m].size(); ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(shared[m][i]), std::bit_cast<uint32_t>(separate[m][i]))
            << "matrix " << m << " element " << i;
      }
    }
  }
}

TEST(MatMulSharedTest, QkvOfOneTypeEqualSeparateProducts) {
  constexpr int64_t k = 256;
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::F16}) {
    SCOPED_TRACE(TypeName(type));
    // Row counts that are not multiples of the 16-row groups, so groups end inside matrices.
    const OwnedMatrix q(type, 37, k, 1), kk(type, 9, k, 2), v(type, 21, k, 3);
    for (int64_t n : {1, 2, 5, 70}) {
      SCOPED_TRACE(n);
      ExpectSharedEqualsSeparate({&q, &kk, &v}, k, n);
    }
  }
}

TEST(MatMulSharedTest, MixedTypesFallBackToSeparateProducts) {
  constexpr int64_t k = 256;
  const OwnedMatrix gate(GgmlType::Q4_K, 33, k, 4), up(GgmlType::Q6_K, 17, k, 5);
  ExpectSharedEqualsSeparate({&gate, &up}, k, 3);
}

}  // namespace
}  // namespace ps::cpu
