// Each CUDA kernel against a host reference on the same inputs, on odd shapes (row counts that
// do not fill a block, rows ending in a partial GEMV tile, head_dim not a multiple of 32,
// contexts spanning several attention tiles). Weight kernels are checked against common/quant
// (DequantizeRow, the stored values every backend must read); the per-row kernels against plain
// double-precision references written here. Tolerances are stated per test. Without a GPU every
// test skips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "common/quant/ggml_type.h"
#include "common/quant/quant.h"
#include "tests/gpu/gpu_test_support.h"
#include "worker/backend/cuda/kernels/kernels.h"
#include "worker/backend/cuda/launch_config.h"
#include "worker/backend/cuda/runtime/device_kv_cache.h"
#include "worker/backend/cuda/runtime/device_matmul.h"
#include "worker/backend/cuda/runtime/device_weights.h"
#include "worker/backend/cuda/weight_format.h"

namespace ps {
namespace {

using cuda::DeviceBuffer;
using cuda::DeviceMatrix;
using test::DeviceZeros;
using test::ToDevice;
using test::ToHost;

constexpr GgmlType kTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q4_1,
                               GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

std::vector<float> Normal(size_t n, float scale, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// A random [rows, cols] matrix stored as `type`: its bytes and the values they hold.
struct HostMatrix {
  GgmlType type;
  int64_t rows, cols;
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // DequantizeRow of the bytes
};

HostMatrix MakeMatrix(GgmlType type, int64_t rows, int64_t cols, uint64_t seed) {
  HostMatrix m{type, rows, cols, {}, {}};
  const size_t row_bytes = RowBytes(type, cols).value();
  const std::vector<float> src = Normal(static_cast<size_t>(rows * cols), 0.5f, seed);
  m.bytes.resize(row_bytes * rows);
  m.values.resize(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    QuantizeRow(type, &src[r * cols], m.bytes.data() + r * row_bytes, cols);
    DequantizeRow(type, m.bytes.data() + r * row_bytes, &m.values[r * cols], cols);
  }
  return m;
}

DeviceMatrix Upload(const HostMatrix& m) {
  auto d = DeviceMatrix::Upload("test", m.type, m.bytes.data(), m.cols, m.rows);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? std::move(*d) : DeviceMatrix();
}

// Columns per type: a partial last GEMV tile (13 legacy blocks of a 32-block tile; 3 k-quant
// blocks of a 4- or 8-block tile) and a row of several tiles.
std::vector<int64_t> ColumnsFor(GgmlType type) {
  const int64_t block = cuda::FormatOf(type).block_elems;
  return block == 32 ? std::vector<int64_t>{416, 4352} : std::vector<int64_t>{768, 4352};
}

// Checks y[n, rows] = x · W^T: |y - ref| <= rel * sum_c |w x| + 1e-5, the bound for a float sum
// of the same products in another order (rel = 1e-5) or of F16-rounded factors (rel = 3e-3).
void ExpectProducts(const HostMatrix& w, const std::vector<float>& x, int64_t n, const std::vector<float>& y,
                    double rel) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t r = 0; r < w.rows; ++r) {
      double ref = 0, mag = 0;
      for (int64_t c = 0; c < w.cols; ++c) {
        const double p = static_cast<double>(w.values[r * w.cols + c]) * x[i * w.cols + c];
        ref += p;
        mag += std::fabs(p);
      }
      ASSERT_NEAR(y[i * w.rows + r], ref, rel * mag + 1e-5) << "row " << i << " output " << r;
    }
  }
}

class CudaKernelTest : public test::GpuTest {};

TEST_F(CudaKernelTest, GemvMatchesTheStoredValuesForEveryType) {
  for (GgmlType type : kTypes) {
    for (int64_t cols : ColumnsFor(type)) {
      SCOPED_TRACE(std::string(TypeName(type)) + " cols " + std::to_string(cols));
      const HostMatrix w = MakeMatrix(type, 37, cols, 11);  // 37 rows: a partial block of warps
      const DeviceMatrix dw = Upload(w);
      for (int64_t n : {1, 3, cuda::kGemvMaxRows}) {
        const std::vector<float> x = Normal(static_cast<size_t>(n * cols), 1.0f, 5 + n);
        DeviceBuffer dx = ToDevice(x);
        DeviceBuffer dy = DeviceZeros<float>(static_cast<size_t>(n * w.rows));
        ASSERT_TRUE(cuda::Gemv(dw.view(), dx.as<float>(), n, dy.as<float>(), nullptr).ok());
        ExpectProducts(w, x, n, ToHost<float>(dy, n * w.rows), 1e-5);
      }
    }
  }
}

