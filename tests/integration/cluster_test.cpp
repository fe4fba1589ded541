// A real cluster on 127.0.0.1 (pipeshard-coordinator + N pipeshard-worker processes) against the
// single-process reference: `pipeshard generate --json` must equal `pipeshard run --json` token for
// token for 1 to 4 stages, greedy and seeded sampling, alone and four at once; and the failures
// of the contract: a prompt longer than the context, a client that goes away, no server.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/local_cluster.h"
#include "tests/support/subprocess.h"
#include "tests/support/tiny_cluster_suite.h"

namespace ps::test {
namespace {

constexpr double kCallSeconds = 60;  // any single client call; a hang fails instead of stalling

// Prompts of different lengths; the last is longer than kUbatch, so its prefill crosses the pipe
// in several chunks.
const std::vector<std::string> kPrompts = {
    "Once upon a time",
    "The garden behind the house was small, but it was full of life.",
    "Still, a program is only as good as the person who wrote it: a small mistake in one line can "
    "bring down the whole system, and the people who lived by the sea knew that the weather could "
    "change in an hour, so they watched the sky every morning before the boats went out.",
};

// Sampling flags shared by run and generate: greedy, and seeded sampling with penalties.
const std::vector<std::vector<std::string>> kSamplings = {
    {"--temp", "0"},
    {"--temp", "0.9", "--seed", "1234", "--repeat-penalty", "1.1", "--top-k", "20", "--presence-penalty", "0.5",
     "--frequency-penalty", "0.3"},
};

class ClusterTest : public TinyClusterSuite {
 protected:
  static void ExpectSameGeneration(const ProcessResult& generated, const nlohmann::json& reference,
                                   const std::string& what) {
    ASSERT_EQ(generated.exit_code, 0) << what << ": " << generated.err;
    const nlohmann::json j = nlohmann::json::parse(generated.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << what << ": not JSON: " << generated.out;
    EXPECT_EQ(j["tokens"], reference["tokens"]) << what;
    EXPECT_EQ(j["text"], reference["text"]) << what;
    EXPECT_EQ(j["prompt_tokens"], reference["prompt_tokens"]) << what;
    EXPECT_EQ(j["stop_reason"], reference["stop_reason"]) << what;
    EXPECT_GT(j["decode_tokens_per_s"].get<double>(), 0.0) << what;
  }
};

class ClusterExactness : public ClusterTest, public ::testing::WithParamInterface<int> {};

TEST_P(ClusterExactness, GenerateEqualsRun) {
  const int stages = GetParam();
  LocalCluster cluster;
  const std::string started = cluster.Start(
      {Model(), stages, 1, {"--ctx", "256", "--ubatch", std::to_string(kUbatch), "--max-seqs", "4"}, 60});
  ASSERT_EQ(started, "");

  // One at a time: every prompt with every sampling.
  for (const std::string& prompt : kPrompts) {
    for (const auto& sampling : kSamplings) {
      const std::string what = std::to_string(stages) + " stages, '" + prompt.substr(0, 20) + "', " + sampling[1];
      const ProcessResult r =
          RunProgramFor(Args("generate", "--server", cluster.address(), prompt, 24, sampling), kCallSeconds);
      ExpectSameGeneration(r, Reference(prompt, 24, sampling), what);
    }
  }

  // Four at once, different prompt lengths: micro-batches of several sequences share the pipe.
  std::vector<std::unique_ptr<ChildProcess>> clients;
  TempDir out;
  for (int i = 0; i < 4; ++i) {
    const auto& sampling = kSamplings[static_cast<size_t>(i) % kSamplings.size()];
    clients.push_back(std::make_unique<ChildProcess>(
        Args("generate", "--server", cluster.address(), kPrompts[static_cast<size_t>(i) % kPrompts.size()], 16 + i,
             sampling),
        out.file("out" + std::to_string(i)), out.file("err" + std::to_string(i))));
  }
  for (int i = 0; i < 4; ++i) {
    ProcessResult r;
    r.exit_code = clients[static_cast<size_t>(i)]->WaitFor(kCallSeconds).value_or(-1);
    r.out = clients[static_cast<size_t>(i)]->out();
    r.err = clients[static_cast<size_t>(i)]->err();
    const auto& sampling = kSamplings[static_cast<size_t>(i) % kSamplings.size()];
    ExpectSameGeneration(r, Reference(kPrompts[static_cast<size_t>(i) % kPrompts.size()], 16 + i, sampling),
                         std::to_string(stages) + " stages, concurrent client " + std::to_string(i));
  }

  const nlohmann::json status = cluster.Status();
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["state"], "serving");
  ASSERT_EQ(status["stages"].size(), static_cast<size_t>(stages));
  EXPECT_EQ(status["stages"][0]["first_layer"], 0);
  EXPECT_EQ(status["stages"][stages - 1]["last_layer"], 4);  // the tiny model has 4 blocks
  for (const auto& s : status["stages"]) EXPECT_TRUE(s["healthy"].get<bool>()) << s.dump();
}

INSTANTIATE_TEST_SUITE_P(Stages, ClusterExactness, ::testing::Values(1, 2, 3, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param) + "stages";
                         });

// Qwen2 (projection biases) and Qwen3 (per-head Q/K norms, heads wider than dim / heads, so the
// query width differs from the hidden state that crosses the pipe) split over 2 stages give
// `run`'s tokens, greedy and sampled.
TEST_F(ClusterTest, QwenModelsSplitAcrossStagesEqualRun) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::vector<std::string>>> models = {
      {"qwen2", {"--arch", "qwen2", "--seed", "8"}},
      {"qwen3", {"--arch", "qwen3", "--head-dim", "128", "--seed", "3"}},
  };
  for (const auto& [name, flags] : models) {
    SCOPED_TRACE(name);
    const std::string model = dir.file(name + ".gguf");
    std::vector<std::string> make = {PipeshardBin(), "make-model", model};
    make.insert(make.end(), flags.begin(), flags.end());
    const ProcessResult made = RunProgram(make);
    ASSERT_EQ(made.exit_code, 0) << made.err;
    LocalCluster cluster;
    ASSERT_EQ(cluster.Start({model, 2, 1, {"--ctx", "256", "--ubatch", std::to_string(kUbatch)}, 60}), "");
    for (const auto& sampling : kSamplings) {
      std::vector<std::string> run = Args("run", "--model", model, kPrompts[1], 20, sampling);
      run.insert(run.end(), {"--threads", "1", "--ubatch", std::to_string(kUbatch)});
      const ProcessResult reference = RunProgramFor(run, kReferenceSeconds);
      ASSERT_EQ(reference.exit_code, 0) << reference.err;
      const ProcessResult r =
          RunProgramFor(Args("generate", "--server", cluster.address(), kPrompts[1], 20, sampling), kCallSeconds);
      ExpectSameGeneration(r, nlohmann::json::parse(reference.out), name + " " + sampling[1]);
    }
  }
}

