// pipeshard-frame-bench: the cost of one hop of the pipeline over loopback gRPC. Frames carry
// `rows` x 4096 F32 activations (one decode row, and a 512-token prefill chunk of an 8B model).
//   round trip: send one frame, the receiver echoes it back on its own stream, wait for it;
//   one-way:    send frames back to back, the receiver counts them (the ack), stop at the last.
// Reports microseconds per frame and payload GB/s, the median of --runs runs; --json for JSON.
// --tls-dir DIR runs every hop over mutual TLS as the cluster does (servers require a client
// certificate, senders name the identity the server must prove, the receiver admits each frame
// by the sender's identity), with DIR's CA and its coordinator certificate at both ends
// (`pipeshard certs init --dir DIR && pipeshard certs issue --dir DIR coordinator`).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "transport/allocator_tuning.h"
#include "transport/frame_transport.h"
#include "transport/grpc_stage_service.h"
#include "transport/tls/certificates.h"
#include "transport/tls/link_security.h"

namespace {

using pipeshard::v1::Frame;
using Clock = std::chrono::steady_clock;

// Counts frames arriving at a Stage server; Wait blocks until `n` arrived in all.
class Counter {
 public:
  void Add() {
    std::lock_guard lock(mu_);
    ++count_;
    cv_.notify_all();
  }
  bool Wait(uint64_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return count_ >= n; });
  }
  uint64_t count() {
    std::lock_guard lock(mu_);
    return count_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t count_ = 0;
};

// How every hop of a run is secured: plain, or mutual TLS where both ends hold the same
// certificate, so the peer identity a sender names and a receiver admits is that certificate's.
std::shared_ptr<const ps::LinkSecurity> g_security = ps::LinkSecurity::Plain();

ps::HopPeer Peer() { return ps::HopPeer{g_security, g_security->identity()}; }

// With TLS, the stage's check of each stream and frame (WorkerService::AdmitFrames): the sender
// must be the expected identity. Plain: none, as on a loopback cluster.
ps::StreamAdmission Admission() {
  if (!g_security->tls()) return nullptr;
  return [expected = g_security->identity()](const std::string& peer_identity) {
    if (peer_identity == expected) return ps::Status::Ok();
    return ps::Status::PermissionDenied("frames refused: the sender is '" + peer_identity + "'");
  };
}

struct Server {
  explicit Server(ps::FrameHandler handler) : service(std::move(handler), nullptr, Admission()) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", g_security->ServerCredentials(true), &port);
    ps::AllowLargeFrames(builder);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    address = "127.0.0.1:" + std::to_string(port);
  }
  ~Server() { server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200)); }
  ps::GrpcStageService service;
  std::unique_ptr<grpc::Server> server;
  std::string address;
};

