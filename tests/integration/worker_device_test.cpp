// pipeshard-worker --device: a malformed device is bad input (exit 2); cuda:N on a machine that
// cannot run it exits with one line naming the device and the reason (exit 2 when the build has
// no CUDA, 1 when the runtime finds no driver or device); with a device, the worker serves.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/local_cluster.h"
#include "tests/support/subprocess.h"
#include "worker/backend/cuda/cuda_backend_factory.h"

namespace ps::test {
namespace {

constexpr double kSeconds = 30;  // start-up or refusal; a hang fails instead of stalling

class WorkerDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(ProgramPath("pipeshard-worker"))) {
      GTEST_SKIP() << "skipped: pipeshard-worker not built";
    }
  }
  // A worker whose coordinator never answers: it serves (and retries registering) until stopped.
  static std::vector<std::string> Worker(const std::string& device) {
    return {ProgramPath("pipeshard-worker"), "--coordinator", "127.0.0.1:1", "--listen", "127.0.0.1:0", "--device",
            device};
  }
};

// One line naming the problem.
void ExpectOneLine(const ProcessResult& r, const std::string& fragment) {
  EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(WorkerDeviceTest, MalformedDeviceIsBadInput) {
  const ProcessResult r = RunProgramFor(Worker("cuda:x"), kSeconds);
  EXPECT_EQ(r.exit_code, 2);
  ExpectOneLine(r, "--device 'cuda:x': expected cpu, cuda:N");
}

TEST_F(WorkerDeviceTest, CudaDeviceServesOrSaysWhyNot) {
  const Result<int> count = CudaDeviceCount();
  if (count.ok() && *count > 0) {
    TempDir dir;
    ChildProcess worker(Worker("cuda:0"), dir.file("out"), dir.file("err"));
    std::string address;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(static_cast<int>(kSeconds));
    while (address.empty() && worker.Running() && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      address = ListeningAddress(worker.out());
    }
    ASSERT_FALSE(address.empty()) << worker.err();
    worker.Signal(SIGTERM);
    EXPECT_EQ(worker.WaitFor(kSeconds), 0) << worker.err();
    return;
  }
  const ProcessResult r = RunProgramFor(Worker("cuda:0"), kSeconds);
  if (!CudaBackendBuilt()) {
    EXPECT_EQ(r.exit_code, 2);
    ExpectOneLine(r, "--device cuda:0: this build has no CUDA backend");
  } else {
    EXPECT_EQ(r.exit_code, 1);
    // No usable driver says so plainly (no source file and line) and what to use instead; a driver
    // without devices says how many there are.
    ExpectOneLine(r, count.ok() ? "--device cuda:0: no such device (0 CUDA devices)"
                                : "--device cuda:0: no usable CUDA GPU on this host: ");
    if (!count.ok()) {
      EXPECT_NE(r.err.find("use --device cpu"), std::string::npos) << r.err;
      EXPECT_EQ(r.err.find(".cpp:"), std::string::npos) << r.err;
    }
  }
}

TEST_F(WorkerDeviceTest, AbsentCudaDeviceIsRefused) {
  const Result<int> count = CudaDeviceCount();
  const ProcessResult r = RunProgramFor(Worker("cuda:1023"), kSeconds);
  if (!count.ok()) {
    EXPECT_EQ(r.exit_code, CudaBackendBuilt() ? 1 : 2);
    ExpectOneLine(r, "--device cuda:1023: ");
    return;
  }
  // The runtime answers: an index past its devices is bad input.
  EXPECT_EQ(r.exit_code, 2);
  ExpectOneLine(r, "--device cuda:1023: no such device (" + std::to_string(*count) + " CUDA devices)");
}

}  // namespace
}  // namespace ps::test
