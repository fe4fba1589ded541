#include "coordinator/service/coordinator_server.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include <pthread.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "common/plan/partition_planner.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/cluster/coordinator_service.h"
#include "coordinator/cluster/worker_client.h"
#include "coordinator/cluster/worker_registry.h"
#include "coordinator/pipeline/hop_setup.h"
#include "coordinator/pipeline/pipeline.h"
#include "coordinator/service/inference_service.h"
#include "worker/transport/grpc_stage_service.h"

namespace ps::coord {

namespace {

constexpr double kHeartbeatSeconds = 0.5;
constexpr double kStaleAfterSeconds = 3.0;
constexpr double kLoadTimeoutSeconds = 600.0;
constexpr int32_t kMaxDefaultCtx = 4096;

// Blocks SIGINT/SIGTERM in every thread and lets one thread wait for them.
class StopSignal {
 public:
  StopSignal() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    waiter_ = std::thread([this] {
      int sig = 0;
      sigwait(&set_, &sig);
      stop_ = true;
    });
  }
  ~StopSignal() {
    if (!stop_) kill(getpid(), SIGTERM);  // wake the waiter
    waiter_.join();
  }
  bool stopped() const { return stop_; }

 private:
  sigset_t set_;
  std::atomic<bool> stop_{false};
  std::thread waiter_;
};

Status Validate(const CoordinatorOptions& o) {
  if (o.listen.rfind(':') == std::string::npos) return Status::InvalidArgument("--listen must be HOST:PORT, got '" + o.listen + "'");
  if (o.stages < 1) return Status::InvalidArgument("--stages must be at least 1");
  if (o.ubatch < 1) return Status::InvalidArgument("--ubatch must be at least 1");
  if (o.max_seqs < 1) return Status::InvalidArgument("--max-seqs must be at least 1");
  if (o.ctx < 0) return Status::InvalidArgument("--ctx must not be negative");
  if (o.queue < 0) return Status::InvalidArgument("--queue must not be negative");
  if (o.kv_type != "f16" && o.kv_type != "f32") return Status::InvalidArgument("--kv-type must be f16 or f32");
  return Status::Ok();
}

// The address workers reach us at: a wildcard listen host means this host.
std::string AdvertisedAddress(const std::string& host, int port) {
  const bool wildcard = host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::";
  return (wildcard ? std::string("127.0.0.1") : host) + ":" + std::to_string(port);
}

}  // namespace

