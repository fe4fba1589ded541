// Mutual TLS between real processes: a cluster whose coordinator and workers hold certificates of
// one CA (made by `pipeshard certs`) gives `run`'s tokens, and refuses, while a request runs and
// finishes exactly: a worker whose certificate comes from another CA, a cluster member
// registering under another name or calling a worker's control service, frames from anyone but
// the planned previous stage (and on the return leg, anyone but the last stage), a plain client
// on the TLS port, and an oversized frame. Startup refuses files that disagree.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "proto/worker.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/local_cluster.h"
#include "tests/support/subprocess.h"
#include "tests/support/tiny_cluster_suite.h"
#include "transport/frame_transport.h"
#include "transport/grpc_stage_service.h"
#include "transport/tls/identities.h"
#include "transport/tls/link_security.h"

namespace ps::test {
namespace {

namespace pb = pipeshard::v1;

constexpr double kCallSeconds = 60;
const std::string kKey = "tls-test-key-0123456789";
const std::vector<std::string> kGreedy = {"--temp", "0"};

class TlsClusterTest : public TinyClusterSuite {
 protected:
  void SetUp() override {
    TinyClusterSuite::SetUp();
    if (IsSkipped()) return;
    // The cluster's CA with the coordinator, two workers and "evil" (a member of the cluster
    // that is not in the plan); and another CA, whose worker must not get in.
    Certs({"init", "--dir", Cluster()});
    Certs({"issue", "--dir", Cluster(), "coordinator"});
    for (const char* name : {"w0", "w1", "w2", "evil"}) Certs({"issue", "--dir", Cluster(), "worker", name});
    Certs({"init", "--dir", Other()});
    Certs({"issue", "--dir", Other(), "worker", "w2"});
    std::ofstream(dir_.file("keys")) << kKey << "\n";
    setenv("PIPESHARD_API_KEY", kKey.c_str(), 1);
  }
  void TearDown() override { unsetenv("PIPESHARD_API_KEY"); }

  void Certs(std::vector<std::string> args) {
    args.insert(args.begin(), {PipeshardBin(), "certs"});
    const ProcessResult r = RunProgramFor(args, kCallSeconds);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::string Cluster() { return dir_.file("cluster"); }
  std::string Other() { return dir_.file("other"); }
  ClusterOptions Options(int workers) {
    ClusterOptions o{Model(), workers, 1, {"--ctx", "256", "--ubatch", std::to_string(kUbatch), "--api-key-file",
                                           dir_.file("keys")}, 60};
    o.tls_dir = Cluster();
    return o;
  }
  // The identity of `stem` ("worker-evil", "coordinator") of the cluster's CA.
  std::shared_ptr<const LinkSecurity> Identity(const std::string& stem) {
    auto loaded = LinkSecurity::Load({Cluster() + "/ca.pem", Cluster() + "/" + stem + ".pem", Cluster() + "/" + stem + ".key"});
    EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
    return loaded.ok() ? *loaded : LinkSecurity::Plain();
  }
  static std::vector<std::string> WithCa(std::vector<std::string> argv, const std::string& ca) {
    argv.insert(argv.end(), {"--ca", ca});
    return argv;
  }
  static void ExpectRunsTokens(const ProcessResult& r, const nlohmann::json& reference, const std::string& what) {
    ASSERT_EQ(r.exit_code, 0) << what << ": " << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << what << ": " << r.out;
    EXPECT_EQ(j["tokens"], reference["tokens"]) << what;
  }
  // Frames sent as `who` to `address` claiming `peer_identity` of the server: the stream's error,
  // "" if it stayed healthy for 10 s. (The server refuses at once; a gRPC client writing into a
  // stream the server ended learns of it a few seconds later.)
  static std::string FrameStreamError(const std::string& address, std::shared_ptr<const LinkSecurity> who,
                                      const std::string& peer_identity, size_t payload_bytes = 16) {
    auto sender = ConnectGrpcFrameSender(address, 5.0, HopPeer{std::move(who), peer_identity});
    if (!sender.ok()) return sender.status().ToString();
    pb::Frame frame;
    frame.set_epoch(1);
    frame.set_microbatch_id(1);
    frame.set_payload(std::string(payload_bytes, '\0'));
    (void)(*sender)->Send(frame);
    // gRPC's client side learns of a refused stream only after a few seconds, more on a loaded
    // machine (a CI run once took over 10 s): wait up to 30 s.
    for (int i = 0; i < 300; ++i) {
      if (!(*sender)->health().ok()) return (*sender)->health().message();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      (void)(*sender)->Send(frame);
    }
    return "";
  }

  TempDir dir_;
};

TEST_F(TlsClusterTest, GenerateOverMutualTlsEqualsRun) {
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start(Options(2)), "");
  const std::string prompt = "Once upon a time";
  ExpectRunsTokens(RunProgramFor(WithCa(Args("generate", "--server", cluster.address(), prompt, 16, kGreedy),
                                        Cluster() + "/ca.pem"),
                                 kCallSeconds),
                   Reference(prompt, 16, kGreedy), "generate over TLS");
  const nlohmann::json status = cluster.Status();
  ASSERT_TRUE(status.is_object());
  ASSERT_EQ(status["stages"].size(), 2u);

