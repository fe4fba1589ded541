// `pipeshard bench` end to end on the tiny model: the JSON report, the roofline fields, and the
// exit code and one-line message of each kind of bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tests/support/subprocess.h"
#include "tests/support/tiny_model_test.h"

namespace ps::test {
namespace {

class BenchTest : public TinyModelTest {
 protected:
  // The fast defaults of every case here: -p 32 -n 8 --reps 2 on 2 threads.
  static std::vector<std::string> Bench(std::vector<std::string> extra, const std::string& p = "32",
                                        const std::string& n = "8", const std::string& reps = "2") {
    std::vector<std::string> argv = {PipeshardBin(), "bench", "--model", Tiny(),
                                     "-p", p, "-n", n, "--reps", reps, "--threads", "2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
};

TEST_F(BenchTest, JsonReportsSpeedsLoadAndMemory) {
  const ProcessResult r = RunProgram(Bench({"--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* field : {"prefill_tokens_per_s", "prefill_tokens_per_s_min", "prefill_tokens_per_s_max",
                            "decode_tokens_per_s", "decode_tokens_per_s_min", "decode_tokens_per_s_max",
                            "load_seconds", "peak_rss_bytes", "model_size_bytes", "model_params"}) {
    ASSERT_TRUE(j.contains(field)) << field;
    EXPECT_GT(j[field].get<double>(), 0.0) << field;
  }
  EXPECT_LE(j["prefill_tokens_per_s_min"].get<double>(), j["prefill_tokens_per_s"].get<double>());
  EXPECT_GE(j["decode_tokens_per_s_max"].get<double>(), j["decode_tokens_per_s"].get<double>());
  EXPECT_EQ(j["threads"], 2);
  EXPECT_EQ(j["reps"], 2);
  EXPECT_EQ(j["prompt_tokens"], 32);
  EXPECT_EQ(j["decode_tokens"], 8);
  EXPECT_FALSE(j["model_type"].get<std::string>().empty());
  EXPECT_FALSE(j.contains("roofline_decode_tokens_per_s"));  // only with --roofline
}

// PIPESHARD_CPU_ISA picks the avx2 level's instructions: a bad value is bad input naming the
// variable; avx2 and auto (AVX-512 VNNI where the CPU has it) give the same tokens, since the
// VNNI tiles compute the same bits, on a q4_0 model (the type with VNNI tiles).
TEST_F(BenchTest, CpuIsaVariableIsCheckedAndKeepsTheTokens) {
  ExpectBadInput(RunProgram({"env", "PIPESHARD_CPU_ISA=avx1024", PipeshardBin(), "run", "--model", Tiny(), "--prompt",
                             "hi", "-n", "2"}),
                 "PIPESHARD_CPU_ISA=avx1024");
  const std::string q4 = File("isa-q4_0.gguf");
  const ProcessResult made = RunProgram({PipeshardBin(), "make-model", q4, "--dim", "256", "--layers", "2", "--heads",
                                         "4", "--kv-heads", "2", "--ff", "512", "--type", "q4_0"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::vector<std::string> outs;
  for (const char* isa : {"avx2", "auto"}) {
    const ProcessResult r = RunProgram({"env", std::string("PIPESHARD_CPU_ISA=") + isa, "PIPESHARD_CPU_KERNELS=auto",
                                        PipeshardBin(), "run", "--model", q4, "--prompt", "one two three four five six",
                                        "-n", "12", "--temp", "0", "--ignore-eos", "--json"});
    ASSERT_EQ(r.exit_code, 0) << isa << ": " << r.err;
    outs.push_back(nlohmann::json::parse(r.out)["tokens"].dump());
  }
  EXPECT_EQ(outs[0], outs[1]);
}

TEST_F(BenchTest, RooflineComparesDecodeWithBandwidth) {
  const ProcessResult r = RunProgram(Bench({"--json", "--roofline", "--kv-type", "f32"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* field : {"read_bandwidth_bytes_per_s", "decode_weight_bytes_per_token",
                            "roofline_decode_tokens_per_s", "decode_roofline_fraction"}) {
    ASSERT_TRUE(j.contains(field)) << field;
    EXPECT_GT(j[field].get<double>(), 0.0) << field;
  }
  // The embedding table is not read whole per token, so fewer bytes than the file's tensors.
  EXPECT_LT(j["decode_weight_bytes_per_token"].get<double>(), j["model_size_bytes"].get<double>());
  EXPECT_NEAR(j["roofline_decode_tokens_per_s"].get<double>(),
              j["read_bandwidth_bytes_per_s"].get<double>() / j["decode_weight_bytes_per_token"].get<double>(),
              1e-6 * j["roofline_decode_tokens_per_s"].get<double>());
}

TEST_F(BenchTest, TextReportNamesTheTests) {
  const ProcessResult r = RunProgram(Bench({}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pp32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tg8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("peak RSS"), std::string::npos) << r.out;
}

TEST_F(BenchTest, BadInputExitsTwoWithOneLine) {
  ExpectBadInput(RunProgram({PipeshardBin(), "bench", "--model", File("absent.gguf")}), "absent.gguf");
  ExpectBadInput(RunProgram(Bench({}, "0")), "-p");
  ExpectBadInput(RunProgram(Bench({}, "100000000")), "context");
  ExpectBadInput(RunProgram(Bench({}, "32", "0")), "-n");
  ExpectBadInput(RunProgram(Bench({}, "32", "8", "0")), "--reps");
  ExpectBadInput(RunProgram({PipeshardBin(), "bench"}), "--model");
  ExpectBadInput(RunProgram(Bench({"--device", "gpu"})), "'gpu'");
  ExpectBadInput(RunProgram(Bench({"--device", "cuda:0", "--roofline"})), "--bandwidth");
  ExpectBadInput(RunProgram(Bench({"--roofline", "--bandwidth", "-1"})), "--bandwidth");
}

// A fixed --bandwidth replaces the probe: the roofline is exactly bytes per token / bandwidth.
TEST_F(BenchTest, GivenBandwidthSetsTheRoofline) {
  const ProcessResult r = RunProgram(Bench({"--json", "--roofline", "--bandwidth", "10"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["read_bandwidth_bytes_per_s"].get<double>(), 10e9);
  EXPECT_NEAR(j["roofline_decode_tokens_per_s"].get<double>(),
              10e9 / j["decode_weight_bytes_per_token"].get<double>(), 1e-6);
}

}  // namespace
}  // namespace ps::test
