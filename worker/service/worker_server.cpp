#include "worker/service/worker_server.h"

#include <chrono>

namespace ps {

Result<std::unique_ptr<WorkerServer>> WorkerServer::Start(const WorkerServerOptions& options) {
  const size_t colon = options.listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == options.listen.size()) {
    return Status::InvalidArgument("--listen '" + options.listen + "' is not HOST:PORT");
  }
  if (options.coordinator.empty()) return Status::InvalidArgument("--coordinator is empty");
  if (options.threads < 1) return Status::InvalidArgument("--threads " + std::to_string(options.threads) + " must be >= 1");

  std::unique_ptr<WorkerServer> server(new WorkerServer());
  WorkerServiceOptions service_options;
  service_options.threads = options.threads;
  service_options.name = options.name;
  service_options.model_path_override = options.model_path_override;
  service_options.device = options.device;
  service_options.sim_profile = options.sim_profile;
  service_options.security = options.security;
  server->worker_ = std::make_unique<WorkerService>(service_options);
  WorkerService* worker = server->worker_.get();
  server->stage_ = std::make_unique<GrpcStageService>(
      [worker](pipeshard::v1::Frame&& f) { worker->OnFrame(std::move(f)); },
      [worker](const std::string&, uint64_t epoch, const Status& status) { worker->OnStreamEnd(epoch, status); },
      [worker](const std::string& peer) { return worker->AdmitFrames(peer); });

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, options.security->ServerCredentials(/*require_client_certificate=*/true),
                           &port);
  // gRPC sets SO_REUSEPORT by default: a second process could bind the same port and take a
  // share of the calls. Off, binding a busy port fails.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  AllowLargeFrames(builder);
  builder.RegisterService(server->worker_.get());
  builder.RegisterService(server->stage_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || port == 0) {
    return Status::Unavailable("cannot listen on " + options.listen + " (address in use or not local?)");
  }
  server->address_ = options.listen.substr(0, colon) + ":" + std::to_string(port);

  RegistrationOptions registration;
  registration.coordinator = options.coordinator;
  registration.name = options.name.empty() ? server->address_ : options.name;
  registration.address = server->address_;
  registration.security = options.security;
  server->registration_ = std::make_unique<RegistrationClient>(
      registration, [worker] { return worker->Device(); }, [worker] { return worker->Stats(); });
  return server;
}

WorkerServer::~WorkerServer() { Shutdown(); }

void WorkerServer::Shutdown() {
  registration_.reset();
  if (server_ != nullptr) {
    // Open frame streams never end on their own: give them a moment, then cancel them.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_->Wait();
    server_.reset();
  }
  worker_.reset();
  stage_.reset();
}

}  // namespace ps
