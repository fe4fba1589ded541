#include "cli/grpc_client.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace ps::cli {

Result<std::shared_ptr<grpc::Channel>> ConnectToServer(const std::string& server, double timeout_seconds,
                                                       int max_receive_bytes) {
  if (server.empty() || server.find(':') == std::string::npos) {
    return Status::InvalidArgument("--server '" + server + "' is not HOST:PORT");
  }
  grpc::ChannelArguments channel_args;
  if (max_receive_bytes > 0) channel_args.SetMaxReceiveMessageSize(max_receive_bytes);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), channel_args);
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  if (!channel->WaitForConnected(deadline)) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%g", timeout_seconds);
    return Status::Unavailable(server + ": cannot connect within " + seconds + " s (is the coordinator running?)");
  }
  return channel;
}

std::string ApiKey(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("PIPESHARD_API_KEY");
  return env != nullptr ? env : "";
}

void AddApiKey(grpc::ClientContext* context, const std::string& key) {
  if (!key.empty()) context->AddMetadata("authorization", "Bearer " + key);
}

void AddApiKeyOption(CLI::App& cmd, std::string& key) {
  cmd.add_option("--api-key", key, "API key for a server started with --api-key-file (default: $PIPESHARD_API_KEY)");
}

}  // namespace ps::cli
