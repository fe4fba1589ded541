#include "worker/service/shard.h"

#include <unistd.h>

#include "common/model/llama_weights.h"
#include "worker/backend/cpu/cpu_backend.h"

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
  touch(w.rope_freqs);
  for (const LayerWeights& l : w.layers) {
    for (const gguf::TensorInfo* t :
         {l.attn_norm, l.wq, l.wk, l.wv, l.wo, l.ffn_norm, l.ffn_gate, l.ffn_up, l.ffn_down}) {
      touch(t);
    }
  }
}

}  // namespace

Result<std::unique_ptr<Shard>> Shard::Load(const pipeshard::v1::LoadShardRequest& request,
                                           const ShardOptions& options) {
  const std::string path = options.model_path_override.empty() ? request.model_path() : options.model_path_override;
  if (path.empty()) return Status::InvalidArgument("LoadShard: model_path is empty and no --model was given");
  std::unique_ptr<Shard> shard(new Shard());
  PS_ASSIGN_OR_RETURN(shard->file_, gguf::GgufFile::Open(path));
  PS_ASSIGN_OR_RETURN(shard->config_, ReadLlamaConfig(*shard->file_));
  PS_RETURN_IF_ERROR(CheckRequest(request, shard->config_));

  const LayerRange range{request.first_layer(), request.last_layer()};
  PS_ASSIGN_OR_RETURN(LlamaWeights weights, BindLlamaWeights(*shard->file_, shard->config_, range));
  CpuBackendOptions backend_options;
  backend_options.threads = options.threads;
  backend_options.n_ctx = request.n_ctx();
  backend_options.max_seqs = request.max_seqs();
  backend_options.kv_f16 = request.kv_type() != "f32";
  PS_ASSIGN_OR_RETURN(std::unique_ptr<CpuBackend> backend,
                      CpuBackend::Create(*shard->file_, shard->config_, range, backend_options));
  FaultIn(weights);

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
  const std::string next = request.next_address();
  shard->executor_ = std::make_unique<StageExecutor>(std::move(backend), stage,
                                                     [next] { return ConnectGrpcFrameSender(next); });
  return shard;
}

Shard::~Shard() { executor_.reset(); }

}  // namespace ps