// The table names every stage and the predicted bottleneck, the workload the plan is cut for
// and how prompts are chunked.
TEST_F(ClusterTest, StatusTable) {
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start({Model(), 2, 1, {"--ctx", "128", "--workload-prompt", "100", "--workload-concurrency", "3"}, 60}), "");
  const ProcessResult r = RunProgramFor({PipeshardBin(), "status", "--server", cluster.address()}, kCallSeconds);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("serving"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("w0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("w1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bottleneck"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("workload: 100 prompt + 256 generated tokens, 3 requests at a time"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("prompt chunks: chosen per prompt"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("predicted (compute only): prefill"), std::string::npos) << r.out;
  // The default view fits 100 columns; --wide has every column.
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 100u) << line;
  EXPECT_EQ(r.out.find("transport"), std::string::npos) << r.out;
  const ProcessResult wide =
      RunProgramFor({PipeshardBin(), "status", "--server", cluster.address(), "--wide"}, kCallSeconds);
  ASSERT_EQ(wide.exit_code, 0) << wide.err;
  EXPECT_NE(wide.out.find("transport"), std::string::npos) << wide.out;
  EXPECT_NE(wide.out.find(cluster.address().substr(0, cluster.address().find(':'))), std::string::npos) << wide.out;
}

// `bench --server --trace`: the tests run through the cluster, and the trace has one track per
// stage with the micro-batches of both phases on each, and the coordinator's turns.
TEST_F(ClusterTest, ServerBenchWritesAChromeTrace) {
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start({Model(), 2, 1, {"--ctx", "256", "--max-seqs", "2"}, 60}), "");
  TempDir dir;
  const std::string trace = dir.file("trace.json");
  const ProcessResult r = RunProgramFor({PipeshardBin(), "bench", "--server", cluster.address(), "-p", "100", "-n", "8",
                                         "-r", "1", "--streams", "2", "--trace", trace, "--json"},
                                        kCallSeconds);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_GT(j["prefill_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["decode_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["aggregate_decode_tokens_per_s"].get<double>(), 0.0);
  EXPECT_NEAR(j["prompt_tokens"].get<double>(), 100, 5);
  ASSERT_TRUE(j["prefill_stage_busy"].contains("0")) << r.out;
  ASSERT_TRUE(j["prefill_stage_busy"].contains("1")) << r.out;
  for (const char* stage : {"0", "1"}) {
    const double busy = j["prefill_stage_busy"][stage].get<double>();
    EXPECT_GT(busy, 0.0);
    EXPECT_LE(busy, 1.0);
  }
  EXPECT_EQ(j["decode_step_ms"]["hops"], 3);  // coordinator -> 0 -> 1 -> coordinator

  std::ifstream in(trace);
  const nlohmann::json t = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(t.is_object() && t["traceEvents"].is_array()) << trace;
  std::map<int, std::string> tracks;
  std::map<std::pair<int, std::string>, int> slices;  // (tid, cat) -> count
  for (const nlohmann::json& e : t["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "thread_name") tracks[e["tid"].get<int>()] = e["args"]["name"];
    if (e["ph"] == "X") {
      EXPECT_GE(e["dur"].get<int64_t>(), 0);
      ++slices[{e["tid"].get<int>(), e["cat"].get<std::string>()}];
    }
  }
  EXPECT_EQ(tracks[0], "coordinator");
  EXPECT_NE(tracks[1].find("stage 0 (w0"), std::string::npos) << tracks[1];
  EXPECT_NE(tracks[2].find("stage 1 (w1"), std::string::npos) << tracks[2];
  for (int tid : {1, 2}) {
    EXPECT_GT((slices[{tid, "prefill"}]), 0) << tid;
    EXPECT_GT((slices[{tid, "decode"}]), 8) << tid;
  }
  EXPECT_GT((slices[{0, "coordinator"}]), 0);
}

TEST_F(ClusterTest, PromptLongerThanContextIsInvalidArgument) {
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start({Model(), 2, 1, {"--ctx", "16", "--ubatch", std::to_string(kUbatch)}, 60}), "");
  const ProcessResult r =
      RunProgramFor(Args("generate", "--server", cluster.address(), kPrompts[2], 4, kSamplings[0]), kCallSeconds);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(cluster.address()), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // The cluster keeps serving requests that fit.
  ExpectSameGeneration(
      RunProgramFor(Args("generate", "--server", cluster.address(), kPrompts[0], 8, kSamplings[0]), kCallSeconds),
      Reference(kPrompts[0], 8, kSamplings[0]), "after the rejected prompt");
}

