// The Inference service clients call: Generate (streamed through the pipeline), Tokenize and
// Detokenize (the model's tokenizer, here on the coordinator), GetStatus (the cluster map, the
// plan, the standbys, the recoveries and the request counters), GetTrace (recent micro-batch
// timelines). Before the cluster first serves,
// and while it is degraded, Generate fails with UNAVAILABLE saying why; while it recovers,
// requests are accepted and wait for the new plan. With API keys, every call must present one
// (UNAUTHENTICATED otherwise).
// Thread-safety: gRPC calls it from any thread; the controller and the pipeline do the locking.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/model/llama_config.h"
#include "common/plan/partition_planner.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/cluster/worker_registry.h"
#include "coordinator/control/cluster_controller.h"
#include "coordinator/pipeline/pipeline.h"
#include "coordinator/service/api_keys.h"
#include "proto/inference.grpc.pb.h"

namespace ps::coord {

struct ModelInfo {
  std::string path;
  LlamaConfig config;
  const Tokenizer* tokenizer = nullptr;
  int32_t n_ctx = 0;
};

// The most bytes a prompt of at most `n_ctx` tokens can have: every token covers at most the
// longest piece of the vocabulary (at least 32 bytes, for the text of special tokens). A longer
// prompt is refused before it is tokenized, so no request makes a gRPC thread tokenize megabytes.
uint64_t MaxPromptBytes(const Tokenizer& tokenizer, int32_t n_ctx);

class InferenceService : public pipeshard::v1::Inference::CallbackService {
 public:
  // `keys`: the API keys every call must present, or nullptr for none; must outlive the service.
  InferenceService(ModelInfo model, WorkerRegistry& registry, ClusterController& controller,
                   const ApiKeys* keys = nullptr);

  // Generate fails at once from now on (shutdown).
  void StopServing();
  uint64_t max_prompt_bytes() const { return max_prompt_bytes_; }

  // What every edge (gRPC Generate, the HTTP API) shares.
  // Ok, or Unauthenticated, for an `authorization` header value ("Bearer KEY"; "" when absent).
  Status CheckKey(std::string_view authorization) const;
  // A request ready for pipeline().Submit: the cluster must be serving or recovering (else
  // Unavailable saying why) and the request valid (else InvalidArgument naming the problem).
  // `request_id` names it in the answer and in every log line (NewRequestId).
  Result<PipelineRequest> Admit(const pipeshard::v1::GenerateRequest& request, std::string request_id) const;
  // True while the cluster serves (or recovers, with requests waiting for the new plan).
  bool Accepting() const { return AcceptingStatus().ok(); }
  Pipeline& pipeline() { return controller_.pipeline(); }
  const ModelInfo& model() const { return model_; }

  grpc::ServerWriteReactor<pipeshard::v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const pipeshard::v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context, const pipeshard::v1::TokenizeRequest* request,
                                     pipeshard::v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const pipeshard::v1::DetokenizeRequest* request,
                                       pipeshard::v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context, const pipeshard::v1::GetStatusRequest* request,
                                      pipeshard::v1::ClusterStatus* response) override;
  grpc::ServerUnaryReactor* GetTrace(grpc::CallbackServerContext* context, const pipeshard::v1::GetTraceRequest* request,
                                     pipeshard::v1::TraceResponse* response) override;

 private:
  Result<PipelineRequest> Prepare(const pipeshard::v1::GenerateRequest& request) const;
  Status Authorize(const grpc::CallbackServerContext* context) const;
  Status AcceptingStatus() const;
  void FillStatus(pipeshard::v1::ClusterStatus* status) const;

  const ModelInfo model_;
  WorkerRegistry& registry_;
  ClusterController& controller_;
  const uint64_t max_prompt_bytes_;
  const ApiKeys* keys_;
  std::atomic<bool> stopped_{false};
};

}  // namespace ps::coord
