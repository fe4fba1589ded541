// Emulated devices end to end: workers started with --device sim:NAME register as that catalog
// device (status shows "sim:P40"), load the plan without touching the weights, run the real
// protocol and scheduler, and answer with their deterministic placeholder tokens; a wrong name is
// refused naming the known devices.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/local_cluster.h"
#include "tests/support/subprocess.h"
#include "tests/support/tiny_model_test.h"

namespace ps::test {
namespace {

constexpr double kCallSeconds = 60;

class SimClusterTest : public TinyModelTest {};

TEST_F(SimClusterTest, EmulatedP40sServeWithPlaceholderTokens) {
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start({Tiny(), 2, 1, {"--ctx", "128"}, 60, "sim:P40"}), "");
  const ProcessResult r = RunProgramFor(
      {PipeshardBin(), "generate", "--server", cluster.address(), "--prompt", "Once upon a time", "-n", "6", "--json"},
      kCallSeconds);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  ASSERT_EQ(j["tokens"].size(), 6u) << r.out;
  // The same request again: the same placeholder tokens (a function of slot and position only).
  const ProcessResult again = RunProgramFor(
      {PipeshardBin(), "generate", "--server", cluster.address(), "--prompt", "Once upon a time", "-n", "6", "--json"},
      kCallSeconds);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out, nullptr, false)["tokens"], j["tokens"]);

  const ProcessResult status = RunProgramFor({PipeshardBin(), "status", "--server", cluster.address()}, kCallSeconds);
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("sim:P40"), std::string::npos) << status.out;
  const ProcessResult json = RunProgramFor({PipeshardBin(), "status", "--server", cluster.address(), "--json"}, kCallSeconds);
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.out.find("sim:P40"), std::string::npos) << json.out;
}

TEST_F(SimClusterTest, UnknownDeviceIsRefusedWithTheKnownOnes) {
  const ProcessResult r = RunProgramFor({ProgramPath("pipeshard-worker"), "--coordinator", "127.0.0.1:1", "--listen",
                                         "127.0.0.1:0", "--device", "sim:P41"},
                                        kCallSeconds);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("'P41' is not a catalog device (known: P40"), std::string::npos) << r.err;
  const ProcessResult bad = RunProgramFor({ProgramPath("pipeshard-worker"), "--coordinator", "127.0.0.1:1", "--listen",
                                           "127.0.0.1:0", "--device", "sim:"},
                                          kCallSeconds);
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("sim:NAME"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace ps::test