// Prompts far beyond what the context can hold are refused by their size, before they are
// tokenized, and the requests already running do not notice (no heartbeat waits behind them).
TEST_F(ClusterTest, HugePromptsAreRefusedBeforeTokenizingWhileOthersRun) {
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start({Model(), 2, 1, {"--ctx", "256", "--ubatch", std::to_string(kUbatch)}, 60}), "");
  TempDir out;
  ChildProcess running(Args("generate", "--server", cluster.address(), kPrompts[1], 48, kSamplings[0]),
                       out.file("run.out"), out.file("run.err"));
  const std::string huge_path = out.file("huge.txt");
  {
    std::ofstream huge(huge_path);
    for (int i = 0; i < 200000; ++i) huge << "forty bytes of text that go on and on. ";  // 8 MB
  }
  const std::string long_path = out.file("long.txt");
  {
    std::ofstream long_prompt(long_path);
    long_prompt << std::string(100 * 1024, 'a');  // under gRPC's limit (128 KiB here), over the prompt's
  }
  std::vector<std::unique_ptr<ChildProcess>> refused;
  for (int i = 0; i < 4; ++i) {
    std::string name = "huge";
    name += std::to_string(i);  // not "huge" + to_string: g++ 12 warns falsely (-Wrestrict)
    refused.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{PipeshardBin(), "generate", "--server", cluster.address(), "-f", huge_path, "-n", "4"},
        out.file(name + ".out"), out.file(name + ".err")));
  }
  const ProcessResult small = RunProgramFor(
      {PipeshardBin(), "generate", "--server", cluster.address(), "-f", long_path, "-n", "4"}, kCallSeconds);
  EXPECT_EQ(small.exit_code, 2) << small.err;
  EXPECT_NE(small.err.find("bytes"), std::string::npos) << small.err;
  for (auto& r : refused) {
    // Bigger than the server takes at all: gRPC refuses the message (RESOURCE_EXHAUSTED, exit 1).
    EXPECT_EQ(r->WaitFor(kCallSeconds).value_or(-1), 1) << r->err();
    const std::string err = r->err();
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  }
  ProcessResult r;
  r.exit_code = running.WaitFor(kCallSeconds).value_or(-1);
  r.out = running.out();
  r.err = running.err();
  ExpectSameGeneration(r, Reference(kPrompts[1], 48, kSamplings[0]), "beside the huge prompts");
  EXPECT_EQ(cluster.State(), "serving");
}

