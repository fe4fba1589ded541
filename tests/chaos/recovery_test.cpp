// Chaos tests on real processes: a cluster on 127.0.0.1 loses a worker (kill -9 at a random
// moment, SIGSTOP) or its coordinator, and every request still completes with exactly the tokens
// of an undisturbed `pipeshard run` (docs/pipeline.md, "Failure and recovery"). Each test is
// bounded: clients run under a time limit and the cluster is killed at the end.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/local_cluster.h"
#include "tests/support/subprocess.h"
#include "tests/support/tiny_cluster_suite.h"
#include "transport/frame_transport.h"

namespace ps::test {
namespace {

constexpr double kCallSeconds = 90;
constexpr int kTokens = 200;  // long enough that a kill after the first token lands mid-stream
constexpr int kStreams = 8;

// uint64 fields come as strings in protobuf's JSON.
int64_t Epoch(const nlohmann::json& status) {
  const nlohmann::json& e = status["epoch"];
  return e.is_string() ? std::stoll(e.get<std::string>()) : e.get<int64_t>();
}

std::string PromptOf(int i) {
  return "Story " + std::to_string(i) + ": the lighthouse keeper counted the ships every night, and one of them";
}
// Greedy for even streams, seeded sampling with a penalty for odd ones.
std::vector<std::string> SamplingOf(int i) {
  if (i % 2 == 0) return {"--temp", "0"};
  return {"--temp", "0.9", "--seed", std::to_string(1000 + i), "--repeat-penalty", "1.1", "--top-k", "20"};
}

class RecoveryTest : public TinyClusterSuite {
 protected:
  static ClusterOptions Options(int stages, int standbys, const std::string& heartbeat_timeout = "2",
                                const std::string& stage_timeout = "30") {
    ClusterOptions o;
    o.model = Model();
    o.workers = stages;
    o.standbys = standbys;
    o.coordinator_args = {"--ctx", "512", "--ubatch", std::to_string(kUbatch), "--max-seqs", std::to_string(kStreams),
                          "--heartbeat-timeout", heartbeat_timeout, "--stage-timeout", stage_timeout};
    return o;
  }

  // Starts `count` streaming clients (prompt i, sampling i).
  static std::vector<std::unique_ptr<ChildProcess>> StartClients(const LocalCluster& cluster, TempDir& out, int count,
                                                                 int tokens, const std::string& long_prompt = "") {
    std::vector<std::unique_ptr<ChildProcess>> clients;
    for (int i = 0; i < count; ++i) {
      const std::string prompt = long_prompt.empty() ? PromptOf(i) : long_prompt;
      clients.push_back(std::make_unique<ChildProcess>(
          Args("generate", "--server", cluster.address(), prompt, tokens, SamplingOf(i)),
          out.file("out" + std::to_string(i)), out.file("err" + std::to_string(i))));
    }
    return clients;
  }

  // Every client finished with the reference's tokens.
  static void ExpectAllExact(std::vector<std::unique_ptr<ChildProcess>>& clients, int tokens,
                             const LocalCluster& cluster, const std::string& long_prompt = "") {
    for (size_t i = 0; i < clients.size(); ++i) {
      const int code = clients[i]->WaitFor(kCallSeconds).value_or(-1);
      const std::string prompt = long_prompt.empty() ? PromptOf(static_cast<int>(i)) : long_prompt;
      const nlohmann::json ref = Reference(prompt, tokens, SamplingOf(static_cast<int>(i)));
      ASSERT_EQ(code, 0) << "client " << i << ": " << clients[i]->err() << "\n" << cluster.Logs();
      const nlohmann::json j = nlohmann::json::parse(clients[i]->out(), nullptr, false);
      ASSERT_TRUE(j.is_object()) << clients[i]->out();
      EXPECT_EQ(j["tokens"], ref["tokens"]) << "client " << i;
      EXPECT_EQ(j["text"], ref["text"]) << "client " << i;
    }
  }

  // The worker process that holds `stage` now.
  static ChildProcess* Holder(LocalCluster& cluster, int stage) {
    const nlohmann::json s = cluster.Status();
    if (!s.is_object() || s["stages"].size() <= static_cast<size_t>(stage)) return nullptr;
    return cluster.WorkerNamed(s["stages"][stage]["name"].get<std::string>());
  }

