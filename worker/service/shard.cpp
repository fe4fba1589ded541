#include "worker/service/shard.h"

#include <unistd.h>

#include <chrono>

#include "common/log/log_progress.h"
#include "common/model/llama_weights.h"
#include "common/util/progress.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/backend/cuda/cuda_backend_factory.h"
#include "worker/backend/sim/sim_backend.h"

namespace ps {

namespace {

Status CheckRequest(const pipeshard::v1::LoadShardRequest& r, const LlamaConfig& config) {
  if (r.first_layer() < 0 || r.first_layer() >= r.last_layer() || r.last_layer() > config.n_layer) {
    return Status::InvalidArgument("LoadShard: layer range [" + std::to_string(r.first_layer()) + ", " +
                                   std::to_string(r.last_layer()) + ") is not inside the model's [0, " +
                                   std::to_string(config.n_layer) + ")");
  }
  if (r.stage_count() < 1 || r.stage_index() < 0 || r.stage_index() >= r.stage_count()) {
    return Status::InvalidArgument("LoadShard: stage_index " + std::to_string(r.stage_index()) +
                                   " is not inside [0, stage_count " + std::to_string(r.stage_count()) + ")");
  }
  if (r.n_ctx() < 1) return Status::InvalidArgument("LoadShard: n_ctx " + std::to_string(r.n_ctx()) + " must be >= 1");
  if (r.max_seqs() < 1) {
    return Status::InvalidArgument("LoadShard: max_seqs " + std::to_string(r.max_seqs()) + " must be >= 1");
  }
  if (r.kv_type() != "f16" && r.kv_type() != "f32" && !r.kv_type().empty()) {
    return Status::InvalidArgument("LoadShard: kv_type '" + r.kv_type() + "' is not f16 or f32");
  }
  if (r.next_address().empty()) return Status::InvalidArgument("LoadShard: next_address is empty");
  return Status::Ok();
}

// Reads one byte per page of each tensor of the range, so the weights are resident when the
// first frame comes (and LoadShard's memory figure counts them), and nothing else of the file is.
// Called before the backend is made: the fast kernel level copies the matrices into its own
// layout and pages the file's copy out (MADV_PAGEOUT); touching them after that read them back,
// so a stage held its matrices twice.
void FaultIn(const LlamaWeights& w) {
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  volatile uint8_t sink = 0;
  auto touch = [&](const gguf::TensorInfo* t) {
    if (t == nullptr) return;
    for (size_t off = 0; off < t->nbytes; off += page) sink = sink + t->data[off];
  };
  touch(w.tok_embd);
  touch(w.output_norm);
  touch(w.output);
  touch(w.output_bias);
  touch(w.rope_freqs);
  for (const LayerWeights& l : w.layers) {
    for (const gguf::TensorInfo* t : l.matrices()) touch(t);
    for (const gguf::TensorInfo* t : l.vectors()) touch(t);
  }
}

// A load that takes longer than this logs its progress per layer; a quicker one logs nothing.
constexpr std::chrono::seconds kLoadQuietFor{1};

// The CUDA backend for the range; its errors are the device's and name it.
Result<std::unique_ptr<Backend>> CreateCudaStageBackend(const gguf::GgufFile& file, const LlamaConfig& config,
                                                        LayerRange range, const pipeshard::v1::LoadShardRequest& r,
                                                        const DeviceSpec& device, LayersLoadedFn on_layers_loaded) {
  if (r.kv_type() == "f32") {
    return Status::Unsupported("LoadShard: kv_type 'f32': the CUDA backend on " + device.ToString() +
                               " keeps its KV cache in f16");
  }
  CudaBackendOptions options;
  options.device = device.index;
  options.n_ctx = r.n_ctx();
  options.max_seqs = r.max_seqs();
  options.on_layers_loaded = std::move(on_layers_loaded);
  auto backend = CreateCudaBackend(file, config, range, options);
  if (!backend.ok()) return backend.status().WithContext(device.ToString());
  return backend;
}

}  // namespace

Result<std::unique_ptr<Shard>> Shard::Load(const pipeshard::v1::LoadShardRequest& request,
                                           const ShardOptions& options, pipeshard::v1::LoadShardResponse* response,
                                           LoadFailure* failure, std::unique_ptr<Shard> previous) {
  const auto fail = [failure](LoadFailure kind, Status status) {
    if (failure != nullptr) *failure = kind;
    return status;
  };
  const auto request_error = [&](const Status& status) { return fail(LoadFailure::kRequest, status); };
  const std::string path = options.model_path_override.empty() ? request.model_path() : options.model_path_override;
  if (path.empty()) return request_error(Status::InvalidArgument("LoadShard: model_path is empty and no --model was given"));
  const Identity identity{path,           request.first_layer(), request.last_layer(),
                          request.n_ctx(), request.max_seqs(),   request.kv_type().empty() ? "f16" : request.kv_type()};
  std::unique_ptr<Shard> shard(new Shard());
  std::unique_ptr<Backend> kept;
  if (previous != nullptr && previous->identity_ == identity) {
    // Same weights: stop the old plan's executor and hops, keep the file and the backend.
    previous->receiver_.reset();
    kept = StageExecutor::Retire(std::move(previous->executor_));
    previous->links_.reset();
    shard->file_ = std::move(previous->file_);
    shard->config_ = previous->config_;
    for (int32_t s = 0; s < identity.max_seqs; ++s) kept->FreeSequence(s);  // the new plan starts empty
  }
  previous.reset();  // the old shard's memory goes before a new file is mapped
  shard->identity_ = identity;
  if (shard->file_ == nullptr) {
    auto file = gguf::GgufFile::Open(path);
    if (!file.ok()) return request_error(file.status());
    shard->file_ = std::move(file).value();
    auto config = ReadLlamaConfig(*shard->file_);
    if (!config.ok()) return request_error(config.status());
    shard->config_ = *config;
  }
  if (Status s = CheckRequest(request, shard->config_); !s.ok()) return request_error(s);

  const LayerRange range{request.first_layer(), request.last_layer()};
  StageConfig stage;
  stage.stage_index = request.stage_index();
  stage.name = options.name;
  stage.last_stage = range.has_head(shard->config_);
  stage.limits.first_stage = range.has_embedding(shard->config_);
  stage.limits.n_vocab = shard->config_.n_vocab;
  stage.limits.n_embd = shard->config_.n_embd;
  stage.limits.n_ctx = request.n_ctx();
  stage.limits.max_seqs = request.max_seqs();
  stage.limits.max_rows = MaxFrameRows(request.n_ctx(), request.max_seqs());

  // The hops first: checking their fields is cheap, loading the weights is not.
  StageLinks::Failure link_failure = StageLinks::Failure::kRequest;
  auto links = StageLinks::Open(request, options.device, MaxActivationFrameBytes(stage.limits),
                               HopPeer{options.security, request.next_identity()}, response, &link_failure);
  if (!links.ok()) {
    return fail(link_failure == StageLinks::Failure::kDevice ? LoadFailure::kDevice : LoadFailure::kRequest,
                links.status());
  }
  shard->links_ = std::move(links).value();

  std::unique_ptr<Backend> backend = std::move(kept);
  std::string label = "loading layers ";
  label += std::to_string(range.first);
  label += '-';
  label += std::to_string(range.last - 1);
  label += " of ";
  label += path;
  Progress progress(ProgressOptions{std::move(label), range.last - range.first, "layers", kLoadQuietFor},
                    log::LogProgressOutput());
  const LayersLoadedFn on_layers_loaded = [&progress](int32_t done, int32_t) { progress.Update(done); };
  if (backend != nullptr) {
    response->set_kept_weights(true);
  } else if (options.device.kind == DeviceSpec::Kind::kCpu) {
    auto weights = BindLlamaWeights(*shard->file_, shard->config_, range);
    if (!weights.ok()) return request_error(weights.status());
    FaultIn(*weights);
    CpuBackendOptions backend_options;
    backend_options.threads = options.threads;
    backend_options.n_ctx = request.n_ctx();
    backend_options.max_seqs = request.max_seqs();
    backend_options.kv_f16 = request.kv_type() != "f32";
    backend_options.on_layers_loaded = on_layers_loaded;
    auto cpu = CpuBackend::Create(*shard->file_, shard->config_, range, backend_options);
    if (!cpu.ok()) return request_error(cpu.status());
    backend = std::move(cpu).value();
    progress.Finish();
  } else if (options.device.kind == DeviceSpec::Kind::kSim) {
    SimBackendOptions sim;
    sim.device = options.sim_profile;
    sim.n_ctx = request.n_ctx();
    sim.max_seqs = request.max_seqs();
    sim.kv_elem_bytes = request.kv_type() == "f32" ? 4 : 2;
    auto emulated = SimBackend::Create(*shard->file_, shard->config_, range, sim);
    if (!emulated.ok()) return request_error(emulated.status());
    backend = std::move(emulated).value();
  } else {
    auto cuda = CreateCudaStageBackend(*shard->file_, shard->config_, range, request, options.device,
                                       on_layers_loaded);
    if (!cuda.ok()) return fail(LoadFailure::kDevice, cuda.status());
    backend = std::move(cuda).value();
    progress.Finish();
  }

  shard->executor_ = std::make_unique<StageExecutor>(std::move(backend), stage, shard->links_->sender_factory());
  if (std::unique_ptr<PayloadFetcher> fetcher = shard->links_->TakePreviousFetcher()) {
    StageExecutor* executor = shard->executor_.get();
    shard->receiver_ = std::make_unique<DevicePayloadReceiver>(
        std::move(fetcher), [executor](pipeshard::v1::Frame&& f) { executor->Enqueue(std::move(f)); },
        stage.stage_index, options.name);
  }
  return shard;
}

Shard::~Shard() {
  receiver_.reset();
  executor_.reset();
  links_.reset();
}

void Shard::OnFrame(pipeshard::v1::Frame&& frame) {
  if (receiver_ != nullptr) {
    receiver_->OnFrame(std::move(frame));
  } else {
    executor_->Enqueue(std::move(frame));
  }
}

std::string Shard::link_error() const {
  if (receiver_ == nullptr) return "";
  const Status health = receiver_->health();
  return health.ok() ? "" : "receiving activations: " + health.ToString();
}

}  // namespace ps
