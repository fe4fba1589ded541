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

}  // namespace ps::cli