  // `victim` was frozen (SIGSTOP) before the clients started, so no stream can finish before the
  // kill however fast this machine is. Once `requests` are admitted (stuck behind it), it runs for
  // a random 50..max_ms ms (the streams are mid-way: prompts in flight, tokens generated) and is
  // killed; with `in_prefill` it is killed while still frozen, the prompts' chunks stuck at it.
  static void KillAtRandomMoment(const LocalCluster& cluster, ChildProcess* victim, int requests, int max_ms,
                                 bool in_prefill = false) {
    (void)cluster.AwaitStatus([&](const nlohmann::json& s) { return s["active_requests"].get<int>() >= requests; },
                              30);
    std::random_device device;
    std::uniform_int_distribution<int> delay(50, max_ms);
    if (!in_prefill) victim->Signal(SIGCONT);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay(device)));
    victim->Signal(SIGKILL);
    victim->Wait();
  }

};

// Kills the worker of `stage` (-1: the middle one) while 8 streams run; all complete exactly.
class KilledStage : public RecoveryTest, public ::testing::WithParamInterface<std::pair<int, int>> {};

TEST_P(KilledStage, EveryStreamCompletesExactly) {
  const auto [stage, standbys] = GetParam();
  for (int i = 0; i < kStreams; ++i) (void)Reference(PromptOf(i), kTokens, SamplingOf(i));
  LocalCluster cluster;
  // The victim is frozen while the clients start: a long heartbeat timeout keeps that from
  // counting as its failure, so it fails by the kill (its streams break) and nothing else.
  ASSERT_EQ(cluster.Start(Options(3, standbys, "15")), "");
  ChildProcess* victim = Holder(cluster, stage);
  ASSERT_NE(victim, nullptr);
  victim->Signal(SIGSTOP);
  TempDir out;
  auto clients = StartClients(cluster, out, kStreams, kTokens);
  KillAtRandomMoment(cluster, victim, kStreams, 300);
  ExpectAllExact(clients, kTokens, cluster);
  const nlohmann::json status = cluster.Status();
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["state"], "serving") << status.dump();
  EXPECT_GE(status["recoveries"].get<int>(), 1) << status.dump();
  EXPECT_GE(Epoch(status), 2) << status.dump();
  EXPECT_GE(status["replayed_requests"].get<int>(), 1) << status.dump();  // the kill hit running streams
  // With a standby the plan keeps 3 stages; without, the survivors hold the model in 2.
  EXPECT_EQ(status["stages"].size(), standbys > 0 ? 3u : 2u) << status.dump();
  EXPECT_EQ(status["stages"][0]["first_layer"], 0);
  EXPECT_EQ(status["stages"][status["stages"].size() - 1]["last_layer"], 4);
}

INSTANTIATE_TEST_SUITE_P(Chaos, KilledStage,
                         ::testing::Values(std::pair{1, 1}, std::pair{1, 0}, std::pair{0, 1}, std::pair{2, 1}),
                         [](const ::testing::TestParamInfo<std::pair<int, int>>& info) {
                           return "stage" + std::to_string(info.param.first) + "_" +
                                  std::to_string(info.param.second) + "standby";
                         });

// A stage that holds a micro-batch past --stage-timeout has failed, even while its heartbeat
// timeout has not run out: the deadline names it (the first stage that did not pass the
// micro-batch on), a standby takes its place and the streams finish exactly.
TEST_F(RecoveryTest, AMicroBatchPastItsDeadlineFailsTheStageHoldingIt) {
  for (int i = 0; i < 2; ++i) (void)Reference(PromptOf(i), kTokens, SamplingOf(i));
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start(Options(3, 1, "60", "2")), "");
  const std::string stuck_name = cluster.Status()["stages"][1]["name"].get<std::string>();
  ChildProcess* stuck = cluster.WorkerNamed(stuck_name);
  ASSERT_NE(stuck, nullptr);
  stuck->Signal(SIGSTOP);  // holds what it gets; its heartbeats stop too, but 60 s is far away
  TempDir out;
  auto clients = StartClients(cluster, out, 2, kTokens);
  ExpectAllExact(clients, kTokens, cluster);
  const nlohmann::json status = cluster.Status();
  ASSERT_TRUE(status.is_object());
  EXPECT_NE(status["last_recovery"].get<std::string>().find("has not come back"), std::string::npos) << status.dump();
  EXPECT_NE(status["last_recovery"].get<std::string>().find(stuck_name), std::string::npos) << status.dump();
  stuck->Signal(SIGCONT);
}

