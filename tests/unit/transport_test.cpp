// The gRPC transport: frames keep their order over a hop, large frames pass, a dead address is
// reported as Unavailable naming it, and the receiver learns when a stream ends.
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/stage_server.h"
#include "transport/frame_transport.h"
#include "transport/grpc_stage_service.h"

namespace ps {
namespace {

using pipeshard::v1::Frame;

// Collects the frames a GrpcStageService receives.
class FrameSink {
 public:
  void Add(Frame&& f) {
    std::lock_guard lock(mu_);
    frames_.push_back(std::move(f));
    cv_.notify_all();
  }
  void EndStream(const Status& s) {
    std::lock_guard lock(mu_);
    ends_.push_back(s);
    cv_.notify_all();
  }
  bool WaitFrames(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return frames_.size() >= n; });
  }
  bool WaitEnds(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return ends_.size() >= n; });
  }
  std::vector<Frame> frames() {
    std::lock_guard lock(mu_);
    return frames_;
  }
  std::vector<Status> ends() {
    std::lock_guard lock(mu_);
    return ends_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Frame> frames_;
  std::vector<Status> ends_;
};

// A Stage server on 127.0.0.1 with a kernel-chosen port.
struct SinkServer {
  FrameSink sink;
  GrpcStageService service{[this](Frame&& f) { sink.Add(std::move(f)); },
                           [this](const std::string&, uint64_t, const Status& s) { sink.EndStream(s); }};
  std::unique_ptr<grpc::Server> server;
  std::string address;

  SinkServer() { server = test::StartStageServer(service, &address); }
  ~SinkServer() { server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1)); }
};

// A port nothing listens on: bound by the kernel, then released.
std::string DeadAddress() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
}

TEST(TransportTest, ThousandFramesArriveInOrder) {
  SinkServer server;
  ASSERT_NE(server.server, nullptr);
  auto sender = ConnectGrpcFrameSender(server.address);
  ASSERT_TRUE(sender.ok()) << sender.status().ToString();
  EXPECT_EQ((*sender)->Describe(), "grpc " + server.address);
  constexpr int kFrames = 1000;
  for (int i = 0; i < kFrames; ++i) {
    Frame f;
    f.set_microbatch_id(static_cast<uint64_t>(i));
    f.set_rows(1);
    f.add_seq_ids(i % 7);
    f.add_positions(i);
    f.add_tokens(1000 + i);
    ASSERT_TRUE((*sender)->Send(std::move(f)).ok());
  }
  ASSERT_TRUE((*sender)->Close().ok());
  ASSERT_TRUE(server.sink.WaitFrames(kFrames));
  const auto frames = server.sink.frames();
  ASSERT_EQ(frames.size(), static_cast<size_t>(kFrames));
  for (int i = 0; i < kFrames; ++i) {
    ASSERT_EQ(frames[i].microbatch_id(), static_cast<uint64_t>(i));
    ASSERT_EQ(frames[i].positions(0), i);
    ASSERT_EQ(frames[i].tokens(0), 1000 + i);
  }
  ASSERT_TRUE(server.sink.WaitEnds(1));
  EXPECT_TRUE(server.sink.ends()[0].ok());
}

TEST(TransportTest, LargeActivationFramePasses) {
  SinkServer server;
  auto sender = ConnectGrpcFrameSender(server.address);
  ASSERT_TRUE(sender.ok());
  Frame f;
  f.set_rows(512);
  f.set_cols(4096);
  f.set_dtype(pipeshard::v1::DTYPE_F32);
  std::string payload(512u * 4096u * 4u, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 31);
  f.set_payload(payload);
  ASSERT_TRUE((*sender)->Send(f).ok());
  ASSERT_TRUE((*sender)->Close().ok());
  ASSERT_TRUE(server.sink.WaitFrames(1));
  EXPECT_EQ(server.sink.frames()[0].payload(), payload);
}

TEST(TransportTest, DeadAddressIsUnavailableAndNamed) {
  const std::string address = DeadAddress();
  auto sender = ConnectGrpcFrameSender(address, 0.5);
  ASSERT_TRUE(sender.ok());
  EXPECT_TRUE((*sender)->health().ok());  // lazily connected: nothing tried yet
  Frame f;
  f.set_rows(1);
  // Send only queues; the writer thread finds the peer dead within the connect timeout.
  const auto started = std::chrono::steady_clock::now();
  (void)(*sender)->Send(f);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(200));
  const auto deadline = started + std::chrono::seconds(10);
  while ((*sender)->health().ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const Status health = (*sender)->health();
  EXPECT_EQ(health.code(), StatusCode::kUnavailable);
  EXPECT_NE(health.message().find(address), std::string::npos) << health.message();
  EXPECT_EQ((*sender)->Send(f).code(), StatusCode::kUnavailable);
}

TEST(TransportTest, PeerShutdownBreaksTheLink) {
  auto server = std::make_unique<SinkServer>();
  auto sender = ConnectGrpcFrameSender(server->address, 2.0);
  ASSERT_TRUE(sender.ok());
  ASSERT_TRUE((*sender)->Send(Frame()).ok());
  ASSERT_TRUE(server->sink.WaitFrames(1));
  server.reset();
  // Writes after the peer went away fail; the sender reports the broken link naming the peer.
  Status status;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (status.ok() && std::chrono::steady_clock::now() < deadline) {
    status = (*sender)->Send(Frame());
    if (status.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("127.0.0.1:"), std::string::npos) << status.message();
}

TEST(TransportTest, RejectsBadArguments) {
  EXPECT_EQ(ConnectGrpcFrameSender("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ConnectGrpcFrameSender("127.0.0.1:1", 0).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ps
