#include "cli/grpc_client.h"

#include <chrono>
#include <cstdio>

namespace ps::cli {

Result<std::shared_ptr<grpc::Channel>> ConnectToServer(const std::string& server, double timeout_seconds) {
  if (server.empty() || server.find(':') == std::string::npos) {
    return Status::InvalidArgument("--server '" + server + "' is not HOST:PORT");
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(server, grpc::InsecureChannelCredentials());
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  if (!channel->WaitForConnected(deadline)) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", timeout_seconds);
    return Status::Unavailable(server + ": cannot connect within " + seconds + " s (is the coordinator running?)");
  }
  return channel;
}

Status FromGrpcStatus(const grpc::Status& status, const std::string& server) {
  std::string message = server + ": " + status.error_message();
  if (status.error_message().empty()) message = server + ": gRPC error code " + std::to_string(status.error_code());
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return Status::Ok();
    case grpc::StatusCode::INVALID_ARGUMENT:
      return Status::InvalidArgument(message);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Status::ResourceExhausted(message);
    case grpc::StatusCode::CANCELLED:
      return Status::Cancelled(message);
    case grpc::StatusCode::UNAVAILABLE:
      return Status::Unavailable(message);
    default:
      return Status::Internal(message);
  }
}

}  // namespace ps::cli