// A stranger opens a frame stream to the coordinator's return leg, sends a frame of no plan,
// and vanishes (the stream breaks): neither the frame nor the broken stream counts against the
// plan being served, and requests keep completing exactly.
TEST_F(RecoveryTest, AStraysStreamToTheReturnLegChangesNothing) {
  (void)Reference(PromptOf(0), kTokens, SamplingOf(0));
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start(Options(2, 0)), "");
  // In a child process that dies without closing anything, so the stream breaks (this process
  // has no gRPC state of its own to carry across the fork).
  for (int i = 0; i < 3; ++i) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto stray = ConnectGrpcFrameSender(cluster.address());
      if (!stray.ok()) _exit(2);
      pipeshard::v1::Frame frame;
      frame.set_microbatch_id(1);
      frame.add_sampled(5);
      if (!(*stray)->Send(frame).ok()) _exit(3);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the frame is on the wire
      _exit(0);
    }
    int wstatus = 0;
    ASSERT_EQ(waitpid(child, &wstatus, 0), child);
    ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << wstatus;
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // past a heartbeat that could report it
  TempDir out;
  auto clients = StartClients(cluster, out, 1, kTokens);
  ExpectAllExact(clients, kTokens, cluster);
  const nlohmann::json status = cluster.Status();
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["state"], "serving") << status.dump();
  EXPECT_EQ(status["recoveries"], 0) << status.dump();
}

// The only standby cannot load (its --model file is missing): the recovery leaves it out and
// re-plans over the survivors instead of stalling on it.
TEST_F(RecoveryTest, AStandbyThatCannotLoadIsLeftOut) {
  for (int i = 0; i < 2; ++i) (void)Reference(PromptOf(i), kTokens, SamplingOf(i));
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start(Options(3, 0, "15")), "");
  cluster.StartWorker({"--model", "/nonexistent/model.gguf"});
  const nlohmann::json with_standby =
      cluster.AwaitStatus([](const nlohmann::json& s) { return s["standbys"].size() == 1; }, 30);
  ASSERT_EQ(with_standby["standbys"].size(), 1u) << with_standby.dump();
  ChildProcess* victim = Holder(cluster, 1);
  ASSERT_NE(victim, nullptr);
  victim->Signal(SIGSTOP);
  TempDir out;
  auto clients = StartClients(cluster, out, 2, kTokens);
  KillAtRandomMoment(cluster, victim, 2, 200);
  ExpectAllExact(clients, kTokens, cluster);
  const nlohmann::json status = cluster.Status();
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["state"], "serving") << status.dump();
  EXPECT_EQ(status["stages"].size(), 2u) << status.dump();  // the survivors, not the bad standby
}

TEST_F(RecoveryTest, KillDuringTheLongPrefillOfALongPrompt) {
  std::string long_prompt;  // about 380 tokens: 24 chunks of 16
  for (int i = 0; i < 25; ++i) long_prompt += "The harbour master wrote down every ship that came in. ";
  (void)Reference(long_prompt, 16, SamplingOf(0));
  (void)Reference(long_prompt, 16, SamplingOf(1));
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start(Options(3, 1)), "");
  ChildProcess* victim = Holder(cluster, 1);
  ASSERT_NE(victim, nullptr);
  // Frozen first, so the prompts' chunks are surely still crossing the pipe when it dies (the
  // tiny model prefills a few hundred tokens faster than a status call returns).
  victim->Signal(SIGSTOP);
  TempDir out;
  auto clients = StartClients(cluster, out, 2, 16, long_prompt);
  KillAtRandomMoment(cluster, victim, 1, 200, /*in_prefill=*/true);
  ExpectAllExact(clients, 16, cluster, long_prompt);
  const nlohmann::json status = cluster.Status();
  EXPECT_GE(status["replayed_requests"].get<int>(), 1) << status.dump();
}

