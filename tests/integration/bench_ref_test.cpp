// `pipeshard bench --ref-binary` on the tiny model against fake llama.cpp programs (shell scripts
// written by each test): the numbers they print reach --json and the text table with the ratio,
// they get the same test (model, -p, -n, threads) once per rep, and every way a reference can fail
// (missing, not a program, garbage output, non-zero exit, hang, endless output) ends in a one-line
// error with the right exit code. With PIPESHARD_LLAMA_BENCH / PIPESHARD_LLAMA_CLI set to real
// llama.cpp binaries, one real run each.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/subprocess.h"
#include "tests/support/tiny_model_test.h"

namespace ps::test {
namespace {

// What the fake llama-bench prints for pp and tg (exactly representable, so medians compare exactly).
constexpr double kFakePp = 250.5;
constexpr double kFakeTg = 40.25;

class BenchRefTest : public TinyModelTest {
 protected:
  // An executable /bin/sh script `name` in this test's folder.
  std::string Script(const std::string& name, const std::string& body) {
    const std::string path = dir_.file(name);
    std::ofstream(path) << "#!/bin/sh\n" << body;
    chmod(path.c_str(), 0755);
    return path;
  }

  // The bench command on the tiny model: -p 32 -n 8 --reps 2 on 2 threads, against `ref`.
  static std::vector<std::string> Bench(const std::string& ref, std::vector<std::string> extra = {},
                                        const std::string& reps = "2") {
    std::vector<std::string> argv = {PipeshardBin(), "bench", "--model", Tiny(), "-p", "32", "-n", "8",
                                     "--reps", reps, "--threads", "2", "--ref-binary", ref};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  // A llama-bench look-alike: appends its arguments to args.txt (one line per run) and prints a
  // llama-bench JSON report for the -p and -n it was given, with `pp` and `tg` as avg_ts.
  std::string FakeLlamaBench(const std::string& pp, const std::string& tg) {
    return Script("llama-bench",
                  "echo \"$@\" >> " + ShellQuote(dir_.file("args.txt")) +
                      "\n"
                      "while [ $# -gt 0 ]; do case \"$1\" in -p) p=$2;; -n) n=$2;; esac; shift; done\n"
                      "echo '[' \n"
                      "echo \"  {\\\"build_commit\\\": \\\"fake\\\", \\\"n_prompt\\\": $p, \\\"n_gen\\\": 0, "
                      "\\\"avg_ts\\\": " + pp + ", \\\"stddev_ts\\\": 0.0},\"\n"
                      "echo \"  {\\\"build_commit\\\": \\\"fake\\\", \\\"n_prompt\\\": 0, \\\"n_gen\\\": $n, "
                      "\\\"avg_ts\\\": " + tg + ", \\\"stddev_ts\\\": 0.0}\"\n"
                      "echo ']'\n");
  }

  std::string Args() const { return ReadFileText(dir_.file("args.txt")); }

  TempDir dir_;
};

// True once process `pid` is gone or a zombie (waiting up to 3 s).
bool ProcessEnds(const std::string& pid) {
  for (int i = 0; i < 300; ++i) {
    const std::string stat = ReadFileText("/proc/" + pid + "/stat");
    const size_t paren = stat.rfind(')');
    if (stat.empty() || (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z')) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST_F(BenchRefTest, LlamaBenchSpeedsAndRatiosInJson) {
  const ProcessResult r = RunProgramFor(Bench(FakeLlamaBench("250.5", "40.25"), {"--json"}), 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("ref")) << r.out;
  const auto& ref = j["ref"];
  EXPECT_EQ(ref["kind"], "llama-bench");
  EXPECT_EQ(ref["binary"], dir_.file("llama-bench"));
  EXPECT_EQ(ref["prefill_tokens_per_s"].get<double>(), kFakePp);
  EXPECT_EQ(ref["decode_tokens_per_s"].get<double>(), kFakeTg);
  EXPECT_EQ(ref["prompt_tokens"], 32);
  EXPECT_EQ(ref["decode_tokens"], 8);
  EXPECT_DOUBLE_EQ(j["prefill_ratio"].get<double>(), j["prefill_tokens_per_s"].get<double>() / kFakePp);
  EXPECT_DOUBLE_EQ(j["decode_ratio"].get<double>(), j["decode_tokens_per_s"].get<double>() / kFakeTg);
  const std::string kernels = j["kernels"];
  EXPECT_TRUE(kernels == "scalar" || kernels == "reference" || kernels == "avx2") << kernels;

  // Once per rep, with the model, lengths, threads and one repetition each, JSON out.
  const std::string args = Args();
  EXPECT_EQ(std::count(args.begin(), args.end(), '\n'), 2) << args;
  for (const std::string& flag : {"-m " + Tiny(), std::string("-p 32"), std::string("-n 8"), std::string("-t 2"),
                                 std::string("-r 1"), std::string("-o json"), std::string("-ub 512"),
                                 std::string("-ctk f16")}) {
    EXPECT_NE(args.find(flag), std::string::npos) << flag << " not in: " << args;
  }
}

TEST_F(BenchRefTest, ReportsMedianMinAndMaxOverReps) {
  // 100, then 300, then 200 tokens/s for both tests.
  const std::string counter = ShellQuote(dir_.file("count"));
  const std::string fake = Script(
      "llama-bench-varying",
      "c=$(cat " + counter + " 2>/dev/null || echo 0); c=$((c+1)); echo $c > " + counter + "\n" +
          "case $c in 1) ts=100;; 2) ts=300;; *) ts=200;; esac\n"
          "echo \"[{\\\"n_prompt\\\": 32, \\\"n_gen\\\": 0, \\\"avg_ts\\\": $ts},"
          " {\\\"n_prompt\\\": 0, \\\"n_gen\\\": 8, \\\"avg_ts\\\": $ts}]\"\n");
  const ProcessResult r = RunProgramFor(Bench(fake, {"--json"}, "3"), 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ref = nlohmann::json::parse(r.out)["ref"];
  EXPECT_EQ(ref["prefill_tokens_per_s"].get<double>(), 200);
  EXPECT_EQ(ref["prefill_tokens_per_s_min"].get<double>(), 100);
  EXPECT_EQ(ref["prefill_tokens_per_s_max"].get<double>(), 300);
  EXPECT_EQ(ref["decode_tokens_per_s"].get<double>(), 200);
}

TEST_F(BenchRefTest, TextTableShowsBothAndTheRatio) {
  const ProcessResult r = RunProgramFor(Bench(FakeLlamaBench("250.5", "40.25")), 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("kernels "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("llama.cpp"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ratio"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("250.50"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("40.25"), std::string::npos) << r.out;
}

TEST_F(BenchRefTest, LlamaCliPerfLinesAndItsPrompt) {
  // Saves its arguments and the prompt file it was handed, prints text and the perf lines.
  const std::string fake = Script(
      "llama-cli",
      "echo \"$@\" > " + ShellQuote(dir_.file("args.txt")) + "\n" +
          "while [ $# -gt 0 ]; do case \"$1\" in -f) echo \"$2\" > " + ShellQuote(dir_.file("prompt_path")) +
          "; cp \"$2\" " + ShellQuote(dir_.file("prompt.txt")) + ";; esac; shift; done\n" +
          "echo 'once upon a time'\n"
          "echo 'llama_perf_sampler_print:    sampling time =       0.19 ms /    41 runs' >&2\n"
          "echo 'llama_perf_context_print:        load time =     241.90 ms' >&2\n"
          "echo 'llama_perf_context_print: prompt eval time =     200.00 ms /    32 tokens (    6.25 ms per token,   160.00 tokens per second)' >&2\n"
          "echo 'llama_perf_context_print:        eval time =     400.00 ms /     8 runs   (   50.00 ms per token,    20.00 tokens per second)' >&2\n"
          "echo 'llama_perf_context_print:       total time =     700.00 ms /    40 tokens' >&2\n");
  const ProcessResult r = RunProgramFor(Bench(fake, {"--json"}), 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& ref = j["ref"];
  EXPECT_EQ(ref["kind"], "llama-cli");
  EXPECT_DOUBLE_EQ(ref["prefill_tokens_per_s"].get<double>(), 160.0);
  EXPECT_DOUBLE_EQ(ref["decode_tokens_per_s"].get<double>(), 20.0);
  EXPECT_EQ(ref["prompt_tokens"], 32);
  EXPECT_EQ(ref["decode_tokens"], 8);
  EXPECT_DOUBLE_EQ(j["decode_ratio"].get<double>(), j["decode_tokens_per_s"].get<double>() / 20.0);

  const std::string args = Args();
  for (const std::string& flag : {"-m " + Tiny(), std::string("-n 9"), std::string("-t 2"), std::string("--temp 0"),
                                 std::string("--ignore-eos"), std::string("-no-cnv")}) {
    EXPECT_NE(args.find(flag), std::string::npos) << flag << " not in: " << args;
  }
  // The prompt is text of about 32 tokens by the model's tokenizer, and its file is gone.
  const std::string prompt = ReadFileText(dir_.file("prompt.txt"));
  const ProcessResult tok = RunProgram({PipeshardBin(), "tokenize", "--model", Tiny(), "--text", prompt, "--json"});
  ASSERT_EQ(tok.exit_code, 0) << tok.err;
  const size_t count = nlohmann::json::parse(tok.out)["tokens"].size();
  EXPECT_GE(count, 30u) << prompt;
  EXPECT_LE(count, 34u) << prompt;
  std::string prompt_path = ReadFileText(dir_.file("prompt_path"));
  while (!prompt_path.empty() && prompt_path.back() == '\n') prompt_path.pop_back();
  ASSERT_FALSE(prompt_path.empty());
  EXPECT_FALSE(std::filesystem::exists(prompt_path)) << prompt_path;
}

TEST_F(BenchRefTest, KindCanBeForced) {
  // A llama-bench under another name.
  const std::string fake = FakeLlamaBench("250.5", "40.25");
  const std::string renamed = dir_.file("bench-renamed");
  std::filesystem::rename(fake, renamed);
  const ProcessResult r = RunProgramFor(Bench(renamed, {"--json", "--ref-kind", "llama-bench"}, "1"), 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["ref"]["prefill_tokens_per_s"].get<double>(), kFakePp);
  // Read as llama-cli, the same program's output has no perf lines.
  const ProcessResult cli = RunProgramFor(Bench(renamed, {"--json"}, "1"), 120);
  EXPECT_EQ(cli.exit_code, 1) << cli.err;
  EXPECT_NE(cli.err.find("prompt eval time"), std::string::npos) << cli.err;
}

TEST_F(BenchRefTest, MissingOrUnrunnableReferenceIsBadInput) {
  ExpectBadInput(RunProgramFor(Bench(dir_.file("absent/llama-bench")), 60), "absent/llama-bench");
  ExpectBadInput(RunProgramFor(Bench(dir_.path().string()), 60), "directory");
  const std::string plain = dir_.file("llama-bench-not-executable");
  std::ofstream(plain) << "#!/bin/sh\n";
  ExpectBadInput(RunProgramFor(Bench(plain), 60), "not executable");
  // Executable, but neither a binary nor a script with #!: execv refuses it.
  const std::string no_shebang = dir_.file("llama-bench-text");
  std::ofstream(no_shebang) << "just text\n";
  chmod(no_shebang.c_str(), 0755);
  ExpectBadInput(RunProgramFor(Bench(no_shebang), 60), "cannot execute");
  // Flags that belong to --ref-binary, and bad values.
  ExpectBadInput(RunProgramFor({PipeshardBin(), "bench", "--model", Tiny(), "--ref-kind", "llama-cli"}, 60),
                 "--ref-binary");
  ExpectBadInput(RunProgramFor(Bench(FakeLlamaBench("1", "1"), {"--ref-timeout", "0"}), 60), "--ref-timeout");
  ExpectBadInput(RunProgramFor(Bench(FakeLlamaBench("1", "1"), {"--ref-kind", "kobold"}), 60), "--ref-kind");
}

TEST_F(BenchRefTest, GarbageOutputFailsNamingWhatIsMissing) {
  const ProcessResult garbage = RunProgramFor(Bench(Script("llama-bench", "echo 'hello world'\n")), 120);
  EXPECT_EQ(garbage.exit_code, 1);
  EXPECT_NE(garbage.err.find("not llama-bench's JSON"), std::string::npos) << garbage.err;
  EXPECT_NE(garbage.err.find("hello world"), std::string::npos) << garbage.err;

  const ProcessResult no_tg = RunProgramFor(
      Bench(Script("llama-bench-pp-only", "echo '[{\"n_prompt\": 32, \"n_gen\": 0, \"avg_ts\": 5}]'\n")), 120);
  EXPECT_EQ(no_tg.exit_code, 1);
  EXPECT_NE(no_tg.err.find("no test tg8"), std::string::npos) << no_tg.err;

  const ProcessResult bad_speed = RunProgramFor(
      Bench(Script("llama-bench-neg", "echo '[{\"n_prompt\": 32, \"n_gen\": 0, \"avg_ts\": -5},"
                                      " {\"n_prompt\": 0, \"n_gen\": 8, \"avg_ts\": 5}]'\n")),
      120);
  EXPECT_EQ(bad_speed.exit_code, 1);
  EXPECT_NE(bad_speed.err.find("avg_ts"), std::string::npos) << bad_speed.err;

  const ProcessResult cli = RunProgramFor(
      Bench(Script("llama-cli", "echo 'llama_perf_context_print: prompt eval time = 10 ms / 32 tokens' >&2\n")), 120);
  EXPECT_EQ(cli.exit_code, 1);
  EXPECT_NE(cli.err.find("'eval time"), std::string::npos) << cli.err;
  for (const ProcessResult* r : {&garbage, &no_tg, &bad_speed, &cli}) {
    EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
  }
}

TEST_F(BenchRefTest, NonZeroExitQuotesItsLastStderrLines) {
  const ProcessResult r = RunProgramFor(
      Bench(Script("llama-bench", "echo 'loading model' >&2\necho 'error: unknown argument: -ctk' >&2\nexit 3\n")),
      120);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exited with code 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown argument: -ctk"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(BenchRefTest, HangIsKilledAtTheTimeoutWithWhatItStarted) {
  // The script's own child must die too (it would otherwise hold the output pipes).
  const std::string pid_file = dir_.file("sleeper.pid");
  const std::string fake = Script("llama-bench", "sleep 60 &\necho $! > " + ShellQuote(pid_file) + "\nwait\n");
  const auto start = std::chrono::steady_clock::now();
  const ProcessResult r = RunProgramFor(Bench(fake, {"--ref-timeout", "1"}), 60);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("did not finish within 1 s"), std::string::npos) << r.err;
  EXPECT_LT(seconds, 30.0);
  std::string pid = ReadFileText(pid_file);
  while (!pid.empty() && pid.back() == '\n') pid.pop_back();
  ASSERT_FALSE(pid.empty());
  EXPECT_TRUE(ProcessEnds(pid)) << "the reference's child " << pid << " outlived the bench";
}

TEST_F(BenchRefTest, EndlessOutputIsCutOff) {
  const ProcessResult r = RunProgramFor(Bench(Script("llama-bench", "yes 'la la la'\n")), 60);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("bytes to stdout"), std::string::npos) << r.err;
}

// Real llama.cpp binaries, when the environment names them.
TEST_F(BenchRefTest, RealLlamaBench) {
  const char* binary = std::getenv("PIPESHARD_LLAMA_BENCH");
  if (binary == nullptr || !std::filesystem::exists(binary)) {
    GTEST_SKIP() << "skipped: set PIPESHARD_LLAMA_BENCH to a llama.cpp llama-bench binary to run";
  }
  const ProcessResult r = RunProgramFor({PipeshardBin(), "bench", "--model", Tiny(), "-p", "16", "-n", "4", "--reps",
                                         "1", "--threads", "2", "--ref-binary", binary, "--json"},
                                        300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ref"]["kind"], "llama-bench");
  EXPECT_GT(j["ref"]["prefill_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["ref"]["decode_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["prefill_ratio"].get<double>(), 0.0);
  EXPECT_GT(j["decode_ratio"].get<double>(), 0.0);
}

TEST_F(BenchRefTest, RealLlamaCli) {
  const char* binary = std::getenv("PIPESHARD_LLAMA_CLI");
  if (binary == nullptr || !std::filesystem::exists(binary)) {
    GTEST_SKIP() << "skipped: set PIPESHARD_LLAMA_CLI to a llama.cpp llama-cli binary to run";
  }
  const ProcessResult r = RunProgramFor({PipeshardBin(), "bench", "--model", Tiny(), "-p", "16", "-n", "4", "--reps",
                                         "1", "--threads", "2", "--ref-binary", binary, "--json"},
                                        300);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ref"]["kind"], "llama-cli");
  EXPECT_EQ(j["ref"]["decode_tokens"], 4);
  EXPECT_NEAR(j["ref"]["prompt_tokens"].get<int>(), 16, 2);
  EXPECT_GT(j["ref"]["prefill_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["decode_ratio"].get<double>(), 0.0);
}

}  // namespace
}  // namespace ps::test
