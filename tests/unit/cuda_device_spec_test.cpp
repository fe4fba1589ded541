// The --device flag ("cpu" or "cuda:N") and what the CUDA factory answers on this machine:
// Unsupported naming the build flag without the backend, a Status (never a crash) without a GPU.
#include <gtest/gtest.h>

#include <string>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "tests/support/subprocess.h"
#include "tools/make_model/make_model.h"
#include "worker/backend/cuda/cuda_backend_factory.h"
#include "worker/backend/cuda/device_spec.h"

namespace ps {
namespace {

TEST(DeviceSpec, ParsesCpuAndCudaOrdinals) {
  const auto cpu = ParseDeviceSpec("cpu");
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(cpu->kind, DeviceSpec::Kind::kCpu);
  EXPECT_EQ(cpu->ToString(), "cpu");
  for (int index : {0, 1, 7, 1023}) {
    const auto cuda = ParseDeviceSpec("cuda:" + std::to_string(index));
    ASSERT_TRUE(cuda.ok()) << index;
    EXPECT_EQ(cuda->kind, DeviceSpec::Kind::kCuda);
    EXPECT_EQ(cuda->index, index);
    EXPECT_EQ(cuda->ToString(), "cuda:" + std::to_string(index));
  }
}

TEST(DeviceSpec, RejectsAnythingElseQuotingTheText) {
  for (const char* bad : {"", "gpu", "CPU", "cuda", "cuda:", "cuda:-1", "cuda:+1", "cuda: 1", "cuda:1x", "cuda:0x1",
                          "cuda:1024", "cuda:99999999999999999999", "cuda:0:1", " cpu", "sim:", "sim:P 40",
                          "sim:../x", "sim"}) {
    const auto r = ParseDeviceSpec(bad);
    ASSERT_FALSE(r.ok()) << "'" << bad << "'";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    std::string quoted = "'";  // built in steps: g++ 12 warns falsely (-Wrestrict) on "'" + string
    quoted.append(bad).append("'");
    EXPECT_NE(r.status().message().find(quoted), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("cpu, cuda:N"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("sim:NAME"), std::string::npos) << r.status().message();
  }
}

TEST(DeviceSpec, SimNamesACatalogDevice) {
  const auto r = ParseDeviceSpec("sim:RTX4090");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->kind, DeviceSpec::Kind::kSim);
  EXPECT_EQ(r->sim_device, "RTX4090");
  EXPECT_EQ(r->ToString(), "sim:RTX4090");
}

TEST(CudaFactory, BuiltFlagMatchesTheBuild) { EXPECT_EQ(CudaBackendBuilt(), PIPESHARD_HAVE_CUDA != 0); }

TEST(CudaFactory, AnswersWithAStatusOnThisMachine) {
  test::TempDir dir;
  const std::string path = dir.file("tiny.gguf");
  ASSERT_TRUE(MakeModel(path, MakeModelOptions{}).ok());
  auto file = gguf::GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto config = ReadLlamaConfig(**file);
  ASSERT_TRUE(config.ok());
  const LayerRange all{0, config->n_layer};

  const auto count = CudaDeviceCount();
  const auto backend = CreateCudaBackend(**file, *config, all, CudaBackendOptions{});
  if (!CudaBackendBuilt()) {
    ASSERT_FALSE(count.ok());
    ASSERT_FALSE(backend.ok());
    EXPECT_EQ(backend.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(backend.status().message().find("-DPIPESHARD_CUDA=ON"), std::string::npos)
        << backend.status().message();
    return;
  }
  if (!count.ok() || *count == 0) {
    // No driver or no device: a Status saying so, never an abort.
    ASSERT_FALSE(backend.ok());
    const StatusCode code = backend.status().code();
    EXPECT_TRUE(code == StatusCode::kUnavailable || code == StatusCode::kInvalidArgument)
        << backend.status().ToString();
  }
  // Whatever the machine, a device that is not there is named in the error.
  CudaBackendOptions absent;
  absent.device = 1000;
  const auto missing = CreateCudaBackend(**file, *config, all, absent);
  ASSERT_FALSE(missing.ok());
  if (count.ok()) {
    EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(missing.status().message().find("cuda:1000 not present"), std::string::npos)
        << missing.status().message();
  } else {
    EXPECT_EQ(missing.status().code(), StatusCode::kUnavailable) << missing.status().ToString();
    EXPECT_NE(missing.status().message().find("no usable CUDA GPU on this host"), std::string::npos)
        << missing.status().message();
  }
}

TEST(CudaFactory, BadOptionsAreRejectedBeforeTouchingADevice) {
  if (!CudaBackendBuilt()) GTEST_SKIP() << "built without the CUDA backend (-DPIPESHARD_CUDA=OFF or no nvcc)";
  test::TempDir dir;
  const std::string path = dir.file("tiny.gguf");
  ASSERT_TRUE(MakeModel(path, MakeModelOptions{}).ok());
  auto file = gguf::GgufFile::Open(path);
  ASSERT_TRUE(file.ok());
  auto config = ReadLlamaConfig(**file);
  ASSERT_TRUE(config.ok());
  CudaBackendOptions options;
  options.n_ctx = 0;
  auto r = CreateCudaBackend(**file, *config, LayerRange{0, config->n_layer}, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "CUDA backend: n_ctx 0 must be >= 1");
  r = CreateCudaBackend(**file, *config, LayerRange{1, 1}, CudaBackendOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("layer range [1, 1)"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace ps