Status RunCoordinator(const CoordinatorOptions& options) {
  PS_RETURN_IF_ERROR(Validate(options));
  PS_ASSIGN_OR_RETURN(std::unique_ptr<gguf::GgufFile> file, gguf::GgufFile::Open(options.model));
  auto config = ReadLlamaConfig(*file);
  if (!config.ok()) return config.status().WithContext(options.model);
  auto tokenizer = Tokenizer::FromGguf(*file);
  if (!tokenizer.ok()) return tokenizer.status().WithContext(options.model);
  const int kv_bytes = options.kv_type == "f16" ? 2 : 4;
  auto cost = plan::ModelCostFromFile(*file, *config, kv_bytes);
  if (!cost.ok()) return cost.status().WithContext(options.model);
  if (options.stages > config->n_layer) {
    return Status::InvalidArgument("--stages " + std::to_string(options.stages) + " but the model has only " +
                                   std::to_string(config->n_layer) + " layers");
  }
  const int32_t n_ctx = options.ctx > 0 ? options.ctx
                                        : static_cast<int32_t>(std::min<int64_t>(config->n_ctx_train, kMaxDefaultCtx));

  StopSignal stop;
  WorkerRegistry registry(kHeartbeatSeconds, kStaleAfterSeconds);
  CoordinatorService coordinator_service(registry);
  InferenceService inference(ModelInfo{options.model, *config, tokenizer->get(), n_ctx}, registry);
  std::atomic<Pipeline*> pipeline_ptr{nullptr};
  GrpcStageService stage_service(
      [&](pipeshard::v1::Frame&& frame) {
        if (Pipeline* p = pipeline_ptr.load()) p->OnFrame(std::move(frame));
      },
      [&](const std::string&, const Status& status) {
        if (Pipeline* p = pipeline_ptr.load()) p->OnStreamEnd(status);
      });

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&coordinator_service);
  builder.RegisterService(&inference);
  builder.RegisterService(&stage_service);
  AllowLargeFrames(builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) return Status::Unavailable("cannot listen on " + options.listen);
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::printf("listening on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);
  const std::string own_address = AdvertisedAddress(host, port);

  auto shutdown = [&](Status status) {
    inference.StopServing();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    return status;
  };

  // Wait for the workers.
  std::fprintf(stderr, "pipeshard-coordinator: waiting for %d worker(s)\n", options.stages);
  while (!registry.WaitForWorkers(static_cast<size_t>(options.stages),
                                  std::chrono::steady_clock::now() + std::chrono::milliseconds(200))) {
    if (stop.stopped()) return shutdown(Status::Ok());
  }
  if (stop.stopped()) return shutdown(Status::Ok());

  // Plan with their measured speeds and free memory, in registration order.
  std::vector<WorkerRecord> workers = registry.Snapshot();
  workers.resize(static_cast<size_t>(options.stages));
  std::vector<plan::WorkerCapacity> capacities;
  for (const WorkerRecord& w : workers) {
    // A worker that could not measure itself counts as average: 1 GFLOP/s like everyone unmeasured.
    const double gflops = w.device.matmul_gflops() > 0 ? w.device.matmul_gflops() : 1.0;
    capacities.push_back({w.name, gflops, w.device.memory_free_bytes()});
  }
  plan::PlanOptions plan_options;
  plan_options.kv_cache_tokens = static_cast<uint64_t>(n_ctx) * static_cast<uint64_t>(options.max_seqs);
  auto partition = plan::PlanPartition(*cost, capacities, plan_options);
  if (!partition.ok()) return shutdown(partition.status());
  // Each hop's transport, from what both of its ends reported.
  std::vector<plan::StageEndpoint> endpoints;
  for (const WorkerRecord& w : workers) endpoints.push_back(EndpointOf(w));
  const std::vector<plan::HopChoice> hops = plan::ChooseTransports(endpoints);
  partition->explanation += plan::ExplainTransports(hops);
  std::fprintf(stderr, "pipeshard-coordinator: %s\n", partition->explanation.c_str());

  // Load the shards in stage order: a stage's reply carries what it created for its GPU hop to
  // the next stage (NCCL id, CUDA IPC ring), which that stage's request then gets.
  inference.SetState("loading");
  std::vector<PipelineStage> stages;
  for (size_t i = 0; i < workers.size(); ++i) {
    stages.push_back({static_cast<int32_t>(i), workers[i].id, workers[i].name, workers[i].address,
                      plan::DescribeHop(endpoints, hops, i)});
  }
  pipeshard::v1::LoadShardResponse previous;
  for (size_t i = 0; i < workers.size(); ++i) {
    pipeshard::v1::LoadShardRequest request;
    request.set_model_path(options.model);
    request.set_first_layer(partition->stages[i].first_layer);
    request.set_last_layer(partition->stages[i].last_layer);
    request.set_stage_index(static_cast<int32_t>(i));
    request.set_stage_count(options.stages);
    request.set_next_address(i + 1 < workers.size() ? workers[i + 1].address : own_address);
    request.set_n_ctx(n_ctx);
    request.set_max_seqs(options.max_seqs);
    request.set_kv_type(options.kv_type);
    const Status hop = SetHopFields(hops, i, previous, &request);
    if (!hop.ok()) return shutdown(hop.WithContext(stages[i].Describe()));
    WorkerClient client(workers[i].address);
    auto loaded = client.LoadShard(request, kLoadTimeoutSeconds);
    if (!loaded.ok()) return shutdown(loaded.status().WithContext(stages[i].Describe()));
    previous = *loaded;
    registry.SetMemoryUsed(workers[i].id, loaded->memory_used_bytes());
    std::fprintf(stderr, "pipeshard-coordinator: %s loaded layers [%d, %d) in %.2f s\n", stages[i].Describe().c_str(),
                 request.first_layer(), request.last_layer(), loaded->load_seconds());
    if (stop.stopped()) return shutdown(Status::Ok());
  }

  auto to_first = ConnectGrpcFrameSender(workers[0].address);
  if (!to_first.ok()) return shutdown(to_first.status().WithContext(stages[0].Describe()));
  SchedulerOptions scheduler_options;
  scheduler_options.max_seqs = options.max_seqs;
  scheduler_options.ubatch = options.ubatch;
  scheduler_options.stages = options.stages;
  scheduler_options.queue_limit = options.queue;
  auto pipeline = std::make_unique<Pipeline>(scheduler_options, n_ctx, **tokenizer, registry, stages,
                                             std::move(to_first).value());
  pipeline_ptr = pipeline.get();
  inference.StartServing(pipeline.get(), *partition, stages);
  std::fprintf(stderr, "pipeshard-coordinator: serving\n");

  while (!stop.stopped()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const Status status = shutdown(Status::Ok());
  pipeline_ptr = nullptr;
  pipeline.reset();
  return status;
}

}  // namespace ps::coord