// With --api-key-file, a client without a key or with a wrong one is refused (UNAUTHENTICATED,
// exit 2, the key never echoed) on every call, while a request already running finishes exactly.
TEST_F(ClusterTest, ApiKeysRefuseStrangersWhileOthersRun) {
  TempDir out;
  const std::string key = "secret-key-0123456789";
  const std::string keys = out.file("keys.txt");
  {
    std::ofstream f(keys);
    f << "# the test's clients\n" << key << "\n";
  }
  // The fixture's status calls and the running client take the key from the environment.
  setenv("PIPESHARD_API_KEY", key.c_str(), 1);
  struct Unset {
    ~Unset() { unsetenv("PIPESHARD_API_KEY"); }
  } unset;
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start({Model(), 2, 1, {"--ctx", "256", "--ubatch", std::to_string(kUbatch), "--api-key-file", keys}, 60}),
            "");
  ChildProcess running(Args("generate", "--server", cluster.address(), kPrompts[1], 48, kSamplings[0]),
                       out.file("run.out"), out.file("run.err"));
  unsetenv("PIPESHARD_API_KEY");

  const ProcessResult none =
      RunProgramFor(Args("generate", "--server", cluster.address(), kPrompts[0], 4, kSamplings[0]), kCallSeconds);
  EXPECT_EQ(none.exit_code, 2) << none.err;
  EXPECT_NE(none.err.find("needs an API key"), std::string::npos) << none.err;
  std::vector<std::string> wrong_argv = Args("generate", "--server", cluster.address(), kPrompts[0], 4, kSamplings[0]);
  wrong_argv.insert(wrong_argv.end(), {"--api-key", "wrong-key-0123456789"});
  const ProcessResult wrong = RunProgramFor(wrong_argv, kCallSeconds);
  EXPECT_EQ(wrong.exit_code, 2) << wrong.err;
  EXPECT_NE(wrong.err.find("not valid"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.err.find("wrong-key"), std::string::npos) << wrong.err;
  const ProcessResult status = RunProgramFor({PipeshardBin(), "status", "--server", cluster.address()}, kCallSeconds);
  EXPECT_EQ(status.exit_code, 2) << status.err;
  const ProcessResult bench = RunProgramFor(
      {PipeshardBin(), "bench", "--server", cluster.address(), "-p", "8", "-n", "2", "-r", "1"}, kCallSeconds);
  EXPECT_EQ(bench.exit_code, 2) << bench.err;

  const ProcessResult keyed =
      RunProgramFor({PipeshardBin(), "status", "--server", cluster.address(), "--api-key", key}, kCallSeconds);
  EXPECT_EQ(keyed.exit_code, 0) << keyed.err;
  std::vector<std::string> right_argv = Args("generate", "--server", cluster.address(), kPrompts[0], 8, kSamplings[0]);
  right_argv.insert(right_argv.end(), {"--api-key", key});
  ExpectSameGeneration(RunProgramFor(right_argv, kCallSeconds), Reference(kPrompts[0], 8, kSamplings[0]), "with the key");

  ProcessResult r;
  r.exit_code = running.WaitFor(kCallSeconds).value_or(-1);
  r.out = running.out();
  r.err = running.err();
  ExpectSameGeneration(r, Reference(kPrompts[1], 48, kSamplings[0]), "beside the strangers");
}