TEST_F(CudaKernelTest, GemvAgreesWithDotRow) {
  // The common/quant oracle itself, on one row per type.
  for (GgmlType type : kTypes) {
    SCOPED_TRACE(TypeName(type));
    const HostMatrix w = MakeMatrix(type, 5, 768, 3);
    const DeviceMatrix dw = Upload(w);
    const std::vector<float> x = Normal(768, 1.0f, 4);
    DeviceBuffer dx = ToDevice(x);
    DeviceBuffer dy = DeviceZeros<float>(5);
    ASSERT_TRUE(cuda::Gemv(dw.view(), dx.as<float>(), 1, dy.as<float>(), nullptr).ok());
    const std::vector<float> y = ToHost<float>(dy, 5);
    const size_t row_bytes = RowBytes(type, 768).value();
    for (int64_t r = 0; r < 5; ++r) {
      const float ref = DotRow(type, w.bytes.data() + r * row_bytes, x.data(), 768);
      EXPECT_NEAR(y[r], ref, 1e-4 * (1.0 + std::fabs(ref))) << "row " << r;
    }
  }
}

TEST_F(CudaKernelTest, CublasPathMatchesWithinF16Rounding) {
  for (GgmlType type : kTypes) {
    SCOPED_TRACE(TypeName(type));
    const int64_t cols = ColumnsFor(type).front();
    const HostMatrix w = MakeMatrix(type, 37, cols, 21);
    const DeviceMatrix dw = Upload(w);
    cuda::Stream stream = cuda::Stream::Create().value();
    cuda::CublasHandle cublas = cuda::CublasHandle::Create(stream.get()).value();
    // A scratch of 10 rows forces four chunks (the last one partial).
    auto matmul = cuda::DeviceMatMul::Create(stream.get(), cublas.get(), 10 * cols);
    ASSERT_TRUE(matmul.ok()) << matmul.status().ToString();
    for (int64_t n : {int64_t{cuda::kGemvMaxRows + 1}, int64_t{40}}) {
      const std::vector<float> x = Normal(static_cast<size_t>(n * cols), 1.0f, 9 + n);
      DeviceBuffer dx = ToDevice(x);
      DeviceBuffer dy = DeviceZeros<float>(static_cast<size_t>(n * w.rows));
      const Status s = matmul->Multiply(dw, dx.as<float>(), n, dy.as<float>());
      ASSERT_TRUE(s.ok()) << s.ToString();
      ExpectProducts(w, x, n, ToHost<float>(dy, n * w.rows), 3e-3);
    }
  }
}

TEST_F(CudaKernelTest, DequantizationReproducesTheStoredValues) {
  for (GgmlType type : kTypes) {
    SCOPED_TRACE(TypeName(type));
    const int64_t cols = ColumnsFor(type).front();
    const HostMatrix w = MakeMatrix(type, 7, cols, 31);
    const DeviceMatrix dw = Upload(w);
    float amax = 0.0f;
    for (float v : w.values) amax = std::max(amax, std::fabs(v));
    // Embedding lookup: rows in any order, repeated. Exact up to one rounding of a fused
    // multiply-add, so within 1e-6 of the largest value.
    const std::vector<int32_t> ids = {6, 0, 3, 3};
    DeviceBuffer did = ToDevice(ids);
    DeviceBuffer out = DeviceZeros<float>(ids.size() * cols);
    ASSERT_TRUE(cuda::GatherRowsF32(dw.view(), did.as<int32_t>(), 4, out.as<float>(), nullptr).ok());
    const std::vector<float> got = ToHost<float>(out, ids.size() * cols);
    for (size_t i = 0; i < ids.size(); ++i) {
      for (int64_t c = 0; c < cols; ++c) {
        ASSERT_NEAR(got[i * cols + c], w.values[ids[i] * cols + c], 1e-6 * amax) << "row " << i << " col " << c;
      }
    }
    // F16 for cuBLAS, rows 2..6: the stored value rounded to F16 (or its neighbour when the
    // device's value sits on the other side of a rounding boundary).
    DeviceBuffer half = DeviceZeros<uint16_t>(5 * cols);
    ASSERT_TRUE(cuda::DequantizeRowsF16(dw.view(), 2, 5, half.as<uint16_t>(), nullptr).ok());
    const std::vector<uint16_t> h = ToHost<uint16_t>(half, 5 * cols);
    for (int64_t r = 0; r < 5; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const float ref = w.values[(r + 2) * cols + c];
        ASSERT_NEAR(Fp16ToFp32(h[r * cols + c]), ref, std::fabs(ref) * 1e-3 + 1e-6 * amax) << r << "," << c;
      }
    }
  }
}