Frame MakeFrame(int rows, int cols) {
  Frame f;
  f.set_rows(rows);
  f.set_cols(cols);
  f.set_dtype(pipeshard::v1::DTYPE_F32);
  for (int i = 0; i < rows; ++i) {
    f.add_seq_ids(0);
    f.add_positions(i);
    f.add_tokens(i);
  }
  f.set_need_logits(std::string(static_cast<size_t>(rows), '\0'));
  std::string payload(static_cast<size_t>(rows) * static_cast<size_t>(cols) * 4, '\0');
  for (size_t i = 0; i < payload.size(); i += 7) payload[i] = static_cast<char>(i);
  f.set_payload(payload);
  return f;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Measurement {
  std::string mode;
  int rows = 0;
  int frames = 0;
  double us_per_frame = 0;
  double gb_per_s = 0;
};

// Seconds for `frames` round trips of `frame` through an echoing receiver.
double RoundTrip(const Frame& frame, int frames) {
  Counter back;
  Server home([&back](Frame&&) { back.Add(); });
  std::unique_ptr<ps::FrameSender> echo_sender =
      std::move(ps::ConnectGrpcFrameSender(home.address, 10.0, Peer())).value();
  Server echo([&echo_sender](Frame&& f) { (void)echo_sender->Send(std::move(f)); });
  auto sender = std::move(ps::ConnectGrpcFrameSender(echo.address, 10.0, Peer())).value();
  // Warm-up: open both streams.
  (void)sender->Send(frame);
  back.Wait(1);
  const auto start = Clock::now();
  for (int i = 0; i < frames; ++i) {
    (void)sender->Send(frame);
    back.Wait(static_cast<uint64_t>(i) + 2);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  (void)sender->Close();
  (void)echo_sender->Close();
  return seconds;
}

// Seconds for `frames` frames sent back to back until the receiver counted the last one.
double OneWay(const Frame& frame, int frames) {
  Counter received;
  Server sink([&received](Frame&&) { received.Add(); });
  auto sender = std::move(ps::ConnectGrpcFrameSender(sink.address, 10.0, Peer())).value();
  (void)sender->Send(frame);
  received.Wait(1);
  const auto start = Clock::now();
  for (int i = 0; i < frames; ++i) (void)sender->Send(frame);
  received.Wait(static_cast<uint64_t>(frames) + 1);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  (void)sender->Close();
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  ps::TuneAllocatorForFrames();  // before any thread starts; see allocator_tuning.h
  CLI::App app{"pipeshard-frame-bench: one pipeline hop over loopback gRPC"};
  int cols = 4096;
  int runs = 5;
  bool json = false;
  std::string tls_dir;
  std::vector<int> row_counts = {1, 512};
  app.add_option("--cols", cols, "activation width")->check(CLI::PositiveNumber);
  app.add_option("--rows", row_counts, "rows per frame (repeatable)")->check(CLI::PositiveNumber);
  app.add_option("--runs", runs, "runs per measurement (the median is reported)")->check(CLI::PositiveNumber);
  app.add_flag("--json", json, "print JSON");
  app.add_option("--tls-dir", tls_dir,
                 "mutual TLS on every hop, with DIR/ca.pem and DIR/coordinator.pem/.key at both ends "
                 "(pipeshard certs init / issue coordinator)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!tls_dir.empty()) {
    auto loaded = ps::LinkSecurity::Load(ps::TlsFiles{ps::tls::AuthorityCertPath(tls_dir),
                                                      ps::tls::LeafCertPath(tls_dir, "coordinator"),
                                                      ps::tls::LeafKeyPath(tls_dir, "coordinator")});
    if (!loaded.ok()) {
      std::fprintf(stderr, "pipeshard-frame-bench: --tls-dir %s: %s (make them with `pipeshard certs init --dir %s` "
                   "and `pipeshard certs issue --dir %s coordinator`)\n",
                   tls_dir.c_str(), loaded.status().ToString().c_str(), tls_dir.c_str(), tls_dir.c_str());
      return 2;
    }
    g_security = std::move(loaded).value();
  }

  std::vector<Measurement> results;
  for (int rows : row_counts) {
    const Frame frame = MakeFrame(rows, cols);
    const double bytes = static_cast<double>(frame.payload().size());
    // About 50 MB to a few hundred MB per run: enough frames to average out, few enough to be quick.
    const int frames = std::clamp(static_cast<int>(200e6 / std::max(bytes, 1.0)), 20, 2000);
    for (const std::string mode : {"round_trip", "one_way"}) {
      std::vector<double> seconds;
      for (int r = 0; r < runs; ++r) seconds.push_back(mode == "round_trip" ? RoundTrip(frame, frames) : OneWay(frame, frames));
      const double s = Median(seconds);
      Measurement m;
      m.mode = mode;
      m.rows = rows;
      m.frames = frames;
      m.us_per_frame = s / frames * 1e6;
      // Payload bytes moved per second; a round trip moves the payload twice.
      m.gb_per_s = bytes * frames * (mode == "round_trip" ? 2 : 1) / s / 1e9;
      results.push_back(m);
    }
  }

  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& m : results) {
      out.push_back({{"mode", m.mode}, {"rows", m.rows}, {"cols", cols}, {"frames", m.frames},
                     {"payload_bytes", static_cast<int64_t>(m.rows) * cols * 4}, {"us_per_frame", m.us_per_frame},
                     {"gb_per_s", m.gb_per_s}, {"runs", runs}, {"tls", g_security->tls()}});
    }
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("hops: %s\n", g_security->tls() ? ("mutual TLS as '" + g_security->identity() + "'").c_str() : "plain");
    std::printf("%-10s %6s %8s %14s %10s\n", "mode", "rows", "frames", "us/frame", "GB/s");
    for (const auto& m : results) {
      std::printf("%-10s %6d %8d %14.1f %10.3f\n", m.mode.c_str(), m.rows, m.frames, m.us_per_frame, m.gb_per_s);
    }
  }
  return 0;
}
