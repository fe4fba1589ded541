#include "coordinator/service/coordinator_server.h"
#include "common/log/log.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <optional>
#include <thread>

#include <pthread.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include "common/gguf/gguf_file.h"
#include "common/model/llama_config.h"
#include "common/plan/partition_planner.h"
#include "common/tokenizer/tokenizer.h"
#include "coordinator/cluster/coordinator_service.h"
#include "coordinator/cluster/worker_registry.h"
#include "coordinator/control/cluster_controller.h"
#include "common/template/chat_template.h"
#include "common/template/template.h"
#include "common/util/elapsed.h"
#include "common/util/printable.h"
#include "coordinator/metrics/request_metrics.h"
#include "coordinator/service/api_keys.h"
#include "coordinator/service/http/http_front.h"
#include "coordinator/service/inference_service.h"
#include "transport/exposure.h"
#include "transport/grpc_stage_service.h"
#include "transport/tls/identities.h"

namespace ps::coord {

namespace {

constexpr double kHeartbeatSeconds = 0.5;

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
  if (o.ubatch < 0) return Status::InvalidArgument("--ubatch must not be negative (0: chosen per prompt)");
  PS_RETURN_IF_ERROR(plan::CheckWorkload(o.workload));
  if (o.max_seqs < 1) return Status::InvalidArgument("--max-seqs must be at least 1");
  if (o.ctx < 0) return Status::InvalidArgument("--ctx must not be negative");
  if (o.queue < 0) return Status::InvalidArgument("--queue must not be negative");
  if (o.kv_type != "f16" && o.kv_type != "f32") return Status::InvalidArgument("--kv-type must be f16 or f32");
  if (!(o.heartbeat_timeout >= 2 * kHeartbeatSeconds)) {
    return Status::InvalidArgument("--heartbeat-timeout " + std::to_string(o.heartbeat_timeout) +
                                   " must be at least twice the heartbeat interval (" +
                                   std::to_string(kHeartbeatSeconds) + " s)");
  }
  if (!(o.stage_timeout > 0)) return Status::InvalidArgument("--stage-timeout must be positive");
  return Status::Ok();
}

bool IsWildcardHost(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::";
}

// The address the last stage sends its frames back to: --advertise, else the listen host (a
// wildcard means this host, reachable only by workers on it).
std::string AdvertisedAddress(const std::string& advertise, const std::string& host, int port) {
  if (!advertise.empty()) {
    return advertise.rfind(':') != std::string::npos && advertise.back() != ']' ? advertise
                                                                                : advertise + ":" + std::to_string(port);
  }
  return (IsWildcardHost(host) ? std::string("127.0.0.1") : host) + ":" + std::to_string(port);
}

// How chat completions render their prompt: --chat-template (checked at start: a bad one is an
// error), else the model's own template. A model template the interpreter cannot run leaves
// chat refused with that reason (the completions API still serves).
struct ChatSetup {
  std::shared_ptr<const jinja::Template> parsed;
  std::string refusal;  // why chat is refused, when `parsed` is null
};

Result<ChatSetup> SetUpChat(const std::string& flag, const gguf::GgufFile& file, const Tokenizer& tokenizer,
                            ChatRenderOptions* render) {
  ChatSetup setup;
  std::string text;
  if (!flag.empty()) {
    PS_ASSIGN_OR_RETURN(text, ResolveChatTemplate(flag));
  } else {
    auto own = file.GetString("tokenizer.chat_template");
    if (!own.ok()) {
      setup.refusal = "the model has no chat template (tokenizer.chat_template); start the coordinator with "
                      "--chat-template NAME|FILE (" + BuiltinChatTemplateNames() + ")";
      return setup;
    }
    text = *own;
    if (Status usable = CheckChatTemplate(text); !usable.ok()) {
      setup.refusal = "the model's chat template cannot be rendered: " + usable.message() +
                      "; start the coordinator with --chat-template NAME|FILE";
      log::Warn(setup.refusal);
      return setup;
    }
  }
  auto parsed = jinja::Template::Parse(text);
  if (!parsed.ok()) return parsed.status().WithContext("--chat-template");
  setup.parsed = std::make_shared<const jinja::Template>(std::move(parsed).value());
  // The template sees the BOS and EOS tokens as text (llama.cpp passes the vocabulary's).
  auto tokens = file.GetStringArray("tokenizer.ggml.tokens");
  if (tokens.ok()) {
    const auto text_of = [&](int32_t id) {
      return id >= 0 && static_cast<size_t>(id) < tokens->size() ? (*tokens)[static_cast<size_t>(id)] : std::string();
    };
    render->bos_token = text_of(tokenizer.bos());
    render->eos_token = text_of(tokenizer.eos());
  }
  render->add_generation_prompt = true;
  return setup;
}

// The cluster's state for /metrics: the pipeline's counters, the controller's recoveries, each
// stage's heartbeat and its busy fraction over the last kBusyWindowSeconds of timelines.
LiveGauges ReadLiveGauges(ClusterController& controller, WorkerRegistry& registry) {
  constexpr double kBusyWindowSeconds = 10;
  LiveGauges g;
  const PipelineStats stats = controller.pipeline().stats();
  g.requests_running = stats.active_requests;
  g.requests_waiting = stats.queued_requests;
  g.generation_tokens = stats.tokens_generated;
  g.requests_replayed = stats.replayed_requests;
  const ControllerSnapshot snapshot = controller.Snapshot();
  g.recoveries = snapshot.recoveries;
  const int64_t now = NowMicros();
  const int64_t since = now - static_cast<int64_t>(kBusyWindowSeconds * 1e6);
  std::vector<double> busy_us(snapshot.stages.size(), 0.0);
  const pipeshard::v1::TraceResponse trace = controller.pipeline().Trace(since);
  for (const auto& mb : trace.microbatches()) {
    for (const auto& span : mb.spans()) {
      if (span.stage() < 0 || static_cast<size_t>(span.stage()) >= busy_us.size()) continue;
      const int64_t start = std::max(span.started_us(), since);
      if (span.finished_us() > start) busy_us[static_cast<size_t>(span.stage())] += static_cast<double>(span.finished_us() - start);
    }
  }
  for (const PipelineStage& stage : snapshot.stages) {
    StageGauges s;
    s.index = stage.index;
    s.worker = stage.name;
    WorkerRecord record;
    if (registry.Find(stage.worker_id, &record)) {
      s.healthy = registry.Health(stage.worker_id).ok();
      s.microbatches_in_flight = record.microbatches_in_flight;
      s.tokens_per_second = record.tokens_per_second;
      s.bytes_sent = record.bytes_sent;
    }
    if (static_cast<size_t>(stage.index) < busy_us.size()) {
      s.busy_fraction = std::min(1.0, busy_us[static_cast<size_t>(stage.index)] / (kBusyWindowSeconds * 1e6));
    }
    g.stages.push_back(std::move(s));
  }
  return g;
}

}  // namespace