// No TLS yet: an address other hosts can reach is refused without --insecure, before anything
// listens.
TEST_F(ClusterTest, OpenListenAddressesNeedInsecure) {
  const ProcessResult coordinator = RunProgramFor(
      {ProgramPath("pipeshard-coordinator"), "--listen", "0.0.0.0:0", "--model", Model()}, kCallSeconds);
  EXPECT_EQ(coordinator.exit_code, 2) << coordinator.err;
  EXPECT_NE(coordinator.err.find("--insecure"), std::string::npos) << coordinator.err;
  const ProcessResult worker = RunProgramFor({ProgramPath("pipeshard-worker"), "--coordinator", "127.0.0.1:1",
                                              "--listen", "0.0.0.0:0", "--device", "cpu"},
                                             kCallSeconds);
  EXPECT_EQ(worker.exit_code, 2) << worker.err;
  EXPECT_NE(worker.err.find("--insecure"), std::string::npos) << worker.err;
}

// A second server on a busy port fails (gRPC's SO_REUSEPORT is off): it never shares the port
// and takes a share of the calls.
TEST_F(ClusterTest, ABusyPortIsRefused) {
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start({Model(), 1, 1, {"--ctx", "64"}, 60}), "");
  const ProcessResult coordinator = RunProgramFor(
      {ProgramPath("pipeshard-coordinator"), "--listen", cluster.address(), "--model", Model()}, kCallSeconds);
  EXPECT_EQ(coordinator.exit_code, 1) << coordinator.err;
  EXPECT_NE(coordinator.err.find("address in use"), std::string::npos) << coordinator.err;
  const ProcessResult worker = RunProgramFor({ProgramPath("pipeshard-worker"), "--coordinator", cluster.address(),
                                              "--listen", cluster.address(), "--device", "cpu"},
                                             kCallSeconds);
  EXPECT_EQ(worker.exit_code, 1) << worker.err;
  EXPECT_NE(worker.err.find("address in use"), std::string::npos) << worker.err;
  EXPECT_EQ(cluster.State(), "serving");
}