TEST_F(CudaKernelTest, RmsNormMatchesAHostReference) {
  const int64_t n = 3, cols = 200;  // cols not a multiple of the block's threads
  const std::vector<float> x = Normal(n * cols, 2.0f, 1);
  const std::vector<float> weight = Normal(cols, 1.0f, 2);
  DeviceBuffer dx = ToDevice(x), dw = ToDevice(weight), dout = DeviceZeros<float>(n * cols);
  ASSERT_TRUE(cuda::RmsNorm(dx.as<float>(), dw.as<float>(), n, cols, 1e-5f, dout.as<float>(), nullptr).ok());
  const std::vector<float> got = ToHost<float>(dout, n * cols);
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int64_t c = 0; c < cols; ++c) sum += static_cast<double>(x[i * cols + c]) * x[i * cols + c];
    const double scale = 1.0 / std::sqrt(sum / cols + 1e-5);
    for (int64_t c = 0; c < cols; ++c) {
      const double ref = x[i * cols + c] * scale * weight[c];
      ASSERT_NEAR(got[i * cols + c], ref, 1e-5 * (1 + std::fabs(ref)));
    }
  }
  // In place, as the output head uses it.
  ASSERT_TRUE(cuda::RmsNorm(dx.as<float>(), dw.as<float>(), n, cols, 1e-5f, dx.as<float>(), nullptr).ok());
  EXPECT_EQ(ToHost<float>(dx, n * cols), got);
}

TEST_F(CudaKernelTest, RopeRotatesPairsByPositionAndFrequencyFactor) {
  const int64_t n_heads = 3, head_dim = 80, n_rot = 64;  // dimensions 64..79 stay as they are
  const std::vector<int32_t> positions = {0, 1, 17, 4000};
  const int64_t n = static_cast<int64_t>(positions.size());
  const float base = 500000.0f;
  const float theta_scale = std::pow(base, -2.0f / static_cast<float>(n_rot));
  std::vector<float> factors(n_rot / 2);
  for (int64_t i = 0; i < n_rot / 2; ++i) factors[i] = 1.0f + static_cast<float>(i % 5);
  const std::vector<float> x = Normal(n * n_heads * head_dim, 1.0f, 8);
  for (bool with_factors : {false, true}) {
    SCOPED_TRACE(with_factors ? "freq factors" : "plain");
    DeviceBuffer dx = ToDevice(x), dpos = ToDevice(positions), dfac = ToDevice(factors);
    const cuda::RopeParams p{n_heads, head_dim, n_rot, theta_scale, with_factors ? dfac.as<float>() : nullptr};
    ASSERT_TRUE(cuda::Rope(dx.as<float>(), n, dpos.as<int32_t>(), p, nullptr).ok());
    const std::vector<float> got = ToHost<float>(dx, x.size());
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t h = 0; h < n_heads; ++h) {
        const float* in = &x[(r * n_heads + h) * head_dim];
        const float* out = &got[(r * n_heads + h) * head_dim];
        for (int64_t i = 0; i < n_rot / 2; ++i) {
          double theta = positions[r] * std::pow(static_cast<double>(base), -2.0 * i / n_rot);
          if (with_factors) theta /= factors[i];
          const double c = std::cos(theta), s = std::sin(theta);
          // The device (like the CPU backend) builds theta by float multiplications, off by up
          // to ~5e-4 radians at position 4000; |x| stays below ~4 here.
          const double tol = 1e-5 + 1.5e-6 * positions[r];
          ASSERT_NEAR(out[2 * i], in[2 * i] * c - in[2 * i + 1] * s, tol) << r << "," << h << "," << i;
          ASSERT_NEAR(out[2 * i + 1], in[2 * i] * s + in[2 * i + 1] * c, tol) << r << "," << h << "," << i;
        }
        for (int64_t i = n_rot; i < head_dim; ++i) ASSERT_EQ(out[i], in[i]);
      }
    }
  }
}

TEST_F(CudaKernelTest, SwiGluAndAddAreElementWise) {
  const int64_t count = 1000;
  const std::vector<float> gate = Normal(count, 3.0f, 1), up = Normal(count, 1.0f, 2);
  DeviceBuffer dg = ToDevice(gate), du = ToDevice(up);
  ASSERT_TRUE(cuda::SwiGlu(dg.as<float>(), du.as<float>(), count, nullptr).ok());
  const std::vector<float> got = ToHost<float>(dg, count);
  for (int64_t i = 0; i < count; ++i) {
    const double g = gate[i];
    const double ref = g / (1.0 + std::exp(-g)) * up[i];
    ASSERT_NEAR(got[i], ref, 1e-5 * (1 + std::fabs(ref))) << i;
  }
  ASSERT_TRUE(cuda::AddInPlace(dg.as<float>(), du.as<float>(), count, nullptr).ok());
  const std::vector<float> sum = ToHost<float>(dg, count);
  for (int64_t i = 0; i < count; ++i) ASSERT_EQ(sum[i], got[i] + up[i]) << i;
}

