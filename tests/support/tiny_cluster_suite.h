// Test support: the fixture of suites that run real clusters on the built-in tiny model and hold
// them to `pipeshard run`: the model made once per suite, a skip when the cluster programs are
// not built, the command line of `run` / `generate`, and each reference `run --json` computed once
// per suite with the cuts the clusters use (--ubatch kUbatch).
// Thread-safety: GoogleTest's one test thread.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/local_cluster.h"
#include "tests/support/subprocess.h"

namespace ps::test {

class TinyClusterSuite : public ::testing::Test {
 protected:
  // Prompt tokens per micro-batch, for the coordinator and the reference run alike: the CPU
  // backend's rounding depends on how a prompt is chunked, so equal output needs equal chunks.
  static constexpr int kUbatch = 16;
  static constexpr double kReferenceSeconds = 60;  // one reference `run`; a hang fails instead of stalling

  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const ProcessResult r = RunProgram({PipeshardBin(), "make-model", Model(), "--preset", "tiny"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    references_ = new std::map<std::string, nlohmann::json>();
  }
  static void TearDownTestSuite() {
    delete references_;
    references_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }
  static std::string Model() { return dir_->file("tiny.gguf"); }

  void SetUp() override {
    if (!std::filesystem::exists(ProgramPath("pipeshard-coordinator")) ||
        !std::filesystem::exists(ProgramPath("pipeshard-worker"))) {
      GTEST_SKIP() << "skipped: pipeshard-coordinator or pipeshard-worker not built";
    }
  }

  // `pipeshard COMMAND TARGET_FLAG TARGET --prompt P -n N --ignore-eos --json SAMPLING...`.
  static std::vector<std::string> Args(const std::string& command, const std::string& target_flag,
                                       const std::string& target, const std::string& prompt, int n,
                                       const std::vector<std::string>& sampling) {
    std::vector<std::string> argv = {PipeshardBin(), command, target_flag, target, "--prompt", prompt, "-n",
                                     std::to_string(n), "--ignore-eos", "--json"};
    argv.insert(argv.end(), sampling.begin(), sampling.end());
    return argv;
  }

  // `pipeshard run --json` for this prompt and sampling (computed once per suite).
  static nlohmann::json Reference(const std::string& prompt, int n, const std::vector<std::string>& sampling) {
    std::string key = prompt + "|" + std::to_string(n);
    for (const auto& s : sampling) key += "|" + s;
    auto it = references_->find(key);
    if (it != references_->end()) return it->second;
    std::vector<std::string> argv = Args("run", "--model", Model(), prompt, n, sampling);
    argv.insert(argv.end(), {"--threads", "1", "--ubatch", std::to_string(kUbatch)});
    const ProcessResult r = RunProgramFor(argv, kReferenceSeconds);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    (*references_)[key] = j;
    return j;
  }

 private:
  static inline TempDir* dir_ = nullptr;
  static inline std::map<std::string, nlohmann::json>* references_ = nullptr;
};

}  // namespace ps::test