  // A plain client on the TLS port: no connection, and the error says what to give.
  const ProcessResult plain =
      RunProgramFor({PipeshardBin(), "status", "--server", cluster.address(), "--connect-timeout", "2"}, kCallSeconds);
  EXPECT_EQ(plain.exit_code, 1) << plain.err;
  EXPECT_NE(plain.err.find("--ca"), std::string::npos) << plain.err;
  // A client trusting another CA: refused the same way.
  const ProcessResult wrong_ca = RunProgramFor(
      {PipeshardBin(), "status", "--server", cluster.address(), "--connect-timeout", "2", "--ca", Other() + "/ca.pem"},
      kCallSeconds);
  EXPECT_EQ(wrong_ca.exit_code, 1) << wrong_ca.err;
  // The right CA, without the key: UNAUTHENTICATED (exit 2).
  unsetenv("PIPESHARD_API_KEY");
  const ProcessResult no_key =
      RunProgramFor({PipeshardBin(), "status", "--server", cluster.address(), "--ca", Cluster() + "/ca.pem"}, kCallSeconds);
  EXPECT_EQ(no_key.exit_code, 2) << no_key.err;
}

TEST_F(TlsClusterTest, StrangersAreRefusedWhileARequestRuns) {
  LocalCluster cluster;
  ASSERT_EQ(cluster.Start(Options(2)), "");
  const nlohmann::json status = cluster.Status();
  ASSERT_TRUE(status.is_object());
  const std::string w0 = status["stages"][0]["address"];
  const std::string w1 = status["stages"][1]["address"];
  const std::string prompt = "The garden behind the house was small, but it was full of life.";
  TempDir out;
  ChildProcess running(WithCa(Args("generate", "--server", cluster.address(), prompt, 48, kGreedy), Cluster() + "/ca.pem"),
                       out.file("run.out"), out.file("run.err"));

  // A worker whose certificate another CA signed never gets past the handshake.
  ChildProcess outsider({ProgramPath("pipeshard-worker"), "--coordinator", cluster.address(), "--listen", "127.0.0.1:0",
                         "--device", "cpu", "--threads", "1", "--name", "w2", "--tls-ca", Other() + "/ca.pem",
                         "--tls-cert", Other() + "/worker-w2.pem", "--tls-key", Other() + "/worker-w2.key"},
                        out.file("outsider.out"), out.file("outsider.err"));

  const std::shared_ptr<const LinkSecurity> evil = Identity("worker-evil");
  const auto deadline = [] { return std::chrono::system_clock::now() + std::chrono::seconds(10); };
  {
    // A member registering under another worker's name.
    auto stub = pb::Coordinator::NewStub(evil->Connect(cluster.address(), tls::kCoordinatorIdentity));
    grpc::ClientContext context;
    context.set_deadline(deadline());
    pb::RegisterRequest request;
    request.set_name("w0");
    request.set_address("127.0.0.1:1");
    pb::RegisterResponse response;
    const grpc::Status s = stub->Register(&context, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_NE(s.error_message().find("pipeshard-worker-evil"), std::string::npos) << s.error_message();
  }
  {
    // A member calling a worker's control service: only the coordinator may.
    auto stub = pb::Worker::NewStub(evil->Connect(w1, tls::WorkerIdentity("w1")));
    grpc::ClientContext load_context;
    load_context.set_deadline(deadline());
    pb::LoadShardRequest load;
    load.set_model_path("/etc/passwd");
    load.set_next_address("127.0.0.1:1");
    load.set_epoch(1000);
    pb::LoadShardResponse loaded;
    const grpc::Status s = stub->LoadShard(&load_context, load, &loaded);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
    grpc::ClientContext free_context;
    free_context.set_deadline(deadline());
    pb::FreeSequenceRequest free;
    free.add_seq_ids(0);
    pb::FreeSequenceResponse freed;
    const grpc::Status f = stub->FreeSequence(&free_context, free, &freed);
    EXPECT_EQ(f.error_code(), grpc::StatusCode::PERMISSION_DENIED) << f.error_message();
  }
  {
    // A plain caller on a worker's TLS port gets no connection at all.
    auto stub = pb::Worker::NewStub(LinkSecurity::Plain()->Connect(w1, ""));
    grpc::ClientContext context;
    context.set_deadline(deadline());
    pb::FreeSequenceRequest free;
    pb::FreeSequenceResponse freed;
    EXPECT_EQ(stub->FreeSequence(&context, free, &freed).error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  // Frames: stage 1 takes them only from w0, stage 0 only from the coordinator, the coordinator's
  // return leg only from w1.
  std::string error = FrameStreamError(w1, evil, tls::WorkerIdentity("w1"));
  EXPECT_NE(error.find("only the previous stage 'pipeshard-worker-w0'"), std::string::npos) << error;
  error = FrameStreamError(w0, Identity("worker-w1"), tls::WorkerIdentity("w0"));
  EXPECT_NE(error.find("only the previous stage 'pipeshard-coordinator'"), std::string::npos) << error;
  error = FrameStreamError(cluster.address(), Identity("worker-w0"), tls::kCoordinatorIdentity);
  EXPECT_NE(error.find("only the last stage 'pipeshard-worker-w1'"), std::string::npos) << error;
  // A stream to w1 that expects another identity there is refused by the sender's own handshake.
  error = FrameStreamError(w1, Identity("worker-w0"), tls::WorkerIdentity("w0"));
  EXPECT_NE(error, "");
  // An oversized frame, even from the one identity stage 0 takes: gRPC refuses it unread.
  error = FrameStreamError(w0, Identity("coordinator"), tls::WorkerIdentity("w0"), static_cast<size_t>(kMaxStageMessageBytes) + 1);
  EXPECT_NE(error, "");

  // The request that ran through all of it is exact, and the cluster still serves its two stages.
  ProcessResult r;
  r.exit_code = running.WaitFor(kCallSeconds).value_or(-1);
  r.out = running.out();
  r.err = running.err();
  ExpectRunsTokens(r, Reference(prompt, 48, kGreedy), "beside the strangers");
  const nlohmann::json after = cluster.Status();
  ASSERT_TRUE(after.is_object());
  EXPECT_EQ(after["state"], "serving");
  EXPECT_EQ(after["stages"].size(), 2u);
  EXPECT_EQ(after.value("standbys", nlohmann::json::array()).size(), 0u) << after.dump();
  EXPECT_TRUE(outsider.Running());
  EXPECT_NE(outsider.err().find("waiting for the coordinator"), std::string::npos) << outsider.err();
}

TEST_F(TlsClusterTest, StartupRefusesFilesThatDisagree) {
  const std::string c = Cluster();
  const auto worker = [&](const std::string& name, const std::string& stem, const std::string& ca) {
    return RunProgramFor({ProgramPath("pipeshard-worker"), "--coordinator", "127.0.0.1:1", "--listen", "127.0.0.1:0",
                          "--device", "cpu", "--name", name, "--tls-ca", ca, "--tls-cert", c + "/" + stem + ".pem",
                          "--tls-key", c + "/" + stem + ".key"},
                         kCallSeconds);
  };
  ProcessResult r = worker("w0", "worker-w1", c + "/ca.pem");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("needs a certificate for 'pipeshard-worker-w0'"), std::string::npos) << r.err;
  r = worker("w0", "worker-w0", Other() + "/ca.pem");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("does not verify against the CA"), std::string::npos) << r.err;
  r = RunProgramFor({ProgramPath("pipeshard-worker"), "--coordinator", "127.0.0.1:1", "--listen", "127.0.0.1:0",
                     "--device", "cpu", "--name", "w0", "--tls-ca", c + "/ca.pem"},
                    kCallSeconds);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("missing: --tls-cert --tls-key"), std::string::npos) << r.err;
  const std::vector<std::string> coordinator = {ProgramPath("pipeshard-coordinator"), "--model", Model(), "--tls-ca",
                                                c + "/ca.pem"};
  std::vector<std::string> argv = coordinator;
  argv.insert(argv.end(), {"--listen", "127.0.0.1:0", "--tls-cert", c + "/worker-w0.pem", "--tls-key", c + "/worker-w0.key"});
  r = RunProgramFor(argv, kCallSeconds);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("not the coordinator's identity"), std::string::npos) << r.err;
  argv = coordinator;
  argv.insert(argv.end(), {"--listen", "127.0.0.1:0", "--tls-cert", c + "/coordinator.pem", "--tls-key", c + "/worker-w0.key"});
  r = RunProgramFor(argv, kCallSeconds);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("is not the private key of"), std::string::npos) << r.err;
  // TLS without API keys on an open address: the API would be open; refused before listening.
  argv = coordinator;
  argv.insert(argv.end(), {"--listen", "0.0.0.0:0", "--tls-cert", c + "/coordinator.pem", "--tls-key", c + "/coordinator.key"});
  r = RunProgramFor(argv, kCallSeconds);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--api-key-file"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ps::test