TEST_F(ClusterTest, ClientThatDisconnectsLeavesTheClusterServing) {
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start({Model(), 3, 1, {"--ctx", "2048", "--ubatch", std::to_string(kUbatch), "--max-seqs", "2"}, 60}), "");
  TempDir out;
  {
    // Streams text (not --json) so we can see it is mid-generation before killing it. Left alone
    // it would run for seconds (2000 tokens), longer than the checks below wait.
    ChildProcess client({PipeshardBin(), "generate", "--server", cluster.address(), "--prompt", kPrompts[1], "-n",
                         "2000", "--ignore-eos", "--temp", "0"},
                        out.file("out"), out.file("err"));
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (client.out().size() < 16 && client.Running() && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(client.Running()) << "finished before it could be interrupted: " << client.err();
    ASSERT_GE(client.out().size(), 16u) << client.err();
    client.Signal(SIGKILL);
    client.Wait();
  }
  // Both slots are usable again: two requests at once, each exact.
  std::vector<std::unique_ptr<ChildProcess>> clients;
  for (int i = 0; i < 2; ++i) {
    clients.push_back(std::make_unique<ChildProcess>(
        Args("generate", "--server", cluster.address(), kPrompts[static_cast<size_t>(i)], 16, kSamplings[0]),
        out.file("o" + std::to_string(i)), out.file("e" + std::to_string(i))));
  }
  for (int i = 0; i < 2; ++i) {
    ProcessResult r;
    r.exit_code = clients[static_cast<size_t>(i)]->WaitFor(kCallSeconds).value_or(-1);
    r.out = clients[static_cast<size_t>(i)]->out();
    r.err = clients[static_cast<size_t>(i)]->err();
    ExpectSameGeneration(r, Reference(kPrompts[static_cast<size_t>(i)], 16, kSamplings[0]),
                         "after a client disconnected, client " + std::to_string(i));
  }
  // The abandoned request was cancelled and freed, not left to run to its end: nothing is active.
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  nlohmann::json status = cluster.Status();
  while (status.is_object() && status["active_requests"] != 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    status = cluster.Status();
  }
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["active_requests"], 0) << status.dump();
  EXPECT_EQ(status["state"], "serving") << status.dump();
}

// One request id follows a request from the edge through every stage's log, and --log-format
// json makes every log line of every process a JSON object.
TEST_F(ClusterTest, RequestIdFollowsTheRequestThroughEveryLog) {
  LocalCluster cluster;
  const std::vector<std::string> log_args = {"--log-format", "json", "--log-level", "info"};
  ClusterOptions options{Model(), 2, 1, {"--ctx", "256", "--ubatch", std::to_string(kUbatch)}, 60};
  options.coordinator_args.insert(options.coordinator_args.end(), log_args.begin(), log_args.end());
  options.worker_args = log_args;
  ASSERT_EQ(cluster.Start(options), "");
  const ProcessResult r =
      RunProgramFor(Args("generate", "--server", cluster.address(), kPrompts[2], 4, kSamplings[0]), kCallSeconds);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json answer = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(answer.is_object()) << r.out;
  const std::string id = answer.value("request_id", "");
  ASSERT_EQ(id.rfind("gen-", 0), 0u) << r.out;

  // Every stderr line of every process parses; count the lines naming the request per process.
  auto lines_with_id = [&](ChildProcess& p, const std::string& who) {
    int with_id = 0;
    std::istringstream lines(p.err());
    std::string line;
    while (std::getline(lines, line)) {
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      EXPECT_TRUE(j.is_object() && j.contains("ts") && j.contains("level") && j.contains("msg"))
          << who << ": not a JSON log line: " << line;
      if (j.is_object() && j.value("request_id", "") == id) ++with_id;
    }
    return with_id;
  };
  // The finish line can trail the answer by a moment.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (lines_with_id(cluster.coordinator(), "coordinator") == 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(lines_with_id(cluster.coordinator(), "coordinator"), 1) << cluster.Logs();
  for (int i = 0; i < 2; ++i) {
    EXPECT_GE(lines_with_id(cluster.worker(i), "w" + std::to_string(i)), 1)
        << "stage " << i << " never named request " << id << "\n" << cluster.Logs();
  }
}

// A worker that dies mid-generation: tests/chaos/recovery_test.cpp.

TEST_F(ClusterTest, NoServerIsAFailureNamingTheAddress) {
  // A port nobody listens on (the coordinator of a stopped cluster).
  std::string address;
  {
    LocalCluster cluster;
    ASSERT_EQ(cluster.Start({Model(), 1, 1, {"--ctx", "64"}, 60}), "");
    address = cluster.address();
  }
  const ProcessResult r = RunProgramFor({PipeshardBin(), "generate", "--server", address, "--prompt", "x", "-n", "1",
                                         "--connect-timeout", "1"},
                                        kCallSeconds);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(address), std::string::npos) << r.err;
  const ProcessResult s =
      RunProgramFor({PipeshardBin(), "status", "--server", address, "--connect-timeout", "1"}, kCallSeconds);
  EXPECT_EQ(s.exit_code, 1) << s.err;
}

}  // namespace
}  // namespace ps::test
