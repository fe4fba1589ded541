// `pipeshard plan --simulate` end to end: the table over 1..N devices and the chosen plan, the
// JSON fields the issue promised, a model file or a preset, a cluster file, memory verdicts, and
// bad input naming what is wrong.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/subprocess.h"
#include "tests/support/tiny_model_test.h"

namespace ps::test {
namespace {

class PlanSimulateTest : public TinyModelTest {};

nlohmann::json Json(const ProcessResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out, nullptr, false);
}

TEST_F(PlanSimulateTest, SeedCaseJsonHasThePromisedFields) {
  const nlohmann::json j = Json(RunProgram({PipeshardBin(), "plan", "--simulate", "--preset", "llama3-8b", "--type", "q8_0",
                                            "--cluster", "4xP40 pcie3", "--ctx", "32768", "--prompt-tokens", "4096",
                                            "--gen-tokens", "64", "--json"}));
  ASSERT_TRUE(j.is_object());
  for (const char* key : {"prefill_tokens_per_s", "decode_tokens_per_s", "aggregate_decode_tokens_per_s", "stages", "fits",
                          "devices", "ubatch", "by_devices", "explanation", "bottleneck_why"}) {
    EXPECT_TRUE(j.contains(key)) << key << " in " << j.dump();
  }
  EXPECT_TRUE(j["fits"].get<bool>());
  ASSERT_EQ(j["by_devices"].size(), 4u);
  const double one = j["by_devices"][0]["prefill_tokens_per_s"].get<double>();
  const double four = j["by_devices"][3]["prefill_tokens_per_s"].get<double>();
  EXPECT_GT(four, 3 * one);
  ASSERT_EQ(j["stages"].size(), static_cast<size_t>(j["devices"].get<int>()));
  int32_t next = 0;
  for (const auto& s : j["stages"]) {
    EXPECT_EQ(s["device"], "P40");
    EXPECT_EQ(s["first_layer"].get<int>(), next);
    next = s["last_layer"].get<int>();
    EXPECT_LE(s["memory_bytes"].get<uint64_t>(), s["capacity_bytes"].get<uint64_t>());
    EXPECT_GT(s["kv_cache_bytes"].get<uint64_t>(), 0u);
  }
  EXPECT_EQ(next, 32);
}

TEST_F(PlanSimulateTest, TextTableAndAModelFile) {
  const ProcessResult r = RunProgram({PipeshardBin(), "plan", "--simulate", "--model", Tiny(), "--cluster",
                                      "2xcpu-zen3-8c 10gbe", "--prompt-tokens", "64", "--gen-tokens", "8"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* want : {"devices", "prefill tok/s", "plan for", "bottleneck:", "predicted:"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << " in " << r.out;
  }
}

TEST_F(PlanSimulateTest, ClusterFromAFile) {
  const std::string spec = File("cluster.txt");
  std::ofstream(spec) << "# two hosts\n1xRTX4090 10gbe\n\n1xRTX3090 10gbe  # the old one\n";
  const nlohmann::json j = Json(RunProgram({PipeshardBin(), "plan", "--simulate", "--preset", "small", "--cluster", spec,
                                            "--prompt-tokens", "128", "--gen-tokens", "8", "--json"}));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["cluster"], "1xRTX4090 10gbe, 1xRTX3090 10gbe");
  EXPECT_EQ(j["by_devices"].size(), 2u);
}

TEST_F(PlanSimulateTest, AModelThatFitsNowhereSaysWhy) {
  // 8B in F32 (about 32 GB) on one 16 GB T4.
  const ProcessResult r = RunProgram({PipeshardBin(), "plan", "--simulate", "--preset", "llama3-8b", "--type", "f32",
                                      "--cluster", "1xT4 pcie3", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_FALSE(j["fits"].get<bool>());
  EXPECT_NE(j["why_not"].get<std::string>().find("does not fit"), std::string::npos) << j.dump();
}

// bench --profile writes this host as a catalog device (small matrices here: the real run streams
// 512 MiB), and plan --simulate prices a cluster of it from the file.
TEST_F(PlanSimulateTest, AMeasuredProfileStandsInAWhatIf) {
  const std::string profile = File("host.json");
  const ProcessResult measured = RunProgram({PipeshardBin(), "bench", "--profile", "--threads", "1", "--name", "probe-host",
                                             "--profile-types", "q8_0", "--profile-stream-mib", "4", "--profile-min-ms",
                                             "2", "-o", profile});
  ASSERT_EQ(measured.exit_code, 0) << measured.err;
  const nlohmann::json catalog = nlohmann::json::parse(ReadFileText(profile), nullptr, false);
  ASSERT_TRUE(catalog.is_object());
  const nlohmann::json& device = catalog["devices"][0];
  EXPECT_EQ(device["name"], "probe-host");
  EXPECT_EQ(device["kind"], "cpu");
  for (const char* key : {"memory_bandwidth_bytes_per_s", "attention_flops", "row_elements_per_s", "int8_ops"}) {
    EXPECT_GT(device[key].get<double>(), 0) << key;
  }
  const nlohmann::json& curve = device["kernels"]["q8_0"]["curves"]["1024"];
  ASSERT_EQ(curve.size(), 10u) << device.dump();
  EXPECT_EQ(curve[0][0], 1);
  EXPECT_EQ(curve[9][0], 512);
  EXPECT_NE(device["source"].get<std::string>().find("bench --profile --threads 1"), std::string::npos);

  const nlohmann::json j = Json(RunProgram({PipeshardBin(), "plan", "--simulate", "--catalog", profile, "--model", Tiny(),
                                            "--cluster", "2xprobe-host loopback", "--prompt-tokens", "64", "--gen-tokens",
                                            "8", "--json"}));
  ASSERT_TRUE(j.is_object());
  EXPECT_TRUE(j["fits"].get<bool>());
  EXPECT_EQ(j["stages"][0]["device"], "probe-host");
  EXPECT_GT(j["by_devices"][1]["prefill_tokens_per_s"].get<double>(), 0);
  // A catalog that is not one is refused naming the file.
  const std::string bad = File("bad.json");
  std::ofstream(bad) << R"({"version": 1, "devices": [{"name": "x"}], "links": []})";
  ExpectBadInput(RunProgram({PipeshardBin(), "plan", "--simulate", "--catalog", bad, "--preset", "tiny", "--cluster",
                             "1xP40 pcie3"}),
                 "bad.json");
}

TEST_F(PlanSimulateTest, BadInputNamesTheProblem) {
  ExpectBadInput(RunProgram({PipeshardBin(), "plan", "--simulate", "--preset", "tiny", "--cluster", "4xP41 pcie3"}), "P41");
  ExpectBadInput(RunProgram({PipeshardBin(), "plan", "--simulate", "--preset", "tiny"}), "--cluster");
  ExpectBadInput(RunProgram({PipeshardBin(), "plan", "--simulate", "--preset", "huge", "--cluster", "1xP40 pcie3"}), "huge");
  ExpectBadInput(RunProgram({PipeshardBin(), "plan", "--simulate", "--preset", "tiny", "--type", "q9", "--cluster", "1xP40 pcie3"}),
                 "q9");
  ExpectBadInput(RunProgram({PipeshardBin(), "plan", "--simulate", "--preset", "tiny", "--model", Tiny(), "--cluster",
                             "1xP40 pcie3"}),
                 "exactly one");
  ExpectBadInput(RunProgram({PipeshardBin(), "plan", "--simulate", "--preset", "tiny", "--cluster", "1xP40 pcie3", "--ctx",
                             "100", "--prompt-tokens", "200"}),
                 "--ctx 100");
  ExpectBadInput(RunProgram({PipeshardBin(), "plan", "--preset", "tiny", "--cluster", "1xP40 pcie3"}), "--simulate");
  for (const char* bad : {"0", "9000", "fast", "64x"}) {
    ExpectBadInput(RunProgram({PipeshardBin(), "plan", "--simulate", "--preset", "tiny", "--cluster", "1xP40 pcie3",
                               "--ubatch", bad}),
                   std::string("--ubatch '") + bad + "'");
  }
}

// --ubatch auto predicts the coordinator's default cut (ChoosePromptChunk: 1024 tokens in 512 rows
// on one stage, else about 4 chunks per stage, in multiples of 16 within 64..128); a number fixes
// the chunk; without it the fastest of auto, 128, 256 and 512 is chosen.
TEST_F(PlanSimulateTest, UbatchAutoIsTheCoordinatorsCut) {
  auto chunks = [](const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {PipeshardBin(), "plan", "--simulate", "--preset", "llama3-8b", "--type", "q8_0",
                                     "--cluster", "8xP40 loopback", "--ctx", "1152", "--prompt-tokens", "1024",
                                     "--gen-tokens", "1", "--json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const nlohmann::json j = Json(RunProgram(argv));
    std::vector<int> out;
    for (const auto& p : j["by_devices"]) out.push_back(p["ubatch"].get<int>());
    return out;
  };
  const std::vector<int> automatic = chunks({"--ubatch", "auto"});
  EXPECT_EQ(automatic, std::vector<int>({512, 128, 96, 64, 64, 64, 64, 64}));
  EXPECT_EQ(chunks({"--ubatch", "256"}), std::vector<int>(8, 256));
  const std::vector<int> fastest = chunks({});
  for (size_t i = 0; i < fastest.size(); ++i) {
    const int u = fastest[i];
    EXPECT_TRUE(u == automatic[i] || u == 128 || u == 256 || u == 512) << i << ": " << u;
  }
}

}  // namespace
}  // namespace ps::test