TEST_F(RecoveryTest, FrozenWorkerIsReplacedThenFencedAndBecomesAStandby) {
  for (int i = 0; i < kStreams; ++i) (void)Reference(PromptOf(i), kTokens, SamplingOf(i));
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start(Options(3, 1)), "");
  const nlohmann::json before = cluster.Status();
  const std::string frozen_name = before["stages"][1]["name"].get<std::string>();
  ChildProcess* frozen = cluster.WorkerNamed(frozen_name);
  ASSERT_NE(frozen, nullptr);
  TempDir out;
  auto clients = StartClients(cluster, out, kStreams, kTokens);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  frozen->Signal(SIGSTOP);
  std::this_thread::sleep_for(std::chrono::seconds(5));
  frozen->Signal(SIGCONT);
  ExpectAllExact(clients, kTokens, cluster);
  // The woken worker is fenced (its old shard's frames are dropped) and listed as a standby.
  const nlohmann::json status = cluster.AwaitStatus(
      [&](const nlohmann::json& s) {
        for (const auto& w : s["standbys"]) {
          if (w["name"] == frozen_name && w["healthy"].get<bool>()) return true;
        }
        return false;
      },
      15);
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["state"], "serving") << status.dump();
  EXPECT_GE(status["recoveries"].get<int>(), 1) << status.dump();
  bool standby = false;
  for (const auto& w : status["standbys"]) standby = standby || w["name"] == frozen_name;
  EXPECT_TRUE(standby) << status.dump();
  for (const auto& s : status["stages"]) EXPECT_NE(s["name"], frozen_name) << status.dump();
  // And the cluster still answers exactly.
  auto again = StartClients(cluster, out, 2, kTokens);
  ExpectAllExact(again, kTokens, cluster);
}

TEST_F(RecoveryTest, RestartedCoordinatorGetsItsWorkersBackWithoutRestartingThem) {
  for (int i = 0; i < 2; ++i) (void)Reference(PromptOf(i), kTokens, SamplingOf(i));
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start(Options(3, 0)), "");
  const int64_t epoch_before = Epoch(cluster.Status());
  ASSERT_EQ(cluster.RestartCoordinator(30), "");
  const nlohmann::json status =
      cluster.AwaitStatus([](const nlohmann::json& s) { return s["state"] == "serving"; }, 60);
  ASSERT_TRUE(status.is_object()) << cluster.Logs();
  ASSERT_EQ(status["state"], "serving") << status.dump() << cluster.Logs();
  // The new plan fences the old one: its epoch is above every epoch the workers held.
  EXPECT_GT(Epoch(status), epoch_before) << status.dump();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(cluster.worker(i).Running()) << "worker " << i << " exited";
  TempDir out;
  auto clients = StartClients(cluster, out, 2, kTokens);
  ExpectAllExact(clients, kTokens, cluster);
}

TEST_F(RecoveryTest, NoWorkerLeftFailsWithUnavailableNamingTheLostStage) {
  LocalCluster cluster;
  ClusterOptions options = Options(1, 0);
  options.coordinator_args[1] = "4096";  // --ctx: room for a request that outlives the kill
  ASSERT_EQ(cluster.Start(options), "");
  // A long request is running when the only worker dies: it fails midway, and --json still prints
  // the text generated so far with the error.
  TempDir out;
  ChildProcess running(Args("generate", "--server", cluster.address(), PromptOf(0), 4000, SamplingOf(0)),
                       out.file("running.out"), out.file("running.err"));
  const nlohmann::json busy = cluster.AwaitStatus(
      [](const nlohmann::json& s) { return std::stoll(s["tokens_generated"].get<std::string>()) > 8; }, 30);
  ASSERT_TRUE(busy.is_object());
  cluster.worker(0).Signal(SIGKILL);
  cluster.worker(0).Wait();
  ASSERT_EQ(running.WaitFor(30).value_or(-1), 1) << running.err();
  const nlohmann::json partial = nlohmann::json::parse(running.out(), nullptr, false);
  ASSERT_TRUE(partial.is_object()) << running.out();
  EXPECT_FALSE(partial["text"].get<std::string>().empty()) << running.out();
  EXPECT_EQ(partial["error_code"], "UNAVAILABLE") << running.out();
  EXPECT_NE(partial["error"].get<std::string>().find("stage 0"), std::string::npos) << running.out();
  const nlohmann::json status =
      cluster.AwaitStatus([](const nlohmann::json& s) { return s["state"] == "degraded"; }, 20);
  ASSERT_TRUE(status.is_object());
  ASSERT_EQ(status["state"], "degraded") << status.dump();
  EXPECT_NE(status["state_reason"].get<std::string>().find("stage 0"), std::string::npos) << status.dump();
  const ProcessResult r = RunProgramFor(Args("generate", "--server", cluster.address(), PromptOf(0), 4, SamplingOf(0)), 20);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("stage 0"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // A new worker brings it back.
  cluster.StartWorker();
  const nlohmann::json back = cluster.AwaitStatus([](const nlohmann::json& s) { return s["state"] == "serving"; }, 30);
  ASSERT_TRUE(back.is_object());
  EXPECT_EQ(back["state"], "serving") << back.dump() << cluster.Logs();
}

}  // namespace
}  // namespace ps::test
