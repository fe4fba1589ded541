// Test support for the GPU tests: a fixture that skips (saying why) when no CUDA device is
// usable, and host <-> device copies of test vectors.
#pragma once

#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "worker/backend/cuda/cuda_backend_factory.h"
#include "worker/backend/cuda/runtime/cuda_check.h"
#include "worker/backend/cuda/runtime/device_resources.h"

namespace ps::test {

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Result<int> count = CudaDeviceCount();
    if (!count.ok()) GTEST_SKIP() << "no CUDA device: " << count.status().message();
    if (*count == 0) GTEST_SKIP() << "no CUDA device: cudaGetDeviceCount found none";
    ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  }
};

template <typename T>
cuda::DeviceBuffer ToDevice(const std::vector<T>& host) {
  Result<cuda::DeviceBuffer> allocated = cuda::DeviceBuffer::Allocate(host.size() * sizeof(T));
  EXPECT_TRUE(allocated.ok()) << allocated.status().ToString();
  if (!allocated.ok()) return {};
  cuda::DeviceBuffer buffer = std::move(*allocated);
  if (!host.empty()) {
    EXPECT_EQ(cudaMemcpy(buffer.as<T>(), host.data(), buffer.bytes(), cudaMemcpyHostToDevice), cudaSuccess);
  }
  return buffer;
}

template <typename T>
cuda::DeviceBuffer DeviceZeros(size_t count) {
  return ToDevice(std::vector<T>(count));
}

// Waits for the device and copies `count` values back.
template <typename T>
std::vector<T> ToHost(const cuda::DeviceBuffer& buffer, size_t count) {
  std::vector<T> host(count);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_LE(count * sizeof(T), buffer.bytes());
  if (count > 0 && count * sizeof(T) <= buffer.bytes()) {
    EXPECT_EQ(cudaMemcpy(host.data(), buffer.as<T>(), count * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  }
  return host;
}

}  // namespace ps::test
