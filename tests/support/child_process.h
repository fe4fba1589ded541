// Test support: a program started in the background, its stdout and stderr going to files, so a
// test can read its output while it runs (a `listening on` line, streamed text), signal it, and
// wait for it with a time limit. The destructor kills and reaps it: no test leaves a process.
// Thread-safety: one thread per object.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/subprocess.h"

namespace ps::test {

class ChildProcess {
 public:
  // Starts argv[0] (a path; no shell) with stdin from /dev/null. pid() is -1 when fork failed.
  ChildProcess(const std::vector<std::string>& argv, std::string out_path, std::string err_path)
      : out_path_(std::move(out_path)), err_path_(std::move(err_path)) {
    // Everything the child touches is prepared before fork: only async-signal-safe calls after.
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      const int in = open("/dev/null", O_RDONLY);
      const int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0) _exit(127);
      dup2(in, STDIN_FILENO);
      dup2(out, STDOUT_FILENO);
      dup2(err, STDERR_FILENO);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~ChildProcess() {
    if (Running()) Signal(SIGKILL);
    Wait();
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::string out() const { return ReadFileText(out_path_); }
  std::string err() const { return ReadFileText(err_path_); }

  bool Running() {
    if (pid_ <= 0 || exit_code_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
    Record(status);
    return false;
  }
  void Signal(int sig) {
    if (Running()) kill(pid_, sig);
  }
  // The exit code (128 + signal when killed), waiting as long as it takes.
  int Wait() {
    if (pid_ <= 0) return -1;
    if (!exit_code_) {
      int status = 0;
      if (waitpid(pid_, &status, 0) == pid_) Record(status);
    }
    return exit_code_.value_or(-1);
  }
  // The exit code, or nothing if it still runs after `seconds`.
  std::optional<int> WaitFor(double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    while (Running()) {
      if (std::chrono::steady_clock::now() > end) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return Wait();
  }

 private:
  void Record(int status) {
    if (WIFEXITED(status)) exit_code_ = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) exit_code_ = 128 + WTERMSIG(status);
  }

  std::string out_path_;
  std::string err_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// RunProgram with a time limit: a program still running after `seconds` is killed and reported
// with exit_code -1 (so a hang fails the test instead of stalling the suite).
inline ProcessResult RunProgramFor(const std::vector<std::string>& argv, double seconds) {
  TempDir dir;
  ChildProcess child(argv, dir.file("out"), dir.file("err"));
  ProcessResult r;
  const std::optional<int> code = child.WaitFor(seconds);
  r.exit_code = code.value_or(-1);
  if (!code) child.Signal(SIGKILL);
  child.Wait();
  r.out = child.out();
  r.err = child.err();
  return r;
}

}  // namespace ps::test
