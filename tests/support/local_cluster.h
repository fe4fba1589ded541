// Test support: a pipeshard cluster on 127.0.0.1 made of real processes: one
// pipeshard-coordinator and N pipeshard-worker (CPU by default), each on port 0. Start() reads each
// process's `listening on HOST:PORT` line and waits until `pipeshard status` says "serving".
// The destructor kills every process it started. Logs stay in a temporary folder for messages.
// Thread-safety: one thread per object.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/subprocess.h"

namespace ps::test {

inline std::string ProgramPath(const std::string& name) {
  return (std::filesystem::path(PipeshardBin()).parent_path() / name).string();
}

// The address in a process's `listening on HOST:PORT` line, or "" when there is none yet.
inline std::string ListeningAddress(const std::string& out) {
  const std::string marker = "listening on ";
  const size_t at = out.find(marker);
  if (at == std::string::npos) return "";
  const size_t start = at + marker.size();
  const size_t end = out.find_first_of(" \r\n", start);
  if (end == std::string::npos) return "";  // the line is not complete yet
  return out.substr(start, end - start);
}

struct ClusterOptions {
  std::string model;
  int workers = 1;
  int worker_threads = 1;
  std::vector<std::string> coordinator_args;  // e.g. {"--ctx", "64", "--ubatch", "8"}
  double start_timeout_seconds = 60;
  std::string device = "cpu";  // every worker's --device (last: callers list the fields above in order)
  int standbys = 0;            // workers beyond the plan's stages (`workers` is --stages)
  // A folder made by `pipeshard certs` (ca.pem, coordinator.*, worker-wN.*): mutual TLS between
  // the processes, and the fixture's status calls verify the coordinator against ca.pem.
  std::string tls_dir = {};
  std::vector<std::string> worker_args = {};  // every worker's extra arguments
};

class LocalCluster {
 public:
  LocalCluster() = default;
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;
  ~LocalCluster() { Stop(); }

  // "" when the cluster serves; otherwise what went wrong, with the processes' logs.
  std::string Start(const ClusterOptions& options) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(
                                                                  options.start_timeout_seconds * 1000));
    options_ = options;
    std::vector<std::string> argv = {ProgramPath("pipeshard-coordinator"), "--listen", "127.0.0.1:0", "--model",
                                     options.model, "--stages", std::to_string(options.workers)};
    argv.insert(argv.end(), options.coordinator_args.begin(), options.coordinator_args.end());
    AddTlsArgs(argv, "coordinator");
    coordinator_ = Launch(argv, "coordinator");
    address_ = AwaitListening(*coordinator_, deadline);
    if (address_.empty()) return "the coordinator did not print `listening on`\n" + Logs();

