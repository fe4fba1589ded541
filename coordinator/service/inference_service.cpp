#include "coordinator/service/inference_service.h"

#include <random>

#include "coordinator/service/generate_reactor.h"
#include "coordinator/service/grpc_status.h"

namespace ps::coord {

namespace {
constexpr uint32_t kRandomSeed = 0xFFFFFFFF;
}

InferenceService::InferenceService(ModelInfo model, WorkerRegistry& registry)
    : model_(std::move(model)), registry_(registry) {}

void InferenceService::SetState(std::string state) {
  std::lock_guard<std::mutex> lock(mu_);
  state_ = std::move(state);
}

void InferenceService::StartServing(Pipeline* pipeline, plan::PartitionPlan plan, std::vector<PipelineStage> stages) {
  std::lock_guard<std::mutex> lock(mu_);
  pipeline_ = pipeline;
  plan_ = std::move(plan);
  stages_ = std::move(stages);
  state_ = "serving";
}

void InferenceService::StopServing() {
  std::lock_guard<std::mutex> lock(mu_);
  pipeline_ = nullptr;
  state_ = "shutting down";
}

Result<PipelineRequest> InferenceService::Prepare(const pipeshard::v1::GenerateRequest& request) const {
  PipelineRequest out;
  out.prompt = model_.tokenizer->Encode(request.prompt(), model_.tokenizer->adds_bos());
  if (out.prompt.empty()) return Status::InvalidArgument("the prompt is empty (no text and no BOS token)");
  if (static_cast<int64_t>(out.prompt.size()) > model_.n_ctx) {
    return Status::InvalidArgument("the prompt has " + std::to_string(out.prompt.size()) +
                                   " tokens but the context holds " + std::to_string(model_.n_ctx));
  }
  out.n_predict = request.n_predict();
  out.ignore_eos = request.ignore_eos();
  out.sampling = request.sampling();
  if (out.sampling.seed() == kRandomSeed) {
    std::random_device device;
    uint32_t seed = device();
    while (seed == kRandomSeed) seed = device();
    out.sampling.set_seed(seed);
  }
  return out;
}

grpc::ServerWriteReactor<pipeshard::v1::GenerateResponse>* InferenceService::Generate(
    grpc::CallbackServerContext*, const pipeshard::v1::GenerateRequest* request) {
  Pipeline* pipeline = nullptr;
  std::string state;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pipeline = pipeline_;
    state = state_;
  }
  if (pipeline == nullptr) return new GenerateReactor(Status::Unavailable("the cluster is not serving yet: " + state));
  const Status health = pipeline->Health();
  if (!health.ok()) return new GenerateReactor(health);
  auto prepared = Prepare(*request);
  if (!prepared.ok()) return new GenerateReactor(prepared.status());
  return new GenerateReactor(*pipeline, std::move(prepared).value());
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* context,
                                                     const pipeshard::v1::TokenizeRequest* request,
                                                     pipeshard::v1::TokenizeResponse* response) {
  for (int32_t t : model_.tokenizer->Encode(request->text(), request->add_bos())) response->add_tokens(t);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::Detokenize(grpc::CallbackServerContext* context,
                                                       const pipeshard::v1::DetokenizeRequest* request,
                                                       pipeshard::v1::DetokenizeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const int32_t n_vocab = model_.tokenizer->n_vocab();
  StreamDecoder decoder(*model_.tokenizer);
  std::string text;
  for (int i = 0; i < request->tokens_size(); ++i) {
    const int32_t t = request->tokens(i);
    if (t < 0 || t >= n_vocab) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "tokens[" + std::to_string(i) + "] = " + std::to_string(t) +
                                       " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")"));
      return reactor;
    }
    text += decoder.Push(t);
  }
  text += decoder.Flush();
  response->set_text(std::move(text));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::GetStatus(grpc::CallbackServerContext* context,
                                                      const pipeshard::v1::GetStatusRequest*,
                                                      pipeshard::v1::ClusterStatus* response) {
  FillStatus(response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

void InferenceService::FillStatus(pipeshard::v1::ClusterStatus* status) const {
  std::lock_guard<std::mutex> lock(mu_);
  status->set_model(model_.path);
  status->set_n_layer(static_cast<int32_t>(model_.config.n_layer));
  const std::vector<WorkerRecord> workers = registry_.Snapshot();
  auto record_of = [&](const std::string& id) -> const WorkerRecord* {
    for (const WorkerRecord& w : workers) {
      if (w.id == id) return &w;
    }
    return nullptr;
  };
  if (pipeline_ == nullptr) {
    status->set_state(state_);
    // Before a plan: list who registered so far.
    for (size_t i = 0; i < workers.size(); ++i) {
      pipeshard::v1::StageStatus* s = status->add_stages();
      s->set_index(static_cast<int32_t>(i));
      s->set_name(workers[i].name);
      s->set_address(workers[i].address);
      s->set_device(workers[i].device.kind());
      const Status h = registry_.Health(workers[i].id);
      s->set_healthy(h.ok());
      s->set_error(h.ok() ? "" : h.message());
      s->set_seconds_since_heartbeat(registry_.SecondsSinceHeartbeat(workers[i]));
    }
    return;
  }
  const Status health = pipeline_->Health();
  status->set_state(health.ok() ? state_ : "degraded");
  for (size_t i = 0; i < stages_.size() && i < plan_.stages.size(); ++i) {
    const PipelineStage& stage = stages_[i];
    const plan::StagePlan& p = plan_.stages[i];
    pipeshard::v1::StageStatus* s = status->add_stages();
    s->set_index(stage.index);
    s->set_name(stage.name);
    s->set_address(stage.address);
    s->set_first_layer(p.first_layer);
    s->set_last_layer(p.last_layer);
    s->set_embedding(p.embedding);
    s->set_head(p.head);
    s->set_predicted_cost(p.relative_cost);
    if (!stage.transport.empty()) {
      s->set_transport(stage.transport);
    } else {
      s->set_transport(i + 1 < stages_.size() ? "grpc " + stages_[i + 1].address : "grpc coordinator");
    }
    const Status h = registry_.Health(stage.worker_id);
    s->set_healthy(h.ok());
    s->set_error(h.ok() ? "" : h.message());
    if (const WorkerRecord* w = record_of(stage.worker_id)) {
      std::string device = w->device.kind();
      if (device == "cuda") device += ":" + std::to_string(w->device.index());
      s->set_device(device);
      s->set_memory_used_bytes(w->memory_used_bytes);
      s->set_memory_free_bytes(w->memory_free_bytes);
      s->set_tokens_per_second(w->tokens_per_second);
      s->set_microbatches_in_flight(w->microbatches_in_flight);
      s->set_seconds_since_heartbeat(registry_.SecondsSinceHeartbeat(*w));
    }
  }
  status->set_bottleneck_stage(plan_.bottleneck);
  status->set_plan_explanation(plan_.explanation);
  const PipelineStats stats = pipeline_->stats();
  status->set_active_requests(stats.active_requests);
  status->set_queued_requests(stats.queued_requests);
  status->set_tokens_generated(stats.tokens_generated);
}

}  // namespace ps::coord
