// A worker in-process against a fake coordinator: it registers with its bound address, heartbeats,
// registers again when told to, loads a whole-model shard, runs a frame to the ring's end,
// frees sequences, reports health, and refuses bad LoadShard requests naming the field. A CPU
// worker reports no GPU transport and refuses GPU hops; a cuda:0 worker reports its device and
// either loads and serves (with a device) or answers LoadShard with a clear device error and keeps
// serving (without one, or without CUDA in the build).
#include <chrono>
#include <condition_variable>
#include <mutex>

#include <gtest/gtest.h>

#include "proto/worker.grpc.pb.h"
#include "tests/support/subprocess.h"
#include "tools/make_model/make_model.h"
#include "worker/backend/cuda/cuda_backend_factory.h"
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

// A LoadShard request for layers [0, last_layer) of `model` as the only stage, sending to `next`:
// 64 positions, 2 sequences, an F16 KV cache.
pb::LoadShardRequest OnlyStageRequest(const std::string& model, const std::string& next, int last_layer) {
  pb::LoadShardRequest load;
  load.set_model_path(model);
  load.set_first_layer(0);
  load.set_last_layer(last_layer);
  load.set_stage_index(0);
  load.set_stage_count(1);
  load.set_next_address(next);
  load.set_n_ctx(64);
  load.set_max_seqs(2);
  load.set_kv_type("f16");
  return load;
}

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
  pb::LoadShardRequest load = OnlyStageRequest(dir.file("m.gguf"), coordinator_address, 3);  // past its 2 layers
  pb::LoadShardResponse loaded;
  {
    grpc::ClientContext ctx;
    const grpc::Status s = stub->LoadShard(&ctx, load, &loaded);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("[0, 3)"), std::string::npos) << s.error_message();
  }
  load.set_last_layer(2);
  load.set_epoch(3);
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
  f.set_epoch(3);
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
    req.set_epoch(3);
    pb::FreeSequenceResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub->FreeSequence(&ctx, req, &resp).ok());
  }
  ASSERT_TRUE(coordinator.WaitUntil([&] {
    return !coordinator.heartbeats_.empty() && coordinator.heartbeats_.back().tokens_processed() == 2;
  }));
  {
    std::lock_guard lock(coordinator.mu_);
    EXPECT_EQ(coordinator.heartbeats_.back().error(), "");
    EXPECT_EQ(coordinator.heartbeats_.back().epoch(), load.epoch());
  }
  // Fencing: an older plan cannot load, free or send frames here any more.
  {
    pb::LoadShardRequest older = load;
    older.set_epoch(load.epoch() - 1);
    pb::LoadShardResponse resp;
    grpc::ClientContext ctx;
    const grpc::Status s = stub->LoadShard(&ctx, older, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(s.error_message().find("epoch"), std::string::npos) << s.error_message();
  }
  {
    pb::FreeSequenceRequest req;
    req.add_seq_ids(1);
    req.set_epoch(load.epoch() - 1);
    pb::FreeSequenceResponse resp;
    grpc::ClientContext ctx;
    EXPECT_EQ(stub->FreeSequence(&ctx, req, &resp).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  }
  {
    const size_t before = sink.frames.size();
    f.set_epoch(load.epoch() - 1);
    f.set_microbatch_id(77);
    ASSERT_TRUE((*sender)->Send(f).ok());
    f.set_epoch(load.epoch());
    f.set_microbatch_id(78);
    f.clear_starts();
    f.add_starts()->set_seq_id(1);
    f.set_positions(0, 0);
    f.set_positions(1, 1);
    ASSERT_TRUE((*sender)->Send(f).ok());
    std::unique_lock lock(sink.mu);
    ASSERT_TRUE(sink.cv.wait_for(lock, std::chrono::seconds(30), [&] { return sink.frames.size() > before; }));
    // Only the current epoch's frame came through; the old one was dropped before it ran.
    EXPECT_EQ(sink.frames.back().microbatch_id(), 78u);
    EXPECT_EQ(sink.frames.size(), before + 1);
  }
  (void)(*sender)->Close();
  (*worker)->Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

// A fake coordinator whose address is also the ring's end (where a last stage sends), a tiny
// model, and a worker on `device`.
struct Rig {
  explicit Rig(DeviceSpec device) {
    MakeModelOptions o;
    o.dim = 64;
    o.layers = 2;
    o.ff = 128;
    o.ctx = 64;
    model_ok = MakeModel(dir.file("m.gguf"), o).ok();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&coordinator);
    builder.RegisterService(&ring_end);
    server = builder.BuildAndStart();
    coordinator_address = "127.0.0.1:" + std::to_string(port);
    WorkerServerOptions options;
    options.coordinator = coordinator_address;
    options.listen = "127.0.0.1:0";
    options.device = device;
    worker = WorkerServer::Start(options);
    if (worker.ok()) {
      stub = pb::Worker::NewStub(grpc::CreateChannel((*worker)->address(), grpc::InsecureChannelCredentials()));
    }
  }
  ~Rig() {
    if (worker.ok()) (*worker)->Shutdown();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
  // The whole model as the only stage.
  pb::LoadShardRequest WholeModel() const { return OnlyStageRequest(dir.file("m.gguf"), coordinator_address, 2); }
  grpc::Status Load(const pb::LoadShardRequest& request, pb::LoadShardResponse* response) {
    grpc::ClientContext ctx;
    return stub->LoadShard(&ctx, request, response);
  }
  // The error a heartbeat sent after this call reports (the worker's health, as the coordinator
  // sees it).
  std::string HeartbeatError() {
    size_t seen = 0;
    {
      std::lock_guard lock(coordinator.mu_);
      seen = coordinator.heartbeats_.size();
    }
    EXPECT_TRUE(coordinator.WaitUntil([&] { return coordinator.heartbeats_.size() >= seen + 2; }));
    std::lock_guard lock(coordinator.mu_);
    return coordinator.heartbeats_.empty() ? "" : coordinator.heartbeats_.back().error();
  }
  pb::DeviceInfo RegisteredDevice() {
    EXPECT_TRUE(coordinator.WaitUntil([&] { return !coordinator.registers_.empty(); }));
    std::lock_guard lock(coordinator.mu_);
    return coordinator.registers_.empty() ? pb::DeviceInfo() : coordinator.registers_[0].device();
  }
  // Sends one two-token prompt and waits for the frame that comes back to the ring's end.
  pb::Frame RunOneFrame() {
    auto sender = ConnectGrpcFrameSender((*worker)->address());
    EXPECT_TRUE(sender.ok());
    pb::Frame f;
    f.set_rows(2);
    f.add_seq_ids(0);
    f.add_seq_ids(0);
    f.add_positions(0);
    f.add_positions(1);
    f.add_tokens(1);
    f.add_tokens(2);
    f.set_need_logits(std::string("\x00\x01", 2));
    f.add_starts()->set_seq_id(0);
    EXPECT_TRUE((*sender)->Send(f).ok());
    pb::Frame back;
    {
      std::unique_lock lock(sink.mu);
      EXPECT_TRUE(sink.cv.wait_for(lock, std::chrono::seconds(30), [&] { return !sink.frames.empty(); }));
      if (!sink.frames.empty()) back = sink.frames.front();
    }
    (void)(*sender)->Close();
    return back;
  }

  test::TempDir dir;
  bool model_ok = false;
  FakeCoordinator coordinator;
  Sink sink;
  GrpcStageService ring_end{[this](pb::Frame&& f) {
    std::lock_guard lock(sink.mu);
    sink.frames.push_back(std::move(f));
    sink.cv.notify_all();
  }};
  std::unique_ptr<grpc::Server> server;
  std::string coordinator_address;
  Result<std::unique_ptr<WorkerServer>> worker = Status::Internal("not started");
  std::unique_ptr<pb::Worker::Stub> stub;
};

TEST(WorkerServiceTest, CpuWorkerReportsNoGpuTransportAndRefusesGpuHops) {
  Rig rig{DeviceSpec{}};
  ASSERT_TRUE(rig.model_ok);
  ASSERT_TRUE(rig.worker.ok()) << rig.worker.status().ToString();
  const pb::DeviceInfo device = rig.RegisteredDevice();
  EXPECT_EQ(device.kind(), "cpu");
  // No capability: the coordinator keeps every hop of a CPU cluster on gRPC.
  EXPECT_FALSE(device.has_transport());

  // Stage 0 of 2 asked to send over NCCL: this worker cannot, and says so.
  pb::LoadShardRequest gpu_hop = rig.WholeModel();
  gpu_hop.set_last_layer(1);
  gpu_hop.set_stage_count(2);
  gpu_hop.set_next_transport(pb::HOP_TRANSPORT_NCCL);
  gpu_hop.mutable_next_nccl()->set_rank(0);
  gpu_hop.mutable_next_nccl()->set_nranks(2);
  pb::LoadShardResponse loaded;
  grpc::Status s = rig.Load(gpu_hop, &loaded);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "LoadShard: next_transport HOP_TRANSPORT_NCCL needs a CUDA stage, but this worker runs on cpu");
  const std::string error = rig.HeartbeatError();
  EXPECT_NE(error.find("needs a CUDA stage"), std::string::npos) << error;

  // The worker keeps serving: a gRPC-only request loads and runs as before.
  s = rig.Load(rig.WholeModel(), &loaded);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(loaded.next_nccl_unique_id().empty());
  EXPECT_FALSE(loaded.has_next_ipc());
  const pb::Frame back = rig.RunOneFrame();
  EXPECT_EQ(back.error(), "");
  EXPECT_EQ(back.sampled_size(), 1);
  EXPECT_EQ(rig.HeartbeatError(), "");
}

TEST(WorkerServiceTest, CudaWorkerReportsItsDeviceAndLoadsOrSaysWhyNot) {
  Rig rig{DeviceSpec{DeviceSpec::Kind::kCuda, 0}};
  ASSERT_TRUE(rig.model_ok);
  ASSERT_TRUE(rig.worker.ok()) << rig.worker.status().ToString();
  const pb::DeviceInfo device = rig.RegisteredDevice();
  EXPECT_EQ(device.kind(), "cuda");
  EXPECT_EQ(device.index(), 0);
  const Result<int> count = CudaDeviceCount();
  const bool have_device = count.ok() && *count > 0;

  pb::LoadShardResponse loaded;
  grpc::Status s = rig.Load(rig.WholeModel(), &loaded);
  if (!have_device) {
    // Without a device nothing is measured or probed, and the description says why.
    EXPECT_FALSE(device.has_transport());
    EXPECT_EQ(device.matmul_gflops(), 0);
    EXPECT_EQ(device.description().rfind("cuda:0 (not usable: ", 0), 0u) << device.description();
    EXPECT_EQ(device.memory_total_bytes(), 0u);
    // LoadShard answers with the device's error, naming it; the worker keeps serving.
    // No CUDA in the build, or a driver that sees no device: the worker cannot; no usable driver:
    // the device is unavailable.
    EXPECT_EQ(s.error_code(), !CudaBackendBuilt() || count.ok() ? grpc::StatusCode::FAILED_PRECONDITION
                                                                  : grpc::StatusCode::UNAVAILABLE)
        << s.error_message();
    EXPECT_EQ(s.error_message().rfind("cuda:0: ", 0), 0u) << s.error_message();
    if (!CudaBackendBuilt()) {
      EXPECT_NE(s.error_message().find("-DPIPESHARD_CUDA=ON"), std::string::npos) << s.error_message();
    }
    const std::string error = rig.HeartbeatError();
    EXPECT_NE(error.find("cuda:0: "), std::string::npos) << error;
    // A CUDA stage keeps its KV cache in f16: asking for f32 is refused before the device is touched.
    pb::LoadShardRequest f32 = rig.WholeModel();
    f32.set_kv_type("f32");
    s = rig.Load(f32, &loaded);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(s.error_message().find("kv_type 'f32'"), std::string::npos) << s.error_message();
    return;
  }
  // On a GPU: the device as the runtime sees it, GPU transports offered, and a frame served.
  EXPECT_TRUE(device.has_transport());
  EXPECT_TRUE(device.transport().has_cuda());
  EXPECT_GT(device.matmul_gflops(), 0);
  EXPECT_GT(device.memory_total_bytes(), 0u);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(loaded.memory_used_bytes(), 0u);
  const pb::Frame back = rig.RunOneFrame();
  EXPECT_EQ(back.error(), "");
  EXPECT_EQ(back.sampled_size(), 1);
}

TEST(WorkerServiceTest, BadListenAddress) {
  WorkerServerOptions options;
  options.coordinator = "127.0.0.1:1";
  options.listen = "nohostport";
  EXPECT_EQ(WorkerServer::Start(options).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ps
