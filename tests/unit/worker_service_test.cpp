// A worker in-process against a fake coordinator: it registers with its bound address, heartbeats,
// registers again when told to, loads a whole-model shard, runs a frame to the ring's end,
// frees sequences, reports health, and refuses bad LoadShard requests naming the field.
#include <chrono>
#include <condition_variable>
#include <mutex>

#include <gtest/gtest.h>

#include "proto/worker.grpc.pb.h"
#include "tests/support/subprocess.h"
#include "tools/make_model/make_model.h"
#include "worker/service/worker_server.h"

namespace ps {
namespace {

namespace pb = pipeshard::v1;

class FakeCoordinator : public pb::Coordinator::Service {
 public:
  grpc::Status Register(grpc::ServerContext*, const pb::RegisterRequest* req, pb::RegisterResponse* resp) override {
    std::lock_guard lock(mu_);
    registers_.push_back(*req);
    resp->set_worker_id(std::string("w").append(std::to_string(registers_.size())));
    resp->set_heartbeat_interval_seconds(0.05);
    cv_.notify_all();
    return grpc::Status::OK;
  }
  grpc::Status Heartbeat(grpc::ServerContext*, const pb::HeartbeatRequest* req, pb::HeartbeatResponse* resp) override {
    std::lock_guard lock(mu_);
    heartbeats_.push_back(*req);
    resp->set_reregister(forget_ && req->worker_id() == "w1");
    cv_.notify_all();
    return grpc::Status::OK;
  }
  template <typename Pred>
  bool WaitUntil(Pred pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return pred(); });
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<pb::RegisterRequest> registers_;
  std::vector<pb::HeartbeatRequest> heartbeats_;
  bool forget_ = false;
};

struct Sink {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<pb::Frame> frames;
};

TEST(WorkerServiceTest, RegistersLoadsRunsAndFrees) {
  test::TempDir dir;
  MakeModelOptions o;
  o.dim = 64;
  o.layers = 2;
  o.ff = 128;
  o.ctx = 64;
  ASSERT_TRUE(MakeModel(dir.file("m.gguf"), o).ok());

  FakeCoordinator coordinator;
  Sink sink;
  GrpcStageService ring_end([&sink](pb::Frame&& f) {
    std::lock_guard lock(sink.mu);
    sink.frames.push_back(std::move(f));
    sink.cv.notify_all();
  });
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&coordinator);
  builder.RegisterService(&ring_end);
  auto server = builder.BuildAndStart();
  const std::string coordinator_address = "127.0.0.1:" + std::to_string(port);

  WorkerServerOptions options;
  options.coordinator = coordinator_address;
  options.listen = "127.0.0.1:0";
  options.name = "alpha";
  options.threads = 1;
  auto worker = WorkerServer::Start(options);
  ASSERT_TRUE(worker.ok()) << worker.status().ToString();
  const std::string address = (*worker)->address();
  EXPECT_NE(address, "127.0.0.1:0");

  ASSERT_TRUE(coordinator.WaitUntil([&] { return coordinator.heartbeats_.size() >= 2; }));
  {
    std::lock_guard lock(coordinator.mu_);
    EXPECT_EQ(coordinator.registers_[0].address(), address);
    EXPECT_EQ(coordinator.registers_[0].name(), "alpha");
    EXPECT_EQ(coordinator.registers_[0].device().kind(), "cpu");
    EXPECT_GT(coordinator.registers_[0].device().matmul_gflops(), 0);
    EXPECT_EQ(coordinator.heartbeats_[0].worker_id(), "w1");
    coordinator.forget_ = true;
  }
  ASSERT_TRUE(coordinator.WaitUntil([&] { return coordinator.registers_.size() >= 2; }));

  auto stub = pb::Worker::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  pb::LoadShardRequest load;
  load.set_model_path(dir.file("m.gguf"));
  load.set_first_layer(0);
  load.set_last_layer(3);  // past the model's 2 layers
  load.set_stage_index(0);
  load.set_stage_count(1);
  load.set_next_address(coordinator_address);
  load.set_n_ctx(64);
  load.set_max_seqs(2);
  load.set_kv_type("f16");
  pb::LoadShardResponse loaded;
  {
    grpc::ClientContext ctx;
    const grpc::Status s = stub->LoadShard(&ctx, load, &loaded);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("[0, 3)"), std::string::npos) << s.error_message();
  }
  load.set_last_layer(2);
  {
    grpc::ClientContext ctx;
    const grpc::Status s = stub->LoadShard(&ctx, load, &loaded);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_GT(loaded.memory_used_bytes(), 0u);
  }

  auto sender = ConnectGrpcFrameSender(address);
  ASSERT_TRUE(sender.ok());
  pb::Frame f;
  f.set_rows(2);
  f.add_seq_ids(1);
  f.add_seq_ids(1);
  f.add_positions(0);
  f.add_positions(1);
  f.add_tokens(1);
  f.add_tokens(2);
  f.set_need_logits(std::string("\x00\x01", 2));
  f.add_starts()->set_seq_id(1);
  ASSERT_TRUE((*sender)->Send(f).ok());
  {
    std::unique_lock lock(sink.mu);
    ASSERT_TRUE(sink.cv.wait_for(lock, std::chrono::seconds(30), [&] { return !sink.frames.empty(); }));
    EXPECT_EQ(sink.frames[0].error(), "");
    EXPECT_EQ(sink.frames[0].sampled_size(), 1);
  }
  {
    pb::FreeSequenceRequest req;
    req.add_seq_ids(1);
    pb::FreeSequenceResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub->FreeSequence(&ctx, req, &resp).ok());
  }
  {
    pb::HealthResponse health;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Health(&ctx, pb::HealthRequest(), &health).ok());
    EXPECT_TRUE(health.loaded());
    EXPECT_EQ(health.error(), "");
  }
  ASSERT_TRUE(coordinator.WaitUntil([&] {
    return !coordinator.heartbeats_.empty() && coordinator.heartbeats_.back().tokens_processed() == 2;
  }));
  {
    pb::UnloadResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub->Unload(&ctx, pb::UnloadRequest(), &resp).ok());
    pb::HealthResponse health;
    grpc::ClientContext ctx2;
    ASSERT_TRUE(stub->Health(&ctx2, pb::HealthRequest(), &health).ok());
    EXPECT_FALSE(health.loaded());
  }
  (void)(*sender)->Close();
  (*worker)->Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

TEST(WorkerServiceTest, BadListenAddress) {
  WorkerServerOptions options;
  options.coordinator = "127.0.0.1:1";
  options.listen = "nohostport";
  EXPECT_EQ(WorkerServer::Start(options).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ps
