// Two CUDA workers on one GPU, the hop between them over CUDA IPC: the cluster's greedy tokens
// equal the CPU pipeline's (`pipeshard run` on the CPU backend) for an F32 model, and `status`
// shows the CUDA IPC hop. Skipped, saying so, without a CUDA device. F32 weights keep the GPU's
// and the CPU's logits within float rounding of each other, so greedy choices agree unless two
// logits tie to within that rounding, which the fixed tiny model and prompt do not.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/local_cluster.h"
#include "tests/support/subprocess.h"
#include "worker/backend/cuda/cuda_backend_factory.h"

namespace ps::test {
namespace {

constexpr int kTokens = 16;
constexpr double kCallSeconds = 120;

TEST(GpuClusterTest, TwoCudaWorkersOnOneGpuEqualTheCpuPipeline) {
  const Result<int> devices = CudaDeviceCount();
  if (!devices.ok()) GTEST_SKIP() << "no CUDA device: " << devices.status().message();
  if (*devices == 0) GTEST_SKIP() << "no CUDA device: cudaGetDeviceCount found none";

  TempDir dir;
  const std::string model = dir.file("tiny-f32.gguf");
  const ProcessResult made = RunProgram({PipeshardBin(), "make-model", model, "--preset", "tiny", "--type", "f32"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string prompt = "Once upon a time";
  const ProcessResult cpu =
      RunProgramFor({"env", "PIPESHARD_CPU_KERNELS=reference", PipeshardBin(), "run", "--model", model, "--prompt",
                     prompt, "-n", std::to_string(kTokens), "--temp", "0", "--ignore-eos", "--json", "--ctx", "256"},
                    kCallSeconds);
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;

  LocalCluster cluster;
  ClusterOptions options;
  options.model = model;
  options.workers = 2;
  options.coordinator_args = {"--ctx", "256"};
  options.device = "cuda:0";
  ASSERT_EQ(cluster.Start(options), "");

  const nlohmann::json status = cluster.Status();
  ASSERT_TRUE(status.is_object());
  const std::string transport = status["stages"][0]["transport"].get<std::string>();
  EXPECT_NE(transport.find("ipc"), std::string::npos) << "stage 0's hop: " << transport;

  const ProcessResult gpu =
      RunProgramFor({PipeshardBin(), "generate", "--server", cluster.address(), "--prompt", prompt, "-n",
                     std::to_string(kTokens), "--temp", "0", "--ignore-eos", "--json"},
                    kCallSeconds);
  ASSERT_EQ(gpu.exit_code, 0) << gpu.err << cluster.Logs();
  const nlohmann::json want = nlohmann::json::parse(cpu.out);
  const nlohmann::json got = nlohmann::json::parse(gpu.out);
  EXPECT_EQ(got["tokens"], want["tokens"]);
  EXPECT_EQ(got["text"], want["text"]);
}

}  // namespace
}  // namespace ps::test
