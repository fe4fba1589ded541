#include "coordinator/service/inference_service.h"

#include <algorithm>
#include <random>

#include "common/log/log.h"
#include "coordinator/service/generate_reactor.h"
#include "coordinator/service/request_id.h"
#include "transport/grpc_status.h"
#include "transport/sampling_check.h"

namespace ps::coord {

namespace {
constexpr uint32_t kRandomSeed = 0xFFFFFFFF;
}

uint64_t MaxPromptBytes(const Tokenizer& tokenizer, int32_t n_ctx) {
  size_t longest = 32;
  for (int32_t id = 0; id < tokenizer.n_vocab(); ++id) longest = std::max(longest, tokenizer.TokenToPiece(id).size());
  return static_cast<uint64_t>(std::max<int32_t>(n_ctx, 1)) * longest;
}

InferenceService::InferenceService(ModelInfo model, WorkerRegistry& registry, ClusterController& controller,
                                   const ApiKeys* keys)
    : model_(std::move(model)),
      registry_(registry),
      controller_(controller),
      max_prompt_bytes_(MaxPromptBytes(*model_.tokenizer, model_.n_ctx)),
      keys_(keys) {}

Status InferenceService::CheckKey(std::string_view authorization) const {
  return keys_ == nullptr ? Status::Ok() : keys_->Check(authorization);
}

Status InferenceService::Authorize(const grpc::CallbackServerContext* context) const {
  const auto& metadata = context->client_metadata();
  const auto it = metadata.find("authorization");
  return CheckKey(it == metadata.end() ? std::string_view() : std::string_view(it->second.data(), it->second.size()));
}

Status InferenceService::AcceptingStatus() const {
  if (stopped_) return Status::Unavailable("the coordinator is shutting down");
  const ControllerSnapshot cluster = controller_.Snapshot();
  switch (cluster.state) {
    case ClusterState::kServing:
    case ClusterState::kRecovering: return Status::Ok();  // while recovering, requests wait for the new plan
    case ClusterState::kDegraded: return Status::Unavailable("the cluster is degraded: " + cluster.reason);
    default: {
      std::string why = "the cluster is not serving yet: ";
      why += ClusterStateName(cluster.state);
      if (!cluster.reason.empty()) {
        why += " (";
        why += cluster.reason;
        why += ")";
      }
      return Status::Unavailable(why);
    }
  }
}

Result<PipelineRequest> InferenceService::Admit(const pipeshard::v1::GenerateRequest& request,
                                                std::string request_id) const {
  Status refused = AcceptingStatus();
  Result<PipelineRequest> prepared = refused.ok() ? Prepare(request) : Result<PipelineRequest>(refused);
  if (!prepared.ok()) {
    log::Info("request refused: " + prepared.status().ToString(), {{"request_id", request_id}});
    return prepared;
  }
  prepared->request_id = std::move(request_id);
  return prepared;
}

namespace {

grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context, const Status& why) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(why));
  return reactor;
}

}  // namespace

void InferenceService::StopServing() { stopped_ = true; }

