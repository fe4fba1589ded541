// The gRPC FrameSender: one client stream (Stage.Stream) per hop, written by a dedicated thread
// from a queue, so Send only queues and never waits for the network (a caller that also watches
// heartbeats must not stall behind a dead peer). The writer thread connects first, waiting up to
// the connect timeout; a dead next hop then shows in health() and in every later Send.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "proto/stage.grpc.pb.h"
#include "transport/frame_transport.h"

namespace ps {

namespace {

using pipeshard::v1::Frame;

constexpr auto kCloseFlushTime = std::chrono::seconds(2);

class GrpcFrameSender : public FrameSender {
 public:
  GrpcFrameSender(std::string address, double connect_timeout_seconds, const HopPeer& peer)
      : address_(std::move(address)), connect_timeout_seconds_(connect_timeout_seconds) {
    grpc::ChannelArguments args;
    // Activation frames are megabytes; the default 4 MiB cap is for the receiving side only,
    // but make the client's intent explicit too.
    args.SetMaxSendMessageSize(-1);
    args.SetMaxReceiveMessageSize(-1);
    const std::shared_ptr<const LinkSecurity> security = peer.security ? peer.security : LinkSecurity::Plain();
    channel_ = security->Connect(address_, peer.identity, args);
  }

  ~GrpcFrameSender() override { (void)Close(); }

  Status Send(Frame frame) override {
    std::unique_lock lock(mu_);
    if (!health_.ok()) return health_;
    if (closing_) return Status::Unavailable("frame stream to " + address_ + " is closed");
    if (!started_) {
      started_ = true;
      writer_thread_ = std::thread([this] { WriteLoop(); });
    }
    queue_.push_back(std::move(frame));
    cv_.notify_one();
    return Status::Ok();
  }

  Status Close() override {
    {
      std::unique_lock lock(mu_);
      closing_ = true;
      cv_.notify_one();
      // A peer that froze (SIGSTOP) never takes the rest nor answers Finish: flush for a while,
      // then cancel the stream, so no caller (a reload, a re-plan) waits on a dead stage.
      if (started_ && !cv_.wait_for(lock, kCloseFlushTime, [this] { return writer_done_; })) {
        context_.TryCancel();
      }
    }
    if (writer_thread_.joinable()) writer_thread_.join();
    std::lock_guard lock(mu_);
    return health_;
  }

  Status health() const override {
    std::lock_guard lock(mu_);
    return health_;
  }

  std::string Describe() const override { return "grpc " + address_; }

 private:
  Status Connect() {
    const auto deadline = std::chrono::system_clock::now() +
                          std::chrono::microseconds(static_cast<int64_t>(connect_timeout_seconds_ * 1e6));
    // In short slices, so that Close (a reload, a re-plan) never waits out the whole timeout.
    for (;;) {
      const auto slice = std::min(deadline, std::chrono::system_clock::now() + std::chrono::milliseconds(100));
      if (channel_->WaitForConnected(slice)) break;
      {
        std::lock_guard lock(mu_);
        if (closing_) return Status::Unavailable("frame stream to " + address_ + " closed before it connected");
      }
      if (std::chrono::system_clock::now() >= deadline) {
        return Status::Unavailable("cannot reach the next stage at " + address_ + " (no connection within " +
                                   std::to_string(connect_timeout_seconds_) + " s)");
      }
    }
    stub_ = pipeshard::v1::Stage::NewStub(channel_);
    writer_ = stub_->Stream(&context_, &ack_);
    return Status::Ok();
  }

  // Connects, then writes queued frames in order until Close (then ends the stream) or a write
  // fails.
  void WriteLoop() {
    WriteFrames();
    std::lock_guard lock(mu_);
    writer_done_ = true;
    cv_.notify_all();
  }

  void WriteFrames() {
    const Status connected = Connect();
    std::unique_lock lock(mu_);
    if (!connected.ok()) {
      health_ = connected;
      queue_.clear();
      return;
    }
    while (true) {
      cv_.wait(lock, [this] { return !queue_.empty() || closing_; });
      if (queue_.empty()) break;  // closing, everything flushed
      Frame frame = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      const bool written = writer_->Write(frame);
      lock.lock();
      if (!written) {
        queue_.clear();
        lock.unlock();
        const grpc::Status finished = writer_->Finish();
        lock.lock();
        health_ = Status::Unavailable("frame stream to " + address_ + " broke: " +
                                      (finished.ok() ? std::string("peer closed the stream")
                                                     : finished.error_message()));
        return;
      }
    }
    lock.unlock();
    writer_->WritesDone();
    const grpc::Status finished = writer_->Finish();
    lock.lock();
    if (!finished.ok() && health_.ok()) {
      health_ = Status::Unavailable("frame stream to " + address_ + " ended with an error: " +
                                    finished.error_message());
    }
  }

  const std::string address_;
  const double connect_timeout_seconds_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pipeshard::v1::Stage::Stub> stub_;
  grpc::ClientContext context_;
  pipeshard::v1::StreamAck ack_;
  std::unique_ptr<grpc::ClientWriter<Frame>> writer_;  // used by the writer thread only

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Frame> queue_;
  bool started_ = false;
  bool closing_ = false;
  bool writer_done_ = false;
  Status health_;
  std::thread writer_thread_;
};

}  // namespace

Result<std::unique_ptr<FrameSender>> ConnectGrpcFrameSender(const std::string& address,
                                                            double connect_timeout_seconds, HopPeer peer) {
  if (address.empty()) return Status::InvalidArgument("frame sender: empty next-stage address");
  if (!(connect_timeout_seconds > 0)) {
    return Status::InvalidArgument("frame sender: connect timeout " + std::to_string(connect_timeout_seconds) +
                                   " s must be positive");
  }
  return std::unique_ptr<FrameSender>(new GrpcFrameSender(address, connect_timeout_seconds, peer));
}

}  // namespace ps