// Attention: two sequences interleaved in one batch, GQA with 3 query heads per kv head,
// head_dim 80 (lanes and threads partly idle), and one sequence long enough for three tiles.
TEST_F(CudaKernelTest, AttentionMatchesAHostReferenceOverTheF16Cache) {
  const int64_t n_head = 6, n_head_kv = 2, hd = 80, ekv = n_head_kv * hd, n_layers = 2, n_ctx = 160;
  const int64_t layer = 1;
  auto cache = cuda::DeviceKvCache::Create(n_layers, n_ctx, ekv, 2);
  ASSERT_TRUE(cache.ok()) << cache.status().ToString();
  ASSERT_TRUE(cache->Reserve(0, nullptr).ok());
  ASSERT_TRUE(cache->Reserve(1, nullptr).ok());
  // Sequence 0 gets 150 positions, sequence 1 gets 5; stored in one batch.
  std::vector<int32_t> seq, pos;
  for (int32_t p = 0; p < 150; ++p) {
    seq.push_back(0);
    pos.push_back(p);
    if (p < 5) {
      seq.push_back(1);
      pos.push_back(p);
    }
  }
  const int64_t n = static_cast<int64_t>(seq.size());
  const std::vector<float> k = Normal(n * ekv, 1.0f, 1), v = Normal(n * ekv, 1.0f, 2);
  const std::vector<float> q = Normal(n * n_head * hd, 1.0f, 3);
  DeviceBuffer dk = ToDevice(k), dv = ToDevice(v), dq = ToDevice(q), dseq = ToDevice(seq), dpos = ToDevice(pos);
  DeviceBuffer dout = DeviceZeros<float>(n * n_head * hd);
  const cuda::KvLayerView kv = cache->Layer(layer);
  ASSERT_TRUE(cuda::StoreKv(dk.as<float>(), dv.as<float>(), n, dseq.as<int32_t>(), dpos.as<int32_t>(), kv, nullptr).ok());
  const cuda::AttentionParams params{n_head, n_head_kv, hd, 1.0f / std::sqrt(static_cast<float>(hd))};
  ASSERT_TRUE(cuda::Attention(dq.as<float>(), n, dseq.as<int32_t>(), dpos.as<int32_t>(), kv, params,
                              dout.as<float>(), nullptr)
                  .ok());
  const std::vector<float> got = ToHost<float>(dout, n * n_head * hd);

  // Reference over the F16-rounded keys and values, in double.
  const auto rounded = [](float f) { return static_cast<double>(Fp16ToFp32(Fp32ToFp16(f))); };
  std::vector<int64_t> row_of[2];  // batch row holding (seq, position)
  for (int64_t i = 0; i < n; ++i) row_of[seq[i]].push_back(i);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t h = 0; h < n_head; ++h) {
      const int64_t kvh = h / (n_head / n_head_kv);
      std::vector<double> scores;
      double mx = -1e300;
      for (int32_t p = 0; p <= pos[i]; ++p) {
        const int64_t src = row_of[seq[i]][p];
        double s = 0;
        for (int64_t d = 0; d < hd; ++d) s += q[(i * n_head + h) * hd + d] * rounded(k[src * ekv + kvh * hd + d]);
        s /= std::sqrt(static_cast<double>(hd));
        scores.push_back(s);
        mx = std::max(mx, s);
      }
      double total = 0;
      for (double& s : scores) total += (s = std::exp(s - mx));
      for (int64_t d = 0; d < hd; ++d) {
        double ref = 0;
        for (int32_t p = 0; p <= pos[i]; ++p) ref += scores[p] * rounded(v[row_of[seq[i]][p] * ekv + kvh * hd + d]);
        ref /= total;
        ASSERT_NEAR(got[(i * n_head + h) * hd + d], ref, 1e-4) << "row " << i << " head " << h << " dim " << d;
      }
    }
  }
}

TEST_F(CudaKernelTest, EmptyLaunchesDoNothing) {
  EXPECT_TRUE(cuda::AddInPlace(nullptr, nullptr, 0, nullptr).ok());
  EXPECT_TRUE(cuda::RmsNorm(nullptr, nullptr, 0, 64, 1e-5f, nullptr, nullptr).ok());
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace ps