Result<PipelineRequest> InferenceService::Prepare(const pipeshard::v1::GenerateRequest& request) const {
  // Checked here so that a bad setting fails this request alone: the last stage refuses it too,
  // and would fail every request of the micro-batch carrying it.
  PS_RETURN_IF_ERROR(CheckSamplingParams(request.sampling(), "sampling"));
  PipelineRequest out;
  if (request.prompt().size() > max_prompt_bytes_) {
    return Status::InvalidArgument("the prompt has " + std::to_string(request.prompt().size()) +
                                   " bytes, more than a context of " + std::to_string(model_.n_ctx) +
                                   " tokens can hold (at most " + std::to_string(max_prompt_bytes_) + " bytes)");
  }
  out.prompt = model_.tokenizer->Encode(request.prompt(), model_.tokenizer->adds_bos());
  // A prompt rendered by a chat template may begin with the BOS text itself: no second BOS.
  const int32_t bos = model_.tokenizer->bos();
  if (bos >= 0 && out.prompt.size() >= 2 && out.prompt[0] == bos && out.prompt[1] == bos) {
    out.prompt.erase(out.prompt.begin());
  }
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
    grpc::CallbackServerContext* context, const pipeshard::v1::GenerateRequest* request) {
  if (Status auth = Authorize(context); !auth.ok()) return new GenerateReactor(auth);
  auto prepared = Admit(*request, NewRequestId("gen"));
  if (!prepared.ok()) return new GenerateReactor(prepared.status());
  return new GenerateReactor(controller_.pipeline(), std::move(prepared).value());
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* context,
                                                     const pipeshard::v1::TokenizeRequest* request,
                                                     pipeshard::v1::TokenizeResponse* response) {
  if (Status auth = Authorize(context); !auth.ok()) return Refuse(context, auth);
  for (int32_t t : model_.tokenizer->Encode(request->text(), request->add_bos())) response->add_tokens(t);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::Detokenize(grpc::CallbackServerContext* context,
                                                       const pipeshard::v1::DetokenizeRequest* request,
                                                       pipeshard::v1::DetokenizeResponse* response) {
  if (Status auth = Authorize(context); !auth.ok()) return Refuse(context, auth);
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
  if (Status auth = Authorize(context); !auth.ok()) return Refuse(context, auth);
  FillStatus(response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::GetTrace(grpc::CallbackServerContext* context,
                                                     const pipeshard::v1::GetTraceRequest* request,
                                                     pipeshard::v1::TraceResponse* response) {
  if (Status auth = Authorize(context); !auth.ok()) return Refuse(context, auth);
  *response = controller_.pipeline().Trace(request->since_us());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

void InferenceService::FillStatus(pipeshard::v1::ClusterStatus* status) const {
  const ControllerSnapshot cluster = controller_.Snapshot();
  const PipelineStats stats = controller_.pipeline().stats();
  status->set_model(model_.path);
  status->set_n_layer(static_cast<int32_t>(model_.config.n_layer));
  status->set_state(ClusterStateName(cluster.state));
  status->set_state_reason(cluster.reason);
  status->set_epoch(cluster.epoch);
  status->set_recoveries(cluster.recoveries);
  status->set_replayed_requests(stats.replayed_requests);
  status->set_last_recovery_seconds(cluster.last_recovery_seconds);
  status->set_last_recovery(cluster.last_recovery);
  const std::vector<WorkerRecord> workers = registry_.Snapshot();
  auto describe_worker = [&](const WorkerRecord& w, pipeshard::v1::StageStatus* s) {
    std::string device = w.device.kind();
    if (device == "cuda") {
      device += ':';
      device += std::to_string(w.device.index());
    } else if (device == "sim") {
      // Emulated: "sim:P40", from the description "emulated P40 (...)".
      const std::string& text = w.device.description();
      const size_t begin = text.rfind("emulated ", 0) == 0 ? 9 : std::string::npos;
      const size_t end = begin == std::string::npos ? begin : text.find(' ', begin);
      if (begin != std::string::npos) device += ':' + text.substr(begin, end == std::string::npos ? end : end - begin);
    }
    s->set_device(device);
    s->set_memory_used_bytes(w.memory_used_bytes);
    s->set_memory_free_bytes(w.memory_free_bytes);
    s->set_tokens_per_second(w.tokens_per_second);
    s->set_bytes_sent(w.bytes_sent);
    s->set_microbatches_in_flight(w.microbatches_in_flight);
    s->set_seconds_since_heartbeat(SecondsSince(w.last_heartbeat));
  };
  std::vector<std::string> in_plan;
  for (size_t i = 0; i < cluster.stages.size() && i < cluster.plan.stages.size(); ++i) {
    const PipelineStage& stage = cluster.stages[i];
    const plan::StagePlan& p = cluster.plan.stages[i];
    in_plan.push_back(stage.worker_id);
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
      s->set_transport(i + 1 < cluster.stages.size() ? "grpc " + cluster.stages[i + 1].address : "grpc coordinator");
    }
    const Status h = registry_.Health(stage.worker_id);
    s->set_healthy(h.ok());
    s->set_error(h.ok() ? "" : h.message());
    for (const WorkerRecord& w : workers) {
      if (w.id == stage.worker_id) describe_worker(w, s);
    }
  }
  // Everyone else registered: standbys (before a plan, every worker so far).
  for (const WorkerRecord& w : workers) {
    if (std::find(in_plan.begin(), in_plan.end(), w.id) != in_plan.end()) continue;
    pipeshard::v1::StageStatus* s = cluster.stages.empty() && cluster.state != ClusterState::kDegraded
                                        ? status->add_stages()
                                        : status->add_standbys();
    s->set_index(-1);
    s->set_name(w.name);
    s->set_address(w.address);
    const Status h = registry_.Health(w.id);
    s->set_healthy(h.ok());
    s->set_error(h.ok() ? "" : h.message());
    describe_worker(w, s);
  }
  if (!cluster.stages.empty()) {
    status->set_bottleneck_stage(cluster.plan.bottleneck);
    status->set_plan_explanation(cluster.plan.explanation);
    status->set_workload(cluster.plan.workload.Describe());
    status->set_predicted_prefill_tokens_per_s(cluster.plan.prefill_tokens_per_second);
    status->set_predicted_decode_tokens_per_s(cluster.plan.decode_tokens_per_second);
    status->set_predicted_aggregate_decode_tokens_per_s(cluster.plan.aggregate_decode_tokens_per_second);
  }
  status->set_prompt_chunking(controller_.prompt_chunking());
  status->set_active_requests(stats.active_requests);
  status->set_queued_requests(stats.queued_requests);
  status->set_tokens_generated(stats.tokens_generated);
}

}  // namespace ps::coord