    for (int i = 0; i < options.workers + options.standbys; ++i) {
      // One at a time, so the registration order (the plan's stage order) is w0, w1, ...
      StartWorker();
      if (AwaitListening(*workers_.back(), deadline).empty()) return "a worker did not print `listening on`\n" + Logs();
      if (!AwaitRegistered(i + 1, deadline)) return "a worker did not register\n" + Logs();
    }
    while (std::chrono::steady_clock::now() < deadline) {
      if (State() == "serving") return "";
      if (!coordinator_->Running()) return "the coordinator exited\n" + Logs();
      for (auto& w : workers_) {
        if (!w->Running()) return "a worker exited\n" + Logs();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "the cluster did not reach state serving (last: '" + State() + "')\n" + Logs();
  }

  const std::string& address() const { return address_; }

  // Starts one more worker ("w<n>", n counting every worker started), with `extra` arguments;
  // returns its index.
  int StartWorker(const std::vector<std::string>& extra = {}) {
    std::string name = "w";
    name += std::to_string(workers_.size());  // not "w" + to_string: g++ 12 warns falsely (-Wrestrict)
    std::vector<std::string> argv = {ProgramPath("pipeshard-worker"), "--coordinator", address_, "--listen",
                                     "127.0.0.1:0", "--device", options_.device, "--threads",
                                     std::to_string(options_.worker_threads), "--name", name};
    AddTlsArgs(argv, "worker-" + name);
    argv.insert(argv.end(), options_.worker_args.begin(), options_.worker_args.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    workers_.push_back(Launch(argv, name));
    return static_cast<int>(workers_.size()) - 1;
  }
  // The worker process named `name` ("w3"), or null.
  ChildProcess* WorkerNamed(const std::string& name) {
    if (name.size() < 2 || name[0] != 'w') return nullptr;
    const size_t i = std::stoul(name.substr(1));
    return i < workers_.size() ? workers_[i].get() : nullptr;
  }
  // Kills the coordinator (SIGKILL) and starts a new one on the same address with the same
  // arguments; "" when it listens again.
  std::string RestartCoordinator(double timeout_seconds) {
    coordinator_->Signal(SIGKILL);
    coordinator_->Wait();
    std::vector<std::string> argv = {ProgramPath("pipeshard-coordinator"), "--listen", address_, "--model",
                                     options_.model, "--stages", std::to_string(options_.workers)};
    argv.insert(argv.end(), options_.coordinator_args.begin(), options_.coordinator_args.end());
    AddTlsArgs(argv, "coordinator");
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
    while (std::chrono::steady_clock::now() < deadline) {
      coordinator_ = Launch(argv, "coordinator (restarted)");
      if (!AwaitListening(*coordinator_, deadline).empty()) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the port may linger a moment
    }
    return "the restarted coordinator did not listen on " + address_ + "\n" + Logs();
  }
  // Waits until `pipeshard status --json` satisfies `pred`; the last status (null when none).
  template <typename Pred>
  nlohmann::json AwaitStatus(Pred pred, double seconds) const {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    nlohmann::json s = Status();
    while (!(s.is_object() && pred(s)) && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      s = Status();
    }
    return s;
  }
  ChildProcess& worker(int i) { return *workers_.at(static_cast<size_t>(i)); }
  ChildProcess& coordinator() { return *coordinator_; }

  // `pipeshard status --json` parsed, or null when it fails.
  nlohmann::json Status() const {
    std::vector<std::string> argv = {PipeshardBin(), "status", "--server", address_, "--json"};
    if (!options_.tls_dir.empty()) argv.insert(argv.end(), {"--ca", options_.tls_dir + "/ca.pem"});
    const ProcessResult r = RunProgramFor(argv, 15);
    if (r.exit_code != 0) return nullptr;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  std::string State() const {
    const nlohmann::json s = Status();
    return s.is_object() && s.contains("state") ? s["state"].get<std::string>() : "";
  }

  // Every process's stderr and stdout, for failure messages.
  std::string Logs() const {
    std::string all;
    for (const auto& [name, path] : logs_) {
      all += "--- " + name + "\n" + ReadFileText(path);
    }
    return all;
  }

  void Stop() {
    workers_.clear();  // ChildProcess kills and reaps
    coordinator_.reset();
  }

 private:
  // --tls-ca/--tls-cert/--tls-key of `stem` (coordinator, worker-w0) when the cluster uses TLS.
  void AddTlsArgs(std::vector<std::string>& argv, const std::string& stem) const {
    if (options_.tls_dir.empty()) return;
    const std::string& d = options_.tls_dir;
    argv.insert(argv.end(), {"--tls-ca", d + "/ca.pem", "--tls-cert", d + "/" + stem + ".pem", "--tls-key",
                             d + "/" + stem + ".key"});
  }

  std::unique_ptr<ChildProcess> Launch(const std::vector<std::string>& argv, const std::string& name) {
    const std::string out = dir_.file(name + ".out");
    const std::string err = dir_.file(name + ".err");
    logs_.push_back({name + " stdout", out});
    logs_.push_back({name + " stderr", err});
    return std::make_unique<ChildProcess>(argv, out, err);
  }

  bool AwaitRegistered(int count, std::chrono::steady_clock::time_point deadline) const {
    while (std::chrono::steady_clock::now() < deadline) {
      const nlohmann::json s = Status();
      if (s.is_object()) {
        const size_t n = s["stages"].size() + (s.contains("standbys") ? s["standbys"].size() : 0);
        if (n >= static_cast<size_t>(count)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  static std::string AwaitListening(ChildProcess& p, std::chrono::steady_clock::time_point deadline) {
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string address = ListeningAddress(p.out());
      if (!address.empty()) return address;
      if (!p.Running()) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "";
  }

  TempDir dir_;
  std::vector<std::pair<std::string, std::string>> logs_;
  std::unique_ptr<ChildProcess> coordinator_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  std::string address_;
  ClusterOptions options_;
};

}  // namespace ps::test