Status RunCoordinator(const CoordinatorOptions& options) {
  PS_RETURN_IF_ERROR(Validate(options));
  std::optional<ApiKeys> keys;
  if (!options.api_key_file.empty()) {
    PS_ASSIGN_OR_RETURN(ApiKeys loaded, ApiKeys::Load(options.api_key_file));
    keys = std::move(loaded);
  }
  std::shared_ptr<const LinkSecurity> security = LinkSecurity::Plain();
  if (options.tls.any()) {
    PS_ASSIGN_OR_RETURN(security, LinkSecurity::Load(options.tls));
    if (security->identity() != tls::kCoordinatorIdentity) {
      return Status::InvalidArgument("--tls-cert " + options.tls.cert + " is for '" + security->identity() +
                                     "', not the coordinator's identity '" + tls::kCoordinatorIdentity +
                                     "' (pipeshard certs issue coordinator)");
    }
  }
  std::string missing;
  if (!security->tls()) missing = "TLS (--tls-ca, --tls-cert, --tls-key)";
  if (!keys) missing += std::string(missing.empty() ? "" : " and ") + "API keys (--api-key-file)";
  std::string exposed;
  if (!keys) exposed = "the API (no key)";
  if (!security->tls()) {
    exposed += std::string(exposed.empty() ? "" : ", ") + "worker registration, the frame return leg" +
               (keys ? " and the API (its keys in clear)" : "");
  }
  PS_RETURN_IF_ERROR(CheckExposure(options.listen, options.insecure, missing, exposed));
  if (!options.http_listen.empty()) {
    // The HTTP API has no TLS of its own (put a TLS proxy in front of it across hosts).
    PS_RETURN_IF_ERROR(CheckExposure(options.http_listen, options.insecure, keys ? "TLS on the HTTP API" : "API keys (--api-key-file) and TLS on the HTTP API",
                                     keys ? "the HTTP API's keys, prompts and answers, in clear"
                                          : "the HTTP API (no key), its prompts and answers, in clear"));
  }
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
  // Every frame must fit the stages' receive limit: the largest prompt chunk, or a decode step of
  // every sequence, of n_embd F32 values a row.
  const int64_t max_rows = std::max<int64_t>(std::max(options.ubatch, kDefaultMaxUbatch), options.max_seqs);
  const int64_t frame_bytes_needed = max_rows * config->n_embd * 4;
  if (frame_bytes_needed > kMaxStageMessageBytes - (16 << 20)) {
    return Status::InvalidArgument("--ubatch " + std::to_string(options.ubatch) + " / --max-seqs " +
                                   std::to_string(options.max_seqs) + ": a frame of " + std::to_string(max_rows) +
                                   " rows of this " + std::to_string(config->n_embd) + "-wide model would be " +
                                   std::to_string(frame_bytes_needed >> 20) + " MiB, over the stages' limit of " +
                                   std::to_string((kMaxStageMessageBytes >> 20) - 16) + " MiB");
  }
  const int32_t n_ctx = options.ctx > 0 ? options.ctx
                                        : DefaultContext(*config);

  StopSignal stop;
  WorkerRegistry registry(kHeartbeatSeconds, options.heartbeat_timeout);
  ControllerOptions control;
  control.model_path = options.model;
  control.stages = options.stages;
  control.stage_order = options.stage_order;
  control.n_ctx = n_ctx;
  control.max_seqs = options.max_seqs;
  control.ubatch = options.ubatch;
  control.workload = options.workload;
  control.queue = options.queue;
  control.kv_type = options.kv_type;
  control.timeouts.stage_seconds = options.stage_timeout;
  // A free waits behind up to one micro-batch per stage on that worker.
  control.timeouts.free_seconds = std::max(10.0, options.stage_timeout * std::max(1, options.stages));
  control.security = security;
  // Before the controller: the pipeline's requests hold it until they end.
  std::unique_ptr<RequestMetrics> metrics;
  ClusterController controller(control, *cost, **tokenizer, registry);
  metrics = std::make_unique<RequestMetrics>([&controller, &registry] { return ReadLiveGauges(controller, registry); });
  controller.pipeline().SetMetrics(metrics.get());
  CoordinatorService coordinator_service(registry, security);
  InferenceService inference(ModelInfo{options.model, *config, tokenizer->get(), n_ctx}, registry, controller,
                             keys ? &*keys : nullptr);

  grpc::ServerBuilder builder;
  int port = 0;
  // Workers show their certificates; API clients have none and prove themselves with keys.
  builder.AddListeningPort(options.listen, security->ServerCredentials(/*require_client_certificate=*/false), &port);
  // gRPC sets SO_REUSEPORT by default: a second process could bind the same port and take a
  // share of the clients' calls. Off, binding a busy port fails.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&coordinator_service);
  builder.RegisterService(&inference);
  builder.RegisterService(controller.pipeline().return_leg_service());
  // The largest message this server takes: a whole prompt, or the last stage's frame of sampled
  // tokens (at most n_ctx rows per sequence, a few bytes a row); anything bigger is refused by gRPC
  // before it is read.
  const uint64_t frame_bytes = static_cast<uint64_t>(n_ctx) * static_cast<uint64_t>(options.max_seqs) * 32;
  const uint64_t limit = std::max(inference.max_prompt_bytes(), frame_bytes) + 64 * 1024;
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<uint64_t>(limit, INT32_MAX)));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    return Status::Unavailable("cannot listen on " + options.listen + " (address in use, or not an address of this host)");
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::printf("listening on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);
  // The controller needs our address for the last stage's frames; it is known only now.
  if (IsWildcardHost(host) && options.advertise.empty()) {
    log::Warn("listening on every address without --advertise: the last stage returns its frames to 127.0.0.1:" +
              std::to_string(port) + ", which only a worker on this host can reach");
  }
  controller.SetOwnAddress(AdvertisedAddress(options.advertise, host, port));
  controller.Start();

  // The HTTP API goes before the controller (its connections cancel their requests in the pipeline).
  std::unique_ptr<http::HttpFront> front;
  if (!options.http_listen.empty()) {
    http::HttpFrontOptions front_options;
    front_options.listen = options.http_listen;
    front_options.metrics = metrics.get();
    ChatRenderOptions render;
    auto chat = SetUpChat(options.chat_template, *file, **tokenizer, &render);
    if (!chat.ok()) {
      controller.Stop();
      inference.StopServing();
      server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
      return chat.status();
    }
    if (chat->parsed != nullptr) {
      front_options.render_chat = [parsed = chat->parsed, render](const std::vector<http::ChatMessage>& messages) {
        std::vector<ChatMessage> chat_messages;
        for (const http::ChatMessage& m : messages) chat_messages.push_back({m.role, m.content});
        return RenderChat(*parsed, chat_messages, render);
      };
    } else {
      front_options.chat_refusal = chat->refusal;
    }
    auto started = http::HttpFront::Start(front_options, inference);
    if (!started.ok()) {
      controller.Stop();
      inference.StopServing();
      server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
      return started.status();
    }
    front = std::move(started).value();
    std::printf("http listening on %s\n", front->address().c_str());
    std::fflush(stdout);
  }

  while (!stop.stopped()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  inference.StopServing();
  front.reset();
  controller.Stop();
  inference.StopServing();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return Status::Ok();
}

}  // namespace ps::coord
